"""IAM controls over the account, policies and roles: root user, password policy, administrator and
wildcard policies, support role, server certificates, Access Analyzer, CloudShell, role trust.

Per-user credential controls (keys, MFA, unused credentials) are in :mod:`cloudwarden.posture.iam_users`.
"""

from __future__ import annotations

from typing import Any

from cloudwarden.core.severity import Severity
from cloudwarden.posture.inventory import ACCOUNT, ACCOUNT_REGION, Inventory
from cloudwarden.posture.model import (
    NotAvailable,
    ResourceDoc,
    Verdict,
    VerdictStatus,
    failed,
    parse_time,
    verdict,
)
from cloudwarden.posture.policy import (
    has_admin,
    is_public_principal,
    is_restricted,
    principal_accounts,
    service_wildcards,
    statements,
)
from cloudwarden.posture.registry import control

AWS_MANAGED_PREFIX = "arn:aws:iam::aws:policy/"
IDENTITIES = ("AwsIamUser", "AwsIamRole", "AwsIamGroup")
_INLINE_KEYS = {"AwsIamUser": "UserPolicyList", "AwsIamRole": "RolePolicyList", "AwsIamGroup": "GroupPolicyList"}


# --- helpers ---------------------------------------------------------------------------------------------------


def summary(account: ResourceDoc) -> dict[str, Any]:
    answer = account.call("GetAccountSummary") or {}
    return dict(answer.get("SummaryMap") or {})


def password_policy(account: ResourceDoc) -> dict[str, Any] | None:
    """The account password policy, or ``None`` when the account has none (``NoSuchEntity``)."""
    answer = account.call("GetAccountPasswordPolicy", not_configured=("NoSuchEntity",))
    return None if answer is None else dict(answer.get("PasswordPolicy") or {})


def inline_policies(doc: ResourceDoc) -> list[tuple[str, Any]]:
    """(name, document) of an identity's inline policies, from its authorization-details item."""
    key = _INLINE_KEYS.get(doc.type)
    if key is None:
        return []
    items = doc.data.get(key)
    if items is None:
        return []
    return [(str(p.get("PolicyName", "?")), p.get("PolicyDocument")) for p in items if isinstance(p, dict)]


def attached_policy_arns(doc: ResourceDoc) -> list[str]:
    return [str(p.get("PolicyArn")) for p in doc.data.get("AttachedManagedPolicies") or [] if isinstance(p, dict)]


def default_document(policy: ResourceDoc) -> Any:
    """The default version's document of an ``AwsIamPolicy``."""
    for version in policy.data.get("PolicyVersionList") or []:
        if isinstance(version, dict) and version.get("IsDefaultVersion"):
            return version.get("Document")
    raise NotAvailable(f"the default version of policy {policy.label} is not in the snapshot")


def is_customer_managed(policy: ResourceDoc) -> bool:
    return not policy.arn.startswith(AWS_MANAGED_PREFIX)


# --- root user -------------------------------------------------------------------------------------------------


@control("IAM.4", title="IAM root user access key should not exist", severity=Severity.CRITICAL,
         resource_type=ACCOUNT, service="iam", calls=("GetAccountSummary",),
         rationale="Root access keys grant unrestricted access to every resource and cannot be limited by policies.",
         remediation="Sign in as the root user and delete its access keys in Security credentials.",
         cli="aws iam delete-access-key --access-key-id <root-key-id>  (as the root user)")
def root_access_key(doc: ResourceDoc, inv: Inventory) -> Verdict:
    present = summary(doc).get("AccountAccessKeysPresent")
    if present is None:
        raise NotAvailable(f"AccountAccessKeysPresent is not in the account summary of {doc.account}")
    return verdict(not present, f"the root user of {doc.account} has no access key",
                   f"the root user of {doc.account} has an access key")


@control("IAM.9", title="MFA should be enabled for the root user", severity=Severity.CRITICAL,
         resource_type=ACCOUNT, service="iam", calls=("GetAccountSummary",),
         rationale="The root user can do anything in the account; a password alone is one phishing away.",
         remediation="Sign in as the root user and assign an MFA device in Security credentials.",
         cli="aws iam enable-mfa-device (as the root user, console recommended)")
def root_mfa(doc: ResourceDoc, inv: Inventory) -> Verdict:
    enabled = summary(doc).get("AccountMFAEnabled")
    if enabled is None:
        raise NotAvailable(f"AccountMFAEnabled is not in the account summary of {doc.account}")
    return verdict(bool(enabled), f"the root user of {doc.account} has MFA",
                   f"the root user of {doc.account} has no MFA")


@control("IAM.6", title="Hardware MFA should be enabled for the root user", severity=Severity.CRITICAL,
         resource_type=ACCOUNT, service="iam", calls=("GetAccountSummary", "ListVirtualMFADevices"),
         rationale="A hardware device cannot be copied off a phone or laptop the way a virtual MFA seed can.",
         remediation="Assign a hardware MFA device (or a FIDO security key) to the root user.",
         cli="aws iam enable-mfa-device (as the root user, console recommended)")
def root_hardware_mfa(doc: ResourceDoc, inv: Inventory) -> Verdict:
    enabled = summary(doc).get("AccountMFAEnabled")
    if enabled is None:
        raise NotAvailable(f"AccountMFAEnabled is not in the account summary of {doc.account}")
    if not enabled:
        return failed(f"the root user of {doc.account} has no MFA at all")
    devices = (doc.call("ListVirtualMFADevices") or {}).get("VirtualMFADevices") or []
    virtual_root = [d for d in devices if str(d.get("SerialNumber", "")).endswith(":mfa/root-account-mfa-device")
                    or str((d.get("User") or {}).get("Arn", "")).endswith(":root")]
    return verdict(not virtual_root, f"the root user of {doc.account} uses a hardware MFA device",
                   f"the root user of {doc.account} uses a virtual MFA device")


@control("CW.IAM.5", title="The root user should not be used for everyday tasks", severity=Severity.HIGH,
         resource_type=ACCOUNT, service="iam", calls=("GetCredentialReport",),
         rationale="Every use of the root user bypasses the account's policies and is hard to attribute.",
         remediation="Use IAM roles or Identity Center users; keep the root user for the few tasks that need it.",
         cli="aws iam generate-credential-report && aws iam get-credential-report")
def root_usage(doc: ResourceDoc, inv: Inventory) -> Verdict:
    rows = (doc.call("GetCredentialReport") or {}).get("rows") or []
    root = next((r for r in rows if r.get("user") == "<root_account>"), None)
    if root is None:
        raise NotAvailable(f"the credential report of {doc.account} has no root row")
    uses = [parse_time(root.get(k)) for k in ("password_last_used", "access_key_1_last_used_date",
                                               "access_key_2_last_used_date")]
    recent = [u for u in uses if u is not None and (inv.now - u).days < 90]
    return verdict(not recent, f"the root user of {doc.account} was not used in the last 90 days",
                   f"the root user of {doc.account} was used on {max(recent).date() if recent else ''}")


# --- password policy -------------------------------------------------------------------------------------------

_PW_CLI = ("aws iam update-account-password-policy --minimum-password-length 14 --require-symbols "
           "--require-numbers --require-uppercase-characters --require-lowercase-characters "
           "--password-reuse-prevention 24 --max-password-age 90")


@control("IAM.7", title="Password policies for IAM users should have strong configurations",
         severity=Severity.MEDIUM, resource_type=ACCOUNT, service="iam", calls=("GetAccountPasswordPolicy",),
         rationale="Weak passwords are guessed or sprayed; a policy forces length and every character class.",
         remediation="Set a password policy requiring upper and lower case, numbers, symbols and 8+ characters.",
         cli=_PW_CLI)
def strong_password_policy(doc: ResourceDoc, inv: Inventory) -> Verdict:
    policy = password_policy(doc)
    if policy is None:
        return failed(f"account {doc.account} has no password policy")
    missing = [label for key, label in (
        ("RequireUppercaseCharacters", "upper case"), ("RequireLowercaseCharacters", "lower case"),
        ("RequireNumbers", "numbers"), ("RequireSymbols", "symbols")) if not policy.get(key)]
    if int(policy.get("MinimumPasswordLength") or 0) < 8:
        missing.append("8+ characters")
    return verdict(not missing, f"the password policy of {doc.account} is strong",
                   f"the password policy of {doc.account} does not require {', '.join(missing)}")


@control("IAM.15", title="Ensure IAM password policy requires minimum password length of 14 or greater",
         severity=Severity.MEDIUM, resource_type=ACCOUNT, service="iam", calls=("GetAccountPasswordPolicy",),
         rationale="Length is what makes a password resist offline and spraying attacks.",
         remediation="Set the minimum password length to 14 or more.",
         cli="aws iam update-account-password-policy --minimum-password-length 14")
def password_length_14(doc: ResourceDoc, inv: Inventory) -> Verdict:
    policy = password_policy(doc)
    if policy is None:
        return failed(f"account {doc.account} has no password policy")
    length = int(policy.get("MinimumPasswordLength") or 0)
    return verdict(length >= 14, f"the password policy of {doc.account} requires {length} characters",
                   f"the password policy of {doc.account} requires only {length} characters")


@control("IAM.16", title="Ensure IAM password policy prevents password reuse", severity=Severity.LOW,
         resource_type=ACCOUNT, service="iam", calls=("GetAccountPasswordPolicy",),
         rationale="Reusing passwords lets a leaked old password come back into use.",
         remediation="Set password reuse prevention to 24.",
         cli="aws iam update-account-password-policy --password-reuse-prevention 24")
def password_reuse(doc: ResourceDoc, inv: Inventory) -> Verdict:
    policy = password_policy(doc)
    if policy is None:
        return failed(f"account {doc.account} has no password policy")
    reuse = int(policy.get("PasswordReusePrevention") or 0)
    return verdict(reuse >= 24, f"the password policy of {doc.account} remembers {reuse} passwords",
                   f"the password policy of {doc.account} remembers {reuse} passwords (24 needed)")


# --- policies --------------------------------------------------------------------------------------------------


@control("IAM.1", title='IAM policies should not allow full "*" administrative privileges', severity=Severity.HIGH,
         resource_type="AwsIamPolicy", scope=("AwsIamPolicy", *IDENTITIES), service="iam",
         rationale="Least privilege: a policy granting * on * gives every action on every resource.",
         remediation="Replace the statement with the actions and resources the principal needs.",
         cli="aws iam create-policy-version --policy-arn <arn> --policy-document file://least.json --set-as-default")
def no_admin_policies(doc: ResourceDoc, inv: Inventory) -> Verdict | list[Verdict] | None:
    """Security Hub decides this on customer managed policies (the default version); inline policies and the AWS
    managed policies attached in the account (``AdministratorAccess``) grant * on * just as well, so they are
    decided too, as Prowler's FSBP mapping and CIS ("not attached") do. An AWS managed policy is one snapshot
    document shared by every account: it gets one verdict per account it is attached in."""
    if doc.type == "AwsIamPolicy":
        if not is_customer_managed(doc):
            return aws_managed_admin(doc)
        return verdict(not has_admin(default_document(doc)), f"policy {doc.label} does not allow * on *",
                       f"policy {doc.label} allows * on *")
    inline = inline_policies(doc)
    if not inline:
        return None
    admin = [name for name, document in inline if has_admin(document)]
    return verdict(not admin, f"the inline policies of {doc.label} do not allow * on *",
                   f"inline policy {', '.join(admin)} of {doc.label} allows * on *")


def aws_managed_admin(policy: ResourceDoc) -> list[Verdict]:
    """IAM.1 for an AWS managed policy: one verdict per account it is attached in (none when attached nowhere)."""
    accounts = sorted({str(a) for a in policy.data.get("AttachedInAccounts") or []})
    if not accounts:
        return []
    try:
        for operation in ("GetPolicy", "GetPolicyVersion"):
            if operation in policy.calls:
                policy.call(operation)  # raises NotAvailable with the error that left the policy unread
        admin = has_admin(default_document(policy))
    except NotAvailable as exc:
        status, reason = VerdictStatus.NOT_AVAILABLE, exc.reason
    else:
        status = VerdictStatus.FAILED if admin else VerdictStatus.PASSED
        reason = (f"AWS managed policy {policy.label} is attached and allows * on *" if admin
                  else f"AWS managed policy {policy.label} is attached and does not allow * on *")
    return [Verdict(status, f"{reason} (account {account})", policy.model_copy(update={"account": account}))
            for account in accounts]


@control("CW.IAM.2", title='IAM policies that allow full "*:*" administrative privileges should not be attached',
         severity=Severity.HIGH, resource_type="AwsIamUser", scope=IDENTITIES, service="iam",
         rationale="An identity holding * on * can do anything, including removing the controls that watch it.",
         remediation="Detach the administrator policy; grant the permissions the identity needs.",
         cli="aws iam detach-user-policy --user-name <user> --policy-arn <arn>  (or detach-role-policy)")
def no_admin_attached(doc: ResourceDoc, inv: Inventory) -> Verdict:
    admin: list[str] = []
    for arn in attached_policy_arns(doc):
        policy = inv.get(arn)
        if policy is None:
            if arn == AWS_MANAGED_PREFIX + "AdministratorAccess":
                admin.append("AdministratorAccess")
                continue
            raise NotAvailable(f"attached policy {arn} of {doc.label} is not in the snapshot")
        if has_admin(default_document(policy)):
            admin.append(policy.label)
    admin += [f"{name} (inline)" for name, document in inline_policies(doc) if has_admin(document)]
    return verdict(not admin, f"{doc.label} has no policy allowing *:*",
                   f"{doc.label} has *:* through {', '.join(admin)}")


@control("IAM.2", title="IAM users should not have IAM policies attached", severity=Severity.LOW,
         resource_type="AwsIamUser", service="iam",
         rationale="Permissions granted through groups are easier to review and revoke than per-user ones.",
         remediation="Move the user's permissions to a group and add the user to it.",
         cli="aws iam detach-user-policy --user-name <user> --policy-arn <arn>; "
             "aws iam delete-user-policy --user-name <user> --policy-name <name>")
def no_user_policies(doc: ResourceDoc, inv: Inventory) -> Verdict:
    attached = [arn.rsplit("/", 1)[-1] for arn in attached_policy_arns(doc)]
    inline = [name for name, _ in inline_policies(doc)]
    if "UserPolicyList" not in doc.data and "AttachedManagedPolicies" not in doc.data:
        raise NotAvailable(f"the policies of user {doc.label} are not in the snapshot")
    direct = attached + [f"{n} (inline)" for n in inline]
    return verdict(not direct, f"user {doc.label} gets permissions only through groups",
                   f"user {doc.label} has policies attached directly: {', '.join(direct)}")


@control("IAM.21", title="IAM customer managed policies that you create should not allow wildcard actions for services",
         severity=Severity.LOW, resource_type="AwsIamPolicy", service="iam",
         rationale="service:* grants every current and future action of a service, usually far more than needed.",
         remediation="Replace service:* with the specific actions needed.",
         cli="aws iam create-policy-version --policy-arn <arn> --policy-document file://least.json --set-as-default")
def no_service_wildcards(doc: ResourceDoc, inv: Inventory) -> Verdict | None:
    if not is_customer_managed(doc):
        return None
    wild = service_wildcards(default_document(doc))
    return verdict(not wild, f"policy {doc.label} names its actions",
                   f"policy {doc.label} allows {', '.join(wild)}")


@control("IAM.18", title="Ensure a support role has been created to manage incidents with AWS Support",
         severity=Severity.LOW, resource_type=ACCOUNT, service="iam",
         rationale="A dedicated role with AWSSupportAccess lets responders open cases without broad access.",
         remediation="Create a role with the AWSSupportAccess managed policy attached.",
         cli="aws iam attach-role-policy --role-name <role> --policy-arn arn:aws:iam::aws:policy/AWSSupportAccess")
def support_role(doc: ResourceDoc, inv: Inventory) -> Verdict:
    roles = inv.of_type("AwsIamRole", doc.account)
    if not roles:
        raise NotAvailable(f"no IAM role of {doc.account} is in the snapshot")
    support = [r.label for r in roles if AWS_MANAGED_PREFIX + "AWSSupportAccess" in attached_policy_arns(r)]
    return verdict(bool(support), f"role {', '.join(support)} has AWSSupportAccess",
                   f"no role of {doc.account} has AWSSupportAccess")


@control("IAM.26", title="Expired SSL/TLS certificates managed in IAM should be removed", severity=Severity.MEDIUM,
         resource_type=ACCOUNT, service="iam", calls=("ListServerCertificates",),
         rationale="An expired certificate deployed by mistake breaks clients and signals neglected inventory.",
         remediation="Delete expired server certificates from IAM.",
         cli="aws iam delete-server-certificate --server-certificate-name <name>")
def expired_certificates(doc: ResourceDoc, inv: Inventory) -> Verdict:
    certs = (doc.call("ListServerCertificates") or {}).get("ServerCertificateMetadataList") or []
    expired = [str(c.get("ServerCertificateName")) for c in certs
               if (when := parse_time(c.get("Expiration"))) is not None and when < inv.now]
    return verdict(not expired, f"account {doc.account} stores no expired server certificate",
                   f"account {doc.account} stores expired server certificates: {', '.join(expired)}")


@control("IAM.28", title="IAM Access Analyzer external access analyzer should be enabled", severity=Severity.HIGH,
         resource_type=ACCOUNT_REGION, service="iam", calls=("ListAnalyzers",),
         rationale="Access Analyzer reports resources shared outside the account or organisation.",
         remediation="Create an account (or organisation) analyzer in every region.",
         cli="aws accessanalyzer create-analyzer --analyzer-name default --type ACCOUNT")
def access_analyzer(doc: ResourceDoc, inv: Inventory) -> Verdict:
    analyzers = (doc.call("ListAnalyzers") or {}).get("analyzers") or []
    active = [a for a in analyzers if a.get("status") == "ACTIVE"
              and str(a.get("type", "")).upper() in ("ACCOUNT", "ORGANIZATION")]
    return verdict(bool(active), f"an external access analyzer is active in {doc.account}/{doc.region}",
                   f"no external access analyzer is active in {doc.account}/{doc.region}")


@control("IAM.27", title="IAM identities should not have the AWSCloudShellFullAccess policy attached",
         severity=Severity.MEDIUM, resource_type="AwsIamRole", scope=IDENTITIES, service="iam",
         rationale="CloudShell full access allows uploading and downloading files, a data exfiltration path.",
         remediation="Detach AWSCloudShellFullAccess; grant a narrower policy when CloudShell is needed.",
         cli="aws iam detach-role-policy --role-name <role> --policy-arn "
             "arn:aws:iam::aws:policy/AWSCloudShellFullAccess")
def cloudshell_full_access(doc: ResourceDoc, inv: Inventory) -> Verdict:
    doc.need("AttachedManagedPolicies")
    attached = AWS_MANAGED_PREFIX + "AWSCloudShellFullAccess" in attached_policy_arns(doc)
    return verdict(not attached, f"{doc.label} does not have AWSCloudShellFullAccess",
                   f"{doc.label} has AWSCloudShellFullAccess attached")


# --- role trust ------------------------------------------------------------------------------------------------


def trust_statements(doc: ResourceDoc) -> list[dict[str, Any]]:
    document = doc.need("AssumeRolePolicyDocument")
    return [s for s in statements(document) if str(s.get("Effect", "")).lower() == "allow"]


@control("CW.IAM.3", title="IAM roles should not trust every AWS principal", severity=Severity.CRITICAL,
         resource_type="AwsIamRole", service="iam",
         rationale='A trust policy with Principal "*" and no condition lets any AWS account assume the role.',
         remediation="Name the accounts or roles allowed to assume the role, or add aws:PrincipalOrgID.",
         cli="aws iam update-assume-role-policy --role-name <role> --policy-document file://trust.json")
def role_trusts_anyone(doc: ResourceDoc, inv: Inventory) -> Verdict:
    open_ = [s for s in trust_statements(doc)
             if is_public_principal(s.get("Principal")) and not is_restricted(s.get("Condition"))]
    return verdict(not open_, f"role {doc.label} trusts named principals only",
                   f'role {doc.label} can be assumed by any AWS principal (Principal "*", no condition)')


def known_accounts(inv: Inventory) -> set[str]:
    """Accounts of this organisation: those scanned plus those Organizations lists."""
    known = set(inv.accounts())
    for doc in inv.of_type("AwsOrganizationsAccount"):
        if doc.data.get("Id"):
            known.add(str(doc.data["Id"]))
    return known


@control("CW.IAM.4", title="IAM roles trusted by third-party accounts should require an external id",
         severity=Severity.HIGH, resource_type="AwsIamRole", service="iam",
         rationale="Without sts:ExternalId a vendor can be tricked into using its access on the wrong customer "
                   "(the confused deputy).",
         remediation="Add a Condition StringEquals sts:ExternalId to the statement trusting the external account.",
         cli="aws iam update-assume-role-policy --role-name <role> --policy-document file://trust.json")
def external_trust_needs_external_id(doc: ResourceDoc, inv: Inventory) -> Verdict | None:
    ours = known_accounts(inv)
    external: list[str] = []
    for statement in trust_statements(doc):
        outside = [a for a in principal_accounts(statement.get("Principal")) if a not in ours]
        condition = statement.get("Condition") or {}
        has_external_id = any("sts:externalid" in {str(k).lower() for k in block}
                              for block in condition.values() if isinstance(block, dict))
        if outside and not has_external_id:
            external += outside
    if not external and not any(principal_accounts(s.get("Principal")) for s in trust_statements(doc)):
        return None
    return verdict(not external, f"role {doc.label} trusts no outside account without an external id",
                   f"role {doc.label} trusts {', '.join(sorted(set(external)))} without sts:ExternalId")

