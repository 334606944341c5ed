"""The registry checked as data: every operation a descriptor names exists in botocore's model of its service."""

from __future__ import annotations

import botocore.session
import pytest

from cloudwarden.core.errors import BadInputError
from cloudwarden.inventory import registry
from cloudwarden.inventory.descriptor import Descriptor
from cloudwarden.inventory.types import ec2, monitoring, security, workloads

DESCRIPTORS: tuple[Descriptor, ...] = (*ec2.DESCRIPTORS, *security.DESCRIPTORS, *monitoring.DESCRIPTORS,
                                       *workloads.DESCRIPTORS)


@pytest.mark.parametrize("descriptor", DESCRIPTORS, ids=lambda d: d.type)
def test_descriptor_operations_exist_in_the_service_model(descriptor: Descriptor) -> None:
    session = botocore.session.get_session()
    for detail in (descriptor.enrich, *descriptor.details):
        if detail is not None:
            model = session.get_service_model(detail.service or descriptor.service)
            assert detail.operation in model.operation_names, detail.operation
    model = session.get_service_model(descriptor.service)
    assert descriptor.list_operation in model.operation_names
    assert descriptor.type.startswith("Aws")
    assert all(":" in p for p in descriptor.permissions)


def test_unit_names_and_types_are_unique() -> None:
    names = [u.name for u in registry.UNITS]
    assert len(names) == len(set(names))
    types = [t for u in registry.UNITS for t in u.types]
    assert len(types) == len(set(types))


def test_select_always_adds_account_and_refuses_unknown_services() -> None:
    chosen = registry.select(["s3"])
    assert {u.service for u in chosen} == {"s3", "account"}
    assert registry.parse_services("all") is None
    assert registry.parse_services(" S3, iam ") == ("s3", "iam")
    with pytest.raises(BadInputError) as err:
        registry.parse_services("s3,bogus")
    assert "bogus" in str(err.value) and err.value.where == "--services"


def test_permissions_name_iam_actions_not_operation_guesses() -> None:
    needed = registry.permissions(registry.select(["elbv2", "s3"]))
    assert "elasticloadbalancing:DescribeLoadBalancers" in needed
    assert "s3:GetEncryptionConfiguration" in needed and "s3:GetAccountPublicAccessBlock" in needed
