"""IAM's grammar against the AWS-verified cases in ../shared/data/iam-policy-grammar.json (read in place)."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

import pytest

from cloudwarden.iam.validate import Level, PolicyType, check_grammar, validate_policy
from cloudwarden.iam.validate.grammar import IAM_PATH_MESSAGE, SYNTAX
from tests.conftest import shared_path

INVALID_COUNT = 78
VALID_COUNT = 54


@cache
def _cases() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(shared_path("data", "iam-policy-grammar.json").read_text("utf-8"))
    return data


def _text(document: Any) -> str:
    return document if isinstance(document, str) else json.dumps(document, indent=2)


def test_the_data_set_is_the_one_we_expect() -> None:
    assert len(_cases()["invalid"]) == INVALID_COUNT
    assert len(_cases()["valid"]) == VALID_COUNT


@pytest.mark.parametrize("index", range(INVALID_COUNT))
def test_invalid_document_gets_exactly_iams_message(index: int) -> None:
    case = _cases()["invalid"][index]
    issue = check_grammar(_text(case["document"]))
    assert issue is not None, f"IAM rejects case {index} with {case['aws_error']!r}; we accepted it"
    assert issue.message == case["aws_error"]
    assert issue.level is Level.ERROR
    # The same verdict whether the document arrives as text or as a parsed object.
    if not isinstance(case["document"], str):
        again = check_grammar(case["document"])
        assert again is not None and again.message == case["aws_error"]


@pytest.mark.parametrize("index", range(VALID_COUNT))
def test_valid_document_passes(index: int) -> None:
    document = _cases()["valid"][index]
    assert check_grammar(_text(document)) is None
    grammar_codes = {"POLICY_SYNTAX_ERROR", "POLICY_VERSION", "LEGACY_PARSE_FAILED", "DUPLICATE_SID"}
    assert not [i for i in validate_policy(_text(document)) if i.code in grammar_codes]


def test_pointers_name_the_offending_element() -> None:
    invalid = _cases()["invalid"]
    by_message = {
        # 'Resource adf must be in ARN format or "*".': the one entry of a list
        19: "/Statement/Resource/0",
        # two bad partitions in one list: IAM reports the last one it checks, which sits at index 0
        25: "/Statement/Resource/0",
        # a repeated Sid points at the repeat
        59: "/Statement/1/Sid",
        # "Deny" with no actions: the statement itself
        34: "/Statement/0",
        # an unknown condition operator with values
        52: "/Statement/Condition/x",
    }
    for index, pointer in by_message.items():
        issue = check_grammar(invalid[index]["document"])
        assert issue is not None and issue.pointer == pointer, (index, issue)


def test_not_json_reports_the_line_and_column() -> None:
    issue = check_grammar('{\n  "Version": "2012-10-17",\n  "Statement": [\n}')
    assert issue is not None and issue.message == SYNTAX
    assert (issue.line, issue.column) == (4, 1)


def test_identity_policies_must_not_name_a_principal_but_resource_policies_may() -> None:
    statement = {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111111111111:root"},
                 "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"}
    doc = {"Version": "2012-10-17", "Statement": statement}
    issue = check_grammar(doc, PolicyType.IDENTITY_POLICY)
    assert issue is not None
    assert issue.message == "Policy document should not specify a principal."
    assert issue.pointer == "/Statement/Principal"
    assert check_grammar(doc, PolicyType.RESOURCE_POLICY) is None


def test_resources_are_required_only_in_identity_policies() -> None:
    trust = {"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"},
                                                    "Action": "sts:AssumeRole"}}
    assert check_grammar(trust, PolicyType.RESOURCE_POLICY) is None
    issue = check_grammar({**trust, "Statement": {"Effect": "Allow", "Action": "sts:AssumeRole"}})
    assert issue is not None and issue.message == "Policy statement must contain resources."


def test_principal_syntax() -> None:
    base = {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"}
    principals: list[Any] = [{"AWS": 12}, {"Person": "x"}, [], {}]
    for principal in principals:
        doc = {"Version": "2012-10-17", "Statement": {**base, "Principal": principal}}
        issue = check_grammar(doc, PolicyType.RESOURCE_POLICY)
        assert issue is not None and issue.message == SYNTAX, principal


def test_iam_resource_paths_follow_the_catalog_but_keep_iams_message() -> None:
    def doc(resource: str) -> dict[str, Any]:
        return {"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "iam:GetRole",
                                                       "Resource": resource}}

    # AWS managed policies use these, so IAM accepts them although its message does not list them.
    assert check_grammar(doc("arn:aws:iam::*:root")) is None
    assert check_grammar(doc("arn:aws:iam::aws:role-template/x/y:1")) is None
    assert check_grammar(doc("arn:aws:iam::*:*")) is None
    issue = check_grammar(doc("arn:aws:iam::*:bucket/x"))
    assert issue is not None and issue.message == IAM_PATH_MESSAGE
    # S3 resources that carry a region: access grants are accepted, a bucket is not.
    assert check_grammar(doc("arn:aws:s3:us-east-1:111111111111:access-grants/default")) is None
    issue = check_grammar(doc("arn:aws:s3:us-east-1::bucket"))
    expected = "Resource arn:aws:s3:us-east-1::bucket can not contain region information."
    assert issue is not None and issue.message == expected


def test_numbers_are_valid_condition_values_but_objects_are_not() -> None:
    def doc(value: Any) -> dict[str, Any]:
        return {"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "s3:ListBucket",
                                                       "Resource": "arn:aws:s3:::b",
                                                       "Condition": {"NumericLessThan": {"s3:max-keys": value}}}}

    assert check_grammar(doc(10)) is None
    assert check_grammar(doc([10, "20"])) is None
    issue = check_grammar(doc([{"a": 1}]))
    assert issue is not None and issue.pointer == "/Statement/Condition/NumericLessThan/s3:max-keys/0"
