"""``LabClient``: a small client for the lab's own ``/_cloudwarden/`` endpoints.

AWS APIs go through boto3; this covers what has no AWS API (console sign-ins, service log delivery,
flushing the recorder, status). It uses only the standard library, so scenarios and tests can use it
against a lab in another process. Endpoints are described in :mod:`cloudwarden.lab.recorder.helpers`.
"""

from __future__ import annotations

import base64
import json
import time
import urllib.error
import urllib.request
from typing import Any

from cloudwarden.core.errors import BadInputError, EndpointUnreachable, RuntimeFailure

_PREFIX = "/_cloudwarden/"


class LabClient:
    """``LabClient("http://127.0.0.1:4566")``."""

    def __init__(self, endpoint_url: str, timeout: float = 10.0) -> None:
        self.endpoint_url = endpoint_url.rstrip("/")
        self.timeout = timeout

    def status(self) -> dict[str, Any]:
        """Request/record counts, calls per second, delivery state, trails, accounts."""
        return self._call("GET", "status")

    def flush(self) -> dict[str, Any]:
        """Deliver pending CloudTrail records now; what was written."""
        return self._call("POST", "flush")

    def console_login(
        self,
        account_id: str,
        user_name: str,
        *,
        success: bool = True,
        mfa_used: bool = False,
        source_ip: str,
        user_agent: str = "Mozilla/5.0 (X11; Linux x86_64; rv:126.0) Gecko/20100101 Firefox/126.0",
        region: str = "us-east-1",
    ) -> str:
        """Emit a ``ConsoleLogin`` record; returns its ``eventID``."""
        answer = self._call(
            "POST",
            "console-login",
            {
                "account_id": account_id,
                "user_name": user_name,
                "success": success,
                "mfa_used": mfa_used,
                "source_ip": source_ip,
                "user_agent": user_agent,
                "region": region,
            },
        )
        return str(answer["eventID"])

    def deliver(self, account_id: str, bucket: str, key: str, body: bytes) -> dict[str, Any]:
        """Write an object into ``bucket`` as an AWS service delivering logs would (unrecorded)."""
        payload = {"account_id": account_id, "bucket": bucket, "key": key, "body_b64": base64.b64encode(body).decode()}
        return self._call("POST", "deliver", payload)

    def is_up(self) -> bool:
        try:
            self.status()
        except EndpointUnreachable:
            return False
        return True

    def wait_until_up(self, timeout: float = 30.0) -> None:
        """Block until the lab answers; ``EndpointUnreachable`` after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while not self.is_up():
            if time.monotonic() > deadline:
                raise EndpointUnreachable(f"the lab at {self.endpoint_url} did not answer within {timeout:.0f}s")
            time.sleep(0.1)

    def _call(self, method: str, name: str, payload: dict[str, Any] | None = None) -> dict[str, Any]:
        url = self.endpoint_url + _PREFIX + name
        data = json.dumps(payload).encode() if payload is not None else (b"" if method == "POST" else None)
        request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                body = response.read()
        except urllib.error.HTTPError as error:
            message = _error_message(error.read()) or error.reason
            if 400 <= error.code < 500:
                raise BadInputError(f"{method} {_PREFIX}{name}", str(message)) from error
            raise RuntimeFailure(f"the lab answered {error.code} to {method} {_PREFIX}{name}: {message}") from error
        except (urllib.error.URLError, ConnectionError, TimeoutError) as error:
            raise EndpointUnreachable(f"no lab answers at {self.endpoint_url} ({error})") from error
        answer = json.loads(body)
        if not isinstance(answer, dict):
            raise RuntimeFailure(f"the lab answered {name} with {type(answer).__name__}, not a JSON object")
        return answer


def _error_message(body: bytes) -> str:
    try:
        data = json.loads(body)
    except ValueError:
        return body.decode("utf-8", "replace")[:200]
    return str(data.get("error", "")) if isinstance(data, dict) else ""
