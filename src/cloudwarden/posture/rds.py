"""RDS controls over DB instances, clusters and their snapshots (FSBP RDS.*, CIS 2.2.x).

Checks are table-driven where they differ only in the attribute read; each row is still one registered
control with its own metadata. Parameter groups, event subscriptions and proxies are outside the snapshot
contract, so the controls that need them say NOT_AVAILABLE.
"""

from __future__ import annotations

from collections.abc import Callable

from cloudwarden.core.severity import Severity
from cloudwarden.posture.inventory import ACCOUNT_REGION, Inventory
from cloudwarden.posture.model import NotAvailable, ResourceDoc, Verdict, not_collected, verdict
from cloudwarden.posture.network import internet_gateway, route_table_of
from cloudwarden.posture.registry import control

INSTANCE = "AwsRdsDbInstance"
CLUSTER = "AwsRdsDbCluster"
SNAPSHOT = "AwsRdsDbSnapshot"
CLUSTER_SNAPSHOT = "AwsRdsDbClusterSnapshot"
DEFAULT_ADMINS = frozenset({"admin", "postgres", "root", "sa", "administrator", "master"})
DEFAULT_PORTS = {"mysql": 3306, "mariadb": 3306, "postgres": 5432, "oracle": 1521, "sqlserver": 1433}


def engine(doc: ResourceDoc) -> str:
    return str(doc.data.get("Engine", "")).lower()


def in_cluster(doc: ResourceDoc) -> bool:
    return bool(doc.data.get("DBClusterIdentifier"))


def log_exports(doc: ResourceDoc) -> set[str]:
    return {str(x) for x in doc.data.get("EnabledCloudwatchLogsExports") or []}


def _flag(control_id: str, title: str, scope: str, key: str, what: str, severity: Severity, fix: str, cli: str,
          applies: Callable[[ResourceDoc], bool] = lambda d: True, categories: tuple[str, ...] = (),
          rationale: str = "") -> None:
    """Register a control that passes when ``data[key]`` is truthy."""

    def check(doc: ResourceDoc, inv: Inventory) -> Verdict | None:
        if not applies(doc):
            return None
        on = bool(doc.need(key))
        return verdict(on, f"{doc.label} has {what}", f"{doc.label} does not have {what}")

    check.__name__ = "flag_" + control_id.replace(".", "_").lower()
    control(control_id, title=title, severity=severity, resource_type=scope, service="rds", categories=categories,
            rationale=rationale or f"{title}.", remediation=fix, cli=cli)(check)


def _not_aurora(doc: ResourceDoc) -> bool:
    return not in_cluster(doc)


_flag("RDS.3", "RDS DB instances should have encryption at-rest enabled", INSTANCE, "StorageEncrypted",
      "storage encryption", Severity.MEDIUM, "Restore an encrypted copy from a snapshot and switch to it.",
      "aws rds copy-db-snapshot --kms-key-id <key> ...; aws rds restore-db-instance-from-db-snapshot ...",
      categories=("encryption",), rationale="Encryption at rest protects the database's storage, backups and replicas.")
_flag("RDS.5", "RDS DB instances should be configured with multiple Availability Zones", INSTANCE, "MultiAZ",
      "a Multi-AZ deployment", Severity.MEDIUM, "Convert the instance to Multi-AZ.",
      "aws rds modify-db-instance --db-instance-identifier <id> --multi-az --apply-immediately", applies=_not_aurora)
_flag("RDS.7", "RDS clusters should have deletion protection enabled", CLUSTER, "DeletionProtection",
      "deletion protection", Severity.LOW, "Turn on deletion protection.",
      "aws rds modify-db-cluster --db-cluster-identifier <id> --deletion-protection")
_flag("RDS.8", "RDS DB instances should have deletion protection enabled", INSTANCE, "DeletionProtection",
      "deletion protection", Severity.LOW, "Turn on deletion protection.",
      "aws rds modify-db-instance --db-instance-identifier <id> --deletion-protection")
_flag("RDS.12", "IAM authentication should be configured for RDS clusters", CLUSTER,
      "IAMDatabaseAuthenticationEnabled", "IAM authentication", Severity.MEDIUM, "Enable IAM database authentication.",
      "aws rds modify-db-cluster --db-cluster-identifier <id> --enable-iam-database-authentication")
_flag("RDS.13", "RDS automatic minor version upgrades should be enabled", INSTANCE, "AutoMinorVersionUpgrade",
      "automatic minor version upgrades", Severity.HIGH, "Turn on automatic minor version upgrades.",
      "aws rds modify-db-instance --db-instance-identifier <id> --auto-minor-version-upgrade")
_flag("RDS.15", "RDS DB clusters should be configured for multiple Availability Zones", CLUSTER, "MultiAZ",
      "a Multi-AZ deployment", Severity.MEDIUM, "Add a reader in another Availability Zone.",
      "aws rds create-db-instance --db-cluster-identifier <id> --availability-zone <other-az> ...")
_flag("RDS.16", "Aurora DB clusters should be configured to copy tags to DB snapshots", CLUSTER,
      "CopyTagsToSnapshot", "copy-tags-to-snapshot", Severity.LOW, "Turn on copying tags to snapshots.",
      "aws rds modify-db-cluster --db-cluster-identifier <id> --copy-tags-to-snapshot",
      applies=lambda d: engine(d).startswith("aurora"))
_flag("RDS.17", "RDS DB instances should be configured to copy tags to snapshots", INSTANCE,
      "CopyTagsToSnapshot", "copy-tags-to-snapshot", Severity.LOW, "Turn on copying tags to snapshots.",
      "aws rds modify-db-instance --db-instance-identifier <id> --copy-tags-to-snapshot", applies=_not_aurora)
_flag("RDS.27", "RDS DB clusters should be encrypted at rest", CLUSTER, "StorageEncrypted", "storage encryption",
      Severity.MEDIUM, "Restore an encrypted cluster from a snapshot and switch to it.",
      "aws rds restore-db-cluster-from-snapshot --kms-key-id <key> ...", categories=("encryption",))
_flag("RDS.35", "RDS DB clusters should have automatic minor version upgrade enabled", CLUSTER,
      "AutoMinorVersionUpgrade", "automatic minor version upgrades", Severity.MEDIUM,
      "Turn on automatic minor version upgrades.",
      "aws rds modify-db-cluster --db-cluster-identifier <id> --auto-minor-version-upgrade")
_flag("RDS.47", "RDS for PostgreSQL DB clusters should be configured to copy tags to DB snapshots", CLUSTER,
      "CopyTagsToSnapshot", "copy-tags-to-snapshot", Severity.LOW, "Turn on copying tags to snapshots.",
      "aws rds modify-db-cluster --db-cluster-identifier <id> --copy-tags-to-snapshot",
      applies=lambda d: engine(d) == "postgres")
_flag("RDS.48", "RDS for MySQL DB clusters should be configured to copy tags to DB snapshots", CLUSTER,
      "CopyTagsToSnapshot", "copy-tags-to-snapshot", Severity.LOW, "Turn on copying tags to snapshots.",
      "aws rds modify-db-cluster --db-cluster-identifier <id> --copy-tags-to-snapshot",
      applies=lambda d: engine(d) == "mysql")


@control("RDS.2", title="RDS DB Instances should prohibit public access, as determined by the PubliclyAccessible "
         "configuration", severity=Severity.CRITICAL, resource_type=INSTANCE, service="rds",
         rationale="A publicly accessible instance gets a public DNS name and address anyone can try to connect to.",
         remediation="Turn off public accessibility.",
         cli="aws rds modify-db-instance --db-instance-identifier <id> --no-publicly-accessible --apply-immediately")
def not_public(doc: ResourceDoc, inv: Inventory) -> Verdict:
    public = bool(doc.need("PubliclyAccessible"))
    return verdict(not public, f"database {doc.label} is not publicly accessible",
                   f"database {doc.label} is publicly accessible")


@control("RDS.6", title="Enhanced monitoring should be configured for RDS DB instances", severity=Severity.LOW,
         resource_type=INSTANCE, service="rds",
         rationale="Enhanced monitoring shows OS-level metrics needed to investigate incidents and load.",
         remediation="Enable enhanced monitoring with an interval of 60 seconds or less.",
         cli="aws rds modify-db-instance --db-instance-identifier <id> --monitoring-interval 60 "
             "--monitoring-role-arn <arn>")
def enhanced_monitoring(doc: ResourceDoc, inv: Inventory) -> Verdict:
    interval = int(doc.data.get("MonitoringInterval") or 0)
    return verdict(interval > 0, f"database {doc.label} has enhanced monitoring every {interval}s",
                   f"database {doc.label} has no enhanced monitoring")


@control("RDS.9", title="RDS DB instances should publish logs to CloudWatch Logs", severity=Severity.MEDIUM,
         resource_type=INSTANCE, service="rds",
         rationale="Database logs in CloudWatch survive the instance and can be searched and alarmed on.",
         remediation="Enable log exports to CloudWatch Logs.",
         cli="aws rds modify-db-instance --db-instance-identifier <id> --cloudwatch-logs-export-configuration "
             "'{\"EnableLogTypes\":[\"error\"]}'")
def logs_exported(doc: ResourceDoc, inv: Inventory) -> Verdict | None:
    if in_cluster(doc):
        return None
    exports = log_exports(doc)
    return verdict(bool(exports), f"database {doc.label} exports {', '.join(sorted(exports))} logs",
                   f"database {doc.label} exports no logs to CloudWatch Logs")


@control("RDS.10", title="IAM authentication should be configured for RDS instances", severity=Severity.MEDIUM,
         resource_type=INSTANCE, service="rds",
         rationale="IAM authentication replaces long-lived database passwords with short-lived tokens.",
         remediation="Enable IAM database authentication.",
         cli="aws rds modify-db-instance --db-instance-identifier <id> --enable-iam-database-authentication")
def iam_auth(doc: ResourceDoc, inv: Inventory) -> Verdict | None:
    if in_cluster(doc) or not engine(doc).startswith(("mysql", "postgres", "mariadb")):
        return None
    on = bool(doc.data.get("IAMDatabaseAuthenticationEnabled"))
    return verdict(on, f"database {doc.label} accepts IAM authentication",
                   f"database {doc.label} has IAM authentication off")


@control("RDS.11", title="RDS instances should have automatic backups enabled", severity=Severity.MEDIUM,
         resource_type=INSTANCE, service="rds",
         rationale="Automatic backups allow point-in-time recovery after deletion, corruption or ransomware.",
         remediation="Set a backup retention period of at least 7 days.",
         cli="aws rds modify-db-instance --db-instance-identifier <id> --backup-retention-period 7")
def backups(doc: ResourceDoc, inv: Inventory) -> Verdict | None:
    if in_cluster(doc):
        return None
    days = int(doc.need("BackupRetentionPeriod") or 0)
    return verdict(days >= 7, f"database {doc.label} keeps backups {days} days",
                   f"database {doc.label} keeps backups {days} days (7 needed)")


@control("RDS.14", title="Amazon Aurora clusters should have backtracking enabled", severity=Severity.MEDIUM,
         resource_type=CLUSTER, service="rds",
         rationale="Backtracking rewinds an Aurora MySQL cluster in minutes without a restore.",
         remediation="Enable backtracking (set at creation or restore).",
         cli="aws rds restore-db-cluster-to-point-in-time --backtrack-window 86400 ...")
def backtrack(doc: ResourceDoc, inv: Inventory) -> Verdict | None:
    if engine(doc) != "aurora-mysql":
        return None
    window = int(doc.data.get("BacktrackWindow") or 0)
    return verdict(window > 0, f"cluster {doc.label} can backtrack {window}s",
                   f"cluster {doc.label} has backtracking off")


@control("RDS.23", title="RDS instances should not use a database engine default port", severity=Severity.LOW,
         resource_type=INSTANCE, service="rds",
         rationale="A non-default port sheds untargeted scans for the engine's well-known port.",
         remediation="Change the instance's port.",
         cli="aws rds modify-db-instance --db-instance-identifier <id> --db-port-number <port>")
def default_port(doc: ResourceDoc, inv: Inventory) -> Verdict | None:
    if in_cluster(doc):
        return None
    name = next((k for k in DEFAULT_PORTS if engine(doc).startswith(k)), None)
    port = (doc.data.get("Endpoint") or {}).get("Port") or doc.data.get("DbInstancePort")
    if name is None:
        return None
    if not port:
        raise NotAvailable(f"the port of database {doc.label} is not in the snapshot")
    return verdict(int(port) != DEFAULT_PORTS[name], f"database {doc.label} listens on {port}",
                   f"database {doc.label} listens on the default {name} port {port}")


def _admin_name(doc: ResourceDoc) -> Verdict:
    user = str(doc.need("MasterUsername"))
    return verdict(user.lower() not in DEFAULT_ADMINS, f"{doc.label} uses a custom administrator name",
                   f"{doc.label} uses the default administrator name {user!r}")


@control("RDS.24", title="RDS Database clusters should use a custom administrator username", severity=Severity.MEDIUM,
         resource_type=CLUSTER, service="rds",
         rationale="A default administrator name halves what an attacker has to guess.",
         remediation="Create a new cluster with a custom administrator name and migrate.",
         cli="aws rds create-db-cluster --master-username <custom> ...")
def cluster_admin_name(doc: ResourceDoc, inv: Inventory) -> Verdict:
    return _admin_name(doc)


@control("RDS.25", title="RDS database instances should use a custom administrator username",
         severity=Severity.MEDIUM, resource_type=INSTANCE, service="rds",
         rationale="A default administrator name halves what an attacker has to guess.",
         remediation="Create a new instance with a custom administrator name and migrate.",
         cli="aws rds create-db-instance --master-username <custom> ...")
def instance_admin_name(doc: ResourceDoc, inv: Inventory) -> Verdict | None:
    if in_cluster(doc):
        return None
    return _admin_name(doc)


def _log_control(control_id: str, title: str, scope: str, engines: tuple[str, ...], needed: tuple[str, ...]) -> None:
    def check(doc: ResourceDoc, inv: Inventory) -> Verdict | None:
        if engine(doc) not in engines or (scope == INSTANCE and in_cluster(doc)):
            return None
        missing = sorted(set(needed) - log_exports(doc))
        return verdict(not missing, f"{doc.label} exports {', '.join(needed)} logs",
                       f"{doc.label} does not export {', '.join(missing)} logs to CloudWatch Logs")

    check.__name__ = "logs_" + control_id.replace(".", "_").lower()
    control(control_id, title=title, severity=Severity.MEDIUM, resource_type=scope, service="rds",
            rationale="Database logs in CloudWatch survive the database and can be searched and alarmed on.",
            remediation=f"Enable the {', '.join(needed)} log exports.",
            cli=f"aws rds modify-db-{'cluster' if scope == CLUSTER else 'instance'} --db-"
                f"{'cluster' if scope == CLUSTER else 'instance'}-identifier <id> --cloudwatch-logs-export-"
                f"configuration EnableLogTypes={','.join(needed)}")(check)


_log_control("RDS.34", "Aurora MySQL DB clusters should publish audit logs to CloudWatch Logs", CLUSTER,
             ("aurora-mysql", "aurora"), ("audit",))
_log_control("RDS.36", "RDS for PostgreSQL DB instances should publish logs to CloudWatch Logs", INSTANCE,
             ("postgres",), ("postgresql",))
_log_control("RDS.37", "Aurora PostgreSQL DB clusters should publish logs to CloudWatch Logs", CLUSTER,
             ("aurora-postgresql",), ("postgresql",))
_log_control("RDS.40", "RDS for SQL Server DB instances should publish logs to CloudWatch Logs", INSTANCE,
             ("sqlserver-ee", "sqlserver-se", "sqlserver-ex", "sqlserver-web"), ("error",))
_log_control("RDS.42", "RDS for MariaDB DB instances should publish logs to CloudWatch Logs", INSTANCE,
             ("mariadb",), ("error",))


def _snapshot_public(doc: ResourceDoc) -> Verdict:
    op, result, attrs = (("DescribeDBSnapshotAttributes", "DBSnapshotAttributesResult", "DBSnapshotAttributes")
                         if doc.type == SNAPSHOT else
                         ("DescribeDBClusterSnapshotAttributes", "DBClusterSnapshotAttributesResult",
                          "DBClusterSnapshotAttributes"))
    answer = doc.call(op) or {}
    items = (answer.get(result) or {}).get(attrs) or []
    public = any(a.get("AttributeName") == "restore" and "all" in (a.get("AttributeValues") or []) for a in items)
    return verdict(not public, f"snapshot {doc.label} is private", f"snapshot {doc.label} can be restored by anyone")


@control("RDS.1", title="RDS snapshot should be private", severity=Severity.CRITICAL, resource_type=SNAPSHOT,
         scope=(SNAPSHOT, CLUSTER_SNAPSHOT), service="rds",
         calls=("DescribeDBSnapshotAttributes", "DescribeDBClusterSnapshotAttributes"),
         rationale="Anyone can restore a public snapshot and read the whole database.",
         remediation="Remove 'all' from the snapshot's restore attribute.",
         cli="aws rds modify-db-snapshot-attribute --db-snapshot-identifier <id> --attribute-name restore "
             "--values-to-remove all")
def snapshot_private(doc: ResourceDoc, inv: Inventory) -> Verdict:
    return _snapshot_public(doc)


@control("RDS.4", title="RDS cluster snapshots and database snapshots should be encrypted at rest",
         severity=Severity.MEDIUM, resource_type=SNAPSHOT, scope=(SNAPSHOT, CLUSTER_SNAPSHOT), service="rds",
         categories=("encryption",),
         rationale="An unencrypted snapshot is a full copy of the database with no key policy in front of it.",
         remediation="Copy the snapshot with a KMS key and delete the unencrypted one.",
         cli="aws rds copy-db-snapshot --source-db-snapshot-identifier <id> --target-db-snapshot-identifier <new> "
             "--kms-key-id <key>")
def snapshot_encrypted(doc: ResourceDoc, inv: Inventory) -> Verdict:
    key = "Encrypted" if doc.type == SNAPSHOT else "StorageEncrypted"
    return verdict(bool(doc.need(key)), f"snapshot {doc.label} is encrypted", f"snapshot {doc.label} is not encrypted")


@control("RDS.46", title="RDS DB instances should not be deployed in public subnets with routes to internet gateways",
         severity=Severity.HIGH, resource_type=INSTANCE, service="rds",
         rationale="A database in a subnet routed to the internet is one setting away from exposure.",
         remediation="Move the instance to a DB subnet group of private subnets.",
         cli="aws rds modify-db-instance --db-instance-identifier <id> --db-subnet-group-name <private-group>")
def public_subnets(doc: ResourceDoc, inv: Inventory) -> Verdict:
    subnets = [str(s.get("SubnetIdentifier")) for s in (doc.data.get("DBSubnetGroup") or {}).get("Subnets") or []]
    if not subnets:
        raise NotAvailable(f"the subnets of database {doc.label} are not in the snapshot")
    routed = []
    for subnet_id in subnets:
        subnet = inv.require_id("AwsEc2Subnet", "SubnetId", subnet_id, f"the subnets of {doc.label}")
        if internet_gateway(route_table_of(inv, subnet)):
            routed.append(subnet_id)
    return verdict(not routed, f"database {doc.label} is in private subnets",
                   f"database {doc.label} is in subnets routed to an internet gateway: {', '.join(routed)}")


def _uncollected(control_id: str, title: str, what: str, resource_type: str, fix: str, cli: str) -> None:
    def check(doc: ResourceDoc, inv: Inventory) -> Verdict:
        not_collected(what)

    check.__name__ = "uncollected_" + control_id.replace(".", "_").lower()
    control(control_id, title=title, severity=Severity.LOW if "subscription" in title else Severity.MEDIUM,
            resource_type=resource_type, scope=ACCOUNT_REGION, service="rds", rationale=f"{title}.",
            remediation=fix, cli=cli)(check)


for _id, _title, _cats in (
        ("RDS.19", "Existing RDS event notification subscriptions should be configured for critical cluster events",
         "cluster"),
        ("RDS.20", "Existing RDS event notification subscriptions should be configured for critical database "
                   "instance events", "db-instance"),
        ("RDS.21", "An RDS event notifications subscription should be configured for critical database parameter "
                   "group events", "db-parameter-group"),
        ("RDS.22", "An RDS event notifications subscription should be configured for critical database security "
                   "group events", "db-security-group")):
    _uncollected(_id, _title, "RDS event subscriptions", "AwsRdsEventSubscription",
                 f"Create an event subscription for {_cats} events.",
                 f"aws rds create-event-subscription --subscription-name <n> --sns-topic-arn <arn> "
                 f"--source-type {_cats}")

_uncollected("RDS.41", "RDS for SQL Server DB instances should be encrypted in transit",
             "RDS parameter groups (rds.force_ssl)", INSTANCE, "Set rds.force_ssl=1 in the parameter group.",
             "aws rds modify-db-parameter-group --db-parameter-group-name <g> "
             "--parameters ParameterName=rds.force_ssl,ParameterValue=1,ApplyMethod=pending-reboot")
_uncollected("RDS.43", "RDS DB proxies should require TLS encryption for connections", "RDS proxies",
             "AwsRdsDbProxy", "Require TLS on the proxy.", "aws rds modify-db-proxy --db-proxy-name <p> --require-tls")
_uncollected("RDS.44", "RDS for MariaDB DB instances should be encrypted in transit",
             "RDS parameter groups (require_secure_transport)", INSTANCE,
             "Set require_secure_transport=ON in the parameter group.",
             "aws rds modify-db-parameter-group --db-parameter-group-name <g> "
             "--parameters ParameterName=require_secure_transport,ParameterValue=ON,ApplyMethod=immediate")
_uncollected("RDS.45", "Aurora MySQL DB clusters should have audit logging enabled",
             "RDS cluster parameter groups (server_audit_logging)", CLUSTER,
             "Set server_audit_logging=1 in the cluster parameter group.",
             "aws rds modify-db-cluster-parameter-group --db-cluster-parameter-group-name <g> "
             "--parameters ParameterName=server_audit_logging,ParameterValue=1,ApplyMethod=immediate")

