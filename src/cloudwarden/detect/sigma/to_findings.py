"""From a matched Sigma rule to our findings: type, severity, MITRE, and one finding per principal.

* ``rule_id`` is ``sigma:<rule id>``; ``source`` is ``detect``.
* ``severity`` from Sigma's ``level`` (informational, low, medium, high, critical; a rule without one
  is MEDIUM, the level SigmaHQ's guide gives when unsure).
* ``mitre`` from ``attack.tNNNN[.NNN]`` tags.
* ``type`` in GuardDuty's grammar, ``<ThreatPurpose>:IAMUser/Sigma.<TitleInCamelCase>``: the purpose is the
  rule's first ATT&CK tactic tag, spelled as GuardDuty spells its purposes (``attack.defense-evasion`` ->
  ``DefenseEvasion``); ATT&CK v18's ``defense-impairment`` is ``DefenseEvasion`` as in our own types
  (``DefenseEvasion:IAMUser/GuardDutyDetectorDeleted``). CloudTrail findings are about the calling IAM
  entity, hence ``IAMUser`` (GuardDuty uses it for users, roles and root alike).
* Matches group into one finding per (rule, account, region, principal) -- exactly the parts of the
  finding's stable id -- with ``count``, ``first_seen``, ``last_seen`` and the event ids as evidence.

Rows come from :func:`matches_sql` (or the engine's projection of the same columns).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

from cloudwarden.core.finding import Evidence, Finding, ResourceRef, Source
from cloudwarden.core.severity import Severity
from cloudwarden.detect.rules.model import ACCOUNT_SQL, PRINCIPAL_SQL, REGION_SQL
from cloudwarden.detect.table import TABLE

if TYPE_CHECKING:
    import duckdb

    from cloudwarden.detect.sigma.loader import CompiledSigmaRule

LEVEL_SEVERITY: Final[dict[str, Severity]] = {
    "informational": Severity.INFORMATIONAL,
    "low": Severity.LOW,
    "medium": Severity.MEDIUM,
    "high": Severity.HIGH,
    "critical": Severity.CRITICAL,
}
DEFAULT_SEVERITY: Final = Severity.MEDIUM

# ATT&CK tactic tag -> GuardDuty threat purpose (GuardDuty's own word where it has one).
TACTIC_PURPOSE: Final[dict[str, str]] = {
    "reconnaissance": "Recon",
    "resource-development": "ResourceDevelopment",
    "initial-access": "InitialAccess",
    "execution": "Execution",
    "persistence": "Persistence",
    "privilege-escalation": "PrivilegeEscalation",
    "defense-evasion": "DefenseEvasion",
    "defense-impairment": "DefenseEvasion",
    "stealth": "Stealth",
    "credential-access": "CredentialAccess",
    "discovery": "Discovery",
    "lateral-movement": "LateralMovement",
    "collection": "Collection",
    "command-and-control": "CommandAndControl",
    "exfiltration": "Exfiltration",
    "impact": "Impact",
}
NO_TACTIC_PURPOSE: Final = "Suspicious"  # a rule with no tactic tag
RESOURCE_KIND: Final = "IAMUser"
MAX_EVIDENCE_IDS: Final = 100  # per finding; ``evidence.details.event_ids_total`` says how many matched

_TECHNIQUE = re.compile(r"^attack\.(t\d{4}(?:\.\d{3})?)$", re.IGNORECASE)

# The columns :func:`sigma_findings` reads from each matched row.
MATCH_COLUMNS: Final = ("event_id", "event_time", "account", "region", "principal")


def severity_for(level: str | None) -> Severity:
    return LEVEL_SEVERITY.get((level or "").lower(), DEFAULT_SEVERITY)


def mitre_techniques(tags: Iterable[str]) -> tuple[str, ...]:
    """``attack.t1078.004`` -> ``T1078.004``, in tag order, without repeats."""
    found = (m.group(1).upper() for tag in tags if (m := _TECHNIQUE.match(tag)))
    return tuple(dict.fromkeys(found))


def tactics(tags: Iterable[str]) -> tuple[str, ...]:
    """The ATT&CK tactic names among ``tags`` (``attack.persistence`` -> ``persistence``), in tag order."""
    names = (tag.lower().removeprefix("attack.") for tag in tags if tag.lower().startswith("attack."))
    return tuple(name for name in names if name in TACTIC_PURPOSE)


def title_camel(title: str) -> str:
    """``AWS CloudTrail Important Change`` -> ``AWSCloudTrailImportantChange`` (letters and digits only)."""
    words = re.findall(r"[A-Za-z0-9]+", title)
    return "".join(word[0].upper() + word[1:] for word in words) or "Rule"


def finding_type(tags: Iterable[str], title: str) -> str:
    found = tactics(tags)
    purpose = TACTIC_PURPOSE[found[0]] if found else NO_TACTIC_PURPOSE
    return f"{purpose}:{RESOURCE_KIND}/Sigma.{title_camel(title)}"


def matches_sql(rule: CompiledSigmaRule, table: str = TABLE) -> str:
    """A query returning :data:`MATCH_COLUMNS` for every row of ``table`` the rule matches."""
    return (
        f"SELECT event_id, event_time, {ACCOUNT_SQL} AS account, {REGION_SQL} AS region, "
        f"{PRINCIPAL_SQL} AS principal FROM {table} WHERE {rule.where}"
    )


@dataclass
class _Group:
    count: int = 0
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    events: list[tuple[datetime, str]] = field(default_factory=list)

    def add(self, when: datetime, event_id: str) -> None:
        self.count += 1
        self.first_seen = when if self.first_seen is None else min(self.first_seen, when)
        self.last_seen = when if self.last_seen is None else max(self.last_seen, when)
        self.events.append((when, event_id))


def sigma_findings(rule: CompiledSigmaRule, rows: Iterable[Mapping[str, Any]]) -> list[Finding]:
    """One finding per (account, region, principal) among the rows ``rule`` matched (see :data:`MATCH_COLUMNS`)."""
    groups: dict[tuple[str, str, str], _Group] = {}
    for row in rows:
        key = (str(row["account"]), str(row["region"]), str(row["principal"]))
        groups.setdefault(key, _Group()).add(_utc(row["event_time"]), str(row["event_id"]))
    findings = []
    for (account, region, principal), group in sorted(groups.items()):
        assert group.first_seen is not None and group.last_seen is not None
        ids = [event_id for _, event_id in sorted(group.events)]
        details: dict[str, Any] = {"sigma_id": rule.id, "sigma_level": rule.level or "", "sigma_path": str(rule.path)}
        if len(ids) > MAX_EVIDENCE_IDS:
            details["event_ids_total"] = len(ids)
        findings.append(
            Finding.create(
                source=Source.DETECT,
                rule_id=rule.rule_id,
                type=rule.finding_type,
                title=rule.title,
                description=rule.finding_description,
                severity=rule.severity,
                account_id=account,
                region=region,
                resource=ResourceRef(type=_principal_type(principal), id=principal),
                principal=principal if principal != "unknown" else None,
                first_seen=group.first_seen,
                last_seen=group.last_seen,
                seen=group.last_seen,
                count=group.count,
                evidence=Evidence(event_ids=ids[:MAX_EVIDENCE_IDS], details=details),
                mitre=list(rule.mitre),
            )
        )
    return findings


def findings_from_duckdb(
    connection: duckdb.DuckDBPyConnection, rules: Iterable[CompiledSigmaRule], table: str = TABLE
) -> list[Finding]:
    """Run each rule over ``table`` on ``connection`` and return every finding (rule by rule).

    A direct path for tests and small inputs; the detection engine runs all rules in one pass instead.
    """
    findings: list[Finding] = []
    for rule in rules:
        cursor = connection.execute(matches_sql(rule, table))
        names = [d[0] for d in cursor.description]
        findings.extend(sigma_findings(rule, (dict(zip(names, r, strict=True)) for r in cursor.fetchall())))
    return findings


def _utc(value: Any) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if not isinstance(value, datetime):
        raise TypeError(f"event_time must be a datetime, got {type(value).__name__}")
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _principal_type(principal: str) -> str:
    if ":user/" in principal:
        return "AwsIamUser"
    if ":role/" in principal or ":assumed-role/" in principal:
        return "AwsIamRole"
    if principal.endswith(":root"):
        return "AwsAccount"
    return "Other"
