"""run_posture / posture_stage over snapshots in a real store."""

from __future__ import annotations

from pathlib import Path

import pytest

from cloudwarden.aws.session import AwsTarget
from cloudwarden.core.errors import BadInputError
from cloudwarden.core.finding import Status
from cloudwarden.pipeline.stages import StageContext
from cloudwarden.posture.stage import drift_between, posture_stage, run_posture
from cloudwarden.store import resources as snapshots
from cloudwarden.store.store import Store
from tests.posture import docs as d


def store_snapshot(store: Store, documents: list[dict[str, object]]) -> str:
    snapshot_id = snapshots.begin_snapshot(store, None, [d.ACCT], [d.REGION])
    snapshots.add_resources(store, snapshot_id, documents)  # type: ignore[arg-type]
    snapshots.finish_snapshot(store, snapshot_id, "complete", [])
    return snapshot_id


def test_run_posture_scores_mutes_and_diffs(tmp_path: Path) -> None:
    mute = tmp_path / "mute.yaml"
    mute.write_text("mutelist:\n  - reason: accepted\n    control: S3.9\n    resource: '.*open.*'\n")
    with Store.open(tmp_path / "cw.duckdb") as store:
        first = store_snapshot(store, [d.account(), d.bucket("open-1")])
        store_snapshot(store, [d.account(), d.bucket("open-1", GetBucketLogging={}), d.bucket("closed-1",
                                                                                            GetBucketLogging={})])
        result = run_posture(store, mutelist=mute, baseline_id=first, now=d.NOW)
    statuses = {(f.control_id, f.resource.id.rsplit(":", 1)[-1]): f.status for f in result.findings}
    assert statuses[("S3.9", "open-1")] is Status.SUPPRESSED
    assert statuses[("S3.9", "closed-1")] is Status.FAILED
    assert result.muted == 1 and result.documents == 3 and result.controls > 150
    assert result.drift is not None and result.drift.count("new") >= 1
    stats = result.stats()
    assert stats["drift"]["baseline"] == first
    assert {s["framework"] for s in stats["scores"]} == {"cis-aws-5.0", "cis-aws-3.0", "fsbp"}
    assert stats["not_available"] == result.counts.get("NOT_AVAILABLE", 0)


def test_drift_between_two_stored_snapshots(tmp_path: Path) -> None:
    with Store.open(tmp_path / "cw.duckdb") as store:
        first = store_snapshot(store, [d.account(), d.bucket("b-1")])
        second = store_snapshot(store, [d.account(), d.bucket("b-1", GetBucketLogging={})])
        report = drift_between(store, first, second, now=d.NOW)
    assert [(v.kind, v.control_id) for v in report.verdicts] == [("new", "S3.9")]


def test_an_empty_store_or_unknown_snapshot_is_bad_input(tmp_path: Path) -> None:
    with Store.open(tmp_path / "cw.duckdb") as store:
        with pytest.raises(BadInputError, match="no finished snapshot"):
            run_posture(store)
        store_snapshot(store, [d.account()])
        with pytest.raises(BadInputError, match="--baseline"):
            run_posture(store, baseline_id="snap-nope")


def test_the_pipeline_stage_reads_the_latest_snapshot(tmp_path: Path) -> None:
    path = tmp_path / "cw.duckdb"
    with Store.open(path) as store:
        store_snapshot(store, [d.account(), d.account_region()])
        store_snapshot(store, [d.account(GetAccountPasswordPolicy=d.error("NoSuchEntity", "none"))])
    context = StageContext(target=AwsTarget(endpoint_url="http://127.0.0.1:1"), accounts={}, store_path=path,
                           run_id="run-1", output_dir=tmp_path)
    result = posture_stage(context)
    iam7 = [f for f in result.findings if f.control_id == "IAM.7"]
    assert [f.status for f in iam7] == [Status.FAILED]
    assert result.stats["documents"] == 1
