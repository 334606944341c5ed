"""CloudTrail actions: start a stopped trail's logging, and turn on log-file integrity validation.

A trail is named by its name or ARN. Rollback restores what was there: logging stopped again, or
validation off, so an investigation can put the account back exactly as it found it if needed.
"""

from __future__ import annotations

from typing import Any, Final

from cloudwarden.respond.actions.aws import REGION_SCHEMA, TRAIL, AwsAction, call, region_of
from cloudwarden.respond.actions.base import Action, ActionContext, Outcome, Plan, ResourceKey

_SCHEMA: Final[dict[str, Any]] = {
    "type": "object",
    "properties": {"TrailName": {"type": "string", "minLength": 3, "maxLength": 2048}, "Region": REGION_SCHEMA},
    "required": ["TrailName"], "additionalProperties": False,
}


def _trail(ctx: ActionContext, params: dict[str, Any]) -> dict[str, Any] | None:
    client = ctx.client("cloudtrail", region_of(ctx, params))
    found = call("CloudTrail", client.describe_trails, trailNameList=[params["TrailName"]]).get("trailList", [])
    return dict(found[0]) if found else None


class TrailAction(AwsAction):
    def targets(self, params: dict[str, Any]) -> list[ResourceKey]:
        return [ResourceKey(TRAIL, str(params["TrailName"]))]


class StartLogging(TrailAction):
    name = "cloudtrail.start-logging"
    summary = "Start a trail's logging again (StartLogging)."
    input_schema = _SCHEMA
    permissions = ("cloudtrail:DescribeTrails", "cloudtrail:GetTrailStatus", "cloudtrail:StartLogging",
                   "cloudtrail:StopLogging", "cloudtrail:ListTags")
    disruptive = False

    def _plan(self, ctx: ActionContext, params: dict[str, Any]) -> Plan:
        trail = _trail(ctx, params)
        if trail is None:
            return Plan([], {"TrailName": params["TrailName"], "Exists": False, "WasLogging": None})
        status = call("CloudTrail", ctx.client("cloudtrail", region_of(ctx, params)).get_trail_status,
                      Name=trail["TrailARN"])
        logging = bool(status.get("IsLogging"))
        return Plan([] if logging else [f"start logging of trail {trail['Name']}"],
                    {"TrailName": trail["Name"], "TrailArn": trail["TrailARN"], "Exists": True, "WasLogging": logging})

    def _execute(self, ctx: ActionContext, params: dict[str, Any]) -> Outcome:
        planned = self._plan(ctx, params)
        if not planned.changes:
            return Outcome([], planned.result)
        call("CloudTrail", ctx.client("cloudtrail", region_of(ctx, params)).start_logging,
             Name=planned.result["TrailArn"])
        return Outcome(planned.changes, planned.result, {"TrailArn": planned.result["TrailArn"],
                                                          "Region": region_of(ctx, params)})

    def rollback(self, ctx: ActionContext, undo: dict[str, Any]) -> list[str]:
        call("CloudTrail", ctx.client("cloudtrail", undo.get("Region") or ctx.region).stop_logging,
             Name=undo["TrailArn"])
        return [f"stopped logging of trail {undo['TrailArn']} again (as it was)"]


class EnableLogFileValidation(TrailAction):
    name = "cloudtrail.enable-log-file-validation"
    summary = "Turn on a trail's log-file integrity validation (signed digest files)."
    input_schema = _SCHEMA
    permissions = ("cloudtrail:DescribeTrails", "cloudtrail:UpdateTrail", "cloudtrail:ListTags")
    disruptive = False

    def _plan(self, ctx: ActionContext, params: dict[str, Any]) -> Plan:
        trail = _trail(ctx, params)
        if trail is None:
            return Plan([], {"TrailName": params["TrailName"], "Exists": False, "WasValidating": None})
        validating = bool(trail.get("LogFileValidationEnabled"))
        return Plan([] if validating else [f"turn on log-file validation of trail {trail['Name']}"],
                    {"TrailName": trail["Name"], "TrailArn": trail["TrailARN"], "Exists": True,
                     "WasValidating": validating})

    def _execute(self, ctx: ActionContext, params: dict[str, Any]) -> Outcome:
        planned = self._plan(ctx, params)
        if not planned.changes:
            return Outcome([], planned.result)
        call("CloudTrail", ctx.client("cloudtrail", region_of(ctx, params)).update_trail,
             Name=planned.result["TrailArn"], EnableLogFileValidation=True)
        return Outcome(planned.changes, planned.result, {"TrailArn": planned.result["TrailArn"],
                                                          "Region": region_of(ctx, params)})

    def rollback(self, ctx: ActionContext, undo: dict[str, Any]) -> list[str]:
        call("CloudTrail", ctx.client("cloudtrail", undo.get("Region") or ctx.region).update_trail,
             Name=undo["TrailArn"], EnableLogFileValidation=False)
        return [f"turned log-file validation of trail {undo['TrailArn']} off again (as it was)"]


ACTIONS: Final[tuple[Action, ...]] = (StartLogging(), EnableLogFileValidation())
