"""The validator's vocabulary: issue levels, policy types and :class:`ValidationIssue`.

Levels and policy types follow IAM Access Analyzer's ``ValidatePolicy`` (``ERROR``, ``SECURITY_WARNING``,
``WARNING``, ``SUGGESTION``; ``IDENTITY_POLICY``, ``RESOURCE_POLICY``, ``SERVICE_CONTROL_POLICY``,
``RESOURCE_CONTROL_POLICY``), so people who know that service read our output without a glossary.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from cloudwarden.core.errors import BadInputError
from cloudwarden.core.severity import Severity


class Level(StrEnum):
    """How bad an issue is, in Access Analyzer's words.

    ``ERROR``: IAM rejects the policy or a part of it can never match. ``SECURITY_WARNING``: the policy grants
    more than it seems to. ``WARNING``: probably not what the author meant. ``SUGGESTION``: tidy-up.
    """

    ERROR = "ERROR"
    SECURITY_WARNING = "SECURITY_WARNING"
    WARNING = "WARNING"
    SUGGESTION = "SUGGESTION"

    @property
    def severity(self) -> Severity:
        """The finding severity: a security warning weighs as much as an error, since both need a change."""
        return _SEVERITY[self]


_SEVERITY: dict[Level, Severity] = {
    Level.ERROR: Severity.HIGH,
    Level.SECURITY_WARNING: Severity.HIGH,
    Level.WARNING: Severity.MEDIUM,
    Level.SUGGESTION: Severity.LOW,
}


class PolicyType(StrEnum):
    IDENTITY_POLICY = "IDENTITY_POLICY"
    RESOURCE_POLICY = "RESOURCE_POLICY"
    SERVICE_CONTROL_POLICY = "SERVICE_CONTROL_POLICY"
    RESOURCE_CONTROL_POLICY = "RESOURCE_CONTROL_POLICY"

    @classmethod
    def parse(cls, text: str, where: str = "--policy-type") -> PolicyType:
        """Case-insensitive; also takes the short names ``identity``, ``resource``, ``scp`` and ``rcp``."""
        key = text.strip().upper().replace("-", "_")
        key = _SHORT.get(key, key)
        try:
            return cls(key)
        except ValueError:
            names = ", ".join(p.value for p in cls)
            raise BadInputError(where, f"unknown policy type {text!r} (one of {names})") from None


_SHORT = {
    "IDENTITY": "IDENTITY_POLICY",
    "RESOURCE": "RESOURCE_POLICY",
    "SCP": "SERVICE_CONTROL_POLICY",
    "RCP": "RESOURCE_CONTROL_POLICY",
}


@dataclass(frozen=True, slots=True)
class ValidationIssue:
    """One problem in one policy.

    ``pointer`` is an RFC 6901 JSON pointer into the document as written (``/Statement/0/Action/2``; ``""`` is the
    whole document). ``policy_path`` names the policy: a file path, or an ARN for a policy from a snapshot.
    ``line``/``column`` (1-based) are filled in when the policy came from text.
    """

    code: str
    level: Level
    message: str
    pointer: str
    policy_path: str = ""
    line: int | None = None
    column: int | None = None

    @property
    def severity(self) -> Severity:
        return self.level.severity
