"""`cloudwarden iam paths` (cli/iam_paths.py) over a stored snapshot."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from typer.testing import CliRunner

from cloudwarden.cli.iam_paths import paths
from cloudwarden.store import resources as snapshots
from cloudwarden.store.store import Store
from tests.iam.pathsupport import ACCT, HARMLESS, Builder, allow

RUNNER = CliRunner()
APP = typer.Typer()
APP.command()(paths)


def _store(tmp_path: Path) -> tuple[Path, str, str]:
    b = Builder()
    dev = b.user("dev", allow(["iam:PutUserPolicy"], f"arn:aws:iam::{ACCT}:user/dev"))
    ok = b.user("ok", HARMLESS)
    path = tmp_path / "cw.duckdb"
    with Store.open(path) as store:
        sid = snapshots.begin_snapshot(store, None, [ACCT], ["us-east-1"])
        snapshots.add_resources(store, sid, b.docs)
        snapshots.finish_snapshot(store, sid, "complete", [])
    return path, dev, ok


def test_prints_each_path_with_the_permission_of_each_hop(tmp_path: Path) -> None:
    store, dev, _ = _store(tmp_path)
    result = RUNNER.invoke(APP, ["--store", str(store)])
    assert result.exit_code == 0, result.output
    assert f"{dev} -> admin (1 hop" in result.stdout
    assert f"iam:PutUserPolicy on {dev}" in result.stdout and "[iam-007]" in result.stdout
    assert "1 principal can reach admin" in result.stdout


def test_json_and_from(tmp_path: Path) -> None:
    store, dev, ok = _store(tmp_path)
    result = RUNNER.invoke(APP, ["--store", str(store), "--json", "--from", dev])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert [p["source"] for p in out["paths"]] == [dev]
    assert out["paths"][0]["hops"][0]["permissions"] == ["iam:PutUserPolicy"]
    none = json.loads(RUNNER.invoke(APP, ["--store", str(store), "--json", "--from", ok]).stdout)
    assert none["paths"] == []


def test_unknown_principal_and_missing_snapshot_exit_2(tmp_path: Path) -> None:
    store, _, _ = _store(tmp_path)
    bad = RUNNER.invoke(APP, ["--store", str(store), "--from", f"arn:aws:iam::{ACCT}:user/ghost"])
    assert bad.exit_code == 2 and "--from" in bad.output
    missing = RUNNER.invoke(APP, ["--store", str(tmp_path / "none.duckdb")])
    assert missing.exit_code == 2 and "cloudwarden scan" in missing.output
    with Store.open(tmp_path / "empty.duckdb"):
        pass
    empty = RUNNER.invoke(APP, ["--store", str(tmp_path / "empty.duckdb")])
    assert empty.exit_code == 2 and "cloudwarden scan" in empty.output
