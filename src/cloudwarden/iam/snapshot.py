"""The access model: an inventory snapshot read once into compiled principals, resource policies and the
organisation's SCP/RCP levels, so access questions (who-can, can, external access, escalation paths) can build
complete evaluator requests without touching the store again.

Built from the snapshot documents of ``inventory`` (``notes/snapshot_contract.md``):

* **principals**: IAM users (inline policies, attached managed policies, and the inline and attached policies of
  every group they belong to), IAM roles (inline, attached, trust policy) with their permissions boundary, tags,
  path and account. Groups are not principals; their policies reach their members.
* **resource policies**: S3 bucket policies, KMS key policies, SQS queue and SNS topic policies, Secrets Manager
  resource policies, Lambda function policies, ECR repository policies and role trust policies, each with the
  account that owns the resource.
* **organisation**: for each account in the organisation, the SCP and RCP levels root -> OUs -> account, from
  ``AwsOrganizationsPolicy`` targets and the ``ParentId`` chain of ``AwsOrganizationsAccount`` /
  ``AwsOrganizationsOrganizationalUnit`` documents. ``RCPFullAWSAccess`` is left out of the RCP levels (the
  evaluator treats it as implicitly attached everywhere, as AWS does).

Every policy document is compiled once (``parse_policy``) and shared: two principals with the same managed policy
hold the same :class:`~cloudwarden.iam.model.Policy` object, which is what makes the evaluator's per-(policies,
action) statement cache effective over thousands of principals. A policy that cannot be compiled exactly is not
guessed at: the principal or resource keeps an ``errors`` entry, and questions about it report ``error``.

Public API (stable; ``iam/access.py``, ``iam/external.py`` and ``iam/paths/`` build on it)::

    model = AccessModel.from_store(store, snapshot_id=None)      # BadInputError when there is no snapshot
    model = AccessModel.from_documents(docs)
    model.principals          -> tuple[Principal, ...]           (users and roles, ordered by ARN)
    model.principal(arn)      -> Principal | None                (also accepts a role's session ARN)
    model.resource_policies   -> tuple[ResourcePolicy, ...]
    model.resource_policy_for(resource_arn, action) -> ResourcePolicy | None
    model.resource_account(resource_arn)             -> str | None
    model.org_levels(account) -> OrgLevels                       (scps/rcps None outside an organisation)
    model.buckets             -> {bucket ARN: BucketAccess}      (ACL grants, effective Block Public Access)
    model.request_for(principal, action, resource, context=None, *, identity_override=None) -> Request
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from cloudwarden.core.errors import BadInputError
from cloudwarden.iam.model import ContextValue, Policy, PolicyType
from cloudwarden.iam.parse import PolicyError, parse_policy
from cloudwarden.iam.request import Request, RequestPrincipal, derived_context, normalise_context, parse_principal

__all__ = [
    "RESOURCE_POLICY_CALLS",
    "AccessModel",
    "BucketAccess",
    "ModelError",
    "OrgLevels",
    "PolicySource",
    "Principal",
    "ResourcePolicy",
]

# Resource type -> (the call holding its policy, the service its actions belong to, our finding-type noun).
RESOURCE_POLICY_CALLS: Mapping[str, tuple[str, str, str]] = {
    "AwsS3Bucket": ("GetBucketPolicy", "s3", "S3Bucket"),
    "AwsKmsKey": ("GetKeyPolicy", "kms", "KMSKey"),
    "AwsSqsQueue": ("GetQueueAttributes", "sqs", "SQSQueue"),
    "AwsSnsTopic": ("GetTopicAttributes", "sns", "SNSTopic"),
    "AwsSecretsManagerSecret": ("GetResourcePolicy", "secretsmanager", "SecretsManagerSecret"),
    "AwsLambdaFunction": ("GetPolicy", "lambda", "LambdaFunction"),
    "AwsEcrRepository": ("GetRepositoryPolicy", "ecr", "ECRRepository"),
}
ROLE_TRUST = "AwsIamRole"
_ACCOUNT_ID = re.compile(r"\d{12}")
_RCP_FULL_ACCESS = "RCPFullAWSAccess"
_ORG_TYPES: Mapping[str, Literal["scp", "rcp"]] = {"SERVICE_CONTROL_POLICY": "scp", "RESOURCE_CONTROL_POLICY": "rcp"}


class ModelError(Exception):
    """A question about a principal or resource whose policies could not be compiled; ``str()`` says which."""


@dataclass(frozen=True, slots=True)
class PolicySource:
    """Where a principal's identity policy comes from: ``inline``, ``managed`` or ``group-inline``/``group-managed``
    (``via`` names the group), with the policy's name or ARN."""

    kind: str
    name: str
    via: str | None = None


@dataclass(frozen=True, slots=True)
class Principal:
    """An IAM user or role with every policy that applies to it on the identity side, compiled."""

    arn: str
    kind: Literal["user", "role"]
    account: str
    name: str
    path: str
    identity_policies: tuple[Policy, ...]
    sources: tuple[PolicySource, ...]  # parallel to identity_policies
    permissions_boundary: Policy | None
    boundary_arn: str | None
    tags: Mapping[str, str]
    groups: tuple[str, ...] = ()
    trust_policy: Policy | None = None  # roles
    trust_document: Mapping[str, Any] | None = None
    service_linked: bool = False
    errors: tuple[str, ...] = ()

    @property
    def request_principal(self) -> RequestPrincipal:
        return parse_principal(self.arn, self.arn)


@dataclass(frozen=True, slots=True)
class ResourcePolicy:
    """A resource-based policy (or a role's trust policy) with the resource it belongs to."""

    resource_arn: str
    resource_type: str  # ASFF type of the resource: AwsS3Bucket, AwsIamRole (trust policy), ...
    service: str  # the service whose actions the policy governs ("sts" for trust policies)
    noun: str  # the finding-type noun: S3Bucket, IAMRole, ...
    account: str
    region: str
    name: str
    policy: Policy | None  # None when the document could not be compiled (see ``error``)
    document: Mapping[str, Any]
    tags: Mapping[str, str] = field(default_factory=dict)
    error: str | None = None

    def statement_document(self, index: int) -> Any:
        """The JSON of statement ``index`` as the document holds it."""
        raw = self.document.get("Statement")
        if isinstance(raw, dict):
            return raw
        if isinstance(raw, list) and 0 <= index < len(raw):
            return raw[index]
        return None


@dataclass(frozen=True, slots=True)
class BucketAccess:
    """What besides its policy decides who reaches an S3 bucket: ACL grants and Block Public Access.

    ``block`` holds the effective BPA settings (bucket OR account level): ``IgnorePublicAcls``,
    ``RestrictPublicBuckets``, ... ; ``acl_grants`` are the ``GetBucketAcl`` grants as collected. ``complete``
    is False when the ACL or either BPA answer could not be read (AccessDenied, not collected)."""

    arn: str
    name: str
    account: str
    region: str
    acl_grants: tuple[Mapping[str, Any], ...]
    block: Mapping[str, bool]
    complete: bool
    missing: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class OrgLevels:
    """The organisation policies that apply to one account, levels root first."""

    scps: tuple[tuple[Policy, ...], ...] | None = None
    rcps: tuple[tuple[Policy, ...], ...] | None = None
    org_id: str | None = None
    org_path: str | None = None  # "o-xxx/r-xxx/ou-xxx/" as aws:PrincipalOrgPaths/aws:ResourceOrgPaths hold it


class _Compiler:
    """Compile each distinct (policy type, label, document) once."""

    def __init__(self) -> None:
        self._cache: dict[tuple[str, str, str], Policy] = {}

    def compile(self, document: Any, policy_type: PolicyType, label: str) -> Policy:
        key = (policy_type, label, json.dumps(document, sort_keys=True, separators=(",", ":")))
        hit = self._cache.get(key)
        if hit is None:
            hit = parse_policy(document, policy_type, label)
            self._cache[key] = hit
        return hit


@dataclass(frozen=True)
class AccessModel:
    """Everything access questions need from one snapshot. Build with :meth:`from_store` or
    :meth:`from_documents`; immutable afterwards."""

    principals: tuple[Principal, ...]
    resource_policies: tuple[ResourcePolicy, ...]
    accounts: frozenset[str]  # accounts whose IAM was collected
    org_accounts: frozenset[str]  # accounts in the organisation (empty outside one)
    management_account: str | None
    snapshot_id: str | None = None
    errors: tuple[str, ...] = ()
    _levels: Mapping[str, OrgLevels] = field(default_factory=dict, repr=False)
    _by_arn: Mapping[str, Principal] = field(default_factory=dict, repr=False)
    _by_resource: Mapping[tuple[str, str], ResourcePolicy] = field(default_factory=dict, repr=False)
    _bucket_accounts: Mapping[str, str] = field(default_factory=dict, repr=False)
    _resource_tags: Mapping[str, Mapping[str, str]] = field(default_factory=dict, repr=False)
    buckets: Mapping[str, BucketAccess] = field(default_factory=dict)  # bucket ARN -> ACL and BPA

    # -- construction ---------------------------------------------------------------------------------------------
    @classmethod
    def from_store(cls, store: Any, snapshot_id: str | None = None) -> AccessModel:
        """The model of a stored snapshot (default: the latest finished one). ``store`` is a
        :class:`cloudwarden.store.store.Store`. Raises BadInputError when there is no such snapshot."""
        from cloudwarden.store import resources as snapshots

        chosen = snapshot_id or snapshots.latest_snapshot_id(store)
        if chosen is None:
            raise BadInputError("snapshot", f"the store {store.path} holds no finished snapshot; "
                                            "run `cloudwarden scan` first")
        if snapshots.snapshot_status(store, chosen) is None:
            raise BadInputError("snapshot", f"no snapshot {chosen!r} in {store.path}")
        model = cls.from_documents(snapshots.resources(store, chosen))
        return _with_snapshot(model, chosen)

    @classmethod
    def from_documents(cls, documents: Iterable[Mapping[str, Any]]) -> AccessModel:
        """The model of snapshot documents (any order; documents of other types are ignored)."""
        by_type: dict[str, list[Mapping[str, Any]]] = {}
        for doc in documents:
            by_type.setdefault(str(doc.get("type")), []).append(doc)
        compiler = _Compiler()
        errors: list[str] = []
        managed = _managed_policies(by_type.get("AwsIamPolicy", []))
        groups = {(str(d["account"]), str(d["data"].get("GroupName") or d["name"])): d
                  for d in by_type.get("AwsIamGroup", [])}
        principals: list[Principal] = []
        for doc in by_type.get("AwsIamUser", []):
            principals.append(_user(doc, groups, managed, compiler))
        for doc in by_type.get("AwsIamRole", []):
            principals.append(_role(doc, managed, compiler))
        principals.sort(key=lambda p: p.arn)
        errors.extend(e for p in principals for e in p.errors)

        resources: list[ResourcePolicy] = []
        bucket_accounts: dict[str, str] = {}
        resource_tags: dict[str, Mapping[str, str]] = {}
        for rtype, (call, service, noun) in RESOURCE_POLICY_CALLS.items():
            for doc in by_type.get(rtype, []):
                resource_tags[str(doc["arn"])] = dict(doc.get("tags") or {})
                if rtype == "AwsS3Bucket":
                    bucket_accounts[str(doc["arn"]).split(":::", 1)[-1]] = str(doc["account"])
                found = _resource_policy(doc, rtype, call, service, noun, compiler)
                if found is not None:
                    resources.append(found)
                    if found.error:
                        errors.append(found.error)
        for p in principals:
            if p.kind == "role" and p.trust_document is not None:
                resources.append(ResourcePolicy(
                    resource_arn=p.arn, resource_type=ROLE_TRUST, service="sts", noun="IAMRole", account=p.account,
                    region="us-east-1", name=p.name, policy=p.trust_policy, document=p.trust_document,
                    tags=p.tags, error=None if p.trust_policy is not None else f"{p.arn}: trust policy not compiled",
                ))
                resource_tags[p.arn] = p.tags
        resources.sort(key=lambda r: (r.resource_type, r.resource_arn))

        buckets = _buckets(by_type)
        org = _organisation(by_type, compiler, errors)
        accounts = frozenset(
            {str(d["account"]) for t in ("AwsIamUser", "AwsIamRole", "AwsAccount") for d in by_type.get(t, [])}
        )
        return cls(
            principals=tuple(principals),
            resource_policies=tuple(resources),
            accounts=accounts,
            org_accounts=frozenset(org.levels),
            management_account=org.management,
            errors=tuple(errors),
            _levels=org.levels,
            _by_arn={p.arn: p for p in principals},
            _by_resource={(r.service, r.resource_arn): r for r in resources},
            _bucket_accounts=bucket_accounts,
            _resource_tags=resource_tags,
            buckets=buckets,
        )

    # -- lookups --------------------------------------------------------------------------------------------------
    def principal(self, arn: str) -> Principal | None:
        """The user or role named by ``arn`` (a role's assumed-role session ARN finds the role)."""
        hit = self._by_arn.get(arn)
        if hit is not None:
            return hit
        try:
            parsed = parse_principal(arn, "principal")
        except BadInputError:
            return None
        if parsed.kind == "session":
            for p in self.principals:
                if p.kind == "role" and p.account == parsed.account and p.name == parsed.name:
                    return p
        if parsed.kind in ("user", "role"):  # an ARN written without the principal's path
            for p in self.principals:
                if p.kind == parsed.kind and p.account == parsed.account and p.name == parsed.name:
                    return p
        return None

    def org_levels(self, account: str | None) -> OrgLevels:
        if account is None:
            return OrgLevels()
        return self._levels.get(account, OrgLevels())

    def resource_account(self, resource: str) -> str | None:
        """The account that owns ``resource``: the ARN's account field, or the bucket owner for S3 ARNs."""
        parts = resource.split(":", 5)
        if len(parts) == 6 and _ACCOUNT_ID.fullmatch(parts[4]):
            return parts[4]
        if len(parts) == 6 and parts[2] == "s3" and not parts[4]:
            bucket = parts[5].split("/", 1)[0]
            return self._bucket_accounts.get(bucket)
        return None

    def resource_policy_for(self, resource: str, action: str) -> ResourcePolicy | None:
        """The resource-based policy AWS evaluates for ``action`` on ``resource``, if the snapshot holds one."""
        service = action.split(":", 1)[0].lower()
        parts = resource.split(":", 6)
        if len(parts) < 6:
            return None
        if service == "sts":
            return self._by_resource.get(("sts", resource))
        if service == "s3" and parts[2] == "s3":
            bucket = resource.split(":::", 1)[-1].split("/", 1)[0]
            return self._by_resource.get(("s3", f"arn:{parts[1]}:s3:::{bucket}"))
        if service == "lambda" and parts[2] == "lambda" and len(parts) == 7:
            # arn:aws:lambda:REGION:ACCT:function:NAME[:QUALIFIER] -> the function's policy
            base = ":".join(parts[:6]) + ":" + parts[6].split(":", 1)[0]
            return self._by_resource.get(("lambda", base))
        return self._by_resource.get((service, resource))

    def resource_tags(self, resource: str) -> Mapping[str, str]:
        return self._resource_tags.get(resource, {})

    # -- requests -------------------------------------------------------------------------------------------------
    def request_for(
        self,
        principal: Principal | RequestPrincipal | str | None,
        action: str,
        resource: str,
        context: Mapping[str, Any] | None = None,
        *,
        identity_override: Sequence[Policy] | None = None,
        resource_policy: ResourcePolicy | Literal["auto"] | None = "auto",
    ) -> Request:
        """A complete evaluator request: identity policies, boundary, the resource's policy and account, SCP levels
        of the principal's account, RCP levels of the resource's account, and the derived context (principal tags,
        organisation id and paths, resource account and tags) under the ``context`` given (authoritative).

        ``principal`` is a model principal, an ARN (a known user/role/session gets its policies; an unknown one,
        e.g. of an outside account, gets ``identity_override`` or none), or ``"*"``/None for anonymous.
        Raises :class:`ModelError` when a policy involved could not be compiled."""
        known: Principal | None
        if isinstance(principal, Principal):
            known, rp = principal, principal.request_principal
        elif isinstance(principal, RequestPrincipal):
            known, rp = (self.principal(principal.arn) if principal.kind != "anonymous" else None), principal
        else:
            rp = parse_principal(principal, "principal")
            known = self.principal(rp.arn) if rp.kind != "anonymous" else None
        if known is not None and known.errors:
            raise ModelError("; ".join(known.errors))
        chosen = self.resource_policy_for(resource, action) if resource_policy == "auto" else resource_policy
        if chosen is not None and chosen.policy is None:
            raise ModelError(chosen.error or f"{chosen.resource_arn}: policy not compiled")
        resource_account = self.resource_account(resource)
        if resource_account is None and resource == "*":
            resource_account = rp.account
        ctx: dict[str, ContextValue] = derived_context(rp)
        if known is not None:
            for key, value in known.tags.items():
                ctx[f"aws:principaltag/{key.lower()}"] = value
        principal_org = self.org_levels(rp.account)
        if rp.kind != "anonymous" and principal_org.org_id is not None:
            ctx["aws:principalorgid"] = principal_org.org_id
            if principal_org.org_path:
                ctx["aws:principalorgpaths"] = (principal_org.org_path,)
        resource_org = self.org_levels(resource_account)
        if resource_account is not None:
            ctx["aws:resourceaccount"] = resource_account
            if resource_org.org_id is not None:
                ctx["aws:resourceorgid"] = resource_org.org_id
                if resource_org.org_path:
                    ctx["aws:resourceorgpaths"] = (resource_org.org_path,)
        for key, value in self.resource_tags(_tagged_resource(resource, chosen)).items():
            ctx[f"aws:resourcetag/{key.lower()}"] = value
        given = normalise_context(context or {}, "context")
        ctx.update(given)
        identity: tuple[Policy, ...]
        if identity_override is not None:
            identity = tuple(identity_override)
        else:
            identity = known.identity_policies if known is not None else ()
        boundary = known.permissions_boundary if known is not None and identity_override is None else None
        return Request(
            action=action,
            resource=resource,
            resource_account=resource_account,
            principal=rp,
            context=ctx,
            identity_policies=identity,
            permissions_boundary=boundary,
            resource_policy=None if chosen is None else chosen.policy,
            scps=principal_org.scps if rp.kind != "anonymous" else None,
            rcps=resource_org.rcps,
            management_account=self.management_account,
            context_keys_given=frozenset(given),
        )


def _with_snapshot(model: AccessModel, snapshot_id: str) -> AccessModel:
    from dataclasses import replace

    return replace(model, snapshot_id=snapshot_id)


def _tagged_resource(resource: str, chosen: ResourcePolicy | None) -> str:
    return chosen.resource_arn if chosen is not None and chosen.resource_type != "AwsS3Bucket" else resource


# --- IAM principals ---------------------------------------------------------------------------------------------
def _managed_policies(docs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Policy ARN -> the default version's document (absent when it could not be read)."""
    out: dict[str, Any] = {}
    for doc in docs:
        data = doc.get("data") or {}
        default = data.get("DefaultVersionId")
        for version in data.get("PolicyVersionList") or []:
            if version.get("IsDefaultVersion") or version.get("VersionId") == default:
                out[str(doc["arn"])] = version.get("Document")
                break
    return out


def _compile_into(compiler: _Compiler, document: Any, policy_type: PolicyType, label: str,
                  errors: list[str], owner: str) -> Policy | None:
    try:
        return compiler.compile(document, policy_type, label)
    except PolicyError as exc:
        errors.append(f"{owner}: {label}: {exc}")
        return None


def _attached(item: Mapping[str, Any], managed: Mapping[str, Any], compiler: _Compiler, owner: str,
              via: str | None, errors: list[str]) -> list[tuple[Policy, PolicySource]]:
    out: list[tuple[Policy, PolicySource]] = []
    for attached in item.get("AttachedManagedPolicies") or []:
        arn = str(attached.get("PolicyArn"))
        if arn not in managed:
            errors.append(f"{owner}: managed policy {arn} is not in the snapshot (its document was not collected)")
            continue
        policy = _compile_into(compiler, managed[arn], "identity", arn, errors, owner)
        if policy is not None:
            out.append((policy, PolicySource("group-managed" if via else "managed", arn, via)))
    return out


def _inline(item: Mapping[str, Any], key: str, compiler: _Compiler, owner_arn: str, via: str | None,
            errors: list[str]) -> list[tuple[Policy, PolicySource]]:
    out: list[tuple[Policy, PolicySource]] = []
    for inline in item.get(key) or []:
        name = str(inline.get("PolicyName"))
        label = f"{owner_arn}:inline/{name}"
        policy = _compile_into(compiler, inline.get("PolicyDocument"), "identity", label, errors, owner_arn)
        if policy is not None:
            out.append((policy, PolicySource("group-inline" if via else "inline", name, via)))
    return out


def _boundary(data: Mapping[str, Any], managed: Mapping[str, Any], compiler: _Compiler, owner: str,
              errors: list[str]) -> tuple[Policy | None, str | None]:
    raw = data.get("PermissionsBoundary")
    if not raw:
        return None, None
    arn = str(raw.get("PermissionsBoundaryArn"))
    if arn not in managed:
        errors.append(f"{owner}: permissions boundary {arn} is not in the snapshot")
        return None, arn
    return _compile_into(compiler, managed[arn], "permissions_boundary", arn, errors, owner), arn


def _user(doc: Mapping[str, Any], groups: Mapping[tuple[str, str], Mapping[str, Any]], managed: Mapping[str, Any],
          compiler: _Compiler) -> Principal:
    data = doc.get("data") or {}
    arn, account = str(doc["arn"]), str(doc["account"])
    errors: list[str] = []
    found = _inline(data, "UserPolicyList", compiler, arn, None, errors)
    found += _attached(data, managed, compiler, arn, None, errors)
    names = tuple(str(g) for g in data.get("GroupList") or [])
    for group_name in names:
        group = groups.get((account, group_name))
        if group is None:
            errors.append(f"{arn}: group {group_name} is not in the snapshot")
            continue
        gdata = group.get("data") or {}
        found += _inline(gdata, "GroupPolicyList", compiler, str(group["arn"]), group_name, errors)
        found += _attached(gdata, managed, compiler, arn, group_name, errors)
    boundary, boundary_arn = _boundary(data, managed, compiler, arn, errors)
    return Principal(
        arn=arn, kind="user", account=account, name=str(data.get("UserName") or doc.get("name")),
        path=str(data.get("Path") or "/"), identity_policies=tuple(p for p, _ in found),
        sources=tuple(s for _, s in found), permissions_boundary=boundary, boundary_arn=boundary_arn,
        tags=dict(doc.get("tags") or {}), groups=names, errors=tuple(errors),
    )


def _role(doc: Mapping[str, Any], managed: Mapping[str, Any], compiler: _Compiler) -> Principal:
    data = doc.get("data") or {}
    arn, account = str(doc["arn"]), str(doc["account"])
    errors: list[str] = []
    found = _inline(data, "RolePolicyList", compiler, arn, None, errors)
    found += _attached(data, managed, compiler, arn, None, errors)
    boundary, boundary_arn = _boundary(data, managed, compiler, arn, errors)
    trust_doc = data.get("AssumeRolePolicyDocument")
    trust: Policy | None = None
    trust_errors: list[str] = []
    if isinstance(trust_doc, dict):
        trust = _compile_into(compiler, trust_doc, "resource", f"{arn}:trust", trust_errors, arn)
    path = str(data.get("Path") or "/")
    return Principal(
        arn=arn, kind="role", account=account, name=str(data.get("RoleName") or doc.get("name")), path=path,
        identity_policies=tuple(p for p, _ in found), sources=tuple(s for _, s in found),
        permissions_boundary=boundary, boundary_arn=boundary_arn, tags=dict(doc.get("tags") or {}),
        trust_policy=trust, trust_document=trust_doc if isinstance(trust_doc, dict) else None,
        service_linked=path.startswith("/aws-service-role/"), errors=tuple(errors + trust_errors),
    )


# --- resource policies ------------------------------------------------------------------------------------------
def _resource_policy(doc: Mapping[str, Any], rtype: str, call: str, service: str, noun: str,
                     compiler: _Compiler) -> ResourcePolicy | None:
    answer = (doc.get("calls") or {}).get(call)
    if not isinstance(answer, dict) or "error" in answer:
        return None
    document = answer.get("PolicyDocument")
    if document is None:
        return None
    arn = str(doc["arn"])
    name = str(doc.get("name") or arn)
    aliases = ((doc.get("calls") or {}).get("ListAliases") or {}).get("Aliases") if rtype == "AwsKmsKey" else None
    if aliases:
        name = str(aliases[0].get("AliasName") or name)  # keys are known by their alias
    errors: list[str] = []
    if not isinstance(document, dict):
        errors.append(f"{arn}: {call} policy is not a JSON object")
        policy = None
        document = {}
    else:
        policy = _compile_into(compiler, document, "resource", f"{arn}:policy", errors, arn)
    return ResourcePolicy(
        resource_arn=arn, resource_type=rtype, service=service, noun=noun, account=str(doc["account"]),
        region=str(doc.get("region") or ""), name=name, policy=policy, document=document,
        tags=dict(doc.get("tags") or {}), error=errors[0] if errors else None,
    )


# --- S3 ACLs and Block Public Access ---------------------------------------------------------------------------
_BPA_KEYS = ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")
_NOT_CONFIGURED = frozenset({"NoSuchPublicAccessBlockConfiguration"})


def _bpa(answer: Any, where: str, missing: list[str]) -> dict[str, bool]:
    if not isinstance(answer, dict):
        missing.append(f"{where} not collected")
        return {}
    if "error" in answer:
        code = str((answer.get("error") or {}).get("code"))
        if code not in _NOT_CONFIGURED:
            missing.append(f"{code} on {where}")
        return {}
    config = answer.get("PublicAccessBlockConfiguration") or {}
    return {k: bool(config.get(k)) for k in _BPA_KEYS}


def _buckets(by_type: Mapping[str, Sequence[Mapping[str, Any]]]) -> dict[str, BucketAccess]:
    account_bpa: dict[str, tuple[dict[str, bool], list[str]]] = {}
    for doc in by_type.get("AwsAccount", []):
        missing: list[str] = []
        flags = _bpa((doc.get("calls") or {}).get("GetPublicAccessBlock"), "s3control:GetPublicAccessBlock",
                     missing)
        account_bpa[str(doc["account"])] = (flags, missing)
    out: dict[str, BucketAccess] = {}
    for doc in by_type.get("AwsS3Bucket", []):
        calls = doc.get("calls") or {}
        missing = []
        flags = _bpa(calls.get("GetPublicAccessBlock"), "s3:GetPublicAccessBlock", missing)
        acct_flags, acct_missing = account_bpa.get(str(doc["account"]), ({}, ["account-level BPA not collected"]))
        missing.extend(acct_missing)
        block = {k: flags.get(k, False) or acct_flags.get(k, False) for k in _BPA_KEYS}
        acl = calls.get("GetBucketAcl")
        grants: tuple[Mapping[str, Any], ...] = ()
        if isinstance(acl, dict) and "error" not in acl:
            grants = tuple(g for g in acl.get("Grants") or [] if isinstance(g, dict))
        else:
            missing.append("s3:GetBucketAcl " + (str((acl or {}).get("error", {}).get("code"))
                                                 if isinstance(acl, dict) else "not collected"))
        arn = str(doc["arn"])
        out[arn] = BucketAccess(arn=arn, name=str(doc.get("name") or arn.split(":::", 1)[-1]),
                                account=str(doc["account"]), region=str(doc.get("region") or ""), acl_grants=grants,
                                block=block, complete=not missing, missing=tuple(missing))
    return out


# --- Organizations ----------------------------------------------------------------------------------------------
@dataclass
class _Org:
    management: str | None = None
    levels: dict[str, OrgLevels] = field(default_factory=dict)


def _organisation(by_type: Mapping[str, Sequence[Mapping[str, Any]]], compiler: _Compiler,
                  errors: list[str]) -> _Org:
    org = _Org()
    orgs = by_type.get("AwsOrganizationsOrganization", [])
    if orgs:
        org.management = str(orgs[0]["data"].get("MasterAccountId") or "") or None
    else:
        for doc in by_type.get("AwsAccount", []):
            described = (doc.get("calls") or {}).get("DescribeOrganization") or {}
            master = (described.get("Organization") or {}).get("MasterAccountId")
            if master:
                org.management = str(master)
                break
    if not orgs:
        return org  # without the management account's view, the levels cannot be rebuilt
    org_data = orgs[0]["data"]
    org_id = str(org_data.get("Id") or "")
    roots = ((orgs[0].get("calls") or {}).get("ListRoots") or {}).get("Roots") or []
    enabled = {str(t.get("Type")) for r in roots for t in r.get("PolicyTypes") or [] if t.get("Status") == "ENABLED"}
    parents: dict[str, str | None] = {str(r["Id"]): None for r in roots}
    for doc in by_type.get("AwsOrganizationsOrganizationalUnit", []):
        parents[str(doc["data"]["Id"])] = str(doc["data"].get("ParentId"))
    accounts = {str(d["data"]["Id"]): str(d["data"].get("ParentId"))
                for d in by_type.get("AwsOrganizationsAccount", [])}

    attached: dict[str, dict[str, list[Policy]]] = {"scp": {}, "rcp": {}}
    custom_attached: set[str] = set()
    kind: Literal["scp", "rcp"] | None
    for doc in by_type.get("AwsOrganizationsPolicy", []):
        data = doc.get("data") or {}
        kind = _ORG_TYPES.get(str(data.get("Type")))
        if kind is None:
            continue
        calls = doc.get("calls") or {}
        described = calls.get("DescribePolicy") or {}
        targets = (calls.get("ListTargetsForPolicy") or {}).get("Targets")
        name = str(data.get("Name") or doc.get("name"))
        if "error" in described or targets is None:
            errors.append(f"organisation policy {name}: its content or targets were not collected")
            continue
        if kind == "rcp" and name == _RCP_FULL_ACCESS:
            continue
        policy = _compile_into(compiler, described.get("PolicyDocument"), kind, f"{kind}:{name}", errors, name)
        if policy is None:
            continue
        if not data.get("AwsManaged"):
            custom_attached.add(kind)
        for target in targets:
            attached[kind].setdefault(str(target.get("TargetId")), []).append(policy)
    applies = {short: (long in enabled or short in custom_attached) for long, short in _ORG_TYPES.items()}
    for account, parent in accounts.items():
        chain: list[str] = [account]
        node: str | None = parent
        while node is not None and node not in chain:
            chain.append(node)
            node = parents.get(node)
        chain.reverse()  # root first, the account last
        path_ids = [c for c in chain if c != account]
        org_path = f"{org_id}/{'/'.join(path_ids)}/" if path_ids else None
        levels: dict[str, tuple[tuple[Policy, ...], ...] | None] = {}
        for level_kind in ("scp", "rcp"):
            levels[level_kind] = (tuple(tuple(attached[level_kind].get(level, ())) for level in chain)
                                  if applies[level_kind] else None)
        org.levels[account] = OrgLevels(scps=levels["scp"], rcps=levels["rcp"], org_id=org_id or None,
                                        org_path=org_path)
    return org
