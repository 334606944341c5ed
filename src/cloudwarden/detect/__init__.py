"""Threat detection over CloudTrail: readers, the normalised ``cloudtrail`` table, rules and the engine.

Public surface here: the plain reader :func:`iter_records` (and :func:`read_records`) with the
:class:`ReadReport` they fill in. The engine (:mod:`cloudwarden.detect.engine`: ``run_detection``,
``CloudTrailDB``, ``run_sql``), the table (:mod:`~cloudwarden.detect.table`), the rules
(:mod:`~cloudwarden.detect.rules`) and threat intel (:mod:`~cloudwarden.detect.threat_intel`) are imported
from their modules, so importing this package stays cheap.
"""

from cloudwarden.detect.cloudtrail_files import (
    CloudTrailRecord,
    ReadReport,
    SkippedFile,
    SkippedRecord,
    iter_records,
    read_records,
)

__all__ = ["CloudTrailRecord", "ReadReport", "SkippedFile", "SkippedRecord", "iter_records", "read_records"]
