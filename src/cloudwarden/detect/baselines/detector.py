"""First-seen behaviour baselines: GuardDuty's ``<Tactic>:IAMUser/AnomalousBehavior`` and
``Exfiltration:S3/AnomalousBehavior`` findings, learned from history kept in the store.

:class:`BaselineDetector` is a chunk analyzer for :func:`cloudwarden.detect.engine.run_detection`
(``analyzers=[BaselineDetector(store)]``): it is called with each loaded chunk, judges every event
against the history of its principal *before* that event, then folds the chunk into the history. So a
chunk holding two weeks of logs learns from its first days and judges its last ones, and chunk two of
a run is judged against chunk one.

An event is anomalous when its principal is past the learning period (first seen at least
``min_days`` before, with at least ``min_events`` earlier events), its API was not seen from that
principal in the previous ``window_days``, and at least ``min_new_dimensions`` of the four dimensions
(API, network, user-agent family, region; see :mod:`.dimensions`) are new in that sense. A value first
seen less than ``novelty_hours`` before the event also counts as new, so the second call of a burst
from a new network is as anomalous as the first. Its tactic
comes from the API (:mod:`.tactics`); APIs the table does not map are learned but raise nothing, and
only management events are judged this way. S3 object reads are judged by volume: an hour in which a
learned principal reads at least ``s3_min_objects`` objects and ``s3_factor`` times its busiest hour
of the window raises ``Exfiltration:S3/AnomalousBehavior``.

"Before" is decided from the stored first/last sightings, not from which run stored them: a value
whose first sighting is the event itself is still new when the same logs are read again (a re-run
after a crash between learning and checkpointing finds the same anomalies). The principal's event
count is the exception: read twice, it counts twice.

Hand-written rather than a native rule because the history lives in the store, not in the chunk's
table, and must be read before and written after the rules run.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from cloudwarden.core.errors import BadInputError
from cloudwarden.core.finding import Evidence, Finding, ResourceRef, Source, Status, finding_id
from cloudwarden.core.severity import Severity
from cloudwarden.detect.baselines import history
from cloudwarden.detect.baselines.dimensions import network_of, user_agent_family
from cloudwarden.detect.baselines.tactics import Tactic, TacticTable, default_table
from cloudwarden.detect.compile import MAX_EVIDENCE_IDS, allowlist_sql
from cloudwarden.detect.rules.model import ACCOUNT_SQL, PRINCIPAL_SQL, REGION_SQL, Allowlist
from cloudwarden.store import Store

if TYPE_CHECKING:
    import duckdb

    from cloudwarden.detect.engine import CloudTrailDB

S3_METRIC: Final = "s3:GetObject"
S3_TYPE: Final = "Exfiltration:S3/AnomalousBehavior"
S3_TECHNIQUE: Final = "T1530"  # Data from Cloud Storage
_TEMP_TABLES: Final = ("bl_events", "bl_net", "bl_ua", "bl_obs", "bl_hist", "bl_learned", "bl_cand", "bl_s3",
                       "bl_vol")


class BaselineConfig(BaseModel):
    """How long history is remembered, when a principal counts as learned, and what counts as anomalous."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    window_days: int = Field(default=30, ge=1, le=3650)  # a value unseen for this long is new again
    min_days: int = Field(default=7, ge=0, le=3650)  # learning period: days since the principal's first event
    min_events: int = Field(default=50, ge=0)  # learning period: events of the principal before this one
    min_new_dimensions: int = Field(default=2, ge=1, le=4)  # new API plus this many - 1 other new dimensions
    novelty_hours: int = Field(default=24, ge=0)  # a value first seen this recently is still new
    s3_min_objects: int = Field(default=200, ge=1)  # objects read in an hour before volume can be anomalous
    s3_factor: float = Field(default=10.0, gt=1.0)  # times the busiest hour of the window

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any] | None, where: str = "baselines") -> BaselineConfig:
        """A config from user settings (e.g. a YAML mapping); errors name the field."""
        try:
            return cls.model_validate(dict(data or {}))
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(part) for part in first["loc"]) or "(config)"
            raise BadInputError(f"{where}.{field}", first["msg"]) from None


class BaselineDetector:
    """A chunk analyzer judging events against, then adding them to, the baselines in ``store``."""

    def __init__(self, store: Store, config: BaselineConfig | None = None, *, allowlist: Allowlist | None = None,
                 table: TacticTable | None = None) -> None:
        self.store = store
        self.config = config or BaselineConfig()
        self.allowlist = allowlist
        self.table = table or default_table()
        self.stats: dict[str, int] = {"events": 0, "principals": 0, "anomalous_events": 0,
                                      "unmapped_anomalous_events": 0, "s3_anomalous_hours": 0}

    def __call__(self, db: CloudTrailDB) -> list[Finding]:
        conn = db.conn
        try:
            principals = self._prepare(conn)
            if not principals:
                return []
            history.load_table(conn, "bl_hist", _SEEN_COLUMNS, history.seen_for(self.store, principals))
            self._learning(conn)
            findings = self._api_findings(conn)
            findings += self._s3_findings(conn, principals)
            self._learn(conn)
            return sorted(findings, key=lambda f: f.id)
        finally:
            for name in _TEMP_TABLES:
                conn.execute(f"DROP TABLE IF EXISTS {name}")

    # --- steps -----------------------------------------------------------------------------------------------

    def _prepare(self, conn: duckdb.DuckDBPyConnection) -> list[tuple[str, str]]:
        """The chunk's judged events with their dimension values, one row per (event, dimension)."""
        allowed = allowlist_sql(self.allowlist) if self.allowlist is not None else None
        conn.execute(f"""CREATE OR REPLACE TEMP TABLE bl_events AS
            SELECT event_id, event_time, {ACCOUNT_SQL} AS account, {PRINCIPAL_SQL} AS principal,
                {REGION_SQL} AS region, event_name,
                regexp_replace(event_source, '\\.amazonaws\\.com$', '') || ':' || event_name AS api,
                coalesce(source_ip, '') AS source_ip, coalesce(user_agent, '') AS user_agent,
                (management_event IS DISTINCT FROM false AND coalesce(event_category, '') <> 'Data') AS management,
                {f'coalesce({allowed}, false)' if allowed else 'false'} AS allowlisted,
                CASE WHEN event_source = 's3.amazonaws.com' AND event_name = 'GetObject'
                     THEN coalesce(json_extract_string(request_parameters, '$.bucketName'), '') END AS s3_bucket
            FROM cloudtrail
            WHERE event_source IS NOT NULL AND event_name IS NOT NULL
              AND coalesce(identity_type, '') <> 'AWSService' AND invoked_by IS NULL""")
        ips = [r[0] for r in conn.execute("SELECT DISTINCT source_ip FROM bl_events").fetchall()]
        history.load_table(conn, "bl_net", (("source_ip", "VARCHAR"), ("value", "VARCHAR")),
                           [(ip, network_of(ip)) for ip in ips])
        agents = [r[0] for r in conn.execute("SELECT DISTINCT user_agent FROM bl_events").fetchall()]
        history.load_table(conn, "bl_ua", (("user_agent", "VARCHAR"), ("value", "VARCHAR")),
                           [(ua, user_agent_family(ua)) for ua in agents])
        base = "SELECT event_id, event_time, account, principal"
        conn.execute(f"""CREATE OR REPLACE TEMP TABLE bl_obs AS
            {base}, 'api' AS dimension, api AS value FROM bl_events WHERE management
            UNION ALL {base}, 'network', n.value FROM bl_events JOIN bl_net n USING (source_ip) WHERE management
            UNION ALL {base}, 'user_agent', u.value FROM bl_events JOIN bl_ua u USING (user_agent) WHERE management
            UNION ALL {base}, 'region', region FROM bl_events WHERE management
            UNION ALL {base}, '{history.PRINCIPAL_DIMENSION}', '{history.PRINCIPAL_DIMENSION}' FROM bl_events""")
        rows = conn.execute("SELECT DISTINCT account, principal FROM bl_events ORDER BY ALL").fetchall()
        count = conn.execute("SELECT count(*) FROM bl_events").fetchone()
        self.stats["events"] += int(count[0]) if count else 0
        self.stats["principals"] += len(rows)
        return [(str(r[0]), str(r[1])) for r in rows]

    def _learning(self, conn: duckdb.DuckDBPyConnection) -> None:
        """``bl_learned``: per event, whether its principal is past the learning period at that event."""
        star = history.PRINCIPAL_DIMENSION
        conn.execute(f"""CREATE OR REPLACE TEMP TABLE bl_learned AS
            SELECT o.event_id,
                least(h.first_seen, min(o.event_time) OVER (PARTITION BY o.account, o.principal))
                    <= o.event_time - INTERVAL {self.config.min_days} DAY
                AND coalesce(h.events, 0) + row_number() OVER (PARTITION BY o.account, o.principal
                    ORDER BY o.event_time, o.event_id) - 1 >= {self.config.min_events} AS learned
            FROM bl_obs o LEFT JOIN bl_hist h
                ON h.account = o.account AND h.principal = o.principal AND h.dimension = '{star}'
            WHERE o.dimension = '{star}'""")

    def _api_findings(self, conn: duckdb.DuckDBPyConnection) -> list[Finding]:
        """Anomalous management events, grouped into one finding per (account, region, principal, tactic)."""
        cfg = self.config
        star = history.PRINCIPAL_DIMENSION
        # Only principals with an API that may be new in this chunk need judging event by event: one
        # absent from history, first seen recently, unseen for a window, or with a window-long gap in the chunk.
        conn.execute(f"""CREATE OR REPLACE TEMP TABLE bl_cand AS
            SELECT DISTINCT c.account, c.principal FROM (
                SELECT account, principal, value, min(event_time) AS lo, max(event_time) AS hi FROM bl_obs
                WHERE dimension = 'api' GROUP BY ALL) c
            LEFT JOIN bl_hist h ON h.account = c.account AND h.principal = c.principal AND h.dimension = 'api'
                AND h.value = c.value
            WHERE h.first_seen IS NULL OR h.first_seen > c.lo - INTERVAL {cfg.novelty_hours} HOUR
               OR h.last_seen < c.lo - INTERVAL {cfg.window_days} DAY
               OR c.hi - c.lo > INTERVAL {cfg.window_days} DAY""")
        rows = conn.execute(f"""
            WITH dims AS (
                SELECT o.event_id, o.dimension, o.value,
                    greatest(
                        lag(o.event_time) OVER (PARTITION BY o.account, o.principal, o.dimension, o.value
                                                ORDER BY o.event_time, o.event_id),
                        CASE WHEN h.last_seen < o.event_time THEN h.last_seen
                             WHEN h.first_seen < o.event_time THEN o.event_time END) AS prev,
                    least(h.first_seen, min(o.event_time) OVER (PARTITION BY o.account, o.principal, o.dimension,
                                                                o.value)) AS first_seen,
                    o.event_time
                FROM bl_obs o SEMI JOIN bl_cand c ON c.account = o.account AND c.principal = o.principal
                LEFT JOIN bl_hist h USING (account, principal, dimension, value)
                WHERE o.dimension <> '{star}'
            ), judged AS (
                SELECT event_id, dimension, value,
                    prev IS NULL OR prev < event_time - INTERVAL {cfg.window_days} DAY
                        OR first_seen > event_time - INTERVAL {cfg.novelty_hours} HOUR AS is_new
                FROM dims
            )
            SELECT e.event_id, e.event_time, e.account, e.principal, e.region, e.api, e.event_name, e.source_ip,
                e.user_agent,
                list(j.dimension ORDER BY j.dimension) FILTER (WHERE j.is_new) AS new_dims,
                list(j.value ORDER BY j.dimension) FILTER (WHERE j.is_new) AS new_values
            FROM bl_events e JOIN judged j USING (event_id) JOIN bl_learned l USING (event_id)
            WHERE e.management AND NOT e.allowlisted AND l.learned
            GROUP BY ALL
            HAVING bool_or(j.dimension = 'api' AND j.is_new)
               AND count(*) FILTER (WHERE j.is_new) >= {cfg.min_new_dimensions}
            ORDER BY e.event_time, e.event_id""").fetchall()
        groups: dict[tuple[str, str, str, str], list[tuple[Any, ...]]] = defaultdict(list)
        tactics: dict[str, Tactic] = {}
        for row in rows:
            tactic = self.table.lookup(row[5])
            if tactic is None:
                self.stats["unmapped_anomalous_events"] += 1
                continue
            self.stats["anomalous_events"] += 1
            tactics[tactic.name] = tactic
            groups[(row[2], row[4], row[3], tactic.name)].append(row)
        return [self._api_finding(tactics[key[3]], *key[:3], group) for key, group in groups.items()]

    def _api_finding(self, tactic: Tactic, account: str, region: str, principal: str,
                     rows: list[tuple[Any, ...]]) -> Finding:
        anomalous: dict[str, set[str]] = defaultdict(set)
        for row in rows:
            for dimension, value in zip(row[9], row[10], strict=True):
                anomalous[dimension].add(value)
        techniques = sorted({t.technique for row in rows if (t := self.table.lookup(row[5])) is not None})
        apis = sorted({row[5] for row in rows})
        details = {
            "rule_kind": "baseline",
            "anomalous_dimensions": {k: sorted(v) for k, v in sorted(anomalous.items())},
            "apis": apis,
            "event_names": sorted({row[6] for row in rows}),
            "source_ips": sorted({row[7] for row in rows if row[7]}),
            "user_agents": sorted({row[8] for row in rows if row[8]}),
            "baseline": self._config_details(),
        }
        return _finding(
            rule_id=f"baseline.{tactic.name}", type=tactic.finding_type, severity=tactic.severity,
            title=f"{tactic.name} API calls by {_short(principal)} unlike its baseline",
            description=(f"{principal} called {', '.join(apis[:5])}{' and more' if len(apis) > 5 else ''}, "
                         f"which it had not called in the previous {self.config.window_days} days, with "
                         f"other new characteristics ({', '.join(sorted(anomalous))}). The calls serve the "
                         f"{tactic.name} tactic."),
            remediation=("Confirm with the owner of the principal that the calls were intended; if not, "
                         "disable its credentials and review what it changed."),
            account=account, region=region, principal=principal, resource=_principal_resource(principal),
            rows=[(r[0], r[1]) for r in rows], details=details, mitre=techniques,
        )

    def _s3_findings(self, conn: duckdb.DuckDBPyConnection, principals: list[tuple[str, str]]) -> list[Finding]:
        """Hours in which a learned principal read far more S3 objects than in any hour of its window."""
        cfg = self.config
        conn.execute(f"""CREATE OR REPLACE TEMP TABLE bl_s3 AS
            SELECT e.account, e.principal, date_trunc('hour', e.event_time) AS hour, min(e.region) AS region,
                count(*) AS events, bool_or(NOT e.allowlisted) AS judged, bool_or(l.learned) AS learned,
                list(e.event_id ORDER BY e.event_time, e.event_id)[1:{MAX_EVIDENCE_IDS}] AS event_ids,
                min(e.event_time) AS first_seen, max(e.event_time) AS last_seen,
                list(DISTINCT e.s3_bucket ORDER BY e.s3_bucket) AS buckets
            FROM bl_events e JOIN bl_learned l USING (event_id)
            WHERE e.s3_bucket IS NOT NULL GROUP BY ALL""")
        span = conn.execute("SELECT min(hour), max(hour) FROM bl_s3").fetchone()
        if span is None or span[0] is None:
            return []
        since = span[0] - timedelta(days=cfg.window_days)
        history.load_table(conn, "bl_vol", (("account", "VARCHAR"), ("principal", "VARCHAR"),
                                            ("hour", "TIMESTAMP"), ("events", "BIGINT")),
                           [(r[0], r[1], r[3], r[4])
                            for r in history.volume_for(self.store, principals, S3_METRIC, since, span[1])])
        rows = conn.execute(f"""
            WITH vol AS (
                SELECT account, principal, hour, max(events) AS events FROM (
                    SELECT account, principal, hour, events FROM bl_vol
                    UNION ALL SELECT account, principal, hour, events FROM bl_s3) GROUP BY ALL
            ), judged AS (
                SELECT c.*, (SELECT max(v.events) FROM vol v WHERE v.account = c.account
                    AND v.principal = c.principal AND v.hour < c.hour
                    AND v.hour >= c.hour - INTERVAL {cfg.window_days} DAY) AS baseline_max
                FROM bl_s3 c WHERE c.judged AND c.learned AND c.events >= {cfg.s3_min_objects}
            )
            SELECT account, region, principal, hour, events, coalesce(baseline_max, 0), event_ids, first_seen,
                last_seen, buckets
            FROM judged WHERE events >= {cfg.s3_factor} * coalesce(baseline_max, 0)
            ORDER BY account, principal, hour""").fetchall()
        groups: dict[tuple[str, str, str], list[tuple[Any, ...]]] = defaultdict(list)
        for row in rows:
            groups[(row[0], row[1], row[2])].append(row)
        self.stats["s3_anomalous_hours"] += len(rows)
        return [self._s3_finding(*key, group) for key, group in groups.items()]

    def _s3_finding(self, account: str, region: str, principal: str, rows: list[tuple[Any, ...]]) -> Finding:
        buckets = sorted({b for row in rows for b in row[9] if b})
        hours = [{"hour": _aware(row[3]).isoformat(), "objects_read": int(row[4]),
                  "baseline_max_per_hour": int(row[5])} for row in rows]
        details = {
            "rule_kind": "baseline",
            "anomalous_dimensions": {"s3_objects_read_per_hour": hours},
            "buckets": buckets,
            "event_names": ["GetObject"],
            "baseline": self._config_details(),
        }
        ids = [event_id for row in rows for event_id in row[6]]
        resource = ResourceRef(type="AwsS3Bucket", id=f"arn:aws:s3:::{buckets[0]}") if buckets else \
            _principal_resource(principal)
        return _finding(
            rule_id="baseline.S3Exfiltration", type=S3_TYPE, severity=Severity.HIGH,
            title=f"{_short(principal)} read far more S3 objects than its baseline",
            description=(f"{principal} read {sum(int(row[4]) for row in rows)} objects from "
                         f"{', '.join(buckets[:5]) or 'S3'} in {len(hours)} hour(s), at least "
                         f"{self.config.s3_factor:g} times its busiest hour of the previous "
                         f"{self.config.window_days} days."),
            remediation=("Confirm the reads were intended; if not, revoke the principal's credentials, "
                         "review the bucket policies and consider S3 Object Lock or versioning."),
            account=account, region=region, principal=principal, resource=resource,
            rows=[], details=details, mitre=[S3_TECHNIQUE], event_ids=ids,
            count=sum(int(row[4]) for row in rows), first=min(row[7] for row in rows),
            last=max(row[8] for row in rows),
        )

    def _learn(self, conn: duckdb.DuckDBPyConnection) -> None:
        """Fold the chunk into the store: sightings per dimension value, S3 reads per hour."""
        seen = conn.execute("SELECT account, principal, dimension, value, min(event_time), max(event_time), "
                            "count(*) FROM bl_obs GROUP BY ALL").fetchall()
        history.fold_seen(self.store, [(r[0], r[1], r[2], r[3], r[4], r[5], int(r[6])) for r in seen])
        volume = conn.execute("SELECT account, principal, hour, events FROM bl_s3").fetchall()
        history.fold_volume(self.store, [(r[0], r[1], S3_METRIC, r[2], int(r[3])) for r in volume])

    def _config_details(self) -> dict[str, Any]:
        return self.config.model_dump()


_SEEN_COLUMNS: Final = (("account", "VARCHAR"), ("principal", "VARCHAR"), ("dimension", "VARCHAR"),
                        ("value", "VARCHAR"), ("first_seen", "TIMESTAMP"), ("last_seen", "TIMESTAMP"),
                        ("events", "BIGINT"))


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _short(principal: str) -> str:
    return principal.rsplit(":", 1)[-1]


def _principal_resource(principal: str) -> ResourceRef:
    if ":user/" in principal:
        return ResourceRef(type="AwsIamUser", id=principal)
    if ":assumed-role/" in principal or ":role/" in principal:
        return ResourceRef(type="AwsIamRole", id=principal)
    return ResourceRef(type="Other", id=principal)


def _finding(*, rule_id: str, type: str, severity: Severity, title: str, description: str, remediation: str,
             account: str, region: str, principal: str, resource: ResourceRef, rows: list[tuple[str, datetime]],
             details: dict[str, Any], mitre: list[str], event_ids: list[str] | None = None,
             count: int | None = None, first: datetime | None = None, last: datetime | None = None) -> Finding:
    ids = event_ids if event_ids is not None else [row[0] for row in rows]
    if count is None:
        count = len(rows)
    if first is None or last is None:
        first, last = min(row[1] for row in rows), max(row[1] for row in rows)
    if count > min(len(ids), MAX_EVIDENCE_IDS):
        details["event_ids_truncated"] = True
    return Finding(
        id=finding_id(Source.DETECT.value, rule_id, account, region, principal),
        source=Source.DETECT, type=type, rule_id=rule_id, title=title, description=description,
        remediation=remediation, status=Status.ACTIVE, severity=severity, account_id=account, region=region,
        resource=resource, principal=principal, first_seen=_aware(first), last_seen=_aware(last), count=count,
        evidence=Evidence(event_ids=ids[:MAX_EVIDENCE_IDS], details=details), mitre=mitre,
    )
