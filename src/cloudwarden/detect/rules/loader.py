"""Reading rule files: native YAML rules, allowlists, and handing Sigma files to the Sigma compiler.

A rule file holds one rule, or several as YAML documents separated by ``---``. A document with only an
``allowlist`` key extends the allowlist every rule honours (users list their IaC roles and automation
there). A document with ``logsource`` and ``detection`` is a Sigma rule: such files go to
``cloudwarden.detect.sigma.load_sigma_rules`` and come back as the same :class:`Rule` model. Errors name
the file, the line and the field, from the YAML node positions (PyYAML's composer keeps them; pydantic's
error locations say which field).
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Final

import yaml
from pydantic import ValidationError

from cloudwarden.core.errors import BadInputError
from cloudwarden.detect.rules import sigma_cache
from cloudwarden.detect.rules.model import Allowlist, Rule

RULE_SUFFIXES: Final = (".yaml", ".yml")
_LOADER: Final[Any] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
SIGMA_MODULE: Final = "cloudwarden.detect.sigma"


@dataclass
class RuleSet:
    """Rules to run and the allowlist they share, with where each came from."""

    rules: list[Rule] = field(default_factory=list)
    allowlist: Allowlist = field(default_factory=Allowlist)
    sigma_files: list[Path] = field(default_factory=list)
    unsupported: list[tuple[str, str]] = field(default_factory=list)  # (file, why) of Sigma rules left out

    def extend(self, other: RuleSet) -> None:
        self.rules.extend(other.rules)
        self.allowlist = self.allowlist.merged(other.allowlist)
        self.sigma_files.extend(other.sigma_files)
        self.unsupported.extend(other.unsupported)


def pack_dir() -> Path:
    """The shipped rule pack's directory."""
    return Path(str(resources.files("cloudwarden.detect.rules") / "pack"))


def load_pack() -> RuleSet:
    """The shipped native rule pack (parsed once per process; rules are immutable)."""
    rules, allowlist = _pack()
    return RuleSet(rules=list(rules), allowlist=allowlist)


@functools.cache
def _pack() -> tuple[tuple[Rule, ...], Allowlist]:
    found = load_rule_dirs([pack_dir()], compile_sigma=False)
    return tuple(found.rules), found.allowlist


def load_rule_dirs(paths: Sequence[Path | str], *, compile_sigma: bool = True) -> RuleSet:
    """Every rule under ``paths`` (files or directory trees). Duplicate rule ids are an error.

    Sigma files are compiled through :data:`SIGMA_MODULE` when ``compile_sigma`` is true.
    """
    found = RuleSet()
    for given in paths:
        path = Path(given)
        if not path.exists():
            raise BadInputError(str(path), "no such file or directory (rule files expected here)")
        files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.suffix in RULE_SUFFIXES)
        for file in files:
            found.extend(load_rule_file(file))
    if compile_sigma and found.sigma_files:
        found.rules.extend(compile_sigma_files(found.sigma_files, found))
    seen: dict[str, str] = {}
    for rule in found.rules:
        if rule.id in seen:
            raise BadInputError(rule.where, f"rule id {rule.id!r} is already used by {seen[rule.id]}")
        seen[rule.id] = rule.where
    return found


def compile_sigma_files(files: Sequence[Path], found: RuleSet | None = None) -> list[Rule]:
    """Sigma files compiled to rules through :data:`SIGMA_MODULE`'s ``load_sigma_rules``.

    A file that is not valid Sigma is bad input; a valid rule our SQL cannot express exactly is left out
    and named, with the reason, in ``found.unsupported``. Compiled rules are cached on disk
    (:mod:`cloudwarden.detect.rules.sigma_cache`): the same files compile once.
    """
    entry = sigma_cache.key(files)
    cached = sigma_cache.get(entry) if entry is not None else None
    if cached is not None:
        rules, unsupported = cached
    else:
        try:
            module = importlib.import_module(SIGMA_MODULE)
        except ImportError as exc:
            raise BadInputError(str(files[0]), f"Sigma rules need {SIGMA_MODULE} ({exc})") from None
        pack = module.load_sigma_rules(list(files))
        if pack.errors:
            first = pack.errors[0]
            where = f"{first.path}:{first.line}" if first.line else str(first.path)
            raise BadInputError(where, f"not a valid Sigma rule: {first.reason}")
        rules = [compiled.to_rule() for compiled in pack.rules]
        unsupported = [(str(item.path), item.reason) for item in pack.unsupported]
        if entry is not None:
            sigma_cache.put(entry, rules, unsupported)
    if found is not None:
        found.unsupported.extend(unsupported)
    return rules


def load_rule_file(path: Path) -> RuleSet:
    """The rules, allowlist entries and Sigma marker of one YAML file."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInputError(str(path), f"cannot read rule file: {exc}") from None
    try:
        documents = _documents(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        raise BadInputError(where, f"not valid YAML: {getattr(exc, 'problem', None) or exc}") from None
    found = RuleSet()
    for node, data in documents:
        line = node.start_mark.line + 1
        if not isinstance(data, dict):
            raise BadInputError(f"{path}:{line}", "a rule document is a mapping (id, title, type, ...)")
        if "logsource" in data and "detection" in data:
            if path not in found.sigma_files:
                found.sigma_files.append(path)
            continue
        if set(data) == {"allowlist"}:
            found.allowlist = found.allowlist.merged(_allowlist(path, node, data["allowlist"]))
            continue
        found.rules.append(_rule(path, node, data))
    return found


def _documents(text: str) -> list[tuple[yaml.Node, Any]]:
    """Each document's node (for line numbers) and value, from one parse (libyaml's when present)."""
    loader = _LOADER(text)
    try:
        out = []
        while loader.check_node():
            node = loader.get_node()
            out.append((node, loader.construct_document(node)))
        return out
    finally:
        loader.dispose()


def _allowlist(path: Path, node: yaml.Node, data: Any) -> Allowlist:
    try:
        return Allowlist.model_validate(data)
    except ValidationError as exc:
        raise _error(path, node, exc, prefix=("allowlist",)) from None


def _rule(path: Path, node: yaml.Node, data: dict[str, Any]) -> Rule:
    line = node.start_mark.line + 1
    try:
        return Rule.model_validate({**data, "origin": f"{path}:{line}"})
    except ValidationError as exc:
        raise _error(path, node, exc) from None


def _error(path: Path, node: yaml.Node, exc: ValidationError, prefix: tuple[str, ...] = ()) -> BadInputError:
    first = exc.errors()[0]
    loc = tuple(str(part) for part in (*prefix, *first["loc"]))
    line = _line_of(node, loc)
    field_name = ".".join(loc) or "(rule)"
    message = first["msg"].removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        message = "unknown field"
    elif first["type"] == "missing":
        message = "required field missing"
    return BadInputError(f"{path}:{line}: {field_name}", message)


def _line_of(node: yaml.Node, loc: tuple[str, ...]) -> int:
    """The line of the deepest node along ``loc`` (1-based)."""
    current = node
    line = node.start_mark.line + 1
    for part in loc:
        if isinstance(current, yaml.MappingNode):
            match = next(((k, v) for k, v in current.value if getattr(k, "value", None) == part), None)
            if match is None:
                break
            line = match[0].start_mark.line + 1
            current = match[1]
        elif isinstance(current, yaml.SequenceNode) and part.isdigit() and int(part) < len(current.value):
            current = current.value[int(part)]
            line = current.start_mark.line + 1
        else:
            break
    return line
