"""The Spark detection engine: the same compiled rules and findings as DuckDB's, on a SparkSession.

:mod:`.session` builds the session (local mode by default, ``--spark-master URL`` for a cluster),
:mod:`.load` puts the normalised ``cloudtrail`` table (and the threat-intel tables) into it, and
:mod:`.engine` runs every rule in one Spark SQL query. pyspark is an optional dependency
(``pip install 'cloudwarden[spark]'``); nothing here imports it at module import time.
"""
