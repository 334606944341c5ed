"""Security Lake input on the Spark engine: the OCSF projection rendered for Spark over ``spark.read.parquet``,
and Spark evaluating a chunk the DuckDB Parquet reader loaded; both must match the DuckDB engine's findings.

Skipped with the reason when pyspark is not installed; under ``CI=true`` that is a failure instead.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cloudwarden.detect.rules import load_pack
from cloudwarden.detect.security_lake import run_security_lake_detection
from cloudwarden.detect.spark.session import pyspark_available
from tests.detect.ct_samples import event
from tests.detect.test_ocsf import EXPECTED_TYPES, _lake, _view, corpus, to_ocsf, write_parquet

if not pyspark_available():
    _REASON = "pyspark is not installed (pip install 'cloudwarden[spark]'): the Spark Security Lake tests need it"
    if os.environ.get("CI") == "true":
        pytest.fail(_REASON, pytrace=False)
    pytest.skip(_REASON, allow_module_level=True)


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    from cloudwarden.detect.spark.session import build_session

    session = build_session()
    yield session
    session.stop()


def test_both_spark_paths_give_the_duckdb_findings(spark: Any, tmp_path: Path) -> None:
    records = corpus()
    lake = _lake(tmp_path, records, files=3)
    bad_row = to_ocsf(event(99, "ListUsers", "iam.amazonaws.com"))
    bad_row["time"] = None
    write_parquet(lake / "late" / "part-9.gz.parquet", [bad_row])
    pack = load_pack()
    duck = run_security_lake_detection([lake], rules=pack.rules, allowlist=pack.allowlist)
    assert {f.type for f in duck.findings} >= EXPECTED_TYPES
    # The rules that fired, and a few that did not (Spark plans 16 rules a query: keep the run short).
    fired = {f.rule_id for f in duck.findings}
    rules = [r for r in pack.rules if r.id in fired] + [r for r in pack.rules if r.id not in fired][:6]

    native = run_security_lake_detection(["file://" + str(lake)], rules=rules, allowlist=pack.allowlist, engine="spark")
    assert native.stats["reader"] == "spark"
    assert native.stats["events"] == len(records) and native.stats["records_skipped"] == 1
    assert [_view(f) for f in native.findings] == [_view(f) for f in duck.findings]

    loaded = run_security_lake_detection([lake], rules=rules, allowlist=pack.allowlist, engine="spark")
    assert loaded.stats["engine"] == "spark" and loaded.stats["records_skipped"] == 1
    assert [_view(f) for f in loaded.findings] == [_view(f) for f in duck.findings]
