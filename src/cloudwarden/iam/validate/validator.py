"""Validate policies: IAM's grammar first, then the Access Analyzer-style checks, with locations.

A document IAM would reject gets IAM's own message (``grammar.py``). When its syntax is sound (the failure is a
later phase, or there is none) the checks in ``checks.py`` run too, so one pass reports everything a person needs
to fix. Issues found in JSON text get a line and column from ``locate.py``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

from cloudwarden.core.errors import BadInputError
from cloudwarden.iam.catalog import get_catalog
from cloudwarden.iam.validate.checks import Context, checks_for
from cloudwarden.iam.validate.document import statements
from cloudwarden.iam.validate.grammar import check_grammar, parse_document
from cloudwarden.iam.validate.locate import Locator
from cloudwarden.iam.validate.model import Level, PolicyType, ValidationIssue

_LEVEL_RANK = {level: rank for rank, level in enumerate(Level)}


def detect_policy_type(document: Any) -> PolicyType:
    """RESOURCE_POLICY when a statement names a principal, else IDENTITY_POLICY."""
    for stmt in statements(document):
        if "Principal" in stmt.raw or "NotPrincipal" in stmt.raw:
            return PolicyType.RESOURCE_POLICY
    return PolicyType.IDENTITY_POLICY


def _policy_type(value: PolicyType | str | None, document: Any) -> PolicyType:
    if value is None or (isinstance(value, str) and value.strip().lower() == "auto"):
        return detect_policy_type(document)
    return value if isinstance(value, PolicyType) else PolicyType.parse(value)


def validate_policy(
    document: str | bytes | Any,
    *,
    policy_type: PolicyType | str | None = PolicyType.IDENTITY_POLICY,
    policy_path: str = "",
) -> list[ValidationIssue]:
    """Every issue in one policy (JSON text or a parsed object), ordered by position, then level.

    ``policy_type`` is a :class:`PolicyType` or its name; ``None`` or ``"auto"`` detects it (a statement with a
    principal makes a resource policy). An unknown policy type raises :class:`BadInputError`.
    """
    parsed, syntax = parse_document(document)
    if syntax is not None:
        return [replace(syntax, policy_path=policy_path)]
    kind = _policy_type(policy_type, parsed)
    issues: list[ValidationIssue] = []
    grammar = check_grammar(parsed, kind)
    if grammar is not None:
        issues.append(grammar)
    if grammar is None or grammar.code != "POLICY_SYNTAX_ERROR":
        ctx = Context(document=parsed, statements=statements(parsed), policy_type=kind, catalog=get_catalog())
        for registered in checks_for(kind):
            for ptr, message in registered.fn(ctx):
                issues.append(ValidationIssue(registered.code, registered.level, message, ptr))
    text = document.decode("utf-8") if isinstance(document, bytes) else document
    locator = Locator.from_text(text) if isinstance(text, str) else None
    located: list[ValidationIssue] = []
    for issue in issues:
        position = locator.position(issue.pointer) if locator else None
        located.append(
            replace(
                issue,
                policy_path=policy_path,
                line=position.line if position else issue.line,
                column=position.column if position else issue.column,
            )
        )
    located.sort(key=lambda i: (i.line or 0, i.column or 0, _LEVEL_RANK[i.level], i.code))
    return located


def validate_policies(
    policies: Iterable[tuple[str, str | bytes | Any]], *, policy_type: PolicyType | str | None = None
) -> list[ValidationIssue]:
    """Validate ``(name, document)`` pairs (a name is a file path or a policy ARN), in the order given."""
    issues: list[ValidationIssue] = []
    for name, document in policies:
        issues.extend(validate_policy(document, policy_type=policy_type, policy_path=name))
    return issues


def read_policy_files(paths: Iterable[Path]) -> list[tuple[str, str]]:
    """``(path, text)`` for each file; every file is read before any is judged, so a bad path fails fast.

    A file that cannot be read, or is not UTF-8, raises :class:`BadInputError` naming it. A file that is not JSON
    is not bad input: it is a policy IAM would reject, and is reported as such.
    """
    texts: list[tuple[str, str]] = []
    for path in paths:
        try:
            texts.append((str(path), path.read_bytes().decode("utf-8-sig")))
        except UnicodeDecodeError as exc:
            raise BadInputError(str(path), f"not UTF-8 text (byte {exc.start})") from None
        except OSError as exc:
            raise BadInputError(str(path), f"cannot read ({exc.strerror or exc})") from None
    return texts


def validate_files(
    paths: Iterable[Path], *, policy_type: PolicyType | str | None = None
) -> list[ValidationIssue]:
    """Validate each policy file; ``policy_type`` as in :func:`validate_policy` (default: detect per file)."""
    return validate_policies(read_policy_files(paths), policy_type=policy_type)
