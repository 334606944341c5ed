"""KMS controls: rotation, pending deletion, public key policies, and IAM policies decrypting with every key."""

from __future__ import annotations

from typing import Any

from cloudwarden.core.severity import Severity
from cloudwarden.posture.iam import IDENTITIES, default_document, inline_policies, is_customer_managed
from cloudwarden.posture.inventory import Inventory
from cloudwarden.posture.model import NotAvailable, ResourceDoc, Verdict, as_list, verdict
from cloudwarden.posture.policy import grants_action, public_statements, resources, statements
from cloudwarden.posture.registry import control

KEY = "AwsKmsKey"
_DECRYPT = ("kms:Decrypt", "kms:ReEncryptFrom")


def customer_key(doc: ResourceDoc) -> bool:
    return bool(doc.data.get("KeyManager", "CUSTOMER") == "CUSTOMER")


@control("KMS.4", title="AWS KMS key rotation should be enabled", severity=Severity.MEDIUM, resource_type=KEY,
         service="kms", calls=("GetKeyRotationStatus",), categories=("encryption",),
         rationale="Rotating key material limits how much data one compromised key version protects.",
         remediation="Enable automatic rotation on the customer managed symmetric key.",
         cli="aws kms enable-key-rotation --key-id <key-id>")
def rotation(doc: ResourceDoc, inv: Inventory) -> Verdict | None:
    if not customer_key(doc) or doc.data.get("KeySpec", "SYMMETRIC_DEFAULT") != "SYMMETRIC_DEFAULT":
        return None
    if doc.data.get("Origin", "AWS_KMS") != "AWS_KMS" or doc.data.get("KeyState") in ("PendingDeletion",
                                                                                         "PendingImport"):
        return None
    enabled = bool((doc.call("GetKeyRotationStatus") or {}).get("KeyRotationEnabled"))
    return verdict(enabled, f"key {doc.label} rotates automatically", f"key {doc.label} has rotation off")


@control("KMS.3", title="AWS KMS keys should not be deleted unintentionally", severity=Severity.CRITICAL,
         resource_type=KEY, service="kms",
         rationale="Data encrypted under a deleted key is lost for good.",
         remediation="Cancel the deletion if it was not intended.",
         cli="aws kms cancel-key-deletion --key-id <key-id>")
def pending_deletion(doc: ResourceDoc, inv: Inventory) -> Verdict | None:
    if not customer_key(doc):
        return None
    state = doc.need("KeyState")
    return verdict(state != "PendingDeletion", f"key {doc.label} is {state}",
                   f"key {doc.label} is scheduled for deletion on {doc.data.get('DeletionDate')}")


@control("KMS.5", title="KMS keys should not be publicly accessible", severity=Severity.CRITICAL, resource_type=KEY,
         service="kms", calls=("GetKeyPolicy",),
         rationale='A key policy allowing Principal "*" lets anyone use the key to decrypt your data.',
         remediation="Remove the public statement from the key policy or add a condition on the caller's account.",
         cli="aws kms put-key-policy --key-id <key-id> --policy-name default --policy file://policy.json")
def public_key(doc: ResourceDoc, inv: Inventory) -> Verdict | None:
    if not customer_key(doc):
        return None
    document = (doc.call("GetKeyPolicy") or {}).get("PolicyDocument")
    if not isinstance(document, dict):
        raise NotAvailable(f"the policy of key {doc.label} was not decoded in the snapshot")
    public = public_statements(document)
    granted = sorted({str(a) for s in public for a in as_list(s.get("Action") or s.get("NotAction"))})
    return verdict(not public, f"key {doc.label} is not public",
                   f"the policy of key {doc.label} allows {', '.join(granted)} to everyone")


def decrypts_everything(document: Any) -> list[str]:
    found: set[str] = set()
    for statement in statements(document):
        if "*" not in resources(statement):
            continue
        found |= {a for a in _DECRYPT if grants_action(statement, a)}
    return sorted(found)


@control("KMS.1", title="IAM customer managed policies should not allow decryption actions on all KMS keys",
         severity=Severity.MEDIUM, resource_type="AwsIamPolicy", service="kms",
         rationale="Decrypt on every key lets the holder read any data any key protects.",
         remediation="Limit kms:Decrypt and kms:ReEncryptFrom to the key ARNs needed.",
         cli="aws iam create-policy-version --policy-arn <arn> --policy-document file://least.json --set-as-default")
def customer_policy_decrypt(doc: ResourceDoc, inv: Inventory) -> Verdict | None:
    if not is_customer_managed(doc):
        return None
    found = decrypts_everything(default_document(doc))
    return verdict(not found, f"policy {doc.label} does not decrypt with every key",
                   f"policy {doc.label} allows {', '.join(found)} on all KMS keys")


@control("KMS.2", title="IAM principals should not have IAM inline policies that allow decryption actions on all "
         "KMS keys", severity=Severity.MEDIUM, resource_type="AwsIamUser", scope=IDENTITIES, service="kms",
         rationale="Decrypt on every key lets the holder read any data any key protects.",
         remediation="Limit kms:Decrypt and kms:ReEncryptFrom in the inline policy to the key ARNs needed.",
         cli="aws iam put-user-policy --user-name <user> --policy-name <name> --policy-document file://least.json")
def inline_policy_decrypt(doc: ResourceDoc, inv: Inventory) -> Verdict | None:
    inline = inline_policies(doc)
    if not inline:
        return None
    bad = [f"{name} ({', '.join(found)})" for name, document in inline if (found := decrypts_everything(document))]
    return verdict(not bad, f"no inline policy of {doc.label} decrypts with every key",
                   f"inline policy {'; '.join(bad)} of {doc.label} decrypts with every KMS key")
