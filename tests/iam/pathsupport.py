"""Hand-built escalation models for the path tests: snapshot documents in the inventory's shape
(``notes/snapshot_contract.md``), read by the real AccessModel, so the tests exercise the same code a scan feeds."""

from __future__ import annotations

from typing import Any

from cloudwarden.iam.paths import EscalationModel, Workload, model_from_documents

ACCT = "111111111111"
ADMIN = [{"Effect": "Allow", "Action": "*", "Resource": "*"}]
HARMLESS = [{"Effect": "Allow", "Action": "s3:ListAllMyBuckets", "Resource": "*"}]


def doc(statements: list[dict[str, Any]]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": statements}


def allow(actions: list[str], resource: str = "*") -> list[dict[str, Any]]:
    return [{"Effect": "Allow", "Action": actions, "Resource": resource}] if actions else []


def trust(principal: dict[str, Any]) -> dict[str, Any]:
    return doc([{"Effect": "Allow", "Principal": principal, "Action": "sts:AssumeRole"}])


class Builder:
    """Collects snapshot documents for one account (``ACCT``) and turns them into an EscalationModel."""

    def __init__(self) -> None:
        self.docs: list[dict[str, Any]] = []
        self.workloads: list[Workload] = []
        self.members: dict[str, list[str]] = {}

    def _add(self, rtype: str, arn: str, name: str, data: dict[str, Any], calls: dict[str, Any] | None = None
             ) -> str:
        self.docs.append({"arn": arn, "type": rtype, "account": ACCT, "region": "us-east-1", "name": name,
                          "tags": {}, "data": data, "calls": calls or {}})
        return arn

    def policy(self, name: str, statements: list[dict[str, Any]]) -> str:
        arn = f"arn:aws:iam::{ACCT}:policy/{name}"
        return self._add("AwsIamPolicy", arn, name, {
            "PolicyName": name, "Arn": arn, "DefaultVersionId": "v1",
            "PolicyVersionList": [{"VersionId": "v1", "IsDefaultVersion": True, "Document": doc(statements)}]})

    def _attached(self, managed: list[str]) -> list[dict[str, str]]:
        return [{"PolicyArn": m, "PolicyName": m.rsplit("/", 1)[-1]} for m in managed]

    def user(self, name: str, inline: list[dict[str, Any]] | None = None, *, managed: list[str] | None = None,
             groups: list[str] | None = None, boundary: str | None = None) -> str:
        data: dict[str, Any] = {
            "UserName": name, "Path": "/", "GroupList": groups or [], "AttachedManagedPolicies":
                self._attached(managed or []),
            "UserPolicyList": [{"PolicyName": "inline", "PolicyDocument": doc(inline)}] if inline else [],
        }
        if boundary:
            data["PermissionsBoundary"] = {"PermissionsBoundaryArn": boundary}
        return self._add("AwsIamUser", f"arn:aws:iam::{ACCT}:user/{name}", name, data)

    def role(self, name: str, inline: list[dict[str, Any]] | None = None, *, trusts: dict[str, Any] | None = None,
             managed: list[str] | None = None, boundary: str | None = None, instance_profile: bool = True) -> str:
        arn = f"arn:aws:iam::{ACCT}:role/{name}"
        data: dict[str, Any] = {
            "RoleName": name, "Path": "/", "Arn": arn,
            "AssumeRolePolicyDocument": trust(trusts or {"Service": "ec2.amazonaws.com"}),
            "AttachedManagedPolicies": self._attached(managed or []),
            "RolePolicyList": [{"PolicyName": "inline", "PolicyDocument": doc(inline)}] if inline else [],
            "InstanceProfileList": [{"Arn": f"arn:aws:iam::{ACCT}:instance-profile/{name}",
                                     "InstanceProfileName": name}] if instance_profile else [],
        }
        if boundary:
            data["PermissionsBoundary"] = {"PermissionsBoundaryArn": boundary}
        return self._add("AwsIamRole", arn, name, data)

    def group(self, name: str, inline: list[dict[str, Any]] | None = None, *, managed: list[str] | None = None
              ) -> str:
        return self._add("AwsIamGroup", f"arn:aws:iam::{ACCT}:group/{name}", name, {
            "GroupName": name, "AttachedManagedPolicies": self._attached(managed or []),
            "GroupPolicyList": [{"PolicyName": "inline", "PolicyDocument": doc(inline)}] if inline else []})

    def workload(self, kind: str, role_arn: str | None) -> str:
        service = kind.split("-", 1)[0]
        arn = f"arn:aws:{service}:us-east-1:{ACCT}:{kind}/target"
        self.workloads.append(Workload(kind=kind, arn=arn, region="us-east-1", role_arn=role_arn))
        return arn

    def scp(self, statements: list[dict[str, Any]]) -> None:
        """Put ACCT in an organisation (management account elsewhere) with FullAWSAccess at the root and on the
        account, plus an SCP on the account holding ``statements``."""
        self.docs.append({"arn": "arn:aws:organizations::999999999999:organization/o-test",
                          "type": "AwsOrganizationsOrganization", "account": "999999999999",
                          "region": "us-east-1", "name": "o-test", "tags": {},
                          "data": {"Id": "o-test", "MasterAccountId": "999999999999"},
                          "calls": {"ListRoots": {"Roots": [{"Id": "r-root", "PolicyTypes": [
                              {"Type": "SERVICE_CONTROL_POLICY", "Status": "ENABLED"}]}]}}})
        self.docs.append({"arn": f"arn:aws:organizations::999999999999:account/o-test/{ACCT}",
                          "type": "AwsOrganizationsAccount", "account": "999999999999", "region": "us-east-1",
                          "name": ACCT, "tags": {}, "data": {"Id": ACCT, "ParentId": "r-root"}, "calls": {}})
        full = doc([{"Effect": "Allow", "Action": "*", "Resource": "*"}])
        for name, document, targets, managed in (
                ("FullAWSAccess", full, ["r-root", ACCT], True), ("deny", doc(statements), [ACCT], False)):
            self.docs.append({"arn": f"arn:aws:organizations::999999999999:policy/o-test/{name}",
                              "type": "AwsOrganizationsPolicy", "account": "999999999999", "region": "us-east-1",
                              "name": name, "tags": {},
                              "data": {"Type": "SERVICE_CONTROL_POLICY", "Name": name, "AwsManaged": managed},
                              "calls": {"DescribePolicy": {"PolicyDocument": document},
                                        "ListTargetsForPolicy": {"Targets": [{"TargetId": t} for t in targets]}}})

    def model(self) -> EscalationModel:
        return model_from_documents(self.docs, workloads=self.workloads, regions=["us-east-1"])
