"""IAM containment actions: deactivate keys, revoke sessions, quarantine, delete the console password,
detach administrator policies (and lift the quarantine, for recovery).

Each reads the principal's current state first and changes only what differs, so a second run is a
no-op, and records exactly what it changed so rollback restores that and nothing else. A principal that
no longer exists is "nothing to do", not an error: eradication may already have happened.
"""

from __future__ import annotations

import json
import urllib.parse
from datetime import datetime
from typing import Any, Final

from botocore.exceptions import ClientError

from cloudwarden.respond.actions.base import (
    Action,
    ActionContext,
    Outcome,
    Plan,
    Principal,
    ResourceKey,
    aws_error,
    error_code,
    principal_schema,
)

REVOKE_POLICY_NAME: Final = "cloudwarden-revoke-older-sessions"
QUARANTINE_POLICY_NAME: Final = "cloudwarden-quarantine"
QUARANTINE_PATH: Final = "/cloudwarden/"
ADMIN_POLICY_ARNS: Final = frozenset({"arn:aws:iam::aws:policy/AdministratorAccess"})
DENY_ALL: Final[dict[str, Any]] = {
    "Version": "2012-10-17",
    "Statement": [{"Sid": "CloudwardenQuarantine", "Effect": "Deny", "Action": "*", "Resource": "*"}],
}


def _principal(ctx: ActionContext, params: dict[str, Any], action: str) -> Principal:
    return Principal.from_params(params, ctx.account_id, f"{action} parameters")


def _call(function: Any, **kwargs: Any) -> Any:
    try:
        return function(**kwargs)
    except ClientError as exc:
        raise aws_error(exc) from None


def _document(value: Any) -> dict[str, Any]:
    """A policy document as IAM returns it: a dict (boto3 decoded it) or URL-encoded JSON."""
    if isinstance(value, dict):
        return value
    return dict(json.loads(urllib.parse.unquote(str(value))))


def _attached(iam: Any, who: Principal) -> list[str] | None:
    """ARNs of the managed policies attached to ``who``; None when the principal does not exist."""
    operation = "list_attached_user_policies" if who.kind == "user" else "list_attached_role_policies"
    key = "UserName" if who.kind == "user" else "RoleName"
    arns: list[str] = []
    try:
        for page in iam.get_paginator(operation).paginate(**{key: who.name}):
            arns += [p["PolicyArn"] for p in page["AttachedPolicies"]]
    except ClientError as exc:
        if error_code(exc) == "NoSuchEntity":
            return None
        raise aws_error(exc) from None
    return arns


def _attach(iam: Any, who: Principal, policy_arn: str) -> None:
    if who.kind == "user":
        _call(iam.attach_user_policy, UserName=who.name, PolicyArn=policy_arn)
    else:
        _call(iam.attach_role_policy, RoleName=who.name, PolicyArn=policy_arn)


def _detach(iam: Any, who: Principal, policy_arn: str) -> bool:
    """Detach; False when it was not attached (or the principal is gone)."""
    try:
        if who.kind == "user":
            iam.detach_user_policy(UserName=who.name, PolicyArn=policy_arn)
        else:
            iam.detach_role_policy(RoleName=who.name, PolicyArn=policy_arn)
    except ClientError as exc:
        if error_code(exc) == "NoSuchEntity":
            return False
        raise aws_error(exc) from None
    return True


# --- deactivate access keys ------------------------------------------------------------------------------


class DeactivateAccessKeys(Action):
    name = "iam.deactivate-access-key"
    summary = "Set a user's access keys to Inactive: every active key, or only AccessKeyIds."
    input_schema = principal_schema(
        {"AccessKeyIds": {"type": "array", "items": {"type": "string", "pattern": "^[A-Z0-9]{16,128}$"}}},
        users_only=True,
    )
    permissions = ("iam:ListAccessKeys", "iam:UpdateAccessKey")

    def targets(self, params: dict[str, Any]) -> list[ResourceKey]:
        return [Principal.from_params(params, "000000000000", self.name).key]

    def _keys(self, ctx: ActionContext, who: Principal) -> list[dict[str, Any]] | None:
        if who.kind != "user":
            return []  # roles have no access keys
        try:
            pages = ctx.client("iam").get_paginator("list_access_keys").paginate(UserName=who.name)
            return [key for page in pages for key in page["AccessKeyMetadata"]]
        except ClientError as exc:
            if error_code(exc) == "NoSuchEntity":
                return None
            raise aws_error(exc) from None

    def plan(self, ctx: ActionContext, params: dict[str, Any]) -> Plan:
        who = _principal(ctx, params, self.name)
        keys = self._keys(ctx, who)
        wanted = params.get("AccessKeyIds")
        present = [k for k in keys or [] if wanted is None or k["AccessKeyId"] in wanted]
        active = [k["AccessKeyId"] for k in present if k["Status"] == "Active"]
        result = {
            "UserName": who.name,
            "Exists": keys is not None,
            "Deactivated": active,
            "AlreadyInactive": [k["AccessKeyId"] for k in present if k["Status"] != "Active"],
            "NotFound": [k for k in wanted or [] if k not in {p["AccessKeyId"] for p in present}],
        }
        return Plan([f"deactivate access key {key} of user {who.name}" for key in active], result)

    def execute(self, ctx: ActionContext, params: dict[str, Any]) -> Outcome:
        planned = self.plan(ctx, params)
        iam = ctx.client("iam")
        user = planned.result["UserName"]
        for key in planned.result["Deactivated"]:
            _call(iam.update_access_key, UserName=user, AccessKeyId=key, Status="Inactive")
        changed = list(planned.result["Deactivated"])
        undo = {"UserName": user, "AccessKeyIds": changed} if changed else None
        return Outcome(planned.changes, planned.result, undo)

    def verify(self, ctx: ActionContext, params: dict[str, Any], result: dict[str, Any]) -> list[str]:
        keys = {k["AccessKeyId"]: k["Status"] for k in self._keys(ctx, _principal(ctx, params, self.name)) or []}
        expected = [*result["Deactivated"], *result["AlreadyInactive"]]
        return [f"access key {k} of {result['UserName']} is {keys[k]}" for k in expected if keys.get(k) == "Active"]

    def rollback(self, ctx: ActionContext, undo: dict[str, Any]) -> list[str]:
        iam = ctx.client("iam")
        done = []
        for key in undo["AccessKeyIds"]:
            try:
                iam.update_access_key(UserName=undo["UserName"], AccessKeyId=key, Status="Active")
            except ClientError as exc:
                if error_code(exc) != "NoSuchEntity":
                    raise aws_error(exc) from None
                done.append(f"access key {key} of {undo['UserName']} no longer exists; not reactivated")
                continue
            done.append(f"reactivated access key {key} of {undo['UserName']}")
        return done


# --- revoke active sessions -------------------------------------------------------------------------------


def _revoke_document(cutoff: str) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "CloudwardenRevokeOlderSessions", "Effect": "Deny", "Action": "*", "Resource": "*",
            "Condition": {"DateLessThan": {"aws:TokenIssueTime": cutoff}},
        }],
    }


def _cutoff(document: dict[str, Any] | None) -> datetime | None:
    try:
        value = document["Statement"][0]["Condition"]["DateLessThan"]["aws:TokenIssueTime"]  # type: ignore[index]
        return datetime.fromisoformat(str(value))
    except (KeyError, IndexError, TypeError, ValueError):
        return None


class RevokeSessions(Action):
    name = "iam.revoke-sessions"
    summary = ("Deny everything to temporary credentials issued before NotBefore (an inline policy on "
               "aws:TokenIssueTime), as the console's 'Revoke active sessions' does.")
    input_schema = principal_schema({"NotBefore": {"type": "string", "minLength": 20}})
    permissions = ("iam:GetUserPolicy", "iam:PutUserPolicy", "iam:DeleteUserPolicy",
                   "iam:GetRolePolicy", "iam:PutRolePolicy", "iam:DeleteRolePolicy")

    def targets(self, params: dict[str, Any]) -> list[ResourceKey]:
        return [Principal.from_params(params, "000000000000", self.name).key]

    def _current(self, ctx: ActionContext, who: Principal) -> tuple[bool, dict[str, Any] | None]:
        """(principal exists, the current revocation policy or None)."""
        iam = ctx.client("iam")
        user = who.kind == "user"
        key = {"UserName" if user else "RoleName": who.name}
        try:
            (iam.get_user if user else iam.get_role)(**key)
        except ClientError as exc:
            if error_code(exc) == "NoSuchEntity":
                return False, None
            raise aws_error(exc) from None
        try:
            found = (iam.get_user_policy if user else iam.get_role_policy)(**key, PolicyName=REVOKE_POLICY_NAME)
        except ClientError as exc:
            if error_code(exc) == "NoSuchEntity":
                return True, None
            raise aws_error(exc) from None
        return True, _document(found["PolicyDocument"])

    def _wanted(self, ctx: ActionContext, params: dict[str, Any]) -> datetime:
        return datetime.fromisoformat(params["NotBefore"]) if "NotBefore" in params else ctx.started_at

    def plan(self, ctx: ActionContext, params: dict[str, Any]) -> Plan:
        who = _principal(ctx, params, self.name)
        exists, current = self._current(ctx, who)
        wanted = self._wanted(ctx, params)
        have = _cutoff(current)
        needed = exists and (have is None or have < wanted)
        cutoff = wanted.isoformat().replace("+00:00", "Z")
        changes = [f"deny {who.kind} {who.name} every request made with credentials issued before {cutoff}"] \
            if needed else []
        return Plan(changes, {"Principal": who.arn, "Exists": exists, "PolicyName": REVOKE_POLICY_NAME,
                              "NotBefore": cutoff if needed or have is None else have.isoformat()})

    def execute(self, ctx: ActionContext, params: dict[str, Any]) -> Outcome:
        who = _principal(ctx, params, self.name)
        planned = self.plan(ctx, params)
        if not planned.changes:
            return Outcome([], planned.result)
        _, previous = self._current(ctx, who)
        document = json.dumps(_revoke_document(planned.result["NotBefore"]))
        iam = ctx.client("iam")
        if who.kind == "user":
            _call(iam.put_user_policy, UserName=who.name, PolicyName=REVOKE_POLICY_NAME, PolicyDocument=document)
        else:
            _call(iam.put_role_policy, RoleName=who.name, PolicyName=REVOKE_POLICY_NAME, PolicyDocument=document)
        return Outcome(planned.changes, planned.result, {"Kind": who.kind, "Name": who.name, "Previous": previous})

    def verify(self, ctx: ActionContext, params: dict[str, Any], result: dict[str, Any]) -> list[str]:
        if not result["Exists"]:
            return []
        _, current = self._current(ctx, _principal(ctx, params, self.name))
        have = _cutoff(current)
        if have is None or have < self._wanted(ctx, params):
            return [f"{result['Principal']} has no session revocation policy up to {result['NotBefore']}"]
        return []

    def rollback(self, ctx: ActionContext, undo: dict[str, Any]) -> list[str]:
        iam = ctx.client("iam")
        user = undo["Kind"] == "user"
        key = {"UserName" if user else "RoleName": undo["Name"], "PolicyName": REVOKE_POLICY_NAME}
        if undo["Previous"] is not None:
            put = iam.put_user_policy if user else iam.put_role_policy
            _call(put, **key, PolicyDocument=json.dumps(undo["Previous"]))
            return [f"restored the earlier session revocation policy of {undo['Kind']} {undo['Name']}"]
        try:
            (iam.delete_user_policy if user else iam.delete_role_policy)(**key)
        except ClientError as exc:
            if error_code(exc) != "NoSuchEntity":
                raise aws_error(exc) from None
        return [f"removed the session revocation policy of {undo['Kind']} {undo['Name']}"]


# --- quarantine --------------------------------------------------------------------------------------------


def quarantine_arn(account_id: str) -> str:
    return f"arn:aws:iam::{account_id}:policy{QUARANTINE_PATH}{QUARANTINE_POLICY_NAME}"


def _policy_exists(iam: Any, arn: str) -> bool:
    try:
        iam.get_policy(PolicyArn=arn)
    except ClientError as exc:
        if error_code(exc) == "NoSuchEntity":
            return False
        raise aws_error(exc) from None
    return True


class AttachQuarantinePolicy(Action):
    name = "iam.attach-quarantine-policy"
    summary = (f"Attach a deny-all managed policy ({QUARANTINE_PATH}{QUARANTINE_POLICY_NAME}, created when "
               "missing) to a user or role.")
    input_schema = principal_schema()
    permissions = ("iam:GetPolicy", "iam:CreatePolicy", "iam:TagPolicy", "iam:ListAttachedUserPolicies",
                   "iam:ListAttachedRolePolicies", "iam:AttachUserPolicy", "iam:AttachRolePolicy",
                   "iam:DetachUserPolicy", "iam:DetachRolePolicy", "iam:ListEntitiesForPolicy", "iam:DeletePolicy")

    def targets(self, params: dict[str, Any]) -> list[ResourceKey]:
        return [Principal.from_params(params, "000000000000", self.name).key]

    def plan(self, ctx: ActionContext, params: dict[str, Any]) -> Plan:
        who = _principal(ctx, params, self.name)
        iam = ctx.client("iam")
        arn = quarantine_arn(ctx.account_id)
        attached = _attached(iam, who)
        changes = []
        if attached is not None and arn not in attached:
            if not _policy_exists(iam, arn):
                changes.append(f"create the deny-all policy {arn}")
            changes.append(f"attach {arn} to {who.kind} {who.name}")
        return Plan(changes, {"Principal": who.arn, "Exists": attached is not None, "PolicyArn": arn})

    def execute(self, ctx: ActionContext, params: dict[str, Any]) -> Outcome:
        who = _principal(ctx, params, self.name)
        planned = self.plan(ctx, params)
        if not planned.changes:
            return Outcome([], planned.result)
        iam = ctx.client("iam")
        arn = planned.result["PolicyArn"]
        created = False
        if not _policy_exists(iam, arn):
            _call(iam.create_policy, PolicyName=QUARANTINE_POLICY_NAME, Path=QUARANTINE_PATH,
                  PolicyDocument=json.dumps(DENY_ALL), Description="cloudwarden incident response: deny everything",
                  Tags=[{"Key": "cloudwarden:managed", "Value": "true"}])
            created = True
        _attach(iam, who, arn)
        return Outcome(planned.changes, planned.result,
                       {"Kind": who.kind, "Name": who.name, "PolicyArn": arn, "CreatedPolicy": created})

    def verify(self, ctx: ActionContext, params: dict[str, Any], result: dict[str, Any]) -> list[str]:
        attached = _attached(ctx.client("iam"), _principal(ctx, params, self.name))
        if result["Exists"] and (attached is None or result["PolicyArn"] not in attached):
            return [f"{result['PolicyArn']} is not attached to {result['Principal']}"]
        return []

    def rollback(self, ctx: ActionContext, undo: dict[str, Any]) -> list[str]:
        iam = ctx.client("iam")
        who = Principal(undo["Kind"], undo["Name"], "")
        done = [f"detached {undo['PolicyArn']} from {who.kind} {who.name}" if _detach(iam, who, undo["PolicyArn"])
                else f"{undo['PolicyArn']} was no longer attached to {who.kind} {who.name}"]
        if undo.get("CreatedPolicy") and _policy_exists(iam, undo["PolicyArn"]):
            entities = _call(iam.list_entities_for_policy, PolicyArn=undo["PolicyArn"])
            if not any(entities.get(k) for k in ("PolicyUsers", "PolicyRoles", "PolicyGroups")):
                _call(iam.delete_policy, PolicyArn=undo["PolicyArn"])
                done.append(f"deleted {undo['PolicyArn']}, which this run created")
        return done


class RemoveQuarantinePolicy(Action):
    name = "iam.remove-quarantine-policy"
    summary = "Detach the deny-all quarantine policy from a user or role (recovery)."
    input_schema = principal_schema()
    permissions = ("iam:ListAttachedUserPolicies", "iam:ListAttachedRolePolicies", "iam:DetachUserPolicy",
                   "iam:DetachRolePolicy", "iam:AttachUserPolicy", "iam:AttachRolePolicy")

    def targets(self, params: dict[str, Any]) -> list[ResourceKey]:
        return [Principal.from_params(params, "000000000000", self.name).key]

    def plan(self, ctx: ActionContext, params: dict[str, Any]) -> Plan:
        who = _principal(ctx, params, self.name)
        arn = quarantine_arn(ctx.account_id)
        attached = _attached(ctx.client("iam"), who) or []
        changes = [f"detach {arn} from {who.kind} {who.name}"] if arn in attached else []
        return Plan(changes, {"Principal": who.arn, "PolicyArn": arn, "Detached": bool(changes)})

    def execute(self, ctx: ActionContext, params: dict[str, Any]) -> Outcome:
        who = _principal(ctx, params, self.name)
        planned = self.plan(ctx, params)
        if not planned.changes:
            return Outcome([], planned.result)
        _detach(ctx.client("iam"), who, planned.result["PolicyArn"])
        return Outcome(planned.changes, planned.result,
                       {"Kind": who.kind, "Name": who.name, "PolicyArn": planned.result["PolicyArn"]})

    def verify(self, ctx: ActionContext, params: dict[str, Any], result: dict[str, Any]) -> list[str]:
        attached = _attached(ctx.client("iam"), _principal(ctx, params, self.name)) or []
        return [f"{result['PolicyArn']} is still attached to {result['Principal']}"] \
            if result["PolicyArn"] in attached else []

    def rollback(self, ctx: ActionContext, undo: dict[str, Any]) -> list[str]:
        _attach(ctx.client("iam"), Principal(undo["Kind"], undo["Name"], ""), undo["PolicyArn"])
        return [f"re-attached {undo['PolicyArn']} to {undo['Kind']} {undo['Name']}"]


# --- console password ----------------------------------------------------------------------------------------


class DeleteLoginProfile(Action):
    name = "iam.delete-login-profile"
    summary = "Delete a user's console password (login profile). Cannot be rolled back: AWS never returns it."
    input_schema = principal_schema(users_only=True)
    permissions = ("iam:GetLoginProfile", "iam:DeleteLoginProfile")
    reversible = False

    def targets(self, params: dict[str, Any]) -> list[ResourceKey]:
        return [Principal.from_params(params, "000000000000", self.name).key]

    def plan(self, ctx: ActionContext, params: dict[str, Any]) -> Plan:
        who = _principal(ctx, params, self.name)
        try:
            ctx.client("iam").get_login_profile(UserName=who.name)
        except ClientError as exc:
            if error_code(exc) != "NoSuchEntity":
                raise aws_error(exc) from None
            return Plan([], {"UserName": who.name, "Deleted": False})
        return Plan([f"delete the console password of user {who.name}"], {"UserName": who.name, "Deleted": True})

    def execute(self, ctx: ActionContext, params: dict[str, Any]) -> Outcome:
        planned = self.plan(ctx, params)
        if planned.changes:
            _call(ctx.client("iam").delete_login_profile, UserName=planned.result["UserName"])
            return Outcome(planned.changes, planned.result, {"UserName": planned.result["UserName"]})
        return Outcome([], planned.result)

    def verify(self, ctx: ActionContext, params: dict[str, Any], result: dict[str, Any]) -> list[str]:
        return self.plan(ctx, params).changes

    def rollback(self, ctx: ActionContext, undo: dict[str, Any]) -> list[str]:
        return [f"not restored: the console password of user {undo['UserName']} cannot be recovered "
                "(set a new one with iam:CreateLoginProfile if the user needs console access)"]


# --- administrator policies ----------------------------------------------------------------------------------


def _grants_everything(document: dict[str, Any]) -> bool:
    statements = document.get("Statement", [])
    for statement in statements if isinstance(statements, list) else [statements]:
        actions = statement.get("Action", [])
        resources = statement.get("Resource", [])
        actions = actions if isinstance(actions, list) else [actions]
        resources = resources if isinstance(resources, list) else [resources]
        if statement.get("Effect") == "Allow" and "*" in actions and "*" in resources \
                and not statement.get("Condition"):
            return True
    return False


class DetachAdminPolicy(Action):
    name = "iam.detach-admin-policy"
    summary = ("Detach administrator managed policies from a user or role: PolicyArns, or else "
               "AdministratorAccess and any customer policy allowing * on *.")
    input_schema = principal_schema({"PolicyArns": {"type": "array", "items": {"type": "string", "pattern": "^arn:"}}})
    permissions = ("iam:ListAttachedUserPolicies", "iam:ListAttachedRolePolicies", "iam:GetPolicy",
                   "iam:GetPolicyVersion", "iam:DetachUserPolicy", "iam:DetachRolePolicy", "iam:AttachUserPolicy",
                   "iam:AttachRolePolicy")

    def targets(self, params: dict[str, Any]) -> list[ResourceKey]:
        return [Principal.from_params(params, "000000000000", self.name).key]

    def _is_admin(self, iam: Any, arn: str, account_id: str) -> bool:
        if arn in ADMIN_POLICY_ARNS:
            return True
        if f":{account_id}:" not in arn:
            return False  # other AWS managed policies are not read (there are over a thousand)
        policy = _call(iam.get_policy, PolicyArn=arn)["Policy"]
        version = _call(iam.get_policy_version, PolicyArn=arn, VersionId=policy["DefaultVersionId"])
        return _grants_everything(_document(version["PolicyVersion"]["Document"]))

    def plan(self, ctx: ActionContext, params: dict[str, Any]) -> Plan:
        who = _principal(ctx, params, self.name)
        iam = ctx.client("iam")
        attached = _attached(iam, who) or []
        wanted = params.get("PolicyArns")
        chosen = [a for a in attached
                  if (a in wanted if wanted is not None else self._is_admin(iam, a, ctx.account_id))]
        return Plan([f"detach {arn} from {who.kind} {who.name}" for arn in chosen],
                    {"Principal": who.arn, "Detached": chosen})

    def execute(self, ctx: ActionContext, params: dict[str, Any]) -> Outcome:
        who = _principal(ctx, params, self.name)
        planned = self.plan(ctx, params)
        iam = ctx.client("iam")
        detached = [arn for arn in planned.result["Detached"] if _detach(iam, who, arn)]
        undo = {"Kind": who.kind, "Name": who.name, "PolicyArns": detached} if detached else None
        return Outcome(planned.changes, planned.result, undo)

    def verify(self, ctx: ActionContext, params: dict[str, Any], result: dict[str, Any]) -> list[str]:
        attached = _attached(ctx.client("iam"), _principal(ctx, params, self.name)) or []
        return [f"{arn} is still attached to {result['Principal']}" for arn in result["Detached"] if arn in attached]

    def rollback(self, ctx: ActionContext, undo: dict[str, Any]) -> list[str]:
        who = Principal(undo["Kind"], undo["Name"], "")
        for arn in undo["PolicyArns"]:
            _attach(ctx.client("iam"), who, arn)
        return [f"re-attached {arn} to {who.kind} {who.name}" for arn in undo["PolicyArns"]]


ACTIONS: Final[tuple[Action, ...]] = (
    DeactivateAccessKeys(), RevokeSessions(), AttachQuarantinePolicy(), RemoveQuarantinePolicy(),
    DeleteLoginProfile(), DetachAdminPolicy(),
)
