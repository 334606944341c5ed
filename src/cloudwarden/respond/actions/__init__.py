"""The registry of response actions: one plain mapping, name -> action, filled from each module's ``ACTIONS``.

A playbook Task names an action as ``cloudwarden:<name>``; adding an action is one class in its module's
``ACTIONS`` tuple (and one test).
"""

from __future__ import annotations

from typing import Final

from cloudwarden.core.errors import BadInputError
from cloudwarden.respond.actions import cloudtrail, collect, ec2, guardduty, iam, kms, network, s3
from cloudwarden.respond.actions.base import (
    EXCLUDE_TAG,
    Action,
    ActionContext,
    Evidence,
    Outcome,
    Plan,
    Principal,
    ResourceKey,
)

RESOURCE_PREFIX: Final = "cloudwarden:"

ACTIONS: Final[dict[str, Action]] = {
    action.name: action
    for action in (*iam.ACTIONS, *collect.ACTIONS, *s3.ACTIONS, *ec2.ACTIONS, *network.ACTIONS, *kms.ACTIONS,
                   *cloudtrail.ACTIONS, *guardduty.ACTIONS)
}


def get_action(name: str) -> Action:
    """The action called ``name`` (``iam.deactivate-access-key``); :class:`BadInputError` names the known ones."""
    found = ACTIONS.get(name.removeprefix(RESOURCE_PREFIX))
    if found is None:
        raise BadInputError("Resource", f"no action {name!r}; known: {', '.join(sorted(ACTIONS))}")
    return found


def resources() -> frozenset[str]:
    """Every Task resource a playbook may name (``cloudwarden:<action>``)."""
    return frozenset(RESOURCE_PREFIX + name for name in ACTIONS)


__all__ = ["ACTIONS", "EXCLUDE_TAG", "RESOURCE_PREFIX", "Action", "ActionContext", "Evidence", "Outcome", "Plan",
           "Principal", "ResourceKey", "get_action", "resources"]
