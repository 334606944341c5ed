"""RDS controls over instances, clusters and snapshots."""

from __future__ import annotations

import pytest

from cloudwarden.posture.registry import controls
from tests.posture import docs as d
from tests.posture.cases import Case, check, covered

PUBLIC_DB = {"PubliclyAccessible": True, "VpcSecurityGroups": [{"VpcSecurityGroupId": "sg-db", "Status": "active"}],
             "DBSubnetGroup": {"Subnets": [{"SubnetIdentifier": "subnet-public"}]}}
DB_OPEN = [d.rule("tcp", 6543, cidr="0.0.0.0/0")]


def public_net(ingress: list[dict[str, object]]) -> list[dict[str, object]]:
    return [d.subnet("subnet-public"), d.route_table(), d.security_group("sg-db", "db", ingress=ingress),
            d.nacl(entries=[d.nacl_entry(100, "allow")])]


CASES = [
    Case("RDS.2", lambda: d.db_instance(), "PASSED"),
    Case("RDS.2", lambda: d.db_instance("reporting", PubliclyAccessible=True), "FAILED", "publicly accessible"),
    Case("RDS.2", lambda: d.with_(d.db_instance(), drop_data=("PubliclyAccessible",)), "NOT_AVAILABLE"),
    Case("RDS.3", lambda: d.db_instance(), "PASSED"),
    Case("RDS.3", lambda: d.db_instance(StorageEncrypted=False), "FAILED"),
    Case("RDS.3", lambda: d.with_(d.db_instance(), drop_data=("StorageEncrypted",)), "NOT_AVAILABLE"),
    Case("RDS.5", lambda: d.db_instance(), "PASSED"),
    Case("RDS.5", lambda: d.db_instance(MultiAZ=False), "FAILED", "Multi-AZ"),
    Case("RDS.5", lambda: d.db_instance(MultiAZ=False, DBClusterIdentifier="aurora-1"), None),
    Case("RDS.5", lambda: d.with_(d.db_instance(), drop_data=("MultiAZ",)), "NOT_AVAILABLE"),
    Case("RDS.8", lambda: d.db_instance(DeletionProtection=False), "FAILED"),
    Case("RDS.13", lambda: d.db_instance(AutoMinorVersionUpgrade=False), "FAILED"),
    Case("RDS.6", lambda: d.db_instance(), "PASSED"),
    Case("RDS.6", lambda: d.db_instance(MonitoringInterval=0), "FAILED"),
    Case("RDS.9", lambda: d.db_instance(EnabledCloudwatchLogsExports=[]), "FAILED"),
    Case("RDS.10", lambda: d.db_instance(IAMDatabaseAuthenticationEnabled=False), "FAILED"),
    Case("RDS.10", lambda: d.db_instance(Engine="oracle-ee"), None),
    Case("RDS.11", lambda: d.db_instance(BackupRetentionPeriod=1), "FAILED", "7 needed"),
    Case("RDS.11", lambda: d.with_(d.db_instance(), drop_data=("BackupRetentionPeriod",)), "NOT_AVAILABLE"),
    Case("RDS.23", lambda: d.db_instance(), "PASSED"),
    Case("RDS.23", lambda: d.db_instance(Endpoint={"Port": 5432}), "FAILED", "5432"),
    Case("RDS.23", lambda: d.db_instance(Endpoint={}), "NOT_AVAILABLE"),
    Case("RDS.25", lambda: d.db_instance(), "PASSED"),
    Case("RDS.25", lambda: d.db_instance(MasterUsername="postgres"), "FAILED"),
    Case("RDS.36", lambda: d.db_instance(), "PASSED"),
    Case("RDS.36", lambda: d.db_instance(EnabledCloudwatchLogsExports=["upgrade"]), "FAILED", "postgresql"),
    Case("RDS.7", lambda: d.db_cluster(DeletionProtection=False), "FAILED"),
    Case("RDS.27", lambda: d.db_cluster(), "PASSED"),
    Case("RDS.27", lambda: d.db_cluster(StorageEncrypted=False), "FAILED"),
    Case("RDS.14", lambda: d.db_cluster(Engine="aurora-mysql", BacktrackWindow=0), "FAILED"),
    Case("RDS.14", lambda: d.db_cluster(), None),
    Case("RDS.24", lambda: d.db_cluster(MasterUsername="admin"), "FAILED"),
    Case("RDS.1", lambda: d.db_snapshot(), "PASSED"),
    Case("RDS.1", lambda: d.db_snapshot(public=True), "FAILED"),
    Case("RDS.1", lambda: d.with_(d.db_snapshot(), calls={"DescribeDBSnapshotAttributes": d.error()}),
         "NOT_AVAILABLE", "AccessDenied on rds:DescribeDBSnapshotAttributes"),
    Case("RDS.4", lambda: d.db_snapshot(encrypted=False), "FAILED"),
    Case("RDS.46", lambda: d.db_instance(), "PASSED", "", lambda: [d.subnet("subnet-private"),
                                                                  d.route_table("rtb-p", subnets=("subnet-private",),
                                                                                igw=False)]),
    Case("RDS.46", lambda: d.db_instance(**PUBLIC_DB), "FAILED", "subnet-public",
         lambda: [d.subnet(), d.route_table()]),
    Case("RDS.46", lambda: d.db_instance(DBSubnetGroup=None), "NOT_AVAILABLE"),
    Case("CW.NET.2", lambda: d.db_instance(), "PASSED", "not publicly accessible"),
    Case("CW.NET.2", lambda: d.db_instance("reporting", **PUBLIC_DB), "FAILED", "tcp/6543",
         lambda: public_net(DB_OPEN)),
    Case("CW.NET.2", lambda: d.db_instance("reporting", **PUBLIC_DB), "PASSED", "not reachable",
         lambda: public_net([d.rule("tcp", 6543, cidr="10.0.0.0/8")])),
    Case("CW.NET.2", lambda: d.db_instance("reporting", **PUBLIC_DB), "NOT_AVAILABLE", "not in the snapshot"),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_control(case: Case) -> None:
    check(case)


def test_the_well_configured_database_passes_every_instance_control() -> None:
    context = [d.subnet("subnet-private"), d.route_table("rtb-p", subnets=("subnet-private",), igw=False)]
    for item in controls(services=["rds"]):
        if "AwsRdsDbInstance" in item.scope and item.scope != ("AwsAccountRegion",):
            found = d.verdict_of(item.id, d.db_instance(), *context)
            assert found is None or found.status.value == "PASSED", (item.id, found)


def test_rds_controls_with_both_outcomes() -> None:
    seen = covered(CASES, ("RDS.",))
    assert sum(1 for v in seen.values() if "FAILED" in v) >= 18
