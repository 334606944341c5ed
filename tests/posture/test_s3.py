"""S3 controls: PASS, FAIL and NOT_AVAILABLE per control."""

from __future__ import annotations

import pytest

from cloudwarden.posture.registry import controls
from tests.posture import docs as d
from tests.posture.cases import Case, check, covered

NAME = "data-222222222222"
BPA_OFF = {"PublicAccessBlockConfiguration": {"BlockPublicAcls": False, "IgnorePublicAcls": False,
                                              "BlockPublicPolicy": False, "RestrictPublicBuckets": False}}
NO_BPA = d.error("NoSuchPublicAccessBlockConfiguration", "The public access block configuration was not found")
PUBLIC_READ_ACL = {"Owner": {"ID": d.OWNER}, "Grants": [
    {"Grantee": {"ID": d.OWNER, "Type": "CanonicalUser"}, "Permission": "FULL_CONTROL"},
    {"Grantee": {"Type": "Group", "URI": "http://acs.amazonaws.com/groups/global/AllUsers"}, "Permission": "READ"}]}
PUBLIC_WRITE_ACL = {"Owner": {"ID": d.OWNER}, "Grants": [
    {"Grantee": {"Type": "Group", "URI": "http://acs.amazonaws.com/groups/global/AllUsers"}, "Permission": "WRITE"}]}
PUBLIC_GET = d.bucket_policy({"Sid": "public", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                              "Resource": f"arn:aws:s3:::{NAME}/*"})
VPCE_GET = d.bucket_policy({"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                            "Resource": f"arn:aws:s3:::{NAME}/*",
                            "Condition": {"StringEquals": {"aws:SourceVpce": "vpce-1"}}})
TLS_ONLY = d.bucket_policy(d.deny_http(NAME))
CROSS_ADMIN = d.bucket_policy({"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::999988887777:root"},
                               "Action": ["s3:PutBucketPolicy", "s3:GetObject"], "Resource": f"arn:aws:s3:::{NAME}"})
CROSS_READ = d.bucket_policy({"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::999988887777:root"},
                              "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{NAME}/*"})
NO_POLICY = d.error("NoSuchBucketPolicy", "The bucket policy does not exist")
OPEN_ACCOUNT = [d.account(GetPublicAccessBlock=NO_BPA)]
ALL_DATA = {"ReadWriteType": "All", "IncludeManagementEvents": True,
            "DataResources": [{"Type": "AWS::S3::Object", "Values": ["arn:aws:s3"]}]}
ONE_BUCKET = {"ReadWriteType": "All", "IncludeManagementEvents": True,
              "DataResources": [{"Type": "AWS::S3::Object", "Values": [f"arn:aws:s3:::{NAME}/"]}]}
ADVANCED_WRITE = {"AdvancedEventSelectors": [{"Name": "s3w", "FieldSelectors": [
    {"Field": "eventCategory", "Equals": ["Data"]}, {"Field": "resources.type", "Equals": ["AWS::S3::Object"]},
    {"Field": "readOnly", "Equals": ["false"]}]}]}

CASES = [
    Case("S3.1", lambda: d.account(), "PASSED"),
    Case("S3.1", lambda: d.account(GetPublicAccessBlock=BPA_OFF), "FAILED", "RestrictPublicBuckets"),
    Case("S3.1", lambda: d.account(GetPublicAccessBlock=NO_BPA), "FAILED"),
    Case("S3.1", lambda: d.account(GetPublicAccessBlock=d.error()), "NOT_AVAILABLE", "AccessDenied on s3:"),
    Case("S3.8", lambda: d.bucket(), "PASSED"),
    Case("S3.8", lambda: d.bucket(GetPublicAccessBlock=NO_BPA), "FAILED", "BlockPublicAcls"),
    Case("S3.8", lambda: d.bucket(GetPublicAccessBlock=d.error()), "NOT_AVAILABLE",
         "AccessDenied on s3:GetPublicAccessBlock"),
    Case("S3.2", lambda: d.bucket(), "PASSED", "", lambda: OPEN_ACCOUNT),
    Case("S3.2", lambda: d.bucket(GetBucketAcl=PUBLIC_READ_ACL, GetPublicAccessBlock=NO_BPA), "FAILED",
         "ACL grants READ", lambda: OPEN_ACCOUNT),
    Case("S3.2", lambda: d.bucket(GetBucketPolicy=PUBLIC_GET, GetPublicAccessBlock=NO_BPA), "FAILED",
         "s3:GetObject to everyone", lambda: OPEN_ACCOUNT),
    Case("S3.2", lambda: d.bucket(GetBucketPolicy=VPCE_GET, GetPublicAccessBlock=NO_BPA), "PASSED", "",
         lambda: OPEN_ACCOUNT),
    # the account's Block Public Access neutralises the public ACL (dev-scratch's situation)
    Case("S3.2", lambda: d.bucket(GetBucketAcl=PUBLIC_READ_ACL, GetPublicAccessBlock=NO_BPA), "PASSED", "",
         lambda: [d.account()]),
    Case("S3.2", lambda: d.bucket(GetBucketAcl=d.error()), "NOT_AVAILABLE", "GetBucketAcl", lambda: OPEN_ACCOUNT),
    Case("S3.2", lambda: d.bucket(), "NOT_AVAILABLE", "account settings"),
    Case("S3.3", lambda: d.bucket(), "PASSED", "", lambda: OPEN_ACCOUNT),
    Case("S3.3", lambda: d.bucket(GetBucketAcl=PUBLIC_WRITE_ACL, GetPublicAccessBlock=NO_BPA), "FAILED", "WRITE",
         lambda: OPEN_ACCOUNT),
    Case("S3.3", lambda: d.bucket(GetBucketPolicy=d.error()), "NOT_AVAILABLE", "", lambda: OPEN_ACCOUNT),
    Case("S3.5", lambda: d.bucket(GetBucketPolicy=TLS_ONLY), "PASSED"),
    Case("S3.5", lambda: d.bucket(), "FAILED", "no policy at all"),
    Case("S3.5", lambda: d.bucket(GetBucketPolicy=PUBLIC_GET), "FAILED", "no policy statement"),
    Case("S3.5", lambda: d.bucket(GetBucketPolicy=d.error()), "NOT_AVAILABLE", "AccessDenied on s3:GetBucketPolicy"),
    Case("S3.5", lambda: d.bucket(GetBucketPolicy={"Policy": "{}"}), "NOT_AVAILABLE", "not decoded"),
    Case("S3.6", lambda: d.bucket(GetBucketPolicy=CROSS_READ), "PASSED"),
    Case("S3.6", lambda: d.bucket(GetBucketPolicy=CROSS_ADMIN), "FAILED", "s3:PutBucketPolicy"),
    Case("S3.6", lambda: d.bucket(GetBucketPolicy=d.error()), "NOT_AVAILABLE"),
    Case("S3.9", lambda: d.bucket(), "PASSED", "logs-222222222222"),
    Case("S3.9", lambda: d.bucket(GetBucketLogging={}), "FAILED"),
    Case("S3.9", lambda: d.with_(d.bucket(), drop_calls=("GetBucketLogging",)), "NOT_AVAILABLE", "not collected"),
    Case("S3.12", lambda: d.bucket(), "PASSED"),
    Case("S3.12", lambda: d.bucket(GetBucketOwnershipControls=d.error("OwnershipControlsNotFoundError", "none")),
         "PASSED", "beyond its owner"),
    Case("S3.12", lambda: d.bucket(GetBucketOwnershipControls=d.error("OwnershipControlsNotFoundError", "none"),
                                   GetBucketAcl=PUBLIC_READ_ACL), "FAILED", "1 grant"),
    Case("S3.12", lambda: d.bucket(GetBucketOwnershipControls=d.error()), "NOT_AVAILABLE"),
    Case("S3.13", lambda: d.bucket(), "PASSED"),
    Case("S3.13", lambda: d.bucket(GetBucketLifecycleConfiguration=d.error("NoSuchLifecycleConfiguration", "x")),
         "FAILED"),
    Case("S3.13", lambda: d.bucket(GetBucketLifecycleConfiguration=d.error()), "NOT_AVAILABLE"),
    Case("S3.20", lambda: d.bucket(), "PASSED"),
    Case("S3.20", lambda: d.bucket(GetBucketVersioning={"Status": "Enabled"}), "FAILED"),
    Case("S3.20", lambda: d.bucket(GetBucketVersioning=d.error()), "NOT_AVAILABLE"),
    Case("CW.S3.1", lambda: d.bucket(), "PASSED", "aws:kms"),
    Case("CW.S3.1", lambda: d.bucket(GetBucketEncryption=d.error("ServerSideEncryptionConfigurationNotFoundError",
                                                                 "x")), "FAILED"),
    Case("CW.S3.1", lambda: d.bucket(GetBucketEncryption=d.error()), "NOT_AVAILABLE"),
    Case("S3.22", lambda: d.account(), "PASSED", "", lambda: [d.trail(selectors={"EventSelectors": [ALL_DATA]})]),
    Case("S3.22", lambda: d.account(), "PASSED", "", lambda: [d.trail(selectors=ADVANCED_WRITE)]),
    Case("S3.22", lambda: d.account(), "FAILED", "no multi-region",
         lambda: [d.trail(selectors={"EventSelectors": [ONE_BUCKET]})]),
    Case("S3.22", lambda: d.account(), "FAILED", "no trail"),
    Case("S3.22", lambda: d.account(), "NOT_AVAILABLE", "GetEventSelectors",
         lambda: [d.with_(d.trail(), calls={"GetEventSelectors": d.error()})]),
    Case("S3.23", lambda: d.account(), "PASSED", "", lambda: [d.trail(selectors={"EventSelectors": [ALL_DATA]})]),
    Case("S3.23", lambda: d.account(), "FAILED", "read", lambda: [d.trail(selectors=ADVANCED_WRITE)]),
    Case("S3.23", lambda: d.account(), "NOT_AVAILABLE", "",
         lambda: [d.with_(d.trail(), calls={"GetEventSelectors": d.error()})]),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_control(case: Case) -> None:
    check(case)


@pytest.mark.parametrize("control_id", ["S3.19", "S3.24", "S3.25"])
def test_types_outside_the_contract_are_not_available(control_id: str) -> None:
    found = d.verdict_of(control_id, d.account())
    assert found is not None and found.status.value == "NOT_AVAILABLE"
    assert "not collected" in found.reason


def test_every_s3_control_has_pass_fail_and_not_available_cases() -> None:
    seen = covered(CASES, ("S3.", "CW.S3."))
    for item in controls(services=["s3"]):
        if item.id in ("S3.19", "S3.24", "S3.25"):
            continue
        assert {"PASSED", "FAILED", "NOT_AVAILABLE"} <= seen.get(item.id, set()), item.id
