"""S3 containment actions: take public access away from a bucket, and harden it.

* ``s3.remove-public-access`` removes only the public parts: bucket-policy statements that allow
  anyone (``Principal: "*"`` without a condition that narrows who can call) and ACL grants to the
  ``AllUsers`` / ``AuthenticatedUsers`` groups. Every other statement and grant stays; the previous
  policy and ACL are saved for rollback.
* ``s3.block-public-access`` turns on the bucket's four Block Public Access settings.
* ``s3.enable-default-encryption`` sets default encryption (SSE-S3, or SSE-KMS with a key) where none is set.
* ``s3.deny-insecure-transport`` adds a statement denying requests not made over TLS.

A playbook removes the public statements before blocking public access: rollback runs newest first,
and a public policy cannot be put back while ``BlockPublicPolicy`` is on.
"""

from __future__ import annotations

import json
from typing import Any, Final

from botocore.exceptions import ClientError

from cloudwarden.respond.actions.aws import BUCKET, AwsAction, bucket_name, call, region_of
from cloudwarden.respond.actions.base import Action, ActionContext, Outcome, Plan, ResourceKey, aws_error, error_code

PUBLIC_GROUPS: Final = frozenset({
    "http://acs.amazonaws.com/groups/global/AllUsers",
    "http://acs.amazonaws.com/groups/global/AuthenticatedUsers",
})
# Condition keys that narrow a "Principal: *" statement to known callers, as IAM Access Analyzer and
# S3's own "is public" evaluation treat them.
NARROWING_KEYS: Final = frozenset(k.lower() for k in (
    "aws:SourceIp", "aws:SourceVpc", "aws:SourceVpce", "aws:SourceAccount", "aws:SourceArn", "aws:SourceOwner",
    "aws:PrincipalAccount", "aws:PrincipalArn", "aws:PrincipalOrgID", "aws:PrincipalOrgPaths", "aws:userid",
    "aws:PrincipalServiceName", "s3:DataAccessPointAccount", "s3:DataAccessPointArn",
))
ALL_BLOCKED: Final = {"BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True,
                      "RestrictPublicBuckets": True}
TLS_SID: Final = "CloudwardenDenyInsecureTransport"

_BUCKET_SCHEMA: Final[dict[str, Any]] = {
    "Bucket": {"type": "string", "pattern": r"^(arn:aws[a-z-]*:s3:::)?[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$"},
    "Region": {"type": "string", "pattern": "^[a-z]{2}(-[a-z]+)+-[0-9]$"},
}


def _schema(extra: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"type": "object", "properties": {**_BUCKET_SCHEMA, **(extra or {})}, "required": ["Bucket"],
            "additionalProperties": False}


def _bucket(params: dict[str, Any], action: str) -> str:
    return bucket_name(str(params["Bucket"]), f"{action} parameters/Bucket")


def _s3(ctx: ActionContext, params: dict[str, Any]) -> Any:
    return ctx.client("s3", region_of(ctx, params))


def _listify(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def is_public_statement(statement: dict[str, Any]) -> bool:
    """Does this statement allow anyone at all: Allow, a ``*`` principal, no narrowing condition?"""
    if statement.get("Effect") != "Allow":
        return False
    if "NotPrincipal" in statement:
        return True  # allows everyone but the few it names
    principal = statement.get("Principal")
    if principal == "*":
        anyone = True
    elif isinstance(principal, dict):
        anyone = any("*" in _listify(principal.get(kind, [])) for kind in ("AWS", "CanonicalUser"))
    else:
        anyone = False
    if not anyone:
        return False
    condition = statement.get("Condition") or {}
    keys = {key.lower() for operator in condition.values() if isinstance(operator, dict) for key in operator}
    return not (keys & NARROWING_KEYS)


def _policy(s3: Any, bucket: str) -> dict[str, Any] | None:
    try:
        text = s3.get_bucket_policy(Bucket=bucket)["Policy"]
    except ClientError as exc:
        if error_code(exc) == "NoSuchBucketPolicy":
            return None
        raise aws_error(exc, "S3") from None
    return dict(json.loads(text))


def _put_policy(s3: Any, bucket: str, policy: dict[str, Any] | None) -> None:
    """Put ``policy``, or delete the bucket policy when it is None or has no statement left."""
    if policy is None or not _listify(policy.get("Statement", [])):
        call("S3", s3.delete_bucket_policy, Bucket=bucket)
    else:
        call("S3", s3.put_bucket_policy, Bucket=bucket, Policy=json.dumps(policy))


def _acl(s3: Any, bucket: str) -> dict[str, Any]:
    found = call("S3", s3.get_bucket_acl, Bucket=bucket)
    return {"Owner": found["Owner"], "Grants": found.get("Grants", [])}


def _public_grant(grant: dict[str, Any]) -> bool:
    return grant.get("Grantee", {}).get("URI") in PUBLIC_GROUPS


def _statement_label(index: int, statement: dict[str, Any]) -> str:
    return str(statement.get("Sid") or f"#{index}")


class BucketAction(AwsAction):
    def targets(self, params: dict[str, Any]) -> list[ResourceKey]:
        return [ResourceKey(BUCKET, _bucket(params, self.name))]


# --- remove public statements and grants ------------------------------------------------------------------


class RemovePublicAccess(BucketAction):
    name = "s3.remove-public-access"
    summary = ("Remove only the public bucket-policy statements (Principal * without a narrowing condition) and "
               "the ACL grants to AllUsers/AuthenticatedUsers; the previous policy and ACL are saved for rollback.")
    input_schema = _schema()
    permissions = ("s3:GetBucketPolicy", "s3:PutBucketPolicy", "s3:DeleteBucketPolicy", "s3:GetBucketAcl",
                   "s3:PutBucketAcl", "s3:GetBucketTagging")

    def _state(self, ctx: ActionContext, params: dict[str, Any]) -> tuple[str, dict[str, Any] | None,
                                                                            dict[str, Any]]:
        bucket = _bucket(params, self.name)
        s3 = _s3(ctx, params)
        return bucket, _policy(s3, bucket), _acl(s3, bucket)

    def _plan(self, ctx: ActionContext, params: dict[str, Any]) -> Plan:
        bucket, policy, acl = self._state(ctx, params)
        statements = _listify((policy or {}).get("Statement", []))
        public = [_statement_label(i, s) for i, s in enumerate(statements) if is_public_statement(s)]
        grants = [f"{g['Grantee']['URI'].rsplit('/', 1)[-1]}:{g['Permission']}" for g in acl["Grants"]
                  if _public_grant(g)]
        changes = [f"remove the public statement {sid} from the policy of bucket {bucket}" for sid in public]
        changes += [f"remove the ACL grant {grant} from bucket {bucket}" for grant in grants]
        return Plan(changes, {"Bucket": bucket, "RemovedStatements": public, "RemovedGrants": grants,
                              "KeptStatements": len(statements) - len(public)})

    def _execute(self, ctx: ActionContext, params: dict[str, Any]) -> Outcome:
        planned = self._plan(ctx, params)
        if not planned.changes:
            return Outcome([], planned.result)
        bucket, policy, acl = self._state(ctx, params)
        s3 = _s3(ctx, params)
        undo: dict[str, Any] = {"Bucket": bucket, "Region": region_of(ctx, params)}
        if planned.result["RemovedStatements"] and policy is not None:
            kept = [s for s in _listify(policy.get("Statement", [])) if not is_public_statement(s)]
            _put_policy(s3, bucket, {**policy, "Statement": kept})
            undo["Policy"] = policy
        if planned.result["RemovedGrants"]:
            kept_grants = [g for g in acl["Grants"] if not _public_grant(g)]
            call("S3", s3.put_bucket_acl, Bucket=bucket,
                 AccessControlPolicy={"Owner": acl["Owner"], "Grants": kept_grants})
            undo["Acl"] = acl
        return Outcome(planned.changes, planned.result, undo)

    def rollback(self, ctx: ActionContext, undo: dict[str, Any]) -> list[str]:
        s3 = ctx.client("s3", undo.get("Region") or ctx.region)
        restored = []
        if "Acl" in undo:
            call("S3", s3.put_bucket_acl, Bucket=undo["Bucket"], AccessControlPolicy=undo["Acl"])
            restored.append(f"restored the previous ACL of bucket {undo['Bucket']}")
        if "Policy" in undo:
            _put_policy(s3, undo["Bucket"], undo["Policy"])
            restored.append(f"restored the previous policy of bucket {undo['Bucket']}")
        return restored


# --- block public access ----------------------------------------------------------------------------------


def _public_access_block(s3: Any, bucket: str) -> dict[str, bool] | None:
    try:
        found = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    except ClientError as exc:
        if error_code(exc) == "NoSuchPublicAccessBlockConfiguration":
            return None
        raise aws_error(exc, "S3") from None
    return {key: bool(found.get(key, False)) for key in ALL_BLOCKED}


class BlockPublicAccess(BucketAction):
    name = "s3.block-public-access"
    summary = "Turn on the bucket's four Block Public Access settings (the previous configuration is saved)."
    input_schema = _schema()
    permissions = ("s3:GetBucketPublicAccessBlock", "s3:PutBucketPublicAccessBlock", "s3:GetBucketTagging")

    def _plan(self, ctx: ActionContext, params: dict[str, Any]) -> Plan:
        bucket = _bucket(params, self.name)
        current = _public_access_block(_s3(ctx, params), bucket)
        off = [key for key in ALL_BLOCKED if not (current or {}).get(key)]
        changes = [f"turn on {', '.join(off)} for bucket {bucket}"] if off else []
        return Plan(changes, {"Bucket": bucket, "Enabled": off, "Previous": current})

    def _execute(self, ctx: ActionContext, params: dict[str, Any]) -> Outcome:
        planned = self._plan(ctx, params)
        if not planned.changes:
            return Outcome([], planned.result)
        call("S3", _s3(ctx, params).put_public_access_block, Bucket=planned.result["Bucket"],
             PublicAccessBlockConfiguration=ALL_BLOCKED)
        return Outcome(planned.changes, planned.result, {"Bucket": planned.result["Bucket"],
                                                          "Region": region_of(ctx, params),
                                                          "Previous": planned.result["Previous"]})

    def rollback(self, ctx: ActionContext, undo: dict[str, Any]) -> list[str]:
        s3 = ctx.client("s3", undo.get("Region") or ctx.region)
        if undo["Previous"] is None:
            call("S3", s3.delete_public_access_block, Bucket=undo["Bucket"])
            return [f"removed the Block Public Access configuration of bucket {undo['Bucket']} (it had none)"]
        call("S3", s3.put_public_access_block, Bucket=undo["Bucket"], PublicAccessBlockConfiguration=undo["Previous"])
        return [f"restored the previous Block Public Access settings of bucket {undo['Bucket']}"]


# --- default encryption -----------------------------------------------------------------------------------


def _encryption(s3: Any, bucket: str) -> dict[str, Any] | None:
    try:
        return dict(s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"])
    except ClientError as exc:
        if error_code(exc) == "ServerSideEncryptionConfigurationNotFoundError":
            return None
        raise aws_error(exc, "S3") from None


class EnableDefaultEncryption(BucketAction):
    name = "s3.enable-default-encryption"
    summary = "Set default encryption (SSE-S3, or SSE-KMS with KmsKeyId) on a bucket that has none."
    input_schema = _schema({"KmsKeyId": {"type": "string", "minLength": 1}})
    permissions = ("s3:GetEncryptionConfiguration", "s3:PutEncryptionConfiguration", "s3:GetBucketTagging")
    disruptive = False

    def _plan(self, ctx: ActionContext, params: dict[str, Any]) -> Plan:
        bucket = _bucket(params, self.name)
        current = _encryption(_s3(ctx, params), bucket)
        algorithm = "aws:kms" if params.get("KmsKeyId") else "AES256"
        changes = [] if current else [f"set default encryption {algorithm} on bucket {bucket}"]
        return Plan(changes, {"Bucket": bucket, "Algorithm": algorithm if changes else None,
                              "AlreadyEncrypted": current is not None})

    def _execute(self, ctx: ActionContext, params: dict[str, Any]) -> Outcome:
        planned = self._plan(ctx, params)
        if not planned.changes:
            return Outcome([], planned.result)
        rule: dict[str, Any] = {"SSEAlgorithm": planned.result["Algorithm"]}
        if params.get("KmsKeyId"):
            rule["KMSMasterKeyID"] = params["KmsKeyId"]
        call("S3", _s3(ctx, params).put_bucket_encryption, Bucket=planned.result["Bucket"],
             ServerSideEncryptionConfiguration={"Rules": [{"ApplyServerSideEncryptionByDefault": rule,
                                                           "BucketKeyEnabled": rule["SSEAlgorithm"] == "aws:kms"}]})
        return Outcome(planned.changes, planned.result, {"Bucket": planned.result["Bucket"],
                                                          "Region": region_of(ctx, params)})

    def rollback(self, ctx: ActionContext, undo: dict[str, Any]) -> list[str]:
        call("S3", ctx.client("s3", undo.get("Region") or ctx.region).delete_bucket_encryption, Bucket=undo["Bucket"])
        return [f"removed the default encryption set on bucket {undo['Bucket']} (it had none)"]


# --- deny insecure transport ------------------------------------------------------------------------------


def tls_statement(bucket: str) -> dict[str, Any]:
    return {"Sid": TLS_SID, "Effect": "Deny", "Principal": "*", "Action": "s3:*",
            "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}}}


def _denies_insecure(statement: dict[str, Any]) -> bool:
    condition = statement.get("Condition") or {}
    flag = {k.lower(): v for k, v in (condition.get("Bool") or {}).items()}.get("aws:securetransport")
    actions = _listify(statement.get("Action", []))
    return (statement.get("Effect") == "Deny" and str(_listify(flag)[0] if flag is not None else "").lower() == "false"
            and any(a in ("*", "s3:*") for a in actions))


class DenyInsecureTransport(BucketAction):
    name = "s3.deny-insecure-transport"
    summary = "Add a bucket-policy statement denying every request not made over TLS (aws:SecureTransport false)."
    input_schema = _schema()
    permissions = ("s3:GetBucketPolicy", "s3:PutBucketPolicy", "s3:DeleteBucketPolicy", "s3:GetBucketTagging")

    def _plan(self, ctx: ActionContext, params: dict[str, Any]) -> Plan:
        bucket = _bucket(params, self.name)
        policy = _policy(_s3(ctx, params), bucket)
        present = any(_denies_insecure(s) for s in _listify((policy or {}).get("Statement", [])))
        changes = [] if present else [f"add the statement {TLS_SID} (deny requests without TLS) to bucket {bucket}"]
        return Plan(changes, {"Bucket": bucket, "Sid": TLS_SID, "AlreadyDenied": present})

    def _execute(self, ctx: ActionContext, params: dict[str, Any]) -> Outcome:
        planned = self._plan(ctx, params)
        if not planned.changes:
            return Outcome([], planned.result)
        s3 = _s3(ctx, params)
        bucket = planned.result["Bucket"]
        policy = _policy(s3, bucket)
        updated = dict(policy or {"Version": "2012-10-17"})
        updated["Statement"] = [*_listify(updated.get("Statement", [])), tls_statement(bucket)]
        _put_policy(s3, bucket, updated)
        return Outcome(planned.changes, planned.result, {"Bucket": bucket, "Region": region_of(ctx, params),
                                                          "Policy": policy})

    def rollback(self, ctx: ActionContext, undo: dict[str, Any]) -> list[str]:
        s3 = ctx.client("s3", undo.get("Region") or ctx.region)
        current = _policy(s3, undo["Bucket"])
        if current is None:
            return [f"bucket {undo['Bucket']} has no policy any more; nothing to remove"]
        kept = [s for s in _listify(current.get("Statement", [])) if s.get("Sid") != TLS_SID]
        _put_policy(s3, undo["Bucket"], {**current, "Statement": kept})
        return [f"removed the statement {TLS_SID} from bucket {undo['Bucket']}"]


ACTIONS: Final[tuple[Action, ...]] = (
    RemovePublicAccess(), BlockPublicAccess(), EnableDefaultEncryption(), DenyInsecureTransport(),
)
