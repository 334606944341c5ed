"""The recorder: turns each HTTP exchange with the lab into CloudTrail records and hands them on.

One :class:`Recorder` lives in the lab server's process. For every request the WSGI middleware
captures, it resolves the operation (:mod:`.operations`), the caller (:mod:`.identity`), builds the
record (:mod:`.record`), picks the trails that receive it (:mod:`.trails`), keeps it for
``LookupEvents`` (:mod:`.lookup`) and queues it for delivery (:mod:`.delivery`).

Recording can be paused (the demo organisation is seeded with recording paused, so the trail starts
the way a real account's does, with people's activity and not the lab's set-up).

Scenarios play AWS services through a convention: a call made with the lab's default key whose
``X-Forwarded-For`` address or user agent is a service principal (``ec2.amazonaws.com``) is recorded
as that service acting (``userIdentity.type`` ``AWSService``, ``invokedBy``, the service name as
address and agent), not as the management account's root; an ``sts:AssumeRole`` made so (EC2
delivering an instance profile's credentials) goes to the role's account. Any other call that
assumes a role in another account is logged in both accounts under one ``sharedEventID``, as
cross-account object access is.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cloudwarden.lab.recorder.delivery import DEFAULT_INTERVAL, Delivery, FlushResult
from cloudwarden.lab.recorder.http import CapturedRequest, CapturedResponse
from cloudwarden.lab.recorder.identity import Identity, IdentityResolver, aws_service_principal, service_identity
from cloudwarden.lab.recorder.lookup import EventHistory, LookupFailure
from cloudwarden.lab.recorder.operations import Operation, OperationResolver
from cloudwarden.lab.recorder.record import (
    DEFAULT_REGION,
    ROLE_ASSUMPTIONS,
    ApiCall,
    build_api_record,
    build_console_login,
    data_resource_type,
    is_read_only,
    role_account,
)
from cloudwarden.lab.recorder.trails import TrailDirectory, TrailTarget, read_trails

log = logging.getLogger(__name__)

# Services whose writes change who receives records: re-read the trails after them.
_TRAIL_STATE_SOURCES = frozenset({"cloudtrail.amazonaws.com", "organizations.amazonaws.com"})
_UNSIGNED_STS_ACTIONS = ("AssumeRoleWithWebIdentity", "AssumeRoleWithSAML")


class RequestStats:
    """Total requests and a per-second count over the last minute (for ``lab status``)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.total = 0
        self._seconds: deque[list[int]] = deque(maxlen=60)

    def count(self) -> None:
        second = int(time.time())
        with self._lock:
            self.total += 1
            if self._seconds and self._seconds[-1][0] == second:
                self._seconds[-1][1] += 1
            else:
                self._seconds.append([second, 1])

    def per_second(self, window: int = 10) -> float:
        now = int(time.time())
        with self._lock:
            recent = sum(n for second, n in self._seconds if now - window <= second < now)
        return recent / window


@dataclass(frozen=True)
class _Prepared:
    """What the recorder noted before moto handled a request."""

    trails_before: tuple[TrailTarget, ...] | None


class Recorder:
    """Records API calls as CloudTrail does; thread-safe (the lab server is threaded)."""

    def __init__(self, state_dir: Path, *, flush_interval: float = DEFAULT_INTERVAL) -> None:
        self.state_dir = state_dir
        self.resolver = OperationResolver()
        self.identities = IdentityResolver()
        self.trails = TrailDirectory()
        self.delivery = Delivery(state_dir, flush_interval)
        self.history = EventHistory()
        self.stats = RequestStats()
        self.accounts: dict[str, str] = {}
        self._recording = threading.Event()
        self._recording.set()
        self._lock = threading.Lock()
        self.records_total = 0
        self.recording_errors = 0

    # --- lifecycle ------------------------------------------------------------------------------
    def start(self) -> None:
        self.delivery.start()

    def stop(self) -> FlushResult:
        return self.delivery.stop()

    def flush(self) -> FlushResult:
        return self.delivery.flush()

    @property
    def recording(self) -> bool:
        return self._recording.is_set()

    def pause(self) -> None:
        self._recording.clear()

    def resume(self) -> None:
        self.trails.invalidate()
        self._recording.set()

    @contextmanager
    def paused(self) -> Iterator[None]:
        """Nothing made inside is recorded (used while seeding)."""
        self.pause()
        try:
            yield
        finally:
            self.resume()

    # --- one exchange ---------------------------------------------------------------------------
    def prepare(self, request: CapturedRequest) -> _Prepared:
        """Called before moto handles ``request``: notes the trails a trail-changing call may change."""
        scope = request.scope()
        if scope.signing_name == "cloudtrail" and not _target_is_read(request.header("x-amz-target")):
            return _Prepared(tuple(t for t in read_trails() if t.logging))
        return _Prepared(None)

    def lookup_events(self, request: CapturedRequest) -> CapturedResponse | None:
        """The answer to ``cloudtrail:LookupEvents`` (which moto lacks), or None for other requests."""
        scope = request.scope()
        if scope.signing_name != "cloudtrail" or not request.header("x-amz-target").endswith(".LookupEvents"):
            return None
        identity = self.identities.resolve(scope.access_key_id)
        request_id = str(uuid.uuid4())
        headers = {"content-type": "application/x-amz-json-1.1", "x-amzn-requestid": request_id}
        try:
            body = json.loads(request.body or b"{}")
            if not isinstance(body, dict):
                raise LookupFailure("SerializationException", "The request body must be a JSON object.")
            answer = self.history.lookup(identity.account_id, scope.region or DEFAULT_REGION, body)
        except ValueError:
            error = {"__type": "SerializationException", "message": "The request body is not JSON."}
            return CapturedResponse(400, headers, json.dumps(error).encode())
        except LookupFailure as failure:
            error = {"__type": failure.code, "message": failure.message}
            return CapturedResponse(400, headers, json.dumps(error).encode())
        return CapturedResponse(200, headers, json.dumps(answer).encode())

    def operation(self, request: CapturedRequest) -> Operation:
        """The API operation ``request`` calls (its service, name and protocol), from botocore's models."""
        signing = request.scope().signing_name or _unsigned_service(request)
        rest_path = None
        if signing == "s3":
            bucket = virtual_host_bucket(request.host)
            if bucket:
                rest_path = f"/{bucket}{request.path}"
        return self.resolver.resolve(request, signing, rest_path)

    def record_exchange(
        self,
        request: CapturedRequest,
        response: CapturedResponse,
        event_time: datetime,
        prepared: _Prepared | None = None,
    ) -> list[dict[str, Any]]:
        """Record one exchange (unless paused); returns the records made."""
        scope = request.scope()
        operation = self.operation(request)
        if response.ok and operation.event_source in _TRAIL_STATE_SOURCES and not is_read_only(operation.name):
            self.trails.invalidate()
        if not self.recording:
            return []
        bucket_owner, bucket_region = _bucket_location(operation)
        identity = self.identities.resolve(scope.access_key_id)
        if identity.anonymous:
            identity = replace(identity, account_id=bucket_owner or identity.account_id)
        assumed_account = _assumed_role_account(operation, request)
        if identity.default_key:
            service = aws_service_principal(request.source_ip, request.header("user-agent"))
            if service is not None:
                identity = service_identity(service, assumed_account or identity.account_id)
        call = ApiCall(
            request=request,
            response=response,
            operation=operation,
            identity=identity,
            # S3 logs a bucket's events in the bucket's region, whatever region signed the request.
            region=bucket_region or scope.region or DEFAULT_REGION,
            event_time=event_time,
            bucket_owner=bucket_owner,
        )
        record = build_api_record(call)
        self._note_session(operation, request, record, identity)
        records = [record]
        other_account = None
        if (
            bucket_owner
            and bucket_owner != identity.account_id
            and not identity.anonymous
            and data_resource_type(operation) is not None
        ):
            # Cross-account object access is logged in the bucket owner's account too.
            other_account = bucket_owner
        elif assumed_account and assumed_account != identity.account_id and response.ok:
            # So is assuming another account's role, in the role's account.
            other_account = assumed_account
        if other_account is not None:
            shared = {"sharedEventID": str(uuid.uuid4())}
            records[0] = record = _with_shared_id(record, shared)
            copy = {**record, "eventID": str(uuid.uuid4()), "recipientAccountId": other_account}
            records.append(copy)
        before = prepared.trails_before if prepared is not None else None
        for item in records:
            self.emit(item, identity.username, extra_targets=before)
        return records

    def emit(
        self,
        record: Mapping[str, Any],
        username: str,
        extra_targets: tuple[TrailTarget, ...] | None = None,
    ) -> None:
        """Keep a finished record for LookupEvents and queue it for every trail that receives it."""
        targets = self.trails.targets_for(record)
        if extra_targets:
            # A trail-changing call is logged by the trails as they were before it (StopLogging's
            # own event still reaches the trail it stopped) and as they are after it.
            known = {t.arn for t in targets}
            targets += [t for t in extra_targets if t.arn not in known and t.receives(record)]
        self.history.add(record, username)
        self.delivery.add(record, targets)
        with self._lock:
            self.records_total += 1

    def note_recording_error(self) -> None:
        with self._lock:
            self.recording_errors += 1

    # --- console sign-in ------------------------------------------------------------------------
    def console_login(
        self,
        *,
        account_id: str,
        user_name: str,
        success: bool,
        mfa_used: bool,
        source_ip: str,
        user_agent: str,
        region: str = DEFAULT_REGION,
    ) -> dict[str, Any] | None:
        """Emit a ``ConsoleLogin`` record; None when ``user_name`` does not exist and the login succeeded."""
        identity = self.identities.user(account_id, user_name)
        if identity is None:
            if success:
                return None
            # CloudTrail hides the name typed for a user that does not exist.
            identity = Identity(
                {
                    "type": "IAMUser",
                    "principalId": "",
                    "accountId": account_id,
                    "accessKeyId": "",
                    "userName": "HIDDEN_DUE_TO_SECURITY_REASONS",
                },
                account_id,
                "HIDDEN_DUE_TO_SECURITY_REASONS",
                None,
            )
        record = build_console_login(
            identity,
            event_time=datetime.now(UTC),
            region=region,
            source_ip=source_ip,
            user_agent=user_agent,
            success=success,
            mfa_used=mfa_used,
        )
        self.emit(record, identity.username)
        return record

    # --- status ---------------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        trails = [
            {
                "arn": t.arn,
                "bucket": t.bucket,
                "logging": t.logging,
                "multi_region": t.multi_region,
                "organization_trail": t.organization_id is not None,
            }
            for t in read_trails()
        ]
        return {
            "recording": self.recording,
            "requests_total": self.stats.total,
            "calls_per_second": self.stats.per_second(),
            "records_total": self.records_total,
            "records_pending": self.delivery.pending,
            "records_delivered": self.delivery.delivered_records,
            "disk_files": self.delivery.disk_files,
            "trail_files": self.delivery.trail_files,
            "delivery_errors": list(self.delivery.delivery_errors),
            "recording_errors": self.recording_errors,
            "history_events": self.history.count(),
            "trails": trails,
            "accounts": dict(self.accounts),
        }

    def _note_session(
        self, operation: Operation, request: CapturedRequest, record: Mapping[str, Any], caller: Identity
    ) -> None:
        """Remember what moto does not: whether a role session was made with MFA, and whose
        ``GetSessionToken`` credentials are."""
        if operation.event_source != "sts.amazonaws.com" or operation.name not in ("AssumeRole", "GetSessionToken"):
            return
        elements = record.get("responseElements") or {}
        credentials = elements.get("credentials") if isinstance(elements, dict) else None
        key = credentials.get("accessKeyId") if isinstance(credentials, dict) else None
        if not isinstance(key, str):
            return
        form = request.form()
        mfa = bool(form.get("SerialNumber") and form.get("TokenCode"))
        if operation.name == "GetSessionToken":
            self.identities.note_session_token(key, caller, mfa_authenticated=mfa)
        elif mfa:
            self.identities.note_session(key, mfa_authenticated=True)


def _assumed_role_account(operation: Operation, request: CapturedRequest) -> str | None:
    """The account of the role an ``sts:AssumeRole*`` call names, or None for other calls."""
    if operation.event_source != "sts.amazonaws.com" or operation.name not in ROLE_ASSUMPTIONS:
        return None
    return role_account(request.form().get("RoleArn", [""])[0])


def _with_shared_id(record: dict[str, Any], shared: dict[str, str]) -> dict[str, Any]:
    """``record`` with ``sharedEventID`` where CloudTrail puts it (after ``recipientAccountId``)."""
    out: dict[str, Any] = {}
    for key, value in record.items():
        if key == "sharedEventID":
            continue
        out[key] = value
        if key == "recipientAccountId":
            out.update(shared)
    return out


def _target_is_read(target: str) -> bool:
    return is_read_only(target.rpartition(".")[2]) if target else True


def _unsigned_service(request: CapturedRequest) -> str:
    """The service of an unsigned request: STS web-identity/SAML federation, else S3 (as moto assumes)."""
    if request.header("content-type").startswith("application/x-www-form-urlencoded"):
        action = request.form().get("Action", [""])[0]
        if action in _UNSIGNED_STS_ACTIONS:
            return "sts"
    return "s3"


def virtual_host_bucket(host: str) -> str | None:
    """The bucket a virtual-host-style S3 request names in its Host header, decided as moto decides it."""
    name = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    if (
        not name
        or name.startswith(("localhost", "localstack", "host.docker.internal", "["))
        or "." not in name
        or name.replace(".", "").isdigit()
    ):
        return None
    from moto.s3.utils import bucket_name_from_url

    bucket = bucket_name_from_url(f"http://{host}")
    return str(bucket) if bucket else None


def _bucket_location(operation: Operation) -> tuple[str | None, str | None]:
    """The owning account and region of the S3 bucket an operation names, if it exists."""
    bucket = operation.uri_params.get("Bucket") if operation.service == "s3" else None
    if not bucket:
        return None, None
    from moto.s3.models import s3_backends

    owner = s3_backends.bucket_accounts.get(bucket)
    if owner is None:
        return None, None
    partition, account_id = owner
    account = dict.get(s3_backends, account_id)
    backend = dict.get(account, partition) if account is not None else None
    found = backend.buckets.get(bucket) if backend is not None else None
    return str(account_id), (str(found.region_name) if found is not None else None)
