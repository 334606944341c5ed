"""The lab server: moto's server application, wrapped by the CloudTrail recorder, on 127.0.0.1.

moto ships ``ThreadedMotoServer``, but it serves moto's bare application; we need the recorder
around it, so :class:`LabServer` builds the same thing itself: moto's
``DomainDispatcherApplication(create_backend_app)`` wrapped in
:class:`~cloudwarden.lab.recorder.RecordingMiddleware`, served by a threaded werkzeug server with
moto's request handler, bound to the loopback address only.

moto keeps all AWS state in process-wide dicts, so one process runs one lab at a time; starting a
:class:`Lab` resets that state and applies the settings that make moto behave like an account:

* ``MOTO_IAM_LOAD_MANAGED_POLICIES=true`` (read when an IAM backend is created): AWS managed
  policies such as ``AdministratorAccess`` exist, as in every real account;
* ``MOTO_EC2_LOAD_DEFAULT_AMIS=false`` (read when an EC2 backend is created): otherwise about 1,300
  built-in AMIs and their snapshots are reported as the account's own;
* Lambda and Batch ``use_docker: false`` (moto's ``default_user_config``, what ``/moto-api/config``
  sets): functions are stored, never run in containers;
* AWS managed policies built from one parse of moto's list, in the ``aws`` partition only
  (:func:`_parse_managed_policies_once`).

Both environment settings are read when backends are built, not at import, which is why the lab sets
them and then resets moto's backends: whatever was built before is rebuilt with them.

:class:`Lab` is the one entry point for code and tests (a context manager); :func:`run_foreground`
is what ``cloudwarden lab up`` runs. Besides AWS's APIs the server answers ``cloudtrail:LookupEvents``
from its own records and the lab's helper endpoints under ``/_cloudwarden/`` (console sign-ins, log
delivery, flush, status), described in :mod:`cloudwarden.lab.recorder.helpers`.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import signal
import socket
import threading
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any, Literal

from cloudwarden.core.errors import RuntimeFailure
from cloudwarden.lab.client import LabClient
from cloudwarden.lab.recorder import Recorder, RecordingMiddleware
from cloudwarden.lab.recorder.delivery import DEFAULT_INTERVAL
from cloudwarden.lab.recorder.errors import UnknownService
from cloudwarden.lab.recorder.identity import default_account_id
from cloudwarden.lab.state import LabState, clear_state, write_state

log = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"
DEFAULT_PORT = 4566
# The lab's default credentials: any key moto does not know acts as the management account's root.
DEFAULT_ACCESS_KEY_ID = "testing"
DEFAULT_SECRET_ACCESS_KEY = "testing"
DEFAULT_REGION = "us-east-1"

Seed = Literal["demo", "empty"]
SEEDS: tuple[Seed, ...] = ("demo", "empty")

_process_lock = threading.Lock()
_active_lab: Lab | None = None


class LabPortInUse(RuntimeFailure):
    """The port the lab should listen on is taken."""


def configure_moto() -> None:
    """Apply the settings the lab needs; they take effect for backends built afterwards."""
    os.environ["MOTO_IAM_LOAD_MANAGED_POLICIES"] = "true"
    os.environ["MOTO_EC2_LOAD_DEFAULT_AMIS"] = "false"
    from moto.core.config import default_user_config

    default_user_config["lambda"] = {"use_docker": False}
    default_user_config["batch"] = {"use_docker": False}
    default_user_config["iam"] = {"load_aws_managed_policies": True}
    _parse_managed_policies_once()


def _parse_managed_policies_once() -> None:
    """Give moto's IAM backends their AWS managed policies from one parse of moto's list, in the ``aws`` partition.

    moto builds an IAM backend per account for each of its eight partitions (the first request signed with a
    key looks the key up in all of them), and each one parses moto's 1.5 MB list of ~1,400 AWS managed
    policies: 24 parses and ~34,000 policy objects for the demo's three accounts, a third of the demo lab's
    start. The lab is an account in the ``aws`` partition, so only there are they built, and from a list
    parsed once per process. Left as moto has it when moto's module no longer has the names this relies on.
    """
    from moto.iam import models

    found: list[Any] = [getattr(models, name, None) for name in ("aws_managed_policies_data", "AWSManagedPolicy",
                                                                 "load_iam_aws_managed_policies")]
    if getattr(models.IAMBackend._init_aws_policies, "parsed_once", False) or None in found:
        return
    data, policy, enabled = found
    parsed: dict[str, Any] = json.loads(data)

    def init_aws_policies(backend: Any) -> list[Any]:
        if not enabled() or backend.partition != "aws":
            return []
        return [policy.from_data(name, backend.account_id, backend.region_name, item) for name, item in parsed.items()]

    init_aws_policies.parsed_once = True  # type: ignore[attr-defined]
    setattr(models.IAMBackend, "_init_aws_policies", init_aws_policies)  # noqa: B010 (a method replaced)


def reset_moto() -> None:
    """Drop every moto backend; they are rebuilt, with the lab's settings, on first use.

    ``POST /moto-api/reset`` re-initialises each backend before discarding it, which rebuilds the
    1,300 AWS managed policies of every IAM backend (seconds with a few accounts); dropping them is
    enough. Two cross-account indexes that moto's reset keeps (bucket owners, organisation members)
    are cleared too, so a new lab starts from nothing.
    """
    from moto.core.base_backend import BackendDict, backend_lock
    from moto.core.model_instances import reset_model_data
    from moto.organizations.models import organizations_backends
    from moto.s3.models import s3_backends

    with backend_lock:
        for backends in BackendDict._instances:  # type: ignore[misc]
            backends.clear()
        BackendDict._instances.clear()  # type: ignore[misc]
        s3_backends.bucket_accounts.clear()
        organizations_backends.master_accounts.clear()
    reset_model_data()


class LabServer:
    """moto's application wrapped by a recorder, served on ``host:port`` by a threaded werkzeug server."""

    def __init__(self, recorder: Recorder, host: str = LOOPBACK, port: int = 0) -> None:
        self.recorder = recorder
        self.host = host
        self.requested_port = port
        self._server: Any = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeFailure("the lab server is not running")
        return int(self._server.server_address[1])

    def start(self) -> None:
        from werkzeug.serving import make_server

        application = RecordingMiddleware(_dispatcher(), self.recorder)
        # Bind ourselves: werkzeug prints and exits the process when its own bind fails.
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            listener.bind((self.host, self.requested_port))
            listener.listen(128)
        except OSError as exc:
            listener.close()
            if exc.errno == errno.EADDRINUSE:
                raise LabPortInUse(
                    f"port {self.requested_port} on {self.host} is already in use (another lab? try "
                    "`cloudwarden lab status`, or pass --port)"
                ) from exc
            raise RuntimeFailure(f"cannot listen on {self.host}:{self.requested_port}: {exc}") from exc
        try:
            self._server = make_server(
                self.host,
                self.requested_port,
                application,
                threaded=True,
                request_handler=_quiet_handler(),
                fd=listener.fileno(),
            )
        finally:
            listener.close()  # werkzeug serves a duplicate of the descriptor
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, name="lab-server", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join()
        self._server = None
        self._thread = None


def _dispatcher() -> Any:
    """moto's ``DomainDispatcherApplication``, raising :class:`UnknownService` for a host no moto backend serves.

    moto's own prints a line to standard output for such a host and then fails with an ``AttributeError``
    inside Flask; the lab answers the call itself instead (see :mod:`cloudwarden.lab.recorder.errors`).
    ``get_backend_for_host`` is moto's, without the print.
    """
    from moto import backends
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    def create_app(service: Any) -> Any:
        if service is None:
            raise UnknownService("no moto backend serves this host")
        return create_backend_app(service)

    class Dispatcher(DomainDispatcherApplication):
        def get_backend_for_host(self, host: str | None) -> Any:
            if host is None or host == "moto_api" or host in backends.list_of_moto_modules():
                return host
            return next((backend for backend, pattern in self.backend_url_patterns
                         if pattern.match(f"http://{host}")), None)

    return Dispatcher(create_app)


def _quiet_handler() -> type:
    """moto's request handler, without a log line per request (errors are still logged)."""
    from moto.moto_server.werkzeug_app import MotoRequestHandler

    class QuietRequestHandler(MotoRequestHandler):
        def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
            return None

    return QuietRequestHandler


class Lab:
    """A running lab: server, recorder, seeded accounts and ``lab.json`` in ``state_dir``.

    ::

        with Lab(tmp_path, seed="empty") as lab:
            iam = lab.aws_client("iam")
            ...
            lab.client.flush()
    """

    def __init__(
        self,
        state_dir: Path,
        *,
        port: int = 0,
        host: str = LOOPBACK,
        seed: Seed = "empty",
        flush_interval: float = DEFAULT_INTERVAL,
    ) -> None:
        if seed not in SEEDS:
            raise RuntimeFailure(f"unknown seed {seed!r} (one of {', '.join(SEEDS)})")
        self.state_dir = state_dir
        self.seed = seed
        self.recorder = Recorder(state_dir, flush_interval=flush_interval)
        self.server = LabServer(self.recorder, host, port)
        self.accounts: dict[str, str] = {}
        self.started_at: datetime | None = None
        self._running = False

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def endpoint_url(self) -> str:
        return f"http://{self.server.host}:{self.port}"

    @property
    def client(self) -> LabClient:
        return LabClient(self.endpoint_url)

    def start(self) -> Lab:
        global _active_lab
        with _process_lock:
            if _active_lab is not None:
                raise RuntimeFailure(
                    f"a lab already runs in this process at {_active_lab.endpoint_url} (moto's state is process-wide)"
                )
            _active_lab = self
        try:
            configure_moto()
            reset_moto()
            self.state_dir.mkdir(parents=True, exist_ok=True)
            self.server.start()
            self._running = True
            self.recorder.start()
            self.accounts = self._seed()
            self.recorder.accounts = dict(self.accounts)
            self.started_at = datetime.now(UTC)
            write_state(self.state_dir, self.state())
        except BaseException:
            self.stop()
            raise
        return self

    def state(self) -> LabState:
        return LabState(
            pid=os.getpid(),
            endpoint=self.endpoint_url,
            port=self.port,
            started_at=self.started_at or datetime.now(UTC),
            seed=self.seed,
            accounts=self.accounts,
        )

    def stop(self) -> None:
        """Stop serving, deliver what is pending, remove ``lab.json``. Safe to call twice."""
        global _active_lab
        try:
            if self._running:
                self.server.stop()
                self.recorder.stop()
                self._running = False
                clear_state(self.state_dir, os.getpid())
        finally:
            with _process_lock:
                if _active_lab is self:
                    _active_lab = None

    def __enter__(self) -> Lab:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()

    def aws_client(
        self,
        service: str,
        *,
        region: str = DEFAULT_REGION,
        access_key_id: str = DEFAULT_ACCESS_KEY_ID,
        secret_access_key: str = DEFAULT_SECRET_ACCESS_KEY,
        session_token: str | None = None,
        **config: Any,
    ) -> Any:
        """A boto3 client for ``service`` against this lab (default: the management account's root)."""
        import boto3
        from botocore.config import Config

        factory: Any = boto3  # the service name is a runtime string, not one of the stubs' literals
        return factory.client(
            service,
            endpoint_url=self.endpoint_url,
            region_name=region,
            aws_access_key_id=access_key_id,
            aws_secret_access_key=secret_access_key,
            aws_session_token=session_token,
            config=Config(retries={"mode": "standard", "max_attempts": 2}, **config),
        )

    def _seed(self) -> dict[str, str]:
        if self.seed == "empty":
            return {"management": default_account_id()}
        try:
            from cloudwarden.lab.seed import seed_demo
        except ImportError as exc:
            if not (exc.name or "").startswith("cloudwarden.lab.seed"):
                raise
            raise RuntimeFailure("--seed demo needs cloudwarden.lab.seed, which this installation lacks") from exc
        with self.recorder.paused():
            result = seed_demo(self.endpoint_url, self.state_dir)
        return dict(result.accounts)


def run_foreground(lab: Lab, on_ready: Any = None) -> None:
    """Run ``lab`` until SIGTERM or SIGINT, then stop it (records are flushed before exit)."""
    stop = threading.Event()

    def _handle(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, _handle) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        lab.start()
        if on_ready is not None:
            on_ready(lab)
        while not stop.wait(0.5):
            pass
    finally:
        lab.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
