"""Native detection rules: the model, the loader and the shipped pack (``pack/*.yaml``)."""

from cloudwarden.detect.rules.loader import RuleSet, load_pack, load_rule_dirs, load_rule_file, pack_dir
from cloudwarden.detect.rules.model import OUTPUT_COLUMNS, Allowlist, Rule, Sequence, Threshold, parse_duration

__all__ = [
    "OUTPUT_COLUMNS",
    "Allowlist",
    "Rule",
    "RuleSet",
    "Sequence",
    "Threshold",
    "load_pack",
    "load_rule_dirs",
    "load_rule_file",
    "pack_dir",
    "parse_duration",
]
