from __future__ import annotations

import os
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


def test_model_files_load_as_plain_dicts_equal_to_botocores_own() -> None:
    from botocore import BOTOCORE_ROOT
    from botocore.loaders import JSONFileLoader

    from cloudwarden.aws.session import PlainJSONFileLoader

    session = make_session(AwsTarget(endpoint_url="http://127.0.0.1:1"))
    loader = session._session.get_component("data_loader")
    assert isinstance(loader.file_loader, PlainJSONFileLoader)
    version = loader.determine_latest_version("sts", "service-2")
    base = os.path.join(BOTOCORE_ROOT, "data", "sts", version, "service-2")
    plain, theirs = PlainJSONFileLoader().load_file(base), JSONFileLoader().load_file(base)
    assert type(plain) is dict and plain == theirs and list(plain) == list(theirs)
    assert PlainJSONFileLoader().load_file(base + "-missing") is None
    client = session.client("sts", endpoint_url="http://127.0.0.1:1")
    assert "AssumeRole" in client.meta.service_model.operation_names


def test_an_assumed_role_session_shares_the_callers_model_loader() -> None:
    import boto3

    from cloudwarden.aws.session import fast_model_loading

    base = make_session(AwsTarget(endpoint_url="http://127.0.0.1:1"))
    other = fast_model_loading(boto3.Session(region_name="us-east-1", aws_access_key_id="a",
                                             aws_secret_access_key="b"), share_with=base)
    assert other._session.get_component("data_loader") is base._session.get_component("data_loader")


def test_sessions_with_shared_models_parse_a_service_model_once() -> None:
    import boto3

    from cloudwarden.aws.session import PlainJSONFileLoader, with_shared_models

    def session() -> boto3.Session:
        return with_shared_models(boto3.Session(region_name="us-east-1", aws_access_key_id="a",
                                                aws_secret_access_key="b"))

    first, second = session(), session()
    loader = first._session.get_component("data_loader")
    assert second._session.get_component("data_loader") is loader
    assert isinstance(loader.file_loader, PlainJSONFileLoader)
    read: list[str] = []
    load_file = loader.file_loader.load_file
    loader.file_loader.load_file = lambda path: read.append(path) or load_file(path)
    try:
        first.client("kinesisvideo", endpoint_url="http://127.0.0.1:1")  # a service nothing else here loads
        parsed = len(read)
        second.client("kinesisvideo", endpoint_url="http://127.0.0.1:1")
    finally:
        loader.file_loader.load_file = load_file
    assert parsed > 0 and len(read) == parsed  # the second session's client parsed nothing
