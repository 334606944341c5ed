"""Compiled Sigma rules cached on disk: the same files compile once; anything they depend on changing, a bad
entry or an unwritable cache means compiling afresh; a failure is never cached."""

from __future__ import annotations

import importlib
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from cloudwarden.core.errors import BadInputError
from cloudwarden.detect.rules import load_rule_dirs, loader, sigma_cache
from tests.conftest import shared_path
from tests.detect.test_sigma_backend import sigma_rule

KEYWORDS = "  keywords:\n    - evil\n  condition: keywords\n"  # valid Sigma, left out (no keyword search)
SELECTION = "  sel:\n    eventName: StopLogging\n  condition: sel\n"


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CLOUDWARDEN_CACHE", "on")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache-home"))
    return tmp_path / "cache-home" / "cloudwarden" / "sigma"


@pytest.fixture
def compiles(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Counts the imports of the Sigma compiler (one per compilation: a cache hit needs none)."""
    seen: list[str] = []
    real = importlib.import_module

    def counting(name: str, package: str | None = None) -> Any:
        if name == loader.SIGMA_MODULE:
            seen.append(name)
        return real(name, package)

    monkeypatch.setattr(loader.importlib, "import_module", counting)
    return seen


def test_the_57_sigmahq_rules_come_back_from_the_cache_equal(tmp_path: Path, cache: Path,
                                                              compiles: list[str]) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(shared_path("data", "sigma-aws"), rules)
    first = load_rule_dirs([rules])
    assert len(first.rules) == 57 and compiles == [loader.SIGMA_MODULE]
    assert len(list(cache.glob("*.json"))) == 1
    again = load_rule_dirs([rules])
    assert compiles == [loader.SIGMA_MODULE]  # not compiled again
    assert again.rules == first.rules and again.unsupported == first.unsupported


def test_an_edited_rule_or_another_pysigma_compiles_afresh(tmp_path: Path, cache: Path, compiles: list[str],
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    path = Path(sigma_rule(tmp_path, SELECTION))
    assert "stoplogging" in (load_rule_dirs([path]).rules[0].condition or "").lower() and len(compiles) == 1
    path.write_text(path.read_text().replace("StopLogging", "DeleteTrail"))
    edited = load_rule_dirs([path])
    assert len(compiles) == 2 and "deletetrail" in (edited.rules[0].condition or "").lower()
    monkeypatch.setattr(sigma_cache, "_pysigma_version", lambda: "pysigma-99.0.dist-info")
    load_rule_dirs([path])
    assert len(compiles) == 3
    assert len(list(cache.glob("*.json"))) == 3


def test_left_out_rules_are_cached_with_their_reason(tmp_path: Path, cache: Path, compiles: list[str]) -> None:
    paths = [Path(sigma_rule(tmp_path, KEYWORDS, name="kw")), Path(sigma_rule(tmp_path, SELECTION, name="sel"))]
    first = load_rule_dirs(paths)
    again = load_rule_dirs(paths)
    assert len(compiles) == 1
    assert len(again.rules) == 1 and again.unsupported == first.unsupported
    assert again.unsupported[0][0].endswith("kw.yml") and "keyword" in again.unsupported[0][1]


def test_a_rule_that_fails_is_never_cached(tmp_path: Path, cache: Path, compiles: list[str]) -> None:
    bad = Path(sigma_rule(tmp_path, "  sel:\n    eventName|re: '('\n  condition: sel\n"))
    for _ in range(2):
        with pytest.raises(BadInputError, match="not a valid Sigma rule"):
            load_rule_dirs([bad])
    assert len(compiles) == 2 and not list(cache.glob("*.json"))


def test_a_damaged_entry_is_compiled_over(tmp_path: Path, cache: Path, compiles: list[str]) -> None:
    path = Path(sigma_rule(tmp_path, SELECTION))
    first = load_rule_dirs([path])
    (entry,) = cache.glob("*.json")
    document = json.loads(entry.read_text())
    document["rules"][0]["severity"] = "not a severity"
    entry.write_text(json.dumps(document))
    assert load_rule_dirs([path]).rules == first.rules and len(compiles) == 2
    entry.write_text("{ truncated")
    assert load_rule_dirs([path]).rules == first.rules and len(compiles) == 3
    assert json.loads(entry.read_text())["rules"]  # written again, whole


def test_off_or_unwritable_means_compiling_every_time(tmp_path: Path, cache: Path, compiles: list[str],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    path = Path(sigma_rule(tmp_path, SELECTION))
    monkeypatch.setenv("CLOUDWARDEN_CACHE", "off")
    load_rule_dirs([path])
    load_rule_dirs([path])
    assert len(compiles) == 2 and not cache.exists()
    monkeypatch.setenv("CLOUDWARDEN_CACHE", "on")
    blocked = tmp_path / "file-not-dir"
    blocked.write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocked))  # cloudwarden/sigma cannot be made under a file
    assert len(load_rule_dirs([path]).rules) == 1
    assert len(load_rule_dirs([path]).rules) == 1
    assert len(compiles) == 4


def test_only_the_newest_entries_are_kept(tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sigma_cache, "KEEP", 2)
    for index in range(4):
        load_rule_dirs([Path(sigma_rule(tmp_path, SELECTION, name=f"r{index}"))])
    assert len(list(cache.glob("*.json"))) == 2
    assert not list(cache.glob(".*.tmp"))
