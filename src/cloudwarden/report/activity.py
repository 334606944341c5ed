"""Summarise CloudTrail records into the activity section of the report and ``summary.json``.

The report must be useful before any analyser exists, so this answers the questions an analyst asks of a
trail first: who acted, from where, on what, with which errors, who signed in to the console (with or
without MFA), how much was read versus written, and when. Plain counting over the raw records (one pass,
``collections.Counter``); no rules and no verdicts beyond marking source addresses outside the private and
known (office) ranges.
"""

from __future__ import annotations

import ipaddress
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from cloudwarden.core.errors import BadInputError

TOP_N = 15
MAX_TIMELINE_BUCKETS = 240
_BUCKET_MINUTES = (1, 2, 5, 10, 15, 30, 60, 120, 360, 720, 1440)
# Private and internal ranges: RFC 1918, loopback, link-local, shared (RFC 6598), IPv6 ULA.
# Not ``ipaddress.is_private``: it also counts the documentation ranges (RFC 5737) as private.
_INTERNAL_NETWORKS = tuple(
    ipaddress.ip_network(n)
    for n in (
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "100.64.0.0/10",
        "::1/128",
        "fc00::/7",
        "fe80::/10",
    )
)

_K = TypeVar("_K", str, tuple[str, str])
IpKind = Literal["private", "known", "aws", "external", "unparsed"]


class Count(BaseModel):
    model_config = ConfigDict(frozen=True)

    key: str
    count: int


class PrincipalCount(BaseModel):
    model_config = ConfigDict(frozen=True)

    principal: str  # the userIdentity ARN, or what identifies it when there is none
    type: str  # userIdentity.type: IAMUser, AssumedRole, Root, AWSService, ...
    count: int
    errors: int


class SourceIpCount(BaseModel):
    model_config = ConfigDict(frozen=True)

    ip: str
    count: int
    kind: IpKind  # aws: a service name such as "cloudtrail.amazonaws.com"; unparsed: not an address
    flagged: bool  # outside the private and known ranges


class ConsoleLogin(BaseModel):
    model_config = ConfigDict(frozen=True)

    time: datetime
    principal: str
    source_ip: str
    success: bool
    mfa: bool | None  # None when the record does not say


class ConsoleLogins(BaseModel):
    model_config = ConfigDict(frozen=True)

    success: int = 0
    failure: int = 0
    with_mfa: int = 0
    without_mfa: int = 0
    logins: list[ConsoleLogin] = Field(default_factory=list)  # the most recent, newest first


class TimelineBucket(BaseModel):
    model_config = ConfigDict(frozen=True)

    start: datetime
    count: int


class ActivitySummary(BaseModel):
    """What a set of CloudTrail records shows; counts are exact, lists are the top entries."""

    model_config = ConfigDict(frozen=True)

    total_records: int
    first_event: datetime | None
    last_event: datetime | None
    by_account: list[Count]
    by_region: list[Count]
    top_event_sources: list[Count]
    top_event_names: list[Count]
    top_principals: list[PrincipalCount]
    source_ips: list[SourceIpCount]
    distinct_ips: int
    flagged_ips: int  # distinct flagged addresses (source_ips may list only the top ones)
    error_codes: list[Count]
    error_records: int
    console_logins: ConsoleLogins
    read_only: int
    write: int
    read_only_unknown: int
    bucket_minutes: int
    timeline: list[TimelineBucket]  # records per bucket_minutes, zero-filled, oldest first

    @property
    def read_only_share(self) -> float | None:
        """Share of records marked read-only among those that say; None when none say."""
        known = self.read_only + self.write
        return self.read_only / known if known else None


def summarise_activity(
    records: Iterable[Mapping[str, Any]],
    *,
    known_ranges: Sequence[str] = (),
    top: int = TOP_N,
    max_logins: int = 50,
) -> ActivitySummary:
    """Summarise ``records``; addresses in ``known_ranges`` (CIDRs or single IPs, e.g. the offices) are not flagged.

    Raises :class:`BadInputError` for a malformed range; records are expected to come from
    :func:`cloudwarden.detect.iter_records`, which has already dropped records without an ``eventTime``.
    """
    known = _parse_ranges(known_ranges)
    accounts: Counter[str] = Counter()
    regions: Counter[str] = Counter()
    sources: Counter[str] = Counter()
    names: Counter[str] = Counter()
    principals: Counter[tuple[str, str]] = Counter()
    principal_errors: Counter[tuple[str, str]] = Counter()
    ips: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    minutes: Counter[datetime] = Counter()
    logins: list[ConsoleLogin] = []
    total = read_only = write = 0
    first: datetime | None = None
    last: datetime | None = None

    for record in records:
        total += 1
        when = _event_time(record)
        first = when if first is None or when < first else first
        last = when if last is None or when > last else last
        minutes[when.replace(second=0, microsecond=0)] += 1
        raw_identity = record.get("userIdentity")
        identity: Mapping[str, Any] = raw_identity if isinstance(raw_identity, Mapping) else {}
        accounts[_text(record.get("recipientAccountId") or identity.get("accountId"))] += 1
        regions[_text(record.get("awsRegion"))] += 1
        sources[_text(record.get("eventSource"))] += 1
        names[f"{_short_source(record.get('eventSource'))}:{_text(record.get('eventName'))}"] += 1
        who = (_principal(identity), _text(identity.get("type")))
        principals[who] += 1
        ips[_text(record.get("sourceIPAddress"))] += 1
        code = record.get("errorCode")
        if code:
            errors[str(code)] += 1
            principal_errors[who] += 1
        flag = _read_only(record.get("readOnly"))
        if flag is True:
            read_only += 1
        elif flag is False:
            write += 1
        if record.get("eventName") == "ConsoleLogin":
            logins.append(_console_login(record, when, who[0]))

    ip_rows = [SourceIpCount(ip=ip, count=n, **_classify_ip(ip, known)) for ip, n in _ranked(ips)]
    return ActivitySummary(
        total_records=total,
        first_event=first,
        last_event=last,
        by_account=_counts(accounts, None),
        by_region=_counts(regions, None),
        top_event_sources=_counts(sources, top),
        top_event_names=_counts(names, top),
        top_principals=[
            PrincipalCount(principal=p, type=t, count=n, errors=principal_errors[(p, t)])
            for (p, t), n in _ranked(principals)[:top]
        ],
        source_ips=_top_ips(ip_rows, top),
        distinct_ips=len(ip_rows),
        flagged_ips=sum(1 for row in ip_rows if row.flagged),
        error_codes=_counts(errors, top),
        error_records=sum(errors.values()),
        console_logins=_summarise_logins(logins, max_logins),
        read_only=read_only,
        write=write,
        read_only_unknown=total - read_only - write,
        **_timeline(minutes),
    )


def _event_time(record: Mapping[str, Any]) -> datetime:
    text = record.get("eventTime")
    try:
        when = datetime.fromisoformat(str(text))
    except ValueError:
        raise BadInputError("eventTime", f"{text!r} is not an ISO 8601 time") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC)


def _text(value: Any) -> str:
    return str(value) if value not in (None, "") else "(none)"


def _short_source(source: Any) -> str:
    return str(source or "?").removesuffix(".amazonaws.com")


def _principal(identity: Mapping[str, Any]) -> str:
    """The identity's ARN; for identities without one, what names them (service, principal id)."""
    for key in ("arn", "invokedBy", "principalId", "userName"):
        if identity.get(key):
            return str(identity[key])
    return "(anonymous)" if identity.get("type") == "AWSAccount" or not identity else "(unknown)"


def _read_only(value: Any) -> bool | None:
    # CloudTrail writes a boolean; some exporters write the string.
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return None


def _console_login(record: Mapping[str, Any], when: datetime, principal: str) -> ConsoleLogin:
    response = record.get("responseElements")
    outcome = response.get("ConsoleLogin") if isinstance(response, Mapping) else None
    extra = record.get("additionalEventData")
    mfa_used = extra.get("MFAUsed") if isinstance(extra, Mapping) else None
    return ConsoleLogin(
        time=when,
        principal=principal,
        source_ip=_text(record.get("sourceIPAddress")),
        success=outcome == "Success" and not record.get("errorMessage"),
        mfa=None if mfa_used not in ("Yes", "No") else mfa_used == "Yes",
    )


def _summarise_logins(logins: list[ConsoleLogin], keep: int) -> ConsoleLogins:
    return ConsoleLogins(
        success=sum(1 for x in logins if x.success),
        failure=sum(1 for x in logins if not x.success),
        with_mfa=sum(1 for x in logins if x.mfa is True),
        without_mfa=sum(1 for x in logins if x.mfa is False),
        logins=sorted(logins, key=lambda x: x.time, reverse=True)[:keep],
    )


def _parse_ranges(ranges: Sequence[str]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    parsed = []
    for text in ranges:
        try:
            parsed.append(ipaddress.ip_network(text, strict=False))
        except ValueError:
            raise BadInputError("known_ranges", f"{text!r} is not an IP address or CIDR range") from None
    return tuple(parsed)


def _classify_ip(text: str, known: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]) -> dict[str, Any]:
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        # CloudTrail puts the service's name here for calls AWS makes on your behalf.
        if text.endswith(".amazonaws.com") or text == "AWS Internal":
            return {"kind": "aws", "flagged": False}
        return {"kind": "unparsed", "flagged": True}
    if any(address in net for net in _INTERNAL_NETWORKS):
        return {"kind": "private", "flagged": False}
    if any(address in net for net in known):
        return {"kind": "known", "flagged": False}
    return {"kind": "external", "flagged": True}


def _top_ips(rows: list[SourceIpCount], top: int) -> list[SourceIpCount]:
    """The top addresses by count, plus every flagged one up to ``2 * top`` rows: flagged ones matter most."""
    chosen = rows[:top]
    for row in rows[top:]:
        if len(chosen) >= 2 * top:
            break
        if row.flagged:
            chosen.append(row)
    return chosen


def _ranked(counter: Counter[_K]) -> list[tuple[_K, int]]:
    """Most common first; ties broken by key so output is deterministic."""
    return sorted(counter.items(), key=lambda item: (-item[1], item[0]))


def _counts(counter: Counter[str], top: int | None) -> list[Count]:
    rows = _ranked(counter)
    return [Count(key=k, count=n) for k, n in (rows if top is None else rows[:top])]


def _timeline(minutes: Counter[datetime]) -> dict[str, Any]:
    """Zero-filled counts per bucket, with the smallest bucket that keeps at most MAX_TIMELINE_BUCKETS."""
    if not minutes:
        return {"bucket_minutes": 1, "timeline": []}
    first, last = min(minutes), max(minutes)
    span = int((last - first).total_seconds() // 60) + 1
    size = next((m for m in _BUCKET_MINUTES if span / m <= MAX_TIMELINE_BUCKETS), None)
    if size is None:
        size = -(-span // MAX_TIMELINE_BUCKETS)
    epoch = datetime(1970, 1, 1, tzinfo=UTC)

    def bucket_of(when: datetime) -> datetime:
        offset = int((when - epoch).total_seconds() // 60)
        return epoch + timedelta(minutes=offset - offset % size)

    counts: Counter[datetime] = Counter()
    for minute, n in minutes.items():
        counts[bucket_of(minute)] += n
    start, end = bucket_of(first), bucket_of(last)
    buckets = []
    while start <= end:
        buckets.append(TimelineBucket(start=start, count=counts[start]))
        start += timedelta(minutes=size)
    return {"bucket_minutes": size, "timeline": buckets}
