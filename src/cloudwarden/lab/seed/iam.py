"""IAM in every account: users, keys, MFA, groups, roles, policies and password policies.

What is deliberately weak (see ``docs/demo-org.md``): bob has a console password without MFA and a
400-day-old key; ci-deployer has two active keys; legacy-admin has an inline ``*:*`` policy and a
key unused for 200 days; ops-admin has AdministratorAccess attached directly; svc-reporting's key
was never used; ``cross-account-any`` trusts ``*`` and ``vendor-audit`` trusts an outside account
without an ExternalId; ``deploy-permissions`` lets ci-deploy rewrite itself and pass any role; the
prod password policy is weak and dev has none. alice (group permissions, MFA, fresh key) and the
management account's policy are the well-configured counterparts.

The dates that make keys old or unused have no API, so they are set in the lab's backend
(:mod:`cloudwarden.lab.seed.moto_backends`) once the users exist.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from cloudwarden.lab import demo_org as org
from cloudwarden.lab.seed import moto_backends
from cloudwarden.lab.seed.context import SeedAccount, SeedContext, fake_secret, tags
from cloudwarden.lab.seed.result import AccessKeyPair

AWS_POLICY = "arn:aws:iam::aws:policy/"


@dataclass(frozen=True)
class KeySpec:
    """An access key: how many days ago it was created and last used (``None``: never)."""

    created_days: int
    last_used_days: int | None


@dataclass(frozen=True)
class UserSpec:
    name: str
    created_days: int
    owner: str
    console: bool = False
    mfa: bool = False
    password_used_days: int | None = None
    groups: tuple[str, ...] = ()
    keys: tuple[KeySpec, ...] = ()
    attached: tuple[str, ...] = ()
    inline: dict[str, dict[str, Any]] = field(default_factory=dict)


def _doc(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def _allow(action: str | list[str], resource: str | list[str] = "*", sid: str | None = None) -> dict[str, Any]:
    statement: dict[str, Any] = {"Effect": "Allow", "Action": action, "Resource": resource}
    if sid:
        statement = {"Sid": sid, **statement}
    return statement


def _trust(principal: dict[str, Any], condition: dict[str, Any] | None = None) -> dict[str, Any]:
    statement: dict[str, Any] = {"Effect": "Allow", "Principal": principal, "Action": "sts:AssumeRole"}
    if condition:
        statement["Condition"] = condition
    return _doc(statement)


def _prod_users() -> tuple[UserSpec, ...]:
    ci_role = f"arn:aws:iam::{org.PROD}:role/{org.ROLE_CI_DEPLOY}"
    return (
        UserSpec(
            org.USER_ALICE,
            420,
            "web-team",
            console=True,
            mfa=True,
            password_used_days=1,
            groups=(org.GROUP_DEVELOPERS,),
            keys=(KeySpec(20, 1),),
        ),
        UserSpec(
            org.USER_BOB,
            700,
            "web-team",
            console=True,
            password_used_days=9,
            groups=(org.GROUP_DEVELOPERS,),
            keys=(KeySpec(400, 3),),
        ),
        UserSpec(
            org.USER_CI,
            300,
            "platform-team",
            keys=(KeySpec(60, 1), KeySpec(7, 2)),
            inline={"assume-ci-deploy": _doc(_allow("sts:AssumeRole", ci_role))},
        ),
        UserSpec(
            org.USER_LEGACY_ADMIN,
            900,
            "platform-team",
            keys=(KeySpec(500, 200),),
            inline={"legacy-full-access": _doc(_allow("*", "*", sid="FullAccess"))},
        ),
        UserSpec(
            org.USER_OPS_ADMIN,
            500,
            "platform-team",
            console=True,
            mfa=True,
            password_used_days=2,
            keys=(KeySpec(30, 2),),
            attached=(AWS_POLICY + "AdministratorAccess",),
        ),
        UserSpec(
            org.USER_REPORTING,
            120,
            "data-team",
            keys=(KeySpec(120, None),),
            inline={
                "read-data-lake": _doc(
                    _allow(
                        ["s3:GetObject", "s3:ListBucket"],
                        [f"arn:aws:s3:::{org.BUCKET_DATA}", f"arn:aws:s3:::{org.BUCKET_DATA}/*"],
                    )
                )
            },
        ),
    )


def _dev_users() -> tuple[UserSpec, ...]:
    return (
        UserSpec(
            org.USER_ALICE,
            380,
            "web-team",
            console=True,
            mfa=True,
            password_used_days=4,
            groups=(org.GROUP_DEVELOPERS,),
            keys=(KeySpec(15, 4),),
        ),
        UserSpec(
            org.USER_BOB,
            650,
            "web-team",
            console=True,
            password_used_days=30,
            groups=(org.GROUP_DEVELOPERS,),
            keys=(KeySpec(200, 30),),
        ),
    )


def seed_iam(ctx: SeedContext) -> None:
    """IAM for the management, prod and dev accounts."""
    _seed_management(ctx, ctx.account("management"))
    _seed_prod(ctx, ctx.account("prod"))
    _seed_dev(ctx, ctx.account("dev"))


def _seed_management(ctx: SeedContext, acct: SeedAccount) -> None:
    iam = acct.client("iam")
    _break_glass_role(iam, "management")
    _support_role(iam, acct, "management")
    iam.update_account_password_policy(
        MinimumPasswordLength=14,
        RequireSymbols=True,
        RequireNumbers=True,
        RequireUppercaseCharacters=True,
        RequireLowercaseCharacters=True,
        AllowUsersToChangePassword=True,
        MaxPasswordAge=90,
        PasswordReusePrevention=24,
    )


def _seed_prod(ctx: SeedContext, acct: SeedAccount) -> None:
    iam = acct.client("iam")
    env = "prod"
    iam.create_group(GroupName=org.GROUP_DEVELOPERS)
    iam.attach_group_policy(GroupName=org.GROUP_DEVELOPERS, PolicyArn=AWS_POLICY + "ReadOnlyAccess")
    iam.put_group_policy(
        GroupName=org.GROUP_DEVELOPERS,
        PolicyName="web-deploy",
        PolicyDocument=json.dumps(
            _doc(_allow(["s3:PutObject", "s3:GetObject"], f"arn:aws:s3:::{org.BUCKET_PUBLIC_ACL}/*"))
        ),
    )

    deploy_policy_arn = iam.create_policy(
        PolicyName=org.POLICY_DEPLOY,
        Description="What the CI pipeline needs to ship the web tier",
        PolicyDocument=json.dumps(
            _doc(
                _allow("lambda:*", "*", sid="DeployFunctions"),
                _allow("iam:PassRole", "*", sid="PassRoles"),
                _allow(["s3:GetObject", "s3:PutObject"], "arn:aws:s3:::prod-*/*", sid="Artifacts"),
                _allow(
                    ["iam:CreatePolicyVersion", "iam:SetDefaultPolicyVersion"],
                    f"arn:aws:iam::{org.PROD}:policy/{org.POLICY_DEPLOY}",
                    sid="SelfUpdate",
                ),
            )
        ),
        Tags=tags(env, "platform-team", "CC-2100"),
    )["Policy"]["Arn"]
    ctx.record("prod", "policy", org.POLICY_DEPLOY, deploy_policy_arn)

    _role(
        ctx,
        iam,
        "prod",
        org.ROLE_CI_DEPLOY,
        _trust({"AWS": f"arn:aws:iam::{org.PROD}:user/{org.USER_CI}"}),
        [deploy_policy_arn],
        "Assumed by the CI pipeline to deploy",
        "platform-team",
    )
    _role(
        ctx,
        iam,
        "prod",
        org.ROLE_APP_INSTANCE,
        _trust({"Service": "ec2.amazonaws.com"}),
        [AWS_POLICY + "AmazonSSMManagedInstanceCore"],
        "Web and worker instances",
        "web-team",
        inline={
            "read-data-lake": _doc(
                _allow(
                    ["s3:GetObject", "s3:ListBucket"],
                    [f"arn:aws:s3:::{org.BUCKET_DATA}", f"arn:aws:s3:::{org.BUCKET_DATA}/*"],
                )
            )
        },
    )
    iam.create_instance_profile(InstanceProfileName=org.ROLE_APP_INSTANCE)
    iam.add_role_to_instance_profile(InstanceProfileName=org.ROLE_APP_INSTANCE, RoleName=org.ROLE_APP_INSTANCE)
    _role(
        ctx,
        iam,
        "prod",
        org.ROLE_TRUST_ANY,
        _trust({"AWS": "*"}),
        [AWS_POLICY + "ReadOnlyAccess"],
        "Cross-account read access for partner tooling",
        "platform-team",
    )
    _role(
        ctx,
        iam,
        "prod",
        org.ROLE_VENDOR,
        _trust({"AWS": f"arn:aws:iam::{org.EXTERNAL_ACCOUNT}:root"}),
        [AWS_POLICY + "SecurityAudit"],
        "Third-party audit vendor",
        "security-team",
    )
    _role(
        ctx,
        iam,
        "prod",
        org.ROLE_LAMBDA_WEBHOOK,
        _trust({"Service": "lambda.amazonaws.com"}),
        [AWS_POLICY + "service-role/AWSLambdaBasicExecutionRole"],
        "Webhook handler function",
        "payments-team",
    )
    _break_glass_role(iam, "prod")
    _support_role(iam, acct, "prod")

    for spec in _prod_users():
        _user(ctx, acct, spec, env)
    iam.update_account_password_policy(
        MinimumPasswordLength=8,
        RequireSymbols=False,
        RequireNumbers=True,
        RequireUppercaseCharacters=True,
        RequireLowercaseCharacters=True,
        AllowUsersToChangePassword=True,
    )


def _seed_dev(ctx: SeedContext, acct: SeedAccount) -> None:
    iam = acct.client("iam")
    iam.create_group(GroupName=org.GROUP_DEVELOPERS)
    iam.attach_group_policy(GroupName=org.GROUP_DEVELOPERS, PolicyArn=AWS_POLICY + "PowerUserAccess")
    _break_glass_role(iam, "dev")
    for spec in _dev_users():
        _user(ctx, acct, spec, "dev")
    # No password policy at all in dev: deliberately.


def _role(
    ctx: SeedContext,
    iam: Any,
    alias: str,
    name: str,
    trust: dict[str, Any],
    attached: list[str],
    description: str,
    owner: str,
    inline: dict[str, dict[str, Any]] | None = None,
) -> None:
    arn = iam.create_role(
        RoleName=name,
        AssumeRolePolicyDocument=json.dumps(trust),
        Description=description,
        Tags=tags(alias, owner, "CC-2100"),
    )["Role"]["Arn"]
    for policy_arn in attached:
        iam.attach_role_policy(RoleName=name, PolicyArn=policy_arn)
    for policy_name, document in (inline or {}).items():
        iam.put_role_policy(RoleName=name, PolicyName=policy_name, PolicyDocument=json.dumps(document))
    ctx.record(alias, "role", name, arn)


def _break_glass_role(iam: Any, alias: str) -> None:
    """Emergency admin, assumable from the management account with MFA only; exempt from the SCPs."""
    trust = _trust({"AWS": f"arn:aws:iam::{org.MANAGEMENT}:root"}, {"Bool": {"aws:MultiFactorAuthPresent": "true"}})
    iam.create_role(
        RoleName=org.ROLE_BREAK_GLASS,
        AssumeRolePolicyDocument=json.dumps(trust),
        Description="Emergency access; every use is reviewed",
        MaxSessionDuration=3600,
        Tags=tags(alias, "security-team", "CC-1000"),
    )
    iam.attach_role_policy(RoleName=org.ROLE_BREAK_GLASS, PolicyArn=AWS_POLICY + "AdministratorAccess")


def _support_role(iam: Any, acct: SeedAccount, alias: str) -> None:
    trust = _trust({"AWS": f"arn:aws:iam::{acct.account_id}:root"})
    iam.create_role(
        RoleName=org.ROLE_SUPPORT,
        AssumeRolePolicyDocument=json.dumps(trust),
        Description="Opens and manages AWS Support cases",
        Tags=tags(alias, "ops-team", "CC-1000"),
    )
    iam.attach_role_policy(RoleName=org.ROLE_SUPPORT, PolicyArn=AWS_POLICY + "AWSSupportAccess")


def _user(ctx: SeedContext, acct: SeedAccount, spec: UserSpec, env: str) -> None:
    iam = acct.client("iam")
    iam.create_user(UserName=spec.name, Tags=tags(env, spec.owner, "CC-2100"))
    ctx.record(acct.alias, "user", spec.name, f"arn:aws:iam::{acct.account_id}:user/{spec.name}")
    for group in spec.groups:
        iam.add_user_to_group(GroupName=group, UserName=spec.name)
    for policy_arn in spec.attached:
        iam.attach_user_policy(UserName=spec.name, PolicyArn=policy_arn)
    for policy_name, document in spec.inline.items():
        iam.put_user_policy(UserName=spec.name, PolicyName=policy_name, PolicyDocument=json.dumps(document))
    if spec.console:
        password = fake_secret(f"{acct.alias}/{spec.name}/console", 14) + "#7a"
        iam.create_login_profile(UserName=spec.name, Password=password, PasswordResetRequired=False)
    if spec.mfa:
        serial = iam.create_virtual_mfa_device(VirtualMFADeviceName=spec.name)["VirtualMFADevice"]["SerialNumber"]
        iam.enable_mfa_device(
            UserName=spec.name, SerialNumber=serial, AuthenticationCode1="123456", AuthenticationCode2="654321"
        )
    moto_backends.backdate_user(
        acct.account_id,
        spec.name,
        created=ctx.days_ago(spec.created_days),
        password_last_used=None if spec.password_used_days is None else ctx.days_ago(spec.password_used_days),
    )
    if spec.mfa:
        moto_backends.backdate_mfa_device(acct.account_id, spec.name, enabled=ctx.days_ago(spec.created_days - 1))
    for index, key_spec in enumerate(spec.keys, start=1):
        key = iam.create_access_key(UserName=spec.name)["AccessKey"]
        label = f"{acct.alias}/{spec.name}" + ("" if index == 1 else f"#{index}")
        ctx.credentials[label] = AccessKeyPair(
            access_key_id=key["AccessKeyId"], secret_access_key=key["SecretAccessKey"]
        )
        moto_backends.backdate_access_key(
            acct.account_id,
            spec.name,
            key["AccessKeyId"],
            created=ctx.days_ago(key_spec.created_days),
            last_used=None if key_spec.last_used_days is None else ctx.days_ago(key_spec.last_used_days),
        )
