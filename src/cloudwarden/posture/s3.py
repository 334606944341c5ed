"""S3 controls: Block Public Access (account and bucket), public read/write, TLS-only policies, cross-account
grants, access logging, ACLs, lifecycle, MFA delete, default encryption, object-level logging.

Public exposure is judged the way S3 itself does: a grant (ACL or policy) only makes a bucket public when
neither the bucket's nor the account's Block Public Access setting neutralises it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cloudwarden.core.severity import Severity
from cloudwarden.posture.inventory import ACCOUNT, Inventory
from cloudwarden.posture.model import (
    NotAvailable,
    ResourceDoc,
    Verdict,
    as_list,
    failed,
    not_collected,
    passed,
    verdict,
)
from cloudwarden.posture.policy import (
    grants_action,
    is_public_principal,
    principal_accounts,
    public_statements,
    statements,
)
from cloudwarden.posture.registry import control

BPA_FLAGS = ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")
PUBLIC_GROUPS = ("http://acs.amazonaws.com/groups/global/AllUsers",
                 "http://acs.amazonaws.com/groups/global/AuthenticatedUsers")
BUCKET = "AwsS3Bucket"


@dataclass(frozen=True)
class Bpa:
    block_public_acls: bool = False
    ignore_public_acls: bool = False
    block_public_policy: bool = False
    restrict_public_buckets: bool = False

    @classmethod
    def of(cls, answer: dict[str, Any] | None) -> Bpa:
        config = (answer or {}).get("PublicAccessBlockConfiguration") or {}
        return cls(*(bool(config.get(flag)) for flag in BPA_FLAGS))

    def __or__(self, other: Bpa) -> Bpa:
        return Bpa(self.block_public_acls or other.block_public_acls,
                   self.ignore_public_acls or other.ignore_public_acls,
                   self.block_public_policy or other.block_public_policy,
                   self.restrict_public_buckets or other.restrict_public_buckets)

    @property
    def all_on(self) -> bool:
        return all((self.block_public_acls, self.ignore_public_acls, self.block_public_policy,
                    self.restrict_public_buckets))

    def off(self) -> list[str]:
        values = (self.block_public_acls, self.ignore_public_acls, self.block_public_policy,
                  self.restrict_public_buckets)
        return [flag for flag, on in zip(BPA_FLAGS, values, strict=True) if not on]


def bucket_bpa(doc: ResourceDoc) -> Bpa:
    return Bpa.of(doc.call("GetPublicAccessBlock", not_configured=("NoSuchPublicAccessBlockConfiguration",)))


def account_bpa(doc: ResourceDoc, inv: Inventory) -> Bpa:
    account = inv.account_doc(doc.account)
    return Bpa.of(account.call("GetPublicAccessBlock", not_configured=("NoSuchPublicAccessBlockConfiguration",)))


def effective_bpa(doc: ResourceDoc, inv: Inventory) -> Bpa:
    return bucket_bpa(doc) | account_bpa(doc, inv)


def bucket_policy(doc: ResourceDoc) -> dict[str, Any] | None:
    answer = doc.call("GetBucketPolicy", not_configured=("NoSuchBucketPolicy",))
    if answer is None:
        return None
    document = answer.get("PolicyDocument")
    if not isinstance(document, dict):
        raise NotAvailable(f"the policy of bucket {doc.label} was not decoded in the snapshot")
    return document


def public_acl_permissions(doc: ResourceDoc) -> set[str]:
    grants = (doc.call("GetBucketAcl") or {}).get("Grants") or []
    return {str(g.get("Permission")) for g in grants if (g.get("Grantee") or {}).get("URI") in PUBLIC_GROUPS}


def _public(doc: ResourceDoc, inv: Inventory, acl_perms: set[str], policy_actions: tuple[str, ...]) -> list[str]:
    """Why the bucket is public for these ACL permissions / policy actions (empty: it is not)."""
    bpa = effective_bpa(doc, inv)
    why: list[str] = []
    acl = public_acl_permissions(doc) & acl_perms
    if acl and not bpa.ignore_public_acls:
        why.append(f"its ACL grants {', '.join(sorted(acl))} to everyone")
    policy = bucket_policy(doc)
    if policy is not None and not bpa.restrict_public_buckets:
        granted = sorted({a for a in policy_actions if public_statements(policy, a)})
        if granted:
            why.append(f"its policy allows {', '.join(granted)} to everyone")
    return why


@control("S3.1", title="S3 general purpose buckets should have block public access settings enabled",
         severity=Severity.MEDIUM, resource_type=ACCOUNT, service="s3", calls=("GetPublicAccessBlock",),
         rationale="Account-level Block Public Access stops any bucket in the account from being made public.",
         remediation="Turn on all four account-level Block Public Access settings.",
         cli="aws s3control put-public-access-block --account-id <id> --public-access-block-configuration "
             "BlockPublicAcls=true,IgnorePublicAcls=true,BlockPublicPolicy=true,RestrictPublicBuckets=true")
def account_block_public_access(doc: ResourceDoc, inv: Inventory) -> Verdict:
    bpa = Bpa.of(doc.call("GetPublicAccessBlock", not_configured=("NoSuchPublicAccessBlockConfiguration",)))
    return verdict(bpa.all_on, f"account {doc.account} blocks public access to S3",
                   f"account {doc.account} has S3 Block Public Access off: {', '.join(bpa.off())}")


@control("S3.8", title="S3 general purpose buckets should block public access", severity=Severity.HIGH,
         resource_type=BUCKET, service="s3", calls=("GetPublicAccessBlock",),
         rationale="Bucket-level Block Public Access keeps the bucket private whatever its ACL or policy says.",
         remediation="Turn on all four Block Public Access settings on the bucket.",
         cli="aws s3api put-public-access-block --bucket <bucket> --public-access-block-configuration "
             "BlockPublicAcls=true,IgnorePublicAcls=true,BlockPublicPolicy=true,RestrictPublicBuckets=true")
def bucket_block_public_access(doc: ResourceDoc, inv: Inventory) -> Verdict:
    bpa = bucket_bpa(doc)
    return verdict(bpa.all_on, f"bucket {doc.label} blocks public access",
                   f"bucket {doc.label} has Block Public Access off: {', '.join(bpa.off())}")


@control("S3.2", title="S3 general purpose buckets should block public read access", severity=Severity.CRITICAL,
         resource_type=BUCKET, service="s3",
         calls=("GetBucketAcl", "GetBucketPolicy", "GetPublicAccessBlock"),
         rationale="A publicly readable bucket leaks its objects to anyone on the internet.",
         remediation="Remove public grants from the ACL and policy, and turn on Block Public Access.",
         cli="aws s3api put-bucket-acl --bucket <bucket> --acl private; aws s3api put-public-access-block ...")
def public_read(doc: ResourceDoc, inv: Inventory) -> Verdict:
    why = _public(doc, inv, {"READ", "FULL_CONTROL"}, ("s3:GetObject", "s3:ListBucket"))
    return verdict(not why, f"bucket {doc.label} is not publicly readable",
                   f"bucket {doc.label} is publicly readable: {'; '.join(why)}")


@control("S3.3", title="S3 general purpose buckets should block public write access", severity=Severity.CRITICAL,
         resource_type=BUCKET, service="s3",
         calls=("GetBucketAcl", "GetBucketPolicy", "GetPublicAccessBlock"),
         rationale="A publicly writable bucket can be filled with malware or have its objects destroyed.",
         remediation="Remove public write grants from the ACL and policy, and turn on Block Public Access.",
         cli="aws s3api put-bucket-acl --bucket <bucket> --acl private")
def public_write(doc: ResourceDoc, inv: Inventory) -> Verdict:
    why = _public(doc, inv, {"WRITE", "WRITE_ACP", "FULL_CONTROL"},
                  ("s3:PutObject", "s3:DeleteObject", "s3:PutBucketPolicy", "s3:PutObjectAcl"))
    return verdict(not why, f"bucket {doc.label} is not publicly writable",
                   f"bucket {doc.label} is publicly writable: {'; '.join(why)}")


def denies_plain_http(policy: dict[str, Any]) -> bool:
    for statement in statements(policy):
        if str(statement.get("Effect", "")).lower() != "deny" or not is_public_principal(statement.get("Principal")):
            continue
        if not any(a in ("*", "s3:*") for a in as_list(statement.get("Action"))):
            continue
        for operator, block in (statement.get("Condition") or {}).items():
            if not str(operator).lower().startswith("bool") or not isinstance(block, dict):
                continue
            for key, value in block.items():
                if str(key).lower() == "aws:securetransport" and str(as_list(value)[0]).lower() == "false":
                    return True
    return False


@control("S3.5", title="S3 general purpose buckets should require requests to use SSL", severity=Severity.MEDIUM,
         resource_type=BUCKET, service="s3", calls=("GetBucketPolicy",),
         rationale="Without a deny on aws:SecureTransport=false, objects can be read or written over plain HTTP.",
         remediation='Add a bucket policy statement denying s3:* when "aws:SecureTransport" is "false".',
         cli="aws s3api put-bucket-policy --bucket <bucket> --policy file://deny-http.json")
def ssl_only(doc: ResourceDoc, inv: Inventory) -> Verdict:
    policy = bucket_policy(doc)
    if policy is None:
        return failed(f"bucket {doc.label} has no policy denying plain HTTP (no policy at all)")
    return verdict(denies_plain_http(policy), f"bucket {doc.label} denies requests over plain HTTP",
                   f"bucket {doc.label} has no policy statement denying plain HTTP")


_CROSS_ACCOUNT_BLOCKED = ("s3:DeleteBucketPolicy", "s3:PutBucketAcl", "s3:PutBucketPolicy",
                          "s3:PutEncryptionConfiguration", "s3:PutObjectAcl")


@control("S3.6", title="S3 general purpose bucket policies should restrict access to other AWS accounts",
         severity=Severity.HIGH, resource_type=BUCKET, service="s3", calls=("GetBucketPolicy",),
         rationale="Other accounts able to change a bucket's policy, ACL or encryption can take it over.",
         remediation="Remove administrative S3 actions granted to other accounts from the bucket policy.",
         cli="aws s3api put-bucket-policy --bucket <bucket> --policy file://policy.json")
def cross_account_admin(doc: ResourceDoc, inv: Inventory) -> Verdict:
    policy = bucket_policy(doc)
    if policy is None:
        return passed(f"bucket {doc.label} has no policy")
    bad: set[str] = set()
    for statement in statements(policy):
        principal = statement.get("Principal")
        others = [a for a in principal_accounts(principal) if a != doc.account]
        if not others and not is_public_principal(principal):
            continue
        bad |= {a for a in _CROSS_ACCOUNT_BLOCKED if grants_action(statement, a)}
    return verdict(not bad, f"bucket {doc.label} grants no administrative action to other accounts",
                   f"bucket {doc.label} lets other accounts {', '.join(sorted(bad))}")


@control("S3.9", title="S3 general purpose buckets should have server access logging enabled",
         severity=Severity.MEDIUM, resource_type=BUCKET, service="s3", calls=("GetBucketLogging",),
         rationale="Access logs are how you find out who read or changed what in a bucket.",
         remediation="Enable server access logging to a dedicated log bucket.",
         cli="aws s3api put-bucket-logging --bucket <bucket> --bucket-logging-status file://logging.json")
def access_logging(doc: ResourceDoc, inv: Inventory) -> Verdict:
    logging = (doc.call("GetBucketLogging") or {}).get("LoggingEnabled")
    return verdict(bool(logging), f"bucket {doc.label} logs to {(logging or {}).get('TargetBucket')}",
                   f"bucket {doc.label} has no server access logging")


@control("S3.12", title="ACLs should not be used to manage user access to S3 general purpose buckets",
         severity=Severity.MEDIUM, resource_type=BUCKET, service="s3",
         calls=("GetBucketOwnershipControls", "GetBucketAcl"),
         rationale="ACLs are hard to audit; with ACLs disabled, policies alone decide access.",
         remediation="Set Object Ownership to BucketOwnerEnforced, which disables ACLs.",
         cli="aws s3api put-bucket-ownership-controls --bucket <bucket> "
             "--ownership-controls Rules=[{ObjectOwnership=BucketOwnerEnforced}]")
def no_acls(doc: ResourceDoc, inv: Inventory) -> Verdict:
    ownership = doc.call("GetBucketOwnershipControls", not_configured=("OwnershipControlsNotFoundError",))
    rules = ((ownership or {}).get("OwnershipControls") or {}).get("Rules") or []
    if any(r.get("ObjectOwnership") == "BucketOwnerEnforced" for r in rules):
        return passed(f"bucket {doc.label} has ACLs disabled (BucketOwnerEnforced)")
    acl = doc.call("GetBucketAcl") or {}
    owner = (acl.get("Owner") or {}).get("ID")
    others = [g for g in acl.get("Grants") or [] if (g.get("Grantee") or {}).get("ID") != owner or owner is None]
    return verdict(not others, f"bucket {doc.label} grants nothing through its ACL beyond its owner",
                   f"bucket {doc.label} grants access through its ACL ({len(others)} grant(s) beyond the owner)")


@control("S3.13", title="S3 general purpose buckets should have Lifecycle configurations", severity=Severity.LOW,
         resource_type=BUCKET, service="s3", calls=("GetBucketLifecycleConfiguration",),
         rationale="Lifecycle rules expire what is no longer needed, limiting cost and exposure.",
         remediation="Add a lifecycle configuration with at least one enabled rule.",
         cli="aws s3api put-bucket-lifecycle-configuration --bucket <bucket> --lifecycle-configuration file://lc.json")
def lifecycle(doc: ResourceDoc, inv: Inventory) -> Verdict:
    answer = doc.call("GetBucketLifecycleConfiguration", not_configured=("NoSuchLifecycleConfiguration",))
    rules = [r for r in (answer or {}).get("Rules") or [] if r.get("Status") == "Enabled"]
    return verdict(bool(rules), f"bucket {doc.label} has {len(rules)} enabled lifecycle rule(s)",
                   f"bucket {doc.label} has no enabled lifecycle rule")


@control("S3.20", title="S3 general purpose buckets should have MFA delete enabled", severity=Severity.LOW,
         resource_type=BUCKET, service="s3", calls=("GetBucketVersioning",),
         rationale="MFA delete stops a stolen key from permanently deleting object versions.",
         remediation="Enable versioning with MFA delete (as the root user).",
         cli="aws s3api put-bucket-versioning --bucket <bucket> --versioning-configuration "
             "Status=Enabled,MFADelete=Enabled --mfa '<serial> <code>'")
def mfa_delete(doc: ResourceDoc, inv: Inventory) -> Verdict:
    answer = doc.call("GetBucketVersioning") or {}
    return verdict(answer.get("MFADelete") == "Enabled", f"bucket {doc.label} has MFA delete",
                   f"bucket {doc.label} has no MFA delete")


@control("CW.S3.1", title="S3 general purpose buckets should have a default encryption configuration",
         severity=Severity.MEDIUM, resource_type=BUCKET, service="s3", calls=("GetBucketEncryption",),
         categories=("encryption",),
         rationale="A default encryption configuration (ideally SSE-KMS) makes every object encrypted at rest.",
         remediation="Set default encryption on the bucket (SSE-KMS with a customer managed key for sensitive data).",
         cli="aws s3api put-bucket-encryption --bucket <bucket> --server-side-encryption-configuration "
             "'{\"Rules\":[{\"ApplyServerSideEncryptionByDefault\":{\"SSEAlgorithm\":\"aws:kms\"}}]}'")
def default_encryption(doc: ResourceDoc, inv: Inventory) -> Verdict:
    answer = doc.call("GetBucketEncryption", not_configured=("ServerSideEncryptionConfigurationNotFoundError",))
    rules = ((answer or {}).get("ServerSideEncryptionConfiguration") or {}).get("Rules") or []
    algos = sorted({str((r.get("ApplyServerSideEncryptionByDefault") or {}).get("SSEAlgorithm")) for r in rules})
    return verdict(bool(rules), f"bucket {doc.label} encrypts by default ({', '.join(algos)})",
                   f"bucket {doc.label} has no default encryption configuration")


# --- object-level logging (account-wide, from the trails) -------------------------------------------------------


def _logs_all_objects(trail: ResourceDoc, write: bool) -> bool:
    answer = trail.call("GetEventSelectors") or {}
    wanted = {"All", "WriteOnly"} if write else {"All", "ReadOnly"}
    for selector in answer.get("EventSelectors") or []:
        if selector.get("ReadWriteType", "All") not in wanted:
            continue
        for resource in selector.get("DataResources") or []:
            if resource.get("Type") == "AWS::S3::Object" and any(
                    str(v).rstrip("/") in ("arn:aws:s3", "arn:aws:s3:::") for v in resource.get("Values") or []):
                return True
    for selector in answer.get("AdvancedEventSelectors") or []:
        fields = {str(f.get("Field")): f for f in selector.get("FieldSelectors") or []}
        if (fields.get("eventCategory") or {}).get("Equals") != ["Data"]:
            continue
        if (fields.get("resources.type") or {}).get("Equals") != ["AWS::S3::Object"]:
            continue
        if "resources.ARN" in fields:
            continue
        read_only = (fields.get("readOnly") or {}).get("Equals")
        if read_only is None or read_only == [("false" if write else "true")]:
            return True
    return False


def object_logging(doc: ResourceDoc, inv: Inventory, write: bool) -> Verdict:
    kind = "write" if write else "read"
    trails = {t.arn: t for t in inv.of_type("AwsCloudTrailTrail", doc.account)}
    multi = [t for t in trails.values() if t.data.get("IsMultiRegionTrail")]
    for trail in multi:
        if _logs_all_objects(trail, write):
            return passed(f"multi-region trail {trail.label} logs S3 object-level {kind} events for all buckets")
    if not trails:
        return failed(f"account {doc.account} has no trail, so no S3 object-level {kind} logging")
    return failed(f"no multi-region trail of {doc.account} logs S3 object-level {kind} events for all buckets")


@control("S3.22", title="S3 general purpose buckets should log object-level write events", severity=Severity.MEDIUM,
         resource_type=ACCOUNT, service="s3", calls=("GetEventSelectors",),
         rationale="Object-level write events show who changed or deleted data in a bucket.",
         remediation="Add an S3 data event selector (all buckets, write) to a multi-region trail.",
         cli="aws cloudtrail put-event-selectors --trail-name <trail> --event-selectors "
             "'[{\"ReadWriteType\":\"WriteOnly\",\"DataResources\":[{\"Type\":\"AWS::S3::Object\","
             "\"Values\":[\"arn:aws:s3\"]}]}]'")
def object_write_logging(doc: ResourceDoc, inv: Inventory) -> Verdict:
    return object_logging(doc, inv, write=True)


@control("S3.23", title="S3 general purpose buckets should log object-level read events", severity=Severity.MEDIUM,
         resource_type=ACCOUNT, service="s3", calls=("GetEventSelectors",),
         rationale="Object-level read events show who read data out of a bucket (exfiltration).",
         remediation="Add an S3 data event selector (all buckets, read) to a multi-region trail.",
         cli="aws cloudtrail put-event-selectors --trail-name <trail> --event-selectors "
             "'[{\"ReadWriteType\":\"ReadOnly\",\"DataResources\":[{\"Type\":\"AWS::S3::Object\","
             "\"Values\":[\"arn:aws:s3\"]}]}]'")
def object_read_logging(doc: ResourceDoc, inv: Inventory) -> Verdict:
    return object_logging(doc, inv, write=False)


# --- resource types outside the snapshot contract ----------------------------------------------------------------


@control("S3.19", title="S3 access points should have block public access settings enabled",
         severity=Severity.CRITICAL, resource_type="AwsS3AccessPoint", scope=ACCOUNT, service="s3",
         rationale="An access point without Block Public Access can expose its bucket.",
         remediation="Recreate the access point with all Block Public Access settings on.",
         cli="aws s3control create-access-point --account-id <id> --name <ap> --bucket <bucket> "
             "--public-access-block-configuration BlockPublicAcls=true,IgnorePublicAcls=true,"
             "BlockPublicPolicy=true,RestrictPublicBuckets=true")
def access_points(doc: ResourceDoc, inv: Inventory) -> Verdict:
    return not_collected("S3 access points (s3control:ListAccessPoints)")


@control("S3.24", title="S3 Multi-Region Access Points should have block public access settings enabled",
         severity=Severity.HIGH, resource_type="AwsS3MultiRegionAccessPoint", scope=ACCOUNT, service="s3",
         rationale="A Multi-Region Access Point without Block Public Access can expose its buckets.",
         remediation="Recreate the Multi-Region Access Point with all Block Public Access settings on.",
         cli="aws s3control create-multi-region-access-point --account-id <id> --details file://mrap.json")
def multi_region_access_points(doc: ResourceDoc, inv: Inventory) -> Verdict:
    return not_collected("S3 Multi-Region Access Points")


@control("S3.25", title="S3 directory buckets should have lifecycle configurations", severity=Severity.LOW,
         resource_type="AwsS3DirectoryBucket", scope=ACCOUNT, service="s3",
         rationale="Lifecycle rules expire what is no longer needed.",
         remediation="Add a lifecycle configuration to the directory bucket.",
         cli="aws s3api put-bucket-lifecycle-configuration --bucket <bucket--x-s3> --lifecycle-configuration file://lc.json")
def directory_buckets(doc: ResourceDoc, inv: Inventory) -> Verdict:
    return not_collected("S3 directory buckets")
