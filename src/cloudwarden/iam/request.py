"""The request the evaluator decides on, and the reader for ``iam simulate --cases`` files.

A :class:`Request` is one API call as AWS sees it: the principal (parsed from its ARN into a
:class:`RequestPrincipal`), the action, the resource and the account that owns it, the request context (keys
lower-cased, multivalued keys as tuples) and every compiled policy that applies, by type.

The case file is JSON Lines in the format of CONTRACTS.md → "IAM simulation cases". A line that is not a JSON object
or has a field of the wrong type raises ``BadInputError("FILE:LINE", why)``: the file is wrong and nothing is
decided. A case whose *policy* cannot be evaluated exactly is not an input error: it becomes a :class:`Case` with
``error`` set and the CLI writes ``"decision": "error"`` for it.

One optional field beyond the contract's example: ``management_account`` (the organisation's management account
id). SCPs do not apply to principals of that account, nor RCPs to its resources.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from cloudwarden.core.errors import BadInputError
from cloudwarden.iam.model import ContextValue, Policy, PolicyType
from cloudwarden.iam.parse import PolicyError, parse_policy

__all__ = [
    "Case",
    "CaseError",
    "Request",
    "RequestPrincipal",
    "build_request",
    "parse_principal",
    "read_cases",
]

PrincipalKind = Literal["user", "session", "role", "federated_user", "root", "anonymous"]

_ARN = re.compile(r"arn:([a-z-]+):(iam|sts)::(\d{12}):(.+)")
_CASE_FIELDS = frozenset(
    {
        "id", "action", "resource", "resource_account", "principal", "identity_policies", "permissions_boundary",
        "session_policy", "resource_policy", "scps", "rcps", "context", "management_account",
        # annotations a case file may carry (golden files use them); never read by the evaluator
        "doc", "expect", "comment",
    }
)


@dataclass(frozen=True, slots=True)
class RequestPrincipal:
    """Who makes the request. ``arn`` is the caller's ARN (the session ARN for a role session)."""

    kind: PrincipalKind
    arn: str
    account: str | None
    name: str  # user name, role name, federated user name; "" for root and anonymous
    session: str = ""
    partition: str = "aws"
    service_linked: bool = False

    @property
    def role_arn(self) -> str | None:
        if self.kind in ("session", "role"):
            return f"arn:{self.partition}:iam::{self.account}:role/{self.name}"
        return None


def parse_principal(value: str | None, where: str = "principal") -> RequestPrincipal:
    """An IAM user, role, assumed-role session, federated-user session or root ARN; ``"*"``/None is anonymous."""
    if value is None or value == "*" or value == "":
        return RequestPrincipal(kind="anonymous", arn="*", account=None, name="")
    m = _ARN.fullmatch(value)
    if m is None:
        raise BadInputError(where, f"{value!r} is not a user, role, assumed-role session or root ARN, nor '*'")
    partition, service, account, rest = m.groups()
    if service == "iam" and rest == "root":
        return RequestPrincipal("root", value, account, "", partition=partition)
    if service == "iam" and rest.startswith("user/"):
        return RequestPrincipal("user", value, account, rest.rsplit("/", 1)[1], partition=partition)
    if service == "iam" and rest.startswith("role/"):
        name = rest.rsplit("/", 1)[1]
        slr = rest.startswith("role/aws-service-role/")
        return RequestPrincipal("role", value, account, name, partition=partition, service_linked=slr)
    if service == "sts" and rest.startswith("assumed-role/") and rest.count("/") == 2:
        _, role, session = rest.split("/")
        # A session ARN drops the role's path; service-linked roles are recognised by their reserved name prefix.
        slr = role.startswith("AWSServiceRoleFor")
        return RequestPrincipal("session", value, account, role, session, partition, slr)
    if service == "sts" and rest.startswith("federated-user/"):
        return RequestPrincipal("federated_user", value, account, rest.split("/", 1)[1], partition=partition)
    raise BadInputError(where, f"{value!r} is not a principal that can make a request")


@dataclass(frozen=True, slots=True)
class Request:
    """One request with every applicable policy, compiled. ``scps``/``rcps``: levels root first; None outside an
    organisation."""

    action: str
    resource: str
    resource_account: str | None
    principal: RequestPrincipal
    context: Mapping[str, ContextValue]
    identity_policies: tuple[Policy, ...] = ()
    permissions_boundary: Policy | None = None
    session_policy: Policy | None = None
    resource_policy: Policy | None = None
    scps: tuple[tuple[Policy, ...], ...] | None = None
    rcps: tuple[tuple[Policy, ...], ...] | None = None
    management_account: str | None = None
    context_keys_given: frozenset[str] = field(default_factory=frozenset)


def derived_context(principal: RequestPrincipal) -> dict[str, ContextValue]:
    """The principal keys AWS puts in every request context ("AWS global condition context keys"), lower-cased.

    Unique ids (``AIDA...``, ``AROA...``) cannot be derived from an ARN, so ``aws:userid`` is derived only where it
    is not one (root: the account id; anonymous: ``anonymous``)."""
    p = principal
    out: dict[str, ContextValue] = {}
    if p.kind == "anonymous":
        out["aws:principaltype"] = "Anonymous"
        out["aws:userid"] = "anonymous"
        return out
    assert p.account is not None
    out["aws:principalaccount"] = p.account
    if p.kind == "user":
        out["aws:principalarn"] = p.arn
        out["aws:principaltype"] = "User"
        out["aws:username"] = p.name
    elif p.kind in ("session", "role"):
        out["aws:principalarn"] = p.role_arn or p.arn
        out["aws:principaltype"] = "AssumedRole"
    elif p.kind == "federated_user":
        out["aws:principalarn"] = p.arn
        out["aws:principaltype"] = "FederatedUser"
    else:
        out["aws:principalarn"] = p.arn
        out["aws:principaltype"] = "Account"
        out["aws:userid"] = p.account
    return out


def normalise_context(raw: Mapping[str, Any], where: str) -> dict[str, ContextValue]:
    """Contract context -> lower-cased keys, strings and tuples of strings. Raises BadInputError."""
    out: dict[str, ContextValue] = {}
    for key, value in raw.items():
        if isinstance(value, list):
            items = tuple(_context_scalar(v, f"{where}.{key}") for v in value)
            out[key.lower()] = items
        else:
            out[key.lower()] = _context_scalar(value, f"{where}.{key}")
    return out


def _context_scalar(value: Any, where: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, str):
        return value
    raise BadInputError(where, f"context values are strings or arrays of strings, not {type(value).__name__}")


class CaseError(Exception):
    """A case that cannot be decided exactly (a malformed policy); ``str()`` is the reason."""


def build_request(case: Mapping[str, Any], where: str) -> Request:
    """Compile one case (already a dict) into a :class:`Request`.

    Raises BadInputError for a malformed case, :class:`CaseError` for a policy that cannot be evaluated exactly."""
    action = case.get("action")
    if not isinstance(action, str) or ":" not in action:
        raise BadInputError(f"{where}: action", f"expected a string like s3:GetObject, got {action!r}")
    resource = case.get("resource", "*")
    if not isinstance(resource, str) or not resource:
        raise BadInputError(f"{where}: resource", "expected a resource ARN or '*'")
    principal_raw = case.get("principal")
    if principal_raw is not None and not isinstance(principal_raw, str):
        raise BadInputError(f"{where}: principal", "expected an ARN string, '*' or null")
    principal = parse_principal(principal_raw, f"{where}: principal")
    resource_account = case.get("resource_account")
    if resource_account is not None and not isinstance(resource_account, str):
        raise BadInputError(f"{where}: resource_account", "expected an account id string")
    if resource_account is None:
        resource_account = _account_of(resource, principal)
    management = case.get("management_account")
    if management is not None and not isinstance(management, str):
        raise BadInputError(f"{where}: management_account", "expected an account id string")
    raw_context = case.get("context") or {}
    if not isinstance(raw_context, dict):
        raise BadInputError(f"{where}: context", "expected an object")
    given = normalise_context(raw_context, f"{where}: context")
    context = derived_context(principal)
    context.update(given)

    identity_raw = case.get("identity_policies") or []
    if not isinstance(identity_raw, list):
        raise BadInputError(f"{where}: identity_policies", "expected a list of policies")
    return Request(
        action=action,
        resource=resource,
        resource_account=resource_account,
        principal=principal,
        context=context,
        identity_policies=tuple(_policy(p, "identity", f"identity[{i}]") for i, p in enumerate(identity_raw)),
        permissions_boundary=_optional(case.get("permissions_boundary"), "permissions_boundary"),
        session_policy=_optional(case.get("session_policy"), "session_policy"),
        resource_policy=_optional(case.get("resource_policy"), "resource"),
        scps=_levels(case.get("scps"), "scp", f"{where}: scps"),
        rcps=_levels(case.get("rcps"), "rcp", f"{where}: rcps"),
        management_account=management,
        context_keys_given=frozenset(given),
    )


def _account_of(resource: str, principal: RequestPrincipal) -> str | None:
    if resource == "*":
        return principal.account
    parts = resource.split(":", 5)
    if len(parts) == 6 and re.fullmatch(r"\d{12}", parts[4]):
        return parts[4]
    return None


_POLICY_CACHE: dict[tuple[str, str, str], Policy] = {}


def _policy(document: Any, policy_type: PolicyType, label: str) -> Policy:
    key = (policy_type, label, json.dumps(document, separators=(",", ":")))
    hit = _POLICY_CACHE.get(key)
    if hit is not None:
        return hit
    try:
        compiled = parse_policy(document, policy_type, label)
    except PolicyError as exc:
        raise CaseError(f"{label}: {exc}") from exc
    if len(_POLICY_CACHE) > 4096:
        _POLICY_CACHE.clear()
    _POLICY_CACHE[key] = compiled
    return compiled


def _optional(document: Any, policy_type: PolicyType) -> Policy | None:
    if document is None:
        return None
    return _policy(document, policy_type, f"{policy_type}[0]")


def _levels(raw: Any, policy_type: PolicyType, where: str) -> tuple[tuple[Policy, ...], ...] | None:
    if raw is None:
        return None
    if not isinstance(raw, list) or not all(isinstance(level, list) for level in raw):
        raise BadInputError(where, "expected a list of levels, each a list of policies (root first)")
    return tuple(
        tuple(_policy(p, policy_type, f"{policy_type}[{li}.{pi}]") for pi, p in enumerate(level))
        for li, level in enumerate(raw)
    )


@dataclass(frozen=True, slots=True)
class Case:
    """One line of a case file: its id, and either a request or the reason it cannot be decided."""

    id: str
    line: int
    request: Request | None
    error: str | None = None


def read_cases(path: Path) -> Iterator[Case]:
    """Yield the cases of a JSONL file in order. Raises BadInputError (with ``FILE:LINE``) on a bad line."""
    try:
        handle = path.open(encoding="utf-8")
    except OSError as exc:
        raise BadInputError(str(path), f"cannot read: {exc.strerror or exc}") from exc
    with handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            where = f"{path}:{number}"
            try:
                case = json.loads(line)
            except json.JSONDecodeError as exc:
                raise BadInputError(where, f"not JSON: {exc.msg} at column {exc.colno}") from exc
            if not isinstance(case, dict):
                raise BadInputError(where, "a case must be a JSON object")
            unknown = sorted(set(case) - _CASE_FIELDS)
            if unknown:
                raise BadInputError(where, f"unknown field {unknown[0]!r}")
            case_id = case.get("id")
            if not isinstance(case_id, (str, int)):
                raise BadInputError(f"{where}: id", "every case needs an id (string)")
            try:
                request = build_request(case, where)
            except CaseError as exc:
                yield Case(id=str(case_id), line=number, request=None, error=str(exc))
                continue
            yield Case(id=str(case_id), line=number, request=request)
