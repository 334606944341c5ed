"""Benchmark: `who-can` over one account with 1,000 principals (goal: under 10 seconds).

Generates snapshot documents (users in groups, roles with trust policies and permissions boundaries, a mix of
managed and inline policies with conditions, an organisation with SCP levels, a bucket policy), builds the access
model from them and times the model build, one exact who-can and a wildcard who-can. Prints the figures.

    .venv/bin/python bench/iam_who_can.py [--principals 1000]
"""

from __future__ import annotations

import argparse
import random
import time
from typing import Any

from cloudwarden.iam.access import who_can
from cloudwarden.iam.snapshot import AccessModel

ACCT, MGMT = "222222222222", "123456789012"
BUCKET = "bench-data-222222222222"
SERVICES = ("s3", "ec2", "dynamodb", "sqs", "lambda", "kms", "logs", "cloudwatch")


def _doc(type_: str, arn: str, name: str, data: dict[str, Any], account: str = ACCT,
         calls: dict[str, Any] | None = None, tags: dict[str, str] | None = None) -> dict[str, Any]:
    return {"arn": arn, "type": type_, "account": account, "region": "us-east-1", "name": name,
            "tags": tags or {}, "data": data, "calls": calls or {}}


def _policy(rng: random.Random, i: int) -> dict[str, Any]:
    statements: list[dict[str, Any]] = []
    for j in range(rng.randint(2, 6)):
        svc = rng.choice(SERVICES)
        action = rng.choice([f"{svc}:Get*", f"{svc}:List*", f"{svc}:Describe*", f"{svc}:*", f"{svc}:Put*"])
        st: dict[str, Any] = {"Sid": f"S{j}", "Effect": rng.choice(["Allow"] * 5 + ["Deny"]), "Action": action,
                              "Resource": rng.choice(["*", f"arn:aws:s3:::{BUCKET}/team-{i % 20}/*",
                                                      f"arn:aws:{svc}:us-east-1:{ACCT}:*"])}
        if rng.random() < 0.3:
            st["Condition"] = {"IpAddress": {"aws:SourceIp": ["10.0.0.0/8", "192.0.2.0/24"]}}
        if rng.random() < 0.2:
            st["Condition"] = {"StringEquals": {"aws:PrincipalTag/team": f"t{i % 7}"}}
        statements.append(st)
    return {"Version": "2012-10-17", "Statement": statements}


def documents(principals: int, seed: int = 7) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    docs: list[dict[str, Any]] = []
    managed = []
    for k in range(30):
        arn = f"arn:aws:iam::{ACCT}:policy/managed-{k}"
        managed.append(arn)
        docs.append(_doc("AwsIamPolicy", arn, f"managed-{k}", {
            "Arn": arn, "DefaultVersionId": "v1",
            "PolicyVersionList": [{"VersionId": "v1", "IsDefaultVersion": True, "Document": _policy(rng, k)}]}))
    boundary = f"arn:aws:iam::{ACCT}:policy/boundary"
    docs.append(_doc("AwsIamPolicy", boundary, "boundary", {
        "Arn": boundary, "DefaultVersionId": "v1", "PolicyVersionList": [{"VersionId": "v1", "IsDefaultVersion": True,
        "Document": {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["s3:*", "logs:*"],
                                                              "Resource": "*"}]}}]}))
    for g in range(10):
        docs.append(_doc("AwsIamGroup", f"arn:aws:iam::{ACCT}:group/g{g}", f"g{g}", {
            "GroupName": f"g{g}", "GroupPolicyList": [{"PolicyName": "inline", "PolicyDocument": _policy(rng, g)}],
            "AttachedManagedPolicies": [{"PolicyArn": rng.choice(managed)}]}))
    for i in range(principals):
        attached = [{"PolicyArn": arn} for arn in rng.sample(managed, rng.randint(0, 3))]
        inline = [{"PolicyName": f"p{i}", "PolicyDocument": _policy(rng, i)}] if rng.random() < 0.5 else []
        bnd = {"PermissionsBoundaryArn": boundary} if rng.random() < 0.2 else None
        tags = {"team": f"t{i % 7}"}
        if i % 2 == 0:
            arn = f"arn:aws:iam::{ACCT}:user/u{i}"
            docs.append(_doc("AwsIamUser", arn, f"u{i}", {
                "UserName": f"u{i}", "UserPolicyList": inline, "AttachedManagedPolicies": attached,
                "GroupList": [f"g{i % 10}"], "PermissionsBoundary": bnd}, tags=tags))
        else:
            arn = f"arn:aws:iam::{ACCT}:role/r{i}"
            trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                             "Principal": {"AWS": f"arn:aws:iam::{ACCT}:root"}}]}
            docs.append(_doc("AwsIamRole", arn, f"r{i}", {
                "RoleName": f"r{i}", "RolePolicyList": inline, "AttachedManagedPolicies": attached,
                "AssumeRolePolicyDocument": trust, "PermissionsBoundary": bnd}, tags=tags))
    bucket_policy = {"Version": "2012-10-17", "Statement": [
        {"Sid": "Partner", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::999988887777:root"},
         "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{BUCKET}/shared/*"},
        {"Sid": "TLS", "Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": f"arn:aws:s3:::{BUCKET}/*",
         "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]}
    docs.append(_doc("AwsS3Bucket", f"arn:aws:s3:::{BUCKET}", BUCKET, {"Name": BUCKET},
                     calls={"GetBucketPolicy": {"PolicyDocument": bucket_policy}}))
    # organisation: root -> OU -> account, FullAWSAccess everywhere plus one deny
    full = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
    deny = {"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "s3:DeleteBucket", "Resource": "*"}]}
    docs.append(_doc("AwsOrganizationsOrganization", "arn:aws:organizations::123456789012:organization/o-bench",
                     "o-bench", {"Id": "o-bench", "MasterAccountId": MGMT}, account=MGMT,
                     calls={"ListRoots": {"Roots": [{"Id": "r-1", "PolicyTypes": [
                         {"Type": "SERVICE_CONTROL_POLICY", "Status": "ENABLED"}]}]}}))
    docs.append(_doc("AwsOrganizationsOrganizationalUnit", "arn:ou", "Workloads",
                     {"Id": "ou-1", "ParentId": "r-1"}, account=MGMT))
    docs.append(_doc("AwsOrganizationsAccount", "arn:acct", "prod", {"Id": ACCT, "ParentId": "ou-1"}, account=MGMT))
    for pid, name, body, targets in (("p-full", "FullAWSAccess", full, ["r-1", "ou-1", ACCT]),
                                     ("p-deny", "deny-delete", deny, ["ou-1"])):
        docs.append(_doc("AwsOrganizationsPolicy", f"arn:policy/{pid}", name,
                         {"Id": pid, "Name": name, "Type": "SERVICE_CONTROL_POLICY", "AwsManaged": pid == "p-full"},
                         account=MGMT, calls={"DescribePolicy": {"PolicyDocument": body},
                                              "ListTargetsForPolicy": {"Targets": [{"TargetId": t} for t in targets]}}))
    return docs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--principals", type=int, default=1000)
    args = parser.parse_args()
    docs = documents(args.principals)
    t0 = time.perf_counter()
    model = AccessModel.from_documents(docs)
    t1 = time.perf_counter()
    exact = who_can(model, "s3:GetObject", f"arn:aws:s3:::{BUCKET}/shared/report.csv")
    t2 = time.perf_counter()
    wild = who_can(model, "s3:Get*", f"arn:aws:s3:::{BUCKET}/team-3/data.csv")
    t3 = time.perf_counter()
    evaluated = len(model.principals) + 1
    print(f"principals: {len(model.principals)}; model built in {t1 - t0:.2f} s")
    print(f"who-can s3:GetObject: {len(exact)} grants in {t2 - t1:.2f} s ({evaluated / (t2 - t1):,.0f} decisions/s)")
    from cloudwarden.iam.access import expand_actions

    n = len(expand_actions("s3:Get*"))
    print(f"who-can s3:Get* ({n} actions): {len(wild)} grants in {t3 - t2:.2f} s "
          f"({n * evaluated / (t3 - t2):,.0f} decisions/s); goal < 10 s each")


if __name__ == "__main__":
    main()
