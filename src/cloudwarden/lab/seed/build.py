"""The order in which the demo organisation is built, and the hand-over as a :class:`SeedResult`.

Order matters: accounts before anything in them, IAM before instances (instance profile) and
Lambda (execution role), KMS before the buckets, volumes and secrets it encrypts, buckets before
the flow logs, trails and query logs that write to them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from botocore.exceptions import ClientError, EndpointConnectionError

from cloudwarden.core.errors import EndpointUnreachable, RuntimeFailure
from cloudwarden.lab.seed.context import SeedContext
from cloudwarden.lab.seed.data_services import seed_data_services
from cloudwarden.lab.seed.iam import seed_iam
from cloudwarden.lab.seed.kms import seed_kms
from cloudwarden.lab.seed.logging import seed_logging
from cloudwarden.lab.seed.network import seed_network
from cloudwarden.lab.seed.organizations import seed_organization
from cloudwarden.lab.seed.result import SeedResult
from cloudwarden.lab.seed.s3 import seed_s3
from cloudwarden.lab.seed.secrets import seed_secrets

log = logging.getLogger(__name__)

STEPS: tuple[tuple[str, Callable[[SeedContext], None]], ...] = (
    ("organizations", seed_organization),
    ("iam", seed_iam),
    ("kms", seed_kms),
    ("s3", seed_s3),
    ("network", seed_network),
    ("secrets", seed_secrets),
    ("data services", seed_data_services),
    ("logging", seed_logging),
)


def seed_demo(endpoint_url: str, state_dir: Path, *, now: datetime | None = None) -> SeedResult:
    """Build the demo organisation against the lab at ``endpoint_url``; save and return what was made.

    ``now`` anchors every backdated date (key ages, last use); default: the current time. Must run in
    the process that hosts the lab's moto server (fixed account ids and key ages are set in-process).
    """
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    ctx = SeedContext(endpoint_url=endpoint_url.rstrip("/"), now=moment)
    for name, step in STEPS:
        started = time.perf_counter()
        try:
            step(ctx)
        except EndpointConnectionError as exc:
            raise EndpointUnreachable(f"the lab at {endpoint_url} did not answer: {exc}") from exc
        except ClientError as exc:
            error = exc.response.get("Error", {})
            raise RuntimeFailure(
                f"seeding {name} failed: {exc.operation_name} returned {error.get('Code')}: {error.get('Message')}"
            ) from exc
        log.debug("seeded %s in %.2fs", name, time.perf_counter() - started)
    result = SeedResult(
        accounts={alias: acct.account_id for alias, acct in ctx.accounts.items()},
        organization_id=ctx.organization_id,
        credentials=dict(ctx.credentials),
        resources=dict(sorted(ctx.resources.items())),
        regions_used=sorted(ctx.regions_used),
        seeded_at=moment,
    )
    result.save(state_dir)
    return result
