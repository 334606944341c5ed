"""GuardDuty: make sure a region has an enabled detector, re-creating one an attacker deleted.

A region has at most one detector per account. With none, one is created (publishing findings every
15 minutes, S3 protection on, tagged ``cloudwarden:managed``); with a disabled one, it is enabled.
Rollback deletes the detector it created, or disables the one it enabled. The resource touched is the
account's GuardDuty in that region, so ``cloudwarden:exclude`` on its detector is honoured.
"""

from __future__ import annotations

from typing import Any, ClassVar, Final

from cloudwarden.respond.actions.aws import DETECTOR, MANAGED_TAG, REGION_SCHEMA, AwsAction, call, region_of
from cloudwarden.respond.actions.base import Action, ActionContext, Outcome, Plan, ResourceKey

FREQUENCIES: Final = ("FIFTEEN_MINUTES", "ONE_HOUR", "SIX_HOURS")


def _detectors(client: Any) -> list[tuple[str, str]]:
    """(detector id, status) of the region's detectors."""
    out = []
    for detector_id in call("GuardDuty", client.list_detectors).get("DetectorIds", []):
        status = call("GuardDuty", client.get_detector, DetectorId=detector_id).get("Status", "")
        out.append((str(detector_id), str(status)))
    return out


class EnsureDetector(AwsAction):
    name = "guardduty.enable-detector"
    summary = "Re-create GuardDuty's detector in a region where it was deleted, or enable it where it is disabled."
    input_schema: ClassVar[dict[str, Any]] = {
        "type": "object",
        "properties": {"Region": REGION_SCHEMA, "FindingPublishingFrequency": {"enum": list(FREQUENCIES)},
                       "S3Logs": {"type": "boolean"}},
        "required": ["Region"],
        "additionalProperties": False,
    }
    permissions = ("guardduty:ListDetectors", "guardduty:GetDetector", "guardduty:CreateDetector",
                   "guardduty:UpdateDetector", "guardduty:DeleteDetector", "guardduty:TagResource",
                   "iam:CreateServiceLinkedRole")
    disruptive = False

    def targets(self, params: dict[str, Any]) -> list[ResourceKey]:
        return [ResourceKey(DETECTOR, str(params["Region"]))]

    def _plan(self, ctx: ActionContext, params: dict[str, Any]) -> Plan:
        region = region_of(ctx, params)
        found = _detectors(ctx.client("guardduty", region))
        if not found:
            return Plan([f"create an enabled GuardDuty detector in {region}"],
                        {"Region": region, "DetectorId": None, "Created": True, "Enabled": True})
        disabled = [d for d, status in found if status.upper() != "ENABLED"]
        return Plan([f"enable GuardDuty detector {d} in {region}" for d in disabled],
                    {"Region": region, "DetectorId": found[0][0], "Created": False, "Enabled": bool(disabled)})

    def _execute(self, ctx: ActionContext, params: dict[str, Any]) -> Outcome:
        planned = self._plan(ctx, params)
        if not planned.changes:
            return Outcome([], planned.result)
        region = planned.result["Region"]
        client = ctx.client("guardduty", region)
        if planned.result["Created"]:
            detector = call("GuardDuty", client.create_detector, Enable=True,
                            FindingPublishingFrequency=params.get("FindingPublishingFrequency", "FIFTEEN_MINUTES"),
                            DataSources={"S3Logs": {"Enable": bool(params.get("S3Logs", True))}},
                            Tags={MANAGED_TAG: "true"})["DetectorId"]
            result = {**planned.result, "DetectorId": detector}
            return Outcome(planned.changes, result, {"Region": region, "DetectorId": detector, "Created": True})
        enabled = [d for d, status in _detectors(client) if status.upper() != "ENABLED"]
        for detector_id in enabled:
            call("GuardDuty", client.update_detector, DetectorId=detector_id, Enable=True)
        return Outcome(planned.changes, planned.result, {"Region": region, "DetectorIds": enabled, "Created": False})

    def rollback(self, ctx: ActionContext, undo: dict[str, Any]) -> list[str]:
        client = ctx.client("guardduty", undo["Region"])
        if undo["Created"]:
            call("GuardDuty", client.delete_detector, DetectorId=undo["DetectorId"])
            return [f"deleted the GuardDuty detector {undo['DetectorId']} created in {undo['Region']} (there was none)"]
        for detector_id in undo["DetectorIds"]:
            call("GuardDuty", client.update_detector, DetectorId=detector_id, Enable=False)
        return [f"disabled GuardDuty detector {d} in {undo['Region']} again" for d in undo["DetectorIds"]]


ACTIONS: Final[tuple[Action, ...]] = (EnsureDetector(),)
