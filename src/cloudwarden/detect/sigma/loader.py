"""Load Sigma rules from files or directory trees and compile each to a SQL condition over ``cloudtrail``.

``load_sigma_rules(path)`` reads every ``.yml``/``.yaml`` file under the given paths (sorted; hidden
directories such as ``.github`` skipped), parses it with pySigma (``collect_errors=True``, so one bad rule
never hides the others) and compiles each rule through :class:`~.backend.CloudTrailSqlBackend`. Every file
ends up in exactly one place of the returned :class:`SigmaPack`:

* ``rules``: compiled, ready for the engine (:meth:`CompiledSigmaRule.to_rule` gives the engine's model);
* ``errors``: the file is not a valid Sigma rule (YAML syntax, missing detection, bad modifier, duplicate
  id) -- bad input, with the path, the line where known, and pySigma's reason;
* ``unsupported``: a valid rule we cannot compile exactly (another logsource, a field the table does not
  hold, keyword search, correlation, ...), with the reason. It is never approximated.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, NamedTuple

import yaml
from sigma.collection import SigmaCollection
from sigma.correlations import SigmaCorrelationRule
from sigma.exceptions import (
    SigmaError,
    SigmaFeatureNotSupportedByBackendError,
    SigmaRuleLocation,
    SigmaTransformationError,
)
from sigma.rule import SigmaRule

from cloudwarden.core.errors import BadInputError
from cloudwarden.core.severity import Severity
from cloudwarden.detect.rules.model import Rule
from cloudwarden.detect.sigma.backend import BACKENDS, CloudTrailSqlBackend
from cloudwarden.detect.sigma.to_findings import finding_type, mitre_techniques, severity_for

_YAML_LOADER: Final[Any] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

RULE_SUFFIXES: Final = (".yml", ".yaml")


class SigmaLoadError(NamedTuple):
    """A file that is not a valid Sigma rule."""

    path: Path
    line: int | None
    reason: str

    def __str__(self) -> str:
        return f"{self.path}{f':{self.line}' if self.line else ''}: {self.reason}"


class UnsupportedSigmaRule(NamedTuple):
    """A valid Sigma rule that does not compile exactly to our SQL, and why."""

    path: Path
    reason: str


@dataclass(frozen=True)
class CompiledSigmaRule:
    """One Sigma rule, compiled: its metadata and ``where``, a boolean SQL expression over ``cloudtrail``."""

    id: str
    title: str
    description: str
    level: str | None
    status: str | None
    tags: tuple[str, ...]
    falsepositives: tuple[str, ...]
    path: Path
    where: str
    engine: str = "duckdb"

    @property
    def rule_id(self) -> str:
        return f"sigma:{self.id}"

    @property
    def severity(self) -> Severity:
        return severity_for(self.level)

    @property
    def mitre(self) -> tuple[str, ...]:
        return mitre_techniques(self.tags)

    @property
    def finding_type(self) -> str:
        return finding_type(self.tags, self.title)

    @property
    def finding_description(self) -> str:
        text = self.description.strip()
        if self.falsepositives:
            text += ("\n\n" if text else "") + "False positives: " + "; ".join(self.falsepositives)
        return text

    def to_rule(self) -> Rule:
        """The engine's rule model (``kind="sigma"``, ``condition`` = :attr:`where`), to run in one pass."""
        return Rule(
            id=self.rule_id,
            title=self.title,
            description=self.finding_description,
            type=self.finding_type,
            severity=self.severity,
            mitre=self.mitre,
            condition=self.where,
            kind="sigma",
            origin=str(self.path),
        )


@dataclass
class SigmaPack:
    rules: list[CompiledSigmaRule] = field(default_factory=list)
    errors: list[SigmaLoadError] = field(default_factory=list)
    unsupported: list[UnsupportedSigmaRule] = field(default_factory=list)

    def summary(self) -> dict[str, int]:
        return {"compiled": len(self.rules), "unsupported": len(self.unsupported), "errors": len(self.errors)}


def load_sigma_rules(source: str | Path | Iterable[str | Path], *, engine: str = "duckdb") -> SigmaPack:
    """Load and compile every Sigma rule under ``source`` (files and/or directories) for ``engine``.

    A path that does not exist, or an unknown engine, raises :class:`BadInputError`; problems inside rule
    files are collected in the pack.
    """
    if engine not in BACKENDS:
        raise BadInputError("--engine", f"unknown engine {engine!r} (one of {', '.join(BACKENDS)})")
    backend = BACKENDS[engine](collect_errors=True)
    pack = SigmaPack()
    seen: dict[str, Path] = {}
    for path in _rule_files(source):
        for item in _load_file(path, backend, engine):
            if isinstance(item, CompiledSigmaRule):
                if item.id in seen:
                    reason = f"duplicate rule id {item.id} (also in {seen[item.id]})"
                    pack.errors.append(SigmaLoadError(path, None, reason))
                    continue
                seen[item.id] = path
                pack.rules.append(item)
            elif isinstance(item, SigmaLoadError):
                pack.errors.append(item)
            else:
                pack.unsupported.append(item)
    return pack


def _rule_files(source: str | Path | Iterable[str | Path]) -> list[Path]:
    sources = [Path(source)] if isinstance(source, str | Path) else [Path(s) for s in source]
    files: list[Path] = []
    for root in sources:
        if root.is_file():
            files.append(root)
        elif root.is_dir():
            files.extend(
                sorted(
                    p
                    for p in root.rglob("*")
                    if p.is_file()
                    and p.name.endswith(RULE_SUFFIXES)
                    and not any(part.startswith(".") for part in p.relative_to(root).parts)
                )
            )
        else:
            raise BadInputError(str(root), "no such file or directory (expected Sigma rule files or a directory)")
    return files


_Item = CompiledSigmaRule | SigmaLoadError | UnsupportedSigmaRule


def _load_file(path: Path, backend: CloudTrailSqlBackend, engine: str) -> Iterator[_Item]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        yield SigmaLoadError(path, None, f"cannot read: {exc}")
        return
    try:
        # Parsed here with libyaml when present (pySigma's from_yaml uses the pure-Python parser, most of
        # the time of loading a rule set), then handed to pySigma as the same documents.
        documents = list(yaml.load_all(text, Loader=_YAML_LOADER))
        collection = SigmaCollection.from_dicts(documents, collect_errors=True, source=SigmaRuleLocation(path))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        yield SigmaLoadError(path, line, f"not valid YAML: {getattr(exc, 'problem', None) or exc}")
        return
    if not collection.rules and not collection.errors:
        yield SigmaLoadError(path, None, "no Sigma rule in the file")
        return
    for error in collection.errors:
        yield _load_error(path, error)
    for rule in collection.rules:
        if rule.errors:
            continue  # already reported through collection.errors
        if isinstance(rule, SigmaCorrelationRule):
            yield UnsupportedSigmaRule(
                path, "correlation rules are not compiled (use a native rule's threshold or sequence instead)"
            )
        elif not isinstance(rule, SigmaRule):
            yield UnsupportedSigmaRule(path, f"Sigma {type(rule).__name__} documents are not applied")
        elif rule.status is not None and rule.status.name.lower() == "unsupported":
            yield UnsupportedSigmaRule(path, "the rule's own status is 'unsupported'")
        else:
            yield _compile(path, rule, backend, engine)


def _compile(path: Path, rule: SigmaRule, backend: CloudTrailSqlBackend, engine: str) -> _Item:
    before = len(backend.errors)
    queries = backend.convert_rule(rule)
    if len(backend.errors) > before:
        _, error = backend.errors[-1]
        if isinstance(error, SigmaFeatureNotSupportedByBackendError | SigmaTransformationError):
            return UnsupportedSigmaRule(path, _message(error))
        return _load_error(path, error)
    if not queries:
        return UnsupportedSigmaRule(path, "the rule's condition compiles to nothing")
    where = queries[0] if len(queries) == 1 else " OR ".join(f"({q})" for q in queries)
    return CompiledSigmaRule(
        id=str(rule.id) if rule.id is not None else path.stem,
        title=rule.title,
        description=rule.description or "",
        level=rule.level.name.lower() if rule.level is not None else None,
        status=rule.status.name.lower() if rule.status is not None else None,
        tags=tuple(f"{tag.namespace}.{tag.name}" for tag in rule.tags),
        falsepositives=tuple(str(fp) for fp in rule.falsepositives or ()),
        path=path,
        where=str(where),
        engine=engine,
    )


def _load_error(path: Path, error: SigmaError) -> SigmaLoadError:
    line = error.source.line if error.source is not None else None
    return SigmaLoadError(path, line, _message(error))


def _message(error: SigmaError) -> str:
    return str(error.args[0]) if error.args else type(error).__name__
