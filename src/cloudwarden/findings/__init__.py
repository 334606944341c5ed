"""Finding writers (JSON Lines, ASFF, OCSF, SARIF, CSV), their registry, and the findings reader."""

from cloudwarden.findings.base import Writer
from cloudwarden.findings.reader import read_findings
from cloudwarden.findings.registry import CALLER_FORMATS, WRITERS, write_findings

__all__ = ["CALLER_FORMATS", "WRITERS", "Writer", "read_findings", "write_findings"]
