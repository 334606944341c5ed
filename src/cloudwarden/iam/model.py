"""The compiled, immutable policy model the evaluator runs on.

``iam/parse.py`` turns policy JSON into these objects once; ``iam/evaluate.py`` only reads them. Everything a
request would otherwise recompute is done here at compile time: actions are lower-cased and split into an exact
set plus one compiled pattern, statements are indexed by service prefix, ARN globs are compiled to regexes
(cached process-wide, keyed by the pattern text), and condition values are typed (``iam/conditions.py``).

Globs are translated to ``re`` by hand rather than with ``fnmatch``: IAM knows only ``*`` and ``?`` (``fnmatch``
would also treat ``[...]`` as a character class, which IAM does not), actions match case-insensitively while ARNs
match case-sensitively, and in a ``Resource`` ARN a ``*`` stays inside its colon-delimited segment unless it is the
last character of the segment ("IAM JSON policy elements: Resource → Using wildcards in resource ARNs").
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Literal

from cloudwarden.iam.variables import Template, Wildcard

if TYPE_CHECKING:
    from cloudwarden.iam.conditions import Condition

__all__ = [
    "POLICY_TYPES",
    "ActionMatcher",
    "ContextValue",
    "Policy",
    "PolicyType",
    "PrincipalMatcher",
    "ResourceMatcher",
    "Statement",
    "action_glob",
    "arn_glob",
    "runs_to_arn_regex",
    "statements_for_action",
]

PolicyType = Literal["rcp", "scp", "resource", "identity", "permissions_boundary", "session_policy"]
POLICY_TYPES: tuple[PolicyType, ...] = ("rcp", "scp", "resource", "identity", "permissions_boundary", "session_policy")

ContextValue = str | tuple[str, ...]
"""A request-context value: one string, or a tuple for a multivalued key."""


# --- globs ----------------------------------------------------------------------------------------------------------
@lru_cache(maxsize=65536)
def action_glob(pattern: str) -> re.Pattern[str]:
    """``s3:Get*`` -> a case-insensitive regex over the whole action name."""
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(body, re.IGNORECASE | re.DOTALL)


def runs_to_arn_regex(runs: Sequence[tuple[str, bool]]) -> str:
    """Regex text for an ARN glob given as ``(text, is_wildcard)`` runs (literal runs may contain ``*``/``?``)."""
    out: list[str] = []
    flat: list[tuple[str, bool]] = [(c, wild) for text, wild in runs for c in text]
    for i, (c, wild) in enumerate(flat):
        if not wild:
            out.append(re.escape(c))
        elif c == "?":
            out.append("[^:]")
        else:
            last_of_segment = i + 1 == len(flat) or (flat[i + 1][0] == ":" and not flat[i + 1][1])
            out.append(".*" if last_of_segment else "[^:]*")
    return "".join(out)


@lru_cache(maxsize=65536)
def _compiled_arn(regex: str) -> re.Pattern[str]:
    return re.compile(regex, re.DOTALL)


def arn_glob(runs: tuple[tuple[str, bool], ...]) -> re.Pattern[str]:
    """Compiled, cached, case-sensitive ARN glob for ``runs``."""
    return _compiled_arn(runs_to_arn_regex(runs))


# --- matchers -------------------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ActionMatcher:
    """``Action``/``NotAction`` values. ``services`` is None when a pattern's service part has a wildcard."""

    patterns: tuple[str, ...]
    exact: frozenset[str]  # lower-cased literal actions
    regex: re.Pattern[str] | None  # one alternation over the wildcard patterns
    services: frozenset[str] | None
    match_all: bool

    @classmethod
    def build(cls, patterns: Sequence[str]) -> ActionMatcher:
        exact: set[str] = set()
        globs: list[str] = []
        services: set[str] | None = set()
        match_all = False
        for p in patterns:
            low = p.lower()
            if low == "*":
                match_all = True
                services = None
                continue
            prefix = low.split(":", 1)[0]
            if "*" in prefix or "?" in prefix:
                services = None
            elif services is not None:
                services.add(prefix)
            if "*" in low or "?" in low:
                globs.append(action_glob(low).pattern)
            else:
                exact.add(low)
        regex = re.compile("|".join(f"(?:{g})" for g in globs), re.IGNORECASE | re.DOTALL) if globs else None
        return cls(
            patterns=tuple(patterns),
            exact=frozenset(exact),
            regex=regex,
            services=None if services is None else frozenset(services),
            match_all=match_all,
        )

    def matches(self, action_lower: str) -> bool:
        if self.match_all or action_lower in self.exact:
            return True
        return self.regex is not None and self.regex.fullmatch(action_lower) is not None


@dataclass(frozen=True, slots=True)
class ResourceMatcher:
    """``Resource``/``NotResource`` values: variable-free patterns precompiled; the rest resolved per request."""

    templates: tuple[Template, ...]
    match_all: bool
    exact: frozenset[str]
    regex: re.Pattern[str] | None
    dynamic: tuple[Template, ...]

    @classmethod
    def build(cls, templates: Sequence[Template]) -> ResourceMatcher:
        exact: set[str] = set()
        static: list[str] = []
        dynamic: list[Template] = []
        match_all = False
        for t in templates:
            if t.has_variables:
                dynamic.append(t)
            elif t.parts == (Wildcard("*"),):
                match_all = True
            elif not t.has_wildcards:
                exact.add("".join(text for text, _ in t.resolve({})))
            else:
                static.append(runs_to_arn_regex(t.resolve({})))
        regex = re.compile("|".join(f"(?:{s})" for s in static), re.DOTALL) if static else None
        return cls(tuple(templates), match_all, frozenset(exact), regex, tuple(dynamic))

    def matches(self, resource: str, context: Mapping[str, ContextValue]) -> bool:
        """Raises :class:`~cloudwarden.iam.variables.UnresolvedVariable` when a needed variable is absent."""
        if self.match_all or resource in self.exact:
            return True
        if self.regex is not None and self.regex.fullmatch(resource) is not None:
            return True
        return any(arn_glob(t.resolve(context)).fullmatch(resource) is not None for t in self.dynamic)


@dataclass(frozen=True, slots=True)
class PrincipalMatcher:
    """A ``Principal``/``NotPrincipal`` element, split by kind. Partial wildcards are rejected at parse time."""

    everyone: bool = False  # "*" or {"AWS": "*"}
    accounts: frozenset[str] = frozenset()  # "111122223333" or arn:...:iam::111122223333:root
    users: frozenset[tuple[str, str]] = frozenset()  # (account, user name)
    roles: frozenset[tuple[str, str]] = frozenset()  # (account, role name)
    sessions: frozenset[tuple[str, str, str]] = frozenset()  # (account, role name, session name)
    federated_users: frozenset[tuple[str, str]] = frozenset()  # sts federated-user sessions
    services: frozenset[str] = frozenset()
    federated: frozenset[str] = frozenset()
    canonical_users: frozenset[str] = frozenset()
    unmatchable: tuple[str, ...] = ()  # unique ids and other values that name no principal we can represent


# --- statements and policies ----------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Statement:
    """One compiled statement. ``label`` is ``<policy type>[<index>]/<Sid or statement index>``."""

    label: str
    sid: str | None
    index: int
    allow: bool
    actions: ActionMatcher
    not_action: bool
    resources: ResourceMatcher | None  # None: no Resource element (role trust policies)
    not_resource: bool
    principal: PrincipalMatcher | None  # None: no Principal element (identity-side policies)
    not_principal: bool
    conditions: tuple[Condition, ...]


@dataclass(frozen=True, slots=True, eq=False)
class Policy:
    """A compiled policy of one type. ``by_service`` maps a lower-cased service prefix to candidate statements."""

    policy_type: PolicyType
    label: str  # "identity[0]", "scp[1.0]", ...
    version: str | None
    statements: tuple[Statement, ...]
    by_service: Mapping[str, tuple[Statement, ...]] = field(default_factory=dict)
    any_service: tuple[Statement, ...] = ()

    @classmethod
    def build(cls, policy_type: PolicyType, label: str, version: str | None, statements: Sequence[Statement]) -> Policy:
        by_service: dict[str, list[Statement]] = {}
        any_service: list[Statement] = []
        for st in statements:
            if st.not_action or st.actions.services is None:
                any_service.append(st)
            else:
                for svc in st.actions.services:
                    by_service.setdefault(svc, []).append(st)
        return cls(
            policy_type=policy_type,
            label=label,
            version=version,
            statements=tuple(statements),
            by_service={k: tuple(v) for k, v in by_service.items()},
            any_service=tuple(any_service),
        )

    def candidates(self, service: str) -> tuple[Statement, ...]:
        """Statements that could match an action of ``service``, in document order."""
        specific = self.by_service.get(service, ())
        if not self.any_service:
            return specific
        if not specific:
            return self.any_service
        return tuple(sorted((*specific, *self.any_service), key=lambda s: s.index))


_ACTION_CACHE: dict[tuple[tuple[Policy, ...], str], tuple[Statement, ...]] = {}


def statements_for_action(policies: tuple[Policy, ...], action_lower: str) -> tuple[Statement, ...]:
    """The statements of ``policies`` whose Action/NotAction covers ``action_lower``, in document order.

    Depends only on the action, so it is cached per (policies, action): most requests then touch only the few
    statements that can apply. Policies hash by identity (compiled once, shared by every request using them)."""
    key = (policies, action_lower)
    hit = _ACTION_CACHE.get(key)
    if hit is not None:
        return hit
    service = action_lower.split(":", 1)[0]
    found = tuple(
        st for policy in policies for st in policy.candidates(service)
        if st.actions.matches(action_lower) != st.not_action
    )
    if len(_ACTION_CACHE) > 200_000:
        _ACTION_CACHE.clear()
    _ACTION_CACHE[key] = found
    return found
