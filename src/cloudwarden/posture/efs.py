"""EFS encryption at rest (CIS 2.3.1)."""

from __future__ import annotations

from cloudwarden.core.severity import Severity
from cloudwarden.posture.inventory import Inventory
from cloudwarden.posture.model import ResourceDoc, Verdict, verdict
from cloudwarden.posture.registry import control

_META = {
    "severity": Severity.MEDIUM, "resource_type": "AwsEfsFileSystem", "service": "efs", "categories": ("encryption",),
    "rationale": "Encryption at rest protects file system data on the underlying storage and its backups.",
    "remediation": "EFS encryption is set at creation: create an encrypted file system and move the data.",
    "cli": "aws efs create-file-system --encrypted --kms-key-id <key-arn>",
}


def encrypted(doc: ResourceDoc, inv: Inventory) -> Verdict:
    on = bool(doc.need("Encrypted"))
    return verdict(on, f"file system {doc.label} is encrypted", f"file system {doc.label} is not encrypted")


control("EFS.1", title="Elastic File System should be configured to encrypt file data at-rest using AWS KMS",
        **_META)(encrypted)  # type: ignore[arg-type]
control("EFS.8", title="EFS file systems should be encrypted at rest", **_META)(encrypted)  # type: ignore[arg-type]
