"""Secrets given inline or by environment variable, URL rules that never echo the URL, and scrubbing."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from cloudwarden.core.errors import BadInputError
from cloudwarden.notify.config import Secret, check_http_url, scrub
from cloudwarden.notify.webhook import WebhookTarget


def test_secret_inline_or_from_the_environment_at_resolve_time() -> None:
    assert Secret.model_validate("s3cret-value").resolve("secret") == "s3cret-value"
    ref = Secret.model_validate({"env": "CW_KEY"})
    assert ref.resolve("secret", {"CW_KEY": "from-env"}) == "from-env"
    with pytest.raises(BadInputError) as err:
        ref.resolve("targets.soc.secret", {})
    assert err.value.where == "targets.soc.secret" and "CW_KEY is not set" in err.value.why
    with pytest.raises(ValidationError, match="empty"):
        Secret.model_validate("")


def test_secret_values_resolve_every_secret_field_and_skip_unset_ones() -> None:
    config = WebhookTarget.model_validate({"url": "https://x.io/T0KEN", "secret": {"env": "CW_UNSET_KEY"}})
    assert config.secret_values({}) == ["https://x.io/T0KEN"]
    assert sorted(config.secret_values({"CW_UNSET_KEY": "k3y"})) == ["https://x.io/T0KEN", "k3y"]


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("ftp://files.example.com/T0KEN", "absolute http(s) URL"),
        ("/relative/T0KEN", "absolute http(s) URL"),
        ("http://hooks.example.com/T0KEN", "must use https"),
        ("http://[::1/T0KEN", "not a valid URL"),
    ],
)
def test_url_rules_say_why_without_repeating_the_url(url: str, why: str) -> None:
    with pytest.raises(BadInputError) as err:
        check_http_url(url, "url")
    assert why in err.value.why and "T0KEN" not in str(err.value)


def test_loopback_http_is_accepted() -> None:
    for url in ("http://127.0.0.1:8080/x", "http://localhost/x", "http://[::1]:9/x", "https://hooks.slack.com/x"):
        assert check_http_url(url, "url") == url
    assert check_http_url("http://relay.internal/x", "url", allow_http=True)


def test_scrub_replaces_every_secret_longest_first() -> None:
    text = "posting to https://x.io/T0KEN failed; key T0KEN-key; T0KEN"
    expected = "posting to [REDACTED] failed; key [REDACTED]-key; [REDACTED]"
    assert scrub(text, ["T0KEN", "https://x.io/T0KEN"]) == expected
    assert scrub("abc", ["ab"]) == "abc"  # too short to be a secret worth matching
