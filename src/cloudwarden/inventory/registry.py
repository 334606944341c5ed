"""Every unit of collection, registered in one place: which service, which types, global or regional.

A :class:`Unit` is what one worker runs for one account (and, when regional, one region): a descriptor
interpreted by the engine, or a collector function. ``--services`` names the ``service`` of units;
``account`` (the ``AwsAccount`` and ``AwsAccountRegion`` pseudo-resources) is always collected because
controls of every service read it. The table is data, so ``cloudwarden scan --services`` and the
permissions a scan needs are computed from it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from cloudwarden.core.errors import BadInputError
from cloudwarden.inventory import engine
from cloudwarden.inventory.collectors import account, iam, organizations, s3, sso
from cloudwarden.inventory.context import UnitContext
from cloudwarden.inventory.descriptor import Descriptor, Scope
from cloudwarden.inventory.types import ec2, monitoring, security, workloads

ALWAYS = "account"


@dataclass(frozen=True)
class Unit:
    service: str  # the name --services uses
    name: str  # unique: the resource type for a descriptor, the collector's name otherwise
    client_service: str  # the boto3 service most of its calls go to
    types: tuple[str, ...]
    scope: Scope
    run: Callable[[UnitContext], list[dict[str, Any]]]
    permissions: tuple[str, ...]


def _descriptor_unit(service: str, descriptor: Descriptor) -> Unit:
    def run(ctx: UnitContext) -> list[dict[str, Any]]:
        return engine.collect(descriptor, ctx)

    return Unit(service, descriptor.type, descriptor.service, (descriptor.type,), descriptor.scope, run,
                descriptor.permissions)


def _units() -> tuple[Unit, ...]:
    units: list[Unit] = [
        Unit(ALWAYS, "AwsAccount", "iam", ("AwsAccount",), "global", account.collect_account,
             account.ACCOUNT_PERMISSIONS),
        Unit(ALWAYS, "AwsAccountRegion", "ec2", ("AwsAccountRegion",), "regional", account.collect_account_region,
             account.REGION_PERMISSIONS),
        Unit("iam", "iam", "iam", iam.TYPES, "global", iam.collect_iam, iam.PERMISSIONS),
        Unit("organizations", "organizations", "organizations",
             ("AwsOrganizationsOrganization", "AwsOrganizationsAccount", "AwsOrganizationsOrganizationalUnit",
              "AwsOrganizationsPolicy"), "global", organizations.collect_organizations, organizations.PERMISSIONS),
        Unit("sso", "AwsSsoPermissionSet", "sso-admin", ("AwsSsoPermissionSet",), "regional",
             sso.collect_permission_sets, sso.PERMISSIONS),
        Unit("s3", "AwsS3Bucket", "s3", (s3.TYPE,), "global", s3.collect_s3, s3.PERMISSIONS),
    ]
    for descriptor in (*ec2.DESCRIPTORS, *security.DESCRIPTORS, *monitoring.DESCRIPTORS, *workloads.DESCRIPTORS):
        units.append(_descriptor_unit(descriptor.service, descriptor))
    return tuple(units)


UNITS: tuple[Unit, ...] = _units()


def services() -> tuple[str, ...]:
    """Every name ``--services`` accepts, sorted."""
    return tuple(sorted({u.service for u in UNITS}))


def resource_types() -> tuple[str, ...]:
    return tuple(sorted({t for u in UNITS for t in u.types}))


def select(names: Sequence[str] | None) -> tuple[Unit, ...]:
    """The units of the named services (all when ``names`` is None), plus the ``account`` units."""
    if names is None:
        return UNITS
    known = set(services())
    unknown = [n for n in names if n not in known]
    if unknown:
        raise BadInputError("--services", f"unknown service {', '.join(unknown)} (known: {', '.join(sorted(known))})")
    wanted = {*names, ALWAYS}
    return tuple(u for u in UNITS if u.service in wanted)


def permissions(units: Iterable[Unit] = UNITS) -> tuple[str, ...]:
    """The IAM actions a scan of ``units`` needs, sorted."""
    return tuple(sorted({p for u in units for p in u.permissions}))


def parse_services(text: str | None) -> tuple[str, ...] | None:
    """``--services`` as given (comma list, or ``all``/empty for everything)."""
    if text is None:
        return None
    names = tuple(dict.fromkeys(n.strip().lower() for n in text.split(",") if n.strip()))
    if not names or names == ("all",):
        return None
    select(names)
    return names
