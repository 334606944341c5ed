"""Slack: Block Kit within Slack's limits, split across messages, escaped, posted to a local stand-in for Slack
that refuses what Slack refuses; 429 Retry-After and resumption after the parts already posted."""

from __future__ import annotations

import json
from pathlib import Path

from cloudwarden.core.finding import Finding
from cloudwarden.core.severity import Severity
from cloudwarden.notify import Message, Outbox, Outcome, RetryPolicy, State, Targets
from cloudwarden.notify.slack import (
    MAX_BLOCKS,
    MAX_HEADER_TEXT,
    MAX_SECTION_TEXT,
    SlackSender,
    SlackTarget,
    render,
    truncate,
)
from cloudwarden.store import Store
from tests.notify.conftest import HttpSink, Received, Reply, free_port, make_finding


def slack_limits(request: Received) -> Reply | None:
    """What Slack checks before accepting a webhook message; a 400 ``invalid_blocks`` when it is broken."""
    body = request.json()
    blocks = body.get("blocks", [])
    problems = []
    if not body.get("text"):
        problems.append("no text fallback")
    if len(blocks) > MAX_BLOCKS:
        problems.append(f"{len(blocks)} blocks")
    for block in blocks:
        if block["type"] == "header" and len(block["text"]["text"]) > MAX_HEADER_TEXT:
            problems.append("header too long")
        if block["type"] == "section":
            if len(block["text"]["text"]) > MAX_SECTION_TEXT:
                problems.append("section text too long")
            fields = block.get("fields", [])
            if len(fields) > 10 or any(len(f["text"]) > 2000 for f in fields):
                problems.append("fields")
    return Reply(400, b"invalid_blocks") if problems else None


def _findings(count: int, description: str = "Public bucket.") -> list[Finding]:
    severities = list(Severity)
    return [make_finding(i, severity=severities[i % 5], description=description) for i in range(count)]


def test_long_lists_split_into_messages_within_block_kit_limits() -> None:
    message = Message.for_findings("chat", "slack", _findings(30, "x" * 5000))
    bodies = render(message)
    assert len(bodies) == 3  # 4 blocks a finding, 48 free blocks a message: 12 + 12 + 6
    seen: list[str] = []
    for index, body in enumerate(bodies, start=1):
        blocks = body["blocks"]
        assert len(blocks) <= MAX_BLOCKS
        assert blocks[0]["type"] == "header" and blocks[0]["text"]["text"].endswith(f"({index}/3)")
        assert body["text"].startswith(message.subject)
        for block in blocks:
            if block["type"] == "section" and block["text"]["text"].startswith("*Description*"):
                assert len(block["text"]["text"]) == MAX_SECTION_TEXT
                assert block["text"]["text"].endswith("…")
            if block["type"] == "section" and "fields" in block:
                seen.append(next(f["text"] for f in block["fields"] if f["text"].startswith("*Resource*")))
    assert len(seen) == 30 and len(set(seen)) == 30  # every finding once, none twice


def test_card_shows_severity_resource_account_region_description_remediation() -> None:
    finding = make_finding(1, severity=Severity.CRITICAL)
    (body,) = render(Message.for_findings("chat", "slack", [finding]))
    header, context, card, description, remediation, divider = body["blocks"]
    assert header["text"]["text"] == f"[CRITICAL] {finding.title}"
    assert "CRITICAL" in card["text"]["text"] and finding.title in card["text"]["text"]
    fields = "\n".join(f["text"] for f in card["fields"])
    assert finding.resource.id in fields and f"{finding.account_id} / {finding.region}" in fields
    assert description["text"]["text"] == f"*Description*\n{finding.description}"
    assert remediation["text"]["text"] == f"*Remediation*\n{finding.remediation}"
    assert divider == {"type": "divider"} and "1 finding" in context["elements"][0]["text"]


def test_untrusted_text_is_escaped_so_it_cannot_ping_or_link() -> None:
    finding = make_finding(1, title="<!channel> pwned & <https://evil.example|click>")
    (body,) = render(Message.for_findings("chat", "slack", [finding]))
    # everything Slack parses as mrkdwn (the header is plain_text, shown verbatim, never parsed)
    parsed = json.dumps([body["text"], *[b for b in body["blocks"] if b["type"] != "header"]])
    assert "<!channel>" not in parsed and "<https://evil" not in parsed
    assert body["blocks"][0]["text"]["type"] == "plain_text"
    assert "&lt;!channel&gt; pwned &amp; &lt;https://evil.example|click&gt;" in body["blocks"][2]["text"]["text"]


def test_truncation_never_cuts_an_entity_in_half() -> None:
    cut = truncate("a" * 2995 + "&amp;&amp;", 3000)
    assert len(cut) <= 3000 and cut.endswith("a…")


def test_every_part_reaches_a_slack_stand_in_that_enforces_the_limits(http_sink: HttpSink) -> None:
    http_sink.check = slack_limits
    message = Message.for_findings("chat", "slack", _findings(25, "y" * 4000))
    config = SlackTarget(url=http_sink.url("/services/T000/B000/XXXX"))
    result = SlackSender().send(message, config)
    assert result.ok and result.parts_sent == result.parts_total == 3
    assert [r.path for r in http_sink.requests] == ["/services/T000/B000/XXXX"] * 3
    assert all(r.header("Content-Type", ).startswith("application/json") for r in http_sink.requests)  # type: ignore[union-attr]


def test_a_message_slack_would_refuse_is_a_permanent_failure(http_sink: HttpSink) -> None:
    http_sink.default = Reply(400, b"invalid_blocks")
    result = SlackSender().send(Message.for_findings("chat", "slack", [make_finding()]),
                                SlackTarget(url=http_sink.url()))
    assert result.outcome is Outcome.FAILED and result.status == 400 and "invalid_blocks" in result.detail


def test_unreachable_slack_is_retried_and_the_url_never_appears_in_the_error() -> None:
    url = f"http://127.0.0.1:{free_port()}/services/T000/B000/SECRETTOKEN"
    result = SlackSender().send(Message.for_findings("chat", "slack", [make_finding()]), SlackTarget(url=url))
    assert result.outcome is Outcome.RETRY
    assert "SECRETTOKEN" not in result.detail and "127.0.0.1" not in result.detail


def test_429_is_retried_after_retry_after_and_posted_parts_are_not_posted_again(
    http_sink: HttpSink, tmp_path: Path
) -> None:
    http_sink.check = slack_limits
    # part 1 goes through, part 2 is rate-limited for 1 s, then everything is accepted
    http_sink.replies = [Reply(200), Reply(429, b"rate_limited", {"Retry-After": "1"})]
    targets = Targets({"chat": SlackTarget(url=http_sink.url())})
    with Store.open(tmp_path / "s.duckdb") as store:
        outbox = Outbox(store, targets, policy=RetryPolicy(base_delay=0.01, jitter=0))
        message = outbox.enqueue("chat", _findings(30))
        assert message is not None
        report = outbox.run(until_idle=True, timeout=15, poll=0.05)
        entry = outbox.get(message.idempotency_key)
    assert report.delivered == [message.idempotency_key]
    assert entry is not None and entry.state is State.DELIVERED and entry.attempts == 2 and entry.parts_sent == 3
    bodies = [r.body for r in http_sink.requests]
    assert len(bodies) == 4  # part 1, part 2 (429), part 2 again, part 3
    assert bodies[1] == bodies[2] and len(set(bodies)) == 3
    waited = http_sink.requests[2].at - http_sink.requests[1].at
    assert waited >= 1.0, f"retried after {waited:.2f}s, before Retry-After"
