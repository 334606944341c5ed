"""The playbook registry: every ``<name>.asl.json`` in this folder is a playbook, validated when loaded.

A playbook is an Amazon States Language definition whose Task resources name our actions
(``cloudwarden:iam.deactivate-access-key``); adding one is one file here (and one test). A path to a
``.json`` file outside the package is loaded the same way, so teams can keep their own playbooks.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Final

from cloudwarden.core.errors import BadInputError
from cloudwarden.respond.actions import resources as action_resources
from cloudwarden.respond.asl import validate

SUFFIX: Final = ".asl.json"


@dataclass(frozen=True)
class Playbook:
    name: str
    definition: dict[str, Any]
    source: str

    @property
    def comment(self) -> str:
        return str(self.definition.get("Comment", ""))


def playbook_names() -> list[str]:
    """The shipped playbooks, sorted."""
    folder = resources.files(__name__)
    return sorted(item.name.removesuffix(SUFFIX) for item in folder.iterdir() if item.name.endswith(SUFFIX))


def load_playbook(name: str) -> Playbook:
    """A shipped playbook by name, or a playbook file by path; validated, else :class:`BadInputError`."""
    if name.endswith(".json") and Path(name).is_file():
        source = name
        text = Path(name).read_text(encoding="utf-8")
        label = Path(name).name.removesuffix(SUFFIX).removesuffix(".json")
    elif name in playbook_names():
        source = f"{name}{SUFFIX}"
        text = (resources.files(__name__) / source).read_text(encoding="utf-8")
        label = name
    else:
        raise BadInputError("PLAYBOOK", f"no playbook {name!r}; shipped: {', '.join(playbook_names())} "
                                        "(or give a path to a .asl.json file)")
    try:
        definition = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadInputError(f"{source}:{exc.lineno}", f"invalid JSON: {exc.msg} (column {exc.colno})") from None
    problems = validate(definition, known_resources=action_resources())
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise BadInputError(f"{source}#{problems[0].split(':', 1)[0]}", problems[0].split(": ", 1)[-1] + more)
    return Playbook(label, definition, source)


def task_resources(definition: dict[str, Any]) -> list[str]:
    """Every Task resource a definition names, in document order."""
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("Type") == "Task" and isinstance(node.get("Resource"), str):
                found.append(node["Resource"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(definition)
    return list(dict.fromkeys(found))
