"""E-mail against a real SMTP server (aiosmtpd): multipart text + HTML, STARTTLS with a private CA and login,
no silent fall-back to plain text, SMTP errors split into retry and give-up."""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
from collections.abc import Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pydantic import ValidationError

from cloudwarden.notify import Message, Outcome
from cloudwarden.notify.email import EmailSender, EmailTarget
from tests.notify.conftest import BoundController, SmtpSink, free_port, make_finding

PASSWORD = "smtp-pass-Zq81"


def _target(port: int, **extra: Any) -> EmailTarget:
    data: dict[str, Any] = {"host": "127.0.0.1", "port": port, "starttls": False, "from": "alerts@cloudwarden.test",
                            "to": ["secops@example.com", "oncall@example.com"], **extra}
    return EmailTarget.model_validate(data)


def _parsed(raw: bytes) -> EmailMessage:
    parsed = message_from_bytes(raw, policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def test_multipart_text_and_html_reach_the_server(smtp_server: tuple[BoundController, SmtpSink]) -> None:
    controller, sink = smtp_server
    evil = make_finding(2, title="<script>alert(1)</script> bucket", description="a & b < c")
    message = Message.for_findings("mail", "email", [make_finding(1), evil], rule="public-buckets")
    result = EmailSender().send(message, _target(controller.port))
    assert result.ok
    (envelope,) = sink.envelopes
    assert envelope.mail_from == "alerts@cloudwarden.test"
    assert envelope.rcpt_tos == ["secops@example.com", "oncall@example.com"]
    mail = _parsed(envelope.original_content or b"")
    assert mail.get_content_type() == "multipart/alternative"
    assert mail["Subject"] == f"[cloudwarden] {message.subject}"
    assert mail["X-Cloudwarden-Delivery"].strip() == message.idempotency_key  # folded: the value is long
    text, html = (part.get_content() for part in mail.iter_parts())
    assert [p.get_content_type() for p in mail.iter_parts()] == ["text/plain", "text/html"]
    for finding in message.findings():
        assert finding.id in text and finding.resource.id in html
    assert "<script>" in text and "<script>" not in html and "&lt;script&gt;" in html
    assert "a &amp; b &lt; c" in html and "Rule: public-buckets" in text


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (the test's private CA)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "cloudwarden test smtp")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


def _check_login(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
    ok = (isinstance(auth_data, LoginPassword) and bytes(auth_data.login) == b"alerts"
          and bytes(auth_data.password) == PASSWORD.encode())
    return AuthResult(success=ok, handled=False)


@pytest.fixture
def tls_smtp(certificate: tuple[Path, Path]) -> Iterator[tuple[BoundController, SmtpSink]]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)
    sink = SmtpSink()
    controller = BoundController(sink, hostname="127.0.0.1", tls_context=context, require_starttls=True,
                                 authenticator=_check_login, auth_require_tls=True)
    controller.start()
    yield controller, sink
    controller.stop()


def test_starttls_with_a_private_ca_and_login(
    tls_smtp: tuple[BoundController, SmtpSink], certificate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    controller, sink = tls_smtp
    monkeypatch.setenv("CW_TEST_SMTP_PASSWORD", PASSWORD)
    target = _target(controller.port, starttls=True, username="alerts", password={"env": "CW_TEST_SMTP_PASSWORD"},
                     ca_file=str(certificate[0]))
    assert PASSWORD not in repr(target)
    result = EmailSender().send(Message.for_findings("mail", "email", [make_finding()]), target)
    assert result.ok, result.detail
    assert len(sink.envelopes) == 1


def test_wrong_password_is_a_permanent_failure(
    tls_smtp: tuple[BoundController, SmtpSink], certificate: tuple[Path, Path]
) -> None:
    controller, sink = tls_smtp
    target = _target(controller.port, starttls=True, username="alerts", password="wrong",
                     ca_file=str(certificate[0]))
    result = EmailSender().send(Message.for_findings("mail", "email", [make_finding()]), target)
    assert result.outcome is Outcome.FAILED and result.status == 535 and not sink.envelopes


def test_untrusted_certificate_is_refused(tls_smtp: tuple[BoundController, SmtpSink]) -> None:
    controller, sink = tls_smtp
    result = EmailSender().send(Message.for_findings("mail", "email", [make_finding()]),
                                _target(controller.port, starttls=True))
    assert result.outcome is Outcome.FAILED and "certificate" in result.detail and not sink.envelopes


def test_starttls_asked_but_not_offered_never_falls_back_to_plain_text(
    smtp_server: tuple[BoundController, SmtpSink],
) -> None:
    controller, sink = smtp_server
    result = EmailSender().send(Message.for_findings("mail", "email", [make_finding()]),
                                _target(controller.port, starttls=True))
    assert result.outcome is Outcome.FAILED and "STARTTLS" in result.detail
    assert not sink.envelopes


def test_refused_recipients_and_temporary_errors(smtp_server: tuple[BoundController, SmtpSink]) -> None:
    controller, sink = smtp_server

    async def handle_RCPT(server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        return "550 5.1.1 no such user" if address.startswith("secops") else "451 4.3.0 try later"

    sink.handle_RCPT = handle_RCPT  # type: ignore[attr-defined]
    result = EmailSender().send(Message.for_findings("mail", "email", [make_finding()]), _target(controller.port))
    assert result.outcome is Outcome.FAILED and "refused" in result.detail
    result = EmailSender().send(Message.for_findings("mail", "email", [make_finding()]),
                                _target(controller.port, to=["oncall@example.com"]))
    assert result.outcome is Outcome.RETRY


def test_unreachable_server_is_retried() -> None:
    result = EmailSender().send(Message.for_findings("mail", "email", [make_finding()]), _target(free_port()))
    assert result.outcome is Outcome.RETRY and "SMTP connection failed" in result.detail


def test_config_refuses_a_password_in_clear_and_bad_addresses() -> None:
    with pytest.raises(ValidationError, match="in clear"):
        _target(25, username="alerts", password="x")
    _target(25, username="alerts", password="x", allow_plaintext_auth=True)
    with pytest.raises(ValidationError, match="not an e-mail address"):
        _target(25, to=["not-an-address"])
    assert EmailTarget.model_validate({"host": "smtp", "from": "a@b.io", "to": ["c@d.io"]}).effective_port == 587
