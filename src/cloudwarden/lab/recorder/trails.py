"""Which trails receive a record: moto's CloudTrail state read as CloudTrail's delivery rules.

moto stores trails (bucket, prefix, multi-region, organisation flag, event selectors) and their
logging status (``StartLogging``/``StopLogging`` flip ``TrailStatus.is_logging``, ``DeleteTrail``
removes the trail) but delivers nothing. The recorder decides delivery from that state with the
rules CloudTrail applies:

* a trail receives the records of its own account; an organisation trail in the management account
  also receives every member account's records (keys under ``AWSLogs/<org-id>/<account>/``);
* a multi-region trail receives all regions, any other trail only its home region;
* only while it is logging;
* event selectors: no selectors means management events only; basic selectors
  (``ReadWriteType``, ``IncludeManagementEvents``, ``DataResources``, ``ExcludeManagementEventSources``)
  and advanced selectors (``eventCategory``, ``resources.type``, ``resources.ARN``, ``readOnly``,
  ``eventName``, ``eventSource``... with ``Equals``/``StartsWith``/``EndsWith`` and their negations).

Targets are chosen when a record is made, not when it is flushed, so calls made while a trail is
stopped stay out of it even if logging is turned back on before the next delivery, as on AWS.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

_PARTITION = "aws"


@dataclass(frozen=True)
class TrailTarget:
    """One logging trail, as a delivery destination."""

    arn: str
    name: str
    account_id: str
    home_region: str
    bucket: str
    key_prefix: str
    multi_region: bool
    organization_id: str | None = None
    member_accounts: frozenset[str] = field(default_factory=frozenset)
    event_selectors: tuple[Mapping[str, Any], ...] = ()
    advanced_selectors: tuple[Mapping[str, Any], ...] = ()
    logging: bool = True

    def receives(self, record: Mapping[str, Any]) -> bool:
        recipient = record.get("recipientAccountId")
        if recipient != self.account_id and recipient not in self.member_accounts:
            return False
        if not self.multi_region and record.get("awsRegion") != self.home_region:
            return False
        return selects(record, self.event_selectors, self.advanced_selectors)

    def log_prefix(self, account_id: str) -> str:
        """``[<prefix>/]AWSLogs/[<org-id>/]<account>/CloudTrail/``."""
        base = f"AWSLogs/{self.organization_id}/{account_id}" if self.organization_id else f"AWSLogs/{account_id}"
        prefix = self.key_prefix.strip("/")
        return f"{prefix}/{base}/CloudTrail/" if prefix else f"{base}/CloudTrail/"


def selects(
    record: Mapping[str, Any],
    event_selectors: Iterable[Mapping[str, Any]],
    advanced_selectors: Iterable[Mapping[str, Any]],
) -> bool:
    advanced = list(advanced_selectors)
    if advanced:
        return any(_advanced_match(record, s) for s in advanced)
    basic = list(event_selectors) or [{"ReadWriteType": "All", "IncludeManagementEvents": True}]
    return any(_basic_match(record, s) for s in basic)


def _read_write_ok(record: Mapping[str, Any], read_write: str) -> bool:
    if read_write == "ReadOnly":
        return bool(record.get("readOnly"))
    if read_write == "WriteOnly":
        return not record.get("readOnly")
    return True


def _data_resource(record: Mapping[str, Any]) -> tuple[str, str] | None:
    for resource in record.get("resources") or ():
        kind = str(resource.get("type", ""))
        if kind in ("AWS::S3::Object", "AWS::Lambda::Function", "AWS::DynamoDB::Table"):
            return kind, str(resource.get("ARN") or resource.get("ARNPrefix") or "")
    return None


def _basic_match(record: Mapping[str, Any], selector: Mapping[str, Any]) -> bool:
    if not _read_write_ok(record, str(selector.get("ReadWriteType", "All"))):
        return False
    if record.get("managementEvent", True):
        excluded = selector.get("ExcludeManagementEventSources") or ()
        return selector.get("IncludeManagementEvents", True) is not False and record.get("eventSource") not in excluded
    resource = _data_resource(record)
    if resource is None:
        return False
    kind, arn = resource
    for entry in selector.get("DataResources") or ():
        if entry.get("Type") != kind:
            continue
        for value in entry.get("Values") or ():
            if value in ("arn:aws:s3", "arn:aws:s3:::", "arn:aws:lambda", "arn:aws:dynamodb") or arn.startswith(value):
                return True
    return False


def _field_values(record: Mapping[str, Any], name: str) -> list[str]:
    if name == "resources.type":
        resource = _data_resource(record)
        return [resource[0]] if resource else []
    if name == "resources.ARN":
        resource = _data_resource(record)
        return [resource[1]] if resource else []
    if name == "readOnly":
        return ["true" if record.get("readOnly") else "false"]
    if name == "userIdentity.arn":
        return [str((record.get("userIdentity") or {}).get("arn", ""))]
    value = record.get(name)
    return [] if value is None else [str(value)]


def _advanced_match(record: Mapping[str, Any], selector: Mapping[str, Any]) -> bool:
    for condition in selector.get("FieldSelectors") or ():
        values = _field_values(record, str(condition.get("Field", "")))
        if not _condition_holds(values, condition):
            return False
    return True


def _equals(value: str, wanted: str) -> bool:
    return value == wanted


def _starts_with(value: str, wanted: str) -> bool:
    return value.startswith(wanted)


def _ends_with(value: str, wanted: str) -> bool:
    return value.endswith(wanted)


_OPERATORS: dict[str, Callable[[str, str], bool]] = {
    "Equals": _equals,
    "StartsWith": _starts_with,
    "EndsWith": _ends_with,
}


def _condition_holds(values: list[str], condition: Mapping[str, Any]) -> bool:
    for op, test in _OPERATORS.items():
        wanted = condition.get(op)
        if wanted and not any(test(v, w) for v in values for w in wanted):
            return False
        unwanted = condition.get("Not" + op)
        if unwanted and any(test(v, w) for v in values for w in unwanted):
            return False
    return True


def read_trails() -> list[TrailTarget]:
    """Every trail in moto's CloudTrail backends, logging or not (read without creating backends)."""
    from moto.cloudtrail.models import cloudtrail_backends

    targets: list[TrailTarget] = []
    for account_id, account in list(dict.items(cloudtrail_backends)):
        for region, backend in list(dict.items(account)):
            for trail in list(backend.trails.values()):
                org_id: str | None = None
                members: frozenset[str] = frozenset()
                if trail.is_org_trail:
                    org_id, members = _organisation(str(account_id))
                selectors, advanced = trail.get_event_selectors()
                targets.append(
                    TrailTarget(
                        arn=str(trail.arn),
                        name=str(trail.trail_name),
                        account_id=str(account_id),
                        home_region=str(region),
                        bucket=str(trail.bucket_name),
                        key_prefix=str(trail.s3_key_prefix or ""),
                        multi_region=bool(trail.is_multi_region),
                        organization_id=org_id,
                        member_accounts=members,
                        event_selectors=tuple(selectors or ()),
                        advanced_selectors=tuple(advanced or ()),
                        logging=bool(trail.status.is_logging),
                    )
                )
    return targets


def _organisation(management_account: str) -> tuple[str | None, frozenset[str]]:
    from moto.organizations.models import organizations_backends

    account = dict.get(organizations_backends, management_account)
    backend = dict.get(account, _PARTITION) if account is not None else None
    if backend is None or backend.org is None:
        return None, frozenset()
    members = {str(a.id) for a in list(backend.accounts)}
    members |= {
        member
        for member, (master, _) in list(organizations_backends.master_accounts.items())
        if master == management_account
    }
    return str(backend.org.id), frozenset(members)


class TrailDirectory:
    """A cached view of the logging trails; refreshed on demand and at most ``ttl`` seconds old."""

    def __init__(self, ttl: float = 2.0) -> None:
        self._ttl = ttl
        self._lock = threading.Lock()
        self._targets: list[TrailTarget] = []
        self._read_at = float("-inf")

    def invalidate(self) -> None:
        with self._lock:
            self._read_at = float("-inf")

    def targets(self) -> list[TrailTarget]:
        """The logging trails."""
        with self._lock:
            if time.monotonic() - self._read_at > self._ttl:
                self._targets = [t for t in read_trails() if t.logging]
                self._read_at = time.monotonic()
            return self._targets

    def targets_for(self, record: Mapping[str, Any]) -> list[TrailTarget]:
        return [t for t in self.targets() if t.receives(record)]
