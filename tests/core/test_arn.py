from __future__ import annotations

import pytest

from cloudwarden.core.arn import Arn
from cloudwarden.core.errors import BadInputError


def test_parse_user_arn_with_path() -> None:
    arn = Arn.parse("arn:aws:iam::222222222222:user/dev/alice")
    assert (arn.partition, arn.service, arn.region, arn.account) == ("aws", "iam", "", "222222222222")
    assert arn.resource_type == "user"
    assert arn.resource_name == "alice"
    assert str(arn) == "arn:aws:iam::222222222222:user/dev/alice"


def test_resource_keeps_colons_after_the_fifth() -> None:
    arn = Arn.parse("arn:aws:lambda:us-east-1:222222222222:function:handler:PROD")
    assert arn.resource == "function:handler:PROD"
    assert arn.resource_type == "function"


def test_s3_object_arn_has_empty_region_and_account() -> None:
    arn = Arn.parse("arn:aws:s3:::bucket/key/with:colon")
    assert arn.account == "" and arn.resource == "bucket/key/with:colon"


@pytest.mark.parametrize("text", ["", "arn:aws:s3", "urn:aws:s3:::b", "arn::s3:::b"])
def test_rejects_non_arns(text: str) -> None:
    with pytest.raises(BadInputError):
        Arn.parse(text)
