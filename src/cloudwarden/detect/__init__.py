"""Threat detection over CloudTrail: log readers now; normaliser, rules and engines join them here.

Public surface: :func:`iter_records` (and :func:`read_records`) with the :class:`ReadReport` they fill in.
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
