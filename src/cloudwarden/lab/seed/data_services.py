"""Databases, functions and container registries in prod: RDS, Lambda, ECR.

Deliberately weak (``docs/demo-org.md``): ``prod-reporting-db`` is publicly accessible and
unencrypted; ``prod-webhook-handler`` has a resource policy that lets anyone invoke it and secrets in
its environment variables; ``prod/web`` does not scan images on push. ``prod-orders-db`` and
``prod/api`` are the well-configured counterparts.
"""

from __future__ import annotations

import io
import json
import zipfile

from cloudwarden.lab import demo_org as org
from cloudwarden.lab.seed.context import SeedContext, fake_secret, tag_map, tags

_HANDLER = '''"""Receives payment-provider webhooks and queues them for the order workers."""
import json
import os


def handler(event, context):
    body = json.loads(event.get("body") or "{}")
    return {"statusCode": 200, "body": json.dumps({"received": body.get("type", "unknown")})}
'''


def function_zip() -> bytes:
    """The webhook handler's deployment package, built in memory."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        info = zipfile.ZipInfo("handler.py", date_time=(2024, 6, 1, 0, 0, 0))
        info.external_attr = 0o644 << 16
        archive.writestr(info, _HANDLER)
    return buffer.getvalue()


def seed_data_services(ctx: SeedContext) -> None:
    prod = ctx.account("prod")
    rds = prod.client("rds")
    rds.create_db_subnet_group(
        DBSubnetGroupName="prod-private",
        DBSubnetGroupDescription="private subnets of prod-main",
        SubnetIds=[ctx.resources["prod/subnet/private-a"], ctx.resources["prod/subnet/private-b"]],
        Tags=tags("prod", "data-team", "CC-2400"),
    )
    reporting = rds.create_db_instance(
        DBInstanceIdentifier=org.RDS_PUBLIC,
        Engine="postgres",
        EngineVersion="15.7",
        DBInstanceClass="db.t3.medium",
        AllocatedStorage=50,
        MasterUsername="reporting_admin",
        MasterUserPassword=fake_secret("prod/rds/reporting-master", 20),
        PubliclyAccessible=True,
        StorageEncrypted=False,
        MultiAZ=False,
        BackupRetentionPeriod=7,
        AutoMinorVersionUpgrade=True,
        Tags=tags("prod", "data-team", "CC-2400"),
    )["DBInstance"]
    ctx.record("prod", "rds", org.RDS_PUBLIC, reporting["DBInstanceArn"])
    orders = rds.create_db_instance(
        DBInstanceIdentifier=org.RDS_PRIVATE,
        Engine="postgres",
        EngineVersion="16.3",
        DBInstanceClass="db.r6g.large",
        AllocatedStorage=200,
        MasterUsername="orders_admin",
        MasterUserPassword=fake_secret("prod/rds/orders-master", 24),
        PubliclyAccessible=False,
        StorageEncrypted=True,
        KmsKeyId=ctx.resources[f"prod/kms-arn/{org.KMS_ALIAS_ROTATED}"],
        MultiAZ=True,
        DBSubnetGroupName="prod-private",
        BackupRetentionPeriod=14,
        DeletionProtection=True,
        AutoMinorVersionUpgrade=True,
        EnableIAMDatabaseAuthentication=True,
        CopyTagsToSnapshot=True,
        Tags=tags("prod", "data-team", "CC-2400"),
    )["DBInstance"]
    ctx.record("prod", "rds", org.RDS_PRIVATE, orders["DBInstanceArn"])

    lam = prod.client("lambda")
    function = lam.create_function(
        FunctionName=org.LAMBDA_PUBLIC,
        Runtime="python3.12",
        Handler="handler.handler",
        Role=ctx.resources[f"prod/role/{org.ROLE_LAMBDA_WEBHOOK}"],
        Code={"ZipFile": function_zip()},
        Description="Payment provider webhooks",
        Timeout=10,
        MemorySize=256,
        Environment={
            "Variables": {
                "APP_ENV": "production",
                "DB_HOST": f"{org.RDS_PRIVATE}.internal",
                "DB_PASSWORD": fake_secret("prod/rds/orders-master", 24),
                "STRIPE_API_KEY": "sk_live_" + fake_secret("prod/payments/stripe", 24),
                "WEBHOOK_SIGNING_SECRET": "whsec_" + fake_secret("prod/payments/webhook", 32),
            }
        },
        Tags=tag_map(tags("prod", "payments-team", "CC-2500")),
    )
    lam.add_permission(
        FunctionName=org.LAMBDA_PUBLIC, StatementId="public-invoke", Action="lambda:InvokeFunction", Principal="*"
    )
    ctx.record("prod", "lambda", org.LAMBDA_PUBLIC, function["FunctionArn"])

    ecr = prod.client("ecr")
    for name, scan, mutability, owner in (
        (org.ECR_NO_SCAN, False, "MUTABLE", "web-team"),
        (org.ECR_SCANNED, True, "IMMUTABLE", "platform-team"),
    ):
        repo = ecr.create_repository(
            repositoryName=name,
            imageTagMutability=mutability,
            imageScanningConfiguration={"scanOnPush": scan},
            tags=tags("prod", owner, "CC-2100"),
        )["repository"]
        ctx.record("prod", "ecr", name, repo["repositoryArn"])
    ecr.put_lifecycle_policy(
        repositoryName=org.ECR_SCANNED,
        lifecyclePolicyText=json.dumps(
            {
                "rules": [
                    {
                        "rulePriority": 1,
                        "description": "keep the last 30 images",
                        "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 30},
                        "action": {"type": "expire"},
                    }
                ]
            }
        ),
    )
