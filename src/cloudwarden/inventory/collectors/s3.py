"""S3 buckets: one ``ListBuckets`` per account, each bucket's real region, then its configuration there.

``ListBuckets`` is global and its items may lack ``BucketRegion`` (older endpoints, the lab), so each
bucket's region comes from ``GetBucketLocation`` (``None`` means us-east-1, ``EU`` eu-west-1) and every
detail call goes to a client in that region, as S3 requires. Buckets in regions outside the scan are
left out, like every other regional resource. ``GetBucketPolicy``'s ``Policy`` string is decoded into
``PolicyDocument`` beside it.
"""

from __future__ import annotations

from typing import Any

from cloudwarden.inventory.context import UnitContext, failed
from cloudwarden.inventory.document import decode_policy, make_document, tags_of

TYPE = "AwsS3Bucket"
DETAILS = (
    "GetBucketPolicy", "GetBucketPolicyStatus", "GetBucketAcl", "GetPublicAccessBlock", "GetBucketEncryption",
    "GetBucketLogging", "GetBucketVersioning", "GetBucketLifecycleConfiguration", "GetObjectLockConfiguration",
    "GetBucketOwnershipControls", "GetBucketNotificationConfiguration", "GetBucketReplication", "GetBucketTagging",
)
# IAM actions differ from some operation names.
PERMISSIONS = (
    "s3:ListAllMyBuckets", "s3:GetBucketLocation", "s3:GetBucketPolicy", "s3:GetBucketPolicyStatus", "s3:GetBucketAcl",
    "s3:GetBucketPublicAccessBlock", "s3:GetEncryptionConfiguration", "s3:GetBucketLogging", "s3:GetBucketVersioning",
    "s3:GetLifecycleConfiguration", "s3:GetBucketObjectLockConfiguration", "s3:GetBucketOwnershipControls",
    "s3:GetBucketNotification", "s3:GetReplicationConfiguration", "s3:GetBucketTagging",
)
HOME = "us-east-1"


def bucket_region(location: Any) -> str:
    """``GetBucketLocation``'s ``LocationConstraint`` as a region name."""
    if not location:
        return HOME
    return "eu-west-1" if location == "EU" else str(location)


def collect_s3(ctx: UnitContext) -> list[dict[str, Any]]:
    listing = ctx.list("ListBuckets", "Buckets[]", service="s3", region=HOME, cap=ctx.cap_for(TYPE))
    found = ctx.map(lambda bucket: _bucket(ctx, bucket), listing.items)
    return [document for document in found if document is not None]


def _bucket(ctx: UnitContext, bucket: dict[str, Any]) -> dict[str, Any] | None:
    """One bucket's document (its detail calls made concurrently), or None when it lies outside the scan."""
    name = str(bucket["Name"])
    calls: dict[str, Any] = {}
    region = bucket.get("BucketRegion")
    if not region:
        location = ctx.call("GetBucketLocation", {"Bucket": name}, service="s3", region=HOME)
        calls["GetBucketLocation"] = location
        # Unknown region: detail calls from the home region still answer (or fail visibly).
        region = HOME if failed(location) else bucket_region(location.get("LocationConstraint"))
    region = str(region)
    if ctx.regions and region not in ctx.regions:
        return None
    answers = ctx.map(lambda operation: ctx.call(operation, {"Bucket": name}, service="s3", region=region), DETAILS)
    calls.update(zip(DETAILS, answers, strict=True))
    policy = calls["GetBucketPolicy"]
    if not failed(policy) and "Policy" in policy:
        policy["PolicyDocument"] = decode_policy(policy["Policy"])
    tagging = calls["GetBucketTagging"]
    tags = {} if failed(tagging) else tags_of(tagging.get("TagSet"))
    return make_document(arn=f"arn:aws:s3:::{name}", type_=TYPE, account=ctx.account, region=region,
                         name=name, data={**bucket, "BucketRegion": region}, tags=tags, calls=calls)
