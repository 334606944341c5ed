"""What escalation search needs beyond the access model: groups, compute that runs with a role, instance
profiles, users' credentials, and the regions to consider.

:class:`~cloudwarden.iam.snapshot.AccessModel` answers "is this request allowed" for every principal of a snapshot;
privilege-escalation techniques also depend on *things*: a group an actor can edit and who is in it, a Lambda
function whose code an actor can replace and the role it runs as, whether a role has an instance profile (EC2 can
only be given a role through one), whether a user already has two access keys or a console password. This module
reads those facts from the same snapshot documents (``notes/snapshot_contract.md``) into an
:class:`EscalationModel`, which is what :func:`cloudwarden.iam.paths.find_paths` takes.

Compute the inventory does not collect (CodeBuild projects, CloudFormation stacks, Glue, SageMaker, App Runner,
ECS, Bedrock AgentCore) can be supplied as :class:`Workload` objects; techniques that need an existing workload of
a kind nobody supplied simply find no edge.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cloudwarden.iam.model import Policy
from cloudwarden.iam.parse import PolicyError, parse_policy
from cloudwarden.iam.snapshot import AccessModel

__all__ = [
    "WORKLOAD_KINDS",
    "EscalationModel",
    "Group",
    "Workload",
    "model_from_documents",
    "model_from_store",
]

WORKLOAD_KINDS: frozenset[str] = frozenset(
    {
        "apprunner-service", "bedrock-code-interpreter", "cloudformation-stack", "cloudformation-stackset",
        "codebuild-project", "ec2-instance", "ec2-launch-template", "ecs-cluster", "glue-dev-endpoint", "glue-job",
        "lambda-function", "sagemaker-notebook",
    }
)
DEFAULT_REGIONS: tuple[str, ...] = ("us-east-1",)


@dataclass(frozen=True, slots=True)
class Workload:
    """Existing compute: its kind (one of :data:`WORKLOAD_KINDS`), ARN, region and the role it runs as (None for
    a workload without one, such as an ECS cluster that tasks are started in)."""

    kind: str
    arn: str
    region: str
    role_arn: str | None = None

    @property
    def account(self) -> str:
        parts = self.arn.split(":", 5)
        return parts[4] if len(parts) == 6 else ""


@dataclass(frozen=True, slots=True)
class Group:
    """An IAM group: its compiled policies (inline and attached) and its members' ARNs."""

    arn: str
    account: str
    name: str
    policies: tuple[Policy, ...]
    members: tuple[str, ...]


@dataclass(frozen=True)
class EscalationModel:
    """An access model plus the facts escalation techniques depend on.

    ``instance_profile_roles``: roles that have an instance profile (None: unknown, every role is assumed to have
    one). ``access_keys`` / ``login_profiles``: per user ARN; a user absent from them is unknown, which does not
    rule a technique out. ``context``: extra request context for every request (e.g. ``aws:SourceIp``), given as
    the contract's case context is."""

    access: AccessModel
    groups: tuple[Group, ...] = ()
    workloads: tuple[Workload, ...] = ()
    instance_profile_roles: frozenset[str] | None = None
    access_keys: Mapping[str, int] = field(default_factory=dict)
    login_profiles: Mapping[str, bool] = field(default_factory=dict)
    regions: tuple[str, ...] = DEFAULT_REGIONS
    context: Mapping[str, Any] = field(default_factory=dict)


def model_from_store(store: Any, snapshot_id: str | None = None, *, workloads: Sequence[Workload] = (),
                     context: Mapping[str, Any] | None = None) -> EscalationModel:
    """The escalation model of a stored snapshot (default: the latest). Raises BadInputError without one."""
    from cloudwarden.store import resources as snapshots

    access = AccessModel.from_store(store, snapshot_id)
    docs = snapshots.resources(store, access.snapshot_id)
    return model_from_documents(docs, access=access, workloads=workloads, context=context)


def model_from_documents(documents: Iterable[Mapping[str, Any]], *, access: AccessModel | None = None,
                         workloads: Sequence[Workload] = (), regions: Sequence[str] | None = None,
                         context: Mapping[str, Any] | None = None) -> EscalationModel:
    """The escalation model of snapshot documents; ``workloads`` adds compute the inventory does not collect."""
    docs = list(documents)
    if access is None:
        access = AccessModel.from_documents(docs)
    by_type: dict[str, list[Mapping[str, Any]]] = {}
    for doc in docs:
        by_type.setdefault(str(doc.get("type")), []).append(doc)

    profiles: dict[str, str] = {}  # instance profile ARN -> role ARN
    profile_roles: set[str] = set()
    for doc in by_type.get("AwsIamRole", []):
        for profile in (doc.get("data") or {}).get("InstanceProfileList") or []:
            if profile.get("Arn"):
                profiles[str(profile["Arn"])] = str(doc["arn"])
                profile_roles.add(str(doc["arn"]))

    found: list[Workload] = list(workloads)
    for doc in by_type.get("AwsLambdaFunction", []):
        role = (doc.get("data") or {}).get("Role")
        found.append(Workload("lambda-function", str(doc["arn"]), str(doc.get("region") or ""),
                              str(role) if role else None))
    for doc in by_type.get("AwsEc2Instance", []):
        profile = ((doc.get("data") or {}).get("IamInstanceProfile") or {}).get("Arn")
        found.append(Workload("ec2-instance", str(doc["arn"]), str(doc.get("region") or ""),
                              profiles.get(str(profile)) if profile else None))
    for doc in by_type.get("AwsEc2LaunchTemplate", []):
        found.append(Workload("ec2-launch-template", str(doc["arn"]), str(doc.get("region") or ""),
                              _template_role(doc, profiles)))

    members: dict[tuple[str, str], list[str]] = {}
    keys: dict[str, int] = {}
    logins: dict[str, bool] = {}
    for doc in by_type.get("AwsIamUser", []):
        data = doc.get("data") or {}
        for group in data.get("GroupList") or []:
            members.setdefault((str(doc["account"]), str(group)), []).append(str(doc["arn"]))
        calls = doc.get("calls") or {}
        listed = calls.get("ListAccessKeys")
        if isinstance(listed, dict) and "error" not in listed:
            keys[str(doc["arn"])] = len(listed.get("AccessKeyMetadata") or [])
        login = calls.get("GetLoginProfile")
        if isinstance(login, dict):
            error = login.get("error")
            if error is None:
                logins[str(doc["arn"])] = True
            elif isinstance(error, dict) and error.get("code") == "NoSuchEntity":
                logins[str(doc["arn"])] = False

    managed = _managed_documents(by_type.get("AwsIamPolicy", []))
    groups = tuple(_group(doc, members, managed) for doc in by_type.get("AwsIamGroup", []))
    region_set = list(regions) if regions else sorted(
        {str(d.get("region")) for t in ("AwsAccountRegion", "AwsLambdaFunction", "AwsEc2Instance")
         for d in by_type.get(t, []) if d.get("region")}
    )
    return EscalationModel(
        access=access,
        groups=tuple(g for g in groups if g is not None),
        workloads=tuple(found),
        instance_profile_roles=frozenset(profile_roles) if by_type.get("AwsIamRole") else None,
        access_keys=keys,
        login_profiles=logins,
        regions=tuple(region_set) or DEFAULT_REGIONS,
        context=dict(context or {}),
    )


def _template_role(doc: Mapping[str, Any], profiles: Mapping[str, str]) -> str | None:
    data = doc.get("data") or {}
    version = data.get("LatestVersion") or data.get("LaunchTemplateVersion") or {}
    profile = ((version.get("LaunchTemplateData") or {}).get("IamInstanceProfile") or {})
    arn = profile.get("Arn")
    if arn:
        return profiles.get(str(arn))
    name = profile.get("Name")
    if name:
        for profile_arn, role in profiles.items():
            if profile_arn.rsplit("/", 1)[-1] == name:
                return role
    return None


def _managed_documents(docs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Managed policy ARN -> the default version's document."""
    out: dict[str, Any] = {}
    for doc in docs:
        data = doc.get("data") or {}
        for version in data.get("PolicyVersionList") or []:
            if version.get("IsDefaultVersion") or version.get("VersionId") == data.get("DefaultVersionId"):
                out[str(doc["arn"])] = version.get("Document")
                break
    return out


def _group(doc: Mapping[str, Any], members: Mapping[tuple[str, str], list[str]],
           managed: Mapping[str, Any]) -> Group | None:
    """A group with its policies compiled; None when one of them cannot be (its members report that error)."""
    data = doc.get("data") or {}
    arn, account = str(doc["arn"]), str(doc["account"])
    name = str(data.get("GroupName") or doc.get("name"))
    policies: list[Policy] = []
    try:
        for inline in data.get("GroupPolicyList") or []:
            policies.append(parse_policy(inline.get("PolicyDocument"), "identity",
                                         f"{arn}:inline/{inline.get('PolicyName')}"))
        for attached in data.get("AttachedManagedPolicies") or []:
            policy_arn = str(attached.get("PolicyArn"))
            if policy_arn not in managed:
                return None
            policies.append(parse_policy(managed[policy_arn], "identity", policy_arn))
    except PolicyError:
        return None
    return Group(arn=arn, account=account, name=name, policies=tuple(policies),
                 members=tuple(members.get((account, name), ())))
