"""The routing rules file: which findings go where, how often, and which playbooks they may start.

A rules file is YAML (JSON is YAML too)::

    rules:
      - name: high-to-soc
        description: HIGH and CRITICAL findings to the SOC webhook
        pattern:                         # an EventBridge event pattern, over the events of route.events
          source: [aws.securityhub]
          detail:
            findings:
              Severity:
                Label: [HIGH, CRITICAL]
        targets:
          - soc-webhook                  # a target name from the notify targets file
          - playbook: compromised-iam-credentials
            execute: false               # the default: a dry run that only plans
        dedupe_window: 1h                # at least this long between two messages about one finding
        throttle: {max: 10, per: 1h}     # at most 10 messages per target in any hour (``throttle: 10`` = per hour)

Every problem is a :class:`RulesFileError` naming the file, the line and the field
(``rules.yaml:7: rules[0].pattern: Event pattern is not valid. Reason: ...``); a pattern error carries
EventBridge's own message (the :class:`PatternError`, kept as ``pattern_error``). Unknown keys are
errors, so a misspelt ``dedup_window`` is reported instead of ignored.

Hand-written over a pydantic model because the errors must name YAML lines, which a model of the
parsed data no longer knows: the file is composed once into PyYAML's node tree and the line of any
field is looked up there.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, Final

import yaml

from cloudwarden.core.errors import BadInputError
from cloudwarden.route.pattern import Pattern, PatternError, parse_pattern

PLAYBOOK_PREFIX: Final = "playbook:"
DEFAULT_THROTTLE_PERIOD: Final = timedelta(hours=1)
_RULE_KEYS: Final = frozenset({"name", "description", "pattern", "targets", "dedupe_window", "throttle"})
_PLAYBOOK_KEYS: Final = frozenset({"playbook", "execute"})
_THROTTLE_KEYS: Final = frozenset({"max", "per"})
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_DURATION_PART = re.compile(r"(\d+)([smhd])")
_UNITS: Final = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class RulesFileError(BadInputError):
    """A rules file that cannot be used; ``where`` is ``file:line: field``. ``pattern_error`` is set when the
    problem is the event pattern (its message is EventBridge's)."""

    def __init__(self, where: str, why: str, *, pattern_error: PatternError | None = None) -> None:
        super().__init__(where, why)
        self.pattern_error = pattern_error


@dataclass(frozen=True)
class PlaybookTarget:
    """``{playbook: NAME, execute: false}``: start playbook ``name`` on each matched finding (a dry run unless
    ``execute``; disruptive steps still wait for ``respond approve``, never approved by a rule)."""

    name: str
    execute: bool = False

    @property
    def key(self) -> str:
        """How routing state names this target (apart from notify target names)."""
        return f"{PLAYBOOK_PREFIX}{self.name}"


Target = str | PlaybookTarget


@dataclass(frozen=True)
class Throttle:
    """At most ``max`` messages (or playbook runs) per target in any window of ``per``."""

    max: int
    per: timedelta = DEFAULT_THROTTLE_PERIOD


@dataclass(frozen=True)
class Rule:
    name: str
    pattern: Pattern
    targets: tuple[Target, ...]
    dedupe_window: timedelta = timedelta(0)
    throttle: Throttle | None = None
    description: str = ""
    line: int = 0

    @property
    def notify_targets(self) -> tuple[str, ...]:
        return tuple(t for t in self.targets if isinstance(t, str))

    @property
    def playbook_targets(self) -> tuple[PlaybookTarget, ...]:
        return tuple(t for t in self.targets if isinstance(t, PlaybookTarget))


@dataclass(frozen=True)
class RuleSet:
    """The rules of one file, in file order (the order matches are reported in)."""

    rules: tuple[Rule, ...]
    source: str = "rules"
    lines: Mapping[str, int] = field(default_factory=dict)

    def __iter__(self) -> Iterator[Rule]:
        return iter(self.rules)

    def __len__(self) -> int:
        return len(self.rules)

    def get(self, name: str) -> Rule:
        for rule in self.rules:
            if rule.name == name:
                return rule
        raise KeyError(name)

    def notify_target_names(self) -> list[str]:
        """Every notify target some rule names, in first-use order."""
        return list(dict.fromkeys(t for rule in self.rules for t in rule.notify_targets))

    def check_targets(self, known: Collection[str]) -> None:
        """Raise :class:`RulesFileError` at the first target that is not among ``known`` (the targets file's)."""
        for index, rule in enumerate(self.rules):
            for position, target in enumerate(rule.targets):
                if isinstance(target, str) and target not in known:
                    names = ", ".join(sorted(known)) or "none are configured"
                    where = f"rules[{index}].targets[{position}]"
                    raise RulesFileError(self._at(where), f"no notify target named {target!r} ({names})")

    def _at(self, where: str) -> str:
        line = self.lines.get(where)
        return f"{self.source}:{line}: {where}" if line else f"{self.source}: {where}"


def parse_duration(value: Any, where: str = "duration") -> timedelta:
    """``30s``, ``15m``, ``1h``, ``1d``, ``1h30m`` or a number of seconds; ``BadInputError`` otherwise."""
    if isinstance(value, bool):
        raise BadInputError(where, "a duration is like 30s, 15m, 1h, 1d or 1h30m, not a boolean")
    if isinstance(value, int | float):
        if value < 0:
            raise BadInputError(where, "a duration cannot be negative")
        return timedelta(seconds=value)
    text = str(value).strip().lower() if isinstance(value, str) else ""
    if text and _DURATION_PART.sub("", text) == "":
        return timedelta(seconds=sum(int(n) * _UNITS[u] for n, u in _DURATION_PART.findall(text)))
    raise BadInputError(where, f"{value!r} is not a duration (like 30s, 15m, 1h, 1d or 1h30m)")


# --------------------------------------------------------------------------------------------------- loading


def load_rules(path: Path | str, *, targets: Collection[str] | None = None,
               check_playbooks: bool = True) -> RuleSet:
    """Read and validate a rules file; with ``targets``, every notify target must be one of them."""
    where = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RulesFileError(where, "no such file") from None
    except UnicodeDecodeError as exc:
        raise RulesFileError(where, f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise RulesFileError(where, f"cannot read the rules file ({exc.strerror or exc})") from None
    return parse_rules(text, source=where, targets=targets, check_playbooks=check_playbooks)


def parse_rules(text: str, *, source: str = "rules", targets: Collection[str] | None = None,
                check_playbooks: bool = True) -> RuleSet:
    """Validate rules given as YAML text; ``source`` names the file in errors."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f"{source}:{mark.line + 1}" if mark is not None else source
        raise RulesFileError(at, f"not valid YAML ({getattr(exc, 'problem', None) or 'syntax error'})") from None
    finally:
        loader.dispose()
    lines: dict[str, int] = {}
    if node is not None:
        _index_lines(node, "", lines)
    parser = _Parser(source, lines, check_playbooks)
    rules = parser.rule_set(data)
    ruleset = RuleSet(tuple(rules), source, lines)
    if targets is not None:
        ruleset.check_targets(targets)
    return ruleset


class _Loader(yaml.SafeLoader):
    """YAML's safe loader with dates left as text: ``2025-01-01`` in a pattern is a string to match, as in JSON."""


def _timestamp_as_text(loader: _Loader, node: yaml.Node) -> str:
    assert isinstance(node, yaml.ScalarNode)
    return str(loader.construct_scalar(node))


_Loader.add_constructor("tag:yaml.org,2002:timestamp", _timestamp_as_text)


def _index_lines(node: yaml.Node, path: str, lines: dict[str, int]) -> None:
    """Record the 1-based line of every node under its field path (``rules[0].pattern``)."""
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            name = str(key.value)
            child = f"{path}.{name}" if path else name
            lines.setdefault(child, key.start_mark.line + 1)
            _index_lines(value, child, lines)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _index_lines(item, f"{path}[{index}]", lines)


class _Parser:
    def __init__(self, source: str, lines: Mapping[str, int], check_playbooks: bool) -> None:
        self.source = source
        self.lines = lines
        self.check_playbooks = check_playbooks

    def fail(self, where: str, why: str, *, pattern_error: PatternError | None = None) -> RulesFileError:
        line = self._line(where)
        at = f"{self.source}:{line}: {where}" if line else (f"{self.source}: {where}" if where else self.source)
        return RulesFileError(at, why, pattern_error=pattern_error)

    def _line(self, where: str) -> int | None:
        # the field itself, else the closest enclosing field the file has (a missing key: its rule's line)
        while where:
            if where in self.lines:
                return self.lines[where]
            where = where[: max(where.rfind("."), where.rfind("["), 0)]
        return self.lines.get("")

    def rule_set(self, data: Any) -> list[Rule]:
        if data is None:
            raise self.fail("", "empty rules file; it needs a list under rules:")
        if not isinstance(data, Mapping) or set(data) != {"rules"}:
            extra = sorted(set(data) - {"rules"}) if isinstance(data, Mapping) else []
            why = f"unknown key {extra[0]!r}; " if extra else ""
            raise self.fail("", why + "a rules file is a mapping with one key, rules, holding a list of rules")
        items = data["rules"]
        if not isinstance(items, list):
            raise self.fail("rules", "must be a list of rules")
        rules: list[Rule] = []
        seen: dict[str, int] = {}
        for index, item in enumerate(items):
            rule = self.rule(item, f"rules[{index}]")
            if rule.name in seen:
                raise self.fail(f"rules[{index}].name",
                                f"rule name {rule.name!r} is already used by rules[{seen[rule.name]}]")
            seen[rule.name] = index
            rules.append(rule)
        return rules

    def rule(self, item: Any, where: str) -> Rule:
        if not isinstance(item, Mapping):
            raise self.fail(where, "a rule is a mapping with name, pattern and targets")
        unknown = sorted(str(k) for k in item if k not in _RULE_KEYS)
        if unknown:
            raise self.fail(f"{where}.{unknown[0]}",
                            f"unknown field {unknown[0]!r} (a rule has {', '.join(sorted(_RULE_KEYS))})")
        for key in ("name", "pattern", "targets"):
            if item.get(key) is None:
                raise self.fail(f"{where}.{key}", "field required")
        name = item["name"]
        if not isinstance(name, str) or not _NAME.match(name):
            raise self.fail(f"{where}.name", "a rule name is 1-64 letters, digits, '.', '_' or '-', starting with "
                                             "a letter or digit")
        description = item.get("description") or ""
        if not isinstance(description, str):
            raise self.fail(f"{where}.description", "must be text")
        window = timedelta(0)
        if item.get("dedupe_window") is not None:
            window = self.duration(item["dedupe_window"], f"{where}.dedupe_window")
        throttle = self.throttle(item["throttle"], f"{where}.throttle") if item.get("throttle") is not None else None
        return Rule(
            name=name,
            pattern=self.pattern(item["pattern"], f"{where}.pattern"),
            targets=self.targets(item["targets"], f"{where}.targets"),
            dedupe_window=window,
            throttle=throttle,
            description=description,
            line=self._line(where) or 0,
        )

    def pattern(self, value: Any, where: str) -> Pattern:
        if not isinstance(value, Mapping | str):
            raise self.fail(where, "an event pattern is a mapping (or a JSON object as text)")
        try:
            return parse_pattern(value)
        except PatternError as exc:
            raise self.fail(where, str(exc), pattern_error=exc) from None

    def targets(self, value: Any, where: str) -> tuple[Target, ...]:
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not value:
            raise self.fail(where, "a non-empty list of target names or {playbook: NAME, execute: false}")
        found: list[Target] = []
        for index, item in enumerate(value):
            at = f"{where}[{index}]"
            target = self.target(item, at)
            if target in found:
                raise self.fail(at, f"{_label(target)} is listed twice")
            found.append(target)
        return tuple(found)

    def target(self, item: Any, where: str) -> Target:
        if isinstance(item, str):
            if not _NAME.match(item):
                raise self.fail(where, f"{item!r} is not a target name")
            return item
        if not isinstance(item, Mapping):
            raise self.fail(where, "a target is a name or {playbook: NAME, execute: false}")
        unknown = sorted(str(k) for k in item if k not in _PLAYBOOK_KEYS)
        if unknown:
            raise self.fail(f"{where}.{unknown[0]}", f"unknown field {unknown[0]!r} (a playbook target has "
                                                     "playbook and execute)")
        name = item.get("playbook")
        if not isinstance(name, str) or not name:
            raise self.fail(f"{where}.playbook", "field required: the playbook's name (see `respond list`)")
        execute = item.get("execute", False)
        if not isinstance(execute, bool):
            raise self.fail(f"{where}.execute", "must be true or false")
        if self.check_playbooks:
            self.known_playbook(name, f"{where}.playbook")
        return PlaybookTarget(name, execute)

    def known_playbook(self, name: str, where: str) -> None:
        from cloudwarden.respond.playbooks import load_playbook  # only files naming a playbook pay for respond

        try:
            load_playbook(name)
        except BadInputError as exc:
            raise self.fail(where, exc.why) from None

    def duration(self, value: Any, where: str) -> timedelta:
        try:
            return parse_duration(value, where)
        except BadInputError as exc:
            raise self.fail(where, exc.why) from None

    def throttle(self, value: Any, where: str) -> Throttle:
        limit: Any
        if isinstance(value, bool):
            raise self.fail(where, "a number of messages per hour, or {max: N, per: 1h}")
        if isinstance(value, int):
            limit, period = value, DEFAULT_THROTTLE_PERIOD
        elif isinstance(value, Mapping):
            unknown = sorted(str(k) for k in value if k not in _THROTTLE_KEYS)
            if unknown:
                raise self.fail(f"{where}.{unknown[0]}", f"unknown field {unknown[0]!r} (a throttle has max and per)")
            limit = value.get("max")
            if limit is None:
                raise self.fail(f"{where}.max", "field required")
            period = self.duration(value.get("per", "1h"), f"{where}.per")
            where = f"{where}.max"
        else:
            raise self.fail(where, "a number of messages per hour, or {max: N, per: 1h}")
        if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
            raise self.fail(where, "the most messages per window: a whole number of at least 1")
        if period <= timedelta(0):
            raise self.fail(where.removesuffix(".max") + ".per", "the window must be longer than 0s")
        return Throttle(limit, period)


def _label(target: Target) -> str:
    return f"playbook {target.name!r}" if isinstance(target, PlaybookTarget) else f"target {target!r}"


def rules_from_mapping(data: Mapping[str, Any] | Sequence[Mapping[str, Any]], *, source: str = "rules",
                       targets: Collection[str] | None = None, check_playbooks: bool = True) -> RuleSet:
    """Rules given as Python data (``{"rules": [...]}`` or the list itself), validated the same way."""
    document = {"rules": list(data)} if isinstance(data, Sequence) else data
    return parse_rules(yaml.safe_dump(dict(document), sort_keys=False), source=source, targets=targets,
                       check_playbooks=check_playbooks)
