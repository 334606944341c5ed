"""Resource types described as data: what to list, where the items are, which detail calls to make.

A :class:`Descriptor` says, for one ASFF resource type: the boto3 service and list operation, the
JMESPath to the items in each page, how to build the ARN and name, where the tags are, and the
per-resource :class:`Detail` calls. :mod:`cloudwarden.inventory.engine` interprets every descriptor the
same way, so adding a resource type is adding one value (Cloud Custodian's ``TypeInfo`` idea). The IAM
actions a descriptor needs are computed from its operations, so ``permissions`` can never drift from
the calls actually made.

Hooks exist for the few places where data alone is not enough (``prepare`` rewrites an item before it
is stored, e.g. replacing Lambda environment values by verdicts; ``transform`` rewrites one detail
answer, e.g. decoding user data); they are plain functions next to the descriptor that uses them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

Item = dict[str, Any]
Params = Callable[[Item], Mapping[str, Any]]
Scope = Literal["regional", "global"]

# boto3 service name -> IAM action prefix, where they differ.
IAM_PREFIX: dict[str, str] = {
    "elbv2": "elasticloadbalancing",
    "s3control": "s3",
    "sso-admin": "sso",
    "accessanalyzer": "access-analyzer",
    "stepfunctions": "states",
    "cloudwatch": "cloudwatch",
}


def iam_action(service: str, operation: str) -> str:
    """``("elbv2", "DescribeLoadBalancers")`` -> ``"elasticloadbalancing:DescribeLoadBalancers"``."""
    return f"{IAM_PREFIX.get(service, service)}:{operation}"


@dataclass(frozen=True)
class Detail:
    """One per-resource call. ``key`` names it in ``calls`` (default: the operation)."""

    operation: str
    params: Params
    key: str | None = None
    service: str | None = None
    decode: str | None = None  # a JSON-string field of the answer to decode into ``PolicyDocument``
    transform: Callable[[Item], Item] | None = None  # rewrites a successful answer before it is stored
    when: Callable[[Item], bool] | None = None  # the call is made only for items where this holds

    @property
    def name(self) -> str:
        return self.key or self.operation


@dataclass(frozen=True)
class Descriptor:
    """One resource type, collected by :func:`cloudwarden.inventory.engine.collect`."""

    type: str  # ASFF resource type, e.g. AwsEc2Instance
    service: str  # boto3 service name
    list_operation: str
    items: str  # JMESPath to the items of one page
    arn: Callable[[Item, str, str], str]  # (item, account, region) -> ARN
    name: Callable[[Item], str]
    list_params: Mapping[str, Any] = field(default_factory=dict)
    item_key: str | None = None  # list answers that are bare strings become {item_key: value}
    enrich: Detail | None = None  # a describe call whose answer (at ``enrich_path``) becomes the item
    enrich_path: str | None = None
    tags: Callable[[Item, dict[str, Any]], dict[str, str]] | None = None  # (data, calls) -> tags
    details: tuple[Detail, ...] = ()
    prepare: Callable[[Item], Item] | None = None  # rewrites the item before it is stored (secrets!)
    scope: Scope = "regional"
    extra_permissions: tuple[str, ...] = ()

    @property
    def permissions(self) -> tuple[str, ...]:
        actions = [iam_action(self.service, self.list_operation)]
        for detail in (self.enrich, *self.details):
            if detail is not None:
                actions.append(iam_action(detail.service or self.service, detail.operation))
        return tuple(dict.fromkeys([*actions, *self.extra_permissions]))


def field_of(name: str) -> Callable[[Item], str]:
    """An item-field getter for ``name``/``id`` builders."""

    def get(item: Item) -> str:
        return str(item.get(name, ""))

    return get


def tag_name_or(field_name: str) -> Callable[[Item], str]:
    """The ``Name`` tag when there is one (EC2's convention), else the item's ``field_name``."""

    def get(item: Item) -> str:
        for tag in item.get("Tags") or item.get("TagSet") or []:
            if isinstance(tag, Mapping) and tag.get("Key") == "Name":
                return str(tag.get("Value", ""))
        return str(item.get(field_name, ""))

    return get
