"""Slack incoming webhooks with Block Kit: one readable card per finding, within Slack's limits.

Each Slack message has a header (the subject), a context line, then for each finding a section with its
severity and title and fields for the resource and the account/region, a description section, a remediation
section and a divider. Slack refuses a message with more than 50 blocks (``invalid_blocks``) and cuts section
text at 3,000 characters, so findings are packed greedily into as many messages as needed ("part 2/3" in the
header) and long texts are cut with "…". Every message has a ``text`` fallback, which is what notifications
and screen readers show.

Finding text is untrusted (a resource name or a CloudTrail field can say anything), so ``&``, ``<`` and ``>``
are escaped as Slack asks: a finding cannot ping ``<!channel>`` or hide a link.

A 429 is answered with ``Retry-After``: the result carries it and the outbox waits that long; parts already
posted are not posted again.
"""

from __future__ import annotations

import json
import re
from typing import Any, Literal

from cloudwarden.core.finding import Finding
from cloudwarden.core.severity import Severity
from cloudwarden.notify.config import Secret, TargetConfig, check_http_url
from cloudwarden.notify.model import DeliveryResult, Message, Outcome
from cloudwarden.notify.transport import Transport, TransportError, UrllibTransport, is_retryable

MAX_BLOCKS = 50
MAX_SECTION_TEXT = 3000
MAX_HEADER_TEXT = 150
MAX_FIELD_TEXT = 2000
MAX_FALLBACK_TEXT = 3000
ELLIPSIS = "…"

_EMOJI = {
    Severity.CRITICAL: ":red_circle:",
    Severity.HIGH: ":large_orange_circle:",
    Severity.MEDIUM: ":large_yellow_circle:",
    Severity.LOW: ":large_blue_circle:",
    Severity.INFORMATIONAL: ":white_circle:",
}
_PARTIAL_ENTITY = re.compile(r"&[a-z]{0,3}$")


class SlackTarget(TargetConfig):
    """``kind: slack``: an incoming-webhook URL (a secret: it is the credential)."""

    kind: Literal["slack"] = "slack"
    url: Secret
    allow_http: bool = False


def escape(text: str) -> str:
    """Slack's mrkdwn escaping of ``&``, ``<`` and ``>``."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def truncate(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters ending in "…", never in the middle of an ``&amp;`` entity."""
    if len(text) <= limit:
        return text
    head = _PARTIAL_ENTITY.sub("", text[: limit - len(ELLIPSIS)])
    return head + ELLIPSIS


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": truncate(text, MAX_SECTION_TEXT)}}


def _field(label: str, value: str) -> dict[str, str]:
    return {"type": "mrkdwn", "text": truncate(f"*{label}*\n{value}", MAX_FIELD_TEXT)}


def finding_blocks(finding: Finding) -> list[dict[str, Any]]:
    """The blocks of one finding (at most four)."""
    severity = finding.severity
    blocks: list[dict[str, Any]] = [
        {
            "type": "section",
            "text": {
                "type": "mrkdwn",
                "text": truncate(f"{_EMOJI[severity]} *{severity.value}*  {escape(finding.title)}", MAX_SECTION_TEXT),
            },
            "fields": [
                _field("Severity", severity.value),
                _field("Resource", f"{escape(finding.resource.type)}\n`{escape(finding.resource.id)}`"),
                _field("Account / region", f"{escape(finding.account_id)} / {escape(finding.region)}"),
                _field("Rule", escape(finding.control_id or finding.rule_id)),
            ],
        }
    ]
    if finding.description:
        blocks.append(_section(f"*Description*\n{escape(finding.description)}"))
    if finding.remediation:
        blocks.append(_section(f"*Remediation*\n{escape(finding.remediation)}"))
    blocks.append({"type": "divider"})
    return blocks


def render(message: Message) -> list[dict[str, Any]]:
    """The Slack messages (webhook JSON bodies) for ``message``: as few as fit 50 blocks each."""
    findings = message.findings()
    groups: list[list[dict[str, Any]]] = []
    counts: list[int] = []
    room = MAX_BLOCKS - 2  # header and context
    current: list[dict[str, Any]] = []
    count = 0
    for finding in findings:
        blocks = finding_blocks(finding)
        if current and len(current) + len(blocks) > room:
            groups.append(current)
            counts.append(count)
            current, count = [], 0
        current.extend(blocks)
        count += 1
    if current or not groups:
        groups.append(current)
        counts.append(count)
    total = len(groups)
    bodies: list[dict[str, Any]] = []
    shown = 0
    for index, (blocks, count) in enumerate(zip(groups, counts, strict=True), start=1):
        part = f" ({index}/{total})" if total > 1 else ""
        header = truncate(message.subject, MAX_HEADER_TEXT - len(part)) + part
        span = f"findings {shown + 1}-{shown + count} of {len(findings)}" if total > 1 else _plural(count)
        context = f"cloudwarden · {span}"
        if "rule" in message.payload:
            context += f" · rule {escape(str(message.payload['rule']))}"
        bodies.append({
            "text": fallback_text(header, findings[shown: shown + count]),
            "blocks": [
                {"type": "header", "text": {"type": "plain_text", "text": header, "emoji": True}},
                {"type": "context", "elements": [{"type": "mrkdwn", "text": truncate(context, MAX_SECTION_TEXT)}]},
                *blocks,
            ],
        })
        shown += count
    return bodies


def _plural(count: int) -> str:
    return f"{count} finding" + ("" if count == 1 else "s")


def fallback_text(header: str, findings: list[Finding]) -> str:
    """The ``text`` Slack shows in notifications and to screen readers."""
    lines = [escape(header)] + [f"[{f.severity.value}] {escape(f.title)}" for f in findings]
    return truncate("\n".join(lines), MAX_FALLBACK_TEXT)


class SlackSender:
    """Posts :func:`render`'s messages to the target's webhook, resuming after the last part that went."""

    kind = "slack"
    config_type = SlackTarget

    def __init__(self, transport: Transport | None = None) -> None:
        self.transport = transport or UrllibTransport()

    def send(self, message: Message, config: TargetConfig, *, resume_from: int = 0) -> DeliveryResult:
        assert isinstance(config, SlackTarget)
        url = check_http_url(config.url.resolve("url"), "url", allow_http=config.allow_http)
        bodies = render(message)
        total = len(bodies)
        for index in range(resume_from, total):
            data = json.dumps(bodies[index], ensure_ascii=False).encode()
            try:
                reply = self.transport.post(url, data, {"Content-Type": "application/json; charset=utf-8"},
                                            timeout=config.timeout)
            except TransportError as exc:
                return DeliveryResult(Outcome.RETRY, str(exc), parts_sent=index, parts_total=total)
            if 200 <= reply.status < 300:
                continue
            detail = f"Slack answered {reply.status} {reply.text()}".strip()
            if is_retryable(reply.status):
                return DeliveryResult(Outcome.RETRY, detail, reply.status, reply.retry_after(), index, total)
            if 300 <= reply.status < 400:
                detail = f"Slack answered {reply.status}: redirects are not followed"
            return DeliveryResult(Outcome.FAILED, detail, reply.status, None, index, total)
        return DeliveryResult.delivered(total, 200)
