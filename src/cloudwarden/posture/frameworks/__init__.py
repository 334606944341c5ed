"""Framework mappings as data: which controls decide each CIS / FSBP requirement.

Each ``<framework>.yaml`` maps requirement ids to control ids (one id space, Security Hub's, plus our own
``CW.*`` ids where Security Hub has none). Keeping the mappings out of the checks lets one control serve
several frameworks, and lets the metadata lint test compare them with the published lists.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import yaml

from cloudwarden.core.errors import BadInputError

FRAMEWORKS: tuple[str, ...] = ("cis-aws-5.0", "cis-aws-3.0", "fsbp")
ALL = "all"


@dataclass(frozen=True)
class Requirement:
    id: str
    title: str
    automated: bool
    controls: tuple[str, ...]


@dataclass(frozen=True)
class Framework:
    name: str
    title: str
    requirements: tuple[Requirement, ...]

    def control_ids(self) -> set[str]:
        return {c for r in self.requirements for c in r.controls}


def _parse(name: str, data: Any) -> Framework:
    where = f"posture/frameworks/{name}.yaml"
    if not isinstance(data, dict) or data.get("framework") != name or not isinstance(data.get("requirements"), dict):
        raise BadInputError(where, "expected 'framework', 'title' and a 'requirements' mapping")
    requirements = []
    for rid, body in data["requirements"].items():
        if not isinstance(body, dict) or not isinstance(body.get("controls"), list) or not body["controls"]:
            raise BadInputError(f"{where}: requirements.{rid}", "needs a non-empty 'controls' list")
        requirements.append(Requirement(str(rid), str(body.get("title", "")), bool(body.get("automated", True)),
                                        tuple(str(c) for c in body["controls"])))
    return Framework(name, str(data.get("title", name)), tuple(requirements))


@cache
def load(name: str) -> Framework:
    """A framework's mapping; an unknown name is a usage error naming the known ones."""
    if name not in FRAMEWORKS:
        raise BadInputError("--framework", f"unknown framework {name!r} (one of {', '.join(FRAMEWORKS)}, {ALL})")
    text = resources.files(__name__).joinpath(f"{name}.yaml").read_text(encoding="utf-8")
    # libyaml's loader when PyYAML was built with it: the pure-Python one takes ~0.1 s for the three files.
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return _parse(name, yaml.load(text, Loader=loader))


@cache
def by_control() -> dict[str, dict[str, list[str]]]:
    """control id -> {framework: [requirement ids]} over every framework."""
    out: dict[str, dict[str, list[str]]] = defaultdict(dict)
    for name in FRAMEWORKS:
        for requirement in load(name).requirements:
            for control_id in requirement.controls:
                out[control_id].setdefault(name, []).append(requirement.id)
    return dict(out)


def frameworks_of(control_id: str) -> dict[str, list[str]]:
    return {k: list(v) for k, v in by_control().get(control_id, {}).items()}


def selected(framework: str) -> tuple[str, ...]:
    """The framework names ``--framework`` selects."""
    if framework == ALL:
        return FRAMEWORKS
    load(framework)
    return (framework,)
