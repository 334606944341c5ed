"""The store's tables and their migrations, in one place, with a ``schema_version`` table.

Each migration is a list of statements applied in one transaction; a database is brought up to
:data:`SCHEMA_VERSION` when opened, and one written by a newer cloudwarden is refused rather than
misread. Timestamps are stored as UTC ``TIMESTAMP`` (no zone) and given their zone back on read.

Tables:
  runs             one row per command run (scan, detect, ...), with its stats
  snapshots        an inventory snapshot of one account and region, taken by a run
  resources        the normalised resource documents of a snapshot
  findings         every finding ever seen, one row per stable id, with its lifecycle
  finding_history  what happened to a finding in which run (new, updated, reopened, resolved, notified)
  audit_log        append-only record of actions, written before the action they describe
  checkpoints      how far incremental readers (CloudTrail, flow logs) have got, per source and key
  outbox           notifications waiting for, in, or past delivery (``cloudwarden.notify.outbox``), one row per
                   idempotency key; target names only, never URLs or keys (migration 2)
  audit_chain      the SHA-256 chain over incident-response audit entries: one row per chained ``audit_log``
                   seq with the previous entry's hash and its own (``cloudwarden.respond.journal``; migration 3)
  respond_runs     one row per playbook run: playbook, finding, mode, status, approvals, pending steps (migration 3)
  respond_undo     what each executed step changed, as the action needs it to roll back (migration 3)
  route_sent       per routing target and finding, the state last sent (severity, re-open count), so a finding
                   is sent again only when it changes severity or re-opens (``cloudwarden.route.router``; migration 4)
  route_log        one row per message queued or playbook started by a routing rule, for throttling (migration 4)
  baseline_seen    per account and principal, the first/last sighting and count of each value of each behaviour
                   dimension (API, network, user-agent family, region; ``*`` for the principal itself)
                   (``cloudwarden.detect.baselines``; migration 5)
  baseline_volume  per account, principal and metric (S3 objects read), events per hour (migration 5)
  detect_carry     the events of the last window before the end of the last committed detection chunk that
                   thresholds and sequences carry into the next run, with the rules that already cited each
                   (state ``current``, or ``pending`` while a chunk commits; ``cloudwarden.detect.carry``; migration 6),
                   per kind of log (``source``: ``detect.cloudtrail``, ``detect.netlogs``) and table (``log_table``)
                   (migration 7)
"""

from __future__ import annotations

from typing import Any, Final

from cloudwarden.core.errors import RuntimeFailure

MIGRATIONS: Final[tuple[tuple[str, ...], ...]] = (
    # 1: the first schema
    (
        """CREATE TABLE runs (
            id VARCHAR PRIMARY KEY,
            command VARCHAR NOT NULL,
            started_at TIMESTAMP NOT NULL,
            ended_at TIMESTAMP,
            status VARCHAR NOT NULL,
            stats JSON
        )""",
        """CREATE TABLE snapshots (
            id VARCHAR PRIMARY KEY,
            run_id VARCHAR,
            account VARCHAR NOT NULL,
            region VARCHAR NOT NULL,
            taken_at TIMESTAMP NOT NULL,
            status VARCHAR NOT NULL DEFAULT 'complete',
            errors JSON
        )""",
        """CREATE TABLE resources (
            snapshot_id VARCHAR NOT NULL,
            arn VARCHAR NOT NULL,
            type VARCHAR NOT NULL,
            account VARCHAR NOT NULL,
            region VARCHAR NOT NULL,
            document JSON NOT NULL,
            PRIMARY KEY (snapshot_id, arn)
        )""",
        """CREATE TABLE findings (
            id VARCHAR PRIMARY KEY,
            source VARCHAR NOT NULL,
            type VARCHAR NOT NULL,
            control_id VARCHAR,
            rule_id VARCHAR NOT NULL,
            title VARCHAR NOT NULL,
            description VARCHAR NOT NULL,
            remediation VARCHAR NOT NULL,
            status VARCHAR NOT NULL,
            severity VARCHAR NOT NULL,
            severity_rank INTEGER NOT NULL,
            account_id VARCHAR NOT NULL,
            region VARCHAR NOT NULL,
            resource_type VARCHAR NOT NULL,
            resource_id VARCHAR NOT NULL,
            principal VARCHAR,
            frameworks JSON NOT NULL,
            first_seen TIMESTAMP NOT NULL,
            last_seen TIMESTAMP NOT NULL,
            count BIGINT NOT NULL,
            evidence JSON NOT NULL,
            mitre JSON NOT NULL,
            lifecycle VARCHAR NOT NULL,
            reopened_count INTEGER NOT NULL DEFAULT 0,
            notified_at TIMESTAMP,
            resolved_at TIMESTAMP,
            last_run_id VARCHAR
        )""",
        "CREATE INDEX findings_source ON findings (source)",
        """CREATE TABLE finding_history (
            seq BIGINT PRIMARY KEY,
            finding_id VARCHAR NOT NULL,
            run_id VARCHAR,
            "at" TIMESTAMP NOT NULL,
            change VARCHAR NOT NULL
        )""",
        "CREATE SEQUENCE finding_history_seq START 1",
        """CREATE TABLE audit_log (
            seq BIGINT PRIMARY KEY,
            "at" TIMESTAMP NOT NULL,
            actor VARCHAR NOT NULL,
            action VARCHAR NOT NULL,
            target VARCHAR NOT NULL,
            dry_run BOOLEAN NOT NULL,
            details JSON NOT NULL
        )""",
        "CREATE SEQUENCE audit_log_seq START 1",
        """CREATE TABLE checkpoints (
            source VARCHAR NOT NULL,
            "key" VARCHAR NOT NULL,
            "position" VARCHAR NOT NULL,
            updated_at TIMESTAMP NOT NULL,
            PRIMARY KEY (source, key)
        )""",
    ),
    # 2: the notification outbox
    (
        "CREATE SEQUENCE outbox_seq START 1",
        """CREATE TABLE outbox (
            idempotency_key VARCHAR PRIMARY KEY,
            seq BIGINT NOT NULL DEFAULT nextval('outbox_seq'),
            target VARCHAR NOT NULL,
            kind VARCHAR NOT NULL,
            payload JSON NOT NULL,
            finding_ids JSON NOT NULL,
            state VARCHAR NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            parts_sent INTEGER NOT NULL DEFAULT 0,
            created_at TIMESTAMP NOT NULL,
            next_attempt_at TIMESTAMP NOT NULL,
            last_attempt_at TIMESTAMP,
            delivered_at TIMESTAMP,
            claimed_by VARCHAR,
            last_error VARCHAR
        )""",
        "CREATE INDEX outbox_due ON outbox (state, next_attempt_at)",
    ),
    # 3: incident-response runs, their undo records, and the hash chain over their audit entries
    (
        """CREATE TABLE audit_chain (
            seq BIGINT PRIMARY KEY,
            chain VARCHAR NOT NULL,
            prev_hash VARCHAR NOT NULL,
            hash VARCHAR NOT NULL
        )""",
        """CREATE TABLE respond_runs (
            id VARCHAR PRIMARY KEY,
            playbook VARCHAR NOT NULL,
            finding_id VARCHAR NOT NULL,
            finding JSON NOT NULL,
            input JSON NOT NULL,
            execute BOOLEAN NOT NULL,
            auto_approve BOOLEAN NOT NULL,
            status VARCHAR NOT NULL,
            account_id VARCHAR NOT NULL,
            region VARCHAR NOT NULL,
            case_dir VARCHAR NOT NULL,
            started_at TIMESTAMP NOT NULL,
            updated_at TIMESTAMP NOT NULL,
            approved JSON NOT NULL,
            pending JSON NOT NULL,
            error VARCHAR
        )""",
        """CREATE TABLE respond_undo (
            run_id VARCHAR NOT NULL,
            seq INTEGER NOT NULL,
            step VARCHAR NOT NULL,
            action VARCHAR NOT NULL,
            undo JSON NOT NULL,
            recorded_at TIMESTAMP NOT NULL,
            undone_at TIMESTAMP,
            PRIMARY KEY (run_id, seq)
        )""",
    ),
    # 4: routing state: what each target was last sent about each finding, and what each rule sent when
    (
        """CREATE TABLE route_sent (
            target VARCHAR NOT NULL,
            finding_id VARCHAR NOT NULL,
            severity VARCHAR NOT NULL,
            reopened_count INTEGER NOT NULL,
            sends INTEGER NOT NULL,
            rule VARCHAR NOT NULL,
            ref VARCHAR NOT NULL,
            sent_at TIMESTAMP NOT NULL,
            PRIMARY KEY (target, finding_id)
        )""",
        """CREATE TABLE route_log (
            rule VARCHAR NOT NULL,
            target VARCHAR NOT NULL,
            ref VARCHAR NOT NULL,
            "at" TIMESTAMP NOT NULL
        )""",
        'CREATE INDEX route_log_window ON route_log (rule, target, "at")',
    ),
    # 5: behavioural baselines: what each principal was seen doing, and its hourly S3 read volume
    (
        """CREATE TABLE baseline_seen (
            account VARCHAR NOT NULL,
            principal VARCHAR NOT NULL,
            dimension VARCHAR NOT NULL,
            value VARCHAR NOT NULL,
            first_seen TIMESTAMP NOT NULL,
            last_seen TIMESTAMP NOT NULL,
            events BIGINT NOT NULL,
            PRIMARY KEY (account, principal, dimension, value)
        )""",
        """CREATE TABLE baseline_volume (
            account VARCHAR NOT NULL,
            principal VARCHAR NOT NULL,
            metric VARCHAR NOT NULL,
            hour TIMESTAMP NOT NULL,
            events BIGINT NOT NULL,
            PRIMARY KEY (account, principal, metric, hour)
        )""",
    ),
    # 6: the events detection carries to the next run for thresholds and sequences (detect/carry.py)
    (
        """CREATE TABLE detect_carry (
            state VARCHAR NOT NULL,
            event_id VARCHAR NOT NULL,
            event_time TIMESTAMP NOT NULL,
            record VARCHAR NOT NULL,
            cited VARCHAR[] NOT NULL,
            PRIMARY KEY (state, event_id)
        )""",
    ),
    # 7: the carried events of each kind of log kept apart (CloudTrail's and network logs'), with their table
    (
        """CREATE TABLE detect_carry_7 (
            source VARCHAR NOT NULL,
            state VARCHAR NOT NULL,
            log_table VARCHAR NOT NULL,
            event_id VARCHAR NOT NULL,
            event_time TIMESTAMP NOT NULL,
            record VARCHAR NOT NULL,
            cited VARCHAR[] NOT NULL,
            PRIMARY KEY (source, state, event_id)
        )""",
        "INSERT INTO detect_carry_7 SELECT 'detect.cloudtrail', state, 'cloudtrail', event_id, event_time, record, "
        "cited FROM detect_carry",
        "DROP TABLE detect_carry",
        "ALTER TABLE detect_carry_7 RENAME TO detect_carry",
    ),
)
SCHEMA_VERSION: Final = len(MIGRATIONS)


def current_version(conn: Any) -> int:
    """The schema version of an open database (0 for a new, empty one)."""
    conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL, applied_at TIMESTAMP)")
    row = conn.execute("SELECT max(version) FROM schema_version").fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def migrate(conn: Any, where: str) -> int:
    """Bring the database up to :data:`SCHEMA_VERSION`; returns the version it was at."""
    found = current_version(conn)
    if found > SCHEMA_VERSION:
        raise RuntimeFailure(
            f"{where}: store schema version {found} is newer than this cloudwarden understands "
            f"({SCHEMA_VERSION}); upgrade cloudwarden or use another --store"
        )
    for version in range(found + 1, SCHEMA_VERSION + 1):
        conn.execute("BEGIN TRANSACTION")
        try:
            for statement in MIGRATIONS[version - 1]:
                conn.execute(statement)
            conn.execute("INSERT INTO schema_version VALUES (?, current_timestamp::TIMESTAMP)", [version])
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    return found
