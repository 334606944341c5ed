"""The loader's fast path (detect/rows.py): JSON Lines of the kept fields for DuckDB, agreeing with the careful path."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from cloudwarden.detect import load as load_module
from cloudwarden.detect.cloudtrail_files import ReadReport
from cloudwarden.detect.engine import CloudTrailDB, _fields_read
from cloudwarden.detect.load import Loader, connect, list_objects
from cloudwarden.detect.rows import codec, fields_read_by
from cloudwarden.detect.rules import load_pack
from tests.detect.ct_samples import PROD, event, write_trail_file

ODD_AGENT = 'aws-cli/2.15 "quoted" back\\slash caf\u00e9 tab\there'


def _load(paths: list[Path], fields: frozenset[str] | None = None, **window: datetime) -> tuple[
        dict[str, dict[str, Any]], ReadReport]:
    conn = connect()
    report = ReadReport()
    Loader(conn, fields=fields, **window).load(list_objects(paths, report), report)
    cursor = conn.execute("SELECT * FROM cloudtrail")
    names = [d[0] for d in cursor.description or ()]
    rows = {r[0]: dict(zip(names, r, strict=True)) for r in cursor.fetchall()}
    return rows, report


def _without_file(rows: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {k: {c: v for c, v in r.items() if c != "source_file"} for k, r in rows.items()}


def _records() -> list[dict[str, Any]]:
    return [
        event(0, userAgent=ODD_AGENT, errorMessage="line one\nline two"),
        event(1, "PutBucketPolicy", requestParameters={"bucketName": "b", "policy": {"Statement": [
            {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject"}]}}, readOnly="false"),
        event(2, "ConsoleLogin", "signin.amazonaws.com", additionalEventData={"MFAUsed": "No"},
              responseElements={"ConsoleLogin": "Success"}, tlsDetails={"tlsVersion": "TLSv1.3"},
              resources=[{"ARN": "arn:aws:iam::222222222222:user/alice"}]),
    ]


def test_fast_rows_equal_the_careful_paths_rows(tmp_path: Path) -> None:
    records = _records()
    compact = write_trail_file(tmp_path / "compact.json.gz", records)
    pretty = tmp_path / "pretty.json"  # pretty-printed: the fast path declines it, the careful path reads it
    pretty.write_text(json.dumps({"Records": records}, indent=2))
    assert codec().rows(pretty.read_bytes(), 0) is None
    assert codec().rows(json.dumps({"Records": records}).encode(), 0) is not None
    fast, fast_report = _load([compact])
    careful, careful_report = _load([pretty])
    assert fast_report.clean and careful_report.clean and fast_report.records == careful_report.records == 3
    assert _without_file(fast) == _without_file(careful)
    assert fast["ev-0"]["user_agent"] == ODD_AGENT  # JSON escapes undone
    assert fast["ev-0"]["error_message"] == "line one\nline two"
    assert fast["ev-1"]["read_only"] is False  # "false" as a string still reads as a boolean
    assert json.loads(fast["ev-1"]["request_parameters"])["policy"]["Statement"][0]["Principal"] == "*"
    assert fast["ev-2"]["tls_details"] == '{"tlsVersion":"TLSv1.3"}'


def test_spaced_members_are_stored_minified(tmp_path: Path) -> None:
    record = event(3, "PutBucketAcl", requestParameters={"bucketName": "b", "x-amz-acl": ["public-read"]})
    path = tmp_path / "spaced.jsonl"
    path.write_text(json.dumps(record) + "\n")  # json.dumps puts ", " and ": " between members
    rows, _ = _load([path])
    assert rows["ev-3"]["request_parameters"] == '{"bucketName":"b","x-amz-acl":["public-read"]}'


def test_unread_fields_are_not_loaded(tmp_path: Path) -> None:
    path = write_trail_file(tmp_path / "t.json.gz", _records())
    fields = fields_read_by(["SELECT event_name, json_extract_string(request_parameters, '$.bucketName')"])
    assert fields >= {"eventName", "requestParameters", "eventID", "eventTime", "eventSource"}
    assert "tlsDetails" not in fields and "userIdentity" not in fields
    rows, _ = _load([path], fields)
    assert rows["ev-2"]["tls_details"] is None and rows["ev-2"]["identity_arn"] is None
    assert rows["ev-1"]["request_parameters"] is not None and rows["ev-2"]["event_name"] == "ConsoleLogin"


def test_the_rule_pack_reads_what_its_rules_name() -> None:
    pack = load_pack()
    fields = _fields_read(pack.rules, pack.allowlist)
    assert {"requestParameters", "userIdentity", "sourceIPAddress", "userAgent", "errorCode"} <= fields
    assert "tlsDetails" not in fields  # no shipped rule reads it


def test_an_incomplete_record_sends_its_file_to_the_careful_path(tmp_path: Path) -> None:
    no_id = event(5)
    del no_id["eventID"]
    bad_time = event(6, eventTime="not a time")
    good = write_trail_file(tmp_path / "good.json.gz", [event(7), event(8)])
    mixed = write_trail_file(tmp_path / "mixed.json.gz", [event(4), no_id, bad_time])
    rows, report = _load([good, mixed])
    # The good file's rows and the mixed file's good rows, once each; the id-less record gets a stable id.
    ids = set(rows)
    assert {"ev-4", "ev-7", "ev-8"} <= ids and "ev-6" not in ids
    made = [i for i in ids if i.startswith("cw-")]
    assert len(made) == 1 and rows[made[0]]["source_file"] == str(mixed.resolve())
    assert [(s.path, s.where) for s in report.records_skipped] == [(str(mixed.resolve()), "record 2")]
    assert report.files_read == 2 and report.records == 4
    again, _ = _load([mixed])
    assert made[0] in again  # the same id on every run


def test_the_window_counts_what_it_leaves_out(tmp_path: Path) -> None:
    path = write_trail_file(tmp_path / "t.json.gz", [event(1, minute=1), event(2, minute=20), event(3, minute=40)])
    conn = connect()
    report = ReadReport()
    loader = Loader(conn, since=datetime.fromisoformat("2026-03-01T10:10:00+00:00"),
                    until=datetime.fromisoformat("2026-03-01T10:30:00+00:00"))
    assert loader.load(list_objects([path], report), report) == 1
    assert loader.stats.outside_window == 2 and report.records == 3


def test_a_record_cannot_claim_another_file(tmp_path: Path) -> None:
    spoof = event(9, cloudwardenFile=0)
    first = write_trail_file(tmp_path / "a.json.gz", [event(1)])
    second = write_trail_file(tmp_path / "b.json.gz", [spoof])
    rows, _ = _load([first, second])
    assert rows["ev-9"]["source_file"] == str(second.resolve())


def test_db_from_paths_keeps_every_field(tmp_path: Path) -> None:
    path = write_trail_file(tmp_path / "t.json.gz", _records())
    db, _ = CloudTrailDB.from_paths([path])
    row = db.query("SELECT tls_details, resources, identity_account_id FROM cloudtrail WHERE event_id = 'ev-2'")[0]
    assert row == {"tls_details": '{"tlsVersion":"TLSv1.3"}',
                   "resources": '[{"ARN":"arn:aws:iam::222222222222:user/alice"}]', "identity_account_id": PROD}


def test_strings_are_unescaped_as_json_says_and_odd_members_stay_json(tmp_path: Path) -> None:
    records = [
        event(10, userAgent='say "hi" C:\\dir\\', errorCode="null", errorMessage='"quoted"'),
        event(11, userAgent="caf\u00e9\n\t/\u2028"),
        # Members that are JSON strings or numbers stay valid JSON (CloudTrail writes objects here).
        event(12, requestParameters="a plain string", responseElements=5, additionalEventData="[1]"),
    ]
    compact = json.dumps({"Records": records}, separators=(",", ":"))
    assert "\\u00e9" in compact and "\\n" in compact  # json.dumps escapes them: the reader must undo it
    lines = codec().rows(compact.encode(), 0)
    assert lines is not None and lines[1] == 3 and lines[0].count(b"\n") == 3
    path = tmp_path / "t.json"
    path.write_text(compact)
    pretty = tmp_path / "pretty.json"
    pretty.write_text(json.dumps({"Records": records}, indent=2))
    rows, report = _load([path])
    careful, _ = _load([pretty])
    assert report.clean and report.records == 3
    assert _without_file(rows) == _without_file(careful)
    assert rows["ev-10"]["user_agent"] == 'say "hi" C:\\dir\\'
    assert rows["ev-10"]["error_code"] == "null"  # the string "null" is not SQL NULL...
    assert rows["ev-11"]["error_code"] is None  # ...a missing field is
    assert rows["ev-10"]["error_message"] == '"quoted"'
    assert rows["ev-11"]["user_agent"] == "caf\u00e9\n\t/\u2028"
    assert json.loads(rows["ev-12"]["request_parameters"]) == "a plain string"
    assert json.loads(rows["ev-12"]["response_elements"]) == 5
    assert json.loads(rows["ev-12"]["additional_event_data"]) == "[1]"  # a string, as CloudTrail wrote it


def test_a_line_break_deep_inside_a_member_reaches_the_careful_path_and_loses_nothing(tmp_path: Path) -> None:
    # One-line documents, except that a member was pretty-printed far from the start, where the fast path
    # does not look: DuckDB's JSON reader rejects the broken line, and the batch is read carefully.
    records = [event(20 + i, requestParameters={"note": "x" * 300, "i": i}) for i in range(3)]
    text = json.dumps({"Records": records}, separators=(",", ":"))
    broken = text.replace('"i":1}', '\n  "i":1\r\n}')
    assert broken != text and broken.index("\n") > 256
    assert codec().rows(broken.encode(), 0) is not None  # the fast path took it
    (tmp_path / "broken.json").write_text(broken)
    write_trail_file(tmp_path / "good.json.gz", [event(30)])
    rows, report = _load([tmp_path / "broken.json", tmp_path / "good.json.gz"])
    assert report.clean and report.records == 4
    assert set(rows) == {"ev-20", "ev-21", "ev-22", "ev-30"}
    # Members read either way have one spelling: minified.
    assert rows["ev-21"]["request_parameters"] == json.dumps({"note": "x" * 300, "i": 1}, separators=(",", ":"))


def test_members_are_loaded_only_within_their_scope(tmp_path: Path) -> None:
    records = [
        event(20, "PutBucketPolicy", requestParameters={"bucketName": "in"}),
        event(21, "ListBuckets", requestParameters={"bucketName": "out"}),
        event(22, "CreateUser", "iam.amazonaws.com", requestParameters={"userName": "caf\u00e9"}),
        event(23, "DeleteUser", "iam.amazonaws.com", requestParameters={"userName": "caf\u00e9"}),
        event(24, "ConsoleLogin", "signin.amazonaws.com", responseElements={"ConsoleLogin": "Success"},
              requestParameters={"x": 1}),
    ]
    path = tmp_path / "t.json"
    path.write_text(json.dumps({"Records": records}, separators=(",", ":")))  # \u00e9 stays escaped
    scopes = (("requestParameters", (("event_name", ("PutBucketPolicy",)), ("lower(event_name)", ("createuser",)))),
              ("responseElements", (("event_source", ("signin.amazonaws.com",)),)))
    conn = connect()
    report = ReadReport()
    Loader(conn, scopes=scopes).load(list_objects([path], report), report)
    rows = dict(conn.execute("SELECT event_id, [request_parameters, response_elements] FROM cloudtrail").fetchall())
    assert rows == {
        "ev-20": ['{"bucketName":"in"}', None],
        "ev-21": [None, None],
        "ev-22": ['{"userName":"caf\u00e9"}', None],
        "ev-23": [None, None],
        "ev-24": [None, '{"ConsoleLogin":"Success"}'],
    }
    assert report.clean and report.records == 5


def test_loading_only_what_rules_read_changes_no_finding(tmp_path: Path) -> None:
    """The shipped pack and SigmaHQ's AWS rules over Stratus Red Team's logs: members loaded only in scope and
    only the identity columns read (a run without analyzers) give exactly the findings of everything loaded
    (a run with one)."""
    from cloudwarden.detect.compile import member_scopes
    from cloudwarden.detect.engine import run_detection
    from cloudwarden.detect.rules import load_rule_dirs
    from tests.conftest import shared_path

    # Written as CloudTrail delivers them (one line a file), so they take the fast path, which scopes.
    files = [write_trail_file(tmp_path / f"{path.stem}.json.gz", json.loads(path.read_text()))
             for path in sorted(shared_path("data", "stratus-detonations").glob("*.json"))]
    lab = write_trail_file(tmp_path / "lab.json.gz", _records())
    pack = load_pack()
    pack.extend(load_rule_dirs([shared_path("data", "sigma-aws")]))
    assert member_scopes(pack.rules, pack.allowlist)  # the scoped run really scopes something
    scoped = run_detection([*files, lab], rules=pack.rules, allowlist=pack.allowlist)
    everywhere = run_detection([*files, lab], rules=pack.rules, allowlist=pack.allowlist,
                               analyzers=[lambda db: []])
    assert len(scoped.findings) > 30
    assert [f.model_dump() for f in scoped.findings] == [f.model_dump() for f in everywhere.findings]


def test_only_the_identity_columns_read_are_extracted(tmp_path: Path) -> None:
    from cloudwarden.detect.rows import identity_read_by

    assert identity_read_by(["SELECT identity_arn, lower(session_issuer_type) FROM cloudtrail",
                             "coalesce(identity_user_name, 'x')"]) == (
        "identity_arn", "identity_user_name", "session_issuer_type")
    role = {"type": "AssumedRole", "arn": "arn:aws:sts::1:assumed-role/r/s", "accessKeyId": "ASIA1",
            "sessionContext": {"sessionIssuer": {"type": "Role", "arn": "arn:aws:iam::1:role/r", "userName": "r"},
                               "attributes": {"mfaAuthenticated": "false", "creationDate": "2026-03-01T09:00:00Z"}}}
    path = write_trail_file(tmp_path / "t.json.gz", [event(30, userIdentity=role), event(31)])
    conn = connect()
    report = ReadReport()
    Loader(conn, identity=("identity_arn", "identity_user_name", "session_issuer_type")).load(
        list_objects([path], report), report)
    cursor = conn.execute("SELECT event_id, identity_arn, identity_user_name, session_issuer_type, identity_type, "
                          "access_key_id, mfa_authenticated, session_issuer_arn FROM cloudtrail ORDER BY event_id")
    assert cursor.fetchall() == [
        # identity_user_name falls back to the session issuer's user name, as when every column is extracted
        ("ev-30", "arn:aws:sts::1:assumed-role/r/s", "r", "Role", None, None, None, None),
        ("ev-31", f"arn:aws:iam::{PROD}:user/alice", "alice", None, None, None, None, None),
    ]
    everything, _ = _load([path])
    assert everything["ev-30"]["access_key_id"] == "ASIA1" and everything["ev-30"]["identity_type"] == "AssumedRole"
    conn = connect()
    Loader(conn, identity=()).load(list_objects([path], report), report)  # none wanted: none read
    assert conn.execute("SELECT count(*), count(identity_arn), count(identity_user_name), count(session_issuer_type)"
                        " FROM cloudtrail").fetchall() == [(2, 0, 0, 0)]


def test_batches_written_over_each_others_files_load_every_row_once(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    # Files of 5, 4, 1, 3, 1 and 2 records (the first file's long), handed to DuckDB about three records at a
    # time: four batches, one inserted while the next is written, each read once and whole.
    sizes = [5, 4, 1, 3, 1, 2]
    paths, number = [], 0
    for i, size in enumerate(sizes):
        records = [event(number + j, userAgent="a" * (2000 if i == 0 else 10)) for j in range(size)]
        number += size
        paths.append(write_trail_file(tmp_path / f"f{i}.json.gz", records))

    def load(flush_rows: int) -> tuple[list[tuple[Any, ...]], ReadReport, Loader]:
        conn = connect()
        report = ReadReport()
        loader = Loader(conn, flush_rows=flush_rows)
        loader.load(list_objects(paths, report), report)
        rows = conn.execute("SELECT event_id, user_agent, source_file FROM cloudtrail ORDER BY event_id").fetchall()
        return rows, report, loader

    careful: list[str] = []  # a batch the JSON reader rejects would be read again by the careful path
    monkeypatch.setattr(load_module, "decode_object", lambda name, *args: careful.append(name) or [])
    batched, report, loader = load(3)
    whole, _, _ = load(1_000_000)
    assert report.clean and report.records == sum(sizes) == loader.stats.events
    assert len(batched) == sum(sizes) and batched == whole
    assert careful == []
