"""Targets files and environment variables: validated per kind, errors naming the file and field, secrets
resolved at send time and never shown."""

from __future__ import annotations

from pathlib import Path

import pytest

from cloudwarden.core.errors import BadInputError
from cloudwarden.notify import SENDERS, Message, Outbox, Senders, State, Targets, load_targets
from cloudwarden.notify.slack import SlackSender, SlackTarget
from cloudwarden.notify.webhook import WebhookTarget
from cloudwarden.store import Store
from tests.notify.conftest import HttpSink, make_finding

TARGETS_YAML = """\
targets:
  secops-slack:
    kind: slack
    url: {env: CW_TEST_SLACK_URL}
  soc:
    kind: webhook
    url: https://hooks.example.com/cloudwarden
    secret: {env: CW_TEST_WEBHOOK_KEY}
    headers: {X-Team: secops}
  mail:
    kind: email
    host: smtp.example.com
    from: alerts@example.com
    to: [secops@example.com]
  topic:
    kind: sns
    topic_arn: arn:aws:sns:eu-west-1:222222222222:alerts
  ses:
    kind: ses
    from: alerts@example.com
    to: [secops@example.com]
"""


def test_every_registered_kind_loads_from_a_file(tmp_path: Path) -> None:
    path = tmp_path / "targets.yaml"
    path.write_text(TARGETS_YAML)
    targets = Targets.from_file(path)
    assert {name: config.kind for name, config in targets.items()} == {
        "secops-slack": "slack", "soc": "webhook", "mail": "email", "topic": "sns", "ses": "ses"}
    assert set(SENDERS) == {"slack", "email", "webhook", "sns", "ses"}
    assert all(Senders().get(kind).kind == kind for kind in SENDERS)


@pytest.mark.parametrize(
    ("text", "where", "why"),
    [
        ("targets:\n  s:\n    kind: slak\n    url: https://x.io\n", "targets.s.kind",
         "unknown kind 'slak' (one of slack"),
        ("targets:\n  s:\n    url: https://x.io\n", "targets.s.kind", "missing"),
        ("targets:\n  w:\n    kind: webhook\n    url: https://x.io\n", "targets.w.secret", "Field required"),
        ("targets:\n  w:\n    kind: webhook\n    url: https://x.io\n    secret: k\n    colour: red\n",
         "targets.w.colour", "Extra inputs"),
        ("targets:\n  m:\n    kind: email\n    host: h\n    from: nobody\n    to: [a@b.io]\n", "targets.m.from",
         "not an e-mail address"),
        ("targets:\n  s:\n    kind: slack\n    url: {env: 1BAD}\n", "targets.s.url", "not an environment variable"),
        ("targets:\n  s:\n    kind: slack\n    url: {env: A, value: b}\n", "targets.s.url", "exactly one"),
        ("targets:\n  bad name:\n    kind: slack\n", "targets.bad name", "a target name"),
        ("targets: [1, 2]\n", "targets", "must map"),
        ("slack: {}\n", "t.yaml", "one key, targets"),
        ("targets:\n  s: [\n", "t.yaml:3", "not valid YAML"),
    ],
)
def test_bad_targets_files_say_which_field_and_why(tmp_path: Path, text: str, where: str, why: str) -> None:
    path = tmp_path / "t.yaml"
    path.write_text(text)
    with pytest.raises(BadInputError) as err:
        Targets.from_file(path)
    assert where in err.value.where and why in err.value.why, str(err.value)
    assert err.value.exit_code == 2


def test_an_inline_secret_never_appears_in_errors_or_reprs(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text("targets:\n  w:\n    kind: webhook\n    url: https://x.io/T0KEN\n    secret: hunter2-key\n"
                    "    timeout: -1\n")
    with pytest.raises(BadInputError) as err:
        Targets.from_file(path)
    assert "timeout" in str(err.value) and "hunter2" not in str(err.value) and "T0KEN" not in str(err.value)
    config = WebhookTarget(url="https://x.io/T0KEN", secret="hunter2-key")
    assert "hunter2" not in repr(config) and "T0KEN" not in repr(config)


def test_targets_from_environment_variables_win_over_the_file(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text("targets:\n  secops-slack:\n    kind: slack\n    url: https://hooks.slack.com/old\n")
    env = {"CLOUDWARDEN_TARGET_SECOPS_SLACK": '{"kind": "slack", "url": "https://hooks.slack.com/new"}',
           "CLOUDWARDEN_TARGET_PAGER": '{"kind": "webhook", "url": "https://p.io", "secret": {"env": "K"}}'}
    targets = load_targets(path, env)
    slack = targets.get_target("secops-slack")
    assert isinstance(slack, SlackTarget) and slack.url.resolve("url") == "https://hooks.slack.com/new"
    assert set(targets) == {"secops-slack", "pager"}
    with pytest.raises(BadInputError, match=r"\$CLOUDWARDEN_TARGET_X: not a JSON object"):
        Targets.from_env({"CLOUDWARDEN_TARGET_X": "{nope"})


def test_secrets_from_the_environment_are_read_at_send_time(
    http_sink: HttpSink, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CW_TEST_HOOK_URL", raising=False)
    targets = Targets({"chat": SlackTarget.model_validate({"url": {"env": "CW_TEST_HOOK_URL"}})})
    with Store.open(tmp_path / "s.duckdb") as store:
        outbox = Outbox(store, targets)
        unset = outbox.enqueue("chat", [make_finding(1)])
        outbox.deliver_due()
        dead = outbox.get(unset.idempotency_key)  # type: ignore[union-attr]
        assert dead is not None and dead.state is State.DEAD
        assert "environment variable CW_TEST_HOOK_URL is not set" in (dead.last_error or "")
        monkeypatch.setenv("CW_TEST_HOOK_URL", http_sink.url("/after"))
        assert outbox.requeue(dead.key)
        assert outbox.deliver_due().delivered == [dead.key]
    assert [r.path for r in http_sink.requests] == ["/after"]


def test_plain_http_is_refused_except_to_loopback_or_when_allowed(http_sink: HttpSink) -> None:
    message = Message.for_findings("chat", "slack", [make_finding()])
    with pytest.raises(BadInputError, match="must use https"):
        SlackSender().send(message, SlackTarget(url="http://hooks.example.com/x"))
    with pytest.raises(BadInputError, match="absolute http"):
        SlackSender().send(message, SlackTarget(url="file:///etc/passwd"))
    assert SlackSender().send(message, SlackTarget(url=http_sink.url())).ok  # 127.0.0.1
