from __future__ import annotations

import pytest

from cloudwarden.inventory.secrets_scan import MASK, check_text, check_value, entropy, environment_verdicts

RANDOM_24 = "q7RZk2mXv9LpT4sWb8NcY3hJ"


def test_entropy_separates_words_from_generated_strings() -> None:
    assert entropy("") == 0.0
    assert entropy("aaaa") == 0.0
    assert entropy("production") < 3.2
    assert entropy(RANDOM_24) > 4.0


@pytest.mark.parametrize(
    ("name", "value", "secret"),
    [
        ("DB_PASSWORD", "hunter2hunter2", True),  # the name says so and a literal is set
        ("STRIPE_KEY", "sk_live_" + RANDOM_24, True),  # a known format, whatever the name
        ("LOG_LEVEL", "info", False),
        ("DB_HOST", "orders-db.internal.example", False),
        ("DB_PASSWORD_ARN", "arn:aws:secretsmanager:us-east-1:123456789012:secret:db", False),  # a reference
        ("API_TOKEN", "${API_TOKEN}", False),
        ("PASSWORD", "changeme", False),  # a placeholder
        ("BUILD_ID", RANDOM_24, True),  # high entropy alone
        ("CONFIG", '{"password": "' + RANDOM_24 + '"}', True),  # a secret inside a JSON value
        ("FLAGS", '{"new_checkout": true}', False),
        ("ACCESS", "AKIAABCDEFGHIJKLMNOP", True),
    ],
)
def test_check_value(name: str, value: str, secret: bool) -> None:
    verdict = check_value(value, name)
    assert verdict.looks_secret is secret, verdict.reason
    assert value not in str(verdict.as_dict())


def test_user_data_is_masked_and_references_are_left_alone() -> None:
    text = (
        "#!/bin/bash\nAPP_ENV=production\nDB_PASSWORD=" + RANDOM_24 + "\n"
        "DB_SECRET_ARN=$(aws secretsmanager describe-secret --secret-id prod/db --query ARN)\n"
        "curl https://deploy:" + RANDOM_24 + "@git.example.com/repo.git\n"
    )
    verdict = check_text(text)
    assert verdict.looks_secret
    assert RANDOM_24 not in verdict.masked
    assert f"DB_PASSWORD={MASK}" in verdict.masked
    assert "APP_ENV=production" in verdict.masked and "DB_SECRET_ARN=$(aws" in verdict.masked
    assert "password in a URL" in verdict.reasons
    clean = check_text("#!/bin/bash\nsystemctl enable --now nginx\n")
    assert not clean.looks_secret and clean.masked.endswith("nginx\n")


def test_environment_verdicts_keep_names_only() -> None:
    verdicts = environment_verdicts({"DB_PASSWORD": RANDOM_24, "APP_ENV": "production"})
    assert set(verdicts) == {"DB_PASSWORD", "APP_ENV"}
    assert verdicts["DB_PASSWORD"]["looks_secret"] and not verdicts["APP_ENV"]["looks_secret"]
    assert RANDOM_24 not in str(verdicts)
