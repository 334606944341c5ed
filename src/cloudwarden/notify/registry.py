"""Senders registered by name, and the targets file that configures them.

One explicit table (:data:`SENDERS`) maps a kind (``slack``, ``email``, ``webhook``, ``sns``, ``ses``) to its
config model and how to build its sender; a target whose kind is not in the table is a configuration error
that lists the kinds there are. Adding a sender is one module and one line here.

Targets come from a YAML/JSON file::

    targets:
      secops-slack:
        kind: slack
        url: {env: SLACK_WEBHOOK_URL}          # secrets inline or from the environment at send time
      soc-webhook:
        kind: webhook
        url: https://hooks.example.com/cloudwarden
        secret: {env: CLOUDWARDEN_WEBHOOK_KEY}

and/or from environment variables ``CLOUDWARDEN_TARGET_<NAME>`` holding one target as a JSON object
(``CLOUDWARDEN_TARGET_SECOPS_SLACK='{"kind": "slack", "url": "https://hooks.slack.com/..."}'`` defines
``secops-slack``). Every error names the file or variable and the field (``targets.yaml: targets.soc.secret:
Field required``) and never echoes a value.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Protocol

import yaml
from pydantic import ValidationError

from cloudwarden.core.errors import BadInputError
from cloudwarden.notify.aws import SesSender, SesTarget, SnsSender, SnsTarget
from cloudwarden.notify.config import TargetConfig
from cloudwarden.notify.email import EmailSender, EmailTarget
from cloudwarden.notify.model import DeliveryResult, Message
from cloudwarden.notify.slack import SlackSender, SlackTarget
from cloudwarden.notify.transport import Transport, UrllibTransport
from cloudwarden.notify.webhook import WebhookSender, WebhookTarget

ENV_PREFIX: Final = "CLOUDWARDEN_TARGET_"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class Sender(Protocol):
    """Delivers a message to one target. A delivery failure is returned, never raised; a target config that
    cannot work (an unset variable, a URL that is not https) raises :class:`BadInputError`."""

    kind: str

    def send(self, message: Message, config: TargetConfig, *, resume_from: int = 0) -> DeliveryResult: ...


@dataclass(frozen=True)
class SenderSpec:
    config_type: type[TargetConfig]
    build: Callable[[Transport], Sender]


SENDERS: Final[Mapping[str, SenderSpec]] = {
    "slack": SenderSpec(SlackTarget, SlackSender),
    "email": SenderSpec(EmailTarget, lambda _: EmailSender()),
    "webhook": SenderSpec(WebhookTarget, WebhookSender),
    "sns": SenderSpec(SnsTarget, lambda _: SnsSender()),
    "ses": SenderSpec(SesTarget, lambda _: SesSender()),
}


class Senders:
    """One sender per kind, built on first use; HTTP senders share ``transport``."""

    def __init__(self, transport: Transport | None = None) -> None:
        self.transport = transport or UrllibTransport()
        self._built: dict[str, Sender] = {}

    def get(self, kind: str) -> Sender:
        sender = self._built.get(kind)
        if sender is None:
            spec = SENDERS.get(kind)
            if spec is None:
                raise BadInputError("kind", f"unknown target kind {kind!r} (one of {', '.join(SENDERS)})")
            sender = self._built[kind] = spec.build(self.transport)
        return sender


def parse_target(name: str, data: Any, where: str) -> TargetConfig:
    """One target's config, validated; errors name ``where`` and the field."""
    if not _NAME.match(name):
        raise BadInputError(where, "a target name is 1-64 letters, digits, '.', '_' or '-', starting with a "
                                   "letter or digit")
    if not isinstance(data, Mapping):
        raise BadInputError(where, "a target is a mapping with at least a kind")
    kind = data.get("kind")
    if kind not in SENDERS:
        got = "missing" if kind is None else f"unknown kind {kind!r}"
        raise BadInputError(f"{where}.kind", f"{got} (one of {', '.join(SENDERS)})")
    try:
        return SENDERS[str(kind)].config_type.model_validate(dict(data))
    except ValidationError as exc:
        problems = [(_location(err["loc"]), err["msg"]) for err in exc.errors()]
        first = problems[0][0]
        why = "; ".join(f"{loc}: {msg}" if loc != first else msg for loc, msg in problems)
        raise BadInputError(f"{where}.{first}" if first else where, why) from None


def _location(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


class Targets(Mapping[str, TargetConfig]):
    """Configured targets by name (a read-only mapping)."""

    def __init__(self, configs: Mapping[str, TargetConfig] | None = None) -> None:
        self._configs = dict(configs or {})

    def __getitem__(self, name: str) -> TargetConfig:
        return self._configs[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._configs)

    def __len__(self) -> int:
        return len(self._configs)

    def get_target(self, name: str) -> TargetConfig:
        """The target called ``name``, or a :class:`BadInputError` listing the names there are."""
        found = self._configs.get(name)
        if found is None:
            known = ", ".join(sorted(self._configs)) or "none are configured"
            raise BadInputError("target", f"no target named {name!r} ({known})")
        return found

    @classmethod
    def from_mapping(cls, data: Any, where: str = "targets") -> Targets:
        """From ``{"targets": {name: config}}`` (a parsed targets file)."""
        if not isinstance(data, Mapping) or set(data) - {"targets"}:
            raise BadInputError(where, "a targets file is a mapping with one key, targets")
        targets = data.get("targets") or {}
        if not isinstance(targets, Mapping):
            raise BadInputError(f"{where}: targets", "must map target names to their configs")
        return cls({str(name): parse_target(str(name), config, f"{where}: targets.{name}")
                    for name, config in targets.items()})

    @classmethod
    def from_file(cls, path: Path | str) -> Targets:
        where = str(path)
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise BadInputError(where, f"cannot read the targets file ({exc.strerror or exc})") from None
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            at = f"{where}:{mark.line + 1}" if mark is not None else where
            raise BadInputError(at, f"not valid YAML ({getattr(exc, 'problem', None) or 'syntax error'})") from None
        return cls.from_mapping(data if data is not None else {}, where)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Targets:
        """Targets defined by ``CLOUDWARDEN_TARGET_<NAME>`` variables (JSON objects)."""
        env = os.environ if environ is None else environ
        found: dict[str, TargetConfig] = {}
        for variable, value in sorted(env.items()):
            if not variable.startswith(ENV_PREFIX) or len(variable) == len(ENV_PREFIX):
                continue
            name = variable[len(ENV_PREFIX):].lower().replace("_", "-")
            try:
                data = json.loads(value)
            except json.JSONDecodeError as exc:
                raise BadInputError(f"${variable}", f"not a JSON object (line {exc.lineno}, column {exc.colno})"
                                    ) from None
            found[name] = parse_target(name, data, f"${variable}")
        return cls(found)

    def merged(self, other: Mapping[str, TargetConfig]) -> Targets:
        """These targets with ``other``'s added; ``other`` wins on a name both define."""
        return Targets({**self._configs, **other})


def load_targets(path: Path | str | None = None, environ: Mapping[str, str] | None = None) -> Targets:
    """Targets from ``path`` (if given) plus ``CLOUDWARDEN_TARGET_*`` variables (which win)."""
    base = Targets.from_file(path) if path is not None else Targets()
    return base.merged(Targets.from_env(environ))
