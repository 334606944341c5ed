from __future__ import annotations

import socket

import pytest

from cloudwarden.aws.session import AwsTarget, check_reachable, make_session
from cloudwarden.core.errors import CredentialsRefused, EndpointUnreachable


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_unreachable_endpoint_is_a_runtime_failure_that_says_how_to_start_the_lab() -> None:
    target = AwsTarget(endpoint_url=f"http://127.0.0.1:{_closed_port()}")
    with pytest.raises(EndpointUnreachable) as err:
        check_reachable(target)
    assert err.value.exit_code == 3
    assert "cloudwarden lab up" in str(err.value)


def test_no_credentials_and_no_endpoint_says_how_to_start_the_lab(
    monkeypatch: pytest.MonkeyPatch, tmp_path: object
) -> None:
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/config")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with pytest.raises(CredentialsRefused) as err:
        make_session(AwsTarget())
    assert "lab up" in str(err.value)


def test_endpoint_without_credentials_uses_lab_default_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/config")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    creds = make_session(AwsTarget(endpoint_url="http://127.0.0.1:1")).get_credentials()
    assert creds is not None and creds.access_key == "testing"
