"""Metadata lint over every registered control (Cloud Custodian's PolicyMetaLint idea), plus the one
property every control must have: a failed or missing API call never becomes a PASS."""

from __future__ import annotations

import re
from typing import Any

import pytest

from cloudwarden.core.errors import BadInputError
from cloudwarden.posture import frameworks as fw
from cloudwarden.posture.registry import SERVICE_MODULES, controls, load_all
from tests.conftest import shared_path
from tests.posture import docs as d

CONTROLS = load_all()
ASFF_TYPE = re.compile(r"^Aws[A-Z][A-Za-z0-9]+$")


def reference() -> str:
    return shared_path("reference", "controls.md").read_text(encoding="utf-8")


def cis_ids(text: str, heading: str, end: str) -> dict[str, bool]:
    """CIS requirement id -> automated, from one version's table in controls.md."""
    section = text[text.index(heading):text.index(end, text.index(heading) + 1)]
    found = re.findall(r"^\| (\d+(?:\.\d+)+) \| .+? \| Level \d \| (Automated|Manual) \|", section, re.M)
    return {rid: kind == "Automated" for rid, kind in found}


def fsbp_ids(text: str) -> set[str]:
    section = text[text.index("## Security Hub CSPM: FSBP"):]
    return set(re.findall(r"^\| ([A-Za-z0-9]+\.\d+) \| ", section, re.M))


def test_every_control_has_complete_metadata() -> None:
    assert len(CONTROLS) >= 150
    for item in CONTROLS.values():
        assert item.title.strip() and len(item.title) <= 150, item.id
        assert ASFF_TYPE.match(item.resource_type), (item.id, item.resource_type)
        assert all(ASFF_TYPE.match(s) for s in item.scope), item.id
        assert item.remediation.strip().endswith("."), item.id
        assert item.remediation_cli.startswith("aws "), item.id
        assert item.rationale.strip(), item.id
        assert item.service in SERVICE_MODULES, item.id


def test_framework_ids_exist_in_the_published_lists() -> None:
    text = reference()
    v5 = cis_ids(text, "## CIS AWS Foundations Benchmark v5.0.0", "## CIS AWS Foundations Benchmark v3.0.0")
    v3 = cis_ids(text, "## CIS AWS Foundations Benchmark v3.0.0", "## CIS v5.0.0 to Security Hub")
    published = {"cis-aws-5.0": v5, "cis-aws-3.0": v3}
    for name, table in published.items():
        for requirement in fw.load(name).requirements:
            assert requirement.id in table, f"{name} {requirement.id} is not in controls.md"
            assert requirement.automated == table[requirement.id], f"{name} {requirement.id}"
    assert {r.id for r in fw.load("fsbp").requirements} <= fsbp_ids(text)


def test_every_automated_cis_5_recommendation_and_every_fsbp_control_is_covered() -> None:
    text = reference()
    v5 = cis_ids(text, "## CIS AWS Foundations Benchmark v5.0.0", "## CIS AWS Foundations Benchmark v3.0.0")
    mapped = {r.id for r in fw.load("cis-aws-5.0").requirements}
    assert {rid for rid, automated in v5.items() if automated} <= mapped
    assert fsbp_ids(text) == {r.id for r in fw.load("fsbp").requirements}


def test_security_hub_ids_match_the_published_cis_5_mapping() -> None:
    """Where controls.md maps a CIS v5 recommendation to Security Hub controls, we use those ids."""
    text = reference()
    section = text[text.index("## CIS v5.0.0 to Security Hub"):text.index("## Security Hub CSPM: FSBP")]
    published = {rid: [c.strip() for c in ids.split(",")]
                 for rid, ids in re.findall(r"^\| (\d+(?:\.\d+)+) \| ([A-Za-z0-9., ]+) \|$", section, re.M)}
    ours = {r.id: list(r.controls) for r in fw.load("cis-aws-5.0").requirements}
    for rid, ids in published.items():
        assert ours.get(rid) == ids, rid


def test_every_mapped_control_is_registered_and_our_own_ids_are_namespaced() -> None:
    for name in fw.FRAMEWORKS:
        assert fw.load(name).control_ids() <= set(CONTROLS), name
    fsbp = fw.load("fsbp").control_ids()
    for item in CONTROLS.values():
        if item.id.startswith("CW."):
            assert item.id not in fsbp
        else:
            assert re.match(r"^[A-Za-z0-9]+\.\d+$", item.id), item.id


def test_selection_errors_name_the_flag() -> None:
    with pytest.raises(BadInputError, match="--services"):
        controls(services=["s4"])
    with pytest.raises(BadInputError, match="--controls"):
        controls(ids=["S3.999"])
    with pytest.raises(BadInputError, match="--framework"):
        fw.load("cis-aws-9.9")
    assert [c.id for c in controls(ids=["s3.8"])] == ["S3.8"]
    assert {c.service for c in controls(services=["kms"])} == {"kms"}


# --- a failed call is never a PASS ------------------------------------------------------------------------------

SAMPLES: dict[str, Any] = {
    "AwsAccount": d.account(), "AwsAccountRegion": d.account_region(), "AwsIamUser": d.user(),
    "AwsIamRole": d.role(),
    "AwsIamGroup": d.doc("AwsIamGroup", "arn:aws:iam::222222222222:group/g", "g",
                         {"GroupName": "g", "GroupPolicyList": [], "AttachedManagedPolicies": []}),
    "AwsIamPolicy": d.managed_policy("p", d.policy_doc(d.statement())), "AwsS3Bucket": d.bucket(),
    "AwsEc2Instance": d.instance(), "AwsEc2SecurityGroup": d.security_group(), "AwsEc2NetworkAcl": d.nacl(),
    "AwsEc2Vpc": d.vpc(), "AwsEc2Subnet": d.subnet(), "AwsKmsKey": d.kms_key(), "AwsCloudTrailTrail": d.trail(),
    "AwsGuardDutyDetector": d.detector(), "AwsRdsDbInstance": d.db_instance(), "AwsRdsDbCluster": d.db_cluster(),
    "AwsRdsDbSnapshot": d.db_snapshot(), "AwsSecretsManagerSecret": d.secret(),
    "AwsSsmParameter": d.parameter(type_="String"), "AwsLambdaFunction": d.function(),
    "AwsEcrRepository": d.repository(),
}


def _denied(sample: dict[str, Any]) -> dict[str, Any]:
    out = d.with_(sample)
    out["calls"] = {op: d.error("AccessDenied") for op in out["calls"]}
    return out


@pytest.mark.parametrize("control_id", sorted(CONTROLS))
def test_access_denied_on_every_call_never_passes(control_id: str) -> None:
    item = CONTROLS[control_id]
    for scope in item.scope:
        if scope not in SAMPLES:
            continue
        context = [_denied(s) for t, s in SAMPLES.items() if t != scope]
        found = d.verdict_of(control_id, _denied(SAMPLES[scope]), *context)
        if found is None or not item.calls:
            continue
        assert found.status.value != "PASSED", f"{control_id} passed on {scope} with every call denied"
        if found.status.value == "NOT_AVAILABLE":
            assert "AccessDenied on " in found.reason or "not in the snapshot" in found.reason, found.reason
