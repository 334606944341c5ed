"""One principal per pathfinding.cloud path: for each of the 65 YAML paths in ../shared/data/privesc-paths, a minimal
model (a principal holding exactly the path's required permissions, plus the targets the path needs) must reach an
administrator through that technique; the same principal minus one permission, or behind a permissions boundary or
an SCP deny, must not."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from cloudwarden.aws.session import AwsTarget
from cloudwarden.iam import get_catalog
from cloudwarden.iam.paths import (
    EscalationModel,
    build_graph,
    find_paths,
    load_techniques,
    model_from_store,
    path_findings,
)
from cloudwarden.iam.paths.catalog import Technique, techniques_by_id
from cloudwarden.iam.paths.environment import WORKLOAD_KINDS
from cloudwarden.inventory.stage import collect_snapshot
from cloudwarden.lab import demo_org as org
from cloudwarden.lab.server import Lab
from cloudwarden.store.store import Store
from tests.conftest import shared_path
from tests.iam.pathsupport import ACCT, ADMIN, HARMLESS, Builder, allow

# Paths whose starting principal must be a role (an IAM user cannot hold an inline role policy, and a user's own
# AttachUserPolicy/PutUserPolicy would escalate by itself, hiding the two-hop technique under test).
ROLE_START = {"iam-005", "iam-009", "iam-015", "iam-018"}
SELF_MANAGED = {"iam-001"}  # the start's permissions come from a customer-managed policy it may rewrite


@functools.cache
def shared_paths() -> dict[str, dict[str, Any]]:
    root = shared_path("data", "privesc-paths")
    out: dict[str, dict[str, Any]] = {}
    for file in sorted(Path(root).glob("*/*.yaml")):
        data = yaml.safe_load(file.read_text(encoding="utf-8"))
        out[data["id"]] = data
    return out


def required(path: dict[str, Any]) -> list[str]:
    return [p["permission"] for p in path["permissions"]["required"]]


def first_permission(t: Technique) -> str:
    if t.kind == "combined":
        return techniques_by_id()[t.combines[0]].permissions[0]
    return t.permissions[0]


def scenario(path_id: str, permissions: list[str], *, boundary: bool = False, scp_deny: list[str] | None = None
             ) -> tuple[Builder, str]:
    """A model for ``path_id``: the start principal with ``permissions`` on "*", and the targets it needs."""
    t = techniques_by_id()[path_id]
    kind = t.kind
    b = Builder()
    bnd = b.policy("s3-only", allow(["s3:*"])) if boundary else None
    statements = allow(permissions)
    if path_id in SELF_MANAGED:
        start_policy = b.policy("start-policy", statements)
        start = b.user("start", managed=[start_policy], boundary=bnd)
    elif path_id in ROLE_START:
        start = b.role("start", statements, boundary=bnd)
    elif path_id in ("iam-010", "iam-011"):
        b.group("devs", HARMLESS)
        start = b.user("start", statements, groups=["devs"], boundary=bnd)
    else:
        start = b.user("start", statements, boundary=bnd)
    if scp_deny:
        b.scp([{"Effect": "Deny", "Action": scp_deny, "Resource": "*"}])

    root = {"AWS": f"arn:aws:iam::{ACCT}:root"}
    if kind == "assume-role":
        b.role("admin-role", ADMIN, trusts=root)
    elif kind in ("create-credentials",):
        b.user("admin-user", ADMIN)
    elif kind == "trust-edit":
        b.role("admin-role", ADMIN, trusts={"Service": "ec2.amazonaws.com"})
    elif path_id == "iam-013":
        b.group("admins", ADMIN)
    elif kind == "combined":
        second = t.combines[-1]
        if second in ("iam-002",):
            b.user("target-user", HARMLESS)
        else:
            trusts = root if second == "sts-001" else {"Service": "ec2.amazonaws.com"}
            managed = [b.policy("target-policy", HARMLESS)] if t.combines[0] == "iam-001" else []
            b.role("target-role", HARMLESS if not managed else None, trusts=trusts, managed=managed)
    elif kind == "pass-role":
        role = b.role("admin-role", ADMIN, trusts={"Service": t.services[0]})
        if t.workload:
            b.workload(t.workload, None if t.workload == "ecs-cluster" else role)
    elif kind == "existing-compute":
        role = b.role("admin-role", ADMIN, trusts={"Service": "ec2.amazonaws.com"})
        b.workload(str(t.workload), role)
    return b, start


def test_catalog_covers_every_shared_path_with_real_actions() -> None:
    shared = shared_paths()
    ours = techniques_by_id()
    assert len(shared) == 65
    assert set(ours) == set(shared)
    catalog = get_catalog()
    for t in load_techniques():
        for spec in t.actions:
            assert catalog.action_exists(spec.action), f"{t.id}: {spec.action} is not an IAM action"
        if t.workload:
            assert t.workload in WORKLOAD_KINDS, t.id
        # our catalog asks for exactly the permissions the path lists as required (ec2-instance-connect also
        # lists ec2:DescribeInstances, which we check too)
        if t.kind == "combined":
            mine = {a for c in t.combines for a in techniques_by_id()[c].permissions}
        else:
            mine = set(t.permissions)
        assert {p.lower() for p in mine} == {p.lower() for p in required(shared[t.id])}, t.id


def detected(path_id: str, permissions: list[str], **kw: Any) -> list[Any]:
    b, start = scenario(path_id, permissions, **kw)
    return find_paths(b.model(), source=start)


def test_every_path_is_detected_through_its_own_technique() -> None:
    shared = shared_paths()
    found: dict[str, list[str]] = {}
    missed: list[str] = []
    for path_id, data in shared.items():
        paths = detected(path_id, required(data))
        if paths and path_id in paths[0].techniques:
            found[path_id] = list(paths[0].techniques)
        else:
            missed.append(path_id)
    assert len(found) >= 60, f"missed {missed}"
    assert missed == [], f"missed {missed}"


@pytest.mark.parametrize("path_id", sorted(t.id for t in load_techniques()))
def test_minus_one_permission_finds_nothing_that_permission_would_give(path_id: str) -> None:
    data = shared_paths()[path_id]
    perms = required(data)
    for dropped in perms:
        remaining = [p for p in perms if p != dropped]
        for path in detected(path_id, remaining):
            # Another technique may still work with the permissions left (lambda-004 minus InvokeFunction is
            # lambda-003); every hop must then use only permissions the principal still holds.
            assert path_id not in path.techniques
            for hop in path.hops:
                if hop.actor.endswith(":user/start") or hop.actor.endswith(":role/start"):
                    assert {p.lower() for p in hop.permissions} <= {p.lower() for p in remaining}, (dropped, hop)
    if len(perms) == 1:
        assert detected(path_id, []) == []


@pytest.mark.parametrize("path_id", sorted(t.id for t in load_techniques()))
def test_boundary_or_scp_deny_blocks_the_path(path_id: str) -> None:
    perms = required(shared_paths()[path_id])
    assert detected(path_id, perms, boundary=True) == []
    t = techniques_by_id()[path_id]
    assert detected(path_id, perms, scp_deny=[first_permission(t)]) == []
    # the same organisation without the deny still finds it: the SCP levels themselves are not what blocks
    assert detected(path_id, perms, scp_deny=["cloudwatch:DeleteDashboards"]) != []


# --- the demo organisation ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def demo_model(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EscalationModel]:
    with Lab(tmp_path_factory.mktemp("lab"), seed="demo", flush_interval=3600.0) as lab, \
            Store.open(tmp_path_factory.mktemp("store") / "cw.duckdb") as store:
        collect_snapshot(AwsTarget(endpoint_url=lab.endpoint_url), store=store,
                         role_name=org.MEMBER_ACCESS_ROLE, regions=[org.HOME_REGION])
        yield model_from_store(store)


@pytest.mark.lab
def test_demo_ci_deploy_reaches_admin_and_alice_does_not(demo_model: EscalationModel) -> None:
    ci_deploy = f"arn:aws:iam::{org.PROD}:role/{org.ROLE_CI_DEPLOY}"
    alice = f"arn:aws:iam::{org.PROD}:user/{org.USER_ALICE}"
    graph = build_graph(demo_model)
    assert ci_deploy in graph.principals and alice in graph.principals
    assert ci_deploy not in graph.admins
    paths = find_paths(demo_model, source=ci_deploy, graph=graph)
    assert len(paths) == 1
    first = paths[0].hops[0]
    assert "iam-001" in first.techniques
    assert first.resource == f"arn:aws:iam::{org.PROD}:policy/{org.POLICY_DEPLOY}"
    assert find_paths(demo_model, source=alice, graph=graph) == []
    # the principal that assumes ci-deploy inherits its path, one hop longer
    ci_user = f"arn:aws:iam::{org.PROD}:user/{org.USER_CI}"
    by_source = {p.source: p for p in find_paths(demo_model, graph=graph)}
    assert ci_user in by_source
    assert by_source[ci_user].hops[0].technique == "sts-001"
    findings = path_findings(list(by_source.values()))
    assert {f.principal for f in findings} == set(by_source)
    assert all(f.severity.value == "HIGH" for f in findings)
