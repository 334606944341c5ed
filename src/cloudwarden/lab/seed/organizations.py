"""The organisation itself: OUs, service control policies, member accounts and the way into them.

The management account (the lab's default credentials) creates the organisation, the OUs
``Workloads/Prod``, ``Workloads/Dev`` and ``Security``, two SCPs next to ``FullAWSAccess``, and the
prod and dev accounts with their fixed ids. Members are then reached as a real organisation admin
reaches them: ``sts:AssumeRole`` into ``OrganizationAccountAccessRole``, whose temporary credentials
moto maps to the member account.
"""

from __future__ import annotations

import json
from typing import Any

import boto3
from botocore.exceptions import ClientError

from cloudwarden.aws.session import with_shared_models
from cloudwarden.core.errors import RuntimeFailure
from cloudwarden.lab import demo_org as org
from cloudwarden.lab.seed.context import SeedAccount, SeedContext, management_session, tags
from cloudwarden.lab.seed.moto_backends import fixed_account_id

ADMIN_POLICY_ARN = "arn:aws:iam::aws:policy/AdministratorAccess"

_DENY_LEAVE = {
    "Version": "2012-10-17",
    "Statement": [
        {"Sid": "DenyLeaveOrganization", "Effect": "Deny", "Action": "organizations:LeaveOrganization", "Resource": "*"}
    ],
}

_PROTECT_SECURITY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "ProtectCloudTrail",
            "Effect": "Deny",
            "Action": [
                "cloudtrail:StopLogging",
                "cloudtrail:DeleteTrail",
                "cloudtrail:UpdateTrail",
                "cloudtrail:PutEventSelectors",
            ],
            "Resource": "*",
            "Condition": {"ArnNotLike": {"aws:PrincipalArn": f"arn:aws:iam::*:role/{org.ROLE_BREAK_GLASS}"}},
        },
        {
            "Sid": "ProtectGuardDuty",
            "Effect": "Deny",
            "Action": [
                "guardduty:DeleteDetector",
                "guardduty:UpdateDetector",
                "guardduty:DisassociateFromMasterAccount",
                "guardduty:DisassociateFromAdministratorAccount",
                "guardduty:StopMonitoringMembers",
            ],
            "Resource": "*",
            "Condition": {"ArnNotLike": {"aws:PrincipalArn": f"arn:aws:iam::*:role/{org.ROLE_BREAK_GLASS}"}},
        },
    ],
}


def seed_organization(ctx: SeedContext) -> None:
    """Create the organisation, its OUs, SCPs and member accounts; fill ``ctx.accounts``."""
    management = SeedAccount("management", org.MANAGEMENT, ctx.endpoint_url, management_session())
    ctx.accounts["management"] = management
    client = management.client("organizations")
    try:
        created = client.create_organization(FeatureSet="ALL")["Organization"]
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "AlreadyInOrganizationException":
            raise RuntimeFailure(
                "the lab already holds an organisation: seed an empty lab (`cloudwarden lab down`, then up)"
            ) from None
        raise
    if created["MasterAccountId"] != org.MANAGEMENT:
        raise RuntimeFailure(
            f"the lab's default credentials act in account {created['MasterAccountId']}, not {org.MANAGEMENT}"
        )
    ctx.organization_id = created["Id"]
    root_id = client.list_roots()["Roots"][0]["Id"]
    ctx.record("management", "org", "root", root_id)
    _enable_scps(client, root_id)

    workloads = _create_ou(ctx, client, root_id, org.OU_WORKLOADS)
    ou_for = {
        "prod": _create_ou(ctx, client, workloads, org.OU_PROD),
        "dev": _create_ou(ctx, client, workloads, org.OU_DEV),
    }
    _create_ou(ctx, client, root_id, org.OU_SECURITY)

    deny_leave = _create_scp(ctx, client, org.SCP_DENY_LEAVE_ORG, "Members may not leave the organisation", _DENY_LEAVE)
    client.attach_policy(PolicyId=deny_leave, TargetId=root_id)
    protect = _create_scp(
        ctx, client, org.SCP_PROTECT_SECURITY, "Only break-glass may stop CloudTrail or GuardDuty", _PROTECT_SECURITY
    )
    client.attach_policy(PolicyId=protect, TargetId=workloads)

    for alias, account_id in org.MEMBER_ACCOUNTS.items():
        _create_member(ctx, client, alias, account_id, ou_for[alias])


def _enable_scps(client: Any, root_id: str) -> None:
    try:
        client.enable_policy_type(RootId=root_id, PolicyType="SERVICE_CONTROL_POLICY")
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "PolicyTypeAlreadyEnabledException":
            raise


def _create_ou(ctx: SeedContext, client: Any, parent_id: str, name: str) -> str:
    ou_id: str = client.create_organizational_unit(
        ParentId=parent_id, Name=name, Tags=tags("shared", "platform-team", "CC-1000")
    )["OrganizationalUnit"]["Id"]
    ctx.record("management", "ou", name, ou_id)
    return ou_id


def _create_scp(ctx: SeedContext, client: Any, name: str, description: str, document: dict[str, Any]) -> str:
    policy_id: str = client.create_policy(
        Name=name, Description=description, Type="SERVICE_CONTROL_POLICY", Content=json.dumps(document)
    )["Policy"]["PolicySummary"]["Id"]
    ctx.record("management", "scp", name, policy_id)
    return policy_id


def _create_member(ctx: SeedContext, client: Any, alias: str, account_id: str, ou_id: str) -> None:
    with fixed_account_id(account_id):
        status = client.create_account(
            AccountName=f"{org.ORG_NAME}-{alias}",
            Email=f"aws+{alias}@cloudwarden-demo.example.com",
            RoleName=org.MEMBER_ACCESS_ROLE,
            Tags=tags(alias, "platform-team", "CC-1000"),
        )["CreateAccountStatus"]
    if status.get("AccountId") != account_id:
        raise RuntimeFailure(
            f"the lab gave the {alias} account id {status.get('AccountId')}, not {account_id}: "
            "seeding needs the lab's moto server running in this process"
        )
    root_id = ctx.resources["management/org/root"]
    client.move_account(AccountId=account_id, SourceParentId=root_id, DestinationParentId=ou_id)

    sts = ctx.account("management").client("sts")
    creds = sts.assume_role(
        RoleArn=f"arn:aws:iam::{account_id}:role/{org.MEMBER_ACCESS_ROLE}", RoleSessionName="cloudwarden-seed"
    )["Credentials"]
    session = with_shared_models(boto3.session.Session(
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
        region_name=org.HOME_REGION,
    ))
    member = SeedAccount(alias, account_id, ctx.endpoint_url, session)
    caller = member.client("sts").get_caller_identity()["Account"]
    if caller != account_id:
        raise RuntimeFailure(f"assuming {org.MEMBER_ACCESS_ROLE} in {account_id} acted in {caller} instead")
    ctx.accounts[alias] = member
    # Organizations gives the role AdministratorAccess when it creates an account; moto only creates it.
    try:
        member.client("iam").attach_role_policy(RoleName=org.MEMBER_ACCESS_ROLE, PolicyArn=ADMIN_POLICY_ARN)
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "NoSuchEntity":
            raise RuntimeFailure(
                "the lab has no AWS managed IAM policies: start its moto server with "
                "MOTO_IAM_LOAD_MANAGED_POLICIES=true"
            ) from None
        raise
