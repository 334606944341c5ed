"""root-usage: the management account's root user signs in and makes API calls.

The root user should be used for nothing but the few tasks that need it. Here it signs in to the
console from ``ATTACKER_IP_2`` without MFA, then its access keys (the lab's default credentials) are
used from the same address with the AWS CLI: account and organisation discovery, and a new access key
for root.
"""

from __future__ import annotations

from cloudwarden.lab import demo_org as org
from cloudwarden.lab.scenarios.base import BROWSER_USER_AGENT, Scenario, ScenarioContext, tolerate

CLI_USER_AGENT = (
    "aws-cli/2.15.30 Python/3.11.8 Linux/6.5.0-21-generic exe/x86_64.ubuntu.22 prompt/off command/{command}"
)


def run(ctx: ScenarioContext) -> None:
    ctx.console_login("management", "root", mfa_used=False, success=True, source_ip=org.ATTACKER_IP_2,
                      user_agent=BROWSER_USER_AGENT)
    root = ctx.root(source_ip=org.ATTACKER_IP_2, user_agent=CLI_USER_AGENT)
    root.client("sts").get_caller_identity()
    iam = root.client("iam")
    iam.get_account_summary()
    iam.list_users()
    tolerate(lambda: iam.get_account_password_policy(), "NoSuchEntity")
    organizations = root.client("organizations")
    organizations.describe_organization()
    organizations.list_accounts()
    root.client("s3").list_buckets()
    root.client("ec2").describe_regions()


SCENARIO = Scenario(
    name="root-usage",
    title="Management account root user used",
    description=(
        f"ConsoleLogin as the management account's root user from {org.ATTACKER_IP_2} without MFA, then root's "
        "access key (the lab's default credentials) from the same address with the AWS CLI: GetCallerIdentity, "
        "GetAccountSummary, ListUsers, GetAccountPasswordPolicy, DescribeOrganization, ListAccounts, ListBuckets, "
        "DescribeRegions."
    ),
    mitre=("T1078.004",),
    finding_types=(
        "Policy:IAMUser/RootCredentialUsage",
        "UnauthorizedAccess:IAMUser/ConsoleLoginSuccess.B",
    ),
    run=run,
)
