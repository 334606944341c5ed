"""Stratus Red Team's real detonation logs (../shared/data/stratus-detonations): each produces the finding a
security engineer would expect from the shipped rule pack."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from cloudwarden.detect.engine import CloudTrailDB
from cloudwarden.detect.rules import load_pack
from cloudwarden.detect.threat_intel import ThreatIntel
from tests.conftest import shared_path

# technique (file name without .json) -> the finding type it must produce; None where no rule applies.
EXPECTED: dict[str, str | None] = {
    "aws.credential-access.ec2-get-password-data": "CredentialAccess:EC2/PasswordDataRetrieval",
    "aws.credential-access.ec2-steal-instance-credentials":
        "UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.OutsideAWS",
    "aws.credential-access.secretsmanager-batch-retrieve-secrets": "CredentialAccess:IAMUser/SecretsBulkRetrieval",
    "aws.credential-access.secretsmanager-retrieve-secrets": "CredentialAccess:IAMUser/SecretsBulkRetrieval",
    "aws.credential-access.ssm-retrieve-securestring-parameters": "CredentialAccess:IAMUser/SecretsBulkRetrieval",
    "aws.defense-evasion.cloudtrail-delete": "Stealth:IAMUser/CloudTrailLoggingDisabled",
    "aws.defense-evasion.cloudtrail-event-selectors": "DefenseEvasion:IAMUser/CloudTrailEventSelectorsChanged",
    "aws.defense-evasion.cloudtrail-stop": "Stealth:IAMUser/CloudTrailLoggingDisabled",
    "aws.defense-evasion.dns-delete-logs": "DefenseEvasion:IAMUser/DNSQueryLoggingDeleted",
    "aws.defense-evasion.organizations-leave": "DefenseEvasion:IAMUser/OrganizationLeaveAttempt",
    "aws.defense-evasion.vpc-remove-flow-logs": "DefenseEvasion:IAMUser/FlowLogsDeleted",
    "aws.discovery.ec2-download-user-data": "Discovery:IAMUser/InstanceUserDataEnumerated",
    "aws.execution.ec2-launch-unusual-instances": "Impact:EC2/UnusualInstanceLaunch",
    "aws.execution.ec2-user-data": "Execution:EC2/UserDataModified",
    "aws.execution.ssm-send-command": "Execution:EC2/SSMShellCommandSent",
    "aws.execution.ssm-start-session": "LateralMovement:EC2/SSMSessionStarted",
    "aws.exfiltration.ec2-security-group-open-port-22-ingress": "Exfiltration:EC2/SecurityGroupOpenedToWorld",
    "aws.exfiltration.ec2-share-ami": "Exfiltration:EC2/AMISharedExternally",
    "aws.exfiltration.ec2-share-ebs-snapshot": "Exfiltration:EC2/SnapshotSharedExternally",
    "aws.exfiltration.rds-share-snapshot": "Exfiltration:RDS/SnapshotSharedExternally",
    "aws.impact.bedrock-invoke-model": "Impact:IAMUser/BedrockModelAccessEnabled",
    "aws.initial-access.console-login-without-mfa": "UnauthorizedAccess:IAMUser/ConsoleLoginSuccess.B",
    "aws.lateral-movement.ec2-instance-connect": "LateralMovement:EC2/InstanceConnectSSHKeyPushed",
    "aws.lateral-movement.ec2-serial-console-send-ssh-public-key": "LateralMovement:EC2/SerialConsoleAccessEnabled",
    "aws.persistence.iam-backdoor-role": "Persistence:IAMUser/RoleTrustPolicyChanged",
    "aws.persistence.iam-backdoor-user": "Persistence:IAMUser/BackdoorAccessKeyCreated",
    "aws.persistence.iam-create-admin-user": "PrivilegeEscalation:IAMUser/AdministrativePolicyAttached",
    "aws.persistence.iam-create-backdoor-role": "PrivilegeEscalation:IAMUser/AdministrativePolicyAttached",
    "aws.persistence.iam-create-user-login-profile": "Persistence:IAMUser/LoginProfileCreated",
    "aws.persistence.lambda-backdoor-function": "Persistence:Lambda/FunctionPublicInvokeGranted",
    "aws.persistence.lambda-layer-extension": "Persistence:Lambda/FunctionLayerAdded",
    "aws.persistence.lambda-overwrite-code": "Persistence:Lambda/FunctionCodeUpdated",
    "aws.persistence.rolesanywhere-create-trust-anchor": "Persistence:IAMUser/RolesAnywhereTrustAnchorCreated",
    "aws.persistence.sts-federation-token": "Persistence:IAMUser/FederationTokenIssued",
    "aws.privilege-escalation.iam-update-user-login-profile": "PrivilegeEscalation:IAMUser/LoginProfileChanged",
}


def test_every_stratus_detonation_produces_the_expected_type() -> None:
    folder = shared_path("data", "stratus-detonations")
    files = sorted(folder.glob("*.json"))
    assert {f.stem for f in files} == set(EXPECTED), "the table must name every detonation log"
    pack = load_pack()
    db, report = CloudTrailDB.from_paths(files, intel=ThreatIntel.load())
    try:
        assert report.clean and report.files_read == len(files)
        found = db.evaluate(pack.rules, allowlist=pack.allowlist)
        source = {r["event_id"]: Path(r["source_file"]).stem
                  for r in db.query("SELECT event_id, source_file FROM cloudtrail")}
    finally:
        db.close()
    types_by_file: dict[str, set[str]] = defaultdict(set)
    for finding in found:
        for event_id in finding.evidence.event_ids:
            types_by_file[source[event_id]].add(finding.type)
    applicable = {name: kind for name, kind in EXPECTED.items() if kind is not None}
    hits = sorted(name for name, kind in applicable.items() if kind in types_by_file[name])
    missed = {name: sorted(types_by_file[name]) for name in applicable if name not in hits}
    print(f"\nStratus coverage: {len(hits)}/{len(files)} detonations produce the expected type "
          f"({len(applicable)} have one)")
    assert not missed, missed
