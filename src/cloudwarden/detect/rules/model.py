"""The native detection rule: what a rule file says, validated.

A rule is data: the finding it raises (GuardDuty-style ``type``, severity, MITRE techniques, remediation)
and how to find it, in SQL over the normalised ``cloudtrail`` table, in one of three forms:

* ``condition``: a boolean SQL expression over one row (the common case; the engine adds the projection);
* ``sql``: a whole ``SELECT`` over ``cloudtrail`` returning :data:`OUTPUT_COLUMNS` (extra columns allowed);
* ``sequence``: ``first`` then ``then`` (two conditions) by the same principal within ``within``.

``threshold`` (count, or distinct count of an expression, within a sliding window per group) and
``allowlist`` (principals, user agents, source addresses of known automation) refine any of them.
Compiled Sigma rules are the same model with ``condition`` set, so every rule runs in one pass.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from cloudwarden.core.errors import BadInputError
from cloudwarden.core.severity import Severity

# What every rule's rows carry into the engine (the ``sql`` form must return these names).
OUTPUT_COLUMNS: Final = ("event_id", "event_time", "account", "region", "principal", "resource", "group_key")

# The projection the engine adds to ``condition`` and ``sequence`` rules (portable SQL).
PRINCIPAL_SQL: Final = (
    "CASE WHEN identity_account_id = 'ANONYMOUS_PRINCIPAL' THEN 'anonymous' ELSE "
    "coalesce(identity_arn, session_issuer_arn, identity_type || ':' || nullif(identity_principal_id, ''), "
    "identity_type, 'unknown') END"
)
ACCOUNT_SQL: Final = "coalesce(recipient_account_id, identity_account_id, 'unknown')"
REGION_SQL: Final = "coalesce(aws_region, 'global')"

_DURATION = re.compile(r"^\s*(\d+)\s*(s|sec|m|min|h|d)?\s*$", re.IGNORECASE)
_UNIT_SECONDS: Final = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "d": 86400}
TYPE_PATTERN: Final = r"^[A-Za-z]+:[A-Za-z0-9]+/[A-Za-z0-9.!&_-]+$"


def parse_duration(value: str | int) -> int:
    """Seconds in ``"90s"``, ``"10m"``, ``"2h"``, ``"1d"`` or a bare number of seconds."""
    if isinstance(value, int):
        seconds = value
    else:
        match = _DURATION.match(str(value))
        if not match:
            raise ValueError(f"{value!r} is not a duration (like 90s, 10m, 2h, 1d)")
        seconds = int(match.group(1)) * _UNIT_SECONDS[(match.group(2) or "s").lower()]
    if seconds <= 0:
        raise ValueError("a duration must be positive")
    return seconds


Duration = Annotated[int, Field(gt=0)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Threshold(_Strict):
    """Raise only for a group with at least ``count`` rows (or distinct ``distinct`` values) within ``window``."""

    count: int = Field(ge=1)
    window: Duration
    distinct: str | None = None  # a SQL expression over the rule's rows (its output columns)

    @field_validator("window", mode="before")
    @classmethod
    def _duration(cls, value: str | int) -> int:
        return parse_duration(value)


class Sequence(_Strict):
    """``first`` then ``then`` (conditions over ``cloudtrail``) by the same principal, ``then`` within ``within``."""

    first: str
    then: str
    within: Duration

    @field_validator("within", mode="before")
    @classmethod
    def _duration(cls, value: str | int) -> int:
        return parse_duration(value)


class Allowlist(_Strict):
    """Known automation a rule ignores. Patterns are globs (``*`` any run, ``?`` one character), case-sensitive."""

    principals: tuple[str, ...] = ()  # matched against userIdentity.arn and the session issuer's ARN
    user_agents: tuple[str, ...] = ()
    source_ips: tuple[str, ...] = ()
    trusted_intel: bool = True  # also ignore addresses on ``trusted`` threat-intel lists

    def merged(self, other: Allowlist) -> Allowlist:
        return Allowlist(
            principals=tuple(dict.fromkeys((*self.principals, *other.principals))),
            user_agents=tuple(dict.fromkeys((*self.user_agents, *other.user_agents))),
            source_ips=tuple(dict.fromkeys((*self.source_ips, *other.source_ips))),
            trusted_intel=self.trusted_intel and other.trusted_intel,
        )

    @property
    def empty(self) -> bool:
        return not (self.principals or self.user_agents or self.source_ips)


class Rule(_Strict):
    """One detection rule. ``origin`` says where it came from (``path`` or ``path:line``) for messages."""

    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:/-]*$")
    title: str = Field(min_length=1)
    description: str = ""
    type: str = Field(pattern=TYPE_PATTERN)
    severity: Severity
    mitre: tuple[str, ...] = ()
    remediation: str = ""
    condition: str | None = None
    sql: str | None = None
    sequence: Sequence | None = None
    resource: str | None = None  # SQL expression naming the resource (condition/sequence forms)
    resource_type: str = "Other"  # ASFF resource type of ``resource``
    group_by: str | None = None  # SQL expression; default: principal and resource
    threshold: Threshold | None = None
    allowlist: Allowlist = Allowlist()
    enabled: bool = True
    kind: Literal["native", "sigma"] = "native"
    origin: str = ""

    @field_validator("severity", mode="before")
    @classmethod
    def _severity(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        try:
            return Severity.parse(value, "severity")
        except BadInputError as exc:
            raise ValueError(exc.why) from None

    @field_validator("mitre", mode="before")
    @classmethod
    def _mitre(cls, value: object) -> object:
        if isinstance(value, str):
            value = [value]
        if isinstance(value, list | tuple):
            for item in value:
                if not isinstance(item, str) or not re.fullmatch(r"T\d{4}(\.\d{3})?", item):
                    raise ValueError(f"{item!r} is not a MITRE ATT&CK technique id (like T1078 or T1562.008)")
        return value

    @model_validator(mode="after")
    def _one_form(self) -> Rule:
        forms = [name for name in ("condition", "sql", "sequence") if getattr(self, name) is not None]
        if len(forms) != 1:
            raise ValueError("a rule needs exactly one of condition, sql, sequence"
                             + (f" (it has {', '.join(forms)})" if forms else ""))
        if self.sql is not None and (self.resource is not None or self.group_by is not None):
            raise ValueError("resource and group_by belong to condition/sequence rules; "
                             "an sql rule returns its own resource and group_key columns")
        return self

    @property
    def where(self) -> str:
        """Where the rule came from, for messages."""
        return self.origin or f"rule {self.id}"

    @property
    def source_path(self) -> Path | None:
        return Path(self.origin.split(":")[0]) if self.origin else None
