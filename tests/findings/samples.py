"""Findings covering every branch the writers take: each source and status, frameworks, MITRE ids, principals,
policy-file locations, global and missing regions/accounts, secrets that must not leak, hostile text."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cloudwarden.core.finding import Evidence, Finding, ResourceRef, Source, Status
from cloudwarden.core.severity import Severity
from cloudwarden.lab import demo_org

T0 = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)
PROD = demo_org.PROD
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


def bucket(name: str = "prod-customer-data") -> ResourceRef:
    return ResourceRef(type="AwsS3Bucket", id=f"arn:aws:s3:::{name}")


def posture_failed() -> Finding:
    return Finding.create(
        source=Source.POSTURE, rule_id="s3.bucket-public-read", type="Software and Configuration Checks",
        title="S3 bucket prod-customer-data allows public read", severity=Severity.CRITICAL,
        account_id=PROD, region="us-east-1", resource=bucket(), seen=T0, control_id="S3.8",
        description="The bucket policy grants s3:GetObject to everyone.",
        remediation="Turn on S3 Block Public Access for the bucket and the account.",
        frameworks={"cis-aws-3.0": ["2.1.4"], "fsbp": ["S3.8"]},
    )


def all_kinds() -> list[Finding]:
    later = T0 + timedelta(hours=5)
    return [
        posture_failed(),
        Finding.create(
            source=Source.POSTURE, rule_id="kms.cmk-rotation-enabled", type="Software and Configuration Checks",
            title="KMS key rotation is enabled", severity=Severity.MEDIUM, account_id=PROD, region="eu-west-1",
            resource=ResourceRef(type="AwsKmsKey", id=f"arn:aws:kms:eu-west-1:{PROD}:key/1234abcd"),
            status=Status.PASSED, seen=T0, control_id="KMS.4", frameworks={"cis-aws-5.0": ["3.6"]},
        ),
        Finding.create(
            source=Source.POSTURE, rule_id="cloudtrail.enabled", type="Software and Configuration Checks",
            title="CloudTrail could not be checked", severity=Severity.HIGH, account_id=PROD, region="us-east-1",
            resource=ResourceRef(type="AwsAccount", id=f"AWS::::Account:{PROD}"),
            status=Status.NOT_AVAILABLE, seen=T0, control_id="CloudTrail.1",
            evidence=Evidence(details={"reason": "AccessDenied on cloudtrail:DescribeTrails"}),
        ),
        Finding.create(
            source=Source.POSTURE, rule_id="iam.root-mfa", type="Software and Configuration Checks",
            title="Root user has no MFA", severity=Severity.CRITICAL, account_id=demo_org.DEV, region="global",
            resource=ResourceRef(type="AwsAccount", id=f"arn:aws:iam::{demo_org.DEV}:root"),
            status=Status.SUPPRESSED, seen=T0, control_id="IAM.6", frameworks={"fsbp": ["IAM.6"]},
        ),
        Finding.create(
            source=Source.DETECT, rule_id="cloudtrail-logging-stopped",
            type="Stealth:IAMUser/CloudTrailLoggingDisabled",
            title="CloudTrail logging stopped by mallory\nfrom 198.51.100.23", severity=Severity.HIGH,
            account_id=PROD, region="us-east-1",
            resource=ResourceRef(type="AwsCloudTrailTrail", id=f"arn:aws:cloudtrail:us-east-1:{PROD}:trail/org"),
            principal=f"arn:aws:iam::{PROD}:user/mallory", mitre=["T1562.008", "T1078"],
            first_seen=T0, last_seen=later, count=3,
            evidence=Evidence(
                event_ids=["e1", "e2", "e3"],
                details={"sourceIPAddress": "198.51.100.23", "userAgent": "=cmd|' /C calc'!A0",
                         "credentials": {"AccessKeyId": "AKIAEXAMPLE", "SecretAccessKey": SECRET},
                         "password": "hunter2", "PasswordEnabled": True, "SecretArn": "arn:aws:secretsmanager:x"},
            ),
        ),
        Finding.create(
            source=Source.DETECT, rule_id="crypto-mining-gpu", type="CryptoCurrency:EC2/BitcoinTool.B!DNS",
            title="GPU instances launched in an unused region", severity=Severity.HIGH, account_id=PROD,
            region="ap-southeast-2",
            resource=ResourceRef(type="AwsEc2Instance", id=f"arn:aws:ec2:ap-southeast-2:{PROD}:instance/i-0abc"),
            principal=f"arn:aws:sts::{PROD}:assumed-role/ci-deployer/session1", mitre=["T1496"],
            status=Status.ARCHIVED, seen=T0,
        ),
        Finding.create(
            source=Source.DETECT, rule_id="console-login-anomaly", type="Behavior:IAMUser/AnomalousBehavior",
            title="Unusual console login", severity=Severity.LOW, account_id=PROD, region="us-east-1",
            resource=ResourceRef(type="AwsIamUser", id=f"arn:aws:iam::{PROD}:user/bob"),
            principal=f"arn:aws:iam::{PROD}:user/bob", seen=T0, description="x" * 1500,
        ),
        Finding.create(
            source=Source.IAM, rule_id="iam.policy-wildcard-action", type="PolicyValidation/Security",
            title="Policy allows iam:* on *", severity=Severity.MEDIUM, account_id="", region="",
            resource=ResourceRef(type="Other", id="policies/deploy role.json"), seen=T0,
            remediation="Scope the actions.",
            evidence=Evidence(details={"file": "policies/deploy role.json", "line": 7, "column": 5,
                                       "pointer": "/Statement/0/Action"}),
        ),
        Finding.create(
            source=Source.IAM, rule_id="iam.escalation-path", type="PrivilegeEscalation:IAMUser/PassRole",
            title="carol can become admin via iam:PassRole", severity=Severity.INFORMATIONAL, account_id=PROD,
            region="global", resource=ResourceRef(type="AwsIamUser", id=f"arn:aws:iam::{PROD}:user/carol"),
            seen=T0, evidence=Evidence(details={"file": "/abs/path/policy.json", "line": "3", "end_line": 1}),
        ),
        Finding.create(
            source=Source.RESPOND, rule_id="public-s3-bucket", type="Custom/ResponseAction",
            title="Playbook blocked public access on prod-customer-data", severity=Severity.INFORMATIONAL,
            account_id=PROD, region="us-east-1", resource=bucket(), seen=T0, principal="*",
        ),
    ]
