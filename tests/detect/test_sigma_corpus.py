"""All 57 SigmaHQ AWS CloudTrail rules (read in place from ../shared/data/sigma-aws, DRL 1.1) through our
pipeline: every rule compiles; a positive and a negative event built from each rule's own detection match
and do not; the Stratus Red Team detonation logs raise exactly the rules that apply to them; and matches
become grouped findings with the right type, severity, MITRE techniques and evidence.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from cloudwarden.core.finding import Source
from cloudwarden.core.severity import Severity
from cloudwarden.detect.sigma import SigmaPack, findings_from_duckdb, load_sigma_rules
from cloudwarden.detect.sigma.loader import CompiledSigmaRule
from tests.conftest import shared_path
from tests.detect.test_sigma_backend import cloudtrail_table, event, matched_ids

SIGMA_RULES = 57


@pytest.fixture(scope="module")
def pack() -> SigmaPack:
    return load_sigma_rules(shared_path("data", "sigma-aws"))


def by_stem(pack: SigmaPack, stem: str) -> CompiledSigmaRule:
    (rule,) = [r for r in pack.rules if r.path.stem == stem]
    return rule


def test_every_rule_compiles(pack: SigmaPack) -> None:
    assert pack.errors == []
    assert pack.unsupported == []
    assert pack.summary() == {"compiled": SIGMA_RULES, "unsupported": 0, "errors": 0}
    assert len({r.id for r in pack.rules}) == SIGMA_RULES
    assert all(r.rule_id == f"sigma:{r.id}" for r in pack.rules)


def test_every_compiled_condition_runs_in_duckdb(pack: SigmaPack) -> None:
    """Binds and runs over a table with one ordinary event: nothing in the corpus fires on it."""
    connection = cloudtrail_table([event("quiet", eventName="ListUsers")])
    assert {r.title for r in pack.rules if matched_ids(connection, r)} == set()


def test_every_rule_becomes_an_engine_rule(pack: SigmaPack) -> None:
    for compiled in pack.rules:
        rule = compiled.to_rule()
        assert rule.kind == "sigma" and rule.condition == compiled.where
        assert rule.type.split(":")[1].startswith("IAMUser/Sigma.")


# (rule file stem, fields of an event the rule must match, fields of a near miss it must not)
ROLE = {
    "type": "AssumedRole",
    "arn": "arn:aws:sts::111111111111:assumed-role/ops/session",
    "accountId": "111111111111",
    "sessionContext": {"sessionIssuer": {"type": "Role", "arn": "arn:aws:iam::111111111111:role/ops"}},
}
CASES: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    ("aws_cloudtrail_disable_logging",
     {"eventSource": "cloudtrail.amazonaws.com", "eventName": "StopLogging"},
     {"eventSource": "cloudtrail.amazonaws.com", "eventName": "PutEventSelectors"}),
    ("aws_cloudtrail_bucket_deleted",
     {"eventName": "DeleteBucket"},
     {"eventName": "DeleteBucket", "errorCode": "AccessDenied"}),
    ("aws_cloudtrail_guardduty_detector_deleted_or_updated",
     {"eventSource": "guardduty.amazonaws.com", "eventName": "UpdateDetector",
      "requestParameters": {"detectorId": "d1", "enable": False}},
     {"eventSource": "guardduty.amazonaws.com", "eventName": "UpdateDetector",
      "requestParameters": {"detectorId": "d1", "enable": True}}),
    ("aws_cloudtrail_console_login_success_without_mfa",
     {"eventSource": "signin.amazonaws.com", "eventName": "ConsoleLogin",
      "additionalEventData": {"MFAUsed": "No"}, "responseElements": {"ConsoleLogin": "Success"}},
     {"eventSource": "signin.amazonaws.com", "eventName": "ConsoleLogin",
      "additionalEventData": {"MFAUsed": "Yes"}, "responseElements": {"ConsoleLogin": "Success"}}),
    ("aws_cloudtrail_console_login_failed_authentication",
     {"eventName": "ConsoleLogin", "errorMessage": "Failed authentication"},
     {"eventName": "ConsoleLogin"}),
    ("aws_cloudtrail_imds_malicious_usage",
     {"userIdentity": {**ROLE, "arn": "arn:aws:sts::111111111111:assumed-role/aws:ec2-instance/i-0abc"},
      "eventName": "ListBuckets", "eventSource": "s3.amazonaws.com"},
     {"userIdentity": {**ROLE, "arn": "arn:aws:sts::111111111111:assumed-role/aws:ec2-instance/i-0abc"},
      "eventName": "RegisterManagedInstance", "eventSource": "s3.amazonaws.com"}),
    ("aws_console_getsignintoken",
     {"eventSource": "signin.amazonaws.com", "eventName": "GetSigninToken", "userAgent": "python-requests/2.31"},
     {"eventSource": "signin.amazonaws.com", "eventName": "GetSigninToken",
      "userAgent": "Jersey/${project.version} (HttpUrlConnection 1.8.0_292)"}),
    ("aws_delete_saml_provider",
     {"eventName": "DeleteSAMLProvider"},
     {"eventName": "DeleteSAMLProvider", "errorCode": "NoSuchEntity", "errorMessage": "not found"}),
    ("aws_disable_bucket_versioning",
     {"eventSource": "s3.amazonaws.com", "eventName": "PutBucketVersioning",
      "requestParameters": {"bucketName": "b", "VersioningConfiguration": {"Status": "Suspended"}}},
     {"eventSource": "s3.amazonaws.com", "eventName": "PutBucketVersioning",
      "requestParameters": {"bucketName": "b", "VersioningConfiguration": {"Status": "Enabled"}}}),
    ("aws_ec2_startup_script_change",
     {"eventSource": "ec2.amazonaws.com", "eventName": "ModifyInstanceAttribute",
      "requestParameters": {"instanceId": "i-1", "attribute": "userData"}},
     {"eventSource": "ec2.amazonaws.com", "eventName": "ModifyInstanceAttribute",
      "requestParameters": {"instanceId": "i-1", "attribute": "instanceType"}}),
    ("aws_ec2_vm_export_failure",
     {"eventSource": "ec2.amazonaws.com", "eventName": "CreateInstanceExportTask",
      "responseElements": {"exportTask": {"state": "active"}}},
     {"eventSource": "ec2.amazonaws.com", "eventName": "CreateInstanceExportTask",
      "errorCode": "InvalidParameter", "errorMessage": "bad"}),
    ("aws_ecs_task_definition_cred_endpoint_query",
     {"eventSource": "ecs.amazonaws.com", "eventName": "RegisterTaskDefinition",
      "requestParameters": {"family": "f", "containerDefinitions": [
          {"name": "c", "command": ["/bin/sh", "-c", "curl 169.254.170.2$AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"]}]}},
     {"eventSource": "ecs.amazonaws.com", "eventName": "RegisterTaskDefinition",
      "requestParameters": {"family": "f", "containerDefinitions": [{"name": "c", "command": ["nginx"]}]}}),
    ("aws_enum_buckets",
     {"eventSource": "s3.amazonaws.com", "eventName": "ListBuckets"},
     {"eventSource": "s3.amazonaws.com", "eventName": "ListBuckets", "userIdentity": ROLE}),
    ("aws_iam_backdoor_users_keys",
     {"eventSource": "iam.amazonaws.com", "eventName": "CreateAccessKey",
      "requestParameters": {"userName": "bob"}},
     {"eventSource": "iam.amazonaws.com", "eventName": "CreateLoginProfile",
      "requestParameters": {"userName": "bob"}}),
    ("aws_iam_s3browser_templated_s3_bucket_policy_creation",
     {"eventSource": "iam.amazonaws.com", "eventName": "PutUserPolicy", "userAgent": "S3 Browser 11.4.5",
      "requestParameters": {"policyDocument": '{"Statement":[{"Effect":"Allow","Action":"s3:GetObject",'
                                              '"Resource":"arn:aws:s3:::<YOUR-BUCKET-NAME>/*"}]}'}},
     {"eventSource": "iam.amazonaws.com", "eventName": "PutUserPolicy", "userAgent": "S3 Browser 11.4.5",
      "requestParameters": {"policyDocument": '{"Statement":[{"Effect":"Allow","Action":"s3:GetObject",'
                                              '"Resource":"arn:aws:s3:::real-bucket/*"}]}'}}),
    ("aws_new_lambda_layer_attached",
     {"eventSource": "lambda.amazonaws.com", "eventName": "UpdateFunctionConfiguration20150331v2",
      "requestParameters": {"functionName": "f", "layers": ["arn:aws:lambda:us-east-1:1:layer:l:1"]}},
     {"eventSource": "lambda.amazonaws.com", "eventName": "UpdateFunctionConfiguration20150331v2",
      "requestParameters": {"functionName": "f", "timeout": 30}}),
    ("aws_rds_change_master_password",
     {"eventSource": "rds.amazonaws.com", "eventName": "ModifyDBInstance",
      "responseElements": {"pendingModifiedValues": {"masterUserPassword": "****"}}},
     {"eventSource": "rds.amazonaws.com", "eventName": "ModifyDBInstance",
      "responseElements": {"pendingModifiedValues": {"allocatedStorage": 100}}}),
    ("aws_rds_public_db_restore",
     {"eventSource": "rds.amazonaws.com", "eventName": "RestoreDBInstanceFromDBSnapshot",
      "responseElements": {"publiclyAccessible": True}},
     {"eventSource": "rds.amazonaws.com", "eventName": "RestoreDBInstanceFromDBSnapshot",
      "responseElements": {"publiclyAccessible": False}}),
    ("aws_root_account_usage",
     {"userIdentity": {"type": "Root", "arn": "arn:aws:iam::111111111111:root", "accountId": "111111111111"}},
     {"userIdentity": {"type": "Root", "arn": "arn:aws:iam::111111111111:root"}, "eventType": "AwsServiceEvent"}),
    ("aws_sts_assumerole_misuse",
     {"userIdentity": ROLE},
     {}),
    ("aws_sts_getsessiontoken_misuse",
     {"eventSource": "sts.amazonaws.com", "eventName": "GetSessionToken"},
     {"eventSource": "sts.amazonaws.com", "eventName": "GetSessionToken", "userIdentity": ROLE}),
    ("aws_sts_getcalleridentity_trufflehog",
     {"eventSource": "sts.amazonaws.com", "eventName": "GetCallerIdentity", "userAgent": "TruffleHog"},
     {"eventSource": "sts.amazonaws.com", "eventName": "GetCallerIdentity", "userAgent": "aws-cli/2.15"}),
    ("aws_susp_saml_activity",
     {"eventSource": "sts.amazonaws.com", "eventName": "AssumeRoleWithSAML"},
     {"eventSource": "iam.amazonaws.com", "eventName": "AssumeRoleWithSAML"}),
    ("aws_update_login_profile",
     {"eventSource": "iam.amazonaws.com", "eventName": "UpdateLoginProfile", "requestParameters": {"userName": "bob"}},
     {"eventSource": "iam.amazonaws.com", "eventName": "UpdateLoginProfile",
      "requestParameters": {"userName": "arn:aws:iam::111111111111:user/alice"}}),
    ("aws_sso_idp_change",
     {"eventSource": "sso-directory.amazonaws.com", "eventName": "DisableExternalIdPConfigurationForDirectory"},
     {"eventSource": "sso-directory.amazonaws.com", "eventName": "ListDirectories"}),
]


@pytest.mark.parametrize(("stem", "positive", "negative"), CASES, ids=[c[0] for c in CASES])
def test_rule_matches_its_positive_and_not_its_near_miss(
    pack: SigmaPack, stem: str, positive: dict[str, Any], negative: dict[str, Any]
) -> None:
    rule = by_stem(pack, stem)
    connection = cloudtrail_table([event("positive", **positive), event("negative", **negative)])
    assert matched_ids(connection, rule) == {"positive"}


# Stratus Red Team detonations (real CloudTrail) -> the corpus rules they raise. A technique absent here
# raises none: the corpus has no rule for it, or the rule's detection does not describe the real log
# (e.g. "AWS EC2 Startup Shell Script Change" wants requestParameters.attribute, but the real
# ModifyInstanceAttribute of aws.execution.ec2-user-data carries requestParameters.userData).
ASSUME_ROLE = "AWS STS AssumeRole Misuse"  # fires on any role session: most detonations run as one
STRATUS: dict[str, set[str]] = {
    "aws.credential-access.ec2-get-password-data": {ASSUME_ROLE},
    "aws.credential-access.ec2-steal-instance-credentials": {
        ASSUME_ROLE, "Potential Malicious Usage of CloudTrail System Manager"},
    "aws.defense-evasion.cloudtrail-delete": {"AWS CloudTrail Important Change"},
    "aws.defense-evasion.cloudtrail-stop": {"AWS CloudTrail Important Change"},
    "aws.defense-evasion.organizations-leave": {ASSUME_ROLE},
    "aws.defense-evasion.vpc-remove-flow-logs": {"AWS VPC Flow Logs Deleted"},
    "aws.discovery.ec2-download-user-data": {ASSUME_ROLE},
    "aws.execution.ec2-launch-unusual-instances": {ASSUME_ROLE},
    "aws.execution.ssm-send-command": {"Potential Malicious Usage of CloudTrail System Manager"},
    "aws.exfiltration.ec2-security-group-open-port-22-ingress": {"Ingress/Egress Security Group Modification"},
    "aws.exfiltration.ec2-share-ebs-snapshot": {"AWS Snapshot Backup Exfiltration"},
    "aws.impact.bedrock-invoke-model": {ASSUME_ROLE},
    "aws.initial-access.console-login-without-mfa": {"AWS Successful Console Login Without MFA"},
    "aws.lateral-movement.ec2-serial-console-send-ssh-public-key": {ASSUME_ROLE},
    "aws.persistence.iam-backdoor-user": {"AWS IAM Backdoor Users Keys"},
    "aws.persistence.iam-create-admin-user": {"AWS IAM Backdoor Users Keys"},
    "aws.persistence.lambda-layer-extension": {"AWS New Lambda Layer Attached"},
    "aws.privilege-escalation.iam-update-user-login-profile": {"AWS User Login Profile Was Modified"},
}


def test_stratus_detonations_raise_the_rules_that_apply(pack: SigmaPack) -> None:
    directory = shared_path("data", "stratus-detonations")
    logs = sorted(directory.glob("aws.*.json"))
    assert len(logs) == 35
    fired: dict[str, set[str]] = {}
    for log in logs:
        connection = cloudtrail_table(json.loads(log.read_text()))
        titles = {rule.title for rule in pack.rules if matched_ids(connection, rule)}
        if titles:
            fired[log.stem] = titles
    assert fired == STRATUS


def test_stratus_cloudtrail_stop_becomes_one_finding(pack: SigmaPack) -> None:
    log = shared_path("data", "stratus-detonations", "aws.defense-evasion.cloudtrail-stop.json")
    connection = cloudtrail_table(json.loads(log.read_text()))
    (finding,) = findings_from_duckdb(connection, pack.rules)
    assert finding.source is Source.DETECT
    assert finding.rule_id == "sigma:4db60cc0-36fb-42b7-9b58-a5b53019fb74"
    assert finding.type == "DefenseEvasion:IAMUser/Sigma.AWSCloudTrailImportantChange"
    assert finding.severity is Severity.MEDIUM
    assert finding.mitre == ["T1685.002"]
    assert finding.evidence.event_ids == ["10163ed2-2253-469d-a5ee-cbc6651f8934"]
    assert finding.principal == "arn:aws:iam::143434273843:user/christophe"
    assert finding.resource.type == "AwsIamUser"
    assert (finding.account_id, finding.region) == ("143434273843", "apiso-centralnorth-2r")
    assert finding.first_seen == finding.last_seen == datetime(2024, 7, 31, 13, 6, 24, tzinfo=UTC)


def test_repeats_group_by_principal_with_count_and_times(pack: SigmaPack) -> None:
    rule = by_stem(pack, "aws_cloudtrail_disable_logging")
    trail = {"eventSource": "cloudtrail.amazonaws.com", "eventName": "StopLogging"}
    records = [
        event("e3", eventTime="2024-08-01T10:00:00Z", **trail),
        event("e1", eventTime="2024-08-01T08:00:00Z", **trail),
        event("e2", eventTime="2024-08-01T09:00:00Z", **{**trail, "eventName": "DeleteTrail"}),
        event("r1", eventTime="2024-08-01T09:30:00Z", userIdentity=ROLE, **trail),
        event("quiet", eventTime="2024-08-01T09:45:00Z"),
    ]
    findings = findings_from_duckdb(cloudtrail_table(records), [rule])
    by_principal = {f.principal: f for f in findings}
    assert set(by_principal) == {"arn:aws:iam::111111111111:user/alice", ROLE["arn"]}
    alice = by_principal["arn:aws:iam::111111111111:user/alice"]
    assert alice.count == 3
    assert alice.evidence.event_ids == ["e1", "e2", "e3"]
    assert alice.first_seen == datetime(2024, 8, 1, 8, tzinfo=UTC)
    assert alice.last_seen == datetime(2024, 8, 1, 10, tzinfo=UTC)
    assert by_principal[ROLE["arn"]].count == 1
    assert by_principal[ROLE["arn"]].resource.type == "AwsIamRole"
    assert len({f.id for f in findings}) == 2
    # the same matches give the same finding ids (stable across runs)
    again = findings_from_duckdb(cloudtrail_table(records), [rule])
    assert sorted(f.id for f in again) == sorted(f.id for f in findings)


def test_severity_and_tactic_mapping_across_the_corpus(pack: SigmaPack) -> None:
    levels = {r.level for r in pack.rules}
    assert levels <= {"informational", "low", "medium", "high", "critical"}
    high = by_stem(pack, "aws_cloudtrail_guardduty_detector_deleted_or_updated")
    assert high.severity is Severity.HIGH
    assert high.finding_type == "DefenseEvasion:IAMUser/Sigma.AWSGuardDutyDetectorDeletedOrUpdated"
    assert high.mitre == ("T1685", "T1685.002")
    stealth = by_stem(pack, "aws_cloudtrail_vpc_flow_logs_deleted")
    assert stealth.finding_type.startswith("Stealth:") and stealth.mitre == ()
    low = by_stem(pack, "aws_enum_buckets")
    assert (low.severity, low.finding_type.split(":")[0]) == (Severity.LOW, "Discovery")


def test_rules_are_read_in_place_not_copied() -> None:
    root = Path(__file__).resolve().parents[2]
    shipped = [p for p in root.joinpath("src").rglob("*.yml") if "sigma" in p.read_text(errors="ignore").lower()
               and "detection:" in p.read_text(errors="ignore")]
    assert shipped == []
