"""Time to evaluate every posture control over a stored snapshot of 10,000 resources (the goal: under 2 s).

Builds one snapshot in a temporary store: 10 accounts, each with its account and region settings and a mix
of the resource types the controls read most (buckets, users, roles, customer policies, security groups,
instances, subnets, route tables, KMS keys, RDS instances, secrets, SSM parameters, Lambda functions, ECR
repositories), built with the snapshot-document builders the control tests use (``tests/posture/docs.py``),
some well configured and some not. Then times, over several rounds, what ``cloudwarden scan`` does after
collecting: read the documents back from DuckDB, validate them into the inventory, run every control, score
(:func:`cloudwarden.posture.stage.run_posture`), in wall and CPU seconds, with a per-phase breakdown.
Not a test; CI does not run it.

Run: ``.venv/bin/python bench/posture_eval_speed.py [--resources 10000] [--rounds 5]``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # for tests.posture.docs, the document builders

from tests.posture import docs as d  # noqa: E402

from cloudwarden.posture.evaluate import evaluate  # noqa: E402
from cloudwarden.posture.inventory import Inventory, to_docs  # noqa: E402
from cloudwarden.posture.stage import run_posture  # noqa: E402
from cloudwarden.store import resources as snapshots  # noqa: E402
from cloudwarden.store.store import Store  # noqa: E402

ACCOUNTS = [f"{100000000000 + i * 111111:012d}" for i in range(10)]
ADMIN = d.statement("*", "*")


def _per_resource(i: int) -> list[Callable[[], dict[str, Any]]]:
    """One round of the mix (14 documents), every other one configured badly."""
    bad = i % 2 == 1
    return [
        lambda: d.bucket(f"b-{i}", GetBucketLogging={} if bad else d.bucket()["calls"]["GetBucketLogging"]),
        lambda: d.user(f"u-{i}", mfa=not bad, keys=[d.key(f"AKIA{i:012d}", created=200 if bad else 5, used=1)]),
        lambda: d.role(f"r-{i}", attached=["arn:aws:iam::aws:policy/AWSCloudShellFullAccess"] if bad else []),
        lambda: d.managed_policy(f"p-{i}", d.policy_doc(ADMIN if bad else d.statement("s3:GetObject"))),
        lambda: d.security_group(f"sg-{i}", f"g{i}", ingress=[d.rule("tcp", 22, cidr="0.0.0.0/0" if bad
                                                                       else "10.0.0.0/8")]),
        lambda: d.instance(f"i-{i}", InstanceId=f"i-{i}"),
        lambda: d.subnet(f"subnet-{i}"),
        lambda: d.route_table(f"rtb-{i}"),
        lambda: d.kms_key(f"k-{i}"),
        lambda: d.db_instance(f"db-{i}"),
        lambda: d.secret(f"s-{i}"),
        lambda: d.parameter(f"/app/p-{i}"),
        lambda: d.function(f"f-{i}"),
        lambda: d.repository(f"repo-{i}"),
    ]


def snapshot_documents(total: int) -> list[dict[str, Any]]:
    """``total`` documents over ``ACCOUNTS`` (ARNs and accounts made unique per copy)."""
    out: list[dict[str, Any]] = []
    for account in ACCOUNTS:
        out.append(d.with_(d.account(), data={}) | {"account": account, "arn": f"arn:aws:iam::{account}:root"})
        region = d.account_region()
        out.append(region | {"account": account, "arn": f"arn:aws::us-east-1:{account}:account-region"})
        out.append(d.trail() | {"account": account, "arn": f"arn:aws:cloudtrail:us-east-1:{account}:trail/t"})
        out.append(d.detector() | {"account": account, "arn": f"arn:aws:guardduty:us-east-1:{account}:detector/x"})
    i = 0
    while len(out) < total:
        for build in _per_resource(i):
            if len(out) >= total:
                break
            item = build()
            account = ACCOUNTS[i % len(ACCOUNTS)]
            item["account"] = account if item["account"] != "aws" else "aws"
            item["arn"] = f"{item['arn']}-{len(out)}"
            out.append(item)
        i += 1
    return out


def _inventory(raw: list[dict[str, Any]]) -> Inventory:
    return Inventory(to_docs(raw), now=d.NOW)


def _timed(fn: Callable[[], Any]) -> tuple[Any, float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    return result, time.perf_counter() - wall, time.process_time() - cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--resources", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    documents = snapshot_documents(args.resources)
    with tempfile.TemporaryDirectory(prefix="cw-eval-") as tmp, Store.open(Path(tmp) / "cw.duckdb") as store:
        snapshot_id = snapshots.begin_snapshot(store, None, ACCOUNTS, ["us-east-1"])
        snapshots.add_resources(store, snapshot_id, documents)
        snapshots.finish_snapshot(store, snapshot_id, "complete", [])
        run_posture(store, snapshot_id=snapshot_id, now=d.NOW)  # warm: imports, control registry, frameworks
        phases: dict[str, list[tuple[float, float]]] = {k: [] for k in ("read", "validate", "evaluate", "total")}
        findings = 0
        for _ in range(args.rounds):
            raw, w, c = _timed(partial(snapshots.resources, store, snapshot_id))
            phases["read"].append((w, c))
            inv, w, c = _timed(partial(_inventory, raw))
            phases["validate"].append((w, c))
            found, w, c = _timed(partial(evaluate, inv, now=d.NOW))
            phases["evaluate"].append((w, c))
            result, w, c = _timed(partial(run_posture, store, snapshot_id=snapshot_id, now=d.NOW))
            phases["total"].append((w, c))
            findings = len(result.findings)
            assert len(found) == findings
    print(f"snapshot: {len(documents)} resources, {len({x['type'] for x in documents})} types, "
          f"{len(ACCOUNTS)} accounts; {findings} findings from {result.controls} controls")
    print(f"{'phase':<34}{'wall s (median)':>16}{'cpu s (median)':>16}{'wall s (best)':>15}")
    labels = {"read": "read documents from DuckDB", "validate": "validate + index (Inventory)",
              "evaluate": "run every control -> findings", "total": "run_posture (all of it + scores)"}
    for key, label in labels.items():
        walls, cpus = [w for w, _ in phases[key]], [c for _, c in phases[key]]
        print(f"{label:<34}{statistics.median(walls):>16.3f}{statistics.median(cpus):>16.3f}{min(walls):>15.3f}")
    total = statistics.median(w for w, _ in phases["total"])
    print(f"goal: under 2 s for 10,000 resources -> {'met' if total < 2.0 else 'NOT met'} ({total:.2f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
