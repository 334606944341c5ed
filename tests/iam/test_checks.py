"""One positive and one negative case for every registered check code, plus the wildcard helpers they rest on."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from cloudwarden.iam.validate import CHECKS, Level, PolicyType, validate_policy
from cloudwarden.iam.validate.checks import operator_family
from cloudwarden.iam.validate.match import covers, intersects, tokens

IDENTITY = PolicyType.IDENTITY_POLICY
RESOURCE = PolicyType.RESOURCE_POLICY
SCP = PolicyType.SERVICE_CONTROL_POLICY
RCP = PolicyType.RESOURCE_CONTROL_POLICY
ACCOUNT = "111111111111"


def doc(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def allow(action: Any, resource: Any = "*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def deny(action: Any, resource: Any = "*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Deny", "Action": action, "Resource": resource, **extra}


def cond(operator: str, key: str, value: Any) -> dict[str, Any]:
    return {"Condition": {operator: {key: value}}}


BUCKET = "arn:aws:s3:::reports"
OBJECTS = "arn:aws:s3:::reports/*"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/app"
PUBLIC = {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": OBJECTS}


@dataclass(frozen=True)
class Case:
    bad: dict[str, Any]
    pointer: str  # where the issue must point
    good: dict[str, Any]  # the fixed policy: no issue of this code
    policy_type: PolicyType = IDENTITY


CASES: dict[str, Case] = {
    "UNKNOWN_SERVICE": Case(doc(allow(["s3:GetObject", "s4:GetObject"], OBJECTS)), "/Statement/0/Action/1",
                            doc(allow(["s3:GetObject"], OBJECTS))),
    "UNKNOWN_ACTION": Case(doc(allow(["s3:GetObjekt"], OBJECTS)), "/Statement/0/Action/0",
                           doc(allow(["s3:GetObject", "s3:Get*"], OBJECTS))),
    "UNKNOWN_CONDITION_KEY": Case(
        doc(allow("s3:GetObject", OBJECTS, **cond("StringEquals", "aws:SourceVpcc", "vpc-1"))),
        "/Statement/0/Condition/StringEquals/aws:SourceVpcc",
        doc(allow("s3:GetObject", OBJECTS, Condition={
            "StringEquals": {"aws:SourceVpc": "vpc-1", "aws:PrincipalTag/team": "a", "s3:ExistingObjectTag/x": "y",
                             "token.actions.githubusercontent.com:sub": "repo:o/r:*", "saml:aud": "x"}}))),
    "OPERATOR_TYPE_MISMATCH": Case(
        doc(allow("s3:GetObject", OBJECTS, **cond("NumericLessThan", "aws:SourceIp", "10"))),
        "/Statement/0/Condition/NumericLessThan/aws:SourceIp",
        doc(allow("s3:GetObject", OBJECTS, Condition={
            "IpAddress": {"aws:SourceIp": "10.0.0.0/8"}, "StringEquals": {"aws:ViaAWSService": "true"},
            "ArnLike": {"aws:SourceArn": "arn:aws:sns:*:*:t"}, "NumericLessThan": {"aws:MultiFactorAuthAge": "3600"},
            "DateGreaterThan": {"aws:CurrentTime": "2020-01-01T00:00:00Z"}}))),
    "INVALID_CONDITION_VALUE": Case(
        doc(allow("s3:GetObject", OBJECTS, **cond("IpAddress", "aws:SourceIp", ["10.0.0.0/8", "10.0.0.300"]))),
        "/Statement/0/Condition/IpAddress/aws:SourceIp/1",
        doc(allow("s3:GetObject", OBJECTS, Condition={
            "IpAddress": {"aws:SourceIp": ["10.0.0.0/8", "2001:db8::/32"]}, "Bool": {"aws:SecureTransport": True},
            "NumericLessThan": {"aws:MultiFactorAuthAge": 3600}, "Null": {"aws:TokenIssueTime": "false"},
            "StringEquals": {"aws:PrincipalTag/x": "${aws:username}"}}))),
    "NULL_WITH_IF_EXISTS": Case(
        doc(allow("s3:GetObject", OBJECTS, **cond("NullIfExists", "aws:TokenIssueTime", "true"))),
        "/Statement/0/Condition/NullIfExists",
        doc(allow("s3:GetObject", OBJECTS, **cond("Null", "aws:TokenIssueTime", "true")))),
    "ACTION_RESOURCE_MISMATCH": Case(
        doc(allow(["s3:GetObject", "s3:PutObject"], [OBJECTS, BUCKET])), "/Statement/0/Resource/1",
        doc(allow(["s3:GetObject", "s3:ListBucket"], [OBJECTS, BUCKET]),
            allow("s3:ListAllMyBuckets", "*"), allow("s3:Get*", "arn:aws:s3:::${aws:username}-*"))),
    "MISSING_PRINCIPAL": Case(
        doc(PUBLIC, {"Effect": "Deny", "Action": "s3:*", "Resource": OBJECTS}), "/Statement/1",
        doc(PUBLIC, {"Effect": "Deny", "NotPrincipal": {"AWS": ROLE}, "Action": "s3:*", "Resource": OBJECTS}),
        RESOURCE),
    "UNSUPPORTED_PRINCIPAL": Case(
        doc({"Effect": "Deny", "Principal": {"AWS": ROLE}, "Action": "s3:*", "Resource": "*"}),
        "/Statement/0/Principal",
        doc({"Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": "*"}), RCP),
    "RCP_UNSUPPORTED_SERVICE": Case(
        doc({"Effect": "Deny", "Principal": "*", "Action": ["s3:GetObject", "ec2:RunInstances"], "Resource": "*"}),
        "/Statement/0/Action/1",
        doc({"Effect": "Deny", "Principal": "*", "Action": ["s3:GetObject", "kms:Decrypt"], "Resource": "*"}), RCP),
    "ALLOW_WITH_NOT_PRINCIPAL": Case(
        doc({"Effect": "Allow", "NotPrincipal": {"AWS": ROLE}, "Action": "s3:GetObject", "Resource": OBJECTS}),
        "/Statement/0/NotPrincipal",
        doc({"Effect": "Deny", "NotPrincipal": {"AWS": ROLE}, "Action": "s3:GetObject", "Resource": OBJECTS}),
        RESOURCE),
    "ALLOW_WITH_PUBLIC_PRINCIPAL": Case(
        doc({**PUBLIC, "Principal": {"AWS": ["*"]}}), "/Statement/0/Principal",
        doc({**PUBLIC, **cond("StringEquals", "aws:PrincipalOrgID", "o-abc123")}), RESOURCE),
    "WILDCARD_ADMIN": Case(
        doc(allow("*", "*")), "/Statement/0/Action",
        doc(allow("*", "*", **cond("Bool", "aws:MultiFactorAuthPresent", "true")), deny("*", "*"))),
    "PASS_ROLE_WITH_STAR_IN_RESOURCE": Case(
        doc(allow(["iam:GetRole", "iam:Pass*"], "*")), "/Statement/0/Resource",
        doc(allow("iam:PassRole", ROLE),
            allow("iam:PassRole", "*", **cond("StringEquals", "iam:PassedToService", "ec2.amazonaws.com")))),
    "PASS_ROLE_WITH_NOT_RESOURCE": Case(
        doc({"Effect": "Allow", "Action": "iam:PassRole", "NotResource": ROLE}), "/Statement/0/NotResource",
        doc({"Effect": "Allow", "Action": "iam:GetRole", "NotResource": ROLE})),
    "MFA_DENY_WITHOUT_IF_EXISTS": Case(
        doc(deny("*", "*", **cond("Bool", "aws:MultiFactorAuthPresent", "false"))),
        "/Statement/0/Condition/Bool/aws:MultiFactorAuthPresent",
        doc(deny("*", "*", **cond("BoolIfExists", "aws:MultiFactorAuthPresent", "false")))),
    "MFA_ALLOW_IF_EXISTS": Case(
        doc(allow("ec2:StopInstances", "*", **cond("BoolIfExists", "aws:MultiFactorAuthPresent", "true"))),
        "/Statement/0/Condition/BoolIfExists/aws:MultiFactorAuthPresent",
        doc(allow("ec2:StopInstances", "*", **cond("Bool", "aws:MultiFactorAuthPresent", "true")))),
    "MFA_NULL_NOT_ENFORCING": Case(
        doc(allow("ec2:StopInstances", "*", **cond("Null", "aws:MultiFactorAuthPresent", "false"))),
        "/Statement/0/Condition/Null/aws:MultiFactorAuthPresent",
        doc(deny("ec2:StopInstances", "*", **cond("Null", "aws:MultiFactorAuthPresent", "true")))),
    "FOR_ALL_VALUES_WITH_SINGLE_VALUED_KEY": Case(
        doc(allow("s3:GetObject", OBJECTS, **cond("ForAllValues:StringEquals", "aws:PrincipalOrgID", "o-1"))),
        "/Statement/0/Condition/ForAllValues:StringEquals/aws:PrincipalOrgID",
        doc(allow("s3:GetObject", OBJECTS, **cond("ForAllValues:StringEquals", "aws:TagKeys", "team")))),
    "ALLOW_WITH_NOT_RESOURCE": Case(
        doc({"Effect": "Allow", "Action": "s3:GetObject", "NotResource": OBJECTS}), "/Statement/0/NotResource",
        doc({"Effect": "Deny", "Action": "s3:GetObject", "NotResource": OBJECTS})),
    "ALLOW_WITH_NOT_ACTION": Case(
        doc({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}), "/Statement/0/NotAction",
        doc({"Effect": "Deny", "NotAction": "iam:*", "Resource": "*"})),
    "SINGLE_VALUE_OPERATOR_ON_MULTIVALUED_KEY": Case(
        doc(allow("s3:PutObject", OBJECTS, **cond("StringEquals", "aws:TagKeys", "team"))),
        "/Statement/0/Condition/StringEquals/aws:TagKeys",
        doc(allow("s3:PutObject", OBJECTS, Condition={"ForAnyValue:StringEquals": {"aws:TagKeys": "team"},
                                                      "Null": {"aws:TagKeys": "false"}}))),
    "REDUNDANT_ACTION": Case(
        doc(allow(["s3:Get*", "s3:GetObject"], OBJECTS)), "/Statement/0/Action/1",
        doc(allow(["s3:Get*", "s3:PutObject"], OBJECTS))),
    "REDUNDANT_RESOURCE": Case(
        doc(allow("s3:GetObject", [OBJECTS, "arn:aws:s3:::reports/2024/*"])), "/Statement/0/Resource/1",
        doc(allow("s3:GetObject", [OBJECTS, "arn:aws:s3:::other/*"]))),
    "EMPTY_SID": Case(
        doc({**allow("s3:GetObject", OBJECTS), "Sid": ""}), "/Statement/0/Sid",
        doc({**allow("s3:GetObject", OBJECTS), "Sid": "Read"})),
    "EMPTY_CONDITION": Case(
        doc(allow("s3:GetObject", OBJECTS, Condition={"StringEquals": {}})), "/Statement/0/Condition/StringEquals",
        doc(allow("s3:GetObject", OBJECTS, **cond("StringEquals", "aws:PrincipalTag/team", "a")))),
}


def codes(document: dict[str, Any], policy_type: PolicyType) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for issue in validate_policy(document, policy_type=policy_type):
        found.setdefault(issue.code, []).append(issue.pointer)
    return found


def test_every_registered_check_has_a_case() -> None:
    assert set(CASES) == set(CHECKS)


@pytest.mark.parametrize("code", sorted(CASES))
def test_check_reports_the_bad_policy_at_the_pointer(code: str) -> None:
    case = CASES[code]
    found = codes(case.bad, case.policy_type)
    assert case.pointer in found.get(code, []), found


@pytest.mark.parametrize("code", sorted(CASES))
def test_check_is_silent_on_the_fixed_policy(code: str) -> None:
    case = CASES[code]
    found = codes(case.good, case.policy_type)
    assert code not in found, found[code]


def test_registry_metadata() -> None:
    for code, registered in CHECKS.items():
        assert registered.code == code and code == code.upper() and " " not in code
        assert registered.title and registered.policy_types
    assert CHECKS["PASS_ROLE_WITH_STAR_IN_RESOURCE"].level is Level.SECURITY_WARNING
    assert CHECKS["OPERATOR_TYPE_MISMATCH"].level is Level.ERROR
    assert CHECKS["REDUNDANT_ACTION"].level is Level.SUGGESTION


def test_checks_follow_the_policy_type() -> None:
    scp = doc({"Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": "*"})
    assert "UNSUPPORTED_PRINCIPAL" in codes(scp, SCP)
    assert "UNSUPPORTED_PRINCIPAL" not in codes(scp, RESOURCE)
    # A public grant is a resource-policy concern only.
    assert "ALLOW_WITH_PUBLIC_PRINCIPAL" not in codes(doc(PUBLIC), RCP)


def test_unknown_action_suggests_the_near_miss() -> None:
    (issue,) = [i for i in validate_policy(doc(allow("s3:GetObjekt", OBJECTS))) if i.code == "UNKNOWN_ACTION"]
    assert "Did you mean s3:GetObject?" in issue.message


def test_checks_run_after_a_late_grammar_error_but_not_after_a_syntax_error() -> None:
    late = {"Version": "2012-10-17",
            "Statement": [allow("s3:GetObjekt", OBJECTS) | {"Sid": "a"}, allow("*", "*") | {"Sid": "a"}]}
    found = codes(late, IDENTITY)
    assert "DUPLICATE_SID" in found and "WILDCARD_ADMIN" in found and "UNKNOWN_ACTION" in found
    broken = {"Version": "2012-10-17", "Statement": [allow("*", "*") | {"Extra": 1}]}
    assert set(codes(broken, IDENTITY)) == {"POLICY_SYNTAX_ERROR"}


def test_operator_family() -> None:
    assert operator_family("ForAnyValue:StringNotLikeIfExists") == "String"
    assert operator_family("NotIpAddress") == "IpAddress"
    assert operator_family("ArnNotEquals") == "Arn"
    assert operator_family("Null") == "Null"
    assert operator_family("Frobnicate") is None


def test_glob_intersection() -> None:
    object_template = tokens("s3:::${BucketName}/${ObjectName}")
    bucket_template = tokens("s3:::${BucketName}")
    assert intersects(tokens("s3:::reports/*"), object_template)
    assert intersects(tokens("s3:::reports"), bucket_template)
    assert not intersects(tokens("s3:::reports"), object_template)  # a bucket ARN is not an object ARN
    assert intersects(tokens("s3:::re?orts/a"), tokens("s3:::reports/*"))
    assert not intersects(tokens("s3:::a*b"), tokens("s3:::c*"))
    assert intersects(tokens("*"), tokens("anything"))
    assert not intersects(tokens("ab"), tokens("abc"))


def test_glob_cover() -> None:
    assert covers("s3:Get*", "s3:GetObject")
    assert covers("S3:GET*", "s3:getobject")
    assert covers("s3:*", "s3:Get*")
    assert not covers("s3:Get*", "s3:PutObject")
    assert not covers("s3:GetObject", "s3:Get*")
    assert not covers("arn:aws:s3:::B/*", "arn:aws:s3:::b/x", fold=False)
