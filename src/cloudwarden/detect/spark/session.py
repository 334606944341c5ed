"""Building the SparkSession the Spark engine runs on: local mode by default, a cluster on request.

Local mode (``local[2]``) suits a laptop and CI: two worker threads, two shuffle partitions (the default
200 makes every small query slow), no web UI, no progress bars, warnings and errors of Spark's own logs
only (a log4j2 configuration in a scratch directory, read when the JVM starts and removed once the
session is built), UTC as the session time zone (CloudTrail times are UTC and the table's ``event_time`` is a
timestamp without zone). ``--spark-master URL`` (``spark://host:7077``, ``yarn``, ``k8s://...``) points
the engine at a cluster; ``spark_conf`` adds settings such as the hadoop-aws package for ``s3a://``.

A session that is already active (a notebook's, a test module's) is reused and left running.
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Final

from cloudwarden.core.errors import BadInputError, RuntimeFailure
from cloudwarden.core.scratch import ScratchDir

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

DEFAULT_MASTER: Final = "local[2]"
INSTALL_HINT: Final = "pip install 'cloudwarden[spark]'"
APP_NAME: Final = "cloudwarden-detect"

_LOG4J2: Final = """\
rootLogger.level = error
rootLogger.appenderRef.stderr.ref = console
appender.console.type = Console
appender.console.name = console
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d{HH:mm:ss} %p %c{1}: %m%n
"""


def error_text(exc: BaseException) -> str:
    """The first line of a pyspark exception (AnalysisException, ParseException, Py4JJavaError, ...): what went
    wrong, without the JVM's stack trace."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def pyspark_available() -> bool:
    """True when pyspark can be imported (without importing it)."""
    return importlib.util.find_spec("pyspark") is not None


def require_pyspark() -> None:
    """Raise a :class:`BadInputError` naming the install command when pyspark is missing."""
    if not pyspark_available():
        raise BadInputError("--engine", f"the Spark engine needs pyspark, which is not installed: {INSTALL_HINT}")


def session_conf(master: str, extra: Mapping[str, str] | None = None, *, log_dir: Path | None = None) -> dict[str, str]:
    """The settings a session is built with (a dict, so they are easy to read and test)."""
    conf = {
        "spark.master": master,
        "spark.app.name": APP_NAME,
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.session.timeZone": "UTC",
        "spark.log.structuredLogging.enabled": "false",
        "spark.sql.parquet.inferTimestampNTZ.enabled": "true",
    }
    if master.startswith("local"):
        conf.update({
            "spark.sql.shuffle.partitions": "2",
            "spark.default.parallelism": "2",
            "spark.driver.host": "127.0.0.1",
            "spark.driver.bindAddress": "127.0.0.1",
        })
    if log_dir is not None:
        properties = log_dir / "log4j2.properties"
        conf["spark.driver.extraJavaOptions"] = f"-Dlog4j2.configurationFile={properties.as_uri()}"
    conf.update(extra or {})
    return conf


def build_session(master: str | None = None, conf: Mapping[str, str] | None = None) -> SparkSession:
    """A new (or the already active) SparkSession for ``master`` (default :data:`DEFAULT_MASTER`)."""
    require_pyspark()
    from pyspark.sql import SparkSession

    # The JVM reads the log configuration when it starts, so the file is removed once the session is built.
    with ScratchDir("cw-spark-") as log_dir:
        (log_dir / "log4j2.properties").write_text(_LOG4J2, encoding="utf-8")
        builder = SparkSession.builder
        for key, value in session_conf(master or DEFAULT_MASTER, conf, log_dir=log_dir).items():
            builder = builder.config(key, value)
        # pyspark logs every failed query's context at ERROR; a failed rule is reported as BadInputError instead.
        logging.getLogger("SQLQueryContextLogger").setLevel(logging.CRITICAL)
        try:
            session = builder.getOrCreate()
        except Exception as exc:  # the JVM did not start: Java missing, bad master URL, ...
            raise RuntimeFailure(f"cannot start Spark ({master or DEFAULT_MASTER}): {exc} "
                                 "(the Spark engine needs Java 17 or later on PATH or in JAVA_HOME)") from None
    session.sparkContext.setLogLevel("ERROR")
    return session


@contextmanager
def spark_session(master: str | None = None, conf: Mapping[str, str] | None = None) -> Iterator[SparkSession]:
    """The active session if there is one (left running), else a new one stopped on exit."""
    require_pyspark()
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None and (master is None or active.sparkContext.master == master):
        yield active
        return
    session = build_session(master, conf)
    try:
        yield session
    finally:
        session.stop()
