"""Evaluate posture controls over a snapshot's resource documents, and score the result per framework.

:func:`evaluate` runs every selected control over every document of its scope and turns each verdict into
a contract :class:`~cloudwarden.core.finding.Finding` (``source: posture``, ``control_id`` the Security Hub
id, ``frameworks`` the CIS/FSBP requirement ids). A control the snapshot cannot decide gives a
``NOT_AVAILABLE`` finding with the reason; nothing is skipped silently. :func:`scores` rolls findings up
per framework and account the way Security Hub does (a requirement passes when none of its findings fail).
"""

from __future__ import annotations

import gc
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cloudwarden.core.finding import Evidence, Finding, ResourceRef, Source, Status, finding_id
from cloudwarden.core.severity import Severity
from cloudwarden.posture import frameworks as fw
from cloudwarden.posture.inventory import Inventory, to_docs
from cloudwarden.posture.model import Control, NotAvailable, ResourceDoc, Verdict, VerdictStatus
from cloudwarden.posture.registry import REGISTRY
from cloudwarden.posture.registry import controls as registered

FINDING_TYPE = "Software and Configuration Checks/Industry and Regulatory Standards"
# Data-shape errors a check can hit on a malformed document; anything else is a bug and propagates.
_SHAPE_ERRORS = (KeyError, TypeError, ValueError, AttributeError)


def select(*, framework: str = fw.ALL, services: Iterable[str] | None = None,
           controls: Iterable[str] | None = None) -> list[Control]:
    """The controls a scan runs: registered ones, narrowed by framework, services and ids."""
    chosen = registered(services=services, ids=controls)
    if framework != fw.ALL:
        mapped = fw.load(framework).control_ids()
        chosen = [c for c in chosen if c.id in mapped]
    return chosen


def run_checks(item: Control, doc: ResourceDoc, inv: Inventory, *, strict: bool = False) -> list[Verdict]:
    """One control on one document: its verdicts (usually one; none when it does not apply; one per account
    for a document shared by several, such as an AWS managed policy), each with its resource filled in."""
    try:
        result = item.check(doc, inv)
    except NotAvailable as exc:
        return [Verdict(VerdictStatus.NOT_AVAILABLE, exc.reason, doc)]
    except _SHAPE_ERRORS as exc:
        if strict:
            raise
        return [Verdict(VerdictStatus.NOT_AVAILABLE,
                        f"{item.id} could not read the snapshot document of {doc.label}: "
                        f"{type(exc).__name__} {exc}", doc)]
    if result is None:
        return []
    results = [result] if isinstance(result, Verdict) else list(result)
    return [r if r.resource is not None else Verdict(r.status, r.reason, doc) for r in results]


def run_check(item: Control, doc: ResourceDoc, inv: Inventory, *, strict: bool = False) -> Verdict | None:
    """One control on one document that gives at most one verdict: that verdict, ``None`` when it does not
    apply (a control giving several raises ``ValueError``: use :func:`run_checks`)."""
    found = run_checks(item, doc, inv, strict=strict)
    if len(found) > 1:
        raise ValueError(f"{item.id} gave {len(found)} verdicts for {doc.label}; use run_checks")
    return found[0] if found else None


_FIELDS = frozenset(Finding.model_fields)
_STATUS = {VerdictStatus.PASSED: Status.PASSED, VerdictStatus.FAILED: Status.FAILED,
           VerdictStatus.NOT_AVAILABLE: Status.NOT_AVAILABLE}
_POSTURE = Source.POSTURE.value


def _construct(fields: dict[str, Any]) -> Finding:
    """``Finding.model_construct`` for a complete set of fields, without its per-field default handling
    (which costs more than the checks themselves at 80,000 findings)."""
    finding = Finding.__new__(Finding)
    object.__setattr__(finding, "__dict__", fields)
    object.__setattr__(finding, "__pydantic_fields_set__", set(_FIELDS))
    object.__setattr__(finding, "__pydantic_extra__", None)
    object.__setattr__(finding, "__pydantic_private__", None)
    return finding


def evidence_of(item: Control) -> Evidence:
    """What every finding of a control carries as evidence (the verdict's reason is the description)."""
    return Evidence.model_construct(event_ids=[], details={
        "control_severity": item.severity.value, "resource_type": item.resource_type,
        "categories": list(item.categories)})


class _Findings:
    """Makes the findings of one control: the fields they all share are built once, not per verdict (an
    evaluation of 10,000 resources makes some 80,000 findings, and building them dominated its time)."""

    def __init__(self, item: Control, seen: datetime, frameworks: dict[str, list[str]] | None = None,
                 evidence: Evidence | None = None) -> None:
        self.control_id = item.id
        self.failed_severity = item.severity
        self.shared: dict[str, Any] = {
            "source": Source.POSTURE, "type": FINDING_TYPE, "control_id": item.id, "rule_id": item.id,
            "title": item.title, "remediation": item.remediation_text, "principal": None,
            "frameworks": fw.frameworks_of(item.id) if frameworks is None else frameworks,
            "first_seen": seen, "last_seen": seen, "count": 1, "evidence": evidence or evidence_of(item),
        }

    def make(self, result: Verdict, resource: ResourceRef | None = None) -> Finding:
        doc = result.resource
        assert doc is not None
        status = _STATUS[result.status]
        fields = self.shared.copy()
        fields["id"] = finding_id(_POSTURE, self.control_id, doc.account, doc.region, doc.arn)
        fields["description"] = result.reason
        fields["status"] = status
        fields["severity"] = self.failed_severity if status is Status.FAILED else Severity.INFORMATIONAL
        fields["account_id"] = doc.account
        fields["region"] = doc.region
        fields["resource"] = resource if resource is not None and resource.id == doc.arn \
            else ResourceRef.model_construct(type=doc.type, id=doc.arn)
        fields["mitre"] = []
        return _construct(fields)


def to_finding(item: Control, result: Verdict, seen: datetime, frameworks: dict[str, list[str]] | None = None,
               evidence: Evidence | None = None, resource: ResourceRef | None = None) -> Finding:
    """The contract finding for one verdict.

    Built without validation (:func:`_construct`): every field is produced here from typed values, and
    validating tens of thousands of findings would dominate the evaluation time (the 10,000-resource budget
    is 2 s). ``tests/posture/test_evaluate.py`` checks that a validated copy equals the constructed one.
    ``frameworks``, ``evidence`` and ``resource`` may be passed in to share them between findings (all
    three are immutable in practice: findings are frozen and copied, never changed in place).
    """
    return _Findings(item, seen, frameworks, evidence).make(result, resource)


def evaluate(
    snapshot_resources: Iterable[Mapping[str, Any] | ResourceDoc] | Inventory,
    *,
    framework: str = fw.ALL,
    services: Iterable[str] | None = None,
    controls: Iterable[str] | None = None,
    now: datetime | None = None,
    strict: bool = False,
) -> list[Finding]:
    """Evaluate the selected controls over a snapshot; one finding per (control, resource) verdict.

    ``now`` is the clock age-based controls measure against (default: the current time). ``strict`` lets
    a data-shape error in a check propagate instead of becoming NOT_AVAILABLE (tests use it).
    """
    when = (now or datetime.now(UTC)).replace(microsecond=0)
    inv = snapshot_resources if isinstance(snapshot_resources, Inventory) else Inventory(
        to_docs(snapshot_resources), now=when)
    findings: list[Finding] = []
    refs: dict[str, ResourceRef] = {}
    with gc_paused():
        for item in select(framework=framework, services=services, controls=controls):
            make = _Findings(item, when).make
            for scope in item.scope:
                for doc in inv.of_type(scope):
                    for result in run_checks(item, doc, inv, strict=strict):
                        target = result.resource or doc
                        ref = refs.get(target.arn)
                        if ref is None:
                            ref = refs[target.arn] = ResourceRef.model_construct(type=target.type, id=target.arn)
                        findings.append(make(result, ref))
    return findings


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector for a block that makes tens of thousands of objects which all live on
    (snapshot documents, findings): the collector would walk them again and again, a third of the time, to
    find no garbage. Reference counting still frees everything as usual; the collector is restored after."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


# --- scores ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Score:
    """One framework in one account: requirements passed, failed and undecidable, and the percentage."""

    framework: str
    account: str
    passed: int
    failed: int
    not_available: int
    failed_requirements: tuple[str, ...] = field(default=())

    @property
    def percent(self) -> float | None:
        decided = self.passed + self.failed
        return None if decided == 0 else round(100.0 * self.passed / decided, 1)

    def to_dict(self) -> dict[str, Any]:
        return {"framework": self.framework, "account": self.account, "passed": self.passed, "failed": self.failed,
                "not_available": self.not_available, "score": self.percent,
                "failed_requirements": list(self.failed_requirements)}


def _requirement_status(statuses: set[Status]) -> Status | None:
    if Status.FAILED in statuses:
        return Status.FAILED
    if statuses & {Status.PASSED, Status.SUPPRESSED}:
        return Status.PASSED
    if Status.NOT_AVAILABLE in statuses:
        return Status.NOT_AVAILABLE
    return None


def scores(findings: Iterable[Finding], frameworks: Sequence[str] = fw.FRAMEWORKS) -> list[Score]:
    """Per framework and account; a requirement fails when any finding of its controls fails (suppressed
    findings do not fail it), and is NOT_AVAILABLE when its controls reached no verdict."""
    by_key: dict[tuple[str, str], set[Status]] = defaultdict(set)
    accounts: set[str] = set()
    for finding in findings:
        if finding.source is Source.POSTURE and finding.control_id:
            by_key[(finding.account_id, finding.control_id)].add(finding.status)
            accounts.add(finding.account_id)
    out: list[Score] = []
    for name in frameworks:
        framework = fw.load(name)
        for account in sorted(accounts):
            counts = {Status.PASSED: 0, Status.FAILED: 0, Status.NOT_AVAILABLE: 0}
            failing: list[str] = []
            for requirement in framework.requirements:
                statuses = set().union(*(by_key.get((account, c), set()) for c in requirement.controls))
                status = _requirement_status(statuses)
                if status is None:
                    continue
                counts[status] += 1
                if status is Status.FAILED:
                    failing.append(requirement.id)
            if sum(counts.values()):
                out.append(Score(name, account, counts[Status.PASSED], counts[Status.FAILED],
                                 counts[Status.NOT_AVAILABLE], tuple(failing)))
    return out


def category_scores(findings: Iterable[Finding], category: str = "encryption") -> dict[str, float | None]:
    """Per account, the share of decided verdicts that pass among controls of ``category`` (for example the
    encryption-by-default score: EBS default encryption, encrypted volumes, buckets, databases, trails...)."""
    passed: dict[str, int] = defaultdict(int)
    decided: dict[str, int] = defaultdict(int)
    for finding in findings:
        item = REGISTRY.get(finding.control_id or "")
        if finding.source is not Source.POSTURE or item is None or category not in item.categories:
            continue
        if finding.status in (Status.PASSED, Status.SUPPRESSED):
            passed[finding.account_id] += 1
            decided[finding.account_id] += 1
        elif finding.status is Status.FAILED:
            decided[finding.account_id] += 1
    return {account: round(100.0 * passed[account] / total, 1) if total else None
            for account, total in sorted(decided.items())}


def counts(findings: Iterable[Finding]) -> dict[str, int]:
    """How many verdicts of each status (NOT_AVAILABLE: how many the run could not reach)."""
    out: dict[str, int] = defaultdict(int)
    for finding in findings:
        out[finding.status.value] += 1
    return dict(out)
