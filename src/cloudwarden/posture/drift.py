"""Drift between two snapshots: what is new, changed and resolved per resource and control.

Verdict drift compares the posture findings of a baseline and a current evaluation, keyed by (control,
resource). Configuration drift compares the resource documents themselves, so a change that did not flip
any verdict (a security group gaining a rule that is still not public, a new bucket policy statement) is
reported too, with the JSON paths that changed. Values are never copied into the report (documents are
secret-free, but a path list is what a reader needs).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from cloudwarden.core.finding import Finding, Status

NEW = "new"  # a failing verdict that was not failing before (or a resource that appeared)
RESOLVED = "resolved"  # a failing verdict that now passes or is gone (or a resource that disappeared)
CHANGED = "changed"  # any other status change, or a configuration change with the same verdict

# Collection bookkeeping that changes on every run without the resource changing.
_VOLATILE = frozenset({"LastUsedDate", "LastAccessedDate", "LatestDeliveryTime", "LatestDeliveryAttemptTime",
                       "LatestDeliveryAttemptSucceeded", "TimeLoggingStarted", "LatestCloudWatchLogsDeliveryTime",
                       "LatestDigestDeliveryTime", "GeneratedTime", "ReportGeneratedTime"})


@dataclass(frozen=True)
class VerdictChange:
    kind: str
    control_id: str
    resource_id: str
    account: str
    region: str
    before: str | None
    after: str | None
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "control_id": self.control_id, "resource": self.resource_id,
                "account": self.account, "region": self.region, "before": self.before, "after": self.after,
                "reason": self.reason}


@dataclass(frozen=True)
class ConfigChange:
    kind: str  # new (resource appeared), resolved (resource gone), changed (document differs)
    resource_id: str
    resource_type: str
    account: str
    region: str
    paths: tuple[str, ...] = ()
    verdict_changed: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "resource": self.resource_id, "type": self.resource_type,
                "account": self.account, "region": self.region, "paths": list(self.paths),
                "verdict_changed": self.verdict_changed}


@dataclass(frozen=True)
class Drift:
    verdicts: list[VerdictChange] = field(default_factory=list)
    configuration: list[ConfigChange] = field(default_factory=list)

    def count(self, kind: str) -> int:
        return sum(1 for v in self.verdicts if v.kind == kind)

    def to_dict(self) -> dict[str, Any]:
        return {"summary": {k: self.count(k) for k in (NEW, CHANGED, RESOLVED)}
                | {"configuration_changes": len(self.configuration)},
                "verdicts": [v.to_dict() for v in self.verdicts],
                "configuration": [c.to_dict() for c in self.configuration]}


def _failing(status: Status | None) -> bool:
    return status is Status.FAILED


def _key(finding: Finding) -> tuple[str, str]:
    # The account too: an AWS managed policy is one ARN with a verdict in each account it is attached in.
    return (finding.control_id or finding.rule_id,
            finding.resource.id + "\x1f" + finding.region + "\x1f" + finding.account_id)


def compare_verdicts(baseline: Iterable[Finding], current: Iterable[Finding]) -> list[VerdictChange]:
    before = {_key(f): f for f in baseline}
    after = {_key(f): f for f in current}
    out: list[VerdictChange] = []
    for key in sorted(set(before) | set(after)):
        old, new = before.get(key), after.get(key)
        old_status = old.status if old else None
        new_status = new.status if new else None
        if old_status == new_status:
            continue
        ref = new or old
        assert ref is not None
        if _failing(new_status):
            kind = NEW
        elif _failing(old_status):
            kind = RESOLVED
        else:
            kind = CHANGED
        out.append(VerdictChange(kind, key[0], ref.resource.id, ref.account_id, ref.region,
                                 old_status.value if old_status else None,
                                 new_status.value if new_status else None,
                                 new.description if new else "the resource or control is no longer evaluated"))
    return out


def changed_paths(old: Any, new: Any, path: str = "") -> Iterator[str]:
    """JSON paths (``/calls/GetBucketPolicy/PolicyDocument/Statement/0``) where two documents differ."""
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        for key in sorted(set(old) | set(new), key=str):
            if key in _VOLATILE:
                continue
            if key not in old or key not in new:
                yield f"{path}/{key}"
            else:
                yield from changed_paths(old[key], new[key], f"{path}/{key}")
    elif isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        for index, (a, b) in enumerate(zip(old, new, strict=True)):
            yield from changed_paths(a, b, f"{path}/{index}")
    elif old != new:
        yield path or "/"


def _doc_key(doc: Mapping[str, Any]) -> str:
    return f"{doc.get('arn')}\x1f{doc.get('region')}"


def compare_documents(baseline: Iterable[Mapping[str, Any]], current: Iterable[Mapping[str, Any]],
                      flipped: set[str] | None = None) -> list[ConfigChange]:
    before = {_doc_key(d): d for d in baseline}
    after = {_doc_key(d): d for d in current}
    out: list[ConfigChange] = []
    for key in sorted(set(before) | set(after)):
        old, new = before.get(key), after.get(key)
        ref = new or old
        assert ref is not None
        arn, kind_type = str(ref.get("arn")), str(ref.get("type"))
        account, region = str(ref.get("account")), str(ref.get("region"))
        if old is None:
            out.append(ConfigChange(NEW, arn, kind_type, account, region))
            continue
        if new is None:
            out.append(ConfigChange(RESOLVED, arn, kind_type, account, region))
            continue
        paths = tuple(changed_paths({k: old.get(k) for k in ("data", "calls", "tags")},
                                    {k: new.get(k) for k in ("data", "calls", "tags")}))
        if paths:
            out.append(ConfigChange(CHANGED, arn, kind_type, account, region, paths,
                                    verdict_changed=arn in (flipped or set())))
    return out


def drift(baseline_docs: Iterable[Mapping[str, Any]], baseline_findings: Iterable[Finding],
          current_docs: Iterable[Mapping[str, Any]], current_findings: Iterable[Finding]) -> Drift:
    """Verdict and configuration drift from a baseline snapshot to the current one."""
    verdicts = compare_verdicts(baseline_findings, current_findings)
    flipped = {v.resource_id for v in verdicts}
    return Drift(verdicts, compare_documents(baseline_docs, current_docs, flipped))
