"""The case folder of a playbook run: ``<output-dir>/cases/<run_id>/`` with a SHA-256 manifest.

It holds the finding, the plan, each pass's steps, the run's audit entries and the evidence actions
collected (``evidence/``). ``manifest.json`` lists every other file with its SHA-256 and size, plus the
audit chain's head hash when it was written, so a copy of the folder can be checked on its own
(:func:`verify_manifest`) and tied back to the store's audit log.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from cloudwarden.core.finding import scrub_secrets
from cloudwarden.respond.actions import Evidence

MANIFEST: Final = "manifest.json"


def case_dir(output_dir: Path, run_id: str) -> Path:
    return output_dir / "cases" / run_id


class CaseFolder:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.evidence = Evidence(root / "evidence")

    def write_json(self, name: str, value: Any) -> Path:
        """Write a top-level JSON file (secrets scrubbed), replacing an earlier version of it."""
        self.root.mkdir(parents=True, exist_ok=True)
        path = self.root / name
        path.write_text(json.dumps(scrub_secrets(value), indent=2, sort_keys=True, default=str) + "\n",
                        encoding="utf-8")
        return path

    def write_manifest(self, run_id: str, audit_head: str) -> Path:
        files = [
            {"path": path.relative_to(self.root).as_posix(), "sha256": _sha256(path), "bytes": path.stat().st_size}
            for path in sorted(self.root.rglob("*"))
            if path.is_file() and path.name != MANIFEST
        ]
        manifest = {"run_id": run_id, "generated_at": datetime.now(UTC).isoformat(), "audit_head": audit_head,
                    "files": files}
        target = self.root / MANIFEST
        target.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
        return target


def verify_manifest(root: Path) -> list[str]:
    """Problems with a case folder: files changed, missing, or not in the manifest. Empty: intact."""
    manifest = json.loads((root / MANIFEST).read_text(encoding="utf-8"))
    listed = {item["path"]: item["sha256"] for item in manifest["files"]}
    problems = []
    for path, digest in listed.items():
        file = root / path
        if not file.is_file():
            problems.append(f"{path}: missing")
        elif _sha256(file) != digest:
            problems.append(f"{path}: content changed (sha256 differs from the manifest)")
    for file in sorted(root.rglob("*")):
        relative = file.relative_to(root).as_posix()
        if file.is_file() and file.name != MANIFEST and relative not in listed:
            problems.append(f"{relative}: not in the manifest")
    return problems


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
