"""The --mutelist: muted findings kept as SUPPRESSED, expired entries reported, bad files named."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from cloudwarden.core.errors import BadInputError
from cloudwarden.core.finding import Status
from cloudwarden.posture import suppress
from cloudwarden.posture.evaluate import evaluate
from tests.posture import docs as d

MARKETING = "prod-marketing-assets-222222222222"


def findings() -> list[object]:
    open_bucket = d.bucket(MARKETING, GetBucketLogging={})
    open_bucket["tags"] = {"Environment": "prod"}
    return evaluate([open_bucket, d.bucket("other-222222222222", GetBucketLogging={}), d.account()],
                    controls=["S3.9", "S3.8"], now=d.NOW)


def test_matching_findings_are_suppressed_not_dropped(tmp_path: Path) -> None:
    path = tmp_path / "mute.yaml"
    path.write_text("""mutelist:
  - reason: Public website assets
    account: "222222222222"
    control: S3.9
    resource: "arn:aws:s3:::prod-marketing-.*"
    tags: {Environment: prod}
    expires: 2026-12-31
""")
    before = findings()
    result = suppress.apply(before, suppress.load(path), tags={f"arn:aws:s3:::{MARKETING}": {"Environment": "prod"}},
                            today=date(2026, 6, 1))
    assert len(result.findings) == len(before) and result.muted == 1 and not result.expired
    muted = [f for f in result.findings if f.status is Status.SUPPRESSED]
    assert [(f.control_id, f.resource.id) for f in muted] == [("S3.9", f"arn:aws:s3:::{MARKETING}")]
    assert muted[0].evidence.details["mute_reason"] == "Public website assets"
    assert muted[0].evidence.details["muted_status"] == "FAILED"
    # the other bucket's S3.9 and every PASSED verdict are untouched
    assert any(f.control_id == "S3.9" and f.status is Status.FAILED for f in result.findings)


def test_a_tag_condition_needs_the_tag() -> None:
    mutelist = suppress.parse({"mutelist": [{"reason": "r", "control": "S3.9", "tags": {"Environment": "dev"}}]})
    result = suppress.apply(findings(), mutelist, tags={f"arn:aws:s3:::{MARKETING}": {"Environment": "prod"}})
    assert result.muted == 0


def test_an_expired_entry_no_longer_mutes_and_is_reported() -> None:
    mutelist = suppress.parse({"mutelist": [{"reason": "temporary", "control": "S3.9", "expires": "2026-01-31"}]})
    result = suppress.apply(findings(), mutelist, today=date(2026, 6, 1))
    assert result.muted == 0 and [e.reason for e in result.expired] == ["temporary"]
    assert "expired 2026-01-31" in result.expired[0].describe()


def test_control_ids_are_literal_and_regexes_allowed() -> None:
    literal = suppress.parse({"mutelist": [{"reason": "r", "control": "S3.9"}]})
    assert literal.entries[0].control.fullmatch("S3.9") and not literal.entries[0].control.fullmatch("S339")
    pattern = suppress.parse({"mutelist": [{"reason": "r", "control": "S3\\..*"}]})
    assert suppress.apply(findings(), pattern).muted == 2  # the two failing S3.9 verdicts; passes stay


@pytest.mark.parametrize(("text", "where"), [
    ("mutelist: [{control: S3.9}]", "mutelist[0].reason"),
    ("mutelist: [{reason: r, expires: soon}]", "mutelist[0].expires"),
    ("mutelist: [{reason: r, resource: '('}]", "mutelist[0].resource"),
    ("mutelist: [{reason: r, colour: red}]", "unknown field"),
    ("- just a list", "top-level"),
    ("mutelist: [\n  {reason: r\n", ":"),
])
def test_bad_mutelists_name_the_entry(tmp_path: Path, text: str, where: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(BadInputError) as caught:
        suppress.load(path)
    assert str(path) in str(caught.value) and where in str(caught.value)


def test_a_missing_file_is_bad_input(tmp_path: Path) -> None:
    with pytest.raises(BadInputError, match="cannot read"):
        suppress.load(tmp_path / "absent.yaml")
