"""The one table of posture controls: a plain mapping from control id to :class:`Control`.

Controls register with the :func:`control` decorator in their service module. The service modules are
listed here explicitly and imported on first use of :func:`controls` (no import-time discovery, no
scanning of packages), so which controls exist is visible in one place and importing the registry
costs nothing.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable

from cloudwarden.core.errors import BadInputError
from cloudwarden.core.severity import Severity
from cloudwarden.posture.model import Check, Control

# service name (as --services takes it) -> module holding its controls
SERVICE_MODULES: dict[str, tuple[str, ...]] = {
    "account": ("cloudwarden.posture.account",),
    "iam": ("cloudwarden.posture.iam", "cloudwarden.posture.iam_users"),
    "s3": ("cloudwarden.posture.s3",),
    "ec2": ("cloudwarden.posture.ec2", "cloudwarden.posture.network"),
    "kms": ("cloudwarden.posture.kms",),
    "cloudtrail": ("cloudwarden.posture.cloudtrail",),
    "cloudwatch": ("cloudwarden.posture.cloudwatch",),
    "config": ("cloudwarden.posture.config",),
    "guardduty": ("cloudwarden.posture.guardduty",),
    "rds": ("cloudwarden.posture.rds",),
    "secretsmanager": ("cloudwarden.posture.secretsmanager",),
    "ssm": ("cloudwarden.posture.ssm",),
    "lambda": ("cloudwarden.posture.lambda_",),
    "ecr": ("cloudwarden.posture.ecr",),
    "efs": ("cloudwarden.posture.efs",),
    "securityhub": ("cloudwarden.posture.securityhub",),
}

REGISTRY: dict[str, Control] = {}
_loaded = False


def control(
    id: str,
    *,
    title: str,
    severity: Severity,
    resource_type: str,
    service: str,
    rationale: str,
    remediation: str,
    cli: str,
    scope: str | Iterable[str] | None = None,
    calls: Iterable[str] = (),
    categories: Iterable[str] = (),
) -> Callable[[Check], Check]:
    """Register the decorated check as control ``id``; a second control with the same id is an error."""

    def register(check: Check) -> Check:
        if id in REGISTRY:
            raise ValueError(f"posture control {id} is registered twice")
        if service not in SERVICE_MODULES:
            raise ValueError(f"posture control {id}: unknown service {service!r}")
        scopes = (scope,) if isinstance(scope, str) else tuple(scope or (resource_type,))
        REGISTRY[id] = Control(
            id=id, title=title, severity=severity, resource_type=resource_type, scope=scopes,
            service=service, rationale=rationale, remediation=remediation, remediation_cli=cli, check=check,
            calls=tuple(calls), categories=tuple(categories),
        )
        return check

    return register


def load_all() -> dict[str, Control]:
    """Import every service module once; returns the registry."""
    global _loaded
    if not _loaded:
        for modules in SERVICE_MODULES.values():
            for module in modules:
                importlib.import_module(module)
        _loaded = True
    return REGISTRY


def controls(*, services: Iterable[str] | None = None, ids: Iterable[str] | None = None) -> list[Control]:
    """Registered controls, optionally only some services or ids; an unknown name is a clear error."""
    table = load_all()
    chosen = list(table.values())
    if services is not None:
        wanted = {s.strip().lower() for s in services if s.strip()}
        unknown = sorted(wanted - set(SERVICE_MODULES))
        if unknown:
            raise BadInputError("--services", f"unknown service(s) {', '.join(unknown)} "
                                              f"(known: {', '.join(sorted(SERVICE_MODULES))})")
        chosen = [c for c in chosen if c.service in wanted]
    if ids is not None:
        wanted_ids = {i.strip() for i in ids if i.strip()}
        lowered = {c.id.lower(): c.id for c in table.values()}
        unknown = sorted(i for i in wanted_ids if i.lower() not in lowered)
        if unknown:
            raise BadInputError("--controls", f"unknown control id(s) {', '.join(unknown)}")
        exact = {lowered[i.lower()] for i in wanted_ids}
        chosen = [c for c in chosen if c.id in exact]
    return sorted(chosen, key=sort_key)


def sort_key(item: Control) -> tuple[str, int, str]:
    """``S3.2`` before ``S3.10``."""
    head, _, tail = item.id.rpartition(".")
    return (head, int(tail) if tail.isdigit() else 10**6, tail)
