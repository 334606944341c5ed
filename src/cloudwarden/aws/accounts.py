"""Which accounts and regions a scan covers: Organizations members through ``--role-name``, enabled regions.

With ``--role-name``, the caller's organisation is listed (``organizations:ListAccounts``, ACTIVE members
only) and the role is assumed in every member; the caller's own account is scanned with the caller's
credentials. Assumed-role credentials are ``RefreshableCredentials``: botocore renews them before they
expire, so a run longer than the role's session duration keeps going. An account whose role cannot be
assumed is not silently dropped: it is returned with the error, which ends up in the snapshot's errors.

``DescribeRegions`` without ``AllRegions`` returns only the regions enabled for the account, and takes
``Filters``; some local endpoints (moto) ignore both and return every region, opted-in or not. The
filters are therefore applied again to the answer, which changes nothing on AWS and makes the lab
behave like it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import boto3
import botocore.exceptions
from botocore.credentials import RefreshableCredentials
from botocore.session import get_session

from cloudwarden.aws.session import AwsTarget, ClientFactory, client_config, fast_model_loading

ENABLED_OPT_IN = ("opt-in-not-required", "opted-in")
SESSION_NAME = "cloudwarden-scan"
ROLE_SESSION_SECONDS = 3600


@dataclass
class AccountHandle:
    """One account to scan: its id, a client factory acting in it, or the error that prevented that."""

    account_id: str
    name: str = ""
    factory: ClientFactory | None = None
    error: dict[str, str] | None = field(default=None)


def role_arn(account_id: str, role_name: str) -> str:
    return f"arn:aws:iam::{account_id}:role/{role_name}"


def assume_role_session(
    base: boto3.Session, target: AwsTarget, arn: str, *, duration: int = ROLE_SESSION_SECONDS
) -> boto3.Session:
    """A session acting as ``arn`` whose credentials are renewed by botocore before they expire.

    The first ``AssumeRole`` happens now, so a refusal raises :class:`botocore.exceptions.ClientError` here.
    """
    sts = base.client(
        "sts",
        region_name=target.region,
        endpoint_url=target.endpoint_url,
        config=client_config(max_attempts=4),
    )

    def fetch() -> dict[str, Any]:
        found = sts.assume_role(RoleArn=arn, RoleSessionName=SESSION_NAME, DurationSeconds=duration)["Credentials"]
        return {
            "access_key": found["AccessKeyId"],
            "secret_key": found["SecretAccessKey"],
            "token": found["SessionToken"],
            "expiry_time": found["Expiration"].isoformat(),
        }

    credentials = RefreshableCredentials.create_from_metadata(
        metadata=fetch(), refresh_using=fetch, method="sts-assume-role"
    )
    core = get_session()
    core._credentials = credentials  # type: ignore[attr-defined]  # botocore has no public setter for these
    return fast_model_loading(boto3.Session(botocore_session=core, region_name=target.region), share_with=base)


def organization_accounts(factory: ClientFactory) -> list[dict[str, Any]]:
    """Every ACTIVE account of the caller's organisation (raises ClientError when it cannot be listed)."""
    client = factory.client("organizations")
    accounts: list[dict[str, Any]] = []
    for page in client.get_paginator("list_accounts").paginate():
        accounts.extend(a for a in page.get("Accounts", []) if a.get("Status", "ACTIVE") == "ACTIVE")
    return accounts


def resolve_accounts(
    base: ClientFactory, caller_account: str, role_name: str | None, only: Sequence[str] | None = None
) -> list[AccountHandle]:
    """The accounts to scan: the caller's, plus each organisation member through ``role_name``.

    ``only`` narrows the list to those ids. Failing to list the organisation or to assume the role in a
    member yields a handle with ``error`` set (never a silent omission).
    """
    wanted = set(only) if only else None
    handles: list[AccountHandle] = []
    if role_name is None:
        if wanted is None or caller_account in wanted:
            handles.append(AccountHandle(caller_account, factory=base))
        for missing in sorted((wanted or set()) - {caller_account}):
            handles.append(AccountHandle(missing, error=_error("AccountNotReachable",
                                                               "pass --role-name to scan other accounts")))
        return handles
    try:
        members = organization_accounts(base)
    except botocore.exceptions.ClientError as exc:
        handles.append(AccountHandle(caller_account, factory=base))
        handles[0].error = _client_error(exc, "ListAccounts")
        return handles
    for member in members:
        account_id = str(member["Id"])
        if wanted is not None and account_id not in wanted:
            continue
        name = str(member.get("Name", ""))
        if account_id == caller_account:
            handles.append(AccountHandle(account_id, name, factory=base))
            continue
        try:
            session = assume_role_session(base.session, base.target, role_arn(account_id, role_name))
        except botocore.exceptions.ClientError as exc:
            handles.append(AccountHandle(account_id, name, error=_client_error(exc, "AssumeRole")))
            continue
        handles.append(AccountHandle(account_id, name, factory=base.for_session(session, account_id)))
    if caller_account not in {h.account_id for h in handles} and (wanted is None or caller_account in wanted):
        # The caller's own account is always scanned, even when the organisation does not list it.
        handles.insert(0, AccountHandle(caller_account, factory=base))
    return handles


def enabled_regions(factory: ClientFactory, *, filters: Sequence[dict[str, Any]] = ()) -> list[str]:
    """The regions enabled for the account, sorted; ``filters`` as ``DescribeRegions`` takes them."""
    wanted = [{"Name": "opt-in-status", "Values": list(ENABLED_OPT_IN)}, *filters]
    found = factory.client("ec2").describe_regions(Filters=wanted)["Regions"]
    return sorted(r["RegionName"] for r in found if all(_matches(r, f) for f in wanted))


_FILTER_FIELDS = {"opt-in-status": "OptInStatus", "region-name": "RegionName", "endpoint": "Endpoint"}


def _matches(region: dict[str, Any], flt: dict[str, Any]) -> bool:
    field_name = _FILTER_FIELDS.get(str(flt["Name"]))
    if field_name is None:
        return True  # a filter we do not know how to re-apply was applied by the service itself
    return region.get(field_name) in set(flt["Values"])


def _client_error(exc: botocore.exceptions.ClientError, operation: str) -> dict[str, str]:
    error = exc.response.get("Error", {})
    return _error(str(error.get("Code", "Unknown")), str(error.get("Message", "")), operation)


def _error(code: str, message: str, operation: str = "") -> dict[str, str]:
    return {"code": code, "message": message, "operation": operation}
