"""`cloudwarden scan` (collection part) against a small lab, through Typer as users call it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from cloudwarden.cli.scan import parse_caps, scan
from cloudwarden.core.errors import BadInputError
from cloudwarden.lab.server import Lab
from cloudwarden.store import resources as snapshots
from cloudwarden.store.store import Store

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    with Lab(tmp_path_factory.mktemp("lab"), seed="empty", flush_interval=3600.0) as running:
        running.aws_client("s3").create_bucket(Bucket="cli-bucket-123456789012")
        yield running


def cli() -> typer.Typer:
    app = typer.Typer()
    app.command("scan")(scan)

    @app.callback()
    def _root() -> None:
        """test root"""

    return app


def test_scan_prints_counts_calls_and_errors_and_stores_the_snapshot(lab: Lab, tmp_path: Path) -> None:
    store_path = tmp_path / "cw.duckdb"
    result = CliRunner().invoke(cli(), ["scan", "--endpoint-url", lab.endpoint_url, "--services", "s3",
                                        "--store", str(store_path), "--regions", "us-east-1"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "AwsS3Bucket" in result.output and "AwsAccount" in result.output
    assert "API calls" in result.output
    with Store.open(store_path) as store:
        buckets = snapshots.resources(store, types="AwsS3Bucket")
        runs = store.runs()
    assert [b["name"] for b in buckets] == ["cli-bucket-123456789012"]
    assert runs[0].command == "scan" and runs[0].status == "ok" and runs[0].stats["api_calls"] > 10


def test_unknown_service_and_bad_caps_are_bad_input(lab: Lab, tmp_path: Path) -> None:
    result = CliRunner().invoke(cli(), ["scan", "--endpoint-url", lab.endpoint_url, "--services", "s4",
                                        "--store", str(tmp_path / "cw.duckdb")])
    assert isinstance(result.exception, BadInputError) and result.exception.exit_code == 2
    assert "s4" in str(result.exception)
    assert parse_caps(["AwsS3Bucket=10"]) == {"AwsS3Bucket": 10}
    for bad in ("AwsS3Bucket", "AwsS3Bucket=0", "AwsNothing=3"):
        with pytest.raises(BadInputError):
            parse_caps([bad])
