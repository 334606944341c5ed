"""One corpus, every rule, both engines: DuckDB and Spark must produce the same findings.

The corpus is the 35 Stratus Red Team detonation logs (read in place from ../shared), the CloudTrail a
seeded lab delivers while it plays a day of traffic and every attack scenario, and the rules are the
shipped native pack plus the 57 SigmaHQ AWS rules (../shared). Findings are compared whole: ids, types,
severities, counts, first/last seen, resources and cited event ids. The network rules are compared the same
way over flow and query logs in which each of them fires. Spark starts once for the module.

Skipped with the reason when pyspark is not installed; under ``CI=true`` that is a failure instead.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cloudwarden.core.errors import BadInputError
from cloudwarden.core.finding import Finding
from cloudwarden.detect.dialect import DUCKDB, SPARK
from cloudwarden.detect.engine import run_detection
from cloudwarden.detect.rules import RuleSet, load_pack, load_rule_dirs
from cloudwarden.detect.spark.session import pyspark_available
from tests.conftest import shared_path

pytestmark = pytest.mark.lab

if not pyspark_available():
    _REASON = "pyspark is not installed (pip install 'cloudwarden[spark]'): the Spark conformance suite needs it"
    if os.environ.get("CI") == "true":
        pytest.fail(_REASON, pytrace=False)
    pytest.skip(_REASON, allow_module_level=True)


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    from cloudwarden.detect.spark.session import build_session

    session = build_session()
    yield session
    session.stop()



def test_building_a_session_leaves_no_scratch(spark: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from cloudwarden.detect.spark.session import build_session

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    assert build_session() is spark  # the active session, built again: its log configuration is written first
    assert list(tmp_path.iterdir()) == []

@pytest.fixture(scope="module")
def rules() -> RuleSet:
    ruleset = load_pack()
    ruleset.extend(load_rule_dirs([shared_path("data", "sigma-aws")]))
    assert ruleset.unsupported == []
    return ruleset


@pytest.fixture(scope="module")
def lab_trail(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """CloudTrail (delivery format) of a seeded lab playing traffic and every attack scenario."""
    from cloudwarden.lab.scenarios import SCENARIOS, run_scenario
    from cloudwarden.lab.seed.result import SeedResult
    from cloudwarden.lab.server import Lab
    from cloudwarden.lab.traffic import play_traffic

    root = tmp_path_factory.mktemp("conformance-lab")
    with Lab(root / "lab", port=0, seed="demo") as lab:
        seed = SeedResult.load(root / "lab")
        play_traffic(lab.endpoint_url, seed, lab_client=lab.client)
        for name in SCENARIOS:
            run_scenario(name, lab.endpoint_url, seed, lab.client)
        lab.client.flush()
    return root / "lab" / "cloudtrail"


@pytest.fixture(scope="module")
def corpus(lab_trail: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("conformance-corpus")
    shutil.copytree(shared_path("data", "stratus-detonations"), root / "stratus")
    shutil.copytree(lab_trail, root / "lab")
    return root


def _view(finding: Finding) -> dict[str, Any]:
    return finding.model_dump(mode="json")


@pytest.fixture(scope="module")
def both(spark: Any, rules: RuleSet, corpus: Path) -> tuple[list[Finding], list[Finding]]:
    duck = run_detection([corpus], rules=rules.rules, allowlist=rules.allowlist)
    sparked = run_detection([corpus], rules=rules.rules, allowlist=rules.allowlist, engine="spark")
    assert sparked.stats["engine"] == "spark" and duck.stats["events"] == sparked.stats["events"]
    return duck.findings, sparked.findings


def test_every_rule_gives_the_same_findings_on_both_engines(both: tuple[list[Finding], list[Finding]]) -> None:
    duck, sparked = both
    assert [f.id for f in duck] == [f.id for f in sparked]
    for left, right in zip(duck, sparked, strict=True):
        assert _view(left) == _view(right), left.rule_id


def test_the_corpus_exercises_every_kind_of_rule(both: tuple[list[Finding], list[Finding]],
                                                 rules: RuleSet) -> None:
    """The comparison means something: Sigma and native rules fire, so do thresholds and sequences."""
    duck, _ = both
    fired = {f.rule_id for f in duck}
    kinds = {r.id: r for r in rules.rules}
    assert len(duck) > 60
    assert sum(1 for rid in fired if kinds[rid].kind == "sigma") >= 15
    assert any(kinds[rid].threshold is not None and kinds[rid].threshold.distinct for rid in fired)  # type: ignore[union-attr]
    assert any(kinds[rid].threshold is not None for rid in fired)
    assert any(f.count > 1 for f in duck) and any(len(f.evidence.event_ids) > 1 for f in duck)
    assert {"UnauthorizedAccess:IAMUser/MaliciousIPCaller.Custom", "Stealth:IAMUser/CloudTrailLoggingDisabled",
            "CredentialAccess:IAMUser/SecretsBulkRetrieval"} <= {f.type for f in duck}


def test_sparks_own_reader_matches_the_duckdb_loader(spark: Any, rules: RuleSet, lab_trail: Path) -> None:
    """The s3a:// path (Spark reads CloudTrail's delivery files itself), here over file:// URIs."""
    from cloudwarden.detect.spark.engine import run_native
    from cloudwarden.detect.threat_intel import ThreatIntel

    pack = load_pack()
    duck = run_detection([lab_trail], rules=pack.rules, allowlist=pack.allowlist).findings
    native, stats = run_native(spark, [lab_trail.as_uri()], pack.rules, pack.allowlist, ThreatIntel.load())
    assert stats["events"] > 200 and stats["files_skipped"] == 0
    assert [_view(f) for f in native] == [_view(f) for f in duck]


def test_s3a_paths_need_the_spark_engine() -> None:
    with pytest.raises(BadInputError, match="--engine spark"):
        run_detection(["s3a://bucket/AWSLogs/"], rules=load_pack().rules)


def test_the_spark_dialect_renders_portable_sql() -> None:
    sql = ("regexp_matches(CAST(json_extract(request_parameters, '$.a') AS VARCHAR), '\\?\"x\\s') "
           "AND starts_with(x, 'it''s') AND json_extract_string(y, '$.b') IS NOT NULL")
    assert SPARK.render(sql) == (
        "regexp_like(CAST(to_json(try_variant_get(parse_json(request_parameters), '$.a')) AS STRING), "
        "'\\\\?\"x\\\\s') AND startswith(x, 'it''s') AND get_json_object(y, '$.b') IS NOT NULL")
    assert DUCKDB.render(sql) == sql
    assert SPARK.interval(600) == "INTERVAL '600' SECOND"


def test_a_missing_pyspark_names_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    from cloudwarden.detect.spark import session

    monkeypatch.setattr(session, "pyspark_available", lambda: False)
    with pytest.raises(BadInputError, match=r"pip install 'cloudwarden\[spark\]'"):
        run_detection([Path(__file__)], rules=load_pack().rules, engine="spark")


def test_windows_across_chunks_agree_on_both_engines(spark: Any, tmp_path: Path) -> None:
    """Carried events (detect/carry.py) reach Spark with the rules that already cited them."""
    from tests.detect.ct_samples import event, write_trail_file

    for index in range(4):  # 8 reads of different secrets, two a file: a threshold that needs every chunk
        write_trail_file(tmp_path / f"f{index}.json.gz", [
            event(n, "GetSecretValue", "secretsmanager.amazonaws.com", minute=n, user="mallory",
                  requestParameters={"secretId": f"s{n}"}) for n in (2 * index + 1, 2 * index + 2)])
    pack = load_pack()
    rules = [r for r in pack.rules if r.id in ("cw.iam.secrets-bulk-retrieval", "cw.iam.admin-user-created",
                                                  "cw.pentest.kali")]  # windowed and not: both passes
    chunk = min(p.stat().st_size for p in tmp_path.glob("*.json.gz")) - 1
    found = {engine: run_detection([tmp_path], rules=rules, allowlist=pack.allowlist, engine=engine,
                                   chunk_bytes=chunk) for engine in ("duckdb", "spark")}
    assert found["duckdb"].stats["chunks"] == found["spark"].stats["chunks"] == 4
    assert found["duckdb"].stats["carried"] > 0
    secrets = {engine: [(f.id, f.count, sorted(f.evidence.event_ids)) for f in result.findings
                        if f.type == "CredentialAccess:IAMUser/SecretsBulkRetrieval"]
               for engine, result in found.items()}
    assert secrets["duckdb"] == secrets["spark"] and secrets["duckdb"][0][1] == 8
    assert [f.id for f in found["duckdb"].findings] == [f.id for f in found["spark"].findings]


# --- flow logs and resolver query logs -------------------------------------------------------------------------


def _network_corpus(root: Path) -> tuple[Path, Path]:
    """A flow log and a query log in which every shipped network rule fires, among benign traffic."""
    from cloudwarden.lab import netlogs
    from cloudwarden.lab.demo_org import ATTACKER_IP, OFFICE_IPS, TOR_NODE_IP
    from tests.detect.netlogs_samples import WEB, WORKER, flows, queries, write_flows, write_queries

    factory = flows()
    records = [
        *netlogs.benign_flows(flows(3), [WEB, WORKER], office_ips=OFFICE_IPS, per_interface=80),
        *netlogs.port_scan(factory, WEB, "198.51.100.150", ports=60),
        *netlogs.ssh_brute_force(factory, WEB, ATTACKER_IP, attempts=80),
        *(r for _ in range(60) for r in factory.conversation(WORKER, inbound=False, peer="192.0.2.200", port=22)),
        *(r for _ in range(60) for r in factory.conversation(WEB, inbound=True, peer=ATTACKER_IP, port=3389)),
        *(r for _ in range(60) for r in factory.conversation(WORKER, inbound=False, peer="198.51.100.9",
                                                               port=3389, action="REJECT")),
        *netlogs.tor_connections(factory, WEB, TOR_NODE_IP, sessions=2),
        *netlogs.mining_connections(factory, WEB, sessions=2),
    ]
    dns = netlogs.benign_queries(queries(), [WEB, WORKER]) + netlogs.malicious_queries(queries(2), WEB)
    return write_flows(root / "flow" / "flow.log.gz", records), write_queries(root / "dns" / "query.log.gz", dns)


def test_every_network_rule_gives_the_same_findings_on_both_engines(spark: Any, tmp_path: Path) -> None:
    from cloudwarden.detect.netlogs.engine import load_network_pack, run_network_detection
    from cloudwarden.detect.netlogs.instances import InstanceMap
    from tests.detect.netlogs_samples import instance_documents

    flow, dns = _network_corpus(tmp_path)
    instances = InstanceMap.from_documents(instance_documents())
    found = {engine: run_network_detection([flow], [dns], engine=engine, instances=instances)
             for engine in ("duckdb", "spark")}
    duck, sparked = found["duckdb"], found["spark"]
    assert sparked.stats["engine"] == "spark" and duck.stats["flow_records"] == sparked.stats["flow_records"]
    assert {f.rule_id for f in duck.findings} == {r.id for r in load_network_pack()}  # every rule fired
    assert [_view(f) for f in sparked.findings] == [_view(f) for f in duck.findings]
    assert any(f.evidence.details.get("instance_name") == "web-1" for f in duck.findings)


def test_network_windows_across_chunks_agree_on_both_engines(spark: Any, tmp_path: Path) -> None:
    """A port scan whose records are split over four files read one chunk each: the carried records reach
    Spark, with the rules that already cited them."""
    from cloudwarden.detect.netlogs.engine import run_network_detection
    from cloudwarden.lab import netlogs
    from tests.detect.netlogs_samples import WEB, flows, write_flows

    scan = sorted(netlogs.port_scan(flows(), WEB, "198.51.100.150", ports=60), key=lambda r: (r.start, r.dstport))
    for index in range(4):
        write_flows(tmp_path / f"flow-{index}.log.gz", scan[index::4])
    chunk = min(p.stat().st_size for p in tmp_path.glob("*.log.gz")) - 1
    found = {engine: run_network_detection([tmp_path], [], engine=engine, chunk_bytes=chunk)
             for engine in ("duckdb", "spark")}
    assert found["duckdb"].stats["chunks"] == found["spark"].stats["chunks"] == 4
    assert found["duckdb"].stats["carried"] > 0
    [duck], [sparked] = found["duckdb"].findings, found["spark"].findings
    assert duck.type == "Recon:EC2/Portscan" and duck.count == len(scan)
    assert _view(sparked) == _view(duck)


def test_detect_command_runs_flow_and_dns_logs_on_spark(spark: Any, tmp_path: Path) -> None:
    import json

    import typer
    from typer.testing import CliRunner

    from cloudwarden.cli.detect import detect

    app = typer.Typer()
    app.command()(detect)
    app.callback()(lambda: None)
    flow, dns = _network_corpus(tmp_path)
    outputs = {}
    for engine in ("duckdb", "spark"):
        result = CliRunner().invoke(app, ["detect", "--flow-logs", str(flow), "--dns-logs", str(dns), "--reread",
                                          "--engine", engine, "--output-dir", str(tmp_path / engine),
                                          "--format", "json"])
        assert result.exit_code == 0, result.output
        outputs[engine] = sorted((x["id"], x["type"], x["count"]) for x in map(
            json.loads, (tmp_path / engine / "findings.jsonl").read_text().splitlines()))
    assert len(outputs["duckdb"]) == 10 and outputs["spark"] == outputs["duckdb"]
