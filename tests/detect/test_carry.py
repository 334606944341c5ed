"""Thresholds and sequences across chunk and run boundaries (detect/carry.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb

from cloudwarden.core.finding import Finding
from cloudwarden.detect import carry
from cloudwarden.detect.engine import run_detection
from cloudwarden.detect.rules import load_pack
from cloudwarden.store import Store
from tests.detect.ct_samples import ATTACKER_IP, event, write_trail_file

SECRETS = "CredentialAccess:IAMUser/SecretsBulkRetrieval"  # 5 different secrets within 15 minutes
ADMIN_USER = "Persistence:IAMUser/AdministratorUserCreated"  # CreateUser, then AttachUserPolicy within 1 hour
KALI = "PenTest:IAMUser/KaliLinux"
RULES = ("cw.iam.secrets-bulk-retrieval", "cw.iam.admin-user-created", "cw.pentest.kali")


def _secret(n: int, minute: int, **kw: Any) -> dict[str, Any]:
    return event(n, "GetSecretValue", "secretsmanager.amazonaws.com", minute=minute, user="mallory",
                 requestParameters={"secretId": f"secret-{n}"}, **kw)


def _detect(logs: Path, store: Store | None = None, **kw: Any) -> Any:
    pack = load_pack()
    rules = [r for r in pack.rules if r.id in RULES]
    return run_detection([logs], rules=rules, allowlist=pack.allowlist, store=store, **kw)


def _of(findings: list[Finding], kind: str) -> list[Finding]:
    return [f for f in findings if f.type == kind]


def _tail_ids(store: Store, tmp_path: Path) -> list[str]:
    """The event ids of the tail the store holds, in time order."""
    scratch = tmp_path / "scratch"
    scratch.mkdir(exist_ok=True)
    path = carry.load(store, scratch).paths.get("cloudtrail")
    if path is None:
        return []
    return [r[0] for r in duckdb.execute("SELECT event_id FROM read_parquet(?)", [str(path)]).fetchall()]


def test_a_threshold_reached_only_with_the_next_runs_events_cites_the_earlier_ones(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    write_trail_file(logs / "a.json.gz", [_secret(n, minute=n) for n in (1, 2, 3)])
    with Store.open(tmp_path / "s.duckdb") as store:
        first = _detect(logs, store)
        assert _of(first.findings, SECRETS) == []
        assert set(_tail_ids(store, tmp_path)) == {"ev-1", "ev-2", "ev-3"}

        write_trail_file(logs / "b.json.gz", [_secret(n, minute=n) for n in (4, 5)])
        second = _detect(logs, store)
        assert second.stats["carried"] == 3 and second.read_report.files_read == 1
        [found] = _of(second.findings, SECRETS)
        assert found.count == 5 and set(found.evidence.event_ids) == {f"ev-{n}" for n in range(1, 6)}
        stored = store.get_finding(found.id)
        assert stored is not None and stored.count == 5


def test_a_burst_going_on_across_runs_counts_each_event_once(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    write_trail_file(logs / "a.json.gz", [_secret(n, minute=n) for n in range(1, 7)])
    with Store.open(tmp_path / "s.duckdb") as store:
        [first] = _of(_detect(logs, store).findings, SECRETS)
        assert first.count == 6
        write_trail_file(logs / "b.json.gz", [_secret(n, minute=n) for n in (7, 8)])
        [second] = _of(_detect(logs, store).findings, SECRETS)
        assert second.id == first.id
        assert second.count == 2 and set(second.evidence.event_ids) == {"ev-7", "ev-8"}  # the carried six: cited
        stored = store.get_finding(first.id)
        assert stored is not None and stored.count == 8


def test_a_sequence_across_runs_is_found(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    create = event(1, "CreateUser", "iam.amazonaws.com", minute=50, user="mallory",
                   requestParameters={"userName": "backdoor"})
    attach = event(2, "AttachUserPolicy", "iam.amazonaws.com", minute=55, user="mallory",
                   requestParameters={"userName": "backdoor",
                                      "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"})
    write_trail_file(logs / "a.json.gz", [create])
    with Store.open(tmp_path / "s.duckdb") as store:
        assert _of(_detect(logs, store).findings, ADMIN_USER) == []
        write_trail_file(logs / "b.json.gz", [attach])
        [found] = _of(_detect(logs, store).findings, ADMIN_USER)
        assert set(found.evidence.event_ids) == {"ev-1", "ev-2"}


def test_carried_events_are_not_reported_again_by_other_rules(tmp_path: Path) -> None:
    kali_agent = "aws-cli/2.15.0 Python/3.11.6 Linux/6.5.0-kali2-amd64 exe/x86_64.kali.2024"
    logs = tmp_path / "logs"
    write_trail_file(logs / "a.json.gz", [_secret(n, minute=n, userAgent=kali_agent, sourceIPAddress=ATTACKER_IP)
                                          for n in (1, 2)])
    with Store.open(tmp_path / "s.duckdb") as store:
        [kali] = _of(_detect(logs, store).findings, KALI)
        assert kali.count == 2
        write_trail_file(logs / "b.json.gz", [_secret(3, minute=3)])  # carried: ev-1, ev-2 (secret reads)
        again = _detect(logs, store)
        assert again.stats["carried"] == 2 and _of(again.findings, KALI) == []
        stored = store.get_finding(kali.id)
        assert stored is not None and stored.count == 2


def test_a_window_across_chunks_of_one_run_is_found_once(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    for index in range(4):  # 2 secret reads a file, a minute apart: 8 within 8 minutes
        write_trail_file(logs / f"f{index}.json.gz", [_secret(2 * index + k, minute=2 * index + k) for k in (1, 2)])
    whole = _of(_detect(logs).findings, SECRETS)
    chunked = _detect(logs, chunk_bytes=min(p.stat().st_size for p in logs.iterdir()) - 1)  # a file a chunk
    assert chunked.stats["chunks"] == 4 and chunked.stats["carried"] > 0
    [found] = _of(chunked.findings, SECRETS)
    assert [(f.id, f.count, f.first_seen, f.last_seen) for f in whole] == [
        (found.id, found.count, found.first_seen, found.last_seen)]
    assert found.count == 8


def test_a_run_over_older_files_keeps_the_tail(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    write_trail_file(logs / "a.json.gz", [_secret(n, minute=49 + n) for n in (1, 2, 3)])  # 10:50-10:52
    with Store.open(tmp_path / "s.duckdb") as store:
        _detect(logs, store)
        # A file delivered late, from 08:00: its run must not replace the tail with one ending at 08:00.
        write_trail_file(logs / "late.json.gz", [_secret(20, minute=0, eventTime="2026-03-01T08:00:00Z")])
        _detect(logs, store)
        assert _tail_ids(store, tmp_path) == ["ev-1", "ev-2", "ev-3"]
        write_trail_file(logs / "b.json.gz", [_secret(n, minute=49 + n) for n in (4, 5)])
        [found] = _of(_detect(logs, store).findings, SECRETS)
        assert found.count == 5 and set(found.evidence.event_ids) == {f"ev-{n}" for n in range(1, 6)}


def test_the_tail_keeps_only_the_last_window_and_what_windowed_rules_admit(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    old = [_secret(n, minute=n) for n in (1, 2)]  # 10:01, 10:02: more than 1h15 before the last event
    noise = [event(3, "ListBuckets", minute=59)]  # no windowed rule admits it
    late = [event(4, "CreateUser", "iam.amazonaws.com", minute=59, second=30, requestParameters={"userName": "x"})]
    records = [*old, *noise, *late]
    records[-1]["eventTime"] = "2026-03-01T11:30:00Z"
    write_trail_file(logs / "a.json.gz", records)
    with Store.open(tmp_path / "s.duckdb") as store:
        _detect(logs, store)
        # horizon: the longest window (the sequence's hour) plus 15 minutes for late delivery
        rules = [r for r in load_pack().rules if r.id in RULES]
        assert carry.horizon(carry.windowed_rules(rules)).total_seconds() == 75 * 60
        assert _tail_ids(store, tmp_path) == ["ev-4"]


def test_a_pending_tail_without_its_journal_is_dropped_and_the_current_one_kept(tmp_path: Path) -> None:
    from cloudwarden.detect import checkpoints

    logs = tmp_path / "logs"
    write_trail_file(logs / "a.json.gz", [_secret(n, minute=n) for n in (1, 2, 3)])
    with Store.open(tmp_path / "s.duckdb") as store:
        _detect(logs, store)
        carry.save_pending(store, carry.Carry())  # a run killed between writing its tail and its journal
        assert checkpoints.recover(store) is None  # no journal: nothing to finish...
        assert carry.promote(store) is False  # ...and the orphan pending tail is gone
        assert set(_tail_ids(store, tmp_path)) == {"ev-1", "ev-2", "ev-3"}
