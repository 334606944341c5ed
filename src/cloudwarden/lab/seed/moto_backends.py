"""The few things the seeder sets inside moto's in-process backends because no AWS API can.

AWS offers no call to choose a new member account's id, to backdate an access key or to say when a
password was last used; the demo organisation needs all three (fixed account ids that docs and
tests can name; a credential report with old and unused keys). Everything else goes through the
real API. This module only works when the lab's moto server runs in this process, which is how
``cloudwarden lab up`` and the tests run it; callers check the outcome through the API afterwards.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from cloudwarden.core.errors import RuntimeFailure

_ACCOUNT_ID_LOCK = threading.Lock()


@contextmanager
def fixed_account_id(account_id: str) -> Iterator[None]:
    """While active, the next account Organizations creates gets ``account_id``.

    moto draws member account ids at random (``moto.organizations.utils.make_random_account_id``);
    the demo organisation must have fixed ids (``demo_org.PROD``...), so the generator is swapped
    for the duration of one ``CreateAccount`` call. The lock keeps two seeders in one process from
    handing each other their ids.
    """
    from moto.organizations import utils as org_utils

    with _ACCOUNT_ID_LOCK:
        original = org_utils.make_random_account_id
        org_utils.make_random_account_id = lambda: account_id
        try:
            yield
        finally:
            org_utils.make_random_account_id = original


def _moto_time(value: datetime) -> datetime:
    """moto keeps naive UTC datetimes; an aware one would break its comparisons."""
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value


def _iam_backend(account_id: str) -> Any:
    from moto.iam.models import iam_backends

    return iam_backends[account_id]["aws"]


def _user(account_id: str, user_name: str) -> Any:
    backend = _iam_backend(account_id)
    try:
        return backend.users[user_name]
    except KeyError:
        raise RuntimeFailure(
            f"IAM user {user_name} is not in the in-process lab backend of account {account_id}; "
            "seeding needs the lab's moto server running in this process"
        ) from None


def backdate_user(
    account_id: str, user_name: str, *, created: datetime, password_last_used: datetime | None = None
) -> None:
    """Set a user's creation date (and when its console password was last used)."""
    user = _user(account_id, user_name)
    user.create_date = _moto_time(created)
    if password_last_used is not None:
        user.password_last_used = _moto_time(password_last_used)


def backdate_access_key(
    account_id: str,
    user_name: str,
    access_key_id: str,
    *,
    created: datetime,
    last_used: datetime | None,
    service: str = "sts",
    region: str = "us-east-1",
) -> None:
    """Set an access key's creation date and last use (``None``: never used)."""
    from moto.iam.models import AccessKeyLastUsed

    user = _user(account_id, user_name)
    for key in user.access_keys:
        if key.access_key_id == access_key_id:
            key.create_date = _moto_time(created)
            key.last_used = (
                None
                if last_used is None
                else AccessKeyLastUsed(timestamp=_moto_time(last_used), service=service, region=region)
            )
            return
    raise RuntimeFailure(f"access key {access_key_id} of {user_name} not found in account {account_id}")


def backdate_mfa_device(account_id: str, user_name: str, *, enabled: datetime) -> None:
    """Set when a user's MFA devices were enabled (moto stamps them with the seeding time)."""
    for device in _user(account_id, user_name).mfa_devices.values():
        device.enable_date = _moto_time(enabled)
