"""Logging and threat detection: CloudTrail trails, GuardDuty detectors, Route 53 Resolver query logs.

The management account runs the organisation trail (multi-region, log file validation, KMS) and
GuardDuty; prod has GuardDuty and its own single-region trail without log file validation, which
records S3 data events for the customer-exports bucket; dev has no GuardDuty (deliberately weak, see
``docs/demo-org.md``). Trails are created and started here, before the lab's recorder starts, so the
recorder finds them when it decides where to deliver.
"""

from __future__ import annotations

from cloudwarden.lab import demo_org as org
from cloudwarden.lab.seed.context import SeedAccount, SeedContext, tag_map, tags

GUARDDUTY_REGIONS = (org.HOME_REGION, org.SECOND_REGION)


def seed_logging(ctx: SeedContext) -> None:
    management, prod = ctx.account("management"), ctx.account("prod")

    trail = management.client("cloudtrail")
    org_trail = trail.create_trail(
        Name=org.TRAIL_ORG,
        S3BucketName=org.BUCKET_ORG_TRAIL,
        IsMultiRegionTrail=True,
        IsOrganizationTrail=True,
        EnableLogFileValidation=True,
        IncludeGlobalServiceEvents=True,
        KmsKeyId=ctx.resources[f"management/kms-arn/{org.KMS_ALIAS_ORG_TRAIL}"],
        TagsList=tags("shared", "security-team", "CC-1000"),
    )
    trail.start_logging(Name=org_trail["TrailARN"])
    ctx.record("management", "trail", org.TRAIL_ORG, org_trail["TrailARN"])

    prod_trail_client = prod.client("cloudtrail")
    prod_trail = prod_trail_client.create_trail(
        Name=org.TRAIL_PROD,
        S3BucketName=org.BUCKET_PROD_TRAIL,
        IsMultiRegionTrail=False,
        EnableLogFileValidation=False,
        IncludeGlobalServiceEvents=True,
        TagsList=tags("prod", "platform-team", "CC-2100"),
    )
    prod_trail_client.put_event_selectors(
        TrailName=prod_trail["TrailARN"],
        EventSelectors=[
            {
                "ReadWriteType": "All",
                "IncludeManagementEvents": True,
                "DataResources": [{"Type": "AWS::S3::Object", "Values": [f"arn:aws:s3:::{org.BUCKET_PUBLIC_POLICY}/"]}],
            }
        ],
    )
    prod_trail_client.start_logging(Name=prod_trail["TrailARN"])
    ctx.record("prod", "trail", org.TRAIL_PROD, prod_trail["TrailARN"])

    for acct in (management, prod):
        _guardduty(ctx, acct)
    _resolver_query_logging(ctx, prod)


def _guardduty(ctx: SeedContext, acct: SeedAccount) -> None:
    env = acct.alias if acct.alias != "management" else "shared"
    for region in GUARDDUTY_REGIONS:
        detector = acct.client("guardduty", region).create_detector(
            Enable=True,
            FindingPublishingFrequency="FIFTEEN_MINUTES",
            DataSources={"S3Logs": {"Enable": True}},
            Tags=tag_map(tags(env, "security-team", "CC-1000")),
        )["DetectorId"]
        ctx.record(acct.alias, "guardduty", region, detector)
        ctx.regions_used.add(region)


def _resolver_query_logging(ctx: SeedContext, prod: SeedAccount) -> None:
    resolver = prod.client("route53resolver")
    config = resolver.create_resolver_query_log_config(
        Name="prod-main-dns",
        DestinationArn=f"arn:aws:s3:::{org.BUCKET_DNS_LOGS}",
        CreatorRequestId="cloudwarden-seed-prod-main-dns",
        Tags=tags("prod", "platform-team", "CC-2100"),
    )["ResolverQueryLogConfig"]
    resolver.associate_resolver_query_log_config(
        ResolverQueryLogConfigId=config["Id"], ResourceId=ctx.resources["prod/vpc/main"]
    )
    ctx.record("prod", "resolver-query-log-config", "prod-main-dns", config["Id"])
