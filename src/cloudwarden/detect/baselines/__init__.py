"""Behavioural baselines: what each principal usually does, learned from every detect run and kept in the
store, and the GuardDuty ``*:IAMUser/AnomalousBehavior`` / ``Exfiltration:S3/AnomalousBehavior`` findings
raised when it does something else. Use ``run_detection(..., analyzers=[BaselineDetector(store)])``.
"""

from cloudwarden.detect.baselines.detector import BaselineConfig, BaselineDetector
from cloudwarden.detect.baselines.dimensions import DIMENSIONS, network_of, user_agent_family
from cloudwarden.detect.baselines.tactics import TACTICS, Tactic, TacticTable, default_table

__all__ = [
    "DIMENSIONS",
    "TACTICS",
    "BaselineConfig",
    "BaselineDetector",
    "Tactic",
    "TacticTable",
    "default_table",
    "network_of",
    "user_agent_family",
]
