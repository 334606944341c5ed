"""Messages: most severe first, a default idempotency key that depends on content (not on time), subjects,
and secrets scrubbed from the findings they carry."""

from __future__ import annotations

from datetime import UTC, datetime

from cloudwarden.core.finding import Evidence
from cloudwarden.core.severity import Severity
from cloudwarden.notify import Message
from tests.notify.conftest import make_finding


def test_findings_are_ordered_most_severe_first_and_the_subject_counts_them() -> None:
    findings = [make_finding(1, severity=Severity.LOW), make_finding(2, severity=Severity.CRITICAL),
                make_finding(3, severity=Severity.LOW)]
    message = Message.for_findings("t", "webhook", findings)
    assert [f.severity for f in message.findings()] == [Severity.CRITICAL, Severity.LOW, Severity.LOW]
    assert message.finding_ids[0] == findings[1].id
    assert message.subject == "3 findings (1 CRITICAL, 2 LOW)"
    single = Message.for_findings("t", "webhook", [findings[0]])
    assert single.subject == f"[LOW] {findings[0].title}"


def test_default_key_depends_on_target_and_content_not_on_time() -> None:
    findings = [make_finding(1), make_finding(2)]
    early = Message.for_findings("t", "webhook", findings, created_at=datetime(2026, 1, 1, tzinfo=UTC))
    late = Message.for_findings("t", "webhook", list(reversed(findings)), created_at=datetime(2026, 6, 1, tzinfo=UTC))
    assert early.idempotency_key == late.idempotency_key
    assert Message.for_findings("u", "webhook", findings).idempotency_key != early.idempotency_key
    assert Message.for_findings("t", "webhook", findings[:1]).idempotency_key != early.idempotency_key
    assert Message.for_findings("t", "webhook", findings, key="k1").idempotency_key == "k1"


def test_secrets_in_evidence_never_reach_a_message() -> None:
    leaky = make_finding(1).model_copy(update={"evidence": Evidence(details={
        "SecretAccessKey": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "AccessKeyId": "AKIAIOSFODNN7EXAMPLE"})})
    message = Message.for_findings("t", "webhook", [leaky])
    details = message.body_json()["findings"][0]["evidence"]["details"]
    assert details == {"SecretAccessKey": "[REDACTED]", "AccessKeyId": "AKIAIOSFODNN7EXAMPLE"}
