"""Secrets Manager secrets and SSM parameters in prod.

Deliberately weak (``docs/demo-org.md``): ``prod/db/master`` has no rotation, and
``/prod/app/db_password`` is a plain ``String`` parameter holding a password. ``prod/payments/api-key``
(rotation every 30 days) and the ``SecureString`` ``/prod/app/api_token`` are the well-configured
counterparts. Rotation is configured without a rotation function: the lab cannot run Lambda code,
and AWS-managed rotation needs none either.
"""

from __future__ import annotations

import json

from cloudwarden.lab import demo_org as org
from cloudwarden.lab.seed.context import SeedContext, fake_secret, tags


def seed_secrets(ctx: SeedContext) -> None:
    prod = ctx.account("prod")
    sm = prod.client("secretsmanager")
    data_key = ctx.resources[f"prod/kms/{org.KMS_ALIAS_ROTATED}"]
    db = sm.create_secret(
        Name=org.SECRET_DB,
        Description="Master credentials of the orders database",
        KmsKeyId=data_key,
        SecretString=json.dumps(
            {
                "engine": "postgres",
                "host": f"{org.RDS_PRIVATE}.internal",
                "port": 5432,
                "username": "orders_admin",
                "password": fake_secret("prod/rds/orders-master", 24),
            }
        ),
        Tags=tags("prod", "data-team", "CC-2400"),
    )
    ctx.record("prod", "secret", org.SECRET_DB, db["ARN"])
    api = sm.create_secret(
        Name=org.SECRET_API,
        Description="Payment provider API key",
        KmsKeyId=data_key,
        SecretString=json.dumps({"api_key": "pk_" + fake_secret("prod/payments/api-key", 32)}),
        Tags=tags("prod", "payments-team", "CC-2500"),
    )
    sm.rotate_secret(SecretId=api["ARN"], RotationRules={"AutomaticallyAfterDays": 30}, RotateImmediately=False)
    ctx.record("prod", "secret", org.SECRET_API, api["ARN"])

    ssm = prod.client("ssm")
    ssm.put_parameter(
        Name=org.SSM_PLAINTEXT_PASSWORD,
        Type="String",
        Value=fake_secret("prod/rds/orders-master", 24),
        Description="orders database password (app config)",
        Tags=tags("prod", "web-team", "CC-2200"),
    )
    ssm.put_parameter(
        Name=org.SSM_SECURE,
        Type="SecureString",
        Value="tok_" + fake_secret("prod/app/api-token", 40),
        KeyId=data_key,
        Description="internal API token",
        Tags=tags("prod", "web-team", "CC-2200"),
    )
    ssm.put_parameter(
        Name="/prod/app/feature_flags",
        Type="String",
        Value=json.dumps({"new_checkout": True}),
        Description="feature flags",
        Tags=tags("prod", "web-team", "CC-2200"),
    )
