"""The ``--mutelist`` file: accepted risks, muted by account, control, region, resource and tag.

```yaml
mutelist:
  - reason: "Marketing assets are public on purpose"      # required
    account: "222222222222"          # exact id or "*" (default "*")
    control: "S3.2"                  # control id, or a regex matched against the whole id (default ".*")
    region: "*"                      # exact region or "*" (default "*")
    resource: "arn:aws:s3:::prod-marketing-.*"   # regex matched against the whole resource id (default ".*")
    tags: {Environment: prod}        # every tag must match (value is a regex); needs the resource's tags
    expires: 2026-12-31              # optional: after this day the entry no longer mutes and is reported
```

A muted finding is kept with status ``SUPPRESSED`` (and the entry's reason in its evidence), never
dropped, so reports can still show it. ``PASSED`` verdicts are left alone: there is nothing to accept.
An expired entry mutes nothing and is returned in :attr:`MuteResult.expired` so the run can say so.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from cloudwarden.core.errors import BadInputError
from cloudwarden.core.finding import Finding, Status

_KEYS = {"reason", "account", "control", "region", "resource", "tags", "expires"}


@dataclass(frozen=True)
class MuteEntry:
    index: int
    reason: str
    account: str = "*"
    control: re.Pattern[str] = field(default_factory=lambda: re.compile(".*"))
    region: str = "*"
    resource: re.Pattern[str] = field(default_factory=lambda: re.compile(".*"))
    tags: tuple[tuple[str, re.Pattern[str]], ...] = ()
    expires: date | None = None

    def expired(self, today: date) -> bool:
        return self.expires is not None and today > self.expires

    def matches(self, finding: Finding, tags: Mapping[str, str]) -> bool:
        if self.account not in ("*", finding.account_id) or self.region not in ("*", finding.region):
            return False
        if not self.control.fullmatch(finding.control_id or finding.rule_id):
            return False
        if not self.resource.fullmatch(finding.resource.id):
            return False
        return all(key in tags and pattern.fullmatch(tags[key]) for key, pattern in self.tags)

    def describe(self) -> str:
        parts = [f"entry {self.index + 1}", f"control {self.control.pattern}"]
        if self.account != "*":
            parts.append(f"account {self.account}")
        if self.expires:
            parts.append(f"expired {self.expires.isoformat()}")
        return ", ".join(parts) + f": {self.reason}"


@dataclass(frozen=True)
class Mutelist:
    entries: tuple[MuteEntry, ...]
    source: str = "mutelist"


@dataclass(frozen=True)
class MuteResult:
    findings: list[Finding]
    muted: int
    expired: list[MuteEntry]


def _regex(where: str, value: Any, *, literal_dot: bool = False) -> re.Pattern[str]:
    if not isinstance(value, str) or not value:
        raise BadInputError(where, "must be a non-empty string")
    text = value
    if literal_dot and re.fullmatch(r"[A-Za-z0-9]+(\.[A-Za-z0-9]+)+", value):
        text = re.escape(value)  # "S3.2" means that control, not "S3" + any character + "2"
    try:
        return re.compile(text)
    except re.error as exc:
        raise BadInputError(where, f"not a valid regular expression ({exc})") from None


def parse(data: Any, source: str = "mutelist") -> Mutelist:
    """Validate a parsed mutelist; every problem names the entry and field."""
    items = data.get("mutelist") if isinstance(data, dict) else None
    if not isinstance(items, list):
        raise BadInputError(source, "expected a top-level 'mutelist:' list of entries")
    entries = []
    for index, item in enumerate(items):
        where = f"{source}: mutelist[{index}]"
        if not isinstance(item, dict):
            raise BadInputError(where, "each entry must be a mapping")
        unknown = sorted(set(item) - _KEYS)
        if unknown:
            raise BadInputError(where, f"unknown field(s) {', '.join(unknown)} (allowed: {', '.join(sorted(_KEYS))})")
        reason = item.get("reason")
        if not isinstance(reason, str) or not reason.strip():
            raise BadInputError(f"{where}.reason", "every entry needs a reason")
        expires = item.get("expires")
        if expires is not None and not isinstance(expires, date):
            try:
                expires = date.fromisoformat(str(expires))
            except ValueError:
                raise BadInputError(f"{where}.expires", f"{expires!r} is not a date (YYYY-MM-DD)") from None
        tags = item.get("tags") or {}
        if not isinstance(tags, dict):
            raise BadInputError(f"{where}.tags", "must be a mapping of tag key to value regex")
        entries.append(MuteEntry(
            index=index, reason=reason.strip(), account=str(item.get("account", "*")),
            control=_regex(f"{where}.control", str(item.get("control", ".*")), literal_dot=True),
            region=str(item.get("region", "*")),
            resource=_regex(f"{where}.resource", str(item.get("resource", ".*"))),
            tags=tuple((str(k), _regex(f"{where}.tags.{k}", str(v))) for k, v in tags.items()),
            expires=expires,
        ))
    return Mutelist(tuple(entries), source)


def load(path: Path) -> Mutelist:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise BadInputError(str(path), f"cannot read the mutelist ({exc.strerror})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        raise BadInputError(where, f"not valid YAML ({getattr(exc, 'problem', exc)})") from None
    return parse(data, str(path))


def apply(findings: Iterable[Finding], mutelist: Mutelist, *, tags: Mapping[str, Mapping[str, str]] | None = None,
          today: date | None = None) -> MuteResult:
    """Mark matching FAILED / NOT_AVAILABLE findings SUPPRESSED; ``tags`` maps resource id to its tags."""
    day = today or date.today()
    active = [e for e in mutelist.entries if not e.expired(day)]
    expired = [e for e in mutelist.entries if e.expired(day)]
    out: list[Finding] = []
    muted = 0
    for finding in findings:
        if finding.status in (Status.FAILED, Status.NOT_AVAILABLE):
            resource_tags = (tags or {}).get(finding.resource.id, {})
            entry = next((e for e in active if e.matches(finding, resource_tags)), None)
            if entry is not None:
                details = {**finding.evidence.details, "muted_status": finding.status.value,
                           "mute_reason": entry.reason, "mute_entry": entry.index + 1}
                if entry.expires:
                    details["mute_expires"] = entry.expires.isoformat()
                finding = finding.model_copy(update={
                    "status": Status.SUPPRESSED,
                    "evidence": finding.evidence.model_copy(update={"details": details})})
                muted += 1
        out.append(finding)
    return MuteResult(out, muted, expired)
