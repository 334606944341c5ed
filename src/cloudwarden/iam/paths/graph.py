"""The principal graph: who can become whom, and who can make whom an administrator.

Nodes are the IAM users and roles of an :class:`~cloudwarden.iam.paths.environment.EscalationModel`. Two kinds of
edge come out of a principal P, each made by a technique of ``catalog.yaml`` and each decided through the full
evaluator (identity policies, permissions boundary, SCP levels, the target's resource or trust policy, conditions
against the model's context) for the *specific* target resource:

* **become** P -> T: P can act as T afterwards. ``assume-role`` (``sts:AssumeRole`` on T: T's trust policy AND P's
  identity side, as the evaluator decides it), ``create-credentials`` (an access key or console password for user
  T), ``trust-edit`` (rewrite T's trust policy to name P, then assume T: the assumption is evaluated with that
  rewritten trust policy, so P's SCPs still decide), ``pass-role`` (pass T, a role trusting the compute service, to
  compute P creates or updates: ``iam:PassRole`` is evaluated with ``iam:PassedToService``), ``existing-compute``
  (take over compute that already runs as T).
* **empower** P => T: P can give T arbitrary permissions (``policy-edit``: a new default version of a customer
  managed policy attached to T, an inline or attached policy on T or on a group T is in, or P joining a group).
  The edge exists only when T *would then be* an administrator: the evaluator decides that with the granted
  policy added to T's identity policies, so T's permissions boundary and SCPs still cap it.

**Administrator** (the search target): a principal for which the evaluator allows, on resource ``*``, a synthetic
action ``iam:CloudwardenAdminProbe`` (allowed only by ``*``, ``iam:*`` or similar wildcards: a list of named
actions never grants it) and the escalation actions ``iam:AttachRolePolicy``, ``iam:PutUserPolicy``,
``iam:CreateAccessKey`` and ``iam:PassRole``. That is "``*`` on ``*``, or ``iam:*`` on ``*``", minus principals a
boundary, SCP or explicit deny keeps from using it.

An evaluator ``error`` (a condition it cannot decide) never makes an edge: the graph never guesses.
Hand-written rather than built on a graph library: the edges are the hard part and the search is a short BFS.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any

from cloudwarden.iam.evaluate import ALLOWED, evaluate
from cloudwarden.iam.model import Policy, PrincipalMatcher
from cloudwarden.iam.parse import parse_policy
from cloudwarden.iam.paths.catalog import Technique, load_techniques
from cloudwarden.iam.paths.environment import EscalationModel, Group, Workload
from cloudwarden.iam.request import Request
from cloudwarden.iam.snapshot import ModelError, Principal

__all__ = ["ADMIN_PROBE_ACTIONS", "BECOME_KINDS", "Graph", "Hop", "build_graph", "is_admin"]

ADMIN_PROBE_ACTIONS: tuple[str, ...] = (
    "iam:CloudwardenAdminProbe", "iam:AttachRolePolicy", "iam:PutUserPolicy", "iam:CreateAccessKey", "iam:PassRole",
)
BECOME_KINDS = frozenset({"assume-role", "create-credentials", "trust-edit", "pass-role", "existing-compute"})
_ADMIN_DOCUMENT = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}


@lru_cache(maxsize=1)
def _admin_policy() -> Policy:
    return parse_policy(_ADMIN_DOCUMENT, "identity", "granted:AdministratorAccess")


@lru_cache(maxsize=4096)
def _trust_naming(arn: str) -> Policy:
    document = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": arn}, "Action": "sts:AssumeRole"}]}
    return parse_policy(document, "resource", f"rewritten-trust:{arn}")


@dataclass(frozen=True, slots=True)
class Hop:
    """One edge. ``target`` is the principal reached (become) or made administrator (``policy-edit``);
    ``resource`` what was acted on (role, user, group, policy, or the compute's role); ``via`` the existing
    compute acted on, if any; ``permissions`` the actions the evaluator allowed for it; ``also`` other techniques
    that make the same hop."""

    kind: str
    technique: str
    actor: str
    target: str
    resource: str
    permissions: tuple[str, ...]
    via: str | None = None
    also: tuple[str, ...] = ()

    @property
    def techniques(self) -> tuple[str, ...]:
        return (self.technique, *self.also)

    @property
    def becomes(self) -> bool:
        return self.kind in BECOME_KINDS

    def describe(self) -> str:
        perms = " + ".join(self.permissions)
        on = f" on {self.resource}" + (f" (via {self.via})" if self.via else "")
        outcome = f"act as {self.target}" if self.becomes else f"make {self.target} an administrator"
        return f"{perms}{on}: {outcome} [{', '.join(self.techniques)}]"

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "kind": self.kind, "technique": self.technique, "actor": self.actor, "target": self.target,
            "resource": self.resource, "permissions": list(self.permissions),
        }
        if self.via:
            out["via"] = self.via
        if self.also:
            out["also"] = list(self.also)
        return out


@dataclass(frozen=True)
class Graph:
    """Edges by actor ARN, the administrators, and the principals left out (their policies did not compile)."""

    admins: frozenset[str]
    become: Mapping[str, tuple[Hop, ...]]
    empower: Mapping[str, tuple[Hop, ...]]
    principals: tuple[str, ...]
    errors: tuple[str, ...] = ()
    evaluations: int = 0


class _Decider:
    """Evaluates requests for the graph, caching by (principal, action, resource, context, overrides)."""

    def __init__(self, model: EscalationModel) -> None:
        self.model = model
        self.cache: dict[tuple[Any, ...], bool] = {}
        self.count = 0

    def allowed(self, who: Principal, action: str, resource: str, *, context: Mapping[str, str] | None = None,
                extra: tuple[Policy, ...] = (), trust: Policy | None = None) -> bool:
        ctx = tuple(sorted((context or {}).items()))
        key = (who.arn, action, resource, ctx, tuple(id(p) for p in extra), id(trust) if trust else None)
        hit = self.cache.get(key)
        if hit is not None:
            return hit
        merged: dict[str, Any] = dict(self.model.context)
        merged.update(context or {})
        request: Request = self.model.access.request_for(who, action, resource, merged)
        if extra:
            request = replace(request, identity_policies=request.identity_policies + extra)
        if trust is not None:
            request = replace(request, resource_policy=trust)
        self.count += 1
        result = evaluate(request).decision == ALLOWED
        self.cache[key] = result
        return result

    def all_allowed(self, who: Principal, pairs: Iterable[tuple[str, str]], **kw: Any) -> bool:
        return all(self.allowed(who, action, resource, **kw) for action, resource in pairs)

    def admin(self, who: Principal, extra: tuple[Policy, ...] = ()) -> bool:
        return all(self.allowed(who, action, "*", extra=extra) for action in ADMIN_PROBE_ACTIONS)


def is_admin(model: EscalationModel, principal: str) -> bool:
    """Whether ``principal`` (an ARN in the model) is an administrator as this module's docstring defines it."""
    found = model.access.principal(principal)
    if found is None:
        return False
    return _Decider(model).admin(found)


def _partition(arn: str) -> str:
    parts = arn.split(":", 2)
    return parts[1] if len(parts) > 1 and parts[1] else "aws"


def _trusts_service(role: Principal, service: str) -> bool:
    """The role's trust policy lets ``service`` assume it: an Allow naming the service for sts:AssumeRole, and no
    unconditional Deny naming it. Conditions on an Allow (``aws:SourceAccount``, ``aws:SourceArn``) are met by
    compute the actor creates in its own account, so they do not rule the role out."""
    trust = role.trust_policy
    if trust is None:
        return False
    allowed = False
    for st in trust.statements:
        applies = st.actions.matches("sts:assumerole") != st.not_action
        if st.principal is None or not applies:
            continue
        names = _names_service(st.principal, service) != st.not_principal
        if not names:
            continue
        if st.allow:
            allowed = True
        elif not st.conditions:
            return False
    return allowed


def _names_service(m: PrincipalMatcher, service: str) -> bool:
    return m.everyone or service in m.services


class _Builder:
    def __init__(self, model: EscalationModel, techniques: Sequence[Technique]) -> None:
        self.model = model
        self.decide = _Decider(model)
        self.techniques = techniques
        access = model.access
        self.errors: list[str] = [f"{p.arn}: {e}" for p in access.principals for e in p.errors]
        self.principals = [p for p in access.principals if not p.errors]
        self.users = [p for p in self.principals if p.kind == "user"]
        self.roles = [p for p in self.principals if p.kind == "role" and not p.service_linked]
        self.by_arn = {p.arn: p for p in self.principals}
        self.groups: dict[str, Group] = {g.arn: g for g in model.groups}
        self.policy_holders: dict[str, list[Principal]] = {}
        for p in self.principals:
            for source in p.sources:
                if source.kind in ("managed", "group-managed") and _customer_managed(source.name):
                    holders = self.policy_holders.setdefault(source.name, [])
                    if p not in holders:
                        holders.append(p)
        self.become: dict[str, list[Hop]] = {}
        self.empower: dict[str, list[Hop]] = {}
        self._admin_if_granted: dict[str, bool] = {}

    # -- helpers ----------------------------------------------------------------------------------------------
    def add(self, bucket: dict[str, list[Hop]], hop: Hop) -> None:
        hops = bucket.setdefault(hop.actor, [])
        for i, old in enumerate(hops):
            if (old.kind, old.target, old.resource, old.via) == (hop.kind, hop.target, hop.resource, hop.via):
                if hop.technique not in old.techniques:
                    hops[i] = replace(old, also=(*old.also, hop.technique))
                return
        hops.append(hop)

    def admin_if_granted(self, who: Principal) -> bool:
        hit = self._admin_if_granted.get(who.arn)
        if hit is None:
            hit = self.decide.admin(who, (_admin_policy(),))
            self._admin_if_granted[who.arn] = hit
        return hit

    def actions_ok(self, actor: Principal, t: Technique, *, region: str, account: str, target: str = "",
                   workload: str = "", skip_target: bool = False) -> bool:
        partition = _partition(actor.arn)
        for spec in t.actions:
            if skip_target and spec.resource == "target":
                continue
            resource = spec.arn(partition=partition, region=region, account=account, target=target,
                                workload=workload)
            if not self.decide.allowed(actor, spec.action, resource):
                return False
        return True

    # -- edges ------------------------------------------------------------------------------------------------
    def build(self) -> Graph:
        admins = frozenset(p.arn for p in self.principals if self.decide.admin(p))
        for actor in self.principals:
            for t in self.techniques:
                try:
                    self.edges(actor, t)
                except ModelError as exc:
                    self.errors.append(f"{actor.arn}: {t.id}: {exc}")
        return Graph(
            admins=admins,
            become={k: tuple(v) for k, v in self.become.items()},
            empower={k: tuple(v) for k, v in self.empower.items()},
            principals=tuple(p.arn for p in self.principals),
            errors=tuple(dict.fromkeys(self.errors)),
            evaluations=self.decide.count,
        )

    def edges(self, actor: Principal, t: Technique) -> None:
        if t.kind == "assume-role":
            self.assume(actor, t)
        elif t.kind == "create-credentials":
            self.credentials(actor, t)
        elif t.kind == "trust-edit":
            self.trust_edit(actor, t)
        elif t.kind == "policy-edit":
            self.policy_edit(actor, t)
        elif t.kind == "pass-role":
            self.pass_role(actor, t)
        elif t.kind == "existing-compute":
            self.existing(actor, t)

    def hop(self, t: Technique, actor: Principal, target: str, resource: str, via: str | None = None) -> Hop:
        return Hop(kind=t.kind, technique=t.id, actor=actor.arn, target=target, resource=resource,
                   permissions=t.permissions, via=via)

    def assume(self, actor: Principal, t: Technique) -> None:
        for role in self.roles:
            if role.arn != actor.arn and self.actions_ok(actor, t, region="", account=role.account, target=role.arn):
                self.add(self.become, self.hop(t, actor, role.arn, role.arn))

    def credentials(self, actor: Principal, t: Technique) -> None:
        for user in self.users:
            if user.arn == actor.arn or not self._precondition(t, user):
                continue
            if self.actions_ok(actor, t, region="", account=user.account, target=user.arn):
                self.add(self.become, self.hop(t, actor, user.arn, user.arn))

    def trust_edit(self, actor: Principal, t: Technique) -> None:
        for role in self.roles:
            if role.arn == actor.arn:
                continue
            if self.actions_ok(actor, t, region="", account=role.account, target=role.arn) and \
                    self.decide.allowed(actor, "sts:AssumeRole", role.arn, trust=_trust_naming(actor.arn)):
                self.add(self.become, self.hop(t, actor, role.arn, role.arn))

    def policy_edit(self, actor: Principal, t: Technique) -> None:
        if t.edits in ("user", "role"):
            pool = self.users if t.edits == "user" else self.roles
            for target in pool:
                if self.actions_ok(actor, t, region="", account=target.account, target=target.arn) and \
                        self.admin_if_granted(target):
                    self.add(self.empower, self.hop(t, actor, target.arn, target.arn))
        elif t.edits == "group":
            for group in self.groups.values():
                members = [self.by_arn[m] for m in group.members if m in self.by_arn]
                if members and self.actions_ok(actor, t, region="", account=group.account, target=group.arn):
                    for member in members:
                        if self.admin_if_granted(member):
                            self.add(self.empower, self.hop(t, actor, member.arn, group.arn))
        elif t.edits == "policy":
            for policy_arn, holders in self.policy_holders.items():
                if self.actions_ok(actor, t, region="", account=policy_arn.split(":")[4], target=policy_arn):
                    for holder in holders:
                        if self.admin_if_granted(holder):
                            self.add(self.empower, self.hop(t, actor, holder.arn, policy_arn))
        elif t.edits == "membership" and actor.kind == "user":
            for group in self.groups.values():
                if actor.arn in group.members or group.account != actor.account:
                    continue
                if self.actions_ok(actor, t, region="", account=group.account, target=group.arn) and \
                        self.decide.admin(actor, group.policies):
                    self.add(self.empower, self.hop(t, actor, actor.arn, group.arn))

    def pass_role(self, actor: Principal, t: Technique) -> None:
        # Compute is created in the actor's own account, so only that account's roles can be passed to it.
        candidates = [r for r in self.roles if r.account == actor.account and r.arn != actor.arn
                      and any(_trusts_service(r, s) for s in t.services) and self._precondition(t, r)]
        if not candidates:
            return
        sites: list[tuple[str, Workload | None]] = []
        if t.workload:
            sites = [(w.region, w) for w in self.model.workloads
                     if w.kind == t.workload and w.account == actor.account]
        else:
            sites = [(region, None) for region in self.model.regions]
        for region, workload in sites:
            if not self.actions_ok(actor, t, region=region, account=actor.account, skip_target=True,
                                   workload=workload.arn if workload else ""):
                continue
            for role in candidates:
                services = [s for s in t.services if _trusts_service(role, s)]
                if any(self.decide.allowed(actor, "iam:PassRole", role.arn, context={"iam:PassedToService": s})
                       for s in services):
                    self.add(self.become, self.hop(t, actor, role.arn, role.arn,
                                                   via=workload.arn if workload else None))

    def existing(self, actor: Principal, t: Technique) -> None:
        for w in self.model.workloads:
            if w.kind != t.workload or w.role_arn is None or w.role_arn == actor.arn:
                continue
            role = self.by_arn.get(w.role_arn)
            if role is None:
                continue
            if self.actions_ok(actor, t, region=w.region, account=w.account, workload=w.arn):
                self.add(self.become, self.hop(t, actor, role.arn, role.arn, via=w.arn))

    def _precondition(self, t: Technique, target: Principal) -> bool:
        if t.requires == "fewer-than-two-keys":
            return self.model.access_keys.get(target.arn, 0) < 2
        if t.requires == "no-login-profile":
            return not self.model.login_profiles.get(target.arn, False)
        if t.requires == "login-profile":
            return self.model.login_profiles.get(target.arn, True)
        if t.requires == "instance-profile":
            known = self.model.instance_profile_roles
            return known is None or target.arn in known
        return True


def _customer_managed(policy_arn: str) -> bool:
    parts = policy_arn.split(":")
    return len(parts) > 5 and parts[2] == "iam" and parts[4].isdigit()


def build_graph(model: EscalationModel, techniques: Sequence[Technique] | None = None) -> Graph:
    """Every edge of ``model`` (default: the shipped catalog's techniques)."""
    return _Builder(model, load_techniques() if techniques is None else techniques).build()

