"""Network windows across chunks and runs (detect/netlogs/engine.py through detect/carry.py).

A port scan split over two incremental runs is found when its second half is read and cites the first; one
that already fired and goes on is not counted twice; a corpus read in many chunks gives the findings of one
chunk; a crash at any commit step of a chunk that carries a tail, re-run, gives an uninterrupted run's
findings; recovery drops an orphan pending tail; network and CloudTrail tails stay apart.
"""

from __future__ import annotations

import gzip
import random
from datetime import timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest

from cloudwarden.core.finding import Finding
from cloudwarden.detect import carry, checkpoints
from cloudwarden.detect.netlogs.engine import (
    CHECKPOINT_SOURCE,
    LATENESS,
    NETWORK_LOGS,
    load_network_pack,
    network_details,
    run_network_detection,
)
from cloudwarden.lab import netlogs
from cloudwarden.lab.demo_org import OFFICE_IPS, PROD
from cloudwarden.store import Store
from tests.detect.netlogs.test_engine_checkpoints import _corpus, _state
from tests.detect.netlogs_samples import START, WEB, WORKER, flows, write_flows

SCAN = "Recon:EC2/Portscan"
SCANNED = "198.51.100.150"


def _scan(ports: int, seed: int = 7, minutes: int = 8, after: int = 0) -> list[netlogs.FlowRecord]:
    """One scan of ``ports`` different ports within ``minutes`` (inside the pack's 10-minute window), starting
    ``after`` minutes past START, in time order."""
    begin = START + timedelta(minutes=after)
    factory = netlogs.FlowFactory(PROD, random.Random(seed), begin, begin + timedelta(minutes=minutes))
    return sorted(netlogs.port_scan(factory, WEB, SCANNED, ports=ports), key=lambda r: (r.start, r.dstport))


def _benign(seed: int) -> list[netlogs.FlowRecord]:
    return netlogs.benign_flows(flows(seed), [WEB, WORKER], office_ips=OFFICE_IPS, per_interface=20)


def _run(root: Path, store: Store | None, **kw: Any) -> Any:
    return run_network_detection([root / "flow"], [], store=store, **kw)


def _of(findings: list[Finding], kind: str = SCAN) -> list[Finding]:
    return [f for f in findings if f.type == kind]


def _write(root: Path, name: str, records: list[netlogs.FlowRecord]) -> None:
    write_flows(root / "flow" / name, records)


def _ids(root: Path, name: str, records: list[netlogs.FlowRecord]) -> set[str]:
    """The event ids the flow reader gives ``records`` in the object ``name`` (``<object>:<line>``)."""
    path = root / "flow" / name
    at = {line: number for number, line in enumerate(gzip.decompress(path.read_bytes()).decode().splitlines(), 1)}
    return {f"{path.resolve()}:{at[r.line()]}" for r in records}


def _tail_rows(store: Store, tmp_path: Path, logs: carry.Logs = NETWORK_LOGS) -> dict[str, list[str]]:
    """Per table, the event ids of the tail ``logs`` keeps in the store."""
    scratch = tmp_path / f"scratch-{logs.source}"
    scratch.mkdir(exist_ok=True)
    tail = carry.load(store, scratch, logs)
    return {table: [r[0] for r in duckdb.execute("SELECT event_id FROM read_parquet(?) ORDER BY event_id",
                                                 [str(path)]).fetchall()]
            for table, path in tail.paths.items()}


def test_a_scan_split_across_two_runs_is_found_once_with_every_port_citing_both(tmp_path: Path) -> None:
    root = tmp_path / "logs"
    scan = _scan(30)
    _write(root, "a.log.gz", _benign(3) + scan[:15])
    with Store.open(tmp_path / "s.duckdb") as store:
        first = _run(root, store)
        assert _of(first.findings) == []  # 15 ports: under the pack's 25
        assert _ids(root, "a.log.gz", scan[:15]) <= set(_tail_rows(store, tmp_path)["flow_logs"])

        _write(root, "b.log.gz", _benign(4) + scan[15:])
        second = _run(root, store)
        assert second.read_report.files_read == 1 and second.stats["carried"] >= 15
        [found] = _of(second.findings)
        assert found.count == 30 and found.evidence.details["distinct_ports"] == 30
        assert set(found.evidence.event_ids) == _ids(root, "a.log.gz", scan[:15]) | _ids(root, "b.log.gz", scan[15:])
        stored = store.get_finding(found.id)
        assert stored is not None and stored.count == 30


def test_without_a_store_the_second_run_alone_finds_nothing(tmp_path: Path) -> None:
    # The control for the test above: the second half on its own is under the threshold.
    root = tmp_path / "logs"
    scan = _scan(30)
    _write(root, "b.log.gz", _benign(4) + scan[15:])
    assert _of(_run(root, None).findings) == []


def test_a_scan_that_fired_and_goes_on_in_the_next_run_is_not_counted_twice(tmp_path: Path) -> None:
    root = tmp_path / "logs"
    scan = _scan(40)
    _write(root, "a.log.gz", _benign(3) + scan[:30])
    with Store.open(tmp_path / "s.duckdb") as store:
        [first] = _of(_run(root, store).findings)
        assert first.count == 30
        _write(root, "b.log.gz", _benign(4) + scan[30:])
        second = _run(root, store)
        assert second.stats["carried"] >= 30
        [more] = _of(second.findings)
        assert more.id == first.id and more.count == 10  # the carried thirty were cited already
        assert set(more.evidence.event_ids) == _ids(root, "b.log.gz", scan[30:])
        assert more.evidence.details["distinct_ports"] == 10
        stored = store.get_finding(first.id)
        assert stored is not None and stored.count == 40  # 30 + 10: each record once


def _comparable(findings: list[Finding]) -> list[tuple[Any, ...]]:
    """What one chunk and many must agree on (the order of cited ids follows the chunks: compared as sets)."""
    return sorted((f.id, f.type, f.count, f.first_seen, f.last_seen, frozenset(f.evidence.event_ids),
                   sorted(f.evidence.details.items())) for f in findings)


@pytest.mark.parametrize("objects_a_chunk", [1, 3])
def test_many_chunks_find_what_one_chunk_finds(tmp_path: Path, objects_a_chunk: int) -> None:
    root = tmp_path / "logs"
    _corpus(root)  # the scan, the exfiltration lookups and the Tor sessions spread over every object
    sizes = sorted(p.stat().st_size for p in root.rglob("*.log.gz"))
    chunk_bytes = sum(sizes[:objects_a_chunk])  # about that many objects a chunk
    whole = _run_both(root, None)
    chunked = _run_both(root, None, chunk_bytes=chunk_bytes)
    assert whole.stats["chunks"] == 1 and chunked.stats["chunks"] > 2 and chunked.stats["carried"] > 0
    assert {SCAN, "Trojan:EC2/DNSDataExfiltration", "UnauthorizedAccess:EC2/TorClient"} <= {
        f.type for f in whole.findings}
    assert _comparable(chunked.findings) == _comparable(whole.findings)
    with Store.open(tmp_path / "one.duckdb") as one, Store.open(tmp_path / "many.duckdb") as many:
        _run_both(root, one)
        _run_both(root, many, chunk_bytes=chunk_bytes)
        assert _state(many) == _state(one)


def _run_both(root: Path, store: Store | None, **kw: Any) -> Any:
    return run_network_detection([root / "flow"], [root / "dns"], store=store, **kw)


class _Crash(Exception):
    pass


@pytest.mark.parametrize("crash_at", ["upserted", "checkpointed", "promoted"])
def test_a_crash_at_each_commit_step_of_a_carrying_chunk_then_a_rerun_ends_as_an_uninterrupted_run(
        tmp_path: Path, crash_at: str) -> None:
    root = tmp_path / "logs"
    _corpus(root)
    with Store.open(tmp_path / "clean.duckdb") as store:
        _run_both(root, store, chunk_bytes=1, run_id=store.start_run("detect"))
        expected = _state(store)
    assert any(kind == SCAN for _, kind, *_ in expected)
    calls = {"n": 0}

    def crash(step: str) -> None:
        if step == crash_at:
            calls["n"] += 1
            if calls["n"] == 2:  # the second chunk: it carries the first one's tail, and leaves its own
                raise _Crash

    with Store.open(tmp_path / "crashed.duckdb") as store:
        with pytest.raises(_Crash):
            _run_both(root, store, chunk_bytes=1, run_id=store.start_run("detect"), hook=crash)
        resumed = _run_both(root, store, chunk_bytes=1, run_id=store.start_run("detect"))
        assert resumed.stats["recovered_chunk"] == "completed" and resumed.stats["carried"] > 0
        assert resumed.stats["objects_already_read"] == 2
        assert _state(store) == expected
        assert store.get_checkpoint(CHECKPOINT_SOURCE, checkpoints.JOURNAL_KEY) == ""
        assert _tail_rows(store, tmp_path) == _tail_rows_of(tmp_path / "clean.duckdb", tmp_path)


def _tail_rows_of(path: Path, tmp_path: Path) -> dict[str, list[str]]:
    with Store.open(path) as store:
        return _tail_rows(store, tmp_path)


def test_a_crash_before_the_findings_rolls_the_chunk_back_and_drops_its_pending_tail(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "logs"
    scan = _scan(30)
    _write(root, "a.log.gz", scan[:15])
    _write(root, "b.log.gz", scan[15:])
    with Store.open(tmp_path / "s.duckdb") as store:
        _run(root, store, chunk_bytes=1)  # both halves, a chunk each: found in the second
        before = _state(store)
        tail = _tail_rows(store, tmp_path)
        _write(root, "c.log.gz", _scan(5, seed=8, minutes=1, after=8))  # goes on: a finding to commit

        def crash_mid_upsert(run_id: str | None, findings: list[Finding]) -> object:
            raise _Crash

        monkeypatch.setattr(store, "upsert_findings", crash_mid_upsert)
        with pytest.raises(_Crash):
            _run(root, store, chunk_bytes=1)
        monkeypatch.undo()
        assert checkpoints.recover(store, source=CHECKPOINT_SOURCE) == "rolled back"
        assert _state(store) == before and _tail_rows(store, tmp_path) == tail  # the old tail, still current


def test_an_orphan_pending_network_tail_is_dropped_and_cloudtrails_left_alone(tmp_path: Path) -> None:
    root = tmp_path / "logs"
    _write(root, "a.log.gz", _scan(20))
    with Store.open(tmp_path / "s.duckdb") as store:
        _run(root, store)
        current = _tail_rows(store, tmp_path)
        assert current["flow_logs"]
        carry.save_pending(store, carry.Carry())  # CloudTrail's run, killed before its journal
        carry.save_pending(store, carry.Carry(), source=CHECKPOINT_SOURCE)  # the network run's, likewise
        assert checkpoints.recover(store, source=CHECKPOINT_SOURCE) is None  # no journal: nothing to finish...
        assert carry.promote(store, source=CHECKPOINT_SOURCE) is False  # ...and the orphan is gone
        assert _tail_rows(store, tmp_path) == current
        assert carry.promote(store) is True  # CloudTrail's pending tail is its own recovery's business


def test_the_tail_holds_each_rules_window_plus_the_lateness_and_stays_apart_from_cloudtrails(
        tmp_path: Path) -> None:
    from cloudwarden.detect.engine import run_detection
    from cloudwarden.detect.rules import load_pack
    from tests.detect.ct_samples import event, write_trail_file

    root = tmp_path / "logs"
    early = netlogs.FlowFactory(PROD, random.Random(1), START - timedelta(hours=2),
                                START - timedelta(hours=1, minutes=50))
    old = netlogs.port_scan(early, WEB, SCANNED, ports=3)
    recent = _scan(3)
    _write(root, "a.log.gz", old + recent)
    trail = tmp_path / "trail"
    write_trail_file(trail / "t.json.gz", [event(n, "GetSecretValue", "secretsmanager.amazonaws.com", minute=n,
                                                 requestParameters={"secretId": f"s{n}"}) for n in (1, 2)])
    with Store.open(tmp_path / "s.duckdb") as store:
        _run(root, store)
        pack = load_pack()
        run_detection([trail], rules=pack.rules, allowlist=pack.allowlist, store=store)
        windowed = carry.windowed_rules(load_network_pack())
        assert carry.horizon(windowed, LATENESS) == timedelta(minutes=90)  # DNS exfiltration's hour + 30
        # Flow rules' windows are 10 minutes: records from two hours before the latest are not kept.
        assert set(_tail_rows(store, tmp_path)["flow_logs"]) == _ids(root, "a.log.gz", recent)
        assert set(_tail_rows(store, tmp_path, carry.CLOUDTRAIL)) == {"cloudtrail"}
        assert _tail_rows(store, tmp_path, carry.CLOUDTRAIL)["cloudtrail"] == ["ev-1", "ev-2"]


def test_a_carried_record_keeps_what_findings_quote(tmp_path: Path) -> None:
    root = tmp_path / "logs"
    scan = _scan(30)
    _write(root, "a.log.gz", scan[:15])
    with Store.open(tmp_path / "s.duckdb") as store:
        _run(root, store)
        _write(root, "b.log.gz", scan[15:])
        [found] = _of(_run(root, store).findings)
        details = found.evidence.details
        assert details["peer_addresses"] == [SCANNED] and details["interface_ids"] == [WEB.eni_id]
        assert details["directions"] == ["egress"] and details["accepted"] == 30
        assert details["packets"] == 30 and details["bytes"] == 30 * 44
        assert sorted(details["ports"]) == details["ports"] and len(details["ports"]) == 30


def test_distinct_counts_merge_exactly_unless_a_chunk_listed_only_some_values() -> None:
    first = {"ports": [22, 80], "distinct_ports": 2, "records": 2, "packets": 5}
    then = {"ports": [80, 443], "distinct_ports": 2, "records": 3, "packets": 7}
    both = network_details(first, then)
    assert (both["ports"], both["distinct_ports"], both["records"], both["packets"]) == ([22, 80, 443], 3, 5, 12)
    assert "distinct_lower_bound" not in both
    cut = {"ports": list(range(1, 51)), "distinct_ports": 60}  # a chunk that quoted 50 of its 60 ports
    merged = network_details(cut, {"ports": [5000], "distinct_ports": 1})
    assert merged["distinct_ports"] == 60 and merged["distinct_lower_bound"] is True  # 60 or 61: not known
    assert network_details(merged, then)["distinct_lower_bound"] is True


def test_the_tail_keeps_only_the_records_a_row_by_row_rule_returns(tmp_path: Path) -> None:
    # Visitors of the web server's HTTPS port in the same minutes (and its replies) are no port scan, SSH or
    # RDP attempt: no windowed rule returns them, so they are not carried; the scan's records are.
    root = tmp_path / "logs"
    recent = _scan(3)
    factory = netlogs.FlowFactory(PROD, random.Random(3), START, START + timedelta(minutes=8))
    benign = [r for ip in OFFICE_IPS for r in factory.conversation(WEB, inbound=True, peer=ip, port=443)]
    assert len(benign) >= 2
    _write(root, "a.log.gz", recent + benign)
    with Store.open(tmp_path / "s.duckdb") as store:
        _run(root, store)
        assert set(_tail_rows(store, tmp_path)["flow_logs"]) == _ids(root, "a.log.gz", recent)


def test_only_a_single_select_judging_each_row_alone_is_row_local() -> None:
    from cloudwarden.detect.compile import is_row_local

    assert all(is_row_local(rule.sql) for rule in carry.windowed_rules(load_network_pack()) if rule.sql)
    assert is_row_local("SELECT event_id, event_time FROM flow_logs WHERE peer_port < 1024 AND action = 'COUNT'")
    for sql in (
        "SELECT f.event_id FROM flow_logs f JOIN dns_logs d ON f.peer_addr = d.answer",
        "SELECT min(event_id) AS event_id FROM flow_logs GROUP BY peer_addr",
        "SELECT event_id FROM flow_logs WHERE peer_port > (SELECT avg(peer_port) FROM flow_logs)",
        "SELECT event_id, lag(event_time) OVER (ORDER BY event_time) FROM flow_logs",
        "SELECT event_id FROM flow_logs LIMIT 10",
        "SELECT event_id FROM flow_logs UNION ALL SELECT event_id FROM dns_logs",
    ):
        assert not is_row_local(sql), sql
