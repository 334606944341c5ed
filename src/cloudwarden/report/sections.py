"""The report's Posture, Identity and Response sections: view data built from ``summary["stages"]`` and the findings.

``cloudwarden demo`` puts each analysis stage's own figures in ``summary["stages"]`` (``posture``: scores per
framework and account, encryption by default, verdict counts; ``iam``: external-access counts; ``route``:
matched rules, queued alert messages, playbook runs with their planned steps). The figures say how many; the
findings say which. So each section reads both: posture's NOT_AVAILABLE reasons come from the posture findings'
descriptions, escalation hops from the ``iam`` findings' ``evidence.details``, and each playbook run is joined to
the finding that started it. A stage that did not run leaves its key out and its section says so; a stage's
figures of the wrong shape are a producer's bug and raise :class:`~cloudwarden.core.errors.BadInputError`
naming the key, rather than rendering a report that silently drops them.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from cloudwarden.core.errors import BadInputError
from cloudwarden.core.finding import Finding, Source, Status

REASONS_SHOWN = 25  # NOT_AVAILABLE reason groups listed; the counts are always complete
FAILED_REQUIREMENTS_SHOWN = 6
ACTIONS_SHOWN = 8
VERDICT_ORDER = (Status.PASSED.value, Status.FAILED.value, Status.NOT_AVAILABLE.value, Status.SUPPRESSED.value)


def _stage(summary: Mapping[str, Any], name: str) -> Mapping[str, Any] | None:
    stages = summary.get("stages")
    if stages is None:
        return None
    if not isinstance(stages, Mapping):
        raise BadInputError("summary.stages", f"expected an object of stage figures, got {type(stages).__name__}")
    stats = stages.get(name)
    if stats is None:
        return None
    if not isinstance(stats, Mapping):
        raise BadInputError(f"summary.stages.{name}", f"expected an object, got {type(stats).__name__}")
    return stats


def _get(stats: Mapping[str, Any], key: str, kind: type | tuple[type, ...], where: str, default: Any) -> Any:
    value = stats.get(key, default)
    if value is None:
        return default
    if not isinstance(value, kind):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise BadInputError(f"{where}.{key}", f"expected {names}, got {type(value).__name__}")
    return value


def _int(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadInputError(where, f"expected a whole number, got {value!r}")
    return value


def _pct(value: Any, where: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 100:
        raise BadInputError(where, f"expected a percentage between 0 and 100 or null, got {value!r}")
    return round(float(value), 1)


def account_label(account_id: str, aliases: Mapping[str, str]) -> str:
    alias = aliases.get(account_id)
    return f"{alias} ({account_id})" if alias else account_id


def _band(percent: float | None) -> str:
    """The bar's colour class: good from 80 %, fair from 50 %, else poor; ``na`` when nothing was decided."""
    if percent is None:
        return "na"
    return "good" if percent >= 80 else "fair" if percent >= 50 else "poor"


# --- posture -----------------------------------------------------------------------------------------------


def posture_view(summary: Mapping[str, Any], findings: Sequence[Finding], aliases: Mapping[str, str]
                 ) -> dict[str, Any] | None:
    """Scores per framework and account, encryption by default, verdict counts and NOT_AVAILABLE reasons;
    None when the posture stage did not run."""
    stats = _stage(summary, "posture")
    if stats is None:
        return None
    where = "summary.stages.posture"
    verdicts_in = _get(stats, "verdicts", Mapping, where, {})
    verdicts = {k: _int(verdicts_in.get(k, 0), f"{where}.verdicts.{k}") for k in VERDICT_ORDER[:3]}
    verdicts.update({str(k): _int(v, f"{where}.verdicts.{k}") for k, v in sorted(verdicts_in.items())
                     if k not in verdicts and v})
    scores = []
    for i, raw in enumerate(_get(stats, "scores", list, where, [])):
        at = f"{where}.scores[{i}]"
        if not isinstance(raw, Mapping):
            raise BadInputError(at, f"expected an object, got {type(raw).__name__}")
        percent = _pct(raw.get("score"), f"{at}.score")
        failed_reqs = [str(r) for r in _get(raw, "failed_requirements", list, at, [])]
        scores.append({
            "framework": str(raw.get("framework", "")), "account": account_label(str(raw.get("account", "")), aliases),
            "passed": _int(raw.get("passed", 0), f"{at}.passed"), "failed": _int(raw.get("failed", 0), f"{at}.failed"),
            "not_available": _int(raw.get("not_available", 0), f"{at}.not_available"),
            "score": percent, "band": _band(percent), "failed_requirements": failed_reqs[:FAILED_REQUIREMENTS_SHOWN],
            "failed_more": max(len(failed_reqs) - FAILED_REQUIREMENTS_SHOWN, 0),
        })
    encryption = []
    for account, value in _get(stats, "encryption_by_default", Mapping, where, {}).items():
        percent = _pct(value, f"{where}.encryption_by_default.{account}")
        encryption.append({"account": account_label(str(account), aliases), "score": percent, "band": _band(percent)})
    reasons, total_na = _not_available_reasons(findings)
    return {
        "verdicts": verdicts,
        "total": sum(verdicts.values()),
        "controls": stats.get("controls"),
        "documents": stats.get("documents"),
        "snapshot": stats.get("snapshot_id"),
        "muted": stats.get("muted") or 0,
        "scores": scores,
        "frameworks": sorted({s["framework"] for s in scores}),
        "encryption": encryption,
        "reasons": reasons[:REASONS_SHOWN],
        "reasons_more": max(len(reasons) - REASONS_SHOWN, 0),
        "not_available_findings": total_na,
    }


def _not_available_reasons(findings: Sequence[Finding]) -> tuple[list[dict[str, Any]], int]:
    """NOT_AVAILABLE posture verdicts grouped by reason, with account ids and regions taken out of the text
    (``500 on ssm:GetServiceSetting for <account>/<region>`` is one reason, not six), most frequent first."""
    counts: Counter[str] = Counter()
    controls: dict[str, set[str]] = defaultdict(set)
    accounts: dict[str, set[str]] = defaultdict(set)
    for f in findings:
        if f.source is Source.POSTURE and f.status is Status.NOT_AVAILABLE:
            reason = _generic(f.description or "no reason given")
            counts[reason] += 1
            controls[reason].add(f.control_id or f.rule_id)
            accounts[reason].add(f.account_id)
    rows = [{"reason": reason, "count": n, "controls": sorted(controls[reason], key=_natural),
             "accounts": len(accounts[reason])}
            for reason, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]
    return rows, sum(counts.values())


_ACCOUNT_REGION = re.compile(r"\b\d{12}/[a-z]{2}(?:-[a-z]+)+-\d\b")
_ACCOUNT = re.compile(r"\b\d{12}\b")


def _generic(reason: str) -> str:
    return _ACCOUNT.sub("<account>", _ACCOUNT_REGION.sub("<account>/<region>", reason))


def _natural(control: str) -> tuple[str, int, str]:
    """``EC2.9`` before ``EC2.10``."""
    head, _, tail = control.rpartition(".")
    return (head, int(tail), "") if tail.isdigit() else (control, -1, control)


# --- identity ----------------------------------------------------------------------------------------------


def identity_view(summary: Mapping[str, Any], findings: Sequence[Finding], aliases: Mapping[str, str]
                  ) -> dict[str, Any]:
    """External access and escalation paths from the ``iam`` findings, with the stage's counts when it ran."""
    stats = _stage(summary, "iam") or {}
    where = "summary.stages.iam"
    external, paths = [], []
    for f in findings:
        if f.source is not Source.IAM:
            continue
        details = f.evidence.details
        hops = details.get("hops")
        if isinstance(hops, list) and hops:
            paths.append(_path_row(f, hops, details, aliases))
        else:
            external.append(_external_row(f, details, aliases))
    external.sort(key=lambda r: (-r["finding"].severity.rank, r["kind"], r["resource"]))
    paths.sort(key=lambda r: (len(r["hops"]), r["principal"]))
    counts = {str(k): _int(v, f"{where}.external_access.{k}")
              for k, v in _get(stats, "external_access", Mapping, where, {}).items()}
    paths_stat = stats.get("paths")
    return {
        "ran": bool(stats),
        "external": external,
        "paths": paths,
        "external_counts": counts,
        "principals": stats.get("principals"),
        "resource_policies": stats.get("resource_policies"),
        "undecided": len(_get(stats, "undecided", list, where, [])),
        "paths_note": paths_stat if isinstance(paths_stat, str) else None,
    }


def _external_row(f: Finding, details: Mapping[str, Any], aliases: Mapping[str, str]) -> dict[str, Any]:
    actions = [str(a) for a in details.get("actions") or []]
    kind = f.type.rsplit("/", 1)[-1] if "/" in f.type else f.type
    return {
        "finding": f, "kind": kind, "resource": f.resource.id, "account": account_label(f.account_id, aliases),
        "grantees": [str(g) for g in details.get("grantees") or []], "via": str(details.get("via") or "policy"),
        "actions": actions[:ACTIONS_SHOWN], "actions_more": max(len(actions) - ACTIONS_SHOWN, 0),
    }


def _path_row(f: Finding, hops: list[Any], details: Mapping[str, Any], aliases: Mapping[str, str]
              ) -> dict[str, Any]:
    rows = []
    for i, hop in enumerate(hops):
        if not isinstance(hop, Mapping):
            raise BadInputError(f"finding {f.id} evidence.details.hops[{i}]", "expected an object")
        rows.append({
            "actor": str(hop.get("actor", "")), "target": str(hop.get("target", "")),
            "resource": str(hop.get("resource", "")), "via": hop.get("via"), "kind": str(hop.get("kind", "")),
            "permissions": [str(p) for p in hop.get("permissions") or []],
            "techniques": [str(hop.get("technique", "")), *(str(t) for t in hop.get("also") or [])],
        })
    return {"finding": f, "principal": f.principal or f.resource.id, "account": account_label(f.account_id, aliases),
            "hops": rows, "reached": str(details.get("reached", "")),
            "techniques": [str(t) for t in details.get("techniques") or []]}


# --- response ----------------------------------------------------------------------------------------------


def response_view(summary: Mapping[str, Any], findings: Sequence[Finding], aliases: Mapping[str, str]
                  ) -> dict[str, Any] | None:
    """The route stage's alerts and each playbook run as an incident timeline; None when routing did not run."""
    stats = _stage(summary, "route")
    if stats is None:
        return None
    where = "summary.stages.route"
    by_id = {f.id: f for f in findings}
    matched = [{"rule": str(rule), "findings": _int(n, f"{where}.matched.{rule}")}
               for rule, n in _get(stats, "matched", Mapping, where, {}).items()]
    queued = []
    for i, raw in enumerate(_get(stats, "queued", list, where, [])):
        if not isinstance(raw, Mapping):
            raise BadInputError(f"{where}.queued[{i}]", f"expected an object, got {type(raw).__name__}")
        queued.append({"target": str(raw.get("target", "")), "rules": [str(r) for r in raw.get("rules") or []],
                       "findings": _int(raw.get("findings", 0), f"{where}.queued[{i}].findings"),
                       "new": bool(raw.get("new", True))})
    delivery = {k: _int(v, f"{where}.delivery.{k}") for k, v in _get(stats, "delivery", Mapping, where, {}).items()}
    suppressed = {str(k): _int(v, f"{where}.suppressed.{k}")
                  for k, v in _get(stats, "suppressed", Mapping, where, {}).items()}
    runs = [_incident(i, raw, by_id, aliases, where)
            for i, raw in enumerate(_get(stats, "playbook_runs", list, where, []))]
    return {
        "routed": stats.get("findings"),
        "rules": [str(r) for r in _get(stats, "rules", list, where, [])],
        "matched": matched,
        "queued": queued,
        "alerts": sum(q["findings"] for q in queued),
        "delivery": delivery,
        "suppressed": suppressed,
        "throttled": stats.get("throttled") or 0,
        "received": _get(stats, "sink", Mapping, where, {}).get("accepted"),
        "runs": runs,
        "steps_by_outcome": dict(sorted(Counter(s["outcome"] for r in runs for s in r["steps"]).items())),
    }


def _incident(i: int, raw: Any, by_id: Mapping[str, Finding], aliases: Mapping[str, str], where: str
              ) -> dict[str, Any]:
    at = f"{where}.playbook_runs[{i}]"
    if not isinstance(raw, Mapping):
        raise BadInputError(at, f"expected an object, got {type(raw).__name__}")
    steps = []
    for j, step in enumerate(_get(raw, "steps", list, at, [])):
        if not isinstance(step, Mapping):
            raise BadInputError(f"{at}.steps[{j}]", f"expected an object, got {type(step).__name__}")
        steps.append({"path": str(step.get("path", "")), "action": str(step.get("action", "")),
                      "outcome": str(step.get("outcome", "")), "disruptive": bool(step.get("disruptive")),
                      "changes": [str(c) for c in step.get("changes") or []]})
    finding_id = str(raw.get("finding_id", ""))
    finding = by_id.get(finding_id)
    covers = [str(c) for c in _get(raw, "covers", list, at, [])]
    return {
        "finding_id": finding_id, "finding": finding,
        "account": account_label(finding.account_id, aliases) if finding else None,
        "rule": str(raw.get("rule", "")), "playbook": str(raw.get("playbook", "")),
        "mode": "execute" if raw.get("execute") else "dry run", "status": str(raw.get("status", "")),
        "run_id": raw.get("run_id"), "case_dir": raw.get("case_dir"), "error": raw.get("error"),
        "pending": [str(p) for p in _get(raw, "pending", list, at, [])],
        "steps": steps, "covers": [{"id": c, "finding": by_id.get(c)} for c in covers],
    }


def stage_sections(summary: Mapping[str, Any], findings: Sequence[Finding], aliases: Mapping[str, str]
                   ) -> dict[str, Any]:
    """All three views, keyed as the template names them."""
    return {"posture": posture_view(summary, findings, aliases), "identity": identity_view(summary, findings, aliases),
            "response": response_view(summary, findings, aliases)}


__all__ = ["account_label", "identity_view", "posture_view", "response_view", "stage_sections"]
