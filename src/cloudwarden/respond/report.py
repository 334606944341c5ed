"""``respond report``: a playbook run as an incident timeline in Markdown, for a blameless post-mortem.

Three parts, all read back from what the run left behind (nothing is re-asked of AWS): the
detection (the finding that started it), every action in time order from the run's entries in the
hash-chained audit log (what was planned, approved, changed, excluded, rolled back), and the evidence
in the case folder with each file's SHA-256 from the manifest, checked against the files on disk.
"""

from __future__ import annotations

import json
from typing import Any, Final

from cloudwarden.core.finding import iso_utc, scrub_secrets
from cloudwarden.respond.case import MANIFEST, verify_manifest
from cloudwarden.respond.journal import Journal, verify_chain
from cloudwarden.respond.records import Records
from cloudwarden.store import Store

# What each audit phase means in the timeline.
_PHASES: Final = {
    "plan": "planned (dry run)",
    "collect": "collected evidence",
    "awaiting-approval": "waiting for approval",
    "execute": "started",
    "executed": "done",
    "excluded": "skipped: tagged cloudwarden:exclude",
    "rollback": "rollback started",
    "rolled-back": "rolled back",
}


def _cell(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str, sort_keys=True)
    return text.replace("|", "\\|").replace("\n", "<br>") or "-"


def _what(action: str, details: dict[str, Any]) -> tuple[str, str]:
    phase = str(details.get("phase", ""))
    if action == "respond.run":
        mode = "execute" if details.get("execute") else "dry run"
        auto = ", auto-approved" if details.get("auto_approve") else ""
        return "run started", f"{details.get('playbook')} ({mode}{auto})"
    if action == "respond.approve":
        return "approved", ", ".join(details.get("approved", []))
    if action == "respond.pass":
        pending = f"; waiting for {', '.join(details['pending'])}" if details.get("pending") else ""
        error = f"; error: {details['error']}" if details.get("error") else ""
        return "pass finished", f"{details.get('status')}{pending}{error}"
    changes = details.get("changes") or details.get("restored") or []
    if phase == "executed":
        text = "; ".join(changes) if changes else "nothing needed changing"
        if details.get("problems"):
            text += f"; verification failed: {'; '.join(details['problems'])}"
        return _PHASES[phase], text
    if phase in ("awaiting-approval", "rolled-back"):
        return _PHASES[phase], "; ".join(changes) or "-"
    if phase == "excluded":
        return _PHASES[phase], ", ".join(details.get("excluded", []))
    return _PHASES.get(phase, phase or action), ""


def incident_timeline(store: Store, run_id: str) -> str:
    """The Markdown timeline of run ``run_id`` (see the module docstring)."""
    run = Records(store).get_run(run_id)
    finding = run.finding
    lines = [f"# Incident timeline: {run.playbook}, run {run.id}", "",
             f"- status: **{run.status.value}**" + (f" ({run.error})" if run.error else ""),
             f"- mode: {'execute' if run.execute else 'dry run'}{', auto-approved' if run.auto_approve else ''}",
             f"- started: {iso_utc(run.started_at)}; last updated: {iso_utc(run.updated_at)}",
             f"- account: {run.account_id}, region: {run.region}",
             f"- case folder: `{run.case_dir}`", "", "## Detection", "", "| field | value |", "|---|---|"]
    detection = [
        ("finding", finding.id), ("title", finding.title), ("type", finding.type), ("severity", finding.severity.value),
        ("source / rule", f"{finding.source.value} / {finding.rule_id}"),
        ("resource", f"{finding.resource.type} {finding.resource.id}"), ("principal", finding.principal or "-"),
        ("first seen", iso_utc(finding.first_seen)), ("last seen", iso_utc(finding.last_seen)),
        ("CloudTrail events", ", ".join(finding.evidence.event_ids) or "-"), ("MITRE ATT&CK", ", ".join(finding.mitre)),
    ]
    lines += [f"| {name} | {_cell(value)} |" for name, value in detection]
    lines += ["", "## Actions", "", "| time (UTC) | step | action | target | what happened | details |",
              "|---|---|---|---|---|---|"]
    entries = Journal(store).entries(run_id=run_id)
    for entry in entries:
        if entry.details.get("phase") == "execute":
            continue  # its "executed" entry follows with the outcome
        happened, text = _what(entry.action, entry.details)
        step = str(entry.details.get("step", "")).split("@", 1)[0]
        lines.append(f"| {iso_utc(entry.at)} | {_cell(step)} | {_cell(entry.action)} | {_cell(entry.target)} | "
                     f"{_cell(happened)} | {_cell(text)} |")
    lines += ["", "## Evidence", ""]
    manifest_path = run.case_dir / MANIFEST
    if manifest_path.is_file():
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        problems = verify_manifest(run.case_dir)
        lines += [f"Manifest written {manifest.get('generated_at')}; audit chain head then: "
                  f"`{manifest.get('audit_head')}`. "
                  + ("Every file matches its hash." if not problems else f"**Changed since:** {'; '.join(problems)}"),
                  "", "| file | sha256 | bytes |", "|---|---|---|"]
        lines += [f"| `{f['path']}` | `{f['sha256']}` | {f['bytes']} |" for f in manifest["files"]]
    else:
        lines.append(f"No manifest in `{run.case_dir}` (the case folder was moved or removed).")
    chain = verify_chain(store)
    lines += ["", "## Audit log", "",
              f"{len(entries)} entries for this run; the hash chain ({chain.entries} entries, head `{chain.head}`) "
              + ("verifies." if chain.ok else f"is **broken**: {'; '.join(chain.problems)}"), ""]
    return str(scrub_secrets("\n".join(lines)))
