"""Small questions posture controls ask of IAM policy documents: admin, wildcards, public principals.

These are the narrow, syntactic tests Security Hub's controls make (``Allow`` + ``*`` on ``*``; a
``Principal: "*"`` statement without a condition that pins the caller to known accounts, networks or
sources). Full request evaluation lives in the IAM engine (``cloudwarden.iam``); a posture control
needs only these yes/no answers and must stay a cheap pure function.
"""

from __future__ import annotations

import fnmatch
import ipaddress
from typing import Any

from cloudwarden.posture.model import as_list

# Condition keys that, with a concrete value, pin a public statement to known callers.
_RESTRICTING_KEYS = frozenset(k.lower() for k in (
    "aws:SourceArn", "aws:SourceAccount", "aws:SourceOwner", "aws:SourceOrgID", "aws:SourceOrgPaths",
    "aws:PrincipalOrgID", "aws:PrincipalOrgPaths", "aws:PrincipalAccount", "aws:PrincipalArn",
    "aws:SourceVpc", "aws:SourceVpce", "aws:SourceIp", "aws:userid", "aws:username", "aws:ResourceOrgID",
    "aws:VpcSourceIp", "kms:CallerAccount", "s3:DataAccessPointAccount", "sts:ExternalId", "lambda:EventSourceToken",
    "aws:PrincipalServiceName", "cloudfront:SourceArn",
))
_NEGATED = ("stringnot", "arnnot", "notipaddress")


def statements(document: Any) -> list[dict[str, Any]]:
    """The statements of a policy document (a dict), whatever shape ``Statement`` has."""
    if not isinstance(document, dict):
        return []
    return [s for s in as_list(document.get("Statement")) if isinstance(s, dict)]


def allows(statement: dict[str, Any]) -> bool:
    return str(statement.get("Effect", "")).lower() == "allow"


def actions(statement: dict[str, Any]) -> list[str]:
    return [str(a) for a in as_list(statement.get("Action"))]


def resources(statement: dict[str, Any]) -> list[str]:
    return [str(r) for r in as_list(statement.get("Resource"))]


def action_matches(pattern: str, action: str) -> bool:
    """Does an IAM action pattern (``s3:Get*``, ``*``) cover ``action``? Case-insensitive, as IAM is."""
    return fnmatch.fnmatchcase(action.lower(), pattern.lower())


def grants_action(statement: dict[str, Any], action: str) -> bool:
    """Does an Allow statement grant ``action`` (through ``Action`` or ``NotAction``)?"""
    if not allows(statement):
        return False
    if "NotAction" in statement:
        return not any(action_matches(p, action) for p in as_list(statement["NotAction"]))
    return any(action_matches(p, action) for p in actions(statement))


def is_admin_statement(statement: dict[str, Any]) -> bool:
    """``Allow`` of ``*`` (or ``*:*``) on resource ``*``: full administrative access."""
    if not allows(statement) or "NotAction" in statement or "NotResource" in statement:
        return False
    return any(a in ("*", "*:*") for a in actions(statement)) and "*" in resources(statement)


def has_admin(document: Any) -> bool:
    return any(is_admin_statement(s) for s in statements(document))


def service_wildcards(document: Any) -> list[str]:
    """``service:*`` actions allowed (IAM.21), plus ``*`` itself."""
    found: list[str] = []
    for statement in statements(document):
        if not allows(statement):
            continue
        for action in actions(statement):
            if action == "*" or action.endswith(":*"):
                found.append(action)
    return sorted(set(found))


def is_public_principal(principal: Any) -> bool:
    """``"*"``, ``{"AWS": "*"}`` or a list holding ``*``: anyone, signed or not."""
    if principal == "*":
        return True
    if isinstance(principal, dict):
        return any("*" in [str(v) for v in as_list(value)] for key, value in principal.items()
                   if key in ("AWS", "CanonicalUser", "*"))
    return False


def _restricting_value(key: str, value: Any) -> bool:
    values = [str(v) for v in as_list(value)]
    if not values or any(v in ("*", "") for v in values):
        return False
    if key == "aws:sourceip":
        for v in values:
            try:
                if ipaddress.ip_network(v, strict=False).prefixlen == 0:
                    return False
            except ValueError:
                return False
    return True


def is_restricted(condition: Any) -> bool:
    """Does a ``Condition`` block pin the caller (account, organisation, network, source) to known values?"""
    if not isinstance(condition, dict):
        return False
    for operator, block in condition.items():
        op = str(operator).lower()
        if any(op.startswith(n) or op.startswith("forallvalues:" + n) or op.startswith("foranyvalue:" + n)
               for n in _NEGATED) or not isinstance(block, dict):
            continue
        if op.startswith("bool") or op.startswith("null"):
            continue
        for key, value in block.items():
            if str(key).lower() in _RESTRICTING_KEYS and _restricting_value(str(key).lower(), value):
                return True
    return False


def public_statements(document: Any, action: str | None = None) -> list[dict[str, Any]]:
    """Allow statements open to everyone (public principal, no restricting condition); only those granting
    ``action`` when given."""
    found = []
    for statement in statements(document):
        if not allows(statement) or not is_public_principal(statement.get("Principal")):
            continue
        if is_restricted(statement.get("Condition")):
            continue
        if action is not None and not grants_action(statement, action):
            continue
        found.append(statement)
    return found


def principal_accounts(principal: Any) -> list[str]:
    """Account ids named by ``{"AWS": ...}`` principals (ids and ``arn:aws:iam::ID:...`` forms)."""
    out: list[str] = []
    if not isinstance(principal, dict):
        return out
    for value in as_list(principal.get("AWS")):
        text = str(value)
        if text.isdigit() and len(text) == 12:
            out.append(text)
        elif text.startswith("arn:"):
            parts = text.split(":")
            if len(parts) > 4 and parts[4].isdigit():
                out.append(parts[4])
    return out
