"""External and public access on hand-built snapshots: decided by evaluation (conditions count), zone of trust,
service principals without a source condition, Block Public Access and ACLs, and the findings' shape."""

from __future__ import annotations

from typing import Any

from cloudwarden.core.finding import Source
from cloudwarden.iam.external import external_access, external_findings
from cloudwarden.iam.snapshot import AccessModel
from tests.iam.test_snapshot import MGMT, A, B, bucket, doc, organisation, policy, role

OUTSIDE = "999999999999"


def kinds(docs: list[dict[str, Any]]) -> dict[str, tuple[str, tuple[str, ...]]]:
    items, undecided = external_access(AccessModel.from_documents(docs))
    assert undecided == []
    return {i.name: (i.type, i.grantees) for i in items}


def test_public_policy_is_found_and_a_principal_org_condition_is_not_public() -> None:
    docs = [
        bucket("open", A, policy({"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                                  "Resource": "arn:aws:s3:::open/*"})),
        bucket("org-only", A, policy({"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                                      "Resource": "arn:aws:s3:::org-only/*",
                                      "Condition": {"StringEquals": {"aws:PrincipalOrgID": "o-test"}}})),
        bucket("vpce-only", A, policy({"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "s3:*",
                                       "Resource": "arn:aws:s3:::vpce-only/*",
                                       "Condition": {"StringEquals": {"aws:SourceVpce": "vpce-1"}}})),
    ]
    found = kinds(docs)
    assert found["open"] == ("ExternalAccess:S3Bucket/Public", ("*",))
    assert "org-only" not in found and "vpce-only" not in found


def test_named_outside_account_is_cross_account_but_the_organisation_is_the_zone_of_trust() -> None:
    trust = policy({"Effect": "Allow", "Action": "sts:AssumeRole",
                    "Principal": {"AWS": [f"arn:aws:iam::{OUTSIDE}:root", f"arn:aws:iam::{B}:role/ci"]}})
    in_org = policy({"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"AWS": f"arn:aws:iam::{MGMT}:root"}})
    with_external_id = policy({"Effect": "Allow", "Action": "sts:AssumeRole",
                               "Principal": {"AWS": f"arn:aws:iam::{OUTSIDE}:root"},
                               "Condition": {"StringEquals": {"sts:ExternalId": "x-123"}}})
    docs = [role(A, "vendor", trust), role(A, "admin-from-mgmt", in_org), role(A, "vendor-extid", with_external_id),
            *organisation(None)]
    found = kinds(docs)
    assert found["vendor"] == ("ExternalAccess:IAMRole/CrossAccount", (OUTSIDE,))  # B is in the organisation
    assert "admin-from-mgmt" not in found
    # the probe carries no ExternalId, so the condition denies it: AWS would too
    assert "vendor-extid" not in found
    # without an organisation the zone of trust is the account, so B and the management account count
    found = kinds([role(A, "vendor", trust), role(A, "admin-from-mgmt", in_org)])
    assert found["vendor"] == ("ExternalAccess:IAMRole/CrossAccount", (B, OUTSIDE))
    assert found["admin-from-mgmt"] == ("ExternalAccess:IAMRole/CrossAccount", (MGMT,))


def test_service_principal_without_source_condition() -> None:
    loose = policy({"Sid": "Trail", "Effect": "Allow", "Principal": {"Service": "cloudtrail.amazonaws.com"},
                    "Action": "s3:PutObject", "Resource": "arn:aws:s3:::loose/*"})
    pinned = policy({"Effect": "Allow", "Principal": {"Service": "cloudtrail.amazonaws.com"},
                     "Action": "s3:PutObject", "Resource": "arn:aws:s3:::pinned/*",
                     "Condition": {"StringEquals": {"aws:SourceAccount": A}}})
    found = kinds([bucket("loose", A, loose), bucket("pinned", A, pinned)])
    assert found["loose"] == ("ExternalAccess:S3Bucket/ServiceWithoutSourceCondition", ("cloudtrail.amazonaws.com",))
    assert "pinned" not in found


def test_deny_statement_removes_public_access() -> None:
    docs = [bucket("guarded", A, policy(
        {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::guarded/*"},
        {"Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": "arn:aws:s3:::guarded/*",
         "Condition": {"StringNotEquals": {"aws:PrincipalAccount": A}}}))]
    assert kinds(docs) == {}


def _with_bpa(docs: list[dict[str, Any]], name: str, restrict: bool, acl_public: bool) -> list[dict[str, Any]]:
    for d in docs:
        if d["arn"] == f"arn:aws:s3:::{name}":
            d["calls"]["GetPublicAccessBlock"] = {"PublicAccessBlockConfiguration": {
                "RestrictPublicBuckets": restrict, "IgnorePublicAcls": restrict}}
            grants = [{"Grantee": {"Type": "CanonicalUser", "ID": "owner"}, "Permission": "FULL_CONTROL"}]
            if acl_public:
                grants.append({"Grantee": {"Type": "Group", "URI": "http://acs.amazonaws.com/groups/global/AllUsers"},
                               "Permission": "WRITE"})
            d["calls"]["GetBucketAcl"] = {"Grants": grants}
    return docs


def test_block_public_access_and_acl_grants() -> None:
    public = policy({"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"})
    blocked = kinds(_with_bpa([bucket("b", A, public)], "b", restrict=True, acl_public=True))
    assert blocked == {}
    acl_only = _with_bpa([bucket("acl", A, None)], "acl", restrict=False, acl_public=True)
    model = AccessModel.from_documents(acl_only)
    items, _ = external_access(model)
    assert [(i.type, i.via, i.write) for i in items] == [("ExternalAccess:S3Bucket/Public", "acl", True)]
    findings = external_findings(model, items=items)
    assert findings[0].frameworks == {"fsbp": ["S3.3"]}  # public write
    assert findings[0].severity.value == "CRITICAL"


def test_findings_carry_the_granting_statement_and_controls() -> None:
    key_policy = policy(
        {"Sid": "Root", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{A}:root"}, "Action": "kms:*",
         "Resource": "*"},
        {"Sid": "Everyone", "Effect": "Allow", "Principal": "*", "Action": "kms:Decrypt", "Resource": "*"})
    key_arn = f"arn:aws:kms:us-east-1:{A}:key/k1"
    key = doc("AwsKmsKey", key_arn, {"KeyId": "k1"}, A, {
        "GetKeyPolicy": {"PolicyDocument": key_policy},
        "ListAliases": {"Aliases": [{"AliasName": "alias/shared"}]}})
    model = AccessModel.from_documents([key])
    findings = external_findings(model)
    assert len(findings) == 1
    f = findings[0]
    assert f.source is Source.IAM and f.type == "ExternalAccess:KMSKey/Public"
    assert f.frameworks == {"fsbp": ["KMS.5"]} and f.principal == "*"
    assert f.evidence.details["statements"] == [key_policy["Statement"][1]]
    assert f.evidence.details["actions"] == ["kms:Decrypt"]
    assert "alias/shared" in f.title
