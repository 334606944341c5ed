"""Policy JSON -> compiled :class:`~cloudwarden.iam.model.Policy`.

This parser accepts what the evaluator can evaluate exactly and rejects the rest with a :class:`PolicyError`
carrying a JSON pointer (``/Statement/1/Condition/StringEquals``). It is not the grammar validator (that is
``iam/validate/``, with IAM's own messages); it refuses only what would otherwise force a guess: unknown elements
or operators, wrong value types, a ``Principal`` where the policy type has none (or none where it needs one),
partial wildcards in principals (AWS does not support them), an unknown ``Version``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from cloudwarden.iam.conditions import BadCondition, Condition, compile_condition
from cloudwarden.iam.model import ActionMatcher, Policy, PolicyType, PrincipalMatcher, ResourceMatcher, Statement
from cloudwarden.iam.variables import parse_template

__all__ = ["PolicyError", "parse_policy"]

_TOP_KEYS = frozenset({"Version", "Id", "Statement"})
_STATEMENT_KEYS = frozenset(
    {"Sid", "Effect", "Action", "NotAction", "Resource", "NotResource", "Principal", "NotPrincipal", "Condition"}
)
_PRINCIPAL_KEYS = frozenset({"AWS", "Service", "Federated", "CanonicalUser"})
_VERSIONS = frozenset({"2012-10-17", "2008-10-17"})
_WITH_PRINCIPAL: frozenset[PolicyType] = frozenset({"resource", "rcp"})
_ACCOUNT = re.compile(r"\d{12}")
_PRINCIPAL_ARN = re.compile(r"arn:[a-z-]+:(iam|sts)::(\d{12}):(.+)")


class PolicyError(ValueError):
    """A policy the engine cannot evaluate exactly. ``pointer`` is a JSON pointer into the policy document."""

    def __init__(self, pointer: str, why: str) -> None:
        self.pointer = pointer
        self.why = why
        super().__init__(f"{pointer or '/'}: {why}")


def _ptr(*parts: object) -> str:
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def parse_policy(document: Any, policy_type: PolicyType, label: str) -> Policy:
    """Compile ``document`` (a dict, or a JSON string of one). ``label`` names it in output: ``identity[0]``."""
    if isinstance(document, str):
        try:
            document = json.loads(document)
        except json.JSONDecodeError as exc:
            raise PolicyError("", f"not JSON: {exc.msg} at character {exc.pos}") from exc
    if not isinstance(document, dict):
        raise PolicyError("", f"a policy must be a JSON object, not {type(document).__name__}")
    unknown = sorted(set(document) - _TOP_KEYS)
    if unknown:
        raise PolicyError(_ptr(unknown[0]), f"unknown policy element {unknown[0]!r}")
    version = document.get("Version")
    if version is not None and version not in _VERSIONS:
        raise PolicyError("/Version", f"unknown policy version {version!r} (2012-10-17 or 2008-10-17)")
    variables = version == "2012-10-17"
    if "Statement" not in document:
        raise PolicyError("", "no Statement element")
    raw = document["Statement"]
    items: list[Any]
    if isinstance(raw, dict):
        items, single = [raw], True
    elif isinstance(raw, list):
        items, single = raw, False
    else:
        raise PolicyError("/Statement", "Statement must be an object or a list of objects")
    statements = [
        _statement(item, i, policy_type, label, variables, _ptr("Statement") if single else _ptr("Statement", i))
        for i, item in enumerate(items)
    ]
    return Policy.build(policy_type, label, version, statements)


def _strings(value: Any, pointer: str, element: str) -> list[str]:
    values = value if isinstance(value, list) else [value]
    if not values:
        raise PolicyError(pointer, f"{element} is empty")
    for i, v in enumerate(values):
        if not isinstance(v, str):
            where = _ptr_join(pointer, i) if isinstance(value, list) else pointer
            raise PolicyError(where, f"{element} values must be strings")
    return values


def _ptr_join(pointer: str, part: object) -> str:
    return pointer + _ptr(part)


def _statement(item: Any, index: int, policy_type: PolicyType, policy_label: str, variables: bool, at: str
               ) -> Statement:
    if not isinstance(item, dict):
        raise PolicyError(at, "a statement must be a JSON object")
    unknown = sorted(set(item) - _STATEMENT_KEYS)
    if unknown:
        raise PolicyError(_ptr_join(at, unknown[0]), f"unknown statement element {unknown[0]!r}")
    sid = item.get("Sid")
    if sid is not None and not isinstance(sid, str):
        raise PolicyError(_ptr_join(at, "Sid"), "Sid must be a string")
    effect = item.get("Effect")
    if effect not in ("Allow", "Deny"):
        raise PolicyError(_ptr_join(at, "Effect"), f"Effect must be Allow or Deny, not {effect!r}")

    actions, not_action = _pair(item, "Action", "NotAction", at, required=True)
    assert actions is not None
    action_values = _strings(actions, _ptr_join(at, "NotAction" if not_action else "Action"), "Action")
    for i, a in enumerate(action_values):
        if a != "*" and (":" not in a or not a.split(":", 1)[0] or not a.split(":", 1)[1]):
            where = _ptr_join(at, "NotAction" if not_action else "Action")
            raise PolicyError(_ptr_join(where, i) if isinstance(actions, list) else where,
                              f"{a!r} is not an action (service:Action or *)")

    needs_resource = policy_type != "resource"
    resources, not_resource = _pair(item, "Resource", "NotResource", at, required=needs_resource)
    resource_matcher: ResourceMatcher | None = None
    if resources is not None:
        name = "NotResource" if not_resource else "Resource"
        templates = [
            parse_template(r, variables=variables, wildcards=True)
            for r in _strings(resources, _ptr_join(at, name), name)
        ]
        resource_matcher = ResourceMatcher.build(templates)

    principal_matcher: PrincipalMatcher | None = None
    not_principal = False
    if policy_type in _WITH_PRINCIPAL:
        principal, not_principal = _pair(item, "Principal", "NotPrincipal", at, required=True)
        name = "NotPrincipal" if not_principal else "Principal"
        if policy_type == "rcp" and (not_principal or principal != "*"):
            raise PolicyError(_ptr_join(at, name), 'a resource control policy statement needs "Principal": "*"')
        principal_matcher = _principal(principal, _ptr_join(at, name))
    else:
        for name in ("Principal", "NotPrincipal"):
            if name in item:
                raise PolicyError(_ptr_join(at, name), f"{name} is not allowed in a {policy_type} policy")

    conditions = _conditions(item.get("Condition"), _ptr_join(at, "Condition"), variables)
    return Statement(
        label=f"{policy_label}/{sid if sid else index}",
        sid=sid or None,
        index=index,
        allow=effect == "Allow",
        actions=ActionMatcher.build(action_values),
        not_action=not_action,
        resources=resource_matcher,
        not_resource=not_resource,
        principal=principal_matcher,
        not_principal=not_principal,
        conditions=conditions,
    )


def _pair(item: dict[str, Any], name: str, not_name: str, at: str, *, required: bool) -> tuple[Any, bool]:
    if name in item and not_name in item:
        raise PolicyError(_ptr_join(at, not_name), f"a statement has {name} or {not_name}, not both")
    if name in item:
        return item[name], False
    if not_name in item:
        return item[not_name], True
    if required:
        raise PolicyError(at, f"the statement has neither {name} nor {not_name}")
    return None, False


def _principal(value: Any, at: str) -> PrincipalMatcher:
    if value == "*":
        return PrincipalMatcher(everyone=True)
    if not isinstance(value, dict) or not value:
        raise PolicyError(at, 'a principal is "*" or an object with AWS, Service, Federated or CanonicalUser')
    unknown = sorted(set(value) - _PRINCIPAL_KEYS)
    if unknown:
        raise PolicyError(_ptr_join(at, unknown[0]), f"unknown principal type {unknown[0]!r}")
    everyone = False
    accounts: set[str] = set()
    users: set[tuple[str, str]] = set()
    roles: set[tuple[str, str]] = set()
    sessions: set[tuple[str, str, str]] = set()
    fed_users: set[tuple[str, str]] = set()
    unmatchable: list[str] = []
    services: set[str] = set()
    federated: set[str] = set()
    canonical: set[str] = set()
    for kind, raw in value.items():
        entries = _strings(raw, _ptr_join(at, kind), f"Principal {kind}")
        for i, entry in enumerate(entries):
            where = _ptr_join(_ptr_join(at, kind), i) if isinstance(raw, list) else _ptr_join(at, kind)
            if kind == "AWS" and entry == "*":
                everyone = True
                continue
            if "*" in entry or "?" in entry:
                raise PolicyError(where, f"{entry!r}: AWS does not support partial wildcards in principals")
            if kind == "Service":
                services.add(entry)
            elif kind == "Federated":
                federated.add(entry)
            elif kind == "CanonicalUser":
                canonical.add(entry)
            elif _ACCOUNT.fullmatch(entry):
                accounts.add(entry)
            else:
                m = _PRINCIPAL_ARN.fullmatch(entry)
                if m is None:
                    unmatchable.append(entry)  # a unique id (a deleted principal) or a name AWS would not accept
                    continue
                service, account, rest = m.groups()
                if service == "iam" and rest == "root":
                    accounts.add(account)
                elif service == "iam" and rest.startswith("user/"):
                    users.add((account, rest.rsplit("/", 1)[1]))
                elif service == "iam" and rest.startswith("role/"):
                    roles.add((account, rest.rsplit("/", 1)[1]))
                elif service == "sts" and rest.startswith("assumed-role/") and rest.count("/") == 2:
                    _, role, session = rest.split("/")
                    sessions.add((account, role, session))
                elif service == "sts" and rest.startswith("federated-user/"):
                    fed_users.add((account, rest.split("/", 1)[1]))
                else:
                    unmatchable.append(entry)
    return PrincipalMatcher(
        everyone=everyone,
        accounts=frozenset(accounts),
        users=frozenset(users),
        roles=frozenset(roles),
        sessions=frozenset(sessions),
        federated_users=frozenset(fed_users),
        services=frozenset(services),
        federated=frozenset(federated),
        canonical_users=frozenset(canonical),
        unmatchable=tuple(unmatchable),
    )


def _conditions(block: Any, at: str, variables: bool) -> tuple[Condition, ...]:
    if block is None:
        return ()
    if not isinstance(block, dict):
        raise PolicyError(at, "Condition must be an object of operator -> {key: values}")
    out: list[Condition] = []
    for operator, entries in block.items():
        where = _ptr_join(at, operator)
        if not isinstance(entries, dict) or not entries:
            raise PolicyError(where, f"{operator} must map condition keys to values")
        for key, values in entries.items():
            try:
                out.append(compile_condition(operator, key, values, variables=variables))
            except BadCondition as exc:
                raise PolicyError(_ptr_join(where, key), str(exc)) from exc
    return tuple(out)


def statements_of(policies: Sequence[Policy]) -> tuple[Statement, ...]:
    """Every statement of ``policies`` in order (for reports and tests)."""
    return tuple(s for p in policies for s in p.statements)
