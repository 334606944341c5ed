"""The ``iam`` stage's guard around the privilege-escalation package (the stage itself runs in test_access.py)."""

from __future__ import annotations

import sys

import pytest

from cloudwarden.iam import stage
from cloudwarden.store.store import Store


def test_missing_paths_package_is_reported_not_fatal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, stage.PATHS_MODULE, None)  # makes the import fail as if absent
    with Store.open(":memory:") as store:
        found, note = stage._paths(store, None)
    assert found == []
    assert note is not None and "cloudwarden.iam.paths is not installed" in note


def test_paths_package_without_its_entry_points_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    import types

    monkeypatch.setitem(sys.modules, stage.PATHS_MODULE, types.ModuleType(stage.PATHS_MODULE))
    with Store.open(":memory:") as store:
        found, note = stage._paths(store, None)
    assert found == [] and note is not None and "has no model_from_store, find_paths, path_findings" in note
