"""IAM user credential controls: key rotation, console MFA, unused credentials, several active keys.

Each is decided per user from the user's own calls (``ListAccessKeys``, ``GetAccessKeyLastUsed``,
``ListMFADevices``, ``GetLoginProfile``) and, for when a console password was last used (no per-user API
gives it in authorization details), the account's credential report row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from cloudwarden.core.severity import Severity
from cloudwarden.posture.inventory import ACCOUNT, Inventory
from cloudwarden.posture.model import NotAvailable, ResourceDoc, Verdict, failed, parse_time, passed, verdict
from cloudwarden.posture.registry import control


@dataclass(frozen=True)
class Key:
    id: str
    active: bool
    created: datetime | None
    last_used: datetime | None


def access_keys(user: ResourceDoc) -> list[Key]:
    listed = (user.call("ListAccessKeys") or {}).get("AccessKeyMetadata") or []
    last_used_calls = user.calls.get("GetAccessKeyLastUsed")
    keys = []
    for item in listed:
        key_id = str(item.get("AccessKeyId"))
        used: datetime | None = None
        if isinstance(last_used_calls, dict):
            answer = last_used_calls.get(key_id)
            if isinstance(answer, dict) and "error" in answer:
                code = (answer.get("error") or {}).get("code", "UnknownError")
                raise NotAvailable(f"{code} on iam:GetAccessKeyLastUsed for key {key_id} of {user.label}")
            if isinstance(answer, dict):
                used = parse_time((answer.get("AccessKeyLastUsed") or {}).get("LastUsedDate"))
        keys.append(Key(key_id, item.get("Status") == "Active", parse_time(item.get("CreateDate")), used))
    return keys


def key_last_used_known(user: ResourceDoc) -> None:
    """Raise :class:`NotAvailable` when key last use was not collected (needed for unused-key controls)."""
    if not isinstance(user.calls.get("GetAccessKeyLastUsed"), dict):
        raise NotAvailable(f"iam:GetAccessKeyLastUsed was not collected for {user.label}")


def has_console_password(user: ResourceDoc) -> bool:
    return user.call("GetLoginProfile", not_configured=("NoSuchEntity",)) is not None


def report_row(user: ResourceDoc, inv: Inventory) -> dict[str, str] | None:
    for account in inv.of_type(ACCOUNT, user.account):
        if "GetCredentialReport" in account.calls and account.error_code("GetCredentialReport") is None:
            for row in account.calls["GetCredentialReport"].get("rows") or []:
                if row.get("user") == user.name or row.get("arn") == user.arn:
                    return dict(row)
    return None


def password_last_used(user: ResourceDoc, inv: Inventory) -> tuple[bool, datetime | None]:
    """(known, when): when the console password was last used; ``None`` when never."""
    if "PasswordLastUsed" in user.data:
        return True, parse_time(user.data["PasswordLastUsed"])
    row = report_row(user, inv)
    if row is None:
        return False, None
    return True, parse_time(row.get("password_last_used"))


def _days(inv: Inventory, when: datetime) -> int:
    return (inv.now - when).days


@control("IAM.3", title="IAM users' access keys should be rotated every 90 days or less", severity=Severity.MEDIUM,
         resource_type="AwsIamUser", service="iam", calls=("ListAccessKeys",),
         rationale="The longer a key lives, the more places it has leaked to.",
         remediation="Create a new key, move the workload to it, then deactivate and delete the old key.",
         cli="aws iam create-access-key --user-name <user>; "
             "aws iam update-access-key --user-name <user> --access-key-id <old> --status Inactive")
def keys_rotated(doc: ResourceDoc, inv: Inventory) -> Verdict | None:
    keys = [k for k in access_keys(doc) if k.active]
    if not keys:
        return passed(f"user {doc.label} has no active access key")
    old = [f"{k.id} ({_days(inv, k.created)} days)" for k in keys if k.created and _days(inv, k.created) > 90]
    return verdict(not old, f"the active keys of {doc.label} are 90 days old or less",
                   f"user {doc.label} has active keys older than 90 days: {', '.join(old)}")


@control("IAM.5", title="MFA should be enabled for all IAM users that have a console password",
         severity=Severity.MEDIUM, resource_type="AwsIamUser", service="iam",
         calls=("GetLoginProfile", "ListMFADevices"),
         rationale="A console password without MFA is one phished or reused password away from takeover.",
         remediation="Assign an MFA device to the user, or remove the console password.",
         cli="aws iam enable-mfa-device --user-name <user> --serial-number <arn> "
             "--authentication-code1 <c1> --authentication-code2 <c2>")
def console_mfa(doc: ResourceDoc, inv: Inventory) -> Verdict:
    if not has_console_password(doc):
        return passed(f"user {doc.label} has no console password")
    devices = (doc.call("ListMFADevices") or {}).get("MFADevices") or []
    return verdict(bool(devices), f"user {doc.label} has a console password and MFA",
                   f"user {doc.label} has a console password and no MFA")


def _unused(doc: ResourceDoc, inv: Inventory, days: int) -> Verdict:
    key_last_used_known(doc)
    stale: list[str] = []
    for key in access_keys(doc):
        if not key.active:
            continue
        if key.last_used is not None:
            if _days(inv, key.last_used) > days:
                stale.append(f"key {key.id} last used {_days(inv, key.last_used)} days ago")
        elif key.created is not None and _days(inv, key.created) > days:
            stale.append(f"key {key.id} never used in {_days(inv, key.created)} days")
    if has_console_password(doc):
        known, used = password_last_used(doc, inv)
        if not known:
            raise NotAvailable(f"when the console password of {doc.label} was last used is not in the snapshot")
        created = parse_time(doc.data.get("CreateDate"))
        if used is not None and _days(inv, used) > days:
            stale.append(f"password last used {_days(inv, used)} days ago")
        elif used is None and created is not None and _days(inv, created) > days:
            stale.append(f"password never used in {_days(inv, created)} days")
    if stale:
        return failed(f"user {doc.label} has credentials unused for more than {days} days: {'; '.join(stale)}")
    return passed(f"every credential of {doc.label} was used in the last {days} days")


@control("IAM.8", title="Unused IAM user credentials should be removed", severity=Severity.MEDIUM,
         resource_type="AwsIamUser", service="iam",
         calls=("ListAccessKeys", "GetAccessKeyLastUsed", "GetLoginProfile", "GetCredentialReport"),
         rationale="Credentials nobody uses are still credentials an attacker can use.",
         remediation="Deactivate keys and remove passwords unused for 90 days.",
         cli="aws iam update-access-key --user-name <user> --access-key-id <id> --status Inactive; "
             "aws iam delete-login-profile --user-name <user>")
def unused_90(doc: ResourceDoc, inv: Inventory) -> Verdict:
    return _unused(doc, inv, 90)


@control("IAM.22", title="IAM user credentials unused for 45 days should be removed", severity=Severity.MEDIUM,
         resource_type="AwsIamUser", service="iam",
         calls=("ListAccessKeys", "GetAccessKeyLastUsed", "GetLoginProfile", "GetCredentialReport"),
         rationale="Credentials nobody uses are still credentials an attacker can use.",
         remediation="Deactivate keys and remove passwords unused for 45 days.",
         cli="aws iam update-access-key --user-name <user> --access-key-id <id> --status Inactive; "
             "aws iam delete-login-profile --user-name <user>")
def unused_45(doc: ResourceDoc, inv: Inventory) -> Verdict:
    return _unused(doc, inv, 45)


@control("CW.IAM.1", title="IAM users should have at most one active access key", severity=Severity.MEDIUM,
         resource_type="AwsIamUser", service="iam", calls=("ListAccessKeys",),
         rationale="Two active keys double the exposure and usually mean a rotation that was never finished.",
         remediation="Move every workload to one key and deactivate the other.",
         cli="aws iam update-access-key --user-name <user> --access-key-id <id> --status Inactive")
def one_active_key(doc: ResourceDoc, inv: Inventory) -> Verdict:
    active = [k.id for k in access_keys(doc) if k.active]
    return verdict(len(active) <= 1, f"user {doc.label} has {len(active)} active access key(s)",
                   f"user {doc.label} has {len(active)} active access keys: {', '.join(active)}")


@control("CW.IAM.6", title="IAM users with a console password should not have access keys they never used",
         severity=Severity.LOW, resource_type="AwsIamUser", service="iam",
         calls=("GetLoginProfile", "ListAccessKeys", "GetAccessKeyLastUsed"),
         rationale="Keys created with a console user 'just in case' are long-lived credentials nobody needs.",
         remediation="Delete access keys that were never used; create keys only when a workload needs them.",
         cli="aws iam delete-access-key --user-name <user> --access-key-id <id>")
def unused_initial_key(doc: ResourceDoc, inv: Inventory) -> Verdict | None:
    if not has_console_password(doc):
        return None
    key_last_used_known(doc)
    never = [k.id for k in access_keys(doc) if k.active and k.last_used is None]
    return verdict(not never, f"user {doc.label} has no never-used access key",
                   f"user {doc.label} has a console password and never-used access keys: {', '.join(never)}")
