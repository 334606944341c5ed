from __future__ import annotations

import pytest

from cloudwarden.cli.options import AwsOptions, parse_formats, parse_regions
from cloudwarden.core.errors import BadInputError
from cloudwarden.core.severity import Severity


def test_formats_are_deduplicated_and_checked() -> None:
    assert parse_formats("json, sarif,json") == ("json", "sarif")
    with pytest.raises(BadInputError) as err:
        parse_formats("json,xml")
    assert err.value.where == "--format" and "xml" in err.value.why


def test_regions() -> None:
    assert parse_regions(None) is None
    assert parse_regions("us-east-1,eu-west-1") == ("us-east-1", "eu-west-1")
    assert parse_regions("all") == ("all",)
    with pytest.raises(BadInputError):
        parse_regions("useast1")


def test_endpoint_defaults_to_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:4566")
    opts = AwsOptions.from_flags(fail_on="high")
    assert opts.endpoint_url == "http://127.0.0.1:4566"
    assert opts.fail_on is Severity.HIGH
    assert AwsOptions.from_flags(endpoint_url="http://x:1").endpoint_url == "http://x:1"
