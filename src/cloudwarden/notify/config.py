"""Target configuration shared by every sender: the base model, secret references and URL checks.

A target's secrets (webhook URLs, HMAC keys, SMTP passwords) are written either inline or as a reference to an
environment variable read **at send time** (``url: {env: SLACK_WEBHOOK_URL}``), so a targets file can be
committed without them. Inline values are held as ``SecretStr``, so a config printed or logged shows
``**********``; :meth:`TargetConfig.secret_values` hands the resolved values to the outbox, which scrubs them
from any error text before it is stored.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from cloudwarden.core.errors import BadInputError

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_EMAIL = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")
_LOOPBACK_NAMES = frozenset({"localhost"})


class Secret(BaseModel):
    """A secret given inline (a plain string in the file) or as ``{env: NAME}``, resolved when used."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    value: SecretStr | None = None
    env: str | None = Field(default=None, description="name of the environment variable holding the secret")

    @model_validator(mode="before")
    @classmethod
    def _inline(cls, data: Any) -> Any:
        return {"value": data} if isinstance(data, str) else data

    @model_validator(mode="after")
    def _one_source(self) -> Secret:
        if (self.value is None) == (self.env is None):
            raise ValueError("give the secret inline or as {env: VARIABLE_NAME}, exactly one of the two")
        if self.env is not None and not _ENV_NAME.match(self.env):
            raise ValueError(f"{self.env!r} is not an environment variable name")
        if self.value is not None and not self.value.get_secret_value():
            raise ValueError("the secret is empty")
        return self

    def resolve(self, where: str, environ: Mapping[str, str] | None = None) -> str:
        """The secret's value; a :class:`BadInputError` naming ``where`` and the variable when it is unset."""
        if self.value is not None:
            return self.value.get_secret_value()
        assert self.env is not None
        found = (os.environ if environ is None else environ).get(self.env, "")
        if not found:
            raise BadInputError(where, f"environment variable {self.env} is not set (or empty)")
        return found


class TargetConfig(BaseModel):
    """Fields every target has; each sender module subclasses it with a ``kind`` literal."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: str
    timeout: float = Field(default=5.0, gt=0, le=120, description="seconds to wait for the target to answer")

    def secret_values(self, environ: Mapping[str, str] | None = None) -> list[str]:
        """Every secret this config resolves to (for scrubbing error text); unset variables are skipped."""
        found: list[str] = []
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, Secret):
                try:
                    found.append(value.resolve(name, environ))
                except BadInputError:
                    continue
        return found


def check_http_url(url: str, where: str, *, allow_http: bool = False) -> str:
    """``url`` if it is an absolute https URL (http only to a loopback host, or when ``allow_http``).

    The message never repeats the URL: it may be a secret (Slack and webhook URLs carry their token).
    """
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError:
        raise BadInputError(where, "not a valid URL") from None
    if parts.scheme not in ("http", "https") or not host:
        raise BadInputError(where, "must be an absolute http(s) URL")
    if parts.scheme == "http" and not (allow_http or _is_loopback(host)):
        raise BadInputError(where, "must use https (plain http is accepted only for 127.0.0.1/localhost, "
                                   "or with allow_http: true)")
    return url


def _is_loopback(host: str) -> bool:
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_email(address: str) -> str:
    """For pydantic validators: ``address`` if it looks like ``local@domain.tld``."""
    if not _EMAIL.match(address):
        raise ValueError(f"{address!r} is not an e-mail address")
    return address


def scrub(text: str, secrets: list[str]) -> str:
    """``text`` with every secret value in it replaced by ``[REDACTED]`` (longest first)."""
    for secret in sorted((s for s in secrets if len(s) >= 4), key=len, reverse=True):
        text = text.replace(secret, "[REDACTED]")
    return text
