from __future__ import annotations

import pytest

from cloudwarden.core.errors import BadInputError
from cloudwarden.core.severity import Severity


def test_severities_order_from_informational_to_critical() -> None:
    assert sorted([Severity.CRITICAL, Severity.LOW, Severity.INFORMATIONAL, Severity.HIGH, Severity.MEDIUM]) == [
        Severity.INFORMATIONAL,
        Severity.LOW,
        Severity.MEDIUM,
        Severity.HIGH,
        Severity.CRITICAL,
    ]
    assert Severity.HIGH >= Severity.MEDIUM
    assert not Severity.LOW >= Severity.MEDIUM


@pytest.mark.parametrize(("text", "expected"), [("high", Severity.HIGH), (" Info ", Severity.INFORMATIONAL)])
def test_parse_is_case_insensitive(text: str, expected: Severity) -> None:
    assert Severity.parse(text) is expected


def test_parse_rejects_unknown_and_names_the_flag() -> None:
    with pytest.raises(BadInputError) as err:
        Severity.parse("urgent", "--fail-on")
    assert err.value.where == "--fail-on"
    assert "urgent" in str(err.value)
    assert err.value.exit_code == 2
