"""S3 buckets in every account, and S3 Block Public Access at account level.

Deliberately weak (``docs/demo-org.md``): the marketing bucket is public by ACL and has no default
encryption configuration (AWS now encrypts every new bucket with SSE-S3 anyway; "unencrypted" here
means what moto and the API report: no ``ServerSideEncryptionConfiguration``), the customer-exports
bucket is public by policy, several buckets do not log access, the prod trail bucket is not logged,
prod has account-level Block Public Access off, and dev's scratch bucket has no encryption
configuration. The data lake, log and trail buckets are the well-configured counterparts.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from cloudwarden.lab import demo_org as org
from cloudwarden.lab.seed.context import SeedAccount, SeedContext, fake_secret, tags

_ALL_BLOCKED = {
    "BlockPublicAcls": True,
    "IgnorePublicAcls": True,
    "BlockPublicPolicy": True,
    "RestrictPublicBuckets": True,
}
_NONE_BLOCKED = {key: False for key in _ALL_BLOCKED}


@dataclass
class BucketSpec:
    name: str
    owner: str
    cost_center: str
    encryption: str | None = "AES256"  # "AES256", "aws:kms" or None (no configuration at all)
    kms_alias: str | None = None
    block_public: bool = True
    # The lab's S3 enforces bucket-policy Deny statements but ignores their conditions, so the usual
    # "deny when aws:SecureTransport is false" would refuse every object request over the lab's plain
    # HTTP. Only the access-log buckets, which nothing reads or writes through the API, carry it.
    ssl_only: bool = False
    versioning: bool = False
    log_to: str | None = None
    acl: str | None = None
    statements: list[dict[str, Any]] = field(default_factory=list)
    objects: dict[str, bytes] = field(default_factory=dict)


def _ssl_only(bucket: str) -> dict[str, Any]:
    return {
        "Sid": "DenyInsecureTransport",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }


def _access_log_delivery(bucket: str, source_account: str) -> dict[str, Any]:
    return {
        "Sid": "S3ServerAccessLogsPolicy",
        "Effect": "Allow",
        "Principal": {"Service": "logging.s3.amazonaws.com"},
        "Action": "s3:PutObject",
        "Resource": f"arn:aws:s3:::{bucket}/*",
        "Condition": {"StringEquals": {"aws:SourceAccount": source_account}},
    }


def cloudtrail_delivery(bucket: str, trail_arn: str, prefixes: list[str]) -> list[dict[str, Any]]:
    """The bucket policy statements CloudTrail needs to check the ACL and write under ``prefixes``."""
    condition = {"StringEquals": {"aws:SourceArn": trail_arn}}
    return [
        {
            "Sid": "AWSCloudTrailAclCheck",
            "Effect": "Allow",
            "Principal": {"Service": "cloudtrail.amazonaws.com"},
            "Action": "s3:GetBucketAcl",
            "Resource": f"arn:aws:s3:::{bucket}",
            "Condition": condition,
        },
        {
            "Sid": "AWSCloudTrailWrite",
            "Effect": "Allow",
            "Principal": {"Service": "cloudtrail.amazonaws.com"},
            "Action": "s3:PutObject",
            "Resource": [f"arn:aws:s3:::{bucket}/{prefix}/*" for prefix in prefixes],
            "Condition": {"StringEquals": {"s3:x-amz-acl": "bucket-owner-full-control", **condition["StringEquals"]}},
        },
    ]


def _log_delivery(bucket: str, account: str) -> list[dict[str, Any]]:
    """VPC flow logs and Route 53 Resolver query logs are written by ``delivery.logs.amazonaws.com``."""
    return [
        {
            "Sid": "AWSLogDeliveryAclCheck",
            "Effect": "Allow",
            "Principal": {"Service": "delivery.logs.amazonaws.com"},
            "Action": "s3:GetBucketAcl",
            "Resource": f"arn:aws:s3:::{bucket}",
            "Condition": {"StringEquals": {"aws:SourceAccount": account}},
        },
        {
            "Sid": "AWSLogDeliveryWrite",
            "Effect": "Allow",
            "Principal": {"Service": "delivery.logs.amazonaws.com"},
            "Action": "s3:PutObject",
            "Resource": f"arn:aws:s3:::{bucket}/AWSLogs/{account}/*",
            "Condition": {"StringEquals": {"aws:SourceAccount": account, "s3:x-amz-acl": "bucket-owner-full-control"}},
        },
    ]


def _customer_export() -> bytes:
    rows = ["customer_id,name,email,country,lifetime_value"]
    for index in range(1, 26):
        handle = fake_secret(f"export/{index}", 6, "abcdefghijklmnopqrstuvwxyz")
        rows.append(f"C{10_000 + index},Customer {handle.title()},{handle}@example.com,DE,{index * 137}.50")
    return ("\n".join(rows) + "\n").encode()


def _data_lake_objects() -> dict[str, bytes]:
    objects: dict[str, bytes] = {}
    for day in range(1, 11):
        lines = [
            json.dumps({"order_id": day * 1000 + n, "customer_id": f"C{10_000 + n}", "amount": round(n * 13.7, 2)})
            for n in range(1, 6)
        ]
        objects[f"raw/orders/2024/06/{day:02d}/orders.json"] = ("\n".join(lines) + "\n").encode()
    objects["curated/customers/customers.csv"] = _customer_export()
    objects["curated/finance/revenue-2024-q2.csv"] = b"month,revenue_eur\n2024-04,181230.10\n2024-05,190455.70\n"
    return objects


def seed_s3(ctx: SeedContext) -> None:
    """Buckets for the management, prod and dev accounts; the trail buckets' CloudTrail policies too."""
    management, prod, dev = ctx.account("management"), ctx.account("prod"), ctx.account("dev")
    org_trail_arn = management.arn("cloudtrail", f"trail/{org.TRAIL_ORG}", org.HOME_REGION)
    prod_trail_arn = prod.arn("cloudtrail", f"trail/{org.TRAIL_PROD}", org.HOME_REGION)

    _account_public_access_block(management, _ALL_BLOCKED)
    for spec in (
        BucketSpec(
            org.BUCKET_ORG_ACCESS_LOGS,
            "security-team",
            "CC-1000",
            ssl_only=True,
            statements=[_access_log_delivery(org.BUCKET_ORG_ACCESS_LOGS, org.MANAGEMENT)],
        ),
        BucketSpec(
            org.BUCKET_ORG_TRAIL,
            "security-team",
            "CC-1000",
            versioning=True,
            log_to=org.BUCKET_ORG_ACCESS_LOGS,
            statements=cloudtrail_delivery(
                org.BUCKET_ORG_TRAIL, org_trail_arn, [f"AWSLogs/{org.MANAGEMENT}", f"AWSLogs/{ctx.organization_id}"]
            ),
        ),
    ):
        _bucket(ctx, management, spec)

    _account_public_access_block(prod, _NONE_BLOCKED)
    for spec in (
        BucketSpec(
            org.BUCKET_PROD_ACCESS_LOGS,
            "platform-team",
            "CC-2100",
            ssl_only=True,
            statements=[_access_log_delivery(org.BUCKET_PROD_ACCESS_LOGS, org.PROD)],
        ),
        BucketSpec(
            org.BUCKET_PROD_TRAIL,
            "platform-team",
            "CC-2100",
            statements=cloudtrail_delivery(org.BUCKET_PROD_TRAIL, prod_trail_arn, [f"AWSLogs/{org.PROD}"]),
        ),
        BucketSpec(
            org.BUCKET_PUBLIC_ACL,
            "marketing-team",
            "CC-3300",
            encryption=None,
            block_public=False,
            acl="public-read",
            objects={
                "index.html": b"<html><body><h1>cloudwarden demo shop</h1></body></html>\n",
                "img/banner.svg": b"<svg xmlns='http://www.w3.org/2000/svg'/>\n",
            },
        ),
        BucketSpec(
            org.BUCKET_PUBLIC_POLICY,
            "data-team",
            "CC-2400",
            block_public=False,
            statements=[
                {
                    "Sid": "PartnerDownloads",
                    "Effect": "Allow",
                    "Principal": "*",
                    "Action": "s3:GetObject",
                    "Resource": f"arn:aws:s3:::{org.BUCKET_PUBLIC_POLICY}/*",
                }
            ],
            objects={"exports/customers-2024-06.csv": _customer_export()},
        ),
        BucketSpec(
            org.BUCKET_DATA,
            "data-team",
            "CC-2400",
            encryption="aws:kms",
            kms_alias=org.KMS_ALIAS_ROTATED,
            versioning=True,
            log_to=org.BUCKET_PROD_ACCESS_LOGS,
            objects=_data_lake_objects(),
        ),
        BucketSpec(
            org.BUCKET_FLOW_LOGS,
            "platform-team",
            "CC-2100",
            log_to=org.BUCKET_PROD_ACCESS_LOGS,
            statements=_log_delivery(org.BUCKET_FLOW_LOGS, org.PROD),
        ),
        BucketSpec(
            org.BUCKET_DNS_LOGS,
            "platform-team",
            "CC-2100",
            log_to=org.BUCKET_PROD_ACCESS_LOGS,
            statements=_log_delivery(org.BUCKET_DNS_LOGS, org.PROD),
        ),
    ):
        _bucket(ctx, prod, spec)

    _account_public_access_block(dev, _ALL_BLOCKED)
    _bucket(
        ctx,
        dev,
        BucketSpec(
            org.BUCKET_DEV_SCRATCH,
            "web-team",
            "CC-2200",
            encryption=None,
            block_public=False,
            objects={"tmp/notes.txt": b"load test results, week 23\n"},
        ),
    )


def _account_public_access_block(acct: SeedAccount, config: dict[str, bool]) -> None:
    acct.client("s3control").put_public_access_block(AccountId=acct.account_id, PublicAccessBlockConfiguration=config)


def _bucket(ctx: SeedContext, acct: SeedAccount, spec: BucketSpec) -> None:
    s3 = acct.client("s3")
    env = acct.alias if acct.alias != "management" else "shared"
    s3.create_bucket(Bucket=spec.name, ObjectOwnership="ObjectWriter" if spec.acl else "BucketOwnerEnforced")
    ctx.record(acct.alias, "bucket", spec.name, f"arn:aws:s3:::{spec.name}")
    s3.put_bucket_tagging(Bucket=spec.name, Tagging={"TagSet": tags(env, spec.owner, spec.cost_center)})
    if spec.block_public:
        s3.put_public_access_block(Bucket=spec.name, PublicAccessBlockConfiguration=_ALL_BLOCKED)
    if spec.encryption is not None:
        rule: dict[str, Any] = {"SSEAlgorithm": spec.encryption}
        if spec.kms_alias:
            rule["KMSMasterKeyID"] = ctx.resources[f"{acct.alias}/kms/{spec.kms_alias}"]
        s3.put_bucket_encryption(
            Bucket=spec.name,
            ServerSideEncryptionConfiguration={
                "Rules": [{"ApplyServerSideEncryptionByDefault": rule, "BucketKeyEnabled": bool(spec.kms_alias)}]
            },
        )
    if spec.versioning:
        s3.put_bucket_versioning(Bucket=spec.name, VersioningConfiguration={"Status": "Enabled"})
    if spec.acl:
        s3.put_bucket_acl(Bucket=spec.name, ACL=spec.acl)
    for key, body in spec.objects.items():
        extra = {"ACL": "public-read"} if spec.acl == "public-read" else {}
        s3.put_object(Bucket=spec.name, Key=key, Body=body, **extra)
    statements = list(spec.statements)
    if spec.ssl_only:
        statements.append(_ssl_only(spec.name))
    if statements:
        s3.put_bucket_policy(Bucket=spec.name, Policy=json.dumps({"Version": "2012-10-17", "Statement": statements}))
    if spec.log_to:
        s3.put_bucket_logging(
            Bucket=spec.name,
            BucketLoggingStatus={"LoggingEnabled": {"TargetBucket": spec.log_to, "TargetPrefix": f"{spec.name}/"}},
        )
