"""Routing: EventBridge event patterns over findings.

``parse_pattern`` validates a pattern with EventBridge's own error messages, ``EventMatcher`` compiles many named
patterns into one machine, ``pattern_matches`` answers one pattern against one event (``route test``), and
``events`` wraps findings as the Security Hub and GuardDuty events users' existing patterns expect.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cloudwarden.route.events import events_for, guardduty_event, securityhub_event
from cloudwarden.route.matcher import EventMatcher
from cloudwarden.route.pattern import Pattern, PatternError, parse_pattern

__all__ = [
    "EventMatcher",
    "Pattern",
    "PatternError",
    "events_for",
    "guardduty_event",
    "parse_pattern",
    "pattern_matches",
    "securityhub_event",
]


def pattern_matches(pattern: Pattern | str | Mapping[str, Any], event: Mapping[str, Any] | str | bytes) -> bool:
    """Whether one pattern matches one event (JSON text or a decoded object), through the compiled machine."""
    matcher = EventMatcher([("pattern", pattern)])
    found = matcher.match_json(event) if isinstance(event, str | bytes) else matcher.match(event)
    return bool(found)
