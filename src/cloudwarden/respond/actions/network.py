"""Security groups: revoke the world-open ingress rules a finding names, and never any other rule.

The rules come from the finding: given as ``Rules`` (protocol, ports, ``0.0.0.0/0`` or ``::/0``), or as
the CloudTrail ``EventIds`` of the ``AuthorizeSecurityGroupIngress`` calls that opened them (read back
with ``LookupEvents``; both of CloudTrail's request shapes, ``ipPermissions.items`` and the flat
``ipProtocol``/``cidrIp`` one, are understood). A named rule that is not world-open is refused; a rule
that is no longer on the group is reported, not an error. Each revoked rule is saved, with its
description, so rollback authorises exactly that rule again.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar, Final

from cloudwarden.core.errors import BadInputError
from cloudwarden.respond.actions.aws import REGION_SCHEMA, SECURITY_GROUP, AwsAction, call, region_of, resource_id
from cloudwarden.respond.actions.base import Action, ActionContext, Outcome, Plan, ResourceKey

WORLD: Final = frozenset({"0.0.0.0/0", "::/0"})
_PROTOCOLS: Final = {"6": "tcp", "17": "udp", "1": "icmp", "58": "icmpv6", "all": "-1"}
_RULE: Final[dict[str, Any]] = {
    "type": "object",
    "properties": {
        "IpProtocol": {"type": "string", "minLength": 1},
        "FromPort": {"type": "integer", "minimum": -1, "maximum": 65535},
        "ToPort": {"type": "integer", "minimum": -1, "maximum": 65535},
        "Cidr": {"type": "string", "enum": sorted(WORLD)},
    },
    "required": ["IpProtocol", "Cidr"],
    "additionalProperties": False,
}
_GROUP: Final = r"^(arn:aws[a-z-]*:ec2:[a-z0-9-]+:[0-9]{12}:security-group/)?sg-[0-9a-f]{8,17}$"

Rule = tuple[str, int | None, int | None, str]  # protocol, from, to, cidr


def _protocol(value: Any) -> str:
    text = str(value).lower()
    return _PROTOCOLS.get(text, text)


def _port(value: Any) -> int | None:
    return None if value is None or value == "" else int(value)


def _rule(protocol: Any, from_port: Any, to_port: Any, cidr: str) -> Rule:
    proto = _protocol(protocol)
    if proto == "-1":
        return (proto, None, None, cidr)
    return (proto, _port(from_port), _port(to_port), cidr)


def _as_dict(rule: Rule) -> dict[str, Any]:
    out: dict[str, Any] = {"IpProtocol": rule[0], "Cidr": rule[3]}
    if rule[1] is not None:
        out["FromPort"] = rule[1]
    if rule[2] is not None:
        out["ToPort"] = rule[2]
    return out


def _label(rule: Rule) -> str:
    if rule[1] is None:
        ports = "all ports"
    else:
        ports = f"port {rule[1]}" if rule[1] == rule[2] else f"ports {rule[1]}-{rule[2]}"
    return f"{rule[0]} {ports} from {rule[3]}"


def rules_in_event(record: dict[str, Any]) -> tuple[str | None, list[Rule]]:
    """(group id or name, world-open rules) of an ``AuthorizeSecurityGroupIngress`` CloudTrail record."""
    request = record.get("requestParameters") or {}
    group = request.get("groupId") or request.get("groupName")
    found: list[Rule] = []
    for item in (request.get("ipPermissions") or {}).get("items", []) or []:
        for entry in (item.get("ipRanges") or {}).get("items", []) or []:
            found.append(_rule(item.get("ipProtocol"), item.get("fromPort"), item.get("toPort"), entry.get("cidrIp")))
        for entry in (item.get("ipv6Ranges") or {}).get("items", []) or []:
            found.append(_rule(item.get("ipProtocol"), item.get("fromPort"), item.get("toPort"),
                               entry.get("cidrIpv6")))
    if request.get("cidrIp"):
        found.append(_rule(request.get("ipProtocol"), request.get("fromPort"), request.get("toPort"),
                           request["cidrIp"]))
    return group, [r for r in found if r[3] in WORLD]


def group_rules(group: dict[str, Any]) -> dict[Rule, str | None]:
    """Every world-open ingress rule on the group -> its description."""
    out: dict[Rule, str | None] = {}
    for permission in group.get("IpPermissions", []):
        for entry in permission.get("IpRanges", []):
            if entry.get("CidrIp") in WORLD:
                out[_rule(permission["IpProtocol"], permission.get("FromPort"), permission.get("ToPort"),
                          entry["CidrIp"])] = entry.get("Description")
        for entry in permission.get("Ipv6Ranges", []):
            if entry.get("CidrIpv6") in WORLD:
                out[_rule(permission["IpProtocol"], permission.get("FromPort"), permission.get("ToPort"),
                          entry["CidrIpv6"])] = entry.get("Description")
    return out


def permission(rule: Rule, description: str | None = None) -> dict[str, Any]:
    """The ``IpPermissions`` entry for exactly one rule."""
    out: dict[str, Any] = {"IpProtocol": rule[0]}
    if rule[1] is not None:
        out["FromPort"], out["ToPort"] = rule[1], rule[2]
    ranges: dict[str, Any] = {"CidrIp" if ":" not in rule[3] else "CidrIpv6": rule[3]}
    if description:
        ranges["Description"] = description
    out["IpRanges" if ":" not in rule[3] else "Ipv6Ranges"] = [ranges]
    return out


class RevokeWorldIngress(AwsAction):
    name = "network.revoke-world-ingress"
    summary = ("Revoke the world-open (0.0.0.0/0, ::/0) ingress rules a finding names (Rules, or the EventIds of "
               "the calls that added them) from one security group; every other rule stays.")
    input_schema: ClassVar[dict[str, Any]] = {
        "type": "object",
        "properties": {"GroupId": {"type": "string", "pattern": _GROUP}, "Region": REGION_SCHEMA,
                       "Rules": {"type": "array", "items": _RULE},
                       "EventIds": {"type": "array", "items": {"type": "string", "minLength": 1}}},
        "required": ["GroupId"],
        "anyOf": [{"required": ["Rules"]}, {"required": ["EventIds"]}],
        "additionalProperties": False,
    }
    permissions = ("ec2:DescribeSecurityGroups", "ec2:RevokeSecurityGroupIngress",
                   "ec2:AuthorizeSecurityGroupIngress", "cloudtrail:LookupEvents", "ec2:DescribeTags")

    def targets(self, params: dict[str, Any]) -> list[ResourceKey]:
        return [ResourceKey(SECURITY_GROUP, self._group_id(params))]

    def _group_id(self, params: dict[str, Any]) -> str:
        return resource_id(str(params["GroupId"]), "security-group", f"{self.name} parameters/GroupId")

    def _group(self, ctx: ActionContext, params: dict[str, Any]) -> dict[str, Any] | None:
        ec2 = ctx.client("ec2", region_of(ctx, params))
        found = call("EC2", ec2.describe_security_groups,
                     Filters=[{"Name": "group-id", "Values": [self._group_id(params)]}])["SecurityGroups"]
        return dict(found[0]) if found else None

    def _named(self, ctx: ActionContext, params: dict[str, Any], group: dict[str, Any] | None) -> tuple[
            list[Rule], list[str]]:
        """The world-open rules the finding names, and the event ids that could not be read back."""
        named: list[Rule] = [_rule(r["IpProtocol"], r.get("FromPort"), r.get("ToPort"), r["Cidr"])
                             for r in params.get("Rules", [])]
        missing: list[str] = []
        names = {self._group_id(params), (group or {}).get("GroupName")}
        client = ctx.client("cloudtrail", region_of(ctx, params))
        for event_id in params.get("EventIds", []):
            events = call("CloudTrail", client.lookup_events,
                          LookupAttributes=[{"AttributeKey": "EventId", "AttributeValue": event_id}])["Events"]
            if not events:
                missing.append(event_id)
                continue
            record = json.loads(events[0]["CloudTrailEvent"])
            if record.get("eventName") != "AuthorizeSecurityGroupIngress":
                raise BadInputError(f"{self.name} parameters/EventIds",
                                    f"event {event_id} is {record.get('eventName')}, not AuthorizeSecurityGroupIngress")
            target, rules = rules_in_event(record)
            if target in names:
                named += rules
        return list(dict.fromkeys(named)), missing

    def _plan(self, ctx: ActionContext, params: dict[str, Any]) -> Plan:
        group = self._group(ctx, params)
        group_id = self._group_id(params)
        named, missing = self._named(ctx, params, group)
        present = group_rules(group or {})
        revoke = [r for r in named if r in present]
        return Plan([f"revoke {_label(r)} from security group {group_id}" for r in revoke],
                    {"GroupId": group_id, "Exists": group is not None,
                     "Revoked": [_as_dict(r) for r in revoke],
                     "AlreadyAbsent": [_as_dict(r) for r in named if r not in present],
                     "EventsNotFound": missing,
                     "OtherWorldOpenRules": [_as_dict(r) for r in present if r not in named]})

    def _execute(self, ctx: ActionContext, params: dict[str, Any]) -> Outcome:
        planned = self._plan(ctx, params)
        if not planned.changes:
            return Outcome([], planned.result)
        group = self._group(ctx, params) or {}
        present = group_rules(group)
        ec2 = ctx.client("ec2", region_of(ctx, params))
        ctx.evidence.write_json(f"sg-{planned.result['GroupId']}-before.json", group)
        saved = []
        for item in planned.result["Revoked"]:
            rule = _rule(item["IpProtocol"], item.get("FromPort"), item.get("ToPort"), item["Cidr"])
            call("EC2", ec2.revoke_security_group_ingress, GroupId=planned.result["GroupId"],
                 IpPermissions=[permission(rule)])
            saved.append({**item, "Description": present.get(rule)})
        return Outcome(planned.changes, planned.result, {"GroupId": planned.result["GroupId"],
                                                          "Region": region_of(ctx, params), "Rules": saved})

    def rollback(self, ctx: ActionContext, undo: dict[str, Any]) -> list[str]:
        ec2 = ctx.client("ec2", undo.get("Region") or ctx.region)
        group = call("EC2", ec2.describe_security_groups, GroupIds=[undo["GroupId"]])["SecurityGroups"][0]
        present = group_rules(group)
        done = []
        for item in undo["Rules"]:
            rule = _rule(item["IpProtocol"], item.get("FromPort"), item.get("ToPort"), item["Cidr"])
            if rule not in present:
                call("EC2", ec2.authorize_security_group_ingress, GroupId=undo["GroupId"],
                     IpPermissions=[permission(rule, item.get("Description"))])
            done.append(f"re-authorised {_label(rule)} on security group {undo['GroupId']}")
        return done


ACTIONS: Final[tuple[Action, ...]] = (RevokeWorldIngress(),)
