"""Building boto3 sessions and clients for a target (a real account or the lab).

One factory passed down explicitly, never a module-global session. ``endpoint_url`` is the seam to the
lab. Every client a scan uses comes from :class:`ClientFactory`, which decides, in one place:

* botocore timeouts and **adaptive retries** (``client_config``), so a scan neither hangs nor hammers;
* a client-side **token bucket per (account, service, region)** (:mod:`cloudwarden.aws.ratelimit`), taken
  before every HTTP attempt, so a scan never starves production of API quota;
* **counting** every request it sends (:class:`CallCounter`), so a run can say how many calls it made;
* the **S3 Control host fix** for local endpoints: S3 Control's endpoint rules put the account id in
  front of the host (``http://222222222222.127.0.0.1:4566``), which resolves nowhere; the request goes
  to the endpoint's own host instead (the account also travels in ``x-amz-account-id``). Real AWS
  endpoints are left alone. The rewrite happens after signing, harmless where signatures are not
  checked (moto) and never applied to ``*.amazonaws.com``;
* path-style S3 addressing on custom endpoints (bucket subdomains of ``127.0.0.1`` do not resolve);
* how fast clients are made: model files are parsed into plain dicts (:class:`PlainJSONFileLoader`), and
  assumed-role sessions share the caller's loader, so each model is parsed once per scan.

Credentials that expire (assumed roles, for runs over an hour) are refreshed by botocore's
``RefreshableCredentials`` (see :mod:`cloudwarden.aws.accounts`). Failures to reach the endpoint or to
authenticate become :mod:`cloudwarden.core.errors` runtime failures with a message that says what to do.
"""

from __future__ import annotations

import functools
import gzip
import json
import os
import threading
from collections import Counter
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import boto3
import botocore.exceptions
from botocore.config import Config
from botocore.loaders import JSONFileLoader

from cloudwarden.aws.ratelimit import RateLimiter
from cloudwarden.aws.target import DEFAULT_REGION as DEFAULT_REGION  # re-exported
from cloudwarden.aws.target import AwsTarget as AwsTarget  # re-exported
from cloudwarden.core.errors import CredentialsRefused, EndpointUnreachable

AWS_MAX_ATTEMPTS = 8
# A local endpoint is never throttled; its 500s mean "not implemented" and retrying them only costs time.
LOCAL_MAX_ATTEMPTS = 2
LAB_HINT = "start the embedded lab with `cloudwarden lab up --detach` and pass --endpoint-url (or set AWS_ENDPOINT_URL)"


def client_config(max_attempts: int = AWS_MAX_ATTEMPTS, *, path_style: bool = False) -> Config:
    extra: dict[str, Any] = {"s3": {"addressing_style": "path"}} if path_style else {}
    return Config(
        retries={"mode": "adaptive", "max_attempts": max_attempts},
        connect_timeout=5,
        read_timeout=60,
        user_agent_extra="cloudwarden",
        max_pool_connections=32,
        **extra,
    )


class PlainJSONFileLoader(JSONFileLoader):
    """botocore's model file loader without ``object_pairs_hook=OrderedDict``.

    Every client needs its service model, paginators and endpoint rules (a scan loads some 35 files, the EC2
    model alone megabytes); building ``OrderedDict``s through a Python hook makes that a third slower, and
    plain dicts keep key order anyway. Same files, same lookup order (``.json``, then ``.json.gz``).
    """

    def load_file(self, file_path: str) -> Any:
        for ext, opener in ((".json", open), (".json.gz", gzip.open)):
            path = file_path + ext
            if os.path.isfile(path):
                with opener(path, "rb") as handle:
                    return json.loads(handle.read().decode("utf-8"))
        return None


def fast_model_loading(session: boto3.Session, share_with: boto3.Session | None = None) -> boto3.Session:
    """Give ``session`` the plain-dict model loader, or ``share_with``'s loader (and with it the models that
    session already loaded: one account's session per member account need not parse them again)."""
    core = session._session  # boto3 exposes no public handle on its botocore session
    if share_with is not None:
        core.register_component("data_loader", share_with._session.get_component("data_loader"))
        return session
    loader = core.get_component("data_loader")
    if type(loader.file_loader) is JSONFileLoader:
        loader.file_loader = PlainJSONFileLoader()
    return session


def with_shared_models(session: boto3.Session) -> boto3.Session:
    """``session`` loading service models through one loader for the whole process (:func:`fast_model_loading`).

    For code that makes many short-lived sessions (the lab's seeder, its actors, one per principal and
    address): a client costs ~0.15 s when its session parses the models itself, a few milliseconds when
    another session already did.
    """
    return fast_model_loading(session, share_with=_model_source())


@functools.cache
def _model_source() -> boto3.Session:
    return fast_model_loading(boto3.Session())


def make_session(target: AwsTarget) -> boto3.Session:
    """A boto3 session for ``target``; with an endpoint and no credentials, the lab's default (root) keys."""
    kwargs: dict[str, Any] = {"region_name": target.region}
    if target.profile:
        kwargs["profile_name"] = target.profile
    if target.access_key_id:
        kwargs["aws_access_key_id"] = target.access_key_id
        kwargs["aws_secret_access_key"] = target.secret_access_key
        kwargs["aws_session_token"] = target.session_token
    try:
        session = boto3.Session(**kwargs)
    except botocore.exceptions.ProfileNotFound as exc:
        raise CredentialsRefused(f"--profile: {exc}") from None
    if session.get_credentials() is None:
        if target.endpoint_url:
            # A local endpoint (the lab) accepts any key; moto maps unknown keys to the management root.
            return fast_model_loading(boto3.Session(
                region_name=target.region, aws_access_key_id="testing", aws_secret_access_key="testing"
            ))
        raise CredentialsRefused(f"no AWS credentials found; {LAB_HINT}")
    return fast_model_loading(session)


def make_client(session: boto3.Session, service: str, target: AwsTarget, region: str | None = None) -> Any:
    """A client for ``service`` with our retry/timeout config, the target's endpoint and the local-endpoint
    fixes (no rate limit or counting: use :class:`ClientFactory` for scans)."""
    client = session.client(
        service,  # type: ignore[call-overload]
        region_name=region or target.region,
        endpoint_url=target.endpoint_url,
        config=client_config(LOCAL_MAX_ATTEMPTS if target.endpoint_url else AWS_MAX_ATTEMPTS,
                             path_style=bool(target.endpoint_url)),
    )
    if target.endpoint_url:
        client.meta.events.register("before-send.s3-control", host_prefix_fix(target.endpoint_url))
    return client


def host_prefix_fix(endpoint_url: str) -> Any:
    """A ``before-send`` hook sending ``<digits>.<endpoint host>`` requests to the endpoint host itself."""
    endpoint = urlsplit(endpoint_url).netloc

    def strip_account_prefix(request: Any, **_: Any) -> None:
        url = urlsplit(request.url)
        head, dot, rest = url.netloc.partition(".")
        if dot and rest == endpoint and head.isdigit():
            request.url = urlunsplit(url._replace(netloc=endpoint))

    return strip_account_prefix


class CallCounter:
    """Thread-safe count of HTTP requests sent, keyed (account, service, region, operation)."""

    def __init__(self) -> None:
        self._counts: Counter[tuple[str, str, str, str]] = Counter()
        self._lock = threading.Lock()

    def add(self, account: str, service: str, region: str, operation: str) -> None:
        with self._lock:
            self._counts[(account, service, region, operation)] += 1

    @property
    def total(self) -> int:
        with self._lock:
            return sum(self._counts.values())

    def by(self, *fields: str) -> dict[tuple[str, ...], int]:
        """Totals grouped by some of ``account``, ``service``, ``region``, ``operation``."""
        index = {"account": 0, "service": 1, "region": 2, "operation": 3}
        grouped: Counter[tuple[str, ...]] = Counter()
        with self._lock:
            for key, count in self._counts.items():
                grouped[tuple(key[index[f]] for f in fields)] += count
        return dict(grouped)


class ClientFactory:
    """Cached, rate-limited, counted clients for one account's session.

    Clients are thread-safe once made, but making one from a shared boto3 session is not, so creation
    happens under a lock and each (service, region) client is made once and shared.
    """

    def __init__(
        self,
        target: AwsTarget,
        session: boto3.Session,
        account: str,
        *,
        limiter: RateLimiter | None = None,
        counter: CallCounter | None = None,
    ) -> None:
        self.target = target
        self.session = session
        self.account = account
        self.limiter = limiter or RateLimiter()
        self.counter = counter or CallCounter()
        self._clients: dict[tuple[str, str], Any] = {}
        self._lock = threading.Lock()

    def client(self, service: str, region: str | None = None) -> Any:
        where = region or self.target.region
        key = (service, where)
        with self._lock:
            found = self._clients.get(key)
            if found is None:
                found = self._clients[key] = self._make(service, where)
            return found

    def _make(self, service: str, region: str) -> Any:
        client = make_client(self.session, service, self.target, region)
        bucket = self.limiter.bucket(self.account, service, region)
        counter, account = self.counter, self.account

        def before_send(event_name: str = "", **_: Any) -> None:
            bucket.acquire()
            operation = event_name.rsplit(".", 1)[-1]
            counter.add(account, service, region, operation)

        client.meta.events.register("before-send", before_send)
        return client

    def for_session(self, session: boto3.Session, account: str) -> ClientFactory:
        """A factory for another account's session sharing this one's rate limiter and counter."""
        return ClientFactory(self.target, session, account, limiter=self.limiter, counter=self.counter)


def check_reachable(target: AwsTarget) -> str:
    """Call ``sts:GetCallerIdentity``; return the caller ARN or raise a runtime failure saying what to do."""
    return str(caller_identity(make_session(target), target)["Arn"])


def caller_identity(session: boto3.Session, target: AwsTarget) -> dict[str, str]:
    """``sts:GetCallerIdentity`` (Account, Arn, UserId), or a runtime failure saying what to do."""
    sts = session.client(
        "sts",
        region_name=target.region,
        endpoint_url=target.endpoint_url,
        config=Config(retries={"max_attempts": 2}, connect_timeout=3, read_timeout=10),
    )
    try:
        found = sts.get_caller_identity()
    except botocore.exceptions.EndpointConnectionError:
        where = target.endpoint_url or "AWS"
        raise EndpointUnreachable(f"cannot reach {where}; {LAB_HINT}") from None
    except botocore.exceptions.NoCredentialsError:
        raise CredentialsRefused(f"no AWS credentials found; {LAB_HINT}") from None
    except botocore.exceptions.ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        raise CredentialsRefused(f"AWS refused the credentials ({code})") from None
    return {"Account": str(found["Account"]), "Arn": str(found["Arn"]), "UserId": str(found["UserId"])}
