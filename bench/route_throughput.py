"""Events per second of the compiled EventBridge matcher with 10, 100 and 1,000 rules, on one core.

Events: findings of every source (posture controls on the demo organisation's buckets, keys and trails; detections
of the attack scenarios; IAM analysis) wrapped as Security Hub events, plus GuardDuty events for the detections,
exactly as ``route`` sees them. Rules: the patterns people write for these events: severity and workflow filters,
one rule per control id or finding type, per account (40 accounts, 5 regions) and resource prefix, GuardDuty
numeric severity and CIDR filters, ``anything-but``, ``wildcard`` titles, ``$or`` and ``exists: false``; each rule
set is a prefix of one generated list, so larger sets contain the smaller ones. Rules are compiled once; the timed
loop matches events only (best of three runs, CPU time).

A second measurement adds 990 and 9,990 rules that share their leading clauses with the others but never match:
the rate stays where the 10 rules put it, since the cost follows the rules an event matches, not the rules loaded.

The machine remembers, per field, which edges a string or number value selects when the field has tests other than
exact values (prefixes, wildcards, ranges...). The events above repeat their values as real finding streams do; a
third measurement gives every event its own title, resource id and GuardDuty type and severity, so
those fields never repeat and every such test is worked out afresh.

Run: ``.venv/bin/python bench/route_throughput.py [EVENTS]`` (default 50,000 events per rule count). Goal: at least
100,000 events/s at 1,000 rules.
"""

from __future__ import annotations

import copy
import random
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from cloudwarden.core.finding import Evidence, Finding, ResourceRef, Source, Status
from cloudwarden.core.severity import Severity
from cloudwarden.lab import demo_org
from cloudwarden.route import EventMatcher, events_for

T0 = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)
# A thousand routing rules belong to a large organisation: the demo accounts plus 37 more members.
ACCOUNTS = [demo_org.MANAGEMENT, demo_org.PROD, demo_org.DEV, *(f"{400000000000 + 7919 * i:012d}" for i in range(37))]
REGIONS = [demo_org.HOME_REGION, demo_org.SECOND_REGION, demo_org.UNUSED_REGION, "us-west-2", "eu-central-1"]
CONTROLS = [f"{service}.{number}" for service in ("S3", "IAM", "EC2", "KMS", "CloudTrail", "GuardDuty", "RDS",
                                                  "Lambda", "SSM", "ECR", "SecretsManager")
            for number in range(1, 20)]
DETECTIONS = [
    "Stealth:IAMUser/CloudTrailLoggingDisabled", "UnauthorizedAccess:IAMUser/MaliciousIPCaller.Custom",
    "Persistence:IAMUser/UserPermissions", "CryptoCurrency:EC2/BitcoinTool.B!DNS", "Discovery:S3/MaliciousIPCaller",
    "Exfiltration:S3/AnomalousBehavior", "PrivilegeEscalation:IAMUser/AdministrativePermissions",
    "Impact:S3/PermissionsModification.Unusual", "Policy:IAMUser/RootCredentialUsage",
    "CredentialAccess:IAMUser/AnomalousBehavior", "DefenseEvasion:IAMUser/AnomalousBehavior",
]
BUCKETS = [demo_org.BUCKET_PUBLIC_ACL, demo_org.BUCKET_PUBLIC_POLICY, demo_org.BUCKET_DATA,
           demo_org.BUCKET_DEV_SCRATCH, demo_org.BUCKET_FLOW_LOGS, demo_org.BUCKET_ORG_TRAIL]
USERS = list(demo_org.PROD_USERS)
IPS = [demo_org.ATTACKER_IP, demo_org.TOR_NODE_IP, *demo_org.OFFICE_IPS, "203.0.113.9"]
SEVERITIES = list(Severity)
REPEATS = 3


def findings(count: int, rng: random.Random) -> list[Finding]:
    out: list[Finding] = []
    for index in range(count):
        account, region = rng.choice(ACCOUNTS), rng.choice(REGIONS)
        seen = T0 + timedelta(minutes=index)
        kind = index % 3
        if kind == 0:
            control = rng.choice(CONTROLS)
            bucket = rng.choice(BUCKETS)
            out.append(Finding.create(
                source=Source.POSTURE, rule_id=control.lower(), type="Software and Configuration Checks",
                title=f"{control} failed for {bucket}", severity=rng.choice(SEVERITIES), account_id=account,
                region=region, resource=ResourceRef(type="AwsS3Bucket", id=f"arn:aws:s3:::{bucket}"), seen=seen,
                control_id=control, status=rng.choice([Status.FAILED, Status.FAILED, Status.PASSED]),
                frameworks={"fsbp": [control], "cis-aws-3.0": ["2.1.4"]},
            ))
        elif kind == 1:
            user = rng.choice(USERS)
            kind_name = rng.choice(DETECTIONS)
            out.append(Finding.create(
                source=Source.DETECT, rule_id=kind_name.split("/")[-1].lower(), type=kind_name,
                title=f"{kind_name.split('/')[-1]} by {user}", severity=rng.choice(SEVERITIES),
                account_id=account, region=region,
                resource=ResourceRef(type="AwsIamUser", id=f"arn:aws:iam::{account}:user/{user}"),
                principal=f"arn:aws:iam::{account}:user/{user}", seen=seen, mitre=["T1078"],
                evidence=Evidence(event_ids=[f"e{index}"], details={
                    "eventName": rng.choice(["StopLogging", "CreateAccessKey", "PutBucketPolicy", "GetObject"]),
                    "eventSource": "cloudtrail.amazonaws.com", "sourceIPAddress": rng.choice(IPS),
                    "userAgent": demo_org.ATTACKER_USER_AGENT}),
            ))
        else:
            user = rng.choice(USERS)
            out.append(Finding.create(
                source=Source.IAM, rule_id="iam.escalation-path", type="PrivilegeEscalation:IAMUser/PassRole",
                title=f"{user} can become admin via iam:PassRole", severity=rng.choice(SEVERITIES),
                account_id=account, region="global",
                resource=ResourceRef(type="AwsIamUser", id=f"arn:aws:iam::{account}:user/{user}"), seen=seen,
            ))
    return out


def rules(count: int, rng: random.Random) -> list[tuple[str, dict[str, Any]]]:
    """``count`` realistic patterns; the first ones are the broad rules most deployments start with."""
    securityhub: dict[str, Any] = {"source": ["aws.securityhub"],
                                   "detail-type": ["Security Hub Findings - Imported"]}
    out: list[tuple[str, dict[str, Any]]] = [
        ("critical-new", {**securityhub, "detail": {"findings": {
            "Severity": {"Label": ["CRITICAL", "HIGH"]}, "Workflow": {"Status": ["NEW"]},
            "RecordState": ["ACTIVE"]}}}),
        ("guardduty-high", {"source": ["aws.guardduty"], "detail": {"severity": [{"numeric": [">=", 7]}]}}),
    ]
    makers: list[Callable[[int], dict[str, Any]]] = [
        lambda i: {**securityhub, "detail": {"findings": {
            "Compliance": {"SecurityControlId": [rng.choice(CONTROLS)], "Status": ["FAILED"]},
            "AwsAccountId": [rng.choice(ACCOUNTS)]}}},
        lambda i: {"source": ["aws.guardduty"], "detail": {
            "type": [{"prefix": rng.choice(DETECTIONS).split("/")[0] + "/"}],
            "severity": [{"numeric": [">", rng.choice([2, 4, 6]), "<=", 8.9]}],
            "region": [rng.choice(REGIONS)]}},
        lambda i: {**securityhub, "detail": {"findings": {
            "Resources": {"Type": ["AwsS3Bucket"], "Id": [{"prefix": f"arn:aws:s3:::{rng.choice(BUCKETS)[:8]}"}]},
            "Severity": {"Label": [{"anything-but": ["INFORMATIONAL", "LOW"]}]}}}},
        lambda i: {"source": ["aws.guardduty"], "detail": {
            "service": {"action": {"awsApiCallAction": {"remoteIpDetails": {
                "ipAddressV4": [{"cidr": rng.choice(["198.51.100.0/24", "192.0.2.0/28", "203.0.113.0/25"])}]}}}},
            "accountId": [rng.choice(ACCOUNTS)]}},
        lambda i: {**securityhub, "detail": {"findings": {
            "Title": [{"wildcard": f"*by {rng.choice(USERS)}"}], "Types": [{"prefix": "TTPs/"}]}}},
        lambda i: {**securityhub, "detail": {"findings": {"$or": [
            {"Severity": {"Label": ["CRITICAL"]}},
            {"GeneratorId": [f"cloudwarden/detect/{rng.choice(DETECTIONS).split('/')[-1].lower()}"]}],
            "Note": {"Text": [{"exists": False}]}, "AwsAccountId": [rng.choice(ACCOUNTS)]}}},
        lambda i: {**securityhub, "detail": {"findings": {
            "ProductFields": {"cloudwarden/rule_id": [f"rule-{i}"]}}}},
        lambda i: {"account": [rng.choice(ACCOUNTS)], "detail": {"findings": {
            "Severity": {"Label": [{"equals-ignore-case": rng.choice(SEVERITIES).value.lower()}]},
            "Region": [rng.choice(REGIONS)]}}},
    ]
    index = 0
    while len(out) < count:
        out.append((f"rule-{index}", makers[index % len(makers)](index)))
        index += 1
    return out[:count]


def team_rules(count: int) -> list[tuple[str, dict[str, Any]]]:
    """Rules that share their leading clauses with the realistic ones but name teams no finding has."""
    return [(f"team-{i}", {"source": ["aws.securityhub"], "detail": {"findings": {
        "ProductFields": {"team": [f"team-{i}"]}, "Severity": {"Label": ["CRITICAL", "HIGH"]}}}})
        for i in range(count)]


def unrepeated(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Copies of ``events`` in which the fields that prefix, wildcard and range rules read are never repeated."""
    out: list[dict[str, Any]] = []
    for number, event in enumerate(events):
        event = copy.deepcopy(event)
        detail = event["detail"]
        if "findings" in detail:
            finding = detail["findings"][0]
            finding["Title"] = f"[{number}] {finding['Title']}"
            finding["Resources"][0]["Id"] += f"/{number}"
        else:
            detail["type"] += f".{number}"
            detail["severity"] -= number / 1e7  # stays inside its band and on the same side of every bound
        out.append(event)
    return out


def measure(rule_list: list[tuple[str, dict[str, Any]]], events: list[dict[str, Any]]) -> tuple[float, float, int]:
    matcher = EventMatcher(rule_list)
    started = time.perf_counter()
    matcher.match(events[0])  # compile
    compile_seconds = time.perf_counter() - started
    best = float("inf")
    matched = 0
    for _ in range(REPEATS):  # best of a few runs of CPU time: other processes on the machine only slow it down
        matched = 0
        started = time.process_time()
        for event in events:
            matched += len(matcher.match(event))
        best = min(best, time.process_time() - started)
    return len(events) / best, compile_seconds, matched


def main() -> None:
    total = int(sys.argv[1]) if len(sys.argv) > 1 else 50_000
    rng = random.Random(7)
    sample = [event for finding in findings(600, rng) for event in events_for(finding)]
    events = [sample[i % len(sample)] for i in range(total)]
    print(f"{len(events):,} events ({len(sample)} distinct: Security Hub and GuardDuty), one core")
    for count in (10, 100, 1000):
        rate, compile_seconds, matched = measure(rules(count, random.Random(11)), events)
        print(f"{count:>6} rules: {rate:>10,.0f} events/s   compile {compile_seconds * 1000:7.1f} ms   "
              f"{matched / len(events):.2f} rules matched per event")
    print("flatness: the 10 rules above plus rules that share their first clauses but never match")
    for extra in (990, 9990):
        rate, compile_seconds, matched = measure(rules(10, random.Random(11)) + team_rules(extra), events)
        print(f"{10 + extra:>6} rules: {rate:>10,.0f} events/s   compile {compile_seconds * 1000:7.1f} ms   "
              f"{matched / len(events):.2f} rules matched per event")
    print("no repeated values: every event with its own title, resource id, GuardDuty type and severity")
    fresh = unrepeated(events)
    rate, compile_seconds, matched = measure(rules(1000, random.Random(11)), fresh)
    print(f"{1000:>6} rules: {rate:>10,.0f} events/s   compile {compile_seconds * 1000:7.1f} ms   "
          f"{matched / len(events):.2f} rules matched per event")


if __name__ == "__main__":
    main()
