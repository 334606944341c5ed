"""Evaluator behaviour beyond the golden files: traces, statement labels, parse errors, the service index."""

from __future__ import annotations

from typing import Any

import pytest

from cloudwarden.core.errors import BadInputError
from cloudwarden.iam import CaseError, PolicyError, build_request, evaluate, parse_policy
from cloudwarden.iam.model import arn_glob

ALICE = "arn:aws:iam::111111111111:user/alice"


def _case(**kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"action": "s3:GetObject", "resource": "arn:aws:s3:::b/k",
                            "resource_account": "111111111111", "principal": ALICE}
    base.update(kw)
    return base


def _pol(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def test_explain_trace_names_the_deciding_statement() -> None:
    req = build_request(_case(identity_policies=[
        _pol({"Sid": "Read", "Effect": "Allow", "Action": "s3:Get*", "Resource": "*"}),
        _pol({"Sid": "NoKeys", "Effect": "Deny", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/k"}),
    ]), "t")
    decision = evaluate(req, explain=True)
    assert decision.decision == "explicitDeny"
    assert decision.matched_statements == ("identity[0]/Read", "identity[1]/NoKeys")
    assert any("identity[1]/NoKeys: Deny applies" in line for line in decision.trace)
    assert evaluate(req).trace == ()  # no trace unless asked


def test_missing_context_keys_reported_once_per_key() -> None:
    cond = {"Bool": {"aws:MultiFactorAuthPresent": "true"}, "IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}
    req = build_request(_case(identity_policies=[
        _pol({"Effect": "Allow", "Action": "s3:*", "Resource": "*", "Condition": cond},
             {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*", "Condition": cond}),
    ]), "t")
    decision = evaluate(req)
    assert decision.decision == "implicitDeny"
    assert decision.missing_context_keys == ("aws:MultiFactorAuthPresent", "aws:SourceIp")


def test_statements_of_other_services_are_not_candidates() -> None:
    policy = parse_policy(_pol(
        {"Effect": "Allow", "Action": ["ec2:Describe*", "s3:List*"], "Resource": "*"},
        {"Effect": "Allow", "Action": "iam:*", "Resource": "*"},
        {"Effect": "Deny", "NotAction": "s3:*", "Resource": "*"},
        {"Effect": "Allow", "Action": "*", "Resource": "*"},
    ), "identity", "identity[0]")
    assert [s.index for s in policy.candidates("s3")] == [0, 2, 3]
    assert [s.index for s in policy.candidates("iam")] == [1, 2, 3]
    assert [s.index for s in policy.candidates("kms")] == [2, 3]


@pytest.mark.parametrize(
    ("document", "pointer"),
    [
        ({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*"}]}, "/Statement/0"),
        ({"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": 3, "Resource": "*"}},
         "/Statement/Action"),
        ({"Version": "2020-01-01", "Statement": []}, "/Version"),
        ({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*",
          "Condition": {"StringEquals": {"a:b": {"x": 1}}}}]}, "/Statement/0/Condition/StringEquals/a:b"),
        ({"Version": "2012-10-17", "Statment": []}, "/Statment"),
        ({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["s3:x", "s3"], "Resource": "*"}]},
         "/Statement/0/Action/1"),
    ],
)
def test_malformed_policies_carry_a_json_pointer(document: dict[str, Any], pointer: str) -> None:
    with pytest.raises(PolicyError) as err:
        parse_policy(document, "identity", "identity[0]")
    assert err.value.pointer == pointer


def test_case_with_malformed_policy_is_a_case_error_not_bad_input() -> None:
    with pytest.raises(CaseError, match="identity\\[0\\]"):
        build_request(_case(identity_policies=[{"Statement": "nope"}]), "t")
    with pytest.raises(BadInputError):
        build_request(_case(action=5), "t")
    with pytest.raises(BadInputError):
        build_request(_case(principal="alice"), "t")


def test_resource_account_needed_for_s3_objects() -> None:
    req = build_request(_case(resource_account=None, identity_policies=[_pol(
        {"Effect": "Allow", "Action": "s3:*", "Resource": "*"})]), "t")
    decision = evaluate(req)
    assert decision.decision == "error" and "resource_account" in (decision.error or "")


def test_resource_account_taken_from_the_arn() -> None:
    req = build_request(_case(action="sqs:SendMessage", resource="arn:aws:sqs:us-east-1:222222222222:q",
                              resource_account=None), "t")
    assert req.resource_account == "222222222222"


def test_arn_glob_keeps_mid_segment_star_inside_the_segment() -> None:
    rx = arn_glob((("arn:aws:logs:", False), ("*", True), (":111111111111:log-group:app", False)))
    assert rx.fullmatch("arn:aws:logs:us-east-1:111111111111:log-group:app")
    assert rx.fullmatch("arn:aws:logs:a:b:111111111111:log-group:app")  # a * ending a segment may span colons
    mid = arn_glob((("arn:aws:s3:::a", False), ("*", True), ("b", False)))
    assert mid.fullmatch("arn:aws:s3:::a/x/b")
    assert not mid.fullmatch("arn:aws:s3:::a:x:b")


@pytest.mark.parametrize("named", ["arn:aws:iam::111111111111:root", "111111111111"])
@pytest.mark.parametrize(("resource", "action"), [("arn:aws:s3:::b/k", "s3:GetObject"),
                                                  ("arn:aws:sns:us-east-1:111111111111:t", "sns:Publish"),
                                                  ("arn:aws:kms:us-east-1:111111111111:key/k1", "kms:Decrypt")])
def test_account_principal_delegates_to_identity_policies_for_every_resource_type(
        named: str, resource: str, action: str) -> None:
    rp = _pol({"Effect": "Allow", "Principal": {"AWS": named}, "Action": action, "Resource": resource})
    alone = evaluate(build_request(_case(action=action, resource=resource, resource_policy=rp), "t"), explain=True)
    assert (alone.decision, alone.blocked_by) == ("implicitDeny", ("identity",))
    assert any("account principal" in line for line in alone.trace)
    with_iam = build_request(_case(action=action, resource=resource, resource_policy=rp, identity_policies=[
        _pol({"Effect": "Allow", "Action": action, "Resource": "*"})]), "t")
    assert evaluate(with_iam).decision == "allowed"
