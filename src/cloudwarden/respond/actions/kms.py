"""KMS actions: turn on automatic key rotation, and save a key from its scheduled deletion.

Both act on customer managed symmetric keys by id, ARN or alias. Cancelling a deletion leaves the key
``Disabled`` (that is what KMS does); the action enables it again only when asked (``Enable``), since a
key an attacker scheduled for deletion may have been disabled on purpose first. Rollback schedules the
deletion again with the pending window it had (7 to 30 days), never shorter.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Final

from botocore.exceptions import ClientError

from cloudwarden.respond.actions.aws import KMS_KEY, REGION_SCHEMA, AwsAction, call, region_of
from cloudwarden.respond.actions.base import Action, ActionContext, Outcome, Plan, ResourceKey, aws_error, error_code


def _schema(extra: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"type": "object",
            "properties": {"KeyId": {"type": "string", "minLength": 1, "maxLength": 2048}, "Region": REGION_SCHEMA,
                           **(extra or {})},
            "required": ["KeyId"], "additionalProperties": False}


def _describe(ctx: ActionContext, params: dict[str, Any]) -> dict[str, Any] | None:
    try:
        return dict(ctx.client("kms", region_of(ctx, params)).describe_key(KeyId=params["KeyId"])["KeyMetadata"])
    except ClientError as exc:
        if error_code(exc) == "NotFoundException":
            return None
        raise aws_error(exc, "KMS") from None


class KeyAction(AwsAction):
    def targets(self, params: dict[str, Any]) -> list[ResourceKey]:
        return [ResourceKey(KMS_KEY, str(params["KeyId"]))]


class EnableKeyRotation(KeyAction):
    name = "kms.enable-key-rotation"
    summary = "Turn on automatic yearly rotation of a customer managed symmetric key."
    input_schema = _schema()
    permissions = ("kms:DescribeKey", "kms:GetKeyRotationStatus", "kms:EnableKeyRotation", "kms:DisableKeyRotation",
                   "kms:ListResourceTags")
    disruptive = False

    def _plan(self, ctx: ActionContext, params: dict[str, Any]) -> Plan:
        key = _describe(ctx, params)
        if key is None or key.get("KeyManager") != "CUSTOMER" or key.get("KeySpec") != "SYMMETRIC_DEFAULT" \
                or key.get("KeyState") != "Enabled":
            reason = "no such key" if key is None else "rotation applies to enabled customer managed symmetric keys"
            return Plan([], {"KeyId": params["KeyId"], "Rotating": None, "Skipped": reason})
        status = call("KMS", ctx.client("kms", region_of(ctx, params)).get_key_rotation_status, KeyId=key["KeyId"])
        rotating = bool(status["KeyRotationEnabled"])
        return Plan([] if rotating else [f"turn on automatic rotation of KMS key {key['Arn']}"],
                    {"KeyId": key["KeyId"], "KeyArn": key["Arn"], "Rotating": rotating})

    def _execute(self, ctx: ActionContext, params: dict[str, Any]) -> Outcome:
        planned = self._plan(ctx, params)
        if not planned.changes:
            return Outcome([], planned.result)
        call("KMS", ctx.client("kms", region_of(ctx, params)).enable_key_rotation, KeyId=planned.result["KeyId"])
        return Outcome(planned.changes, planned.result, {"KeyId": planned.result["KeyId"],
                                                          "Region": region_of(ctx, params)})

    def rollback(self, ctx: ActionContext, undo: dict[str, Any]) -> list[str]:
        call("KMS", ctx.client("kms", undo.get("Region") or ctx.region).disable_key_rotation, KeyId=undo["KeyId"])
        return [f"turned automatic rotation of KMS key {undo['KeyId']} off again"]


class CancelKeyDeletion(KeyAction):
    name = "kms.cancel-key-deletion"
    summary = "Cancel a key's scheduled deletion (it becomes Disabled, as KMS leaves it); Enable: true enables it."
    input_schema = _schema({"Enable": {"type": "boolean"}})
    permissions = ("kms:DescribeKey", "kms:CancelKeyDeletion", "kms:EnableKey", "kms:DisableKey",
                   "kms:ScheduleKeyDeletion", "kms:ListResourceTags")
    disruptive = False

    def _plan(self, ctx: ActionContext, params: dict[str, Any]) -> Plan:
        key = _describe(ctx, params)
        pending = key is not None and key.get("KeyState") == "PendingDeletion"
        changes = [f"cancel the scheduled deletion of KMS key {key['Arn']}"] if key is not None and pending else []
        if changes and key is not None and params.get("Enable"):
            changes.append(f"enable KMS key {key['Arn']}")
        window = None
        if pending and key is not None:
            window = key.get("PendingDeletionWindowInDays")
            if window is None and key.get("DeletionDate"):
                window = (key["DeletionDate"] - datetime.now(UTC)).days + 1
        return Plan(changes, {"KeyId": params["KeyId"] if key is None else key["KeyId"], "Exists": key is not None,
                              "WasPendingDeletion": pending,
                              "DeletionDate": str((key or {}).get("DeletionDate")) if pending else None,
                              "PendingWindowInDays": min(30, max(7, int(window))) if window is not None else None})

    def _execute(self, ctx: ActionContext, params: dict[str, Any]) -> Outcome:
        planned = self._plan(ctx, params)
        if not planned.changes:
            return Outcome([], planned.result)
        kms = ctx.client("kms", region_of(ctx, params))
        call("KMS", kms.cancel_key_deletion, KeyId=planned.result["KeyId"])
        if params.get("Enable"):
            call("KMS", kms.enable_key, KeyId=planned.result["KeyId"])
        return Outcome(planned.changes, planned.result, {
            "KeyId": planned.result["KeyId"], "Region": region_of(ctx, params), "Enabled": bool(params.get("Enable")),
            "PendingWindowInDays": planned.result["PendingWindowInDays"] or 30})

    def rollback(self, ctx: ActionContext, undo: dict[str, Any]) -> list[str]:
        kms = ctx.client("kms", undo.get("Region") or ctx.region)
        if undo["Enabled"]:
            call("KMS", kms.disable_key, KeyId=undo["KeyId"])
        call("KMS", kms.schedule_key_deletion, KeyId=undo["KeyId"], PendingWindowInDays=undo["PendingWindowInDays"])
        return [f"scheduled KMS key {undo['KeyId']} for deletion again, in {undo['PendingWindowInDays']} days"]


ACTIONS: Final[tuple[Action, ...]] = (EnableKeyRotation(), CancelKeyDeletion())
