"""The native rule model and loader (detect/rules): what a rule file may say, and errors with file/line/field."""

from __future__ import annotations

from pathlib import Path

import pytest

from cloudwarden.core.errors import BadInputError
from cloudwarden.core.severity import Severity
from cloudwarden.detect.rules import load_pack, load_rule_dirs, load_rule_file, parse_duration
from cloudwarden.detect.rules.model import Rule

GOOD = """\
id: t.one
title: One
type: Stealth:IAMUser/CloudTrailLoggingDisabled
severity: low
mitre: [T1562.008]
condition: event_name = 'StopLogging'
threshold: {count: 2, window: 10m, distinct: event_id}
allowlist:
  principals: ["arn:aws:iam::*:role/terraform-*"]
"""


def test_a_rule_file_loads_with_its_origin(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text(GOOD + "---\n" + GOOD.replace("t.one", "t.two").replace("threshold:", "#"))
    found = load_rule_file(path)
    assert [r.id for r in found.rules] == ["t.one", "t.two"]
    one = found.rules[0]
    assert one.severity is Severity.LOW and one.mitre == ("T1562.008",)
    assert one.threshold is not None and one.threshold.window == 600 and one.threshold.count == 2
    assert one.allowlist.principals == ("arn:aws:iam::*:role/terraform-*",)
    assert one.origin == f"{path}:1" and found.rules[1].origin == f"{path}:11"


@pytest.mark.parametrize(("text", "where", "why"), [
    (GOOD.replace("severity: low", "severity: urgent"), ":4: severity", "unknown severity 'urgent'"),
    (GOOD.replace("mitre: [T1562.008]", "mitre: [X1]"), ":5: mitre", "not a MITRE ATT&CK technique"),
    (GOOD.replace("type: Stealth:IAMUser/CloudTrailLoggingDisabled", "type: stealthy"), ":3: type", "pattern"),
    (GOOD.replace("window: 10m", "window: soon"), ":7: threshold.window", "not a duration"),
    (GOOD + "colour: red\n", ":10: colour", "unknown field"),
    (GOOD.replace("title: One\n", ""), ":1: title", "required field missing"),
    (GOOD + "sql: SELECT 1\n", ":1: (rule)", "exactly one of condition, sql, sequence"),
    ("id: [unclosed\n", ":2", "not valid YAML"),
    ("- just\n- a list\n", ":1", "a rule document is a mapping"),
])
def test_errors_say_file_line_and_field(tmp_path: Path, text: str, where: str, why: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(BadInputError) as err:
        load_rule_file(path)
    assert err.value.where.startswith(f"{path}{where}"), err.value.where
    assert why in err.value.why


def test_allowlist_documents_extend_the_shared_allowlist_and_ids_are_unique(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(GOOD)
    (tmp_path / "allow.yml").write_text("allowlist:\n  user_agents: ['Terraform/*']\n  source_ips: ['10.*']\n")
    found = load_rule_dirs([tmp_path])
    assert found.allowlist.user_agents == ("Terraform/*",) and found.allowlist.source_ips == ("10.*",)
    (tmp_path / "b.yaml").write_text(GOOD)
    with pytest.raises(BadInputError, match="already used by"):
        load_rule_dirs([tmp_path])


def test_sigma_files_are_set_aside_for_the_sigma_compiler(tmp_path: Path) -> None:
    (tmp_path / "s.yml").write_text("title: x\nlogsource: {product: aws, service: cloudtrail}\n"
                                    "detection: {sel: {eventName: StopLogging}, condition: sel}\n")
    found = load_rule_dirs([tmp_path], compile_sigma=False)
    assert found.rules == [] and found.sigma_files == [tmp_path / "s.yml"]


def test_durations() -> None:
    assert [parse_duration(x) for x in ("90s", "10m", "2h", "1d", 30, "45")] == [90, 600, 7200, 86400, 30, 45]
    with pytest.raises(ValueError):
        parse_duration("0m")


def test_sql_rules_may_not_set_projection_fields() -> None:
    with pytest.raises(ValueError, match="an sql rule returns its own"):
        Rule(id="x", title="x", type="A:B/C", severity=Severity.LOW, sql="SELECT 1", resource="x")


REQUIRED_TYPES = {
    "Policy:IAMUser/RootCredentialUsage", "Stealth:IAMUser/CloudTrailLoggingDisabled",
    "Stealth:IAMUser/PasswordPolicyChange", "PenTest:IAMUser/KaliLinux", "PenTest:IAMUser/ParrotLinux",
    "PenTest:IAMUser/PentooLinux", "UnauthorizedAccess:IAMUser/ConsoleLoginSuccess.B",
    "UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.OutsideAWS",
    "UnauthorizedAccess:IAMUser/TorIPCaller", "UnauthorizedAccess:IAMUser/MaliciousIPCaller.Custom",
    "Recon:IAMUser/TorIPCaller", "Recon:IAMUser/MaliciousIPCaller.Custom",
    "Policy:S3/AccountBlockPublicAccessDisabled", "Policy:S3/BucketBlockPublicAccessDisabled",
    "Policy:S3/BucketPublicAccessGranted", "Policy:S3/BucketAnonymousAccessGranted",
    "Stealth:S3/ServerAccessLoggingDisabled", "Discovery:S3/TorIPCaller", "Discovery:S3/MaliciousIPCaller.Custom",
    "Persistence:IAMUser/BackdoorAccessKeyCreated", "PrivilegeEscalation:IAMUser/AdministrativePolicyAttached",
    "DefenseEvasion:IAMUser/GuardDutyDetectorDeleted", "DefenseEvasion:IAMUser/FlowLogsDeleted",
    "Exfiltration:EC2/SnapshotSharedExternally", "Exfiltration:RDS/SnapshotSharedExternally",
    "CredentialAccess:IAMUser/SecretsBulkRetrieval", "Impact:EC2/UnusualInstanceLaunch",
    "Exfiltration:EC2/SecurityGroupOpenedToWorld", "PrivilegeEscalation:IAMUser/PolicyVersionCreated",
    "Persistence:IAMUser/LoginProfileCreated", "UnauthorizedAccess:IAMUser/ConsoleBruteForce",
    "DefenseEvasion:IAMUser/CloudTrailEventSelectorsChanged", "Discovery:IAMUser/BurstOfDiscoveryCalls",
}
# GuardDuty's own severities for the types GuardDuty defines.
GUARDDUTY_SEVERITY = {
    "Policy:IAMUser/RootCredentialUsage": Severity.LOW, "Stealth:IAMUser/CloudTrailLoggingDisabled": Severity.LOW,
    "Stealth:IAMUser/PasswordPolicyChange": Severity.LOW, "PenTest:IAMUser/KaliLinux": Severity.MEDIUM,
    "UnauthorizedAccess:IAMUser/ConsoleLoginSuccess.B": Severity.MEDIUM,
    "UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.OutsideAWS": Severity.HIGH,
    "Policy:S3/BucketPublicAccessGranted": Severity.HIGH, "Policy:S3/BucketAnonymousAccessGranted": Severity.HIGH,
    "Policy:S3/AccountBlockPublicAccessDisabled": Severity.LOW, "Discovery:S3/MaliciousIPCaller.Custom": Severity.HIGH,
}


def test_the_shipped_pack_covers_every_required_type_with_mitre_and_remediation() -> None:
    pack = load_pack()
    types = {r.type for r in pack.rules}
    assert types >= REQUIRED_TYPES, sorted(REQUIRED_TYPES - types)
    for rule in pack.rules:
        assert rule.mitre and rule.remediation and rule.description, rule.id
        if rule.type in GUARDDUTY_SEVERITY:
            assert rule.severity is GUARDDUTY_SEVERITY[rule.type], rule.id
    assert any(r.threshold for r in pack.rules) and any(r.sequence for r in pack.rules)


def test_sigma_rules_load_as_engine_rules_and_run_beside_the_pack() -> None:
    from cloudwarden.detect.engine import validate_rules
    from tests.conftest import shared_path

    found = load_rule_dirs([shared_path("data", "sigma-aws")])
    sigma = [r for r in found.rules if r.kind == "sigma"]
    assert len(sigma) + len(found.unsupported) == 57 and len(sigma) >= 50
    assert all(r.condition and r.origin.endswith((".yml", ".yaml")) for r in sigma)
    validate_rules([*load_pack().rules, *sigma])  # every rule compiles in the engine's SQL
