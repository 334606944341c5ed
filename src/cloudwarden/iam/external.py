"""External and public access, as IAM Access Analyzer reports it, decided by evaluating each resource policy.

For every resource policy in the snapshot (S3 buckets, KMS keys, SQS queues, SNS topics, Secrets Manager
secrets, Lambda functions, ECR repositories, role trust policies) the evaluator is asked, for each action the
policy's Allow statements could grant (expanded through the catalog) and each resource they name:

* **anonymous**: an unsigned request (``Principal: "*"`` with no condition that an anonymous caller fails);
* **any AWS account**: a principal of an account unknown to the snapshot, whose own policies allow everything
  (``{"AWS": "*"}`` or ``"*"`` limited only by conditions an outsider meets);
* **named outside accounts**: each account an Allow statement names that lies outside the zone of trust (the
  organisation when the snapshot holds one, else the resource's own account), again with an allowing identity
  side — cross-account access needs both sides, and we judge only ours;
* **AWS services without a source condition**: statements naming a service principal are evaluated for that
  service with no ``aws:SourceAccount``/``aws:SourceArn`` in the request; if they still allow, any customer's
  use of the service could reach the resource (the confused-deputy problem). Role trust policies are left out
  of this probe: a service assuming a role is what a service role is for.

Policies are never string-matched: a condition on ``aws:PrincipalOrgID``, ``aws:SourceIp`` or ``sts:ExternalId``
is what the evaluator says it is. SCPs do not bound a stranger, RCPs of the resource's account do, and are applied.
S3 buckets also get their ACL grants to ``AllUsers``/``AuthenticatedUsers`` checked, and Block Public Access
(bucket or account) is honoured: ``RestrictPublicBuckets`` removes public and cross-account policy access,
``IgnorePublicAcls`` public ACL grants.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cloudwarden.core.finding import Finding, ResourceRef, Source
from cloudwarden.core.severity import Severity
from cloudwarden.iam.access import outside_principal
from cloudwarden.iam.catalog import Catalog, get_catalog
from cloudwarden.iam.evaluate import ALLOWED, ERROR, evaluate
from cloudwarden.iam.model import Policy, Statement
from cloudwarden.iam.parse import PolicyError, parse_policy
from cloudwarden.iam.request import RequestPrincipal
from cloudwarden.iam.snapshot import AccessModel, BucketAccess, ModelError, ResourcePolicy

__all__ = [
    "CROSS_ACCOUNT",
    "PUBLIC",
    "SERVICE",
    "ExternalAccess",
    "external_access",
    "external_findings",
]

PUBLIC, CROSS_ACCOUNT, SERVICE = "Public", "CrossAccount", "ServiceWithoutSourceCondition"
_PROBE_ACCOUNTS = ("210987654321", "109876543210", "198765432109")  # one of these is unknown to any snapshot
_ALLOW_ALL = parse_policy({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]},
                          "identity", "probe:identity-allows")
_TRUST_ACTIONS = ("sts:AssumeRole", "sts:AssumeRoleWithSAML", "sts:AssumeRoleWithWebIdentity")
_WRITE_LEVELS = frozenset({"Write", "Permissions management", "Tagging"})
_ACL_PUBLIC = {"http://acs.amazonaws.com/groups/global/AllUsers": "AllUsers",
               "http://acs.amazonaws.com/groups/global/AuthenticatedUsers": "AuthenticatedUsers"}
_ACL_WRITE = frozenset({"WRITE", "WRITE_ACP", "FULL_CONTROL"})


@dataclass(frozen=True)
class ExternalAccess:
    """One resource reachable from outside: ``kind`` is Public, CrossAccount or ServiceWithoutSourceCondition;
    ``grantees`` are ``*``, account ids or service principals; ``statements`` the granting statements' JSON."""

    kind: str
    resource_arn: str
    resource_type: str
    noun: str
    account: str
    region: str
    name: str
    grantees: tuple[str, ...]
    actions: tuple[str, ...]
    statements: tuple[Any, ...]
    via: str = "policy"  # "policy" or "acl"
    write: bool = False
    acl_grants: tuple[Any, ...] = field(default=())

    @property
    def type(self) -> str:
        return f"ExternalAccess:{self.noun}/{self.kind}"


@dataclass
class _Hits:
    actions: set[str] = field(default_factory=set)
    labels: set[str] = field(default_factory=set)


def external_access(model: AccessModel, catalog: Catalog | None = None) -> tuple[list[ExternalAccess], list[str]]:
    """Every external or public access path in the snapshot, and the resources that could not be decided
    (their reasons): a policy that does not compile, or a request the evaluator calls ``error``."""
    cat = catalog or get_catalog()
    found: list[ExternalAccess] = []
    undecided: list[str] = []
    zone = model.org_accounts or None
    stranger = next(a for a in _PROBE_ACCOUNTS if a not in model.accounts and a not in model.org_accounts)
    for rp in model.resource_policies:
        if rp.policy is None:
            undecided.append(rp.error or f"{rp.resource_arn}: policy not compiled")
            continue
        bucket = model.buckets.get(rp.resource_arn) if rp.resource_type == "AwsS3Bucket" else None
        restricted = bucket is not None and bucket.block.get("RestrictPublicBuckets", False)
        pairs = _pairs(rp, rp.policy, cat)
        trust_zone = zone if zone is not None else frozenset({rp.account})
        errors: list[str] = []
        if not restricted:
            public = _probe(model, rp, pairs, None, errors)
            if not public.actions:
                public = _probe(model, rp, pairs, outside_principal(stranger), errors)
            if public.actions:
                found.append(_result(rp, PUBLIC, ("*",), public, cat))
            else:
                hits: dict[str, _Hits] = {}
                for account, probes in _named(rp.policy).items():
                    if account in trust_zone:
                        continue
                    merged_probe = _Hits()
                    for probe in probes:
                        got = _probe(model, rp, pairs, probe, errors)
                        merged_probe.actions |= got.actions
                        merged_probe.labels |= got.labels
                    hits[account] = merged_probe
                granted = {a: h for a, h in hits.items() if h.actions}
                if granted:
                    merged = _Hits({x for h in granted.values() for x in h.actions},
                                   {x for h in granted.values() for x in h.labels})
                    found.append(_result(rp, CROSS_ACCOUNT, tuple(sorted(granted)), merged, cat))
        if rp.resource_type != "AwsIamRole":
            found.extend(_service_probe(model, rp, cat, errors))
        undecided.extend(dict.fromkeys(errors))
    for bucket in model.buckets.values():
        acl = _acl_public(bucket)
        if acl is not None:
            found.append(acl)
    found.sort(key=lambda e: (e.resource_type, e.resource_arn, e.kind))
    return found, undecided


def _pairs(rp: ResourcePolicy, policy: Policy, cat: Catalog) -> list[tuple[str, str]]:
    """(action, resource) pairs the policy's Allow statements could grant on this resource."""
    pairs: dict[tuple[str, str], None] = {}
    for st in policy.statements:
        if not st.allow:
            continue
        for action in _actions(st, rp, cat):
            for resource in _resources(st, rp):
                pairs[(action, resource)] = None
    return list(pairs)


def _actions(st: Statement, rp: ResourcePolicy, cat: Catalog) -> list[str]:
    if rp.service == "sts":
        universe: Sequence[str] = _TRUST_ACTIONS
    else:
        universe = cat.actions_for_service(rp.service)
    if st.not_action:
        return [a for a in universe if not st.actions.matches(a.lower())]
    return [a for a in universe if st.actions.matches(a.lower())]


def _resources(st: Statement, rp: ResourcePolicy) -> list[str]:
    if st.resources is None or st.not_resource or rp.resource_type != "AwsS3Bucket":
        return [rp.resource_arn]  # "*" or the ARN in a key/queue/topic/function policy means this resource
    out = [t.text for t in st.resources.templates if not t.has_variables and t.text != "*"]
    return out or [rp.resource_arn]


def _named(policy: Policy) -> dict[str, list[RequestPrincipal]]:
    """Account -> the probes that stand for what an Allow statement names there: the account as a whole (any of
    its principals), or the users, roles and sessions listed by ARN."""
    found: dict[str, dict[str, RequestPrincipal]] = {}
    for st in policy.statements:
        if not st.allow or st.principal is None or st.not_principal:
            continue
        m = st.principal
        for account in m.accounts:
            probe = outside_principal(account)
            found.setdefault(account, {})[probe.arn] = probe
        for account, name in m.users:
            arn = f"arn:aws:iam::{account}:user/{name}"
            found.setdefault(account, {})[arn] = RequestPrincipal("user", arn, account, name)
        for account, name in m.roles:
            arn = f"arn:aws:iam::{account}:role/{name}"
            found.setdefault(account, {})[arn] = RequestPrincipal("role", arn, account, name)
        for account, name, session in m.sessions:
            arn = f"arn:aws:sts::{account}:assumed-role/{name}/{session}"
            found.setdefault(account, {})[arn] = RequestPrincipal("session", arn, account, name, session)
    return {account: list(probes.values()) for account, probes in sorted(found.items())}


def _probe(model: AccessModel, rp: ResourcePolicy, pairs: Iterable[tuple[str, str]],
           principal: RequestPrincipal | None, errors: list[str]) -> _Hits:
    """Which pairs the anonymous caller (``principal`` None) or ``principal`` (its identity side allowing) is
    allowed."""
    hits = _Hits()
    override = None if principal is None else (_ALLOW_ALL,)
    who = "anonymous" if principal is None else principal.arn
    for action, resource in pairs:
        try:
            request = model.request_for(principal or "*", action, resource, identity_override=override,
                                        resource_policy=rp)
        except ModelError as exc:
            errors.append(f"{rp.resource_arn}: {exc}")
            return _Hits()
        decision = evaluate(request)
        if decision.decision == ALLOWED:
            hits.actions.add(action)
            hits.labels.update(decision.matched_statements)
        elif decision.decision == ERROR:
            errors.append(f"{rp.resource_arn}: {action} for {who}: {decision.error}")
    return hits


def _service_probe(model: AccessModel, rp: ResourcePolicy, cat: Catalog, errors: list[str]) -> list[ExternalAccess]:
    """Each service principal the policy names, asked without ``aws:SourceAccount``/``aws:SourceArn``."""
    services = sorted({s for st in (rp.policy.statements if rp.policy else ()) if st.allow and st.principal
                       and not st.not_principal for s in st.principal.services})
    out: list[ExternalAccess] = []
    for service in services:
        rewritten = _as_everyone(rp.document, service)
        try:
            policy = parse_policy(rewritten, "resource", f"{rp.resource_arn}:policy")
        except PolicyError as exc:
            errors.append(f"{rp.resource_arn}: {exc}")
            continue
        hits = _Hits()
        context = {"aws:PrincipalIsAWSService": "true", "aws:PrincipalServiceName": service}
        for action, resource in _pairs(rp, policy, cat):
            try:
                request = model.request_for("*", action, resource, context,
                                            resource_policy=_with_policy(rp, policy))
            except ModelError as exc:
                errors.append(f"{rp.resource_arn}: {exc}")
                break
            decision = evaluate(request)
            if decision.decision == ALLOWED:
                hits.actions.add(action)
                hits.labels.update(decision.matched_statements)
            elif decision.decision == ERROR:
                errors.append(f"{rp.resource_arn}: {action} for {service}: {decision.error}")
        if hits.actions:
            out.append(_result(rp, SERVICE, (service,), hits, cat))
    return out


def _with_policy(rp: ResourcePolicy, policy: Policy) -> ResourcePolicy:
    from dataclasses import replace

    return replace(rp, policy=policy)


def _as_everyone(document: Mapping[str, Any], service: str) -> dict[str, Any]:
    """The policy as ``service`` sees it: its Allow statements naming ``service`` with ``Principal: "*"``, every
    other Allow dropped, every Deny kept (a Deny naming the service also applies to everyone here)."""
    raw = document.get("Statement")
    items = [raw] if isinstance(raw, dict) else list(raw or [])
    kept: list[Any] = []
    for item in items:
        if not isinstance(item, dict):
            kept.append(item)
            continue
        names = _service_names(item.get("Principal"))
        if str(item.get("Effect")) == "Allow":
            if service in names:
                kept.append({**item, "Principal": "*"})
        elif service in names:
            kept.append({**item, "Principal": "*"})
        else:
            kept.append(item)
    out = {k: v for k, v in document.items() if k != "Statement"}
    out["Statement"] = kept
    return out


def _service_names(principal: Any) -> set[str]:
    if not isinstance(principal, dict):
        return set()
    value = principal.get("Service")
    return {value} if isinstance(value, str) else {str(v) for v in value or []}


def _statement_json(rp: ResourcePolicy, labels: Iterable[str]) -> tuple[Any, ...]:
    if rp.policy is None:
        return ()
    by_label = {st.label: st for st in rp.policy.statements}
    chosen = sorted({by_label[label].index for label in labels if label in by_label and by_label[label].allow})
    return tuple(rp.statement_document(i) for i in chosen)


def _result(rp: ResourcePolicy, kind: str, grantees: tuple[str, ...], hits: _Hits, cat: Catalog) -> ExternalAccess:
    actions = tuple(sorted(hits.actions))
    write = any(lvl in _WRITE_LEVELS for a in actions for lvl in cat.access_levels(a)) or (
        rp.service == "sts")
    return ExternalAccess(
        kind=kind, resource_arn=rp.resource_arn, resource_type=rp.resource_type, noun=rp.noun, account=rp.account,
        region=rp.region, name=rp.name, grantees=grantees, actions=actions,
        statements=_statement_json(rp, hits.labels), write=write,
    )


def _acl_public(bucket: BucketAccess) -> ExternalAccess | None:
    if bucket.block.get("IgnorePublicAcls", False):
        return None
    grants = [g for g in bucket.acl_grants
              if str((g.get("Grantee") or {}).get("URI")) in _ACL_PUBLIC]
    if not grants:
        return None
    permissions = tuple(sorted({str(g.get("Permission")) for g in grants}))
    return ExternalAccess(
        kind=PUBLIC, resource_arn=bucket.arn, resource_type="AwsS3Bucket", noun="S3Bucket", account=bucket.account,
        region=bucket.region, name=bucket.name, grantees=("*",), actions=permissions, statements=(), via="acl",
        write=any(p in _ACL_WRITE for p in permissions), acl_grants=tuple(grants),
    )


# --- findings ---------------------------------------------------------------------------------------------------
def _controls(item: ExternalAccess) -> list[str]:
    if item.kind != PUBLIC:
        return []
    if item.noun == "S3Bucket":
        return ["S3.3" if item.write else "S3.2"]
    return {"KMSKey": ["KMS.5"], "LambdaFunction": ["Lambda.1"]}.get(item.noun, [])


def _severity(item: ExternalAccess) -> Severity:
    if item.kind == PUBLIC:
        return Severity.CRITICAL if item.write else Severity.HIGH
    if item.kind == CROSS_ACCOUNT:
        return Severity.HIGH if item.noun == "IAMRole" else Severity.MEDIUM
    return Severity.LOW


def _title(item: ExternalAccess) -> str:
    what = f"{item.noun} {item.name}"
    if item.kind == PUBLIC:
        how = "its ACL" if item.via == "acl" else "its policy"
        return f"{what} is publicly accessible through {how}"
    if item.kind == CROSS_ACCOUNT:
        return f"{what} grants access to account(s) outside the zone of trust: {', '.join(item.grantees)}"
    return f"{what} lets {', '.join(item.grantees)} act without an aws:SourceAccount/aws:SourceArn condition"


_REMEDIATION = {
    PUBLIC: "Remove the statement (or ACL grant) that allows everyone, or restrict it with conditions such as "
            "aws:PrincipalOrgID or aws:SourceVpce; for S3, turn on Block Public Access.",
    CROSS_ACCOUNT: "Confirm the outside account is expected; otherwise remove it from the policy. For roles "
                   "assumed by third parties, require an sts:ExternalId condition.",
    SERVICE: "Add an aws:SourceAccount or aws:SourceArn condition so that only your own use of the service can "
             "reach the resource.",
}


def external_findings(model: AccessModel, now: datetime | None = None,
                      items: Sequence[ExternalAccess] | None = None) -> list[Finding]:
    """One ACTIVE ``iam`` finding per (resource, kind), with the granting statements in evidence."""
    found = list(items) if items is not None else external_access(model)[0]
    out: list[Finding] = []
    for item in found:
        controls = _controls(item)
        rule = f"iam.external.{item.noun.lower()}.{item.kind.lower()}" + (".acl" if item.via == "acl" else "")
        details: dict[str, Any] = {
            "grantees": list(item.grantees), "actions": list(item.actions), "via": item.via,
            "statements": [json.loads(json.dumps(s, default=str)) for s in item.statements],
        }
        if item.via == "acl":
            details["acl_grants"] = [json.loads(json.dumps(g, default=str)) for g in item.acl_grants
                                     if isinstance(g, dict)]
        principal = None
        if item.kind == CROSS_ACCOUNT and len(item.grantees) == 1:
            principal = f"arn:aws:iam::{item.grantees[0]}:root"
        elif item.kind == PUBLIC:
            principal = "*"
        out.append(Finding.create(
            source=Source.IAM, rule_id=rule, type=item.type, title=_title(item),
            description=(f"Evaluating the {'ACL' if item.via == 'acl' else 'policy'} of {item.resource_arn} for "
                         f"{', '.join(item.grantees)} allows {len(item.actions)} action(s): "
                         f"{', '.join(item.actions[:8])}{' ...' if len(item.actions) > 8 else ''}."),
            remediation=_REMEDIATION[item.kind], severity=_severity(item), account_id=item.account,
            region=item.region or "us-east-1", resource=ResourceRef(type=item.resource_type, id=item.resource_arn),
            principal=principal, frameworks={"fsbp": controls} if controls else {}, seen=now,
            evidence={"details": details},
        ))
    return out
