"""Plaintext-secret verdicts at collection time: SSM ``String`` parameters, Lambda environment, EC2 user data.

Controls need to know whether a value *looks like* a secret, never the value, so the verdict is
computed here, while the value is in memory, and only the verdict is stored: ``{"looks_secret",
"reason", "entropy"}``. User data is kept (controls and people need it) with every matching value
replaced by ``****``.

Two signals, as secret scanners (gitleaks, detect-secrets) use them:

* **patterns** of well-known credential formats (AWS access key ids, private keys, Stripe/GitHub/Slack
  tokens, JWTs, passwords in URLs) and of assignments whose name says secret
  (``DB_PASSWORD=...``, ``api_key: ...``);
* **Shannon entropy** of the value: random-looking strings of 16+ characters mixing letter cases and
  digits score about 4 bits per character, words and identifiers far less.

A name that says secret counts only with a value that is not a reference (``$VAR``, ``{{resolve:...}}``,
an ARN, a path) and not a placeholder. Hand-written rather than depending on detect-secrets: we need
only verdicts over short values, with no file handling or baseline machinery.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass
from typing import Any, Final

MASK: Final = "****"
HIGH_ENTROPY: Final = 3.5  # bits per character
MIN_RANDOM_LENGTH: Final = 16

SECRET_NAME: Final = re.compile(
    r"(pass(word|wd|phrase)?|pwd|secret|token|api[_-]?key|apikey|access[_-]?key|private[_-]?key|"
    r"credential|auth[_-]?key|signing[_-]?key|client[_-]?secret)",
    re.IGNORECASE,
)
# Well-known formats: (reason, pattern). Each pattern matches the secret itself.
KNOWN_FORMATS: Final[tuple[tuple[str, re.Pattern[str]], ...]] = (
    ("AWS access key id", re.compile(r"\b(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}\b")),
    ("private key",
     re.compile(r"-----BEGIN (?:[A-Z]+ )?PRIVATE KEY-----[\s\S]*?(?:-----END (?:[A-Z]+ )?PRIVATE KEY-----|$)")),
    ("Stripe secret key", re.compile(r"\b[sr]k_live_[0-9A-Za-z]{16,}\b")),
    ("webhook signing secret", re.compile(r"\bwhsec_[0-9A-Za-z]{16,}\b")),
    ("GitHub token", re.compile(r"\bgh[pousr]_[A-Za-z0-9]{30,}\b")),
    ("Slack token", re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}\b")),
    ("Google API key", re.compile(r"\bAIza[0-9A-Za-z_\-]{35}\b")),
    ("JSON web token", re.compile(r"\beyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}")),
    ("password in a URL", re.compile(r"(?<=://)[^/\s:@]+:([^/\s@]{4,})(?=@)")),
)
# NAME=value / name: value / "name": "value" assignments, in text such as user data.
ASSIGNMENT: Final = re.compile(
    r"""(?P<name>[A-Za-z_][A-Za-z0-9_.\-]*)["']?\s*(?:=|:)\s*["']?(?P<value>[^\s"'#;,]+)"""
)
PLACEHOLDERS: Final = frozenset({
    "changeme", "change_me", "password", "secret", "none", "null", "true", "false", "xxx", "xxxx", "todo",
    "example", "placeholder", "redacted", "****",
})


@dataclass(frozen=True)
class Verdict:
    """Whether a value looks like a secret, why, and its entropy (bits per character)."""

    looks_secret: bool
    reason: str
    entropy: float

    def as_dict(self) -> dict[str, Any]:
        return {"looks_secret": self.looks_secret, "reason": self.reason, "entropy": self.entropy}


def entropy(value: str) -> float:
    """Shannon entropy of ``value`` in bits per character (0.0 for the empty string)."""
    if not value:
        return 0.0
    counts = Counter(value)
    total = len(value)
    return round(-sum(n / total * math.log2(n / total) for n in counts.values()), 3)


def looks_random(value: str) -> bool:
    """Long, high-entropy and mixing character classes: how generated credentials look."""
    if len(value) < MIN_RANDOM_LENGTH or entropy(value) < HIGH_ENTROPY:
        return False
    classes = sum(bool(re.search(p, value)) for p in (r"[a-z]", r"[A-Z]", r"[0-9]"))
    return classes >= 2 and not _is_reference(value)


def _is_reference(value: str) -> bool:
    v = value.strip()
    return (
        v.startswith(("$", "{{", "arn:", "/", "s3://", "http://", "https://", "ssm:", "secretsmanager:"))
        or "${" in v
        or v.lower() in PLACEHOLDERS
    )


def check_value(value: str, name: str | None = None) -> Verdict:
    """The verdict for one value; ``name`` (a parameter or variable name) is a signal too."""
    bits = entropy(value)
    for reason, pattern in KNOWN_FORMATS:
        if pattern.search(value):
            return Verdict(True, reason, bits)
    named = bool(name and SECRET_NAME.search(name))
    stripped = value.strip()
    if _is_reference(stripped):
        return Verdict(False, "a reference to a secret (ARN, variable, path), not a value", bits)
    if named and len(stripped) >= 6 and " " not in stripped:
        return Verdict(True, f"name {name!r} says secret and the value is set", bits)
    if looks_random(stripped) and " " not in stripped:
        return Verdict(True, "high-entropy value", bits)
    for match in ASSIGNMENT.finditer(value):  # JSON or key=value documents held in one value
        inner = check_assignment(match.group("name"), match.group("value"))
        if inner is not None:
            return Verdict(True, inner, bits)
    return Verdict(False, "no secret pattern, no secret name, low entropy", bits)


def check_assignment(name: str, value: str) -> str | None:
    """Why ``name = value`` looks like a secret, or None."""
    if _is_reference(value) or len(value) < 6:
        return None
    if SECRET_NAME.search(name):
        return f"{name} is assigned a literal value"
    if looks_random(value):
        return f"{name} is assigned a high-entropy value"
    return None


@dataclass(frozen=True)
class TextVerdict:
    """The verdict for a text (user data) and the text with every secret value masked."""

    looks_secret: bool
    reasons: tuple[str, ...]
    masked: str

    def as_dict(self) -> dict[str, Any]:
        return {"looks_secret": self.looks_secret, "reasons": list(self.reasons)}


def check_text(text: str) -> TextVerdict:
    """Find secrets in a multi-line text; returns the reasons and the text with their values masked."""
    reasons: list[str] = []
    spans: list[tuple[int, int]] = []
    for reason, pattern in KNOWN_FORMATS:
        for match in pattern.finditer(text):
            group = 1 if pattern.groups else 0
            spans.append(match.span(group))
            reasons.append(reason)
    for match in ASSIGNMENT.finditer(text):
        why = check_assignment(match.group("name"), match.group("value"))
        if why is not None:
            spans.append(match.span("value"))
            reasons.append(why)
    return TextVerdict(bool(spans), tuple(dict.fromkeys(reasons)), _mask(text, spans))


def _mask(text: str, spans: list[tuple[int, int]]) -> str:
    out: list[str] = []
    position = 0
    for start, end in sorted(spans):
        if end <= position:
            continue
        start = max(start, position)
        out.append(text[position:start])
        out.append(MASK)
        position = end
    out.append(text[position:])
    return "".join(out)


def environment_verdicts(variables: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Lambda-style ``{NAME: value}`` -> ``{NAME: verdict}``; the values are not kept."""
    verdicts: dict[str, dict[str, Any]] = {}
    for name, value in variables.items():
        verdict = check_value(str(value), name)
        verdicts[name] = {"looks_secret": verdict.looks_secret, "reason": verdict.reason}
    return verdicts
