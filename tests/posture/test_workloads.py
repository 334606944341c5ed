"""Secrets Manager, SSM, Lambda, ECR, Config, Security Hub, EFS and account controls."""

from __future__ import annotations

from typing import Any

import pytest

from tests.posture import docs as d
from tests.posture.cases import Case, check

PUBLIC_INVOKE = d.policy_doc({"Sid": "public-invoke", "Effect": "Allow", "Principal": "*",
                              "Action": "lambda:InvokeFunction", "Resource": "arn:aws:lambda:::function:x"})
SOURCE_ARN = d.policy_doc({"Sid": "s3", "Effect": "Allow", "Principal": {"Service": "s3.amazonaws.com"},
                           "Action": "lambda:InvokeFunction", "Resource": "*",
                           "Condition": {"ArnLike": {"AWS:SourceArn": "arn:aws:s3:::b"}}})
SECRET_ENV = {"DB_PASSWORD": {"looks_secret": True, "reason": "name says password"},
              "LOG_LEVEL": {"looks_secret": False, "reason": ""}}


def efs(encrypted: bool | None) -> dict[str, Any]:
    data: dict[str, Any] = {"FileSystemId": "fs-1", "LifeCycleState": "available"}
    if encrypted is not None:
        data["Encrypted"] = encrypted
    return d.doc("AwsEfsFileSystem", f"arn:aws:elasticfilesystem:{d.REGION}:{d.ACCT}:file-system/fs-1", "fs-1", data)


CASES = [
    Case("SecretsManager.1", lambda: d.secret(), "PASSED"),
    Case("SecretsManager.1", lambda: d.secret("prod/db/master", rotation=False), "FAILED"),
    Case("SecretsManager.1", lambda: d.with_(d.secret(), calls={"DescribeSecret": d.error()}), "NOT_AVAILABLE",
         "AccessDenied on secretsmanager:DescribeSecret"),
    Case("SecretsManager.2", lambda: d.secret(), "PASSED"),
    Case("SecretsManager.2", lambda: d.secret(rotated_days=None), "FAILED", "never rotated"),
    Case("SecretsManager.2", lambda: d.secret(rotated_days=45), "FAILED", "every 30"),
    Case("SecretsManager.2", lambda: d.secret(rotation=False), None),
    Case("SecretsManager.3", lambda: d.secret(), "PASSED"),
    Case("SecretsManager.3", lambda: d.secret(accessed_days=120), "FAILED"),
    Case("SecretsManager.3", lambda: d.with_(d.secret(accessed_days=None), drop_data=("CreatedDate",),
                                             drop_calls=("DescribeSecret",)), "NOT_AVAILABLE"),
    Case("SecretsManager.4", lambda: d.secret(), "PASSED"),
    Case("SecretsManager.4", lambda: d.secret(rotation=False, rotated_days=None), "FAILED", "200 days"),
    Case("CW.SSM.1", lambda: d.parameter(), "PASSED", "SecureString"),
    Case("CW.SSM.1", lambda: d.parameter("/prod/app/db_password", type_="String", check={
        "looks_secret": True, "reason": "name says secret", "entropy": 3.9}), "FAILED", "name says secret"),
    Case("CW.SSM.1", lambda: d.parameter("/prod/app/region", type_="String"), "PASSED"),
    Case("CW.SSM.1", lambda: d.with_(d.parameter(type_="String"), calls={"GetParameter_plaintext_check": d.error()}),
         "NOT_AVAILABLE", "AccessDenied on ssm:GetParameter"),
    Case("SSM.7", lambda: d.account_region(), "PASSED"),
    Case("SSM.7", lambda: d.account_region(GetServiceSetting={"ServiceSetting": {
        "SettingId": "/ssm/documents/console/public-sharing-permission", "SettingValue": "Enable"}}), "FAILED"),
    Case("SSM.7", lambda: d.account_region(GetServiceSetting=d.error("500", "html")), "NOT_AVAILABLE", "500 on ssm"),
    Case("SSM.6", lambda: d.account_region(), "NOT_AVAILABLE", "was not collected"),
    Case("SSM.1", lambda: d.account_region(), "NOT_AVAILABLE", "not collected"),
    Case("Lambda.1", lambda: d.function(), "PASSED", "no resource policy"),
    Case("Lambda.1", lambda: d.function("prod-webhook-handler", policy=PUBLIC_INVOKE), "FAILED", "public-invoke"),
    Case("Lambda.1", lambda: d.function(policy=SOURCE_ARN), "PASSED"),
    Case("Lambda.1", lambda: d.with_(d.function(), calls={"GetPolicy": d.error()}), "NOT_AVAILABLE",
         "AccessDenied on lambda:GetPolicy"),
    Case("Lambda.2", lambda: d.function(), "PASSED"),
    Case("Lambda.2", lambda: d.function(Runtime="python3.7"), "FAILED", "python3.7"),
    Case("Lambda.2", lambda: d.with_(d.function(), drop_data=("Runtime",)), "NOT_AVAILABLE"),
    Case("Lambda.5", lambda: d.function(), None),
    Case("Lambda.5", lambda: d.function(VpcConfig={"SubnetIds": ["subnet-a", "subnet-b"]}), "PASSED", "",
         lambda: [d.subnet("subnet-a"), d.subnet("subnet-b", zone="us-east-1b")]),
    Case("Lambda.5", lambda: d.function(VpcConfig={"SubnetIds": ["subnet-a"]}), "FAILED", "",
         lambda: [d.subnet("subnet-a")]),
    Case("Lambda.5", lambda: d.function(VpcConfig={"SubnetIds": ["subnet-a"]}), "NOT_AVAILABLE"),
    Case("CW.Lambda.1", lambda: d.function(), "PASSED"),
    Case("CW.Lambda.1", lambda: d.function(env=SECRET_ENV), "FAILED", "DB_PASSWORD"),
    Case("CW.Lambda.1", lambda: d.function(env={"X": "plain value"}), "NOT_AVAILABLE"),  # type: ignore[dict-item]
    Case("CW.Lambda.2", lambda: d.function(), None),
    Case("CW.Lambda.2", lambda: d.with_(d.function(), calls={"GetFunctionUrlConfig": {"AuthType": "NONE"}}),
         "FAILED", "NONE"),
    Case("CW.Lambda.2", lambda: d.with_(d.function(), calls={"GetFunctionUrlConfig": {"AuthType": "AWS_IAM"}}),
         "PASSED"),
    Case("CW.Lambda.2", lambda: d.with_(d.function(), calls={"GetFunctionUrlConfig": d.error()}), "NOT_AVAILABLE"),
    Case("ECR.1", lambda: d.repository(), "PASSED"),
    Case("ECR.1", lambda: d.repository("prod/web", scan=False), "FAILED"),
    Case("ECR.1", lambda: d.repository("prod/web", scan=False), "PASSED", "", lambda: [d.account_region(
        GetRegistryScanningConfiguration={"scanningConfiguration": {"scanType": "ENHANCED", "rules": [
            {"scanFrequency": "CONTINUOUS_SCAN", "repositoryFilters": [{"filter": "prod/*",
                                                                       "filterType": "WILDCARD"}]}]}})]),
    Case("ECR.1", lambda: d.repository("prod/web", scan=False), "NOT_AVAILABLE", "",
         lambda: [d.account_region(GetRegistryScanningConfiguration=d.error())]),
    Case("ECR.2", lambda: d.repository(), "PASSED"),
    Case("ECR.2", lambda: d.repository(mutability="MUTABLE"), "FAILED"),
    Case("ECR.2", lambda: d.with_(d.repository(), drop_data=("imageTagMutability",)), "NOT_AVAILABLE"),
    Case("ECR.3", lambda: d.repository(), "PASSED"),
    Case("ECR.3", lambda: d.repository(lifecycle=False), "FAILED"),
    Case("ECR.3", lambda: d.with_(d.repository(), calls={"GetLifecyclePolicy": d.error()}), "NOT_AVAILABLE"),
    Case("Config.1", lambda: d.account_region(), "PASSED"),
    Case("Config.1", lambda: d.account_region(DescribeConfigurationRecorders={"ConfigurationRecorders": []}),
         "FAILED", "no recorder"),
    Case("Config.1", lambda: d.account_region(DescribeConfigurationRecorderStatus={"ConfigurationRecordersStatus": [
        {"name": "default", "recording": False}]}), "FAILED"),
    Case("Config.1", lambda: d.account_region(DescribeConfigurationRecorders=d.error()), "NOT_AVAILABLE"),
    Case("CW.SecurityHub.1", lambda: d.account_region(), "PASSED"),
    Case("CW.SecurityHub.1", lambda: d.account_region(DescribeHub=d.error("InvalidAccessException", "not subscribed")),
         "FAILED"),
    Case("CW.SecurityHub.1", lambda: d.with_(d.account_region(), drop_calls=("DescribeHub",)), "NOT_AVAILABLE"),
    Case("EFS.1", lambda: efs(True), "PASSED"),
    Case("EFS.1", lambda: efs(False), "FAILED"),
    Case("EFS.8", lambda: efs(None), "NOT_AVAILABLE"),
    Case("Account.1", lambda: d.account(), "PASSED"),
    Case("Account.1", lambda: d.account(GetAlternateContact=d.error("ResourceNotFoundException", "none")), "FAILED"),
    Case("Account.1", lambda: d.account(GetAlternateContact=d.error()), "NOT_AVAILABLE", "AccessDenied on account:"),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_control(case: Case) -> None:
    check(case)
