"""Multi-hop search over the principal graph: the shortest escalation path from each principal to an
administrator (or to one named principal).

Breadth-first over states ``(current principal, pending)``. ``pending`` is a principal the path has already made an
administrator (an *empower* hop) but not yet become; reaching it completes the path. Only one empower hop is taken
per path (a second one would never make a path shorter: the first already grants everything). A path is complete
when the current principal is an administrator, or is the pending one. Shortest is counted in hops.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any

from cloudwarden.core.errors import BadInputError
from cloudwarden.iam.paths.catalog import load_techniques
from cloudwarden.iam.paths.environment import EscalationModel
from cloudwarden.iam.paths.graph import Graph, Hop, build_graph

__all__ = ["ADMIN", "Path", "find_paths"]

ADMIN = "admin"
_State = tuple[str, str | None]


@dataclass(frozen=True, slots=True)
class Path:
    """An escalation path: ``source`` acts through ``hops`` and ends as (or having made) ``reached``, an
    administrator when ``target`` is ``"admin"``, else the principal asked for."""

    source: str
    target: str
    reached: str
    hops: tuple[Hop, ...]

    @property
    def techniques(self) -> tuple[str, ...]:
        """Technique ids used, in order, including the two-hop techniques (``iam-014`` ...) the hops form."""
        out: list[str] = []
        for hop in self.hops:
            out.extend(hop.techniques)
        combos = [t for t in load_techniques() if t.kind == "combined"]
        for first, second in zip(self.hops, self.hops[1:], strict=False):
            if first.target != second.target:
                continue
            for combo in combos:
                a, b = combo.combines[0], combo.combines[-1]
                if a in first.techniques and b in second.techniques:
                    out.append(combo.id)
        return tuple(dict.fromkeys(out))

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source, "target": self.target, "reached": self.reached,
            "techniques": list(self.techniques), "hops": [h.to_json() for h in self.hops],
        }

    def describe(self) -> list[str]:
        head = f"{self.source} -> {self.target if self.target != ADMIN else 'admin'} " \
               f"({len(self.hops)} hop{'s' if len(self.hops) != 1 else ''}, ends as {self.reached})"
        return [head, *(f"  {i}. {hop.describe()}" for i, hop in enumerate(self.hops, start=1))]


def find_paths(model: EscalationModel, *, to: str = ADMIN, source: str | None = None,
               graph: Graph | None = None) -> list[Path]:
    """The shortest path from each principal (or only ``source``) to ``to``: ``"admin"`` (administrators are not
    sources then) or a principal ARN. Principals with no path are left out. Raises BadInputError for an unknown
    ``source`` or ``to`` principal."""
    g = graph or build_graph(model)
    goal: str = ADMIN
    if to != ADMIN:
        found = model.access.principal(to)
        if found is None or found.arn not in g.principals:
            raise BadInputError("--to", f"{to!r} is neither 'admin' nor a principal of the snapshot")
        goal = found.arn
    if source is not None:
        start = model.access.principal(source)
        if start is None or start.arn not in g.principals:
            raise BadInputError("--from", f"{source!r} is not a user or role of the snapshot")
        sources = [start.arn]
    else:
        sources = list(g.principals)
    out: list[Path] = []
    for s in sources:
        if goal == ADMIN and s in g.admins:
            continue
        if goal == s:
            continue
        path = _bfs(g, s, goal)
        if path is not None:
            out.append(path)
    return out


def _bfs(g: Graph, source: str, goal: str) -> Path | None:
    start: _State = (source, None)
    parent: dict[_State, tuple[_State, Hop] | None] = {start: None}
    queue: deque[_State] = deque([start])
    while queue:
        state = queue.popleft()
        node, pending = state
        if (goal == ADMIN and (node in g.admins or node == pending)) or node == goal:
            return Path(source=source, target=goal, reached=node, hops=_unwind(parent, state))
        steps: list[tuple[_State, Hop]] = [((hop.target, pending), hop) for hop in g.become.get(node, ())]
        if goal == ADMIN and pending is None:
            steps += [((node, hop.target), hop) for hop in g.empower.get(node, ())]
        for nxt, hop in steps:
            if nxt not in parent:
                parent[nxt] = (state, hop)
                queue.append(nxt)
    return None


def _unwind(parent: dict[_State, tuple[_State, Hop] | None], state: _State) -> tuple[Hop, ...]:
    hops: list[Hop] = []
    link = parent[state]
    while link is not None:
        previous, hop = link
        hops.append(hop)
        link = parent[previous]
    return tuple(reversed(hops))
