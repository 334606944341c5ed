"""The escalation technique catalog: ``catalog.yaml`` (shipped in this package) read into typed techniques.

The YAML is our own compact form of the 65 paths of pathfinding.cloud (see ``NOTICE``): for each technique, the
hop it makes (``kind``) and the actions that must be allowed, each on the resource it acts on. The graph builder
(``graph.py``) interprets the kinds; this module only loads and checks the data, so a typo in the YAML is a clear
error naming the entry rather than a silently missing edge.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

import yaml

from cloudwarden.core.errors import BadInputError

__all__ = ["KINDS", "ActionSpec", "Technique", "load_techniques", "techniques_by_id"]

KINDS = frozenset(
    {"assume-role", "create-credentials", "trust-edit", "policy-edit", "pass-role", "existing-compute", "combined"}
)
_EDITS = frozenset({"policy", "user", "role", "group", "membership"})
_REQUIRES = frozenset({"fewer-than-two-keys", "no-login-profile", "login-profile", "instance-profile"})
_WHERE = "cloudwarden/iam/paths/catalog.yaml"


@dataclass(frozen=True, slots=True)
class ActionSpec:
    """An action and what it acts on: ``target``, ``workload``, ``*`` or an ARN template with ``{partition}``,
    ``{region}``, ``{account}`` and ``{probe}`` (a name the actor picks for what it creates)."""

    action: str
    resource: str

    def arn(self, *, partition: str, region: str, account: str, target: str = "", workload: str = "") -> str:
        if self.resource == "target":
            return target
        if self.resource == "workload":
            return workload
        return self.resource.format(partition=partition, region=region, account=account,
                                    probe="cloudwarden-escalation-probe")


@dataclass(frozen=True, slots=True)
class Technique:
    """One escalation technique. ``id`` is the pathfinding.cloud id it is derived from."""

    id: str
    kind: str
    actions: tuple[ActionSpec, ...] = ()
    services: tuple[str, ...] = ()  # pass-role: service principals the passed role must trust
    workload: str | None = None  # existing-compute / pass-role: the kind of existing compute acted on
    edits: str | None = None  # policy-edit: what is edited
    requires: str | None = None  # a precondition on the target
    combines: tuple[str, ...] = ()  # combined: the single-hop techniques, in order

    @property
    def permissions(self) -> tuple[str, ...]:
        return tuple(a.action for a in self.actions)


@lru_cache(maxsize=1)
def load_techniques() -> tuple[Technique, ...]:
    """Every technique of the shipped catalog, checked. Raises BadInputError naming a malformed entry."""
    text = resources.files("cloudwarden.iam.paths").joinpath("catalog.yaml").read_text(encoding="utf-8")
    return parse_techniques(yaml.safe_load(text), _WHERE)


def techniques_by_id() -> dict[str, Technique]:
    return {t.id: t for t in load_techniques()}


def parse_techniques(data: Any, where: str) -> tuple[Technique, ...]:
    if not isinstance(data, dict) or not isinstance(data.get("techniques"), list):
        raise BadInputError(where, "expected a mapping with a 'techniques' list")
    out: list[Technique] = []
    seen: set[str] = set()
    for index, raw in enumerate(data["techniques"]):
        at = f"{where}: techniques[{index}]"
        if not isinstance(raw, dict) or not isinstance(raw.get("id"), str):
            raise BadInputError(at, "each technique is a mapping with an 'id'")
        tid = raw["id"]
        at = f"{where}: {tid}"
        if tid in seen:
            raise BadInputError(at, "duplicate id")
        seen.add(tid)
        kind = raw.get("kind")
        if kind not in KINDS:
            raise BadInputError(at, f"kind {kind!r} is not one of {sorted(KINDS)}")
        actions = tuple(_action(a, at) for a in raw.get("actions") or [])
        edits = raw.get("edits")
        if (kind == "policy-edit") != (edits is not None) or (edits is not None and edits not in _EDITS):
            raise BadInputError(at, f"'edits' ({sorted(_EDITS)}) is required for policy-edit and only there")
        requires = raw.get("requires")
        if requires is not None and requires not in _REQUIRES:
            raise BadInputError(at, f"requires {requires!r} is not one of {sorted(_REQUIRES)}")
        services = tuple(str(s) for s in raw.get("services") or [])
        if (kind == "pass-role") != bool(services):
            raise BadInputError(at, "'services' is required for pass-role and only there")
        workload = raw.get("workload")
        if kind == "existing-compute" and not workload:
            raise BadInputError(at, "existing-compute needs a 'workload' kind")
        uses_workload = any(a.resource == "workload" for a in actions)
        if uses_workload and not workload:
            raise BadInputError(at, "an action acts on 'workload' but no workload kind is given")
        combines = tuple(str(c) for c in raw.get("combines") or [])
        if (kind == "combined") != bool(combines) or (kind == "combined") == bool(actions):
            raise BadInputError(at, "combined techniques list 'combines' and no actions; others list actions")
        out.append(Technique(id=tid, kind=kind, actions=actions, services=services, workload=workload,
                             edits=edits, requires=requires, combines=combines))
    for t in out:
        for part in t.combines:
            if part not in seen:
                raise BadInputError(f"{where}: {t.id}", f"combines unknown technique {part!r}")
    return tuple(out)


def _action(raw: Any, at: str) -> ActionSpec:
    if not isinstance(raw, dict) or not isinstance(raw.get("action"), str) or ":" not in raw["action"]:
        raise BadInputError(at, f"an action entry needs 'action' like iam:PassRole, got {raw!r}")
    resource = raw.get("resource")
    if not isinstance(resource, str) or not resource:
        raise BadInputError(at, f"{raw['action']}: 'resource' is target, workload, '*' or an ARN template")
    return ActionSpec(action=raw["action"], resource=resource)
