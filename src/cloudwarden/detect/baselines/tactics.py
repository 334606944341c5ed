"""Which ATT&CK tactic (and technique) a CloudTrail API call serves, for the eight
``<Tactic>:IAMUser/AnomalousBehavior`` finding types.

The mapping is data (``tactics.yaml`` beside this module) so it can grow without code changes; this
module only reads it and answers lookups. Keys are ``service:EventName`` globs (``service`` being the
event source without ``.amazonaws.com``); exact keys win over globs, globs are tried in file order.
"""

from __future__ import annotations

import fnmatch
import functools
from dataclasses import dataclass
from importlib import resources
from typing import Any, Final

import yaml

from cloudwarden.core.errors import BadInputError
from cloudwarden.core.severity import Severity

TACTICS: Final = (
    "CredentialAccess", "DefenseEvasion", "Discovery", "Exfiltration", "Impact", "InitialAccess", "Persistence",
    "PrivilegeEscalation",
)
_TABLE_FILE: Final = "tactics.yaml"


@dataclass(frozen=True)
class Tactic:
    """The tactic an API call serves, the technique it evidences, and the finding type and severity."""

    name: str
    technique: str
    severity: Severity

    @property
    def finding_type(self) -> str:
        return f"{self.name}:IAMUser/AnomalousBehavior"


def api_key(event_source: str, event_name: str) -> str:
    """``iam.amazonaws.com`` + ``CreateUser`` -> ``iam:CreateUser``."""
    return f"{event_source.removesuffix('.amazonaws.com')}:{event_name}"


@dataclass(frozen=True)
class TacticTable:
    """The parsed table: exact keys, then (glob, tactic) pairs in order."""

    exact: dict[str, Tactic]
    globs: tuple[tuple[str, Tactic], ...]

    @classmethod
    def parse(cls, data: Any, where: str) -> TacticTable:
        if not isinstance(data, dict) or not isinstance(data.get("apis"), dict):
            raise BadInputError(where, "expected a mapping with 'severities' and 'apis'")
        severities = data.get("severities") or {}
        exact: dict[str, Tactic] = {}
        globs: list[tuple[str, Tactic]] = []
        for name, apis in data["apis"].items():
            if name not in TACTICS:
                raise BadInputError(where, f"unknown tactic {name!r} (one of {', '.join(TACTICS)})")
            if name not in severities:
                raise BadInputError(where, f"tactic {name} has no severity under 'severities'")
            severity = Severity.parse(str(severities[name]), f"{where}: severities.{name}")
            if not isinstance(apis, dict):
                raise BadInputError(where, f"apis.{name} must map 'service:EventName' to a technique id")
            for key, technique in apis.items():
                if ":" not in str(key):
                    raise BadInputError(where, f"apis.{name}: {key!r} is not 'service:EventName'")
                tactic = Tactic(name, str(technique), severity)
                if any(c in str(key) for c in "*?["):
                    globs.append((str(key), tactic))
                else:
                    exact.setdefault(str(key), tactic)
        return cls(exact, tuple(globs))

    def lookup(self, api: str) -> Tactic | None:
        """The tactic of ``service:EventName``, or None when the table does not map it."""
        found = self.exact.get(api)
        if found is not None:
            return found
        for pattern, tactic in self.globs:
            if fnmatch.fnmatchcase(api, pattern):
                return tactic
        return None


@functools.cache
def default_table() -> TacticTable:
    """The shipped table (parsed once per process)."""
    path = resources.files("cloudwarden.detect.baselines") / _TABLE_FILE
    return TacticTable.parse(yaml.safe_load(path.read_text(encoding="utf-8")), str(path))
