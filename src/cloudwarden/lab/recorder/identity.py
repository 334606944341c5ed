"""CloudTrail's ``userIdentity`` for an access key, resolved from moto's own IAM and STS state.

moto decides which account a request acts in from the access key (an IAM backend that holds the key),
so the recorder asks the same state who the key belongs to:

* a key in an account's IAM ``access_keys`` owned by a user is that ``IAMUser``;
* a key with ``role_arn`` set was issued by ``AssumeRole``: moto keeps the session
  (``AssumedRole``: session name, role ARN) in the STS backend's ``assumed_roles`` of the role's
  account, which gives an ``AssumedRole`` identity with its ``sessionIssuer``;
* any other key, such as the lab's default ``testing``/``test`` credentials, is the **root user**
  of moto's default account (the demo organisation's management account), which is also where moto
  itself sends such requests;
* an unsigned request is CloudTrail's anonymous principal.

**How the lab plays AWS services.** A call made with the lab's default key whose source address
(``X-Forwarded-For``) or user agent is an AWS service principal (``<name>.amazonaws.com``, such as
``ec2.amazonaws.com`` handing an instance its role's credentials) is the service acting, and is
recorded as CloudTrail records service calls: ``userIdentity`` ``{"type": "AWSService",
"invokedBy": "<service>"}``, the service name as ``sourceIPAddress`` and ``userAgent``, and a
``sharedEventID``; an ``sts:AssumeRole`` of this kind is delivered to the account of the role it
assumes (see :func:`aws_service_principal` and :func:`service_identity`). Scenarios use this to play
EC2, Lambda and other services without any extra credentials.

Lookups read moto's dicts without indexing them through ``BackendDict``, which would create
backends as a side effect. Assumed-role sessions never change, so they are cached per key.
"""

from __future__ import annotations

import hashlib
import re
import threading
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

ANONYMOUS_ACCOUNT = "ANONYMOUS_PRINCIPAL"
AWS_SERVICE = "AWSService"
_PARTITION = "aws"
_SERVICE_PRINCIPAL = re.compile(r"^[a-z0-9][a-z0-9-]*(\.[a-z0-9-]+)*\.amazonaws\.com$")


@dataclass(frozen=True)
class Identity:
    """One caller: the ``userIdentity`` block, the account it acts in and LookupEvents' ``Username``.

    ``default_key`` marks a key moto does not know (the lab's default credentials), recorded as the
    default account's root unless the call is an AWS service acting.
    """

    user_identity: dict[str, Any]
    account_id: str
    username: str
    access_key_id: str | None
    default_key: bool = False

    @property
    def anonymous(self) -> bool:
        return self.user_identity.get("accountId") == ANONYMOUS_ACCOUNT

    @property
    def aws_service(self) -> str | None:
        """The service principal acting (``ec2.amazonaws.com``), or None for any other caller."""
        if self.user_identity.get("type") != AWS_SERVICE:
            return None
        return str(self.user_identity.get("invokedBy", "")) or None


def cloudtrail_time(moment: datetime) -> str:
    """CloudTrail's timestamp format: UTC, seconds, ``Z``."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def default_account_id() -> str:
    from moto.core.models import DEFAULT_ACCOUNT_ID

    return str(DEFAULT_ACCOUNT_ID)


class IdentityResolver:
    """Resolves access keys against moto's live IAM/STS state (call from the server's process)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sessions: dict[str, Identity] = {}
        self._mfa_sessions: set[str] = set()

    def note_session(self, access_key_id: str, *, mfa_authenticated: bool) -> None:
        """Remember that a session key came from an MFA-authenticated ``AssumeRole``."""
        if mfa_authenticated:
            with self._lock:
                self._mfa_sessions.add(access_key_id)
                self._sessions.pop(access_key_id, None)

    def note_session_token(self, access_key_id: str, caller: Identity, *, mfa_authenticated: bool) -> None:
        """A ``GetSessionToken`` key acts as its caller (moto keeps no trace of such keys)."""
        identity = dict(caller.user_identity)
        identity["accessKeyId"] = access_key_id
        identity["sessionContext"] = {
            "attributes": {
                "creationDate": cloudtrail_time(datetime.now(UTC)),
                "mfaAuthenticated": "true" if mfa_authenticated else "false",
            }
        }
        with self._lock:
            self._sessions[access_key_id] = Identity(identity, caller.account_id, caller.username, access_key_id)

    def resolve(self, access_key_id: str | None) -> Identity:
        if not access_key_id:
            return anonymous_identity(default_account_id())
        with self._lock:
            cached = self._sessions.get(access_key_id)
        if cached is not None:
            return cached
        found = _find_access_key(access_key_id)
        if found is None:
            return replace(root_identity(default_account_id(), access_key_id), default_key=True)
        account_id, key = found
        if key.role_arn:
            identity = self._assumed_role(account_id, key)
            with self._lock:
                self._sessions[access_key_id] = identity
            return identity
        user = _iam_backend(account_id).users.get(key.user_name) if key.user_name else None
        if user is None:
            return root_identity(account_id, access_key_id)
        return user_identity(account_id, user.name, user.id, user.arn, access_key_id)

    def user(self, account_id: str, user_name: str) -> Identity | None:
        """The IAM user ``user_name`` of ``account_id`` as a console identity (no access key)."""
        if user_name == "root":
            return root_identity(account_id, None)
        backend = _iam_backend(account_id, create=False)
        user = backend.users.get(user_name) if backend is not None else None
        if user is None:
            return None
        return user_identity(account_id, user.name, user.id, user.arn, None)

    def _assumed_role(self, account_id: str, key: Any) -> Identity:
        from moto.sts.models import sts_backends

        session_name = "session"
        role_arn = str(key.role_arn)
        sts_account = dict.get(sts_backends, account_id)
        sts = dict.get(sts_account, _PARTITION) if sts_account is not None else None
        for session in list(sts.assumed_roles) if sts is not None else []:
            if session.access_key_id == key.access_key_id:
                session_name = str(session.session_name)
                role_arn = str(session.role_arn)
                break
        role_account = role_arn.split(":")[4] if role_arn.count(":") >= 5 else account_id
        role_name = role_arn.rsplit("/", 1)[-1]
        role_id = _role_id(role_account, role_arn)
        with self._lock:
            mfa = key.access_key_id in self._mfa_sessions
        issuer = {
            "type": "Role",
            "principalId": role_id,
            "arn": role_arn,
            "accountId": role_account,
            "userName": role_name,
        }
        identity = {
            "type": "AssumedRole",
            "principalId": f"{role_id}:{session_name}",
            "arn": f"arn:aws:sts::{account_id}:assumed-role/{role_name}/{session_name}",
            "accountId": account_id,
            "accessKeyId": key.access_key_id,
            "sessionContext": {
                "sessionIssuer": issuer,
                "webIdFederationData": {},
                "attributes": {
                    "creationDate": cloudtrail_time(key.create_date),
                    "mfaAuthenticated": "true" if mfa else "false",
                },
            },
        }
        return Identity(identity, account_id, session_name, key.access_key_id)


def aws_service_principal(*candidates: str) -> str | None:
    """The first of ``candidates`` (source address, user agent) that is an AWS service principal."""
    for candidate in candidates:
        value = candidate.strip().lower()
        if _SERVICE_PRINCIPAL.match(value):
            return value
    return None


def service_identity(service: str, account_id: str) -> Identity:
    """An AWS service acting in ``account_id``, as CloudTrail's ``AWSService`` identity."""
    return Identity({"type": AWS_SERVICE, "invokedBy": service}, account_id, service, None)


def root_identity(account_id: str, access_key_id: str | None) -> Identity:
    identity: dict[str, Any] = {
        "type": "Root",
        "principalId": account_id,
        "arn": f"arn:aws:iam::{account_id}:root",
        "accountId": account_id,
    }
    if access_key_id:
        identity["accessKeyId"] = access_key_id
    return Identity(identity, account_id, "root", access_key_id)


def user_identity(account_id: str, user_name: str, principal_id: str, arn: str, access_key_id: str | None) -> Identity:
    identity: dict[str, Any] = {"type": "IAMUser", "principalId": principal_id, "arn": arn, "accountId": account_id}
    if access_key_id:
        identity["accessKeyId"] = access_key_id
    identity["userName"] = user_name
    return Identity(identity, account_id, user_name, access_key_id)


def anonymous_identity(recipient_account: str) -> Identity:
    return Identity(
        {"type": "AWSAccount", "principalId": "", "accountId": ANONYMOUS_ACCOUNT}, recipient_account, "", None
    )


def _iam_backend(account_id: str, create: bool = True) -> Any:
    from moto.iam.models import iam_backends

    if create:
        return iam_backends[account_id][_PARTITION]
    account = dict.get(iam_backends, account_id)
    return dict.get(account, _PARTITION) if account is not None else None


def _find_access_key(access_key_id: str) -> tuple[str, Any] | None:
    from moto.iam.models import iam_backends

    for account_id, account in list(dict.items(iam_backends)):
        backend = dict.get(account, _PARTITION)
        if backend is not None and access_key_id in backend.access_keys:
            return str(account_id), backend.access_keys[access_key_id]
    return None


def _role_id(account_id: str, role_arn: str) -> str:
    backend = _iam_backend(account_id, create=False)
    if backend is not None:
        for role in list(backend.roles.values()):
            if role.arn == role_arn:
                return str(role.id)
    # moto lets a session name a role that does not exist; give it a stable made-up id.
    digest = hashlib.sha256(role_arn.encode()).hexdigest().upper()
    return "AROA" + "".join(c for c in digest if c.isalnum())[:17]
