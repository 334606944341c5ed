"""KMS keys: rotated and unrotated customer keys, one with a public key policy, and the trail's key.

Deliberately weak (``docs/demo-org.md``): ``alias/prod-legacy`` has rotation off and
``alias/prod-shared`` has a key policy statement with ``Principal: "*"`` and no condition.
"""

from __future__ import annotations

import json
from typing import Any

from cloudwarden.lab import demo_org as org
from cloudwarden.lab.seed.context import SeedAccount, SeedContext, tags


def _root_statement(account_id: str) -> dict[str, Any]:
    return {
        "Sid": "EnableRootPermissions",
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{account_id}:root"},
        "Action": "kms:*",
        "Resource": "*",
    }


def _policy(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Id": "key-policy", "Statement": list(statements)})


def seed_kms(ctx: SeedContext) -> None:
    """Keys in management (trail encryption) and prod (data, legacy, shared)."""
    management, prod = ctx.account("management"), ctx.account("prod")
    trail_arn = management.arn("cloudtrail", f"trail/{org.TRAIL_ORG}", org.HOME_REGION)
    _key(
        ctx,
        management,
        org.KMS_ALIAS_ORG_TRAIL,
        "Encrypts the organisation trail",
        "security-team",
        rotate=True,
        policy=_policy(
            _root_statement(org.MANAGEMENT),
            {
                "Sid": "AllowCloudTrailEncrypt",
                "Effect": "Allow",
                "Principal": {"Service": "cloudtrail.amazonaws.com"},
                "Action": ["kms:GenerateDataKey*", "kms:DescribeKey"],
                "Resource": "*",
                "Condition": {"StringEquals": {"aws:SourceArn": trail_arn}},
            },
        ),
    )
    _key(
        ctx,
        prod,
        org.KMS_ALIAS_ROTATED,
        "Data lake, secrets and worker volumes",
        "data-team",
        rotate=True,
        policy=_policy(_root_statement(org.PROD)),
    )
    _key(
        ctx,
        prod,
        org.KMS_ALIAS_NOT_ROTATED,
        "Legacy application encryption (pre-2022)",
        "platform-team",
        rotate=False,
        policy=_policy(_root_statement(org.PROD)),
    )
    _key(
        ctx,
        prod,
        org.KMS_ALIAS_PUBLIC,
        "Shared with partners for export decryption",
        "data-team",
        rotate=True,
        policy=_policy(
            _root_statement(org.PROD),
            {
                "Sid": "PartnerDecrypt",
                "Effect": "Allow",
                "Principal": "*",
                "Action": ["kms:Decrypt", "kms:DescribeKey", "kms:GenerateDataKey"],
                "Resource": "*",
            },
        ),
    )


def _key(
    ctx: SeedContext, acct: SeedAccount, alias: str, description: str, owner: str, *, rotate: bool, policy: str
) -> None:
    kms = acct.client("kms")
    env = acct.alias if acct.alias != "management" else "shared"
    meta = kms.create_key(
        Description=description,
        Policy=policy,
        KeyUsage="ENCRYPT_DECRYPT",
        KeySpec="SYMMETRIC_DEFAULT",
        Tags=[{"TagKey": item["Key"], "TagValue": item["Value"]} for item in tags(env, owner, "CC-1000")],
    )["KeyMetadata"]
    kms.create_alias(AliasName=alias, TargetKeyId=meta["KeyId"])
    if rotate:
        kms.enable_key_rotation(KeyId=meta["KeyId"])
    ctx.record(acct.alias, "kms", alias, meta["KeyId"])
    ctx.record(acct.alias, "kms-arn", alias, meta["Arn"])
