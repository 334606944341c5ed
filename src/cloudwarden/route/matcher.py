"""The compiled matcher: many event patterns, one machine, matching cost flat in the number of rules.

Event Ruler's idea (the engine behind EventBridge), re-done for Python: every branch of every pattern is a sequence
of clauses in one global field order (the fields most rules test first), and all branches are merged into one trie
whose edges are *(field, value test)*. Rules that share leading clauses (``source = aws.securityhub``,
``detail-type = ...``) share nodes, and each node holds, per field, an index from event values to the next nodes:
hash maps for exact and case-folded values, maps keyed by length for prefixes, suffixes and the literal head (or
tail) of wildcards, interval lists for numeric ranges, maps by mask length for CIDR ranges. Matching an event
flattens only the fields some rule names (a trie of paths guides the walk), then follows the edges the event's
values select, so the work depends on the event and on how many rules it matches, not on how many rules exist.
(Two exceptions: ``anything-but`` edges are taken by every value they do not exclude, and wildcards that neither
start nor end with a literal are tried one by one.)

Speed, since routing sits on the path of every event: a value leads straight to the rules its edges complete and to
the few nodes that still have edges to follow, so nodes that only complete rules are never visited; when a field
has tests other than exact values, the answer for each string or number value is remembered (boundedly), since
finding streams repeat their labels, types and titles; objects that only hold leaves are read without a call, and
a field with one value keeps it in a tuple.

EventBridge details kept: field paths join nested keys with dots in both patterns and events (``{"a.b": 1}`` and
``{"a": {"b": 1}}`` are the same field); an event array matches when any element does; objects inside arrays are
matched element by element, so two fields of a rule must come from the same array element (Event Ruler's
``rulesForJsonEvent``); ``{"exists": false}`` follows an edge when the field has no value.

Hand-written: no maintained Python matcher covers the full pattern grammar, and a loop over rules would not keep the
cost flat. ``pattern.value_matches`` is the reference meaning of each value test; the tests check this machine against
a per-rule evaluation built on it.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Final, Generic, TypeVar

from cloudwarden.route.pattern import (
    AnythingBut,
    Cidr,
    Clause,
    EqualsIgnoreCase,
    Exact,
    Excludable,
    Exists,
    Matcher,
    Numeric,
    Pattern,
    Prefix,
    Scalar,
    Suffix,
    Wildcard,
    ip_value,
    parse_pattern,
)

T = TypeVar("T")
Membership = tuple[tuple[int, int], ...]  # (array id, element index) of each object array a value sits in
Leaves = tuple[Any] | list[Any]  # the values of one field path: one in a tuple, several in a list

_MISSING: Final = object()


# --------------------------------------------------------------------------------------------- value indexes

class _ValueIndex(Generic[T]):
    """Maps one field's event values to the targets whose value tests they pass."""

    __slots__ = (
        "any", "anything_but", "cidr", "exact", "exact_ic", "exact_lit", "excluded", "prefix", "prefix_ic", "ranges",
        "suffix", "suffix_ic", "wildcard", "wildcard_tail",
    )

    def __init__(self) -> None:
        # strings and numbers (never equal to each other); booleans and null apart, since ``True == 1``
        self.exact: dict[str | int | float, list[T]] = {}
        self.exact_lit: dict[bool | None, list[T]] = {}
        self.exact_ic: dict[str, list[T]] = {}
        self.prefix: dict[int, dict[str, list[T]]] = {}
        self.prefix_ic: dict[int, dict[str, list[T]]] = {}
        self.suffix: dict[int, dict[str, list[T]]] = {}
        self.suffix_ic: dict[int, dict[str, list[T]]] = {}
        # wildcards by their literal head, or by their literal tail when they start with ``*``
        self.wildcard: dict[int, dict[str, list[tuple[Wildcard, T]]]] = {}
        self.wildcard_tail: dict[int, dict[str, list[tuple[Wildcard, T]]]] = {}
        self.ranges: dict[tuple[float | None, bool, float | None, bool], list[T]] = {}
        self.cidr: dict[tuple[int, int], dict[int, list[tuple[int, T]]]] = {}
        self.any: list[T] = []
        self.anything_but: list[tuple[int, T]] = []
        self.excluded: _ValueIndex[int] | None = None

    # -- building

    def add(self, matcher: Matcher, target: T) -> None:
        if isinstance(matcher, Exact):
            self._add_exact(matcher.value, target)
        elif isinstance(matcher, EqualsIgnoreCase):
            self.exact_ic.setdefault(matcher.text.lower(), []).append(target)
        elif isinstance(matcher, Prefix):
            table = self.prefix_ic if matcher.ignore_case else self.prefix
            text = matcher.text.lower() if matcher.ignore_case else matcher.text
            table.setdefault(len(text), {}).setdefault(text, []).append(target)
        elif isinstance(matcher, Suffix):
            table = self.suffix_ic if matcher.ignore_case else self.suffix
            text = matcher.text.lower() if matcher.ignore_case else matcher.text
            table.setdefault(len(text), {}).setdefault(text, []).append(target)
        elif isinstance(matcher, Wildcard):
            by_literal, literal = ((self.wildcard_tail, matcher.tail) if not matcher.head
                                   else (self.wildcard, matcher.head))
            by_literal.setdefault(len(literal), {}).setdefault(literal, []).append((matcher, target))
        elif isinstance(matcher, Numeric):
            bounds = (matcher.low, matcher.low_open, matcher.high, matcher.high_open)
            self.ranges.setdefault(bounds, []).append(target)
        elif isinstance(matcher, Cidr):
            self._add_cidr(matcher, target)
        elif isinstance(matcher, AnythingBut):
            self._add_anything_but(matcher.excluded, target)
        elif matcher.present:
            self.any.append(target)
        else:
            raise ValueError("absence is an edge of the node, not a value test")

    def _add_exact(self, value: Scalar, target: T, *, ip_spellings: bool = True) -> None:
        if type(value) is str:
            self.exact.setdefault(value, []).append(target)
            parsed = ip_value(value) if ip_spellings and ":" in value else None
            if parsed is not None:  # an IPv6 literal also matches its other spellings
                version, number = parsed
                self.cidr.setdefault((version, 128), {}).setdefault(number, []).append((number, target))
        elif type(value) is int or type(value) is float:
            self.exact.setdefault(value, []).append(target)
        else:
            self.exact_lit.setdefault(value, []).append(target)  # type: ignore[arg-type]

    def _add_cidr(self, cidr: Cidr, target: T) -> None:
        width = 32 if cidr.version == 4 else 128
        network = cidr.low >> (width - cidr.prefix_len)
        self.cidr.setdefault((cidr.version, cidr.prefix_len), {}).setdefault(network, []).append((cidr.low, target))

    def _add_anything_but(self, excluded: tuple[Excludable, ...], target: T) -> None:
        if self.excluded is None:
            self.excluded = _ValueIndex[int]()
        entry = len(self.anything_but)
        self.anything_but.append((entry, target))
        for inner in excluded:
            if isinstance(inner, Exact):
                self.excluded._add_exact(inner.value, entry, ip_spellings=False)
            else:
                self.excluded.add(inner, entry)

    # -- matching

    @property
    def only_exact(self) -> bool:
        """Whether every test here is an exact string or number (the walker's fast path covers it all)."""
        return not (self.exact_lit or self.exact_ic or self.prefix or self.prefix_ic or self.suffix
                    or self.suffix_ic or self.wildcard or self.wildcard_tail or self.ranges or self.cidr
                    or self.any or self.anything_but)

    def lookup(self, value: Any, out: list[T]) -> None:
        """Append to ``out`` every target whose test ``value`` passes (a target may appear more than once)."""
        if self.exact:
            kind = type(value)
            if kind is str or kind is int or kind is float:
                found = self.exact.get(value)
                if found:
                    out.extend(found)
        self.lookup_other(value, out)

    def lookup_other(self, value: Any, out: list[T]) -> None:
        """:meth:`lookup` without the exact string and number tests."""
        kind = type(value)
        if kind is str:
            self._lookup_str(value, out)
        elif kind is int or kind is float:
            if self.ranges:
                self._lookup_ranges(float(value), out)
        elif self.exact_lit and (kind is bool or value is None):
            found = self.exact_lit.get(value)
            if found:
                out.extend(found)
        if self.any:
            out.extend(self.any)
        if self.anything_but:
            assert self.excluded is not None
            hits: list[int] = []
            self.excluded.lookup(value, hits)
            if hits:
                skip = set(hits)
                out.extend(target for entry, target in self.anything_but if entry not in skip)
            else:
                out.extend(target for _, target in self.anything_but)

    def _lookup_str(self, value: str, out: list[T]) -> None:
        if self.prefix:
            _lookup_affix(self.prefix, value, out, suffix=False)
        if self.suffix:
            _lookup_affix(self.suffix, value, out, suffix=True)
        if self.exact_ic or self.prefix_ic or self.suffix_ic:
            folded = value.lower()
            if self.exact_ic:
                found = self.exact_ic.get(folded)
                if found:
                    out.extend(found)
            if self.prefix_ic:
                _lookup_affix(self.prefix_ic, folded, out, suffix=False)
            if self.suffix_ic:
                _lookup_affix(self.suffix_ic, folded, out, suffix=True)
        if self.wildcard:
            _lookup_wildcards(self.wildcard, value, out, tail=False)
        if self.wildcard_tail:
            _lookup_wildcards(self.wildcard_tail, value, out, tail=True)
        if self.cidr:
            parsed = ip_value(value)
            if parsed is not None:
                self._lookup_cidr(parsed[0], parsed[1], out)

    def _lookup_ranges(self, number: float, out: list[T]) -> None:
        for (low, low_open, high, high_open), targets in self.ranges.items():
            if low is not None and (number < low or (low_open and number == low)):
                continue
            if high is not None and (number > high or (high_open and number == high)):
                continue
            out.extend(targets)

    def _lookup_cidr(self, version: int, number: int, out: list[T]) -> None:
        width = 32 if version == 4 else 128
        for (table_version, prefix_len), networks in self.cidr.items():
            if table_version != version:
                continue
            entries = networks.get(number >> (width - prefix_len))
            if entries:
                out.extend(target for low, target in entries if number >= low)


def _lookup_wildcards(table: dict[int, dict[str, list[tuple[Wildcard, T]]]], value: str, out: list[T], *,
                      tail: bool) -> None:
    size = len(value)
    for length, texts in table.items():
        if length <= size:
            candidates = texts.get(value[size - length:] if tail else value[:length])
            if candidates:
                out.extend(target for wildcard, target in candidates if wildcard.regex.fullmatch(value))


def _lookup_affix(table: dict[int, dict[str, list[T]]], value: str, out: list[T], *, suffix: bool) -> None:
    size = len(value)
    for length, texts in table.items():
        if length <= size:
            found = texts.get(value[size - length:] if suffix else value[:length])
            if found:
                out.extend(found)


# ------------------------------------------------------------------------------------------------- the machine

class _Node:
    """A state: the rules complete here, and per field the edges its values (or its absence) select.

    While building, ``fields`` and ``absent`` are dicts; :meth:`freeze` turns them into the tuples the walker
    reads. The walker never looks at a child that has no edges of its own (a *final* node): a value leads to a
    :data:`_Hit`, the rules its final children complete plus its *inner* children, the only ones to visit.
    ``plan`` holds ``(path, table, index)`` per field: when every test of the field is an exact string or number,
    ``index`` is ``None`` and ``table`` maps those values to their hits; otherwise ``table`` remembers the hits of
    the string and number values seen so far (at most :data:`_REMEMBERED` of them) and ``index`` answers the rest.
    ``absent_plan`` holds the hit of each field's absence.
    """

    __slots__ = ("absent", "absent_plan", "children", "fields", "inner", "plan", "rules")

    def __init__(self) -> None:
        self.rules: tuple[int, ...] = ()
        self.fields: dict[str, _ValueIndex[_Node]] = {}
        self.absent: dict[str, list[_Node]] = {}
        self.children: dict[tuple[str, frozenset[Any]], _Node] = {}
        self.inner = False
        self.plan: tuple[tuple[str, dict[str | int | float, _Hit], _ValueIndex[_Node] | None], ...] = ()
        self.absent_plan: tuple[tuple[str, _Hit], ...] = ()

    def freeze(self) -> None:
        for child in self.children.values():
            child.freeze()
        self.inner = bool(self.fields or self.absent)
        self.plan = tuple(
            (path, {value: _hit(targets) for value, targets in index.exact.items()}, None) if index.only_exact
            else (path, {}, index)
            for path, index in self.fields.items()
        )
        self.absent_plan = tuple((path, _hit(children)) for path, children in self.absent.items())


_Hit = tuple[tuple[int, ...], tuple[_Node, ...]]
# Distinct values whose hits one field of one node remembers; a full table starts again (bounded memory).
_REMEMBERED: Final = 2048


def _hit(targets: list[_Node]) -> _Hit:
    """The rules completed by the final nodes among ``targets``, and the inner nodes (each once)."""
    rules: list[int] = []
    inner: dict[_Node, None] = {}
    for target in targets:
        if target.inner:
            inner[target] = None
        else:
            rules.extend(target.rules)
    return tuple(rules), tuple(inner)


def _resolve(index: _ValueIndex[_Node], value: Any) -> _Hit:
    found: list[_Node] = []
    index.lookup(value, found)
    return _hit(found)


def _remember(table: dict[str | int | float, _Hit], index: _ValueIndex[_Node], value: str | int | float) -> _Hit:
    """The hit of a string or number ``value``, kept in ``table``: the same answer for the same value, always.

    Keys compare as Python values: ``1`` and ``1.0`` share an entry, which is right since every test treats them
    alike; booleans and ``null`` are never remembered (``True == 1``).
    """
    if len(table) >= _REMEMBERED:
        table.clear()
    hit = table[value] = _resolve(index, value)
    return hit


class _PathNode:
    """A node of the trie of field paths that guides flattening.

    ``children`` are keyed by one path segment; ``joined`` by several joined with dots, for events whose keys
    hold dots themselves (``{"state.status": ...}``); ``keys`` is both together. :meth:`freeze` fills in what the
    flattening loop reads: ``items`` (the one-segment children as pairs), ``width`` (their number), ``leaf``
    (this node's path when some rule names it, else ``None``) and, when every child is a leaf with nothing below
    it, ``shallow``: ``(key, path, child)`` per child, so that such an object is read in its parent's loop.
    """

    __slots__ = ("children", "items", "joined", "keys", "leaf", "path", "shallow", "width")

    def __init__(self, path: str) -> None:
        self.path = path
        self.leaf: str | None = None
        self.children: dict[str, _PathNode] = {}
        self.joined: dict[str, _PathNode] = {}
        self.keys: dict[str, _PathNode] = {}
        self.items: tuple[tuple[str, _PathNode], ...] = ()
        self.width = 0
        self.shallow: tuple[tuple[str, str, _PathNode], ...] = ()

    def freeze(self) -> None:
        self.keys = {**self.joined, **self.children}
        self.items = tuple(self.children.items())
        self.width = len(self.items)
        if not self.joined and all(child.leaf is not None and not child.children for _, child in self.items):
            self.shallow = tuple((key, child.leaf, child) for key, child in self.items if child.leaf is not None)


def _clause_key(clause: Clause) -> tuple[str, frozenset[Any]]:
    """Identity of a clause for sharing nodes; exact values keep their JSON type (``1`` is not ``true``)."""
    keys: set[Any] = set()
    for matcher in clause.matchers:
        if isinstance(matcher, Exact):
            value = matcher.value
            tag = "n" if type(value) in (int, float) else type(value).__name__
            keys.add(("exact", tag, value))
        else:
            keys.add(matcher)
    return clause.path, frozenset(keys)


class EventMatcher:
    """Named event patterns compiled into one machine.

    ``add`` and ``remove`` are cheap; the machine is (re)built on the first ``match`` after a change, so load all
    rules, then match many events. Matching changes nothing but the remembered answers (one dict entry set, or a
    table cleared, at a time, each entry right for good), so one matcher may serve many threads.
    """

    def __init__(self, rules: Iterable[tuple[str, Pattern | str | Mapping[str, Any]]] = ()) -> None:
        self._patterns: dict[str, Pattern] = {}
        self._root: _Node | None = None
        self._paths: _PathNode = _PathNode("")
        self._names: list[str] = []
        for name, pattern in rules:
            self.add(name, pattern)

    def add(self, name: str, pattern: Pattern | str | Mapping[str, Any]) -> None:
        """Add (or replace) rule ``name``; a pattern given as text or mapping is parsed (``PatternError``)."""
        self._patterns[name] = pattern if isinstance(pattern, Pattern) else parse_pattern(pattern)
        self._root = None

    def remove(self, name: str) -> None:
        if self._patterns.pop(name, None) is not None:
            self._root = None

    def __len__(self) -> int:
        return len(self._patterns)

    def __contains__(self, name: object) -> bool:
        return name in self._patterns

    def __iter__(self) -> Iterator[str]:
        return iter(self._patterns)

    def pattern(self, name: str) -> Pattern:
        return self._patterns[name]

    # -- compiling

    def _compile(self) -> _Node:
        root = _Node()
        nodes: dict[str, _PathNode] = {"": _PathNode("")}
        names = list(self._patterns)
        # Clauses on the fields most rules test come first, so rules share the longest chains of nodes.
        frequency = Counter(clause.path for pattern in self._patterns.values() for branch in pattern.branches
                            for clause in branch)
        for number, name in enumerate(names):
            for branch in self._patterns[name].branches:
                node = root
                for clause in sorted(branch, key=lambda clause: (-frequency[clause.path], clause.path)):
                    node = _edge(node, clause)
                    _add_path(nodes, clause.path)
                node.rules = (*node.rules, number)
        root.freeze()
        for path_node in nodes.values():
            path_node.freeze()
        self._paths = nodes[""]
        self._names = names
        self._root = root
        return root

    # -- matching

    def match(self, event: Mapping[str, Any]) -> list[str]:
        """Names of the rules whose pattern matches ``event`` (decoded JSON: dicts, lists, scalars), in the order
        the rules were added."""
        root = self._root if self._root is not None else self._compile()
        document: dict[str, Any] = event if type(event) is dict else _plain(event)
        values: dict[str, Leaves] = {}
        members: dict[str, dict[int, Membership]] = {}
        _flatten(document, self._paths, values, members, (), [0])
        matched: set[int] = set()
        if members:
            _walk_with_arrays(root, values, members, matched)
        else:
            _walk(root, values, matched)
        if not matched:
            return []
        return list(map(self._names.__getitem__, sorted(matched)))

    def match_json(self, text: str | bytes) -> list[str]:
        """Like :meth:`match` for JSON text; a duplicated key contributes both values, as in EventBridge."""
        return self.match(_decode_event(text))


def _edge(node: _Node, clause: Clause) -> _Node:
    key = _clause_key(clause)
    child = node.children.get(key)
    if child is not None:
        return child
    child = node.children[key] = _Node()
    if clause.value_matchers or clause.wants_present:
        index = node.fields.get(clause.path)
        if index is None:
            index = node.fields[clause.path] = _ValueIndex()
        for matcher in clause.matchers:
            if not (isinstance(matcher, Exists) and not matcher.present):
                index.add(matcher, child)
    if clause.allows_absent:
        node.absent.setdefault(clause.path, []).append(child)
    return child


def _walk(root: _Node, values: dict[str, Leaves], matched: set[int]) -> None:
    """Follow every edge the event's values select (no object arrays to keep apart).

    The machine is a tree and each node is reached from its parent only, through one field: a node can come up
    twice only when that field has several values, so only then does ``seen`` have to be consulted.
    """
    stack = [root]
    seen: set[_Node] = set()
    complete = matched.update
    while stack:
        node = stack.pop()
        if node.rules:
            complete(node.rules)
        for path, table, index in node.plan:
            leaves = values.get(path)
            if leaves is None:
                continue
            several = len(leaves) > 1
            for value in leaves:
                kind = type(value)
                if kind is str or kind is int or kind is float:
                    hit = table.get(value)
                    if hit is None:
                        if index is None:
                            continue
                        hit = _remember(table, index, value)
                elif index is None:
                    continue
                else:
                    hit = _resolve(index, value)
                rules, inner = hit
                if rules:
                    complete(rules)
                if inner:
                    if several:
                        for child in inner:
                            if child not in seen:
                                seen.add(child)
                                stack.append(child)
                    else:
                        stack.extend(inner)
        for path, (rules, inner) in node.absent_plan:
            if path not in values:
                if rules:
                    complete(rules)
                stack.extend(inner)


def _walk_with_arrays(root: _Node, values: dict[str, Leaves], members: dict[str, dict[int, Membership]],
                      matched: set[int]) -> None:
    """:func:`_walk` carrying, along each path, which element of each object array its values came from."""
    start: tuple[_Node, Membership] = (root, ())
    stack = [start]
    seen = {start}
    complete = matched.update
    while stack:
        node, membership = stack.pop()
        if node.rules:
            complete(node.rules)
        for path, table, index in node.plan:
            leaves = values.get(path)
            if leaves is None:
                continue
            positions = members.get(path)
            for position, value in enumerate(leaves):
                kind = type(value)
                if kind is str or kind is int or kind is float:
                    hit = table.get(value)
                    if hit is None:
                        if index is None:
                            continue
                        hit = _remember(table, index, value)
                elif index is None:
                    continue
                else:
                    hit = _resolve(index, value)
                rules, inner = hit
                if not (rules or inner):
                    continue
                merged = _merge(membership, positions.get(position, ())) if positions else membership
                if merged is None:
                    continue
                if rules:
                    complete(rules)
                for child in inner:
                    item = (child, merged)
                    if item not in seen:
                        seen.add(item)
                        stack.append(item)
        for path, (rules, inner) in node.absent_plan:
            if path not in values:
                if rules:
                    complete(rules)
                for child in inner:
                    item = (child, membership)
                    if item not in seen:
                        seen.add(item)
                        stack.append(item)


def _merge(left: Membership, right: Membership) -> Membership | None:
    """Both memberships together, or ``None`` when they name different elements of one array."""
    if not right or left == right:
        return left
    if not left:
        return right
    combined = dict(left)
    for array, element in right:
        current = combined.setdefault(array, element)
        if current != element:
            return None
    return tuple(sorted(combined.items()))


def _add_path(nodes: dict[str, _PathNode], path: str) -> None:
    """Register a field path: every way of splitting it into event keys leads to the same trie node."""
    segments = path.split(".")
    prefixes = [".".join(segments[:end]) for end in range(len(segments) + 1)]
    for end, prefix in enumerate(prefixes):
        if prefix not in nodes:
            nodes[prefix] = _PathNode(prefix)
        for start in range(end):
            key = ".".join(segments[start:end])
            parent = nodes[prefixes[start]]
            (parent.children if end - start == 1 else parent.joined).setdefault(key, nodes[prefix])
    nodes[path].leaf = path


def _flatten(obj: dict[str, Any], node: _PathNode, values: dict[str, Leaves],
             members: dict[str, dict[int, Membership]], membership: Membership, arrays: list[int]) -> None:
    """Collect the leaf values of ``obj`` at the paths under ``node``; ``arrays`` numbers object arrays.

    Walks whichever side is smaller: the object's keys (looked up among all the node's keys), or the node's
    one-segment keys (looked up in the object) plus, when some key of the object is one of its joined keys, those.
    The leaf-append steps of :func:`_collect` are repeated inline here on purpose: this is the per-event hot path
    and a call per value costs more than the rest of the step (measured with ``bench/route_throughput.py``).
    """
    if len(obj) <= node.width:
        keys = node.keys
        for key, value in obj.items():
            child = keys.get(key)
            if child is not None:
                _collect(value, child, values, members, membership, arrays)
        return
    for key, child in node.items:
        value = obj.get(key, _MISSING)
        if value is _MISSING:
            continue
        kind = type(value)
        while kind is list and len(value) == 1:  # one element: nothing to keep apart
            value = value[0]
            kind = type(value)
        if kind is dict:
            if child.shallow:  # an object of leaves (``Severity.Label``): read here, without a call
                for inner_key, leaf_path, grandchild in child.shallow:
                    inner = value.get(inner_key, _MISSING)
                    if inner is _MISSING:
                        continue
                    if type(inner) is dict or type(inner) is list:
                        _collect(inner, grandchild, values, members, membership, arrays)
                        continue
                    leaves = values.get(leaf_path)
                    if leaves is None:
                        leaves = values[leaf_path] = (inner,)
                    elif type(leaves) is list:
                        leaves.append(inner)
                    else:
                        leaves = values[leaf_path] = [*leaves, inner]
                    if membership:
                        members.setdefault(leaf_path, {})[len(leaves) - 1] = membership
            elif child.keys:
                _flatten(value, child, values, members, membership, arrays)
        elif kind is list:
            _collect_list(value, child, values, members, membership, arrays)
        else:
            path = child.leaf
            if path is not None:
                leaves = values.get(path)
                if leaves is None:  # one value (the common case) in a tuple, several in a list
                    leaves = values[path] = (value,)
                elif type(leaves) is list:
                    leaves.append(value)
                else:
                    leaves = values[path] = [*leaves, value]
                if membership:
                    members.setdefault(path, {})[len(leaves) - 1] = membership
    if node.joined and not node.joined.keys().isdisjoint(obj.keys()):  # compared in C
        for key, child in node.joined.items():
            value = obj.get(key, _MISSING)
            if value is not _MISSING:
                _collect(value, child, values, members, membership, arrays)


def _collect(value: Any, node: _PathNode, values: dict[str, Leaves],
             members: dict[str, dict[int, Membership]], membership: Membership, arrays: list[int]) -> None:
    kind = type(value)
    while kind is list and len(value) == 1:  # one element: nothing to keep apart
        value = value[0]
        kind = type(value)
    if kind is dict:
        if node.keys:
            _flatten(value, node, values, members, membership, arrays)
    elif kind is list:
        _collect_list(value, node, values, members, membership, arrays)
    else:
        path = node.leaf
        if path is not None:
            leaves = values.get(path)
            if leaves is None:  # one value (the common case) in a tuple, several in a list
                leaves = values[path] = (value,)
            elif type(leaves) is list:
                leaves.append(value)
            else:
                leaves = values[path] = [*leaves, value]
            if membership:
                members.setdefault(path, {})[len(leaves) - 1] = membership


def _collect_list(items: list[Any], node: _PathNode, values: dict[str, Leaves],
                  members: dict[str, dict[int, Membership]], membership: Membership, arrays: list[int]) -> None:
    if len(items) == 1:  # one element: nothing to keep apart
        _collect(items[0], node, values, members, membership, arrays)
        return
    array = -1
    for position, item in enumerate(items):
        if type(item) is dict:
            if not node.keys:
                continue
            if array < 0:
                array = arrays[0]
                arrays[0] += 1
            _flatten(item, node, values, members, (*membership, (array, position)), arrays)
        else:
            _collect(item, node, values, members, membership, arrays)


def _plain(value: Any) -> Any:
    """Decoded JSON with any mapping as a ``dict`` and any sequence (not a string) as a ``list``."""
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


def _event_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A decoded event object; a duplicated key's values are folded into one list."""
    out: dict[str, Any] = {}
    repeated: set[str] = set()
    for key, value in pairs:
        if key in out:
            if key not in repeated:
                out[key] = [out[key]]
                repeated.add(key)
            out[key].append(value)
        else:
            out[key] = value
    return out


def _decode_event(text: str | bytes) -> dict[str, Any]:
    document = json.loads(text, object_pairs_hook=_event_pairs)
    if not isinstance(document, dict):
        raise ValueError("an event is a JSON object")
    return document
