"""Evidence collection: a principal's CloudTrail activity and what it created, into the case folder.

Both read CloudTrail's event history (``cloudtrail:LookupEvents``: management events, the last 90 days,
per region) and change nothing, so they run in dry runs too. A user's events are found by the
``Username`` lookup attribute; a role's by scanning the window for events whose session issuer is the
role (LookupEvents has no attribute for it). Records are written with secrets scrubbed.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime
from typing import Any, Final

from botocore.exceptions import ClientError

from cloudwarden.respond.actions.base import (
    Action,
    ActionContext,
    Outcome,
    Plan,
    Principal,
    aws_error,
    principal_schema,
)

DEFAULT_MAX_EVENTS: Final = 5000
_REGIONS: Final[dict[str, Any]] = {
    "type": "array", "items": {"type": "string", "pattern": "^[a-z]{2}(-[a-z]+)+-[0-9]$"},
    "minItems": 1, "uniqueItems": True,
}
_COMMON: Final[dict[str, Any]] = {
    "Regions": _REGIONS, "MaxEvents": {"type": "integer", "minimum": 1, "maximum": 100000},
}


def principal_events(ctx: ActionContext, who: Principal, regions: list[str], max_events: int) -> tuple[list[Any], bool]:
    """The principal's CloudTrail records across ``regions``, oldest first; and whether the cap cut them."""
    records: list[dict[str, Any]] = []
    truncated = False
    for region in regions:
        client = ctx.client("cloudtrail", region)
        request: dict[str, Any] = {"MaxResults": 50}
        if who.kind == "user":
            request["LookupAttributes"] = [{"AttributeKey": "Username", "AttributeValue": who.name}]
        try:
            for page in client.get_paginator("lookup_events").paginate(**request):
                for event in page.get("Events", []):
                    record = json.loads(event["CloudTrailEvent"])
                    if who.kind == "role" and not _issued_by(record, who.arn):
                        continue
                    if len(records) >= max_events:
                        truncated = True
                        break
                    records.append(record)
                if truncated:
                    break
        except ClientError as exc:
            raise aws_error(exc, "CloudTrail") from None
    records.sort(key=lambda r: (str(r.get("eventTime", "")), str(r.get("eventID", ""))))
    return records, truncated


def _issued_by(record: dict[str, Any], role_arn: str) -> bool:
    issuer = ((record.get("userIdentity") or {}).get("sessionContext") or {}).get("sessionIssuer") or {}
    return bool(issuer.get("arn") == role_arn)


class CloudTrailActivity(Action):
    name = "collect.cloudtrail-activity"
    summary = "Save the principal's CloudTrail management events (LookupEvents, per region) as evidence."
    input_schema = principal_schema(_COMMON)
    permissions = ("cloudtrail:LookupEvents",)
    disruptive = False
    read_only = True

    def plan(self, ctx: ActionContext, params: dict[str, Any]) -> Plan:
        return Plan([], self.execute(ctx, params).result)

    def execute(self, ctx: ActionContext, params: dict[str, Any]) -> Outcome:
        who = Principal.from_params(params, ctx.account_id, self.name)
        regions = list(params.get("Regions") or [ctx.region])
        records, truncated = principal_events(ctx, who, regions, int(params.get("MaxEvents", DEFAULT_MAX_EVENTS)))
        path = ctx.evidence.write_json("cloudtrail-activity.json", {
            "principal": who.arn, "account_id": ctx.account_id, "regions": regions, "truncated": truncated,
            "collected_at": datetime.now(UTC).isoformat(), "records": records,
        })
        names = Counter(str(r.get("eventName")) for r in records)
        return Outcome([], {
            "Principal": who.arn,
            "Events": len(records),
            "Truncated": truncated,
            "EventNames": dict(sorted(names.items())),
            "SourceIPs": sorted({str(r.get("sourceIPAddress")) for r in records if r.get("sourceIPAddress")}),
            "Errors": sum(1 for r in records if r.get("errorCode")),
            "Evidence": path,
        })


class CreatedResources(Action):
    name = "collect.created-resources"
    summary = ("List what the principal created (users, access keys, console passwords, roles, policies, "
               "attachments) from its successful CloudTrail events, and save it as evidence.")
    input_schema = principal_schema(_COMMON)
    permissions = ("cloudtrail:LookupEvents",)
    disruptive = False
    read_only = True

    def plan(self, ctx: ActionContext, params: dict[str, Any]) -> Plan:
        return Plan([], self.execute(ctx, params).result)

    def execute(self, ctx: ActionContext, params: dict[str, Any]) -> Outcome:
        who = Principal.from_params(params, ctx.account_id, self.name)
        regions = list(params.get("Regions") or [ctx.region])
        records, truncated = principal_events(ctx, who, regions, int(params.get("MaxEvents", DEFAULT_MAX_EVENTS)))
        created = created_by(records, ctx.account_id, who)
        path = ctx.evidence.write_json("created-resources.json", {"principal": who.arn, "truncated": truncated,
                                                                  **created})
        return Outcome([], {**created, "Truncated": truncated, "Evidence": path})


def created_by(records: list[dict[str, Any]], account_id: str, who: Principal) -> dict[str, Any]:
    """What successful events in ``records`` created, de-duplicated, in the order they happened."""
    users: dict[str, None] = {}
    roles: dict[str, None] = {}
    keys: dict[tuple[str, str], None] = {}
    logins: dict[str, None] = {}
    policies: dict[str, None] = {}
    attachments: dict[tuple[str, str, str], None] = {}
    inline: dict[tuple[str, str, str], None] = {}
    for record in records:
        if record.get("errorCode"):
            continue
        name = record.get("eventName")
        request = record.get("requestParameters") or {}
        response = record.get("responseElements") or {}
        user = str(request.get("userName") or (who.name if who.kind == "user" else ""))
        if name == "CreateUser":
            users[(response.get("user") or {}).get("arn") or f"arn:aws:iam::{account_id}:user/{user}"] = None
        elif name == "CreateRole":
            role = str(request.get("roleName", ""))
            roles[(response.get("role") or {}).get("arn") or f"arn:aws:iam::{account_id}:role/{role}"] = None
        elif name == "CreateAccessKey":
            key = (response.get("accessKey") or {}).get("accessKeyId")
            if key:
                keys[((response.get("accessKey") or {}).get("userName") or user, str(key))] = None
        elif name == "CreateLoginProfile":
            logins[user] = None
        elif name == "CreatePolicy":
            arn = (response.get("policy") or {}).get("arn")
            if arn:
                policies[str(arn)] = None
        elif name in ("AttachUserPolicy", "AttachRolePolicy", "AttachGroupPolicy"):
            kind = name[len("Attach"):-len("Policy")].lower()
            attachments[(kind, str(request.get(f"{kind}Name", "")), str(request.get("policyArn", "")))] = None
        elif name in ("PutUserPolicy", "PutRolePolicy", "PutGroupPolicy"):
            kind = name[len("Put"):-len("Policy")].lower()
            inline[(kind, str(request.get(f"{kind}Name", "")), str(request.get("policyName", "")))] = None
    users.pop(who.arn, None)
    return {
        "Users": list(users),
        "Roles": list(roles),
        "AccessKeys": [{"UserName": u, "AccessKeyId": k} for u, k in keys],
        "LoginProfiles": list(logins),
        "Policies": list(policies),
        "Attachments": [{"Kind": k, "Name": n, "PolicyArn": p} for k, n, p in attachments],
        "InlinePolicies": [{"Kind": k, "Name": n, "PolicyName": p} for k, n, p in inline],
    }


ACTIONS: Final[tuple[Action, ...]] = (CloudTrailActivity(), CreatedResources())
