"""Findings for escalation paths: one HIGH finding per non-administrator principal that can reach an
administrator, typed ``PrivilegeEscalation:IAMUser/PathToAdmin`` or ``PrivilegeEscalation:IAMRole/PathToAdmin``,
with the hops (and the permission that makes each) as evidence."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from cloudwarden.core.finding import Evidence, Finding, ResourceRef, Source
from cloudwarden.core.severity import Severity
from cloudwarden.iam.paths.search import ADMIN, Path

__all__ = ["RULE_ID", "path_findings"]

RULE_ID = "iam-privesc-path-to-admin"
IAM_REGION = "us-east-1"  # IAM is global; findings about it carry us-east-1, as Security Hub does
MITRE = ["T1098", "T1078.004"]  # Account Manipulation; Valid Accounts: Cloud Accounts


def path_findings(paths: Sequence[Path], *, seen: datetime | None = None) -> list[Finding]:
    """A finding per path to ``admin`` (paths to a named principal are not findings)."""
    out: list[Finding] = []
    for path in paths:
        if path.target != ADMIN or not path.hops:
            continue
        parts = path.source.split(":", 5)
        account = parts[4] if len(parts) == 6 else ""
        is_user = ":user/" in path.source
        noun, rtype = ("IAMUser", "AwsIamUser") if is_user else ("IAMRole", "AwsIamRole")
        name = path.source.rsplit("/", 1)[-1]
        steps = len(path.hops)
        first = path.hops[0]
        out.append(Finding.create(
            source=Source.IAM,
            rule_id=RULE_ID,
            type=f"PrivilegeEscalation:{noun}/PathToAdmin",
            title=f"{'User' if is_user else 'Role'} {name} can escalate to administrator in {steps} "
                  f"step{'s' if steps != 1 else ''}",
            description=" then ".join(h.describe() for h in path.hops) + f"; ends with the permissions of "
                        f"{path.reached}.",
            remediation=f"Remove or scope {' + '.join(first.permissions)} on {first.resource} for {name}, or cap it "
                        "with a permissions boundary or SCP; re-run `cloudwarden iam paths` to confirm.",
            severity=Severity.HIGH,
            account_id=account,
            region=IAM_REGION,
            resource=ResourceRef(type=rtype, id=path.source),
            principal=path.source,
            seen=seen,
            evidence=Evidence(details={"hops": [h.to_json() for h in path.hops], "reached": path.reached,
                                       "techniques": list(path.techniques)}),
            mitre=list(MITRE),
        ))
    return out
