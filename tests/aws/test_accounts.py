"""Accounts, roles and regions against the lab (an empty one: these need no seeded organisation)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import botocore.exceptions
import pytest
from botocore.credentials import RefreshableCredentials

from cloudwarden.aws.accounts import assume_role_session, enabled_regions, resolve_accounts, role_arn
from cloudwarden.aws.session import AwsTarget, ClientFactory, make_session
from cloudwarden.lab.server import Lab

pytestmark = pytest.mark.lab
CALLER = "123456789012"


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    with Lab(tmp_path_factory.mktemp("lab"), seed="empty", flush_interval=3600.0) as running:
        yield running


@pytest.fixture
def factory(lab: Lab) -> ClientFactory:
    target = AwsTarget(endpoint_url=lab.endpoint_url)
    return ClientFactory(target, make_session(target), CALLER)


def test_enabled_regions_drop_regions_not_opted_in(factory: ClientFactory) -> None:
    regions = enabled_regions(factory)
    assert "us-east-1" in regions and "eu-west-1" in regions
    assert "ap-east-1" not in regions  # opt-in region the lab lists as not-opted-in
    assert enabled_regions(factory, filters=[{"Name": "region-name", "Values": ["eu-west-1", "ap-east-1"]}]) == [
        "eu-west-1"]


def test_client_factory_counts_requests_and_reaches_s3_control_on_a_local_endpoint(factory: ClientFactory) -> None:
    s3control = factory.client("s3control")
    with pytest.raises(botocore.exceptions.ClientError) as err:  # reached the lab: not a connection error
        s3control.get_public_access_block(AccountId=CALLER)
    assert err.value.response["Error"]["Code"] == "NoSuchPublicAccessBlockConfiguration"
    factory.client("s3").list_buckets()
    assert factory.client("s3") is factory.client("s3")
    assert factory.counter.by("service") == {("s3control",): 1, ("s3",): 1}
    assert factory.counter.by("account", "operation")[(CALLER, "ListBuckets")] == 1


def test_without_role_name_other_accounts_are_errors_not_omissions(factory: ClientFactory) -> None:
    handles = resolve_accounts(factory, CALLER, None, ["123456789012", "222222222222"])
    assert [(h.account_id, h.factory is not None) for h in handles] == [(CALLER, True), ("222222222222", False)]
    assert handles[1].error is not None and handles[1].error["code"] == "AccountNotReachable"


def test_with_role_name_and_no_organisation_the_caller_is_still_scanned(factory: ClientFactory) -> None:
    handles = resolve_accounts(factory, CALLER, "OrganizationAccountAccessRole")
    assert [(h.account_id, h.factory) for h in handles] == [(CALLER, factory)]
    assert handles[0].error is None


def test_assumed_role_credentials_refresh_themselves(lab: Lab) -> None:
    target = AwsTarget(endpoint_url=lab.endpoint_url)
    session = assume_role_session(make_session(target), target, role_arn("111122223333", "Auditor"))
    sts = session.client("sts", endpoint_url=lab.endpoint_url)
    assert sts.get_caller_identity()["Account"] == "111122223333"
    credentials = session.get_credentials()
    assert isinstance(credentials, RefreshableCredentials)
    first = credentials.get_frozen_credentials().access_key
    credentials._expiry_time = datetime.now(UTC) - timedelta(seconds=1)  # as if the run went on for hours
    assert credentials.refresh_needed()
    assert credentials.get_frozen_credentials().access_key != first
    assert sts.get_caller_identity()["Account"] == "111122223333"
