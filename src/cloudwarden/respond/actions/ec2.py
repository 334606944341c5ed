"""EC2 actions for a compromised instance: preserve evidence first, then isolate.

The order of the AWS incident-response playbook for a compromised instance: mark it (tags), protect it
from termination and keep its volumes if it is terminated anyway, capture its metadata and console
output, snapshot every volume (tagged with the case, so a re-run finds them and never makes a second
set), then take its role away (instance profile), swap its security groups for an isolation group
with no rules (the previous groups are saved), and stop it.

Snapshots are evidence: rollback keeps them and says so. Swapping security groups stops new
connections; AWS keeps tracked connections that are already open until they go idle, which is why
the isolation group has no rules at all (untracked) and the instance is stopped afterwards.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from typing import Any, Final

from botocore.exceptions import ClientError

from cloudwarden.core.errors import BadInputError
from cloudwarden.respond.actions.aws import (
    CASE_TAG,
    INSTANCE,
    MANAGED_TAG,
    REGION_SCHEMA,
    AwsAction,
    call,
    region_of,
    resource_id,
    tag_map,
)
from cloudwarden.respond.actions.base import Action, ActionContext, Outcome, Plan, ResourceKey, aws_error, error_code

ISOLATION_GROUP: Final = "cloudwarden-isolation"
STATUS_TAG: Final = "cloudwarden:status"
_ID: Final = r"^(arn:aws[a-z-]*:ec2:[a-z0-9-]+:[0-9]{12}:instance/)?i-[0-9a-f]{8,17}$"


def _schema(extra: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"type": "object",
            "properties": {"InstanceId": {"type": "string", "pattern": _ID}, "Region": REGION_SCHEMA,
                           **(extra or {})},
            "required": ["InstanceId"], "additionalProperties": False}


_CASE: Final[dict[str, Any]] = {"CaseId": {"type": "string", "minLength": 1, "maxLength": 128}}


def instance_id(params: dict[str, Any], action: str) -> str:
    return resource_id(str(params["InstanceId"]), "instance", f"{action} parameters/InstanceId")


def _ec2(ctx: ActionContext, params: dict[str, Any]) -> Any:
    return ctx.client("ec2", region_of(ctx, params))


def describe_instance(ec2: Any, iid: str) -> dict[str, Any] | None:
    """The instance as DescribeInstances shows it; None when it does not exist (or is terminated)."""
    try:
        found = ec2.describe_instances(InstanceIds=[iid])
    except ClientError as exc:
        if error_code(exc) in ("InvalidInstanceID.NotFound", "InvalidInstanceID.Malformed"):
            return None
        raise aws_error(exc, "EC2") from None
    for reservation in found.get("Reservations", []):
        for instance in reservation.get("Instances", []):
            if instance.get("State", {}).get("Name") != "terminated":
                return dict(instance)
    return None


def _volumes(instance: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"Device": m["DeviceName"], "VolumeId": m["Ebs"]["VolumeId"],
             "DeleteOnTermination": bool(m["Ebs"].get("DeleteOnTermination"))}
            for m in instance.get("BlockDeviceMappings", []) if "Ebs" in m]


class InstanceAction(AwsAction):
    def targets(self, params: dict[str, Any]) -> list[ResourceKey]:
        return [ResourceKey(INSTANCE, instance_id(params, self.name))]

    def _instance(self, ctx: ActionContext, params: dict[str, Any]) -> tuple[str, dict[str, Any] | None]:
        iid = instance_id(params, self.name)
        return iid, describe_instance(_ec2(ctx, params), iid)


# --- tag --------------------------------------------------------------------------------------------------


class TagInstance(InstanceAction):
    name = "ec2.tag-instance"
    summary = (f"Tag the instance as under investigation ({CASE_TAG}=<case>, {STATUS_TAG}=<status>, plus Tags); "
               "previous values are restored on rollback.")
    input_schema = _schema({**_CASE, "Status": {"type": "string", "maxLength": 256},
                            "Tags": {"type": "object", "additionalProperties": {"type": "string", "maxLength": 256}}})
    permissions = ("ec2:DescribeInstances", "ec2:DescribeTags", "ec2:CreateTags", "ec2:DeleteTags")
    disruptive = False

    def _wanted(self, ctx: ActionContext, params: dict[str, Any]) -> dict[str, str]:
        return {CASE_TAG: str(params.get("CaseId") or ctx.run_id),
                STATUS_TAG: str(params.get("Status") or "under-investigation"), **params.get("Tags", {})}

    def _plan(self, ctx: ActionContext, params: dict[str, Any]) -> Plan:
        iid, instance = self._instance(ctx, params)
        current = tag_map((instance or {}).get("Tags"))
        wanted = self._wanted(ctx, params)
        differ = {k: v for k, v in wanted.items() if current.get(k) != v} if instance else {}
        return Plan([f"tag instance {iid} {k}={v}" for k, v in differ.items()],
                    {"InstanceId": iid, "Exists": instance is not None, "Tags": differ,
                     "Previous": {k: current.get(k) for k in differ}})

    def _execute(self, ctx: ActionContext, params: dict[str, Any]) -> Outcome:
        planned = self._plan(ctx, params)
        if not planned.changes:
            return Outcome([], planned.result)
        call("EC2", _ec2(ctx, params).create_tags, Resources=[planned.result["InstanceId"]],
             Tags=[{"Key": k, "Value": v} for k, v in planned.result["Tags"].items()])
        return Outcome(planned.changes, planned.result, {"InstanceId": planned.result["InstanceId"],
                                                          "Region": region_of(ctx, params),
                                                          "Previous": planned.result["Previous"]})

    def rollback(self, ctx: ActionContext, undo: dict[str, Any]) -> list[str]:
        ec2 = ctx.client("ec2", undo.get("Region") or ctx.region)
        restore = {k: v for k, v in undo["Previous"].items() if v is not None}
        remove = [k for k, v in undo["Previous"].items() if v is None]
        if restore:
            call("EC2", ec2.create_tags, Resources=[undo["InstanceId"]],
                 Tags=[{"Key": k, "Value": v} for k, v in restore.items()])
        if remove:
            call("EC2", ec2.delete_tags, Resources=[undo["InstanceId"]], Tags=[{"Key": k} for k in remove])
        return [f"restored the tags {', '.join(undo['Previous'])} of instance {undo['InstanceId']}"]


# --- termination protection -------------------------------------------------------------------------------


class EnableTerminationProtection(InstanceAction):
    name = "ec2.enable-termination-protection"
    summary = "Turn on the instance's termination protection (DisableApiTermination)."
    input_schema = _schema()
    permissions = ("ec2:DescribeInstances", "ec2:DescribeInstanceAttribute", "ec2:ModifyInstanceAttribute",
                   "ec2:DescribeTags")
    disruptive = False

    def _plan(self, ctx: ActionContext, params: dict[str, Any]) -> Plan:
        iid, instance = self._instance(ctx, params)
        if instance is None:
            return Plan([], {"InstanceId": iid, "Exists": False})
        found = call("EC2", _ec2(ctx, params).describe_instance_attribute, InstanceId=iid,
                     Attribute="disableApiTermination")
        protected = bool(found["DisableApiTermination"]["Value"])
        return Plan([] if protected else [f"turn on termination protection of instance {iid}"],
                    {"InstanceId": iid, "Exists": True, "WasProtected": protected})

    def _execute(self, ctx: ActionContext, params: dict[str, Any]) -> Outcome:
        planned = self._plan(ctx, params)
        if not planned.changes:
            return Outcome([], planned.result)
        call("EC2", _ec2(ctx, params).modify_instance_attribute, InstanceId=planned.result["InstanceId"],
             DisableApiTermination={"Value": True})
        return Outcome(planned.changes, planned.result,
                       {"InstanceId": planned.result["InstanceId"], "Region": region_of(ctx, params)})

    def rollback(self, ctx: ActionContext, undo: dict[str, Any]) -> list[str]:
        call("EC2", ctx.client("ec2", undo.get("Region") or ctx.region).modify_instance_attribute,
             InstanceId=undo["InstanceId"], DisableApiTermination={"Value": False})
        return [f"turned termination protection of instance {undo['InstanceId']} off again"]


# --- keep volumes on termination --------------------------------------------------------------------------


class KeepVolumes(InstanceAction):
    name = "ec2.keep-volumes-on-termination"
    summary = "Set every attached EBS volume to survive the instance's termination (DeleteOnTermination false)."
    input_schema = _schema()
    permissions = ("ec2:DescribeInstances", "ec2:ModifyInstanceAttribute", "ec2:DescribeTags")
    disruptive = False

    def _plan(self, ctx: ActionContext, params: dict[str, Any]) -> Plan:
        iid, instance = self._instance(ctx, params)
        deleting = [v for v in _volumes(instance or {}) if v["DeleteOnTermination"]]
        return Plan([f"keep volume {v['VolumeId']} ({v['Device']}) of instance {iid} when it terminates"
                     for v in deleting],
                    {"InstanceId": iid, "Exists": instance is not None, "Devices": [v["Device"] for v in deleting]})

    def _execute(self, ctx: ActionContext, params: dict[str, Any]) -> Outcome:
        planned = self._plan(ctx, params)
        if not planned.changes:
            return Outcome([], planned.result)
        call("EC2", _ec2(ctx, params).modify_instance_attribute, InstanceId=planned.result["InstanceId"],
             BlockDeviceMappings=[{"DeviceName": d, "Ebs": {"DeleteOnTermination": False}}
                                  for d in planned.result["Devices"]])
        return Outcome(planned.changes, planned.result, {"InstanceId": planned.result["InstanceId"],
                                                          "Region": region_of(ctx, params),
                                                          "Devices": planned.result["Devices"]})

    def rollback(self, ctx: ActionContext, undo: dict[str, Any]) -> list[str]:
        call("EC2", ctx.client("ec2", undo.get("Region") or ctx.region).modify_instance_attribute,
             InstanceId=undo["InstanceId"],
             BlockDeviceMappings=[{"DeviceName": d, "Ebs": {"DeleteOnTermination": True}} for d in undo["Devices"]])
        return [f"volumes {', '.join(undo['Devices'])} of instance {undo['InstanceId']} are deleted on termination "
                "again"]


# --- snapshots --------------------------------------------------------------------------------------------


def case_snapshots(ec2: Any, case: str) -> dict[str, str]:
    """Volume id -> the snapshot already taken of it for ``case`` (failed snapshots do not count)."""
    found = call("EC2", ec2.describe_snapshots, OwnerIds=["self"],
                 Filters=[{"Name": f"tag:{CASE_TAG}", "Values": [case]}])
    return {s["VolumeId"]: s["SnapshotId"] for s in sorted(found.get("Snapshots", []), key=lambda s: s["SnapshotId"])
            if s.get("State") != "error"}


class SnapshotVolumes(InstanceAction):
    name = "ec2.snapshot-volumes"
    summary = (f"Snapshot every attached EBS volume, tagged {CASE_TAG}=<case>; a volume already snapshotted for "
               "the case is not snapshotted again. Snapshots are evidence: rollback keeps them.")
    input_schema = _schema(_CASE)
    permissions = ("ec2:DescribeInstances", "ec2:DescribeSnapshots", "ec2:CreateSnapshot", "ec2:CreateTags",
                   "ec2:DescribeTags")
    disruptive = False
    reversible = False

    def _plan(self, ctx: ActionContext, params: dict[str, Any]) -> Plan:
        iid, instance = self._instance(ctx, params)
        case = str(params.get("CaseId") or ctx.run_id)
        existing = case_snapshots(_ec2(ctx, params), case) if instance else {}
        volumes = [{**v, "SnapshotId": existing.get(v["VolumeId"])} for v in _volumes(instance or {})]
        return Plan([f"snapshot volume {v['VolumeId']} ({v['Device']}) of instance {iid}" for v in volumes
                     if v["SnapshotId"] is None],
                    {"InstanceId": iid, "Exists": instance is not None, "CaseId": case, "Snapshots": volumes})

    def _execute(self, ctx: ActionContext, params: dict[str, Any]) -> Outcome:
        planned = self._plan(ctx, params)
        ec2 = _ec2(ctx, params)
        iid, case = planned.result["InstanceId"], planned.result["CaseId"]
        made = []
        for volume in planned.result["Snapshots"]:
            if volume["SnapshotId"] is not None:
                continue
            tags = {CASE_TAG: case, "cloudwarden:run": ctx.run_id, "cloudwarden:instance": iid,
                    "cloudwarden:device": volume["Device"], "Name": f"evidence {iid} {volume['Device']}"}
            snapshot = call("EC2", ec2.create_snapshot, VolumeId=volume["VolumeId"],
                            Description=f"cloudwarden evidence: {iid} {volume['Device']}, case {case}",
                            TagSpecifications=[{"ResourceType": "snapshot",
                                                "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}])
            volume["SnapshotId"] = snapshot["SnapshotId"]
            made.append(snapshot["SnapshotId"])
        result = {**planned.result, "Created": made}
        if planned.result["Exists"]:
            result["Evidence"] = ctx.evidence.write_json(f"ec2-{iid}-snapshots.json", {
                "instance_id": iid, "case": case, "snapshots": planned.result["Snapshots"]})
        return Outcome(planned.changes, result, {"SnapshotIds": made} if made else None)

    def verify(self, ctx: ActionContext, params: dict[str, Any], result: dict[str, Any]) -> list[str]:
        have = case_snapshots(_ec2(ctx, params), result["CaseId"])
        return [f"no snapshot of volume {v['VolumeId']} for case {result['CaseId']}" for v in result["Snapshots"]
                if v["VolumeId"] not in have]

    def rollback(self, ctx: ActionContext, undo: dict[str, Any]) -> list[str]:
        return [f"kept the evidence snapshots {', '.join(undo['SnapshotIds'])} (delete them once the case is closed)"]


# --- evidence: metadata and console output ----------------------------------------------------------------


class CaptureMetadata(InstanceAction):
    name = "ec2.capture-metadata"
    summary = ("Save the instance's description, attributes, instance-profile association, volumes and network "
               "interfaces as evidence (user data as its SHA-256 and size only: it often holds secrets).")
    input_schema = _schema()
    permissions = ("ec2:DescribeInstances", "ec2:DescribeInstanceAttribute", "ec2:DescribeVolumes",
                   "ec2:DescribeIamInstanceProfileAssociations", "ec2:DescribeNetworkInterfaces",
                   "ec2:DescribeTags")
    disruptive = False
    read_only = True

    def _plan(self, ctx: ActionContext, params: dict[str, Any]) -> Plan:
        return Plan([], self._execute(ctx, params).result)

    def _execute(self, ctx: ActionContext, params: dict[str, Any]) -> Outcome:
        iid, instance = self._instance(ctx, params)
        if instance is None:
            return Outcome([], {"InstanceId": iid, "Exists": False})
        ec2 = _ec2(ctx, params)
        attributes = {}
        for attribute in ("disableApiTermination", "instanceInitiatedShutdownBehavior"):
            found = call("EC2", ec2.describe_instance_attribute, InstanceId=iid, Attribute=attribute)
            key = attribute[0].upper() + attribute[1:]
            attributes[key] = (found.get(key) or {}).get("Value")
        user_data = call("EC2", ec2.describe_instance_attribute, InstanceId=iid, Attribute="userData")
        raw = base64.b64decode((user_data.get("UserData") or {}).get("Value") or "")
        volume_ids = [v["VolumeId"] for v in _volumes(instance)]
        volumes = call("EC2", ec2.describe_volumes, VolumeIds=volume_ids)["Volumes"] if volume_ids else []
        profiles = call("EC2", ec2.describe_iam_instance_profile_associations,
                        Filters=[{"Name": "instance-id", "Values": [iid]}])["IamInstanceProfileAssociations"]
        path = ctx.evidence.write_json(f"ec2-{iid}-metadata.json", {
            "instance": instance, "attributes": attributes, "volumes": volumes,
            "iam_instance_profile_associations": profiles,
            "user_data": {"sha256": hashlib.sha256(raw).hexdigest(), "bytes": len(raw)},
        })
        return Outcome([], {"InstanceId": iid, "Exists": True, "State": instance["State"]["Name"],
                            "PrivateIpAddress": instance.get("PrivateIpAddress"),
                            "PublicIpAddress": instance.get("PublicIpAddress"),
                            "SecurityGroups": [g["GroupId"] for g in instance.get("SecurityGroups", [])],
                            "InstanceProfile": (instance.get("IamInstanceProfile") or {}).get("Arn"),
                            "Volumes": volume_ids, "Evidence": path})


def console_text(output: str) -> str:
    """GetConsoleOutput's ``Output``: base64 as AWS sends it; text that is not base64 is kept as it is
    (moto, and some emulators, send the console text undecoded)."""
    try:
        return base64.b64decode(output, validate=True).decode("utf-8", errors="replace")
    except (binascii.Error, ValueError):
        return output


class CaptureConsoleOutput(InstanceAction):
    name = "ec2.capture-console-output"
    summary = "Save the instance's console output (the serial console's last output) as evidence."
    input_schema = _schema()
    permissions = ("ec2:GetConsoleOutput", "ec2:DescribeInstances", "ec2:DescribeTags")
    disruptive = False
    read_only = True

    def _plan(self, ctx: ActionContext, params: dict[str, Any]) -> Plan:
        return Plan([], self._execute(ctx, params).result)

    def _execute(self, ctx: ActionContext, params: dict[str, Any]) -> Outcome:
        iid, instance = self._instance(ctx, params)
        if instance is None:
            return Outcome([], {"InstanceId": iid, "Exists": False})
        found = call("EC2", _ec2(ctx, params).get_console_output, InstanceId=iid, Latest=True)
        text = console_text(found.get("Output") or "")
        path = ctx.evidence.write_json(f"ec2-{iid}-console.json", {
            "instance_id": iid, "timestamp": found.get("Timestamp"), "output": text})
        return Outcome([], {"InstanceId": iid, "Exists": True, "Lines": len(text.splitlines()), "Evidence": path})


# --- instance profile -------------------------------------------------------------------------------------


def _associations(ec2: Any, iid: str) -> list[dict[str, Any]]:
    found = call("EC2", ec2.describe_iam_instance_profile_associations,
                 Filters=[{"Name": "instance-id", "Values": [iid]}])
    return [a for a in found["IamInstanceProfileAssociations"] if a.get("State") in ("associated", "associating")]


class RemoveInstanceProfile(InstanceAction):
    name = "ec2.remove-instance-profile"
    summary = "Disassociate the instance's IAM instance profile, so its role's credentials stop being delivered."
    input_schema = _schema()
    permissions = ("ec2:DescribeIamInstanceProfileAssociations", "ec2:DisassociateIamInstanceProfile",
                   "ec2:AssociateIamInstanceProfile", "iam:PassRole", "ec2:DescribeTags")

    def _plan(self, ctx: ActionContext, params: dict[str, Any]) -> Plan:
        iid = instance_id(params, self.name)
        found = _associations(_ec2(ctx, params), iid)
        return Plan([f"remove instance profile {a['IamInstanceProfile']['Arn']} from instance {iid}" for a in found],
                    {"InstanceId": iid, "Removed": [a["IamInstanceProfile"]["Arn"] for a in found]})

    def _execute(self, ctx: ActionContext, params: dict[str, Any]) -> Outcome:
        planned = self._plan(ctx, params)
        if not planned.changes:
            return Outcome([], planned.result)
        ec2 = _ec2(ctx, params)
        for association in _associations(ec2, planned.result["InstanceId"]):
            call("EC2", ec2.disassociate_iam_instance_profile, AssociationId=association["AssociationId"])
        return Outcome(planned.changes, planned.result, {"InstanceId": planned.result["InstanceId"],
                                                          "Region": region_of(ctx, params),
                                                          "ProfileArns": planned.result["Removed"]})

    def rollback(self, ctx: ActionContext, undo: dict[str, Any]) -> list[str]:
        ec2 = ctx.client("ec2", undo.get("Region") or ctx.region)
        if _associations(ec2, undo["InstanceId"]):
            return [f"instance {undo['InstanceId']} has an instance profile again; left as it is"]
        for arn in undo["ProfileArns"][:1]:  # an instance has at most one
            call("EC2", ec2.associate_iam_instance_profile, InstanceId=undo["InstanceId"],
                 IamInstanceProfile={"Arn": arn})
        return [f"re-associated {arn} with instance {undo['InstanceId']}" for arn in undo["ProfileArns"][:1]]


# --- isolation security group -----------------------------------------------------------------------------


def isolation_group(ec2: Any, vpc_id: str, name: str) -> str | None:
    found = call("EC2", ec2.describe_security_groups,
                 Filters=[{"Name": "vpc-id", "Values": [vpc_id]}, {"Name": "group-name", "Values": [name]}])
    groups = found.get("SecurityGroups", [])
    return str(groups[0]["GroupId"]) if groups else None


def _create_isolation_group(ec2: Any, vpc_id: str, name: str) -> str:
    group = call("EC2", ec2.create_security_group, GroupName=name, VpcId=vpc_id,
                 Description="cloudwarden incident response: no inbound, no outbound",
                 TagSpecifications=[{"ResourceType": "security-group",
                                     "Tags": [{"Key": MANAGED_TAG, "Value": "true"}, {"Key": "Name", "Value": name}]}])
    group_id = str(group["GroupId"])
    rules = call("EC2", ec2.describe_security_groups, GroupIds=[group_id])["SecurityGroups"][0]
    if rules.get("IpPermissionsEgress"):  # the default allow-all outbound rule
        call("EC2", ec2.revoke_security_group_egress, GroupId=group_id, IpPermissions=rules["IpPermissionsEgress"])
    return group_id


class IsolateInstance(InstanceAction):
    name = "ec2.isolate"
    summary = (f"Replace the instance's security groups with an isolation group without rules ({ISOLATION_GROUP}, "
               "created in its VPC when missing); the previous groups are saved for rollback.")
    input_schema = _schema({"GroupName": {"type": "string", "pattern": "^[A-Za-z0-9 ._:/()#,@+=&;{}!$*-]{1,255}$"}})
    permissions = ("ec2:DescribeInstances", "ec2:DescribeSecurityGroups", "ec2:CreateSecurityGroup", "ec2:CreateTags",
                   "ec2:RevokeSecurityGroupEgress", "ec2:ModifyInstanceAttribute", "ec2:DeleteSecurityGroup",
                   "ec2:DescribeTags")

    def _plan(self, ctx: ActionContext, params: dict[str, Any]) -> Plan:
        iid, instance = self._instance(ctx, params)
        name = str(params.get("GroupName") or ISOLATION_GROUP)
        if instance is None:
            return Plan([], {"InstanceId": iid, "Exists": False, "IsolationGroup": None, "PreviousGroups": []})
        vpc_id = instance.get("VpcId")
        if not vpc_id:
            raise BadInputError(f"{self.name} parameters/InstanceId", f"instance {iid} is not in a VPC")
        group = isolation_group(_ec2(ctx, params), vpc_id, name)
        current = [g["GroupId"] for g in instance.get("SecurityGroups", [])]
        changes = []
        if group is None or current != [group]:
            if group is None:
                changes.append(f"create the security group {name} (no rules) in {vpc_id}")
            changes.append(f"replace the security groups {', '.join(current) or '(none)'} of instance {iid} "
                           f"with {group or name}")
        return Plan(changes, {"InstanceId": iid, "Exists": True, "VpcId": vpc_id, "IsolationGroup": group,
                              "PreviousGroups": current if changes else []})

    def _execute(self, ctx: ActionContext, params: dict[str, Any]) -> Outcome:
        planned = self._plan(ctx, params)
        if not planned.changes:
            return Outcome([], planned.result)
        ec2 = _ec2(ctx, params)
        name = str(params.get("GroupName") or ISOLATION_GROUP)
        group, created = planned.result["IsolationGroup"], False
        if group is None:
            group, created = _create_isolation_group(ec2, planned.result["VpcId"], name), True
        call("EC2", ec2.modify_instance_attribute, InstanceId=planned.result["InstanceId"], Groups=[group])
        result = {**planned.result, "IsolationGroup": group}
        return Outcome(planned.changes, result, {"InstanceId": planned.result["InstanceId"],
                                                 "Region": region_of(ctx, params), "IsolationGroup": group,
                                                 "CreatedGroup": created,
                                                 "PreviousGroups": planned.result["PreviousGroups"]})

    def rollback(self, ctx: ActionContext, undo: dict[str, Any]) -> list[str]:
        ec2 = ctx.client("ec2", undo.get("Region") or ctx.region)
        call("EC2", ec2.modify_instance_attribute, InstanceId=undo["InstanceId"], Groups=undo["PreviousGroups"])
        done = [f"restored the security groups {', '.join(undo['PreviousGroups'])} of instance {undo['InstanceId']}"]
        if undo["CreatedGroup"]:
            try:
                ec2.delete_security_group(GroupId=undo["IsolationGroup"])
                done.append(f"deleted the isolation group {undo['IsolationGroup']}")
            except ClientError as exc:
                if error_code(exc) not in ("DependencyViolation", "InvalidGroup.NotFound"):
                    raise aws_error(exc, "EC2") from None
                done.append(f"kept the isolation group {undo['IsolationGroup']} ({error_code(exc)})")
        return done


# --- stop -------------------------------------------------------------------------------------------------


class StopInstance(InstanceAction):
    name = "ec2.stop-instance"
    summary = "Stop the instance (its EBS volumes and snapshots stay; memory is lost, so evidence comes first)."
    input_schema = _schema()
    permissions = ("ec2:DescribeInstances", "ec2:StopInstances", "ec2:StartInstances", "ec2:DescribeTags")

    def _plan(self, ctx: ActionContext, params: dict[str, Any]) -> Plan:
        iid, instance = self._instance(ctx, params)
        state = (instance or {}).get("State", {}).get("Name")
        changes = [f"stop instance {iid} ({state})"] if state in ("pending", "running") else []
        return Plan(changes, {"InstanceId": iid, "Exists": instance is not None, "State": state})

    def _execute(self, ctx: ActionContext, params: dict[str, Any]) -> Outcome:
        planned = self._plan(ctx, params)
        if not planned.changes:
            return Outcome([], planned.result)
        call("EC2", _ec2(ctx, params).stop_instances, InstanceIds=[planned.result["InstanceId"]])
        return Outcome(planned.changes, planned.result, {"InstanceId": planned.result["InstanceId"],
                                                          "Region": region_of(ctx, params)})

    def rollback(self, ctx: ActionContext, undo: dict[str, Any]) -> list[str]:
        call("EC2", ctx.client("ec2", undo.get("Region") or ctx.region).start_instances,
             InstanceIds=[undo["InstanceId"]])
        return [f"started instance {undo['InstanceId']} again"]


ACTIONS: Final[tuple[Action, ...]] = (
    TagInstance(), EnableTerminationProtection(), KeepVolumes(), SnapshotVolumes(), CaptureMetadata(),
    CaptureConsoleOutput(), RemoveInstanceProfile(), IsolateInstance(), StopInstance(),
)
