"""Definitions against the vendored ASL JSON schemas (asl-validator 4.0.0) and the structural checks."""

from __future__ import annotations

import copy
import json
from importlib import resources
from typing import Any

import pytest

from cloudwarden.core.errors import BadInputError
from cloudwarden.respond.actions import resources as action_resources
from cloudwarden.respond.asl import validate
from cloudwarden.respond.asl.validate import SCHEMA_FILES
from cloudwarden.respond.playbooks import load_playbook, playbook_names

VALID: dict[str, Any] = {
    "StartAt": "Choose",
    "States": {
        "Choose": {"Type": "Choice", "Choices": [{"Variable": "$.n", "NumericGreaterThan": 1, "Next": "Work"}],
                   "Default": "Done"},
        "Work": {"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:123456789012:function:f",
                 "Parameters": {"x.$": "States.Format('{}', $.n)"}, "ResultPath": "$.r", "Next": "Done",
                 "Retry": [{"ErrorEquals": ["States.ALL"], "MaxAttempts": 2}]},
        "Done": {"Type": "Succeed"},
    },
}


def test_every_schema_file_and_its_licence_are_shipped() -> None:
    folder = resources.files("cloudwarden.respond.asl") / "schemas"
    for name in SCHEMA_FILES:
        assert json.loads((folder / f"{name}.json").read_text())["$id"].startswith("http://asl-validator.cloud/")
    assert "Apache License" in (folder / "LICENSE").read_text()
    assert "Christophe Bougère" in (folder / "NOTICE").read_text()


def test_a_valid_definition_has_no_problems() -> None:
    assert validate(VALID) == []


@pytest.mark.parametrize("name", playbook_names())
def test_every_shipped_playbook_validates(name: str) -> None:
    playbook = load_playbook(name)
    assert validate(playbook.definition, known_resources=action_resources()) == []


def test_the_compromised_credentials_playbook_is_shipped() -> None:
    assert "compromised-iam-credentials" in playbook_names()


def broken(change: Any) -> dict[str, Any]:
    definition = copy.deepcopy(VALID)
    change(definition)
    return definition


@pytest.mark.parametrize(("definition", "fragment"), [
    (broken(lambda d: d["States"]["Work"].update(Type="Sleep")), "/States/Work"),
    (broken(lambda d: d["States"]["Work"].update(Unknown=1)), "/States/Work"),
    (broken(lambda d: d["States"]["Work"].update(ResultPath="$.a[*]")), "/States/Work"),
    (broken(lambda d: d["States"]["Work"].update(Resource="not-an-arn")), "/States/Work"),
    (broken(lambda d: d["States"]["Work"]["Parameters"].update({"y.$": "States.Nope(1)"})), "/States/Work"),
    (broken(lambda d: d["States"]["Work"].update(Next="Nowhere")), "/States/Work/Next"),
    (broken(lambda d: d["States"]["Work"].update(End=True)), "exactly one of Next and End"),
    (broken(lambda d: d["States"].update(Orphan={"Type": "Succeed"})), "no transition leads"),
    (broken(lambda d: d.update(StartAt="Missing")), "/StartAt"),
    (broken(lambda d: d.pop("States")), "States"),
])
def test_invalid_definitions_are_reported_with_a_pointer(definition: dict[str, Any], fragment: str) -> None:
    problems = validate(definition)
    assert problems, "expected a problem"
    assert any(fragment in p for p in problems), problems


def test_our_resources_must_name_a_known_action() -> None:
    definition = broken(lambda d: d["States"]["Work"].update(Resource="cloudwarden:iam.make-coffee"))
    assert validate(definition) == []  # well-formed
    problems = validate(definition, known_resources=action_resources())
    assert problems == [f"/States/Work/Resource: no action 'cloudwarden:iam.make-coffee' (known: "
                        f"{', '.join(sorted(action_resources()))})"]


def test_duplicate_state_names_across_branches_are_reported() -> None:
    inner = {"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}
    definition = {"StartAt": "P", "States": {"P": {"Type": "Parallel", "Branches": [inner], "Next": "Done"},
                                             "Done": {"Type": "Succeed"}}}
    assert any("used twice" in p for p in validate(definition))


def test_loading_an_invalid_playbook_file_says_where(tmp_path: Any) -> None:
    path = tmp_path / "mine.asl.json"
    path.write_text(json.dumps(broken(lambda d: d["States"]["Work"].update(Next="Nowhere"))))
    with pytest.raises(BadInputError) as caught:
        load_playbook(str(path))
    assert "mine.asl.json#/States/Work/Next" in str(caught.value)
    with pytest.raises(BadInputError, match="no playbook 'nope'"):
        load_playbook("nope")
