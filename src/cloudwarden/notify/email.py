"""E-mail over SMTP: one ``multipart/alternative`` message with a plain-text and an HTML part.

Built on the standard library (``smtplib`` and ``email.message.EmailMessage``): SMTP submission needs nothing
more, and the stdlib's header policy refuses CR/LF in headers, so a finding title cannot inject one. The
rendering (:func:`render_email`) is shared with SES (:mod:`cloudwarden.notify.aws`).

Transport security is explicit: ``starttls: true`` (the default, port 587) upgrades the connection and fails
if the server does not offer STARTTLS rather than falling back to plain text; ``ssl: true`` is implicit TLS
(port 465). A password is never sent over an unencrypted connection unless the target says
``allow_plaintext_auth: true`` (for a local relay). ``ca_file`` trusts a private CA.

4xx SMTP replies and dropped connections are retried; 5xx replies (unknown user, authentication refused) and
certificate failures are not.
"""

from __future__ import annotations

import html
import re
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from cloudwarden.core.finding import Finding
from cloudwarden.notify.config import Secret, TargetConfig, check_email
from cloudwarden.notify.model import DeliveryResult, Message, Outcome

MAX_SUBJECT = 200
_SPACE = re.compile(r"\s+")
_SEVERITY_COLOUR = {"CRITICAL": "#7f1d1d", "HIGH": "#b91c1c", "MEDIUM": "#b45309", "LOW": "#1d4ed8",
                    "INFORMATIONAL": "#4b5563"}


class EmailTarget(TargetConfig):
    """``kind: email``: an SMTP server, the envelope and how to secure the connection."""

    kind: Literal["email"] = "email"
    host: str = Field(min_length=1)
    port: int | None = Field(default=None, ge=1, le=65535, description="default 587 (starttls), 465 (ssl), 25")
    starttls: bool = True
    ssl: bool = False
    username: str | None = None
    password: Secret | None = None
    sender: str = Field(alias="from", description="the From address")
    to: list[str] = Field(min_length=1)
    ca_file: str | None = Field(default=None, description="PEM file of CAs to trust instead of the system's")
    allow_plaintext_auth: bool = False

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    @field_validator("sender")
    @classmethod
    def _sender(cls, value: str) -> str:
        return check_email(value)

    @field_validator("to")
    @classmethod
    def _to(cls, value: list[str]) -> list[str]:
        return [check_email(item) for item in value]

    @model_validator(mode="after")
    def _security(self) -> EmailTarget:
        if self.ssl and self.starttls:
            raise ValueError("ssl (implicit TLS) and starttls are alternatives: set starttls: false with ssl: true")
        if (self.username is None) != (self.password is None):
            raise ValueError("username and password go together")
        if self.username and not (self.ssl or self.starttls or self.allow_plaintext_auth):
            raise ValueError("a password would cross the network in clear: enable starttls or ssl "
                             "(or allow_plaintext_auth: true for a local relay)")
        return self

    @property
    def effective_port(self) -> int:
        if self.port is not None:
            return self.port
        return 465 if self.ssl else 587 if self.starttls else 25


def one_line(text: str, limit: int = MAX_SUBJECT) -> str:
    """``text`` on one line (no CR/LF can reach a header), cut to ``limit`` characters."""
    flat = _SPACE.sub(" ", text).strip()
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def render_email(message: Message) -> tuple[str, str, str]:
    """(subject, plain text, HTML) for ``message``; every finding value is HTML-escaped in the HTML part."""
    findings = message.findings()
    subject = one_line(f"[cloudwarden] {message.subject}")
    return subject, _text(message, findings), _html(message, findings)


def _text(message: Message, findings: list[Finding]) -> str:
    lines = [message.subject, "=" * min(len(message.subject), 72), ""]
    if "rule" in message.payload:
        lines += [f"Rule: {message.payload['rule']}", ""]
    for f in findings:
        lines += [
            f"[{f.severity.value}] {f.title}",
            f"  Resource:   {f.resource.type} {f.resource.id}",
            f"  Account:    {f.account_id} / {f.region}",
            f"  Rule:       {f.control_id or f.rule_id}",
            f"  Finding id: {f.id}",
        ]
        if f.description:
            lines += ["", "  " + f.description.replace("\n", "\n  ")]
        if f.remediation:
            lines += ["", "  Remediation: " + f.remediation.replace("\n", "\n  ")]
        lines.append("")
    lines.append(f"-- cloudwarden, {len(findings)} finding(s)")
    return "\n".join(lines) + "\n"


def _html(message: Message, findings: list[Finding]) -> str:
    e = html.escape
    cards = []
    for f in findings:
        colour = _SEVERITY_COLOUR.get(f.severity.value, "#4b5563")
        rows = [
            ("Resource", f"{e(f.resource.type)}<br><code>{e(f.resource.id)}</code>"),
            ("Account / region", f"{e(f.account_id)} / {e(f.region)}"),
            ("Rule", e(f.control_id or f.rule_id)),
            ("Finding id", f"<code>{e(f.id)}</code>"),
        ]
        table = "".join(f'<tr><th align="left" style="padding-right:12px">{k}</th><td>{v}</td></tr>' for k, v in rows)
        parts = [
            f'<h2 style="font-size:16px;margin:16px 0 4px"><span style="color:#fff;background:{colour};'
            f'padding:2px 6px;border-radius:3px">{e(f.severity.value)}</span> {e(f.title)}</h2>',
            f"<table>{table}</table>",
        ]
        if f.description:
            parts.append(f"<p><strong>Description</strong><br>{e(f.description)}</p>")
        if f.remediation:
            parts.append(f"<p><strong>Remediation</strong><br>{e(f.remediation)}</p>")
        cards.append("\n".join(parts))
    rule = f"<p>Rule: {e(str(message.payload['rule']))}</p>" if "rule" in message.payload else ""
    return (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>'
        f"{e(message.subject)}</title></head>\n"
        f'<body style="font-family:sans-serif;font-size:14px">\n<h1 style="font-size:18px">{e(message.subject)}</h1>'
        f"{rule}\n" + "\n<hr>\n".join(cards) + f"\n<p style=\"color:#6b7280\">cloudwarden, {len(findings)} "
        "finding(s)</p>\n</body></html>\n"
    )


def build_mime(message: Message, config: EmailTarget) -> EmailMessage:
    """The MIME message: plain text first, then the HTML alternative (clients show the last they can)."""
    subject, text, body_html = render_email(message)
    mime = EmailMessage()
    mime["Subject"] = subject
    mime["From"] = config.sender
    mime["To"] = ", ".join(config.to)
    mime["Date"] = formatdate(localtime=False)
    mime["Message-ID"] = make_msgid(idstring=message.idempotency_key[:16], domain="cloudwarden.local")
    mime["X-Cloudwarden-Delivery"] = message.idempotency_key
    mime.set_content(text)
    mime.add_alternative(body_html, subtype="html")
    return mime


class EmailSender:
    """Sends :func:`build_mime`'s message through the target's SMTP server."""

    kind = "email"
    config_type = EmailTarget

    def send(self, message: Message, config: TargetConfig, *, resume_from: int = 0) -> DeliveryResult:
        assert isinstance(config, EmailTarget)
        password = config.password.resolve("password") if config.password else None
        mime = build_mime(message, config)
        context = ssl.create_default_context(cafile=config.ca_file) if (config.ssl or config.starttls) else None
        try:
            smtp: smtplib.SMTP
            if config.ssl:
                smtp = smtplib.SMTP_SSL(config.host, config.effective_port, timeout=config.timeout, context=context)
            else:
                smtp = smtplib.SMTP(config.host, config.effective_port, timeout=config.timeout)
            with smtp:
                smtp.ehlo()
                if config.starttls:
                    smtp.starttls(context=context)
                    smtp.ehlo()
                if config.username and password is not None:
                    smtp.login(config.username, password)
                refused = smtp.send_message(mime)
        except smtplib.SMTPNotSupportedError as exc:
            return DeliveryResult(Outcome.FAILED, f"SMTP server does not support it: {_first_line(exc)}")
        except smtplib.SMTPRecipientsRefused as exc:
            codes = sorted({code for code, _ in exc.recipients.values()})
            outcome = Outcome.RETRY if codes and all(400 <= c < 500 for c in codes) else Outcome.FAILED
            return DeliveryResult(outcome, f"every recipient was refused (SMTP {codes})", codes[0] if codes else None)
        except smtplib.SMTPResponseException as exc:
            outcome = Outcome.RETRY if 400 <= exc.smtp_code < 500 else Outcome.FAILED
            text = exc.smtp_error.decode("utf-8", "replace") if isinstance(exc.smtp_error, bytes) else exc.smtp_error
            return DeliveryResult(outcome, f"SMTP {exc.smtp_code} {one_line(str(text), 200)}", exc.smtp_code)
        except ssl.SSLCertVerificationError as exc:
            return DeliveryResult(Outcome.FAILED, f"TLS certificate refused: {exc.verify_message}")
        except (TimeoutError, smtplib.SMTPException, ssl.SSLError, OSError) as exc:
            return DeliveryResult(Outcome.RETRY, f"SMTP connection failed: {type(exc).__name__} {_first_line(exc)}")
        detail = "delivered"
        if refused:
            detail = f"delivered; {len(refused)} of {len(config.to)} recipients refused"
        return DeliveryResult(Outcome.DELIVERED, detail, 250, None, 1, 1)


def _first_line(exc: BaseException) -> str:
    return one_line(str(exc), 200)
