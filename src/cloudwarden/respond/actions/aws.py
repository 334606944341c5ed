"""What the non-IAM response actions share: ids from ARNs, service errors, and the exclusion check.

:class:`AwsAction` is an :class:`~cloudwarden.respond.actions.base.Action` whose ``plan`` and
``execute`` first read the ``cloudwarden:exclude`` tag of every resource the call would touch, through
the service that owns it (S3 bucket tagging, EC2 tags, KMS resource tags, CloudTrail tags, GuardDuty
detector tags), and do nothing to an excluded resource, returning ``{"Excluded": [...]}``. The runner's
own gate reads IAM tags only (``base._read_tags``); this check makes the guarantee hold for every other
kind of resource, in every mode, whatever the runner does. Subclasses implement ``_plan`` and
``_execute``; tags are read on every call, so a tag added mid-run is honoured.
"""

from __future__ import annotations

from abc import abstractmethod
from typing import Any, Final

from botocore.exceptions import ClientError

from cloudwarden.core.arn import Arn
from cloudwarden.core.errors import BadInputError
from cloudwarden.respond.actions.base import EXCLUDE_TAG, Action, ActionContext, Outcome, Plan, ResourceKey, aws_error

REGION_SCHEMA: Final[dict[str, Any]] = {"type": "string", "pattern": "^[a-z]{2}(-[a-z]+)+-[0-9]$"}
# Tags every resource the actions create or mark carry, so people (and a re-run) recognise them.
CASE_TAG: Final = "cloudwarden:case"
MANAGED_TAG: Final = "cloudwarden:managed"

# Resource kinds (ResourceKey.kind) of the resources these actions touch.
BUCKET: Final = "s3-bucket"
INSTANCE: Final = "ec2-instance"
SECURITY_GROUP: Final = "ec2-security-group"
KMS_KEY: Final = "kms-key"
TRAIL: Final = "cloudtrail-trail"
DETECTOR: Final = "guardduty-region"


def call(service: str, function: Any, **kwargs: Any) -> Any:
    """Call ``function``; an AWS error becomes the States error ``<Service>.<Code>``."""
    try:
        return function(**kwargs)
    except ClientError as exc:
        raise aws_error(exc, service) from None


def region_of(ctx: ActionContext, params: dict[str, Any]) -> str:
    return str(params.get("Region") or ctx.region)


def resource_id(value: str, resource_type: str, where: str) -> str:
    """``i-0abc`` from ``i-0abc`` or ``arn:aws:ec2:r:a:instance/i-0abc``; the ARN's type must match."""
    if not value.startswith("arn:"):
        return value
    arn = Arn.parse(value, where)
    if arn.resource_type != resource_type:
        raise BadInputError(where, f"{value!r} is not an {resource_type} ARN")
    return arn.resource_name


def bucket_name(value: str, where: str) -> str:
    """A bucket's name from its name or its ARN (``arn:aws:s3:::name``)."""
    if value.startswith("arn:"):
        arn = Arn.parse(value, where)
        if arn.service != "s3" or "/" in arn.resource:
            raise BadInputError(where, f"{value!r} is not an S3 bucket ARN")
        return arn.resource
    return value


def tag_map(tags: list[dict[str, str]] | None) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in tags or []}


def _read_tags(ctx: ActionContext, key: ResourceKey, region: str) -> dict[str, str]:
    """The tags of one resource (empty when it does not exist)."""
    if key.kind == BUCKET:
        try:
            return tag_map(ctx.client("s3", region).get_bucket_tagging(Bucket=key.name)["TagSet"])
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchTagSet", "NoSuchBucket"):
                return {}
            raise aws_error(exc, "S3") from None
    if key.kind in (INSTANCE, SECURITY_GROUP):
        found = call("EC2", ctx.client("ec2", region).describe_tags,
                     Filters=[{"Name": "resource-id", "Values": [key.name]}])
        return {t["Key"]: t["Value"] for t in found.get("Tags", [])}
    if key.kind == KMS_KEY:
        try:
            return {t["TagKey"]: t["TagValue"]
                    for t in ctx.client("kms", region).list_resource_tags(KeyId=key.name).get("Tags", [])}
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "NotFoundException":
                return {}
            raise aws_error(exc, "KMS") from None
    if key.kind == TRAIL:
        client = ctx.client("cloudtrail", region)
        trails = call("CloudTrail", client.describe_trails, trailNameList=[key.name]).get("trailList", [])
        if not trails:
            return {}
        found = call("CloudTrail", client.list_tags, ResourceIdList=[trails[0]["TrailARN"]])
        return {t["Key"]: t["Value"] for item in found.get("ResourceTagList", []) for t in item.get("TagsList", [])}
    if key.kind == DETECTOR:
        client = ctx.client("guardduty", key.name)
        tags: dict[str, str] = {}
        for detector in call("GuardDuty", client.list_detectors).get("DetectorIds", []):
            tags.update(call("GuardDuty", client.get_detector, DetectorId=detector).get("Tags") or {})
        return tags
    return {}


def tags_of(ctx: ActionContext, key: ResourceKey, region: str) -> dict[str, str]:
    """The resource's tags, read now. Not kept in the context's cache: the runner's gate fills that with
    the IAM reading (empty for these kinds) before the action runs."""
    return _read_tags(ctx, key, region)


class AwsAction(Action):
    """An action on a non-IAM resource: exclusion is checked here, before ``_plan`` / ``_execute``."""

    def _excluded(self, ctx: ActionContext, params: dict[str, Any]) -> list[str]:
        region = region_of(ctx, params)
        return [str(key) for key in self.targets(params) if EXCLUDE_TAG in tags_of(ctx, key, region)]

    def plan(self, ctx: ActionContext, params: dict[str, Any]) -> Plan:
        excluded = self._excluded(ctx, params)
        if excluded:
            return Plan([], {"Excluded": excluded, "Reason": f"tagged {EXCLUDE_TAG}; never touched"})
        return self._plan(ctx, params)

    def execute(self, ctx: ActionContext, params: dict[str, Any]) -> Outcome:
        excluded = self._excluded(ctx, params)
        if excluded:
            return Outcome([], {"Excluded": excluded, "Reason": f"tagged {EXCLUDE_TAG}; never touched"})
        return self._execute(ctx, params)

    def verify(self, ctx: ActionContext, params: dict[str, Any], result: dict[str, Any]) -> list[str]:
        """By default: planning again finds nothing left to change."""
        return [f"still to do after execute: {change}" for change in self._plan(ctx, params).changes]

    @abstractmethod
    def _plan(self, ctx: ActionContext, params: dict[str, Any]) -> Plan: ...

    @abstractmethod
    def _execute(self, ctx: ActionContext, params: dict[str, Any]) -> Outcome: ...
