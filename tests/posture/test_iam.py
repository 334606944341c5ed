"""IAM controls (iam.py, iam_users.py): PASS, FAIL and NOT_AVAILABLE per control."""

from __future__ import annotations

import pytest

from cloudwarden.posture.evaluate import evaluate
from cloudwarden.posture.registry import controls
from tests.posture import docs as d
from tests.posture.cases import Case, check, covered

ADMIN = d.statement("*", "*")
ADMIN_ARN = "arn:aws:iam::aws:policy/AdministratorAccess"
SUPPORT_ARN = "arn:aws:iam::aws:policy/AWSSupportAccess"
WEAK_POLICY = {"PasswordPolicy": {"MinimumPasswordLength": 8, "RequireSymbols": False, "RequireNumbers": True,
                                  "RequireUppercaseCharacters": True, "RequireLowercaseCharacters": True,
                                  "PasswordReusePrevention": 0}}
NO_POLICY = d.error("NoSuchEntity", "The Password Policy with domain name 222222222222 cannot be found.")
ANY_TRUST = d.policy_doc({"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"})
ORG_TRUST = d.policy_doc({"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole",
                          "Condition": {"StringEquals": {"aws:PrincipalOrgID": "o-abc123"}}})
VENDOR = d.policy_doc({"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::999988887777:root"},
                       "Action": "sts:AssumeRole"})
VENDOR_EXT = d.policy_doc({"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::999988887777:root"},
                           "Action": "sts:AssumeRole", "Condition": {"StringEquals": {"sts:ExternalId": "x-1"}}})


def summary(mfa: int = 1, keys: int = 0) -> dict[str, object]:
    return {"SummaryMap": {"AccountMFAEnabled": mfa, "AccountAccessKeysPresent": keys}}


CASES = [
    Case("IAM.4", lambda: d.account(), "PASSED"),
    Case("IAM.4", lambda: d.account(GetAccountSummary=summary(keys=1)), "FAILED", "has an access key"),
    Case("IAM.4", lambda: d.account(GetAccountSummary=d.error()), "NOT_AVAILABLE",
         "AccessDenied on iam:GetAccountSummary"),
    Case("IAM.9", lambda: d.account(), "PASSED"),
    Case("IAM.9", lambda: d.account(GetAccountSummary=summary(mfa=0)), "FAILED", "no MFA"),
    Case("IAM.9", lambda: d.with_(d.account(), drop_calls=("GetAccountSummary",)), "NOT_AVAILABLE", "not collected"),
    Case("IAM.6", lambda: d.account(), "PASSED", "hardware"),
    Case("IAM.6", lambda: d.account(ListVirtualMFADevices={"VirtualMFADevices": [
        {"SerialNumber": "arn:aws:iam::222222222222:mfa/root-account-mfa-device",
         "User": {"Arn": "arn:aws:iam::222222222222:root"}}]}), "FAILED", "virtual MFA"),
    Case("IAM.6", lambda: d.account(ListVirtualMFADevices=d.error()), "NOT_AVAILABLE"),
    Case("CW.IAM.5", lambda: d.account(), "PASSED"),
    Case("CW.IAM.5", lambda: d.account(GetCredentialReport={"rows": [
        {"user": "<root_account>", "password_last_used": d.ago(3), "access_key_1_last_used_date": "N/A"}]}),
         "FAILED", "was used on"),
    Case("CW.IAM.5", lambda: d.account(GetCredentialReport={"rows": []}), "NOT_AVAILABLE", "no root row"),
    Case("IAM.7", lambda: d.account(), "PASSED"),
    Case("IAM.7", lambda: d.account(GetAccountPasswordPolicy=WEAK_POLICY), "FAILED", "symbols"),
    Case("IAM.7", lambda: d.account(GetAccountPasswordPolicy=NO_POLICY), "FAILED", "no password policy"),
    Case("IAM.7", lambda: d.account(GetAccountPasswordPolicy=d.error()), "NOT_AVAILABLE"),
    Case("IAM.15", lambda: d.account(), "PASSED"),
    Case("IAM.15", lambda: d.account(GetAccountPasswordPolicy=WEAK_POLICY), "FAILED", "only 8"),
    Case("IAM.15", lambda: d.account(GetAccountPasswordPolicy=d.error("Throttling")), "NOT_AVAILABLE", "Throttling"),
    Case("IAM.16", lambda: d.account(), "PASSED"),
    Case("IAM.16", lambda: d.account(GetAccountPasswordPolicy=WEAK_POLICY), "FAILED", "24 needed"),
    Case("IAM.16", lambda: d.account(GetAccountPasswordPolicy=d.error()), "NOT_AVAILABLE"),
    # policies
    Case("IAM.1", lambda: d.managed_policy("ok", d.policy_doc(d.statement("s3:*"))), "PASSED"),
    Case("IAM.1", lambda: d.managed_policy("admin", d.policy_doc(ADMIN)), "FAILED", "allows * on *"),
    Case("IAM.1", lambda: d.managed_policy("AdministratorAccess", d.policy_doc(ADMIN), aws=True), None),
    Case("IAM.1", lambda: d.user("legacy-admin", inline=[d.inline_policy("full", ADMIN)]), "FAILED", "full"),
    Case("IAM.1", lambda: d.user(), None),
    Case("IAM.1", lambda: d.with_(d.managed_policy("x", d.policy_doc(ADMIN)), data={"PolicyVersionList": []}),
         "NOT_AVAILABLE", "default version"),
    Case("CW.IAM.2", lambda: d.user(), "PASSED"),
    Case("CW.IAM.2", lambda: d.user("ops-admin", attached=[ADMIN_ARN]), "FAILED", "AdministratorAccess"),
    Case("CW.IAM.2", lambda: d.role("r", attached=["arn:aws:iam::222222222222:policy/custom"]),
         "FAILED", "custom", lambda: [d.managed_policy("custom", d.policy_doc(ADMIN))]),
    Case("CW.IAM.2", lambda: d.role("r", attached=["arn:aws:iam::222222222222:policy/unknown"]), "NOT_AVAILABLE",
         "not in the snapshot"),
    Case("IAM.2", lambda: d.user(), "PASSED"),
    Case("IAM.2", lambda: d.user("ci", inline=[d.inline_policy("assume", d.statement("sts:AssumeRole"))]),
         "FAILED", "assume (inline)"),
    Case("IAM.2", lambda: d.with_(d.user(), drop_data=("UserPolicyList", "AttachedManagedPolicies")),
         "NOT_AVAILABLE"),
    Case("IAM.21", lambda: d.managed_policy("ok", d.policy_doc(d.statement(["s3:GetObject"]))), "PASSED"),
    Case("IAM.21", lambda: d.managed_policy("deploy", d.policy_doc(d.statement(["lambda:*", "iam:PassRole"]))),
         "FAILED", "lambda:*"),
    Case("IAM.21", lambda: d.with_(d.managed_policy("x", d.policy_doc()), data={"PolicyVersionList": []}),
         "NOT_AVAILABLE"),
    Case("IAM.18", lambda: d.account(), "PASSED", "support", lambda: [d.role("support", attached=[SUPPORT_ARN])]),
    Case("IAM.18", lambda: d.account(), "FAILED", "no role", lambda: [d.role("app")]),
    Case("IAM.18", lambda: d.account(), "NOT_AVAILABLE", "no IAM role"),
    Case("IAM.26", lambda: d.account(), "PASSED"),
    Case("IAM.26", lambda: d.account(ListServerCertificates={"ServerCertificateMetadataList": [
        {"ServerCertificateName": "old", "Expiration": d.ago(3)}]}), "FAILED", "old"),
    Case("IAM.26", lambda: d.account(ListServerCertificates=d.error()), "NOT_AVAILABLE"),
    Case("IAM.28", lambda: d.account_region(), "PASSED"),
    Case("IAM.28", lambda: d.account_region(ListAnalyzers={"analyzers": []}), "FAILED"),
    Case("IAM.28", lambda: d.account_region(ListAnalyzers=d.error("500", "html")), "NOT_AVAILABLE", "500 on"),
    Case("IAM.27", lambda: d.role(), "PASSED"),
    Case("IAM.27", lambda: d.role(attached=["arn:aws:iam::aws:policy/AWSCloudShellFullAccess"]), "FAILED"),
    Case("IAM.27", lambda: d.with_(d.role(), drop_data=("AttachedManagedPolicies",)), "NOT_AVAILABLE"),
    # role trust
    Case("CW.IAM.3", lambda: d.role(), "PASSED"),
    Case("CW.IAM.3", lambda: d.role("cross-account-any", trust=ANY_TRUST), "FAILED", "any AWS principal"),
    Case("CW.IAM.3", lambda: d.role("org", trust=ORG_TRUST), "PASSED"),
    Case("CW.IAM.3", lambda: d.with_(d.role(), drop_data=("AssumeRolePolicyDocument",)), "NOT_AVAILABLE"),
    Case("CW.IAM.4", lambda: d.role("vendor-audit", trust=VENDOR), "FAILED", "999988887777"),
    Case("CW.IAM.4", lambda: d.role("vendor-audit", trust=VENDOR_EXT), "PASSED"),
    Case("CW.IAM.4", lambda: d.role("app"), None),
    Case("CW.IAM.4", lambda: d.with_(d.role(), drop_data=("AssumeRolePolicyDocument",)), "NOT_AVAILABLE"),
    # users
    Case("IAM.3", lambda: d.user(), "PASSED"),
    Case("IAM.3", lambda: d.user("bob", keys=[d.key("AKIABOB", created=400, used=1)]), "FAILED", "400 days"),
    Case("IAM.3", lambda: d.user("bob", keys=[d.key("AKIABOB", created=400, used=1, active=False)]), "PASSED"),
    Case("IAM.3", lambda: d.with_(d.user(), calls={"ListAccessKeys": d.error()}), "NOT_AVAILABLE",
         "AccessDenied on iam:ListAccessKeys"),
    Case("IAM.5", lambda: d.user(), "PASSED"),
    Case("IAM.5", lambda: d.user("bob", mfa=False), "FAILED", "no MFA"),
    Case("IAM.5", lambda: d.user("svc", mfa=False, password=False), "PASSED", "no console password"),
    Case("IAM.5", lambda: d.with_(d.user(), calls={"GetLoginProfile": d.error()}), "NOT_AVAILABLE"),
    Case("IAM.8", lambda: d.user(), "PASSED"),
    Case("IAM.8", lambda: d.user("legacy", keys=[d.key("AKIAOLD", created=500, used=200)]), "FAILED", "200 days"),
    Case("IAM.8", lambda: d.user("svc", password=False, keys=[d.key("AKIANEW", created=120, used=None)]), "FAILED",
         "never used in 120 days"),
    Case("IAM.8", lambda: d.user("svc", password=False, keys=[d.key("AKIANEW", created=10, used=None)]), "PASSED"),
    Case("IAM.8", lambda: d.with_(d.user(), drop_calls=("GetAccessKeyLastUsed",)), "NOT_AVAILABLE"),
    Case("IAM.22", lambda: d.user(password_last_used_days=60), "FAILED", "password last used 60 days ago"),
    Case("IAM.22", lambda: d.user(), "PASSED"),
    Case("IAM.22", lambda: d.user(password_last_used_days=None), "NOT_AVAILABLE", "console password"),
    Case("IAM.22", lambda: d.user(password_last_used_days=None), "PASSED", "", lambda: [d.account(
        GetCredentialReport={"rows": [{"user": "alice", "password_last_used": d.ago(3)}]})]),
    Case("CW.IAM.1", lambda: d.user(), "PASSED"),
    Case("CW.IAM.1", lambda: d.user("ci", keys=[d.key("AKIA1", created=5, used=1), d.key("AKIA2", created=5, used=1)]),
         "FAILED", "2 active"),
    Case("CW.IAM.1", lambda: d.with_(d.user(), calls={"ListAccessKeys": d.error()}), "NOT_AVAILABLE"),
    Case("CW.IAM.6", lambda: d.user(), "PASSED"),
    Case("CW.IAM.6", lambda: d.user(keys=[d.key("AKIAX", created=5, used=None)]), "FAILED", "never-used"),
    Case("CW.IAM.6", lambda: d.user(password=False), None),
    Case("CW.IAM.6", lambda: d.with_(d.user(), drop_calls=("GetAccessKeyLastUsed",)), "NOT_AVAILABLE"),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_control(case: Case) -> None:
    check(case)


def test_every_iam_control_has_pass_fail_and_not_available_cases() -> None:
    seen = covered(CASES, ("IAM.", "CW.IAM."))
    for item in controls(services=["iam"]):
        assert {"PASSED", "FAILED", "NOT_AVAILABLE"} <= seen.get(item.id, set()), item.id


def aws_managed(name: str, document: dict[str, object], *accounts: str, **calls: object) -> d.Doc:
    return d.with_(d.managed_policy(name, document, aws=True), data={"AttachedInAccounts": list(accounts)},
                   calls=dict(calls))


def iam1(*docs: d.Doc) -> dict[tuple[str, str], tuple[str, str]]:
    found = evaluate(list(docs), controls=["IAM.1"], now=d.NOW)
    return {(f.account_id, f.resource.id.rsplit("/", 1)[-1]): (f.status.value, f.description) for f in found}


def test_iam1_decides_an_attached_aws_managed_policy_once_per_account_it_is_attached_in() -> None:
    verdicts = iam1(aws_managed("AdministratorAccess", d.policy_doc(ADMIN), d.ACCT, d.OTHER),
                    aws_managed("AWSSupportAccess", d.policy_doc(d.statement("support:*")), d.ACCT),
                    aws_managed("ReadOnlyAccess", d.policy_doc(d.statement("s3:Get*"))))  # attached nowhere
    assert set(verdicts) == {(d.ACCT, "AdministratorAccess"), (d.OTHER, "AdministratorAccess"),
                             (d.ACCT, "AWSSupportAccess")}
    assert verdicts[(d.OTHER, "AdministratorAccess")][0] == "FAILED"
    assert "allows * on *" in verdicts[(d.ACCT, "AdministratorAccess")][1]
    assert verdicts[(d.ACCT, "AWSSupportAccess")][0] == "PASSED"
    # no finding is filed under the pseudo-account "aws" that holds the shared document
    assert all(account != "aws" for account, _ in verdicts)


def test_iam1_on_an_aws_managed_policy_that_could_not_be_read_is_not_available() -> None:
    unread = d.with_(aws_managed("AdministratorAccess", d.policy_doc(ADMIN), d.ACCT,
                                 GetPolicy=d.error("AccessDenied", "no")), data={"PolicyVersionList": []})
    status, reason = iam1(unread)[(d.ACCT, "AdministratorAccess")]
    assert status == "NOT_AVAILABLE" and "AccessDenied on iam:GetPolicy" in reason
