"""The C scanner's rows (detect/_ctscan.c) against the JSON Lines path's: the same table, the same report.

Each corpus is loaded twice, once with ``CLOUDWARDEN_SCANNER=off`` (msgspec rows read by DuckDB's JSON
reader, the path the scanner replaces), and the two tables must be equal cell for cell.
"""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path
from typing import Any

import pytest

from cloudwarden.detect.cloudtrail_files import ReadReport
from cloudwarden.detect.compile import member_scopes
from cloudwarden.detect.engine import _fields_read, _rules_sql
from cloudwarden.detect.load import Loader, connect, list_objects
from cloudwarden.detect.rows import COLUMN_FIELDS, SCANNER, identity_read_by
from cloudwarden.detect.rules import load_pack
from cloudwarden.detect.table import COLUMN_NAMES
from tests.conftest import shared_path
from tests.detect.ct_samples import PROD, event, write_trail_file


@pytest.fixture(autouse=True)
def _scanner_built() -> None:
    if SCANNER is None:
        if os.environ.get("CI") == "true":
            pytest.fail("the C scanner (cloudwarden.detect._ctscan) was not built; CI must build it")
        pytest.skip("the C scanner (cloudwarden.detect._ctscan) is not built here (no C compiler at install)")


def _load(folder: Path, monkeypatch: pytest.MonkeyPatch, *, scanner: bool,
          **kwargs: Any) -> tuple[list[tuple[Any, ...]], ReadReport, Loader]:
    monkeypatch.setenv("CLOUDWARDEN_SCANNER", "on" if scanner else "off")
    conn = connect()
    report = ReadReport()
    loader = Loader(conn, **kwargs)
    loader.load(list_objects([folder], report, target=None), report)
    # Only the columns the loader was asked for: the careful path (a document neither fast path takes) fills all.
    fields, identity = kwargs.get("fields"), kwargs.get("identity")
    columns = [c for c in COLUMN_NAMES if c == "source_file" or (
        (fields is None or COLUMN_FIELDS[c] in fields)
        and (identity is None or COLUMN_FIELDS[c] != "userIdentity" or c in identity))]
    rows = conn.execute(f"SELECT {', '.join(columns)} FROM cloudtrail ORDER BY source_file, event_id").fetchall()
    conn.close()
    return rows, report, loader


def _both(folder: Path, monkeypatch: pytest.MonkeyPatch, **kwargs: Any) -> tuple[list[tuple[Any, ...]], ReadReport,
                                                                                  Loader]:
    """Load ``folder`` both ways; assert the same rows and report; return the scanner's."""
    rows, report, loader = _load(folder, monkeypatch, scanner=True, **kwargs)
    plain_rows, plain_report, plain = _load(folder, monkeypatch, scanner=False, **kwargs)
    assert plain.stats.scanned == 0
    assert len(rows) == len(plain_rows)
    for ours, theirs in zip(rows, plain_rows, strict=True):
        assert ours == theirs
    assert (report.files_read, report.records) == (plain_report.files_read, plain_report.records)
    assert sorted(map(repr, report.files_skipped)) == sorted(map(repr, plain_report.files_skipped))
    assert sorted(map(repr, report.records_skipped)) == sorted(map(repr, plain_report.records_skipped))
    return rows, report, loader


def _pack_columns() -> dict[str, Any]:
    """The loader's arguments the detection engine gives for the shipped rule pack."""
    pack = load_pack()
    return {"fields": _fields_read(pack.rules, pack.allowlist), "scopes": member_scopes(pack.rules, pack.allowlist),
            "identity": identity_read_by(_rules_sql(pack.rules, pack.allowlist))}


def _stratus_corpus(tmp_path: Path, *, pretty: bool) -> Path:
    """Stratus Red Team's real detonation logs as CloudTrail delivers them: gzipped one-line envelopes (and, if
    ``pretty``, one pretty-printed envelope, which the scanner takes too but the JSON Lines path leaves to the
    careful path, which loads every column whatever the loader was asked for)."""
    folder = tmp_path / "stratus"
    folder.mkdir()
    for n, path in enumerate(sorted(shared_path("data", "stratus-detonations").glob("*.json"))):
        records = json.loads(path.read_text())
        name = folder / f"{path.stem}.json.gz"
        if n == 0 and pretty:
            name.with_suffix("").write_text(json.dumps({"Records": records}, indent=2))
        else:
            name.write_bytes(gzip.compress(json.dumps({"Records": records}).encode()))
    return folder


@pytest.mark.parametrize(("columns", "flush_rows"), [("all", 100_000), ("pack", 100_000), ("pack", 40)])
def test_real_cloudtrail_loads_the_same_rows_both_ways(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                       columns: str, flush_rows: int) -> None:
    # flush_rows=40: about ten batches, so the scanners' buffers are emptied and reused in between
    folder = _stratus_corpus(tmp_path, pretty=columns == "all")
    files = len(list(folder.iterdir()))
    rows, report, loader = _both(folder, monkeypatch, flush_rows=flush_rows,
                                 **(_pack_columns() if columns == "pack" else {}))
    assert report.clean and report.files_read == files
    assert loader.stats.scanned == files  # every file went through the scanner, none fell back
    assert len(rows) > 300


def _odd_records() -> list[dict[str, Any]]:
    identity = {"type": "AssumedRole", "arn": f"arn:aws:sts::{PROD}:assumed-role/ops/é-session",
                "accountId": PROD, "principalId": "AROAX:s",
                "sessionContext": {"sessionIssuer": {"type": "Role", "arn": f"arn:aws:iam::{PROD}:role/ops",
                                                     "userName": "ops"},
                                   "attributes": {"mfaAuthenticated": True, "creationDate": "2026-03-01T09:00:00Z"}}}
    return [
        event(1, "PutBucketPolicy", userAgent="Boto3/1.34 \u263a \U0001f600 tab\there \"quoted\" back\\slash",
              requestParameters={"bucketName": "b", "policy": '{"Statement":[{"Effect":"Allow","Principal":"*"}]}',
                                 "ratio": 1.50, "big": 1e5, "list": [1, 2.25, None, True, "\u00e9"]},
              errorMessage="line1\nline2\u0001"),
        event(2, "AssumeRole", "sts.amazonaws.com", userIdentity=identity, readOnly="true",
              responseElements={"credentials": {"accessKeyId": "ASIA", "expiration": "Mar 1, 2026 11:00:00 AM"}}),
        event(3, "ConsoleLogin", "signin.amazonaws.com", userIdentity=None,
              additionalEventData={"MFAUsed": "No", "LoginTo": "https://console.aws.amazon.com/"}),
        event(4, "GetObject", eventTime="2026-03-01T12:30:00.123456+02:00", readOnly=None, managementEvent=False),
    ]


def test_odd_but_valid_records_load_the_same_rows_both_ways(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "odd"
    folder.mkdir()
    records = _odd_records()
    write_trail_file(folder / "escaped.json.gz", records)
    # JSON's own escapes where Python's encoder would write characters, and a number in a text field
    (folder / "ascii.json").write_text(json.dumps({"Records": records}, ensure_ascii=True).replace("/", "\\/"))
    (folder / "numeric-version.json").write_text(
        json.dumps({"Records": [event(5)]}).replace('"eventVersion": "1.09"', '"eventVersion": 1.50'))
    (folder / "integer-version.json").write_text(json.dumps({"Records": [event(6, eventVersion=2)]}))
    rows, report, loader = _both(folder, monkeypatch)
    assert report.clean and report.records == 2 * len(records) + 2
    by_id = {(row[0], row[-1].rsplit("/", 1)[-1]): row for row in rows}
    assert by_id[("ev-1", "ascii.json")][:-1] == by_id[("ev-1", "escaped.json.gz")][:-1]
    # the fractional number is left to the JSON Lines path, which writes it as DuckDB does; the rest is scanned
    assert loader.stats.scanned == 3


def test_bad_input_is_reported_the_same_both_ways(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "bad"
    folder.mkdir()
    good = [event(n) for n in range(5)]
    write_trail_file(folder / "good.json.gz", good)
    whole = json.dumps({"Records": good}).encode()
    (folder / "truncated.json").write_bytes(whole[: len(whole) // 2])
    (folder / "not-cloudtrail.json").write_text(json.dumps({"Records": [{"hello": "world"}]}))
    missing_time = [event(10), {k: v for k, v in event(11).items() if k != "eventTime"}]
    (folder / "no-time.json").write_text(json.dumps({"Records": missing_time}))
    (folder / "bad-time.json").write_text(json.dumps({"Records": [event(12), event(13, eventTime="yesterday")]}))
    (folder / "bad-utf8.json").write_bytes(json.dumps({"Records": [event(14)]}).encode().replace(b"alice", b"al\xffce"))
    _, report, loader = _both(folder, monkeypatch)
    assert not report.clean
    assert loader.stats.scanned == 1  # only the good file


def test_batches_are_cut_by_the_documents_bytes_when_scanners_are_reused(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    # A reused scanner's buffers do not grow, so a batch's size must come from the documents it took.
    folder = _stratus_corpus(tmp_path, pretty=False)
    files = sorted(folder.iterdir())
    smallest = min(len(gzip.decompress(f.read_bytes())) for f in files)
    inserts: list[int] = []  # objects per batch, in the scanner's run
    insert = Loader._insert

    def counting(self: Loader, batch: Any) -> Any:
        if os.environ["CLOUDWARDEN_SCANNER"] == "on":
            inserts.append(len(batch.scanned))
        return insert(self, batch)

    monkeypatch.setattr(Loader, "_insert", counting)
    rows, _, loader = _both(folder, monkeypatch, flush_bytes=smallest, flush_rows=100_000)
    assert loader.stats.scanned == len(files) and len(rows) > 300
    assert len(inserts) >= len(files) - 1 and max(inserts) <= 2  # the first batch flushes at half the size
