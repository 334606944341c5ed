"""Privilege-escalation paths: the principal graph (who can become whom, who can make whom an administrator),
built from the techniques of ``catalog.yaml`` and decided through the full evaluator, and a multi-hop search.

Public surface::

    model = model_from_store(store) / model_from_documents(docs, workloads=[...])   # EscalationModel
    graph = build_graph(model)                                                      # Graph (edges, admins)
    find_paths(model, *, to="admin", source=None, graph=None) -> list[Path]         # shortest path per source
    path_findings(paths) -> list[Finding]                                           # one HIGH finding per path
    load_techniques() -> tuple[Technique, ...]

"Administrator" is defined in ``graph.py``. Importing this package reads nothing; the catalog loads on first use.
"""

from __future__ import annotations

from cloudwarden.iam.paths.catalog import Technique, load_techniques
from cloudwarden.iam.paths.environment import (
    EscalationModel,
    Group,
    Workload,
    model_from_documents,
    model_from_store,
)
from cloudwarden.iam.paths.findings import path_findings
from cloudwarden.iam.paths.graph import Graph, Hop, build_graph, is_admin
from cloudwarden.iam.paths.search import ADMIN, Path, find_paths

__all__ = [
    "ADMIN",
    "EscalationModel",
    "Graph",
    "Group",
    "Hop",
    "Path",
    "Technique",
    "Workload",
    "build_graph",
    "find_paths",
    "is_admin",
    "load_techniques",
    "model_from_documents",
    "model_from_store",
    "path_findings",
]
