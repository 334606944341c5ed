"""The C scanner (:mod:`cloudwarden.detect._ctscan`): values, every decline, a differential fuzz against the
standard library's ``json``, and the Arrow C stream export as DuckDB consumes it."""

from __future__ import annotations

import ctypes
import gc
import json
import os
import random
import re
import sys
import threading
from collections import Counter
from collections.abc import Sequence
from typing import Any

import duckdb
import pytest

from tests.conftest import SHARED

try:
    from cloudwarden.detect._ctscan import Builder
except ImportError as exc:  # the extension is optional (no compiler): the loader falls back to Python
    _REASON = f"cloudwarden.detect._ctscan is not built ({exc}); `pip install -e .` with a C compiler builds it"
    if os.environ.get("CI") == "true":
        pytest.fail(_REASON + " (CI must build it)", pytrace=False)
    pytest.skip(_REASON, allow_module_level=True)

REQUIRED = ["eventTime", "eventID", "eventSource", "eventName"]
FIELDS = [*REQUIRED, "awsRegion", "readOnly", "userAgent", "errorCode", "sourceIPAddress", "eventType",
          "recipientAccountId"]
MEMBERS = ["requestParameters", "responseElements", "additionalEventData", "resources", "tlsDetails"]
IDENTITY = ["type", "arn", "accountId", "principalId", "userName", "invokedBy", "sessionContext.sessionIssuer.arn",
            "sessionContext.sessionIssuer.type", "sessionContext.attributes.mfaAuthenticated"]
STRATUS = SHARED / "data" / "stratus-detonations"


def record(n: int = 1, **overrides: Any) -> dict[str, Any]:
    rec: dict[str, Any] = {"eventTime": "2026-03-01T10:00:00Z", "eventID": f"ev-{n}", "eventSource": "s3.amazonaws.com",
                           "eventName": "GetObject"}
    rec.update(overrides)
    return rec


def document(*records: dict[str, Any]) -> bytes:
    return json.dumps({"Records": list(records)}, separators=(",", ":"), ensure_ascii=False).encode()


def builder(fields: Sequence[str] = FIELDS, members: Sequence[str] = MEMBERS,
            identity: Sequence[str] = IDENTITY) -> Builder:
    return Builder(fields, members, identity)


_CONNECTION: list[duckdb.DuckDBPyConnection] = []


def read(b: Builder) -> list[dict[str, Any]]:
    """The builder's rows, read back through DuckDB (a replacement scan of the Python object)."""
    if not _CONNECTION:  # one for the module: a connection takes ~30 ms to open
        _CONNECTION.append(duckdb.connect())
    result = _CONNECTION[0].execute("select * from b")
    names = [d[0] for d in result.description]
    return [dict(zip(names, row, strict=True)) for row in result.fetchall()]


@pytest.fixture(autouse=True)
def _deep_recursion() -> Any:
    """Room for the reference to handle values nested 512 deep (two Python frames a level)."""
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 4000))
    yield
    sys.setrecursionlimit(limit)


# --- values ---------------------------------------------------------------------------------------------------


def test_scalars_are_unescaped_text_or_written_as_is() -> None:
    b = builder()
    raw = (b'{"Records":[{"eventTime":"2026-03-01T10:00:00Z","eventID":"q\\"b\\\\s\\/f\\bf\\fn\\nr\\rt\\t",'
           b'"eventSource":"\\u0041\\u00e9\\u20ac\\ud83d\\ude00\\uD83D\\uDE00","eventName":"caf\xc3\xa9 \xe2\x82\xac '
           b'\xf0\x9f\x98\x80 \\u002f","readOnly":false,"awsRegion":-12,"userAgent":true,"errorCode":null,'
           b'"sourceIPAddress":0,"eventType":123456789012345678,"recipientAccountId":-987654321}]}')
    assert b.add(raw, 0) == 1
    assert b.rows == 1
    [row] = read(b)
    assert row["eventID"] == 'q"b\\s/f\bf\fn\nr\rt\t'
    assert row["eventSource"] == "Aé€😀😀"
    assert row["eventName"] == "café € 😀 /"
    assert row["readOnly"] == "false"
    assert row["awsRegion"] == "-12"
    assert row["userAgent"] == "true"
    assert row["errorCode"] is None
    assert row["sourceIPAddress"] == "0"
    assert row["eventType"] == "123456789012345678"
    assert row["recipientAccountId"] == "-987654321"
    assert row["cloudwardenFile"] == 0


@pytest.mark.parametrize("number", [b"1.5", b"1.50", b"-0.50e+07", b"1E-2", b"1e5", b"-0",
                                    b"1234567890123456789", b"123456789012345678901234567890"])
def test_a_number_duckdb_would_rewrite_declines_in_a_kept_text_value(number: bytes) -> None:
    # DuckDB's JSON reader writes 1.50 as "1.5" and 1e5 as "100000.0": the JSON Lines path must take these.
    for doc in (_field(number), _in_record(b'"userIdentity":{"type":' + number + b"}")):
        b = builder()
        assert b.add(doc, 0) == -1
        assert b.rows == 0
    assert builder().add(_unkept(number), 0) == 2  # a key no one reads may hold any number


def test_absent_and_null_are_null_and_columns_come_in_order() -> None:
    b = builder()
    assert b.add(document(record(1, awsRegion=None, requestParameters=None)), 5) == 1
    [row] = read(b)
    assert list(row) == [*FIELDS, *MEMBERS, *(f"userIdentity.{p}" for p in IDENTITY), "cloudwardenFile"]
    assert {k: v for k, v in row.items() if v is not None} == {**record(1), "cloudwardenFile": 5}


def test_identity_paths() -> None:
    b = builder()
    issuer = {"type": "Role", "arn": "arn:aws:iam::1:role/r", "userName": "r"}
    docs = [
        record(1, userIdentity={"type": "AssumedRole", "arn": "arn:a", "accountId": "111", "principalId": 7,
                                "invokedBy": None, "extra": {"deep": [1, {"x": None}]},
                                "sessionContext": {"sessionIssuer": issuer,
                                                   "attributes": {"mfaAuthenticated": "true"}}}),
        record(2, userIdentity={"type": "IAMUser", "sessionContext": None}),  # null intermediate
        record(3, userIdentity={"type": "IAMUser", "sessionContext": {"attributes": {"mfaAuthenticated": False}}}),
        record(4, userIdentity=None),
        record(5),  # no userIdentity at all
        record(6, userIdentity={}),
        record(7, userIdentity={"sessionContext": {"sessionIssuer": None, "webIdFederationData": {}}}),
    ]
    assert b.add(document(*docs), 1) == 7
    rows = read(b)
    ident = [{k.removeprefix("userIdentity."): v for k, v in r.items() if k.startswith("userIdentity.")}
             for r in rows]
    none = dict.fromkeys(IDENTITY)
    assert ident[0] == {**none, "type": "AssumedRole", "arn": "arn:a", "accountId": "111", "principalId": "7",
                        "sessionContext.sessionIssuer.arn": "arn:aws:iam::1:role/r",
                        "sessionContext.sessionIssuer.type": "Role",
                        "sessionContext.attributes.mfaAuthenticated": "true"}
    assert ident[1] == {**none, "type": "IAMUser"}
    assert ident[2] == {**none, "type": "IAMUser", "sessionContext.attributes.mfaAuthenticated": "false"}
    assert ident[3] == ident[4] == ident[5] == ident[6] == none


def test_identity_may_be_empty_then_user_identity_is_not_read() -> None:
    b = builder(identity=[])
    # userIdentity twice, or a string: not kept, so only validated
    raw = (b'{"Records":[{"eventTime":"t","eventID":"e","eventSource":"s","eventName":"n",'
           b'"userIdentity":"x","userIdentity":{"type":[1]}}]}')
    assert b.add(raw, 2) == 1
    assert [c for c in read(b)[0] if c.startswith("userIdentity")] == []


def test_members_are_minified_json_text() -> None:
    b = builder()
    raw = (b'{"Records":[{"eventTime":"t","eventID":"e1","eventSource":"s","eventName":"n",\n'
           b'  "requestParameters" : {\n\t"a" : "x  y\\t" ,\r\n "b":[ 1 , 2.50 , -0 , 1E+2 ,true,false,null ],'
           b'  "c":"\\n\\u00e9\\"\\/", "d" : { } , "e": [ ], "\\u0066": "caf\xc3\xa9" } ,'
           b'"responseElements":"a \\"string\\"","additionalEventData":12.0e3,"resources":[],"tlsDetails":null},'
           b'{"eventTime":"t","eventID":"e2","eventSource":"s","eventName":"n","responseElements":true,'
           b'"resources":[{"ARN":"arn:x","type":"AWS::S3::Object"}],"additionalEventData":false}]}')
    assert b.add(raw, 0) == 2
    rows = read(b)
    assert rows[0]["requestParameters"] == ('{"a":"x  y\\t","b":[1,2.50,-0,1E+2,true,false,null],'
                                            '"c":"\\n\\u00e9\\"\\/","d":{},"e":[],"\\u0066":"café"}')
    assert rows[0]["responseElements"] == '"a \\"string\\""'
    assert rows[0]["additionalEventData"] == "12.0e3"
    assert rows[0]["resources"] == "[]"
    assert rows[0]["tlsDetails"] is None
    assert rows[1]["requestParameters"] is None
    assert rows[1]["responseElements"] == "true"
    assert rows[1]["resources"] == '[{"ARN":"arn:x","type":"AWS::S3::Object"}]'
    assert rows[1]["additionalEventData"] == "false"


def test_a_member_is_copied_only_onto_the_rows_of_its_scope() -> None:
    scopes = {"requestParameters": [("eventName", False, ["PutBucketPolicy"]),
                                    ("eventSource", True, ["iam.amazonaws.com"])],
              "responseElements": []}  # a scope with no test: never kept
    b = Builder(FIELDS, MEMBERS, IDENTITY, scopes=scopes)
    params = {"bucketName": "b"}
    rows = [record(1, eventName="PutBucketPolicy", requestParameters=params, responseElements={"x": 1},
                   additionalEventData={"y": 2}),
            record(2, eventName="putBucketPolicy", requestParameters=params),  # exact test: the case counts
            record(3, eventSource="IAM.amazonaws.com", requestParameters=params),  # lower(): matches
            record(4, eventSource="IAM.amazonaws.coM ", requestParameters=params),  # not the same length
            record(5, eventSource="ıam.amazonaws.com", requestParameters=params),  # not ASCII: kept, SQL decides
            record(6, eventName="GetObject", requestParameters=params, additionalEventData={"y": 3})]
    assert b.add(document(*rows), 0) == 6
    got = {row["eventID"]: row for row in read(b)}
    kept = {k for k, row in got.items() if row["requestParameters"] is not None}
    assert kept == {"ev-1", "ev-3", "ev-5"}
    assert all(json.loads(got[k]["requestParameters"]) == params for k in kept)
    assert all(row["responseElements"] is None for row in got.values())
    assert json.loads(got["ev-6"]["additionalEventData"]) == {"y": 3}  # unscoped members are kept on every row


def test_a_member_after_the_fields_its_scope_tests_is_still_scoped() -> None:
    b = Builder(FIELDS, MEMBERS, IDENTITY, scopes={"requestParameters": [("eventName", False, ["ListUsers"])]})
    raw = (b'{"Records":[{"requestParameters":{"a":1},"eventTime":"t","eventID":"e1","eventSource":"s",'
           b'"eventName":"ListUsers"},{"requestParameters":{"a":2},"eventTime":"t","eventID":"e2",'
           b'"eventSource":"s","eventName":"ListRoles"}]}')
    assert b.add(raw, 0) == 2
    assert [row["requestParameters"] for row in read(b)] == ['{"a":1}', None]


@pytest.mark.parametrize(("scopes", "error"), [
    ({"eventName": []}, ValueError),  # a field, not a member
    ({"requestParameters": [("userAgentX", False, ["a"])]}, ValueError),  # not one of the fields
    ({"requestParameters": [("eventName", False)]}, TypeError),
    ({"requestParameters": [("eventName", False, [1])]}, TypeError),
    ({"requestParameters": "eventName"}, TypeError),
    ([("requestParameters", [])], TypeError),
])
def test_scopes_are_checked(scopes: Any, error: type[Exception]) -> None:
    with pytest.raises(error):
        Builder(FIELDS, MEMBERS, IDENTITY, scopes=scopes)


def test_reset_empties_the_builder_for_reuse_once_nothing_exported_is_alive() -> None:
    b = builder()
    assert b.add(document(record(1, requestParameters={"a": 1}), record(2)), 7) == 2
    capsule = b.__arrow_c_stream__()
    assert not b.reset()  # a stream is alive: the buffers are shared
    with pytest.raises(RuntimeError):
        b.add(document(record(3)), 8)
    del capsule
    gc.collect()
    assert b.reset() and b.rows == 0
    assert b.add(document(record(4, awsRegion=None)), 9) == 1
    [row] = read(b)  # nothing of the rows before: no stale value, validity bit or offset
    assert (row["eventID"], row["awsRegion"], row["requestParameters"]) == ("ev-4", None, None)
    assert row["cloudwardenFile"] == 9
    assert b.reset()  # DuckDB let go of what it scanned


def test_documents_append_with_their_file_index() -> None:
    b = builder()
    assert b.add(document(record(1), record(2)), 0) == 2
    assert b.add(b'  \r\n\t{ "Other" : [1, {"Records": 2}], "Records" : [' + json.dumps(record(3)).encode()
                 + b'] , "x": null }\n\n', -(2**31)) == 1
    assert b.add(document(*(record(n) for n in range(4, 1004))), 2**31 - 1) == 1000
    assert b.rows == 1003
    rows = read(b)
    assert [r["eventID"] for r in rows] == [f"ev-{n}" for n in range(1, 1004)]
    assert [r["cloudwardenFile"] for r in rows] == [0, 0, -(2**31)] + [2**31 - 1] * 1000


def test_big_values_grow_the_buffers() -> None:
    b = builder()
    big = "é" * 300_000 + "\\" * 1000
    params = {"k" * 10: list(range(5000)), "s": big}
    assert b.add(document(record(1, userAgent=big, requestParameters=params)), 0) == 1
    assert b.nbytes > 2 * len(big.encode())
    [row] = read(b)
    assert row["userAgent"] == big
    assert json.loads(row["requestParameters"]) == params


def test_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="eventName"):
        Builder(["eventTime", "eventID", "eventSource"], [], [])
    with pytest.raises(ValueError, match="eventID"):
        Builder(["eventTime", "eventSource", "eventName"], ["eventID"], [])
    with pytest.raises(ValueError, match="twice"):
        Builder([*REQUIRED, "awsRegion", "awsRegion"], [], [])
    with pytest.raises(ValueError, match="twice"):
        Builder([*REQUIRED, "awsRegion"], ["awsRegion"], [])
    with pytest.raises(ValueError, match="userIdentity"):
        Builder([*REQUIRED, "userIdentity"], [], [])
    with pytest.raises(ValueError, match="userIdentity"):
        Builder(REQUIRED, ["userIdentity"], [])
    with pytest.raises(ValueError, match="empty"):
        Builder(REQUIRED, [], [""])
    for bad_path in ["a..b", ".a", "a.", "a.b.c.d"]:
        with pytest.raises(ValueError, match="dotted path"):
            Builder(REQUIRED, [], [bad_path])
    with pytest.raises(ValueError, match="repeats"):
        Builder(REQUIRED, [], ["arn", "arn"])
    with pytest.raises(ValueError, match="prefix"):
        Builder(REQUIRED, [], ["sessionContext", "sessionContext.attributes.x"])
    with pytest.raises(ValueError, match="prefix"):
        Builder(REQUIRED, [], ["sessionContext.attributes.x", "sessionContext.attributes"])
    with pytest.raises(ValueError, match="two columns"):
        Builder([*REQUIRED, "userIdentity.arn"], [], ["arn"])
    with pytest.raises(ValueError, match="two columns"):
        Builder([*REQUIRED, "cloudwardenFile"], [], [])
    with pytest.raises(ValueError, match="NUL"):
        Builder([*REQUIRED, "a\0b"], [], [])
    with pytest.raises(ValueError, match="empty"):
        Builder([*REQUIRED, ""], [], [])
    with pytest.raises(TypeError):
        Builder("eventID", [], [])  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Builder([*REQUIRED, 1], [], [])  # type: ignore[list-item]
    b = Builder(tuple(REQUIRED), (), ())
    with pytest.raises(TypeError):
        b.add(document(record()).decode(), 0)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        b.add(bytearray(document(record())), 0)  # type: ignore[arg-type]
    with pytest.raises(OverflowError):
        b.add(document(record()), 2**31)
    with pytest.raises(OverflowError):
        b.add(document(record()), -(2**31) - 1)
    with pytest.raises(OverflowError):
        b.add(document(record()), 2**80)
    assert b.rows == 0
    with pytest.raises(RuntimeError, match="already initialized"):
        b.__init__(REQUIRED, [], [])  # type: ignore[misc]
    shell = Builder.__new__(Builder)  # never initialized: refused, not a crash
    assert (shell.rows, shell.nbytes) == (0, 0)
    with pytest.raises(RuntimeError, match="not initialized"):
        shell.add(GOOD_1, 0)
    with pytest.raises(RuntimeError, match="not initialized"):
        shell.__arrow_c_stream__()


# --- declines -------------------------------------------------------------------------------------------------

GOOD_1 = document(record(1, awsRegion="r1", userIdentity={"type": "IAMUser"}, requestParameters={"a": [1, "é"]}))
GOOD_2 = document(record(2, userAgent="ua", userIdentity={"sessionContext": {"sessionIssuer": {"arn": "arn:2"}}}))
R = json.dumps(record(9), separators=(",", ":")).encode()  # a good record to build bad documents around
R_OPEN = R[:-1]  # ... to which keys can be appended: R_OPEN + b',"k":v}'


def _in_record(fragment: bytes) -> bytes:
    """A document whose second record carries `fragment` as one more key (after a good first record)."""
    return b'{"Records":[' + R + b"," + R_OPEN + b"," + fragment + b"]}"


def _field(value: bytes) -> bytes:
    return _in_record(b'"awsRegion":' + value + b"}")


def _unkept(value: bytes) -> bytes:
    return _in_record(b'"notKept":' + value + b"}")


def _string_everywhere(raw: bytes) -> dict[str, bytes]:
    """`raw` inside a string: a kept field, an unkept key, a key, a member, an identity leaf, a top-level key."""
    return {
        "field": _field(b'"a' + raw + b'b"'),
        "unkept": _unkept(b'"a' + raw + b'b"'),
        "key": _in_record(b'"a' + raw + b'b":1}'),
        "member": _in_record(b'"requestParameters":{"k":["a' + raw + b'b"]}}'),
        "identity": _in_record(b'"userIdentity":{"type":"a' + raw + b'b"}}'),
        "top": b'{"Records":[' + R + b'],"a' + raw + b'b":0}',
    }


DECLINES: dict[str, bytes] = {
    # not one strict JSON value followed by whitespace
    "empty": b"",
    "whitespace only": b" \n",
    "trailing garbage": GOOD_1 + b"x",
    "second value": GOOD_1 + b" {}",
    "truncated": GOOD_1[:-1],
    "truncated in a record": GOOD_1[: len(GOOD_1) // 2],
    "utf-8 bom": b"\xef\xbb\xbf" + GOOD_1,
    "trailing comma in object": _in_record(b'"x":1,}'),
    "trailing comma in array": b'{"Records":[' + R + b",]}",
    "trailing comma at top": b'{"Records":[' + R + b"],}",
    "missing colon": _in_record(b'"x" 1}'),
    "missing comma": _in_record(b'"x":1 "y":2}'),
    "comma for colon": _in_record(b'"x",1}'),
    "unquoted key": _in_record(b"x:1}"),
    "single quotes": _unkept(b"'x'"),
    "unclosed array": _unkept(b"[1,2}"),
    "mismatched brackets": _unkept(b"[1,2}]"),
    "bare value in object": _in_record(b'"x":1,2}'),
    "vertical tab as whitespace": _in_record(b'"x":\x0b1}'),
    "nbsp as whitespace": _in_record(b'"x":\xc2\xa01}'),
    **{f"literal {lit!r}": _unkept(lit) for lit in [b"tru", b"nul", b"True", b"NULL", b"falsey", b"nan"]},
    **{f"constant {c!r}": _unkept(c) for c in [b"NaN", b"Infinity", b"-Infinity"]},
    **{f"number {n!r}": _unkept(n) for n in [b"01", b"-01", b"1.", b".5", b"-", b"1e", b"1e+", b"+1", b"0x10",
                                               b"1.5.2", b"--1", b"1e5.5", b"\xd9\xa3"]},
    "number in a kept field": _field(b"00"),
    # strings
    **{f"control {c!r} in {where}": doc for c in [b"\x00", b"\x01", b"\n", b"\t", b"\x1f"]
       for where, doc in _string_everywhere(c).items()},
    **{f"escape {e!r} in {where}": doc
       for e in [b"\\x41", b"\\u12", b"\\u12G4", b"\\U0041", b"\\a", b"\\'", b"\\0", b"\\u0000", b"\\ud800",
                 b"\\udc00", b"\\uDFFF", b"\\ud800\\u0041", b"\\ud800\\ud800", b"\\udc00\\ud800", b"\\ud800x",
                 b"\\ud800\\", b"\\ud800\\n"]
       for where, doc in _string_everywhere(e).items()},
    "backslash before the closing quote": _field(b'"ab\\"}'),
    "high surrogate at the end of a string": _field(b'"ab\\ud83d"'),
    **{f"utf-8 {name} in {where}": doc
       for name, seq in [("overlong /", b"\xc0\xaf"), ("overlong 3", b"\xe0\x80\xaf"),
                         ("overlong 4", b"\xf0\x80\x80\xaf"), ("c1 lead", b"\xc1\xbf"), ("surrogate", b"\xed\xa0\x80"),
                         ("low surrogate", b"\xed\xbf\xbf"),
                         ("above 10FFFF", b"\xf4\x90\x80\x80"), ("f5 lead", b"\xf5\x80\x80\x80"), ("ff", b"\xff"),
                         ("lone continuation", b"\x80"), ("truncated 2", b"\xc3"), ("truncated 3", b"\xe2\x82"),
                         ("truncated 4", b"\xf0\x9f\x98"), ("bad continuation", b"\xc3\x28")]
       for where, doc in _string_everywhere(seq).items()},
    "utf-8 truncated at the end": GOOD_1[:-4] + b"\xe2\x82",
    # nesting
    "nesting 513": _unkept(b"[" * 510 + b"]" * 510),
    "nesting 513 in a member": _in_record(b'"requestParameters":' + b"[" * 510 + b"]" * 510 + b"}"),
    "nesting 513 in identity": _in_record(b'"userIdentity":{"x":' + b"[" * 509 + b"]" * 509 + b"}}"),
    "nesting 513 at top": b'{"Records":[' + R + b'],"x":' + b"[" * 512 + b"]" * 512 + b"}",
    "nesting 100000": _unkept(b"[" * 100_000 + b"]" * 100_000),
    # the envelope
    "top-level array": b"[" + R + b"]",
    "top-level string": b'"Records"',
    "top-level number": b"1",
    "top-level null": b"null",
    "empty object": b"{}",
    "no Records": b'{"records":[' + R + b"]}",
    "Records twice": b'{"Records":[' + R + b'],"Records":[' + R + b"]}",
    "Records twice via an escape": b'{"Records":[' + R + b'],"Record\\u0073":[' + R + b"]}",
    "Records an object": b'{"Records":' + R + b"}",
    "Records null": b'{"Records":null}',
    "Records a string": b'{"Records":"x"}',
    "Records empty": b'{"Records":[]}',
    "Records empty with spaces": b'{"Records":[ ]}',
    **{f"record {v!r}": b'{"Records":[' + R + b"," + v + b"]}" for v in [b"1", b"null", b'"x"', b"true", b"[]"]},
    "record an array of records": b'{"Records":[[' + R + b"]]}",
    # required keys
    **{f"required {k} {how}": document(record(1), {**record(2), k: v} if how != "absent" else
                                       {kk: vv for kk, vv in record(2).items() if kk != k})
       for k in REQUIRED
       for how, v in [("absent", None), ("null", None), ("number", 1), ("true", True), ("object", {}),
                      ("array", ["x"])]},
    # kept keys twice
    "field twice": _in_record(b'"awsRegion":"a","awsRegion":"a"}'),
    "field twice, once null": _in_record(b'"awsRegion":null,"awsRegion":"a"}'),
    "required twice": _in_record(b'"eventID":"x"}'),
    "field twice via an escape": _in_record(b'"awsRegion":"a","aws\\u0052egion":"b"}'),
    "member twice": _in_record(b'"requestParameters":{},"requestParameters":{}}'),
    "member twice, once null": _in_record(b'"requestParameters":null,"requestParameters":null}'),
    "userIdentity twice": _in_record(b'"userIdentity":{},"userIdentity":{}}'),
    "userIdentity twice, once null": _in_record(b'"userIdentity":null,"userIdentity":{}}'),
    "identity leaf twice": _in_record(b'"userIdentity":{"type":"a","type":"a"}}'),
    "identity leaf twice via an escape": _in_record(b'"userIdentity":{"type":"a","typ\\u0065":"b"}}'),
    "identity intermediate twice": _in_record(b'"userIdentity":{"sessionContext":{},"sessionContext":null}}'),
    "identity deep leaf twice": _in_record(
        b'"userIdentity":{"sessionContext":{"sessionIssuer":{"arn":"a","arn":null}}}}'),
    # kept values of the wrong shape
    "field an object": _field(b'{"a":1}'),
    "field an array": _field(b'["a"]'),
    "field an empty object": _field(b"{}"),
    **{f"userIdentity {v!r}": _in_record(b'"userIdentity":' + v + b"}") for v in [b'"x"', b"1", b"[]", b"true"]},
    **{f"intermediate {v!r}": _in_record(b'"userIdentity":{"sessionContext":' + v + b"}}")
       for v in [b'"x"', b"0", b"[{}]", b"false"]},
    "deep intermediate a string": _in_record(b'"userIdentity":{"sessionContext":{"sessionIssuer":"x"}}}'),
    "identity leaf an object": _in_record(b'"userIdentity":{"type":{}}}'),
    "identity leaf an array": _in_record(b'"userIdentity":{"type":["IAMUser"]}}'),
    "deep identity leaf an array": _in_record(
        b'"userIdentity":{"sessionContext":{"attributes":{"mfaAuthenticated":[]}}}}'),
    # bad JSON after the records were read
    "bad JSON after Records": b'{"Records":[' + R + b'],"x":[1,}',
    "bad JSON in a later record": b'{"Records":[' + R + b"," + R + b"," + R_OPEN + b',"x":tru}]}',
}


@pytest.mark.parametrize("raw", DECLINES.values(), ids=DECLINES.keys())
def test_declines_append_nothing(raw: bytes) -> None:
    b = builder()
    assert b.add(GOOD_1, 1) == 1
    nbytes = b.nbytes
    assert b.add(raw, 2) == -1
    assert b.rows == 1
    assert b.nbytes >= nbytes
    assert b.add(GOOD_2, 3) == 1  # the builder goes on where it was
    assert b.rows == 2
    assert read(b) == [_expected_row(GOOD_1, 1), _expected_row(GOOD_2, 3)]


def _expected_row(doc: bytes, file: int) -> dict[str, Any]:
    rows = reference(doc, FIELDS, MEMBERS, IDENTITY)
    assert rows is not None and len(rows) == 1
    return {**{k: (_render_member(v) if k in MEMBERS else v) for k, v in rows[0].items()}, "cloudwardenFile": file}


def _render_member(value: Any) -> str | None:
    return None if value is None else json.dumps(_plain(value), separators=(",", ":"), ensure_ascii=False)


def _plain(value: Any) -> Any:
    if isinstance(value, _Obj):
        return {k: _plain(v) for k, v in value}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, _Num):
        return json.loads(value)
    return value


ACCEPTS: dict[str, bytes] = {
    "unkept key twice": _in_record(b'"notKept":1,"notKept":{"a":1}}'),
    "unkept identity key twice": _in_record(b'"userIdentity":{"accessKeyId":"a","accessKeyId":[]}}'),
    "unkept top-level key twice": b'{"x":1,"Records":[' + R + b'],"x":[]}',
    "nesting 512": _unkept(b"[" * 509 + b"]" * 509),
    "nesting 512 in a member": _in_record(b'"requestParameters":' + b"[" * 509 + b"]" * 509 + b"}"),
    "nesting 512 at top": b'{"Records":[' + R + b'],"x":' + b"[" * 511 + b"]" * 511 + b"}",
    "unkept values of every shape": _unkept(b'[{"a":[]},{},[],"",0,-0.0e-0,true,false,null,"\\u00e9\\ud83d\\ude00"]'),
    "all whitespace kinds": b' \t\r\n{ \t\r\n"Records" \t\r\n: \t\r\n[ \t\r\n' + R + b' \t\r\n] \t\r\n} \t\r\n',
    "DEL and U+FFFF in strings": _field(b'"\x7f\xef\xbf\xbf\xf4\x8f\xbf\xbf"'),
    "escaped kept keys": _in_record(b'"\\u0061wsRegion":"r","\\u0075serIdentity":{"\\u0074ype":"t"}}'),
}


@pytest.mark.parametrize("raw", ACCEPTS.values(), ids=ACCEPTS.keys())
def test_unusual_but_valid_documents_are_accepted(raw: bytes) -> None:
    expected = reference(raw, FIELDS, MEMBERS, IDENTITY)
    assert expected is not None  # the reference agrees the document is to be taken
    b = builder()
    assert b.add(raw, 4) == len(expected)
    _compare(read(b), [(4, row) for row in expected])


def test_decline_reasons_agree_with_the_reference() -> None:
    """The Python reference of the fuzz test declines each DECLINES document too (it is a faithful oracle)."""
    wrong = [name for name, raw in DECLINES.items() if reference(raw, FIELDS, MEMBERS, IDENTITY) is not None]
    assert wrong == []


# --- the reference: the standard library's json, and the rules written out in Python ---------------------------


class _Num(str):
    """A JSON number's text, as written."""


class _Obj(list[tuple[str, Any]]):
    """A JSON object's (key, value) pairs, in order, duplicates kept."""


def _no_constants(name: str) -> Any:
    raise ValueError(f"not JSON: {name}")


def _parse(text: str) -> Any:
    return json.loads(text, object_pairs_hook=_Obj, parse_int=_Num, parse_float=_Num, parse_constant=_no_constants)


_BAD_TEXT = re.compile("[\x00\ud800-\udfff]")  # an escaped U+0000, or a surrogate left unpaired by escapes


def _clean(top: Any) -> bool:
    """No container nested deeper than 512 (the top-level value is depth 1), no bad string or key."""
    stack = [(top, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, list):  # an array or an _Obj
            if depth > 512:
                return False
            for item in value:
                if isinstance(value, _Obj):
                    key, item = item
                    if _BAD_TEXT.search(key):
                        return False
                stack.append((item, depth + 1))
        elif isinstance(value, str) and not isinstance(value, _Num) and _BAD_TEXT.search(value):
            return False
    return True


_PLAIN_INTEGER = re.compile(r"-?(0|[1-9][0-9]{0,17})")


def _rewritten(value: Any) -> bool:
    """A number DuckDB's JSON reader would not keep as written in a text column (see plain_integer in the C)."""
    return isinstance(value, _Num) and (value == "-0" or not _PLAIN_INTEGER.fullmatch(value))


def _scalar(value: Any) -> str | None:
    if value is None:
        return None
    if value is True:
        return "true"
    if value is False:
        return "false"
    return str(value)


def _identity_tree(paths: Sequence[str]) -> dict[str, Any]:
    tree: dict[str, Any] = {}
    for path in paths:
        *parents, leaf = path.split(".")
        node = tree
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = None
    return tree


def _walk_identity(obj: _Obj | None, node: dict[str, Any], prefix: str, out: dict[str, Any]) -> bool:
    pairs = obj if obj is not None else _Obj()
    counts = Counter(k for k, _ in pairs)
    values = dict(pairs)
    for key, sub in node.items():
        if counts[key] > 1:
            return False
        value = values.get(key)
        if sub is None:
            if isinstance(value, list) or _rewritten(value):  # an object or an array, or a rewritten number
                return False
            out[prefix + key] = _scalar(value)
        else:
            if value is not None and not isinstance(value, _Obj):
                return False
            if not _walk_identity(value, sub, f"{prefix}{key}.", out):
                return False
    return True


def reference(doc: bytes, fields: Sequence[str], members: Sequence[str],
              identity: Sequence[str]) -> list[dict[str, Any]] | None:
    """The rows the builder must produce for `doc` (members as parsed values), or None where it must decline."""
    try:
        top = _parse(doc.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None
    if not isinstance(top, _Obj) or not _clean(top):
        return None
    found = [v for k, v in top if k == "Records"]
    if len(found) != 1 or type(found[0]) is not list or not found[0]:
        return None
    kept = {*fields, *members, *(["userIdentity"] if identity else [])}
    tree = _identity_tree(identity)
    rows = []
    for rec in found[0]:
        if not isinstance(rec, _Obj):
            return None
        counts = Counter(k for k, _ in rec)
        if any(counts[k] > 1 for k in kept):
            return None
        values = dict(rec)
        if any(type(values.get(k)) is not str for k in REQUIRED):
            return None
        row: dict[str, Any] = {}
        for f in fields:
            if isinstance(values.get(f), list) or _rewritten(values.get(f)):
                return None
            row[f] = _scalar(values.get(f))
        for m in members:
            row[m] = values.get(m)
        if identity:
            ui = values.get("userIdentity")
            if ui is not None and not isinstance(ui, _Obj):
                return None
            ident: dict[str, Any] = {}
            if not _walk_identity(ui, tree, "", ident):
                return None
            row.update({f"userIdentity.{p}": ident[p] for p in identity})
        rows.append(row)
    return rows


def _canon(value: Any) -> Any:
    """A form where a number, a string and an object's pairs cannot compare equal to one another."""
    if isinstance(value, _Obj):
        return ("object", [(k, _canon(v)) for k, v in value])
    if isinstance(value, list):
        return ("array", [_canon(v) for v in value])
    if isinstance(value, _Num):
        return ("number", str(value))
    if isinstance(value, str):
        return ("string", value)
    return ("literal", value)


_MINIFY = re.compile(rb'("(?:[^"\\]|\\.)*")|[ \t\r\n]+', re.DOTALL)


def _minify(raw: bytes) -> bytes:
    """Valid JSON text without whitespace outside strings."""
    return _MINIFY.sub(lambda m: m.group(1) or b"", raw)


def _compare(got: list[dict[str, Any]], expected: list[tuple[int, dict[str, Any]]],
             documents: dict[int, bytes] | None = None) -> None:
    assert len(got) == len(expected)
    minified_docs = {file: _minify(doc) for file, doc in (documents or {}).items()}
    for row, (file, want) in zip(got, expected, strict=True):
        assert row["cloudwardenFile"] == file
        assert set(row) == {*want, "cloudwardenFile"}
        for key, value in want.items():
            if key not in MEMBERS:
                assert row[key] == value, (file, key)
            elif value is None:
                assert row[key] is None, (file, key)
            else:
                text = row[key]
                assert isinstance(text, str)
                assert _canon(_parse(text)) == _canon(value), (file, key)
                minified = text.encode()
                assert _minify(minified) == minified, (file, key)  # no whitespace outside strings
                if documents is not None:  # strings byte for byte, escapes as written
                    assert minified in minified_docs[file], (file, key)


# --- the differential fuzz ------------------------------------------------------------------------------------


def _handmade_records() -> list[dict[str, Any]]:
    issuer = {"type": "Role", "principalId": "AROA:x", "arn": "arn:aws:iam::222222222222:role/Admin",
              "accountId": "222222222222", "userName": "Admin"}
    return [
        record(1, awsRegion="us-east-1", readOnly=True, userAgent="aws-cli/2.15 Python/3.11 \"quoted\" \\ back",
               sourceIPAddress="198.51.100.23", eventType="AwsApiCall", recipientAccountId="222222222222",
               userIdentity={"type": "AssumedRole", "principalId": "AROA:alice",
                             "arn": "arn:aws:sts::2:assumed-role/A/a", "accountId": "222222222222",
                             "accessKeyId": "ASIA", "invokedBy": "s3.amazonaws.com",
                             "sessionContext": {"sessionIssuer": issuer, "webIdFederationData": {},
                                                "attributes": {"creationDate": "2026-03-01T09:00:00Z",
                                                               "mfaAuthenticated": "false"}}},
               requestParameters={"bucketName": "b", "key": "dir/ünïcödé 😀.txt", "x-amz-meta": {"a": [1, 2.5, -3e2]},
                                  "filter": {"and": [{"tag": "\t\n"}, None, True, False]}},
               responseElements={"credentials": {"accessKeyId": "ASIA", "expiration": "Mar 1, 2026 11:00:00 AM"}},
               additionalEventData={"SignatureVersion": "SigV4", "bytesTransferredIn": 0.0, "x": []},
               resources=[{"ARN": "arn:aws:s3:::b", "type": "AWS::S3::Bucket"}],
               tlsDetails={"tlsVersion": "TLSv1.3", "clientProvidedHostHeader": "b.s3.amazonaws.com"}),
        record(2, errorCode="AccessDenied", errorMessage="User: arn:aws:iam::2:user/bob is not authorized\u2028 ✓",
               userIdentity={"type": "IAMUser", "userName": "bob", "sessionContext": None}, readOnly=False,
               requestParameters=None, responseElements=None),
        record(3, eventName="ConsoleLogin", userIdentity=None, awsRegion=None, responseElements={"ConsoleLogin": "OK"},
               additionalEventData={"MFAUsed": "No", "LoginTo": "https://console.aws.amazon.com/"}),
        record(4, eventSource="ec2.amazonaws.com",
               userIdentity={"type": "AWSService", "invokedBy": "ec2.amazonaws.com"},
               requestParameters={"instancesSet": {"items": [{"instanceId": f"i-{n:08x}"} for n in range(20)]}},
               readOnly=True, recipientAccountId=222222222222, userAgent=125),
    ]


def _base_documents() -> list[bytes]:
    recs = _handmade_records()
    docs = [document(*recs), document(recs[0]), document(recs[1], recs[3]), document(recs[2]),
            json.dumps({"Records": recs, "extra": {"x": 1}}, indent=1, ensure_ascii=True).encode()]
    docs += [document(*records[:3]) for records in _stratus_records()]
    return docs


def _stratus_records() -> list[list[Any]]:
    """Each Stratus Red Team detonation log's records (a JSON array per file). Without ../shared: none, so the
    handmade documents still run; under CI=true that fails instead, as every test of third-party data does."""
    if not STRATUS.is_dir():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{STRATUS} is absent (third-party test data is read in place from ../shared)")
        return []
    return [json.loads(path.read_bytes()) for path in sorted(STRATUS.glob("*.json"))]


def _stratus_documents() -> list[bytes]:
    return [json.dumps({"Records": records}, indent=3).encode() for records in _stratus_records()]


def test_differential_against_json_on_realistic_documents() -> None:
    docs = _base_documents() + _stratus_documents()
    for identity in (IDENTITY, []):
        b = builder(identity=identity)
        expected: list[tuple[int, dict[str, Any]]] = []
        for i, doc in enumerate(docs):
            rows = reference(doc, FIELDS, MEMBERS, identity)
            assert rows is not None, i  # every base document is good
            assert b.add(doc, i) == len(rows)
            expected += [(i, row) for row in rows]
        _compare(read(b), expected, dict(enumerate(docs)))
    if STRATUS.is_dir():
        assert len(expected) >= 300  # the Stratus files were read, not skipped


_ESCAPES = [b"\\u0000", b"\\ud800", b"\\udc00", b"\\ud83d\\ude00", b"\\ud83d", b'\\"', b"\\x", b"\\u00e9", b"\\/",
            b"\\", b"\\u", b"\\uDBFF\\uDFFF", b"\\n", b"\\u00", b"\\b"]
_HIGH = [b"\xc3\xa9", b"\xc0\xaf", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xe2\x82", b"\x80", b"\xff",
         b"\xf0\x9f\x98\x80", b"\xef\xbb\xbf", b"\xe0\xa0\x80", b"\xf4\x8f\xbf\xbf"]
_TOKENS = [b"{", b"}", b"[", b"]", b",", b":", b'"', b" ", b"\n", b"null", b"0", b"-", b"1e5", b"true", b"\t"]


def _mutate(rng: random.Random, doc: bytes) -> bytes:
    data = bytearray(doc)
    for _ in range(rng.choice((1, 1, 1, 2, 3))):
        pos = rng.randrange(len(data) + 1)
        kind = rng.randrange(9)
        if kind == 0:
            del data[rng.randrange(len(data) + 1):]
        elif kind == 1 and data:
            data[min(pos, len(data) - 1)] = rng.randrange(256)
        elif kind == 2:
            data[pos:pos] = bytes([rng.randrange(256)])
        elif kind == 3 and data:
            del data[min(pos, len(data) - 1)]
        elif kind == 4:
            data[pos:pos] = rng.choice(_ESCAPES)
        elif kind == 5:
            data[pos:pos] = rng.choice(_HIGH)
        elif kind == 6:
            data[pos:pos] = rng.choice(_TOKENS)
        elif kind == 7:  # a copy of a slice elsewhere: repeated keys, records, values
            start = rng.randrange(len(data) + 1)
            data[pos:pos] = data[start:start + rng.randrange(1, 80)]
        else:  # inside a string, after a quote: escapes and bytes that keep the JSON valid or nearly
            quotes = [m.end() for m in re.finditer(b'"', data)]
            if quotes:
                at = rng.choice(quotes)
                data[at:at] = rng.choice(_ESCAPES + _HIGH + [b"\\u00e9", b"\\\\", b" "])
    return bytes(data)


def test_fuzz_mutations_never_crash_and_match_the_reference() -> None:
    rng = random.Random(20260301)
    bases = _base_documents()
    accepted = declined = 0
    for chunk in range(16):
        identity = IDENTITY if chunk % 3 else ["type", "sessionContext.attributes.mfaAuthenticated"]
        b = builder(identity=identity)
        expected: list[tuple[int, dict[str, Any]]] = []
        documents: dict[int, bytes] = {}
        for n in range(400):
            index = chunk * 1000 + n
            doc = _mutate(rng, rng.choice(bases))
            rows = reference(doc, FIELDS, MEMBERS, identity)
            got = b.add(doc, index)
            if rows is None:
                assert got == -1, doc
                declined += 1
            else:
                assert got == len(rows), doc
                expected += [(index, row) for row in rows]
                documents[index] = doc
                accepted += 1
            assert b.rows == len(expected)
        _compare(read(b), expected, documents)
    # both sides were exercised
    assert accepted > 1000
    assert declined > 3000


# --- the Arrow export -----------------------------------------------------------------------------------------


def _small() -> Builder:
    b = builder()
    assert b.add(document(record(1), record(2, awsRegion="r")), 8) == 2
    return b


def test_export_can_be_called_many_times_and_freezes_the_builder() -> None:
    b = _small()
    first = read(b)
    assert [r["eventID"] for r in first] == ["ev-1", "ev-2"]
    assert read(b) == first  # a second query (DuckDB calls __arrow_c_stream__ twice per query)
    capsules = [b.__arrow_c_stream__(), b.__arrow_c_stream__(None), b.__arrow_c_stream__(requested_schema=object())]
    con = duckdb.connect()
    for capsule in capsules:  # DuckDB scans a bare capsule, once
        con.register("c", capsule)
        assert con.execute("select eventID, awsRegion, cloudwardenFile from c").fetchall() == [
            ("ev-1", None, 8), ("ev-2", "r", 8)]
    with pytest.raises(RuntimeError, match="builder already exported"):
        b.add(document(record(3)), 0)
    assert b.rows == 2
    unread = b.__arrow_c_stream__()  # released by the capsule's destructor
    del unread


def test_exports_outlive_the_builder() -> None:
    con = duckdb.connect()
    b = _small()
    con.register("t", b)
    rel = con.sql("select eventID from b")

    class Streams:  # hands DuckDB capsules made before the builder went away
        def __init__(self, capsules: list[object]) -> None:
            self.capsules = capsules

        def __arrow_c_stream__(self, requested_schema: object | None = None) -> object:
            return self.capsules.pop()

    con.register("s", Streams([b.__arrow_c_stream__() for _ in range(4)]))
    del b
    gc.collect()
    assert con.execute("select count(*) from t").fetchall() == [(2,)]
    assert rel.fetchall() == [("ev-1",), ("ev-2",)]
    assert con.execute("select eventID from s").fetchall() == [("ev-1",), ("ev-2",)]


def test_export_through_pyarrow_is_valid_arrow() -> None:
    pa = pytest.importorskip("pyarrow")
    b = _small()
    reader = pa.RecordBatchReader.from_stream(b)
    del b
    gc.collect()
    table = reader.read_all()
    table.validate(full=True)  # offsets, validity, UTF-8
    assert table.num_rows == 2
    assert table.schema.field("eventID").type == pa.large_string()
    assert table.schema.field("cloudwardenFile").type == pa.int32()
    assert not table.schema.field("cloudwardenFile").nullable
    assert table.column("awsRegion").to_pylist() == [None, "r"]


class _ArrowSchema(ctypes.Structure):
    pass


class _ArrowArray(ctypes.Structure):
    pass


class _ArrowArrayStream(ctypes.Structure):
    pass


_ArrowSchema._fields_ = [
    ("format", ctypes.c_char_p), ("name", ctypes.c_char_p), ("metadata", ctypes.c_char_p),
    ("flags", ctypes.c_int64), ("n_children", ctypes.c_int64),
    ("children", ctypes.POINTER(ctypes.POINTER(_ArrowSchema))), ("dictionary", ctypes.POINTER(_ArrowSchema)),
    ("release", ctypes.CFUNCTYPE(None, ctypes.POINTER(_ArrowSchema))), ("private_data", ctypes.c_void_p),
]
_ArrowArray._fields_ = [
    ("length", ctypes.c_int64), ("null_count", ctypes.c_int64), ("offset", ctypes.c_int64),
    ("n_buffers", ctypes.c_int64), ("n_children", ctypes.c_int64), ("buffers", ctypes.POINTER(ctypes.c_void_p)),
    ("children", ctypes.POINTER(ctypes.POINTER(_ArrowArray))), ("dictionary", ctypes.POINTER(_ArrowArray)),
    ("release", ctypes.CFUNCTYPE(None, ctypes.POINTER(_ArrowArray))), ("private_data", ctypes.c_void_p),
]
_ArrowArrayStream._fields_ = [
    ("get_schema", ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(_ArrowArrayStream), ctypes.POINTER(_ArrowSchema))),
    ("get_next", ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(_ArrowArrayStream), ctypes.POINTER(_ArrowArray))),
    ("get_last_error", ctypes.CFUNCTYPE(ctypes.c_char_p, ctypes.POINTER(_ArrowArrayStream))),
    ("release", ctypes.CFUNCTYPE(None, ctypes.POINTER(_ArrowArrayStream))), ("private_data", ctypes.c_void_p),
]


def _move(cls: Any, address: int) -> Any:
    """Moves the Arrow struct at `address` out (the C data interface's move: copy, mark the source released)."""
    moved = cls()
    ctypes.memmove(ctypes.addressof(moved), address, ctypes.sizeof(cls))
    ctypes.memset(address + cls.release.offset, 0, ctypes.sizeof(ctypes.c_void_p))
    return moved


def test_a_raw_consumer_can_move_streams_and_children_out_and_release_them_in_any_order() -> None:
    """What the C data interface allows a consumer, done by hand (the sanitizer run checks the memory)."""
    get_pointer = ctypes.pythonapi.PyCapsule_GetPointer
    get_pointer.restype = ctypes.c_void_p
    get_pointer.argtypes = [ctypes.py_object, ctypes.c_char_p]
    b = _small()
    capsule = b.__arrow_c_stream__()
    stream = _move(_ArrowArrayStream, get_pointer(capsule, b"arrow_array_stream"))
    del capsule, b  # the capsule's struct is released (moved out); the builder goes away
    gc.collect()

    schema = _ArrowSchema()
    assert stream.get_schema(ctypes.byref(stream), ctypes.byref(schema)) == 0
    assert schema.format == b"+s"
    names = [schema.children[i].contents.name.decode() for i in range(schema.n_children)]
    assert names == [*FIELDS, *MEMBERS, *(f"userIdentity.{p}" for p in IDENTITY), "cloudwardenFile"]
    assert [schema.children[i].contents.format for i in range(schema.n_children)] == [b"U"] * (len(names) - 1) + [b"i"]
    assert schema.children[0].contents.flags == 2 and schema.children[len(names) - 1].contents.flags == 0
    kept_schema = _move(_ArrowSchema, ctypes.addressof(schema.children[1].contents))  # eventID's
    schema.release(ctypes.byref(schema))
    assert not schema.release

    array = _ArrowArray()
    assert stream.get_next(ctypes.byref(stream), ctypes.byref(array)) == 0
    assert (array.length, array.null_count, array.n_buffers, array.n_children) == (2, 0, 1, len(names))
    end = _ArrowArray()
    assert stream.get_next(ctypes.byref(stream), ctypes.byref(end)) == 0
    assert not end.release  # end of stream
    stream.release(ctypes.byref(stream))  # the stream goes before the arrays it made

    event_id = _move(_ArrowArray, ctypes.addressof(array.children[1].contents))
    region = _move(_ArrowArray, ctypes.addressof(array.children[FIELDS.index("awsRegion")].contents))
    array.release(ctypes.byref(array))  # the parent goes before the children moved out of it
    assert not array.release

    offsets = ctypes.cast(event_id.buffers[1], ctypes.POINTER(ctypes.c_int64))
    values = [ctypes.string_at(event_id.buffers[2] + offsets[i], offsets[i + 1] - offsets[i]) for i in range(2)]
    assert values == [b"ev-1", b"ev-2"]
    assert event_id.buffers[0] is None and event_id.null_count == 0  # no nulls: no bitmap
    assert region.null_count == 1
    assert ctypes.string_at(region.buffers[0], 1)[0] & 0b11 == 0b10  # row 0 null, row 1 valid
    assert kept_schema.name == b"eventID"
    event_id.release(ctypes.byref(event_id))
    kept_schema.release(ctypes.byref(kept_schema))
    region.release(ctypes.byref(region))
    assert not event_id.release and not region.release and not kept_schema.release


def test_an_empty_builder_yields_no_rows() -> None:
    b = builder()
    assert b.rows == 0
    assert b.nbytes > 0
    con = duckdb.connect()
    assert con.execute("select count(*) from b").fetchall() == [(0,)]
    assert con.execute("select * from b").fetchall() == []
    assert [d[0] for d in con.execute("select * from b").description][-1] == "cloudwardenFile"


def test_one_thread_at_a_time() -> None:
    big = document(*(record(n, userAgent="u" * 4000, requestParameters={"k": "v" * 4000}) for n in range(4000)))
    for _attempt in range(5):
        b = builder()
        results: list[int] = []
        worker = threading.Thread(target=lambda b=b, results=results: results.append(b.add(big, 1)))
        worker.start()
        refused = added = 0
        while worker.is_alive():
            try:
                assert b.add(GOOD_1, 2) == 1
                added += 1
            except RuntimeError as exc:
                assert "in use" in str(exc)
                refused += 1
                # the other thread's rows are not visible before it is done (it may be done by now)
                assert b.rows in (added, 4000 + added)
                try:
                    b.__arrow_c_stream__()
                except RuntimeError as again:
                    assert "in use" in str(again)
                else:  # the other thread finished in between; the builder is exported (frozen) now
                    break
        worker.join()
        assert results == [4000]
        assert b.rows == 4000 + added
        if refused:
            break
    assert refused, "the builder was never seen in use by another thread"
