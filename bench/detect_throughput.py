"""Detection throughput: ``cloudwarden detect`` against the decoding floor and the Zircolite approach.

Generates N realistic CloudTrail events (default 1,000,000) into gzipped CloudTrail-format files
(``{"Records": [...]}``, 2,000 events a file, ~1.4 KB an event) in a scratch directory, then measures, each
in a child process of its own (peak memory from ``os.wait4``'s rusage of that child):

* **floor**: the same files read, gunzipped and decoded with msgspec into only the fields the rules read
  (a struct of raw JSON tokens for exactly the record fields ``cloudwarden detect`` decodes for this rule
  set: the fastest decode we measured), in one process; gunzip (ISA-L, the fastest inflate we measured) runs
  on two threads beside the decoding, as the engine's loader does, with the same malloc settings as the
  ``cloudwarden`` command
  (``cloudwarden.core.allocator``). Nothing is kept. No detector can beat it.
* **cloudwarden detect**: the CLI itself, ``--reread`` (no store), the shipped native pack plus the 57
  SigmaHQ AWS CloudTrail rules via ``--rules``, ``--format json``; wall time of the whole process
  (interpreter start, loading the rules, load, rules, writing findings); the Sigma rules come from the
  compiled-rule cache (``cloudwarden.detect.rules.sigma_cache``), which the parent fills when it works out
  the rules' fields, as any second run of the same rules would (a cold cache adds ~0.3 s of pySigma to one
  run; ``CLOUDWARDEN_CACHE=off`` measures that); once more with ``--memory-limit 1GB``
  (DuckDB spills beyond it) and once over a tenth of the files, to show how memory grows with events.
* **Zircolite approach**: pySigma's SQLite backend (``pysigma-backend-sqlite``) converts the same Sigma
  rules; the events are decoded, flattened into one column per dotted field (``userIdentity.arn``) as
  Zircolite does, inserted into an in-memory SQLite table (``TEXT COLLATE NOCASE`` columns, ``REGEXP``
  registered), and every converted rule is run. The native rules have no SQLite form, so this side runs
  fewer rules than cloudwarden does; the comparison favours it.

Events: mostly benign traffic in the shapes CloudTrail records (S3 and DynamoDB data events with their
``resources`` and ``additionalEventData``, STS credentials in responses, KMS with encryption contexts,
describe/list calls, access-denied errors, the odd large ``RunInstances``), by the demo organisation's users,
roles and AWS services, plus 2% drawn from the Stratus Red Team detonation records in
``../shared/data/stratus-detonations`` (re-identified into the demo accounts) so rules have something to find.

Run::

    .venv/bin/python bench/detect_throughput.py [--events 1000000] [--scratch DIR] [--keep] [--no-sqlite]
        [--memory-limit 1GB]

Generated files are reused when the scratch directory already holds the same corpus (``--scratch``).
Goals: cloudwarden >= 50% of the floor's events/s, >= 10x the SQLite approach, < 2 GB peak at 10M events
(measured with ``--events 10000000``; add ``--no-sqlite``, which would take half an hour there). Not a test:
figures depend on the machine.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec

from cloudwarden.detect.engine import DEFAULT_MEMORY_LIMIT
from cloudwarden.lab import demo_org

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "data"
SIGMA_DIR = SHARED / "sigma-aws"
STRATUS_DIR = SHARED / "stratus-detonations"
PER_FILE = 2000
ATTACK_SHARE = 0.02
SERVICE_SHARE = 0.3
T0 = datetime(2025, 3, 1, tzinfo=UTC)
GOAL_FLOOR_SHARE = 0.5
GOAL_SQLITE_RATIO = 10.0
GOAL_MEMORY_10M = 2 * 1024**3


# --- the corpus ----------------------------------------------------------------------------------------------

ACCOUNTS = (demo_org.PROD, demo_org.PROD, demo_org.PROD, demo_org.DEV, demo_org.MANAGEMENT)
REGIONS = (demo_org.HOME_REGION,) * 6 + (demo_org.SECOND_REGION,) * 3 + ("us-west-2",)
USER_AGENTS = (
    "aws-cli/2.15.30 Python/3.11.8 Linux/5.15.0-1057-aws exe/x86_64.ubuntu.22 prompt/off command/s3.cp",
    "Boto3/1.34.69 md/Botocore#1.34.69 ua/2.0 os/linux#5.10.213-201.855.amzn2.x86_64 md/arch#x86_64 "
    "lang/python#3.12.2 md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.34.69",
    "aws-sdk-java/2.20.162 Linux/5.10.210-201.852.amzn2.x86_64 OpenJDK_64-Bit_Server_VM/17.0.10+7-LTS "
    "Java/17.0.10 vendor/Amazon.com_Inc. io/sync http/Apache cfg/retry-mode/standard",
    "aws-sdk-go-v2/1.25.2 os/linux lang/go#1.22.1 md/GOOS#linux md/GOARCH#amd64 api/s3#1.51.3",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/122.0.0.0 Safari/537.36",
    "Terraform/1.7.4 (+https://www.terraform.io) terraform-provider-aws/5.40.0 aws-sdk-go-v2/1.25.2",
)
INTERNAL_IPS = tuple(f"10.10.{a}.{b}" for a in range(1, 5) for b in (11, 23, 47, 102))
PUBLIC_IPS = (*demo_org.OFFICE_IPS, "203.0.113.40", "203.0.113.41", "198.51.100.140")
SERVICES = ("lambda.amazonaws.com", "ec2.amazonaws.com", "cloudformation.amazonaws.com",
            "config.amazonaws.com", "elasticloadbalancing.amazonaws.com")


def _identities(rng: random.Random) -> list[dict[str, Any]]:
    """The principals of the traffic: IAM users, assumed roles (people, CI, instances) and AWS services."""
    out: list[dict[str, Any]] = []
    for account in (demo_org.PROD, demo_org.DEV):
        users = demo_org.PROD_USERS if account == demo_org.PROD else demo_org.DEV_USERS
        for user in users:
            out.append({"type": "IAMUser", "principalId": "AIDA" + _token(rng, 17),
                        "arn": f"arn:aws:iam::{account}:user/{user}", "accountId": account,
                        "accessKeyId": "AKIA" + _token(rng, 16), "userName": user})
        roles = (demo_org.ROLE_CI_DEPLOY, demo_org.ROLE_APP_INSTANCE, demo_org.MEMBER_ACCESS_ROLE,
                 "data-pipeline", "AWSServiceRoleForConfig", "eks-node-group")
        for role in roles:
            for n in range(3):
                role_id = "AROA" + _token(rng, 17)
                session = f"i-0{_token(rng, 16).lower()}" if role == demo_org.ROLE_APP_INSTANCE else f"session-{n}"
                out.append({
                    "type": "AssumedRole", "principalId": f"{role_id}:{session}",
                    "arn": f"arn:aws:sts::{account}:assumed-role/{role}/{session}", "accountId": account,
                    "accessKeyId": "ASIA" + _token(rng, 16),
                    "sessionContext": {
                        "sessionIssuer": {"type": "Role", "principalId": role_id,
                                          "arn": f"arn:aws:iam::{account}:role/{role}", "accountId": account,
                                          "userName": role},
                        "attributes": {"creationDate": "2025-03-01T00:00:00Z", "mfaAuthenticated": "false"},
                    },
                })
    for service in SERVICES:
        out.append({"type": "AWSService", "invokedBy": service})
    return out


def _token(rng: random.Random, length: int) -> str:
    return "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") for _ in range(length))


def _b64(rng: random.Random, length: int) -> str:
    return "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
                   for _ in range(length))


Shape = Callable[[random.Random, str, str], dict[str, Any]]
"""(rng, account, region) -> the event-specific members of one record."""


def _s3(name: str, read: bool) -> Shape:
    def shape(rng: random.Random, account: str, region: str) -> dict[str, Any]:
        bucket = rng.choice((demo_org.BUCKET_DATA, demo_org.BUCKET_PUBLIC_ACL, demo_org.BUCKET_FLOW_LOGS,
                             demo_org.BUCKET_DEV_SCRATCH, f"app-uploads-{account}"))
        key = f"2025/03/{rng.randint(1, 28):02d}/part-{rng.randint(0, 99999):05d}.parquet"
        size = rng.randint(200, 5_000_000)
        return {
            "eventSource": "s3.amazonaws.com", "eventName": name, "readOnly": read, "managementEvent": False,
            "eventCategory": "Data",
            "requestParameters": {"bucketName": bucket, "Host": f"{bucket}.s3.{region}.amazonaws.com",
                                  "key": key, **({} if read else {"x-amz-server-side-encryption": "aws:kms"})},
            "responseElements": None if read else {"x-amz-server-side-encryption": "aws:kms",
                                                   "x-amz-version-id": _b64(rng, 32)},
            "additionalEventData": {
                "SignatureVersion": "SigV4", "CipherSuite": "TLS_AES_128_GCM_SHA256",
                "bytesTransferredIn": 0 if read else size, "bytesTransferredOut": size if read else 0,
                "AuthenticationMethod": "AuthHeader", "x-amz-id-2": _b64(rng, 76),
            },
            "resources": [{"type": "AWS::S3::Object", "ARN": f"arn:aws:s3:::{bucket}/{key}"},
                          {"accountId": account, "type": "AWS::S3::Bucket", "ARN": f"arn:aws:s3:::{bucket}"}],
            "tlsDetails": {"tlsVersion": "TLSv1.3", "cipherSuite": "TLS_AES_128_GCM_SHA256",
                           "clientProvidedHostHeader": f"{bucket}.s3.{region}.amazonaws.com"},
        }
    return shape


def _assume_role(rng: random.Random, account: str, region: str) -> dict[str, Any]:
    role = rng.choice((demo_org.ROLE_CI_DEPLOY, "data-pipeline", demo_org.MEMBER_ACCESS_ROLE))
    session = f"session-{rng.randint(1, 9999)}"
    return {
        "eventSource": "sts.amazonaws.com", "eventName": "AssumeRole", "readOnly": True,
        "requestParameters": {"roleArn": f"arn:aws:iam::{account}:role/{role}", "roleSessionName": session,
                              "durationSeconds": 3600},
        "responseElements": {
            "credentials": {"accessKeyId": "ASIA" + _token(rng, 16), "sessionToken": _b64(rng, 420),
                            "expiration": "Mar 1, 2025, 1:00:00 PM"},
            "assumedRoleUser": {"assumedRoleId": f"AROA{_token(rng, 17)}:{session}",
                                "arn": f"arn:aws:sts::{account}:assumed-role/{role}/{session}"},
        },
        "resources": [{"accountId": account, "type": "AWS::IAM::Role",
                       "ARN": f"arn:aws:iam::{account}:role/{role}"}],
        "tlsDetails": {"tlsVersion": "TLSv1.3", "cipherSuite": "TLS_AES_128_GCM_SHA256",
                       "clientProvidedHostHeader": f"sts.{region}.amazonaws.com"},
    }


def _simple(source: str, name: str, params: Callable[[random.Random, str, str], Any], read: bool = True,
            category: str = "Management") -> Shape:
    def shape(rng: random.Random, account: str, region: str) -> dict[str, Any]:
        host = f"{source.split('.')[0]}.{region}.amazonaws.com"
        return {"eventSource": source, "eventName": name, "readOnly": read, "eventCategory": category,
                "managementEvent": category == "Management", "requestParameters": params(rng, account, region),
                "responseElements": None,
                "tlsDetails": {"tlsVersion": "TLSv1.2", "cipherSuite": "ECDHE-RSA-AES128-GCM-SHA256",
                               "clientProvidedHostHeader": host}}
    return shape


def _kms(name: str) -> Shape:
    def shape(rng: random.Random, account: str, region: str) -> dict[str, Any]:
        key = str(uuid.UUID(int=rng.getrandbits(128)))
        out = _simple("kms.amazonaws.com", name, lambda r, a, g: {
            "encryptionAlgorithm": "SYMMETRIC_DEFAULT",
            "encryptionContext": {"aws:lambda:FunctionArn":
                                  f"arn:aws:lambda:{region}:{account}:function:{demo_org.LAMBDA_PUBLIC}"},
            **({"keyId": f"arn:aws:kms:{region}:{account}:key/{key}", "keySpec": "AES_256"}
               if name == "GenerateDataKey" else {}),
        })(rng, account, region)
        out["resources"] = [{"accountId": account, "type": "AWS::KMS::Key",
                             "ARN": f"arn:aws:kms:{region}:{account}:key/{key}"}]
        return out
    return shape


def _dynamodb(name: str) -> Shape:
    def shape(rng: random.Random, account: str, region: str) -> dict[str, Any]:
        out = _simple("dynamodb.amazonaws.com", name, lambda r, a, g: {
            "tableName": "orders", "key": {"pk": f"ORDER#{r.randint(1, 10**9)}", "sk": "META"},
            **({"consistentRead": False} if name == "GetItem" else {"returnValues": "NONE"})},
            read=name == "GetItem", category="Data")(rng, account, region)
        out["resources"] = [{"accountId": account, "type": "AWS::DynamoDB::Table",
                             "ARN": f"arn:aws:dynamodb:{region}:{account}:table/orders"}]
        return out
    return shape


def _run_instances(rng: random.Random, account: str, region: str) -> dict[str, Any]:
    """The large record: RunInstances' response holds the whole instance description (~5 KB)."""
    instance = f"i-0{_token(rng, 16).lower()}"
    item = {
        "instanceId": instance, "imageId": "ami-0c101f26f147fa7fd", "instanceState": {"code": 0, "name": "pending"},
        "privateDnsName": f"ip-10-10-1-{rng.randint(2, 250)}.ec2.internal", "amiLaunchIndex": 0,
        "productCodes": {}, "instanceType": "m5.large", "launchTime": 1740787200000,
        "placement": {"availabilityZone": f"{region}a", "tenancy": "default"}, "monitoring": {"state": "disabled"},
        "subnetId": "subnet-0a1b2c3d4e5f67890", "vpcId": "vpc-0123456789abcdef0",
        "privateIpAddress": f"10.10.1.{rng.randint(2, 250)}", "stateReason": {"code": "pending",
                                                                              "message": "pending"},
        "architecture": "x86_64", "rootDeviceType": "ebs", "rootDeviceName": "/dev/xvda", "blockDeviceMapping": {},
        "virtualizationType": "hvm", "hypervisor": "xen", "clientToken": str(uuid.UUID(int=rng.getrandbits(128))),
        "groupSet": {"items": [{"groupId": "sg-0123456789abcdef0", "groupName": "web"}]},
        "sourceDestCheck": True, "networkInterfaceSet": {"items": [{
            "networkInterfaceId": f"eni-0{_token(rng, 16).lower()}", "subnetId": "subnet-0a1b2c3d4e5f67890",
            "vpcId": "vpc-0123456789abcdef0", "ownerId": account, "status": "in-use",
            "macAddress": "0e:49:61:0f:c3:11", "privateIpAddress": "10.10.1.20", "sourceDestCheck": True,
            "interfaceType": "interface", "groupSet": {"items": [{"groupId": "sg-0123456789abcdef0",
                                                                    "groupName": "web"}]},
            "attachment": {"attachmentId": f"eni-attach-0{_token(rng, 16).lower()}", "deviceIndex": 0,
                           "networkCardIndex": 0, "status": "attaching", "attachTime": 1740787200000,
                           "deleteOnTermination": True},
            "privateIpAddressesSet": {"item": [{"privateIpAddress": "10.10.1.20", "primary": True}]},
            "ipv6AddressesSet": {}, "tagSet": {}}]},
        "ebsOptimized": False, "enaSupport": True, "cpuOptions": {"coreCount": 1, "threadsPerCore": 2},
        "capacityReservationSpecification": {"capacityReservationPreference": "open"},
        "enclaveOptions": {"enabled": False}, "metadataOptions": {
            "state": "pending", "httpTokens": "required", "httpPutResponseHopLimit": 2, "httpEndpoint": "enabled",
            "httpProtocolIpv4": "enabled", "httpProtocolIpv6": "disabled", "instanceMetadataTags": "disabled"},
        "maintenanceOptions": {"autoRecovery": "default"},
        "privateDnsNameOptions": {"hostnameType": "ip-name", "enableResourceNameDnsARecord": False,
                                  "enableResourceNameDnsAAAARecord": False},
        "tagSet": {"items": [{"key": "Name", "value": "batch-worker"}, {"key": "team", "value": "data"}]},
    }
    out = _simple("ec2.amazonaws.com", "RunInstances", lambda r, a, g: {
        "instancesSet": {"items": [{"imageId": "ami-0c101f26f147fa7fd", "minCount": 1, "maxCount": 1}]},
        "instanceType": "m5.large", "blockDeviceMapping": {}, "monitoring": {"enabled": False},
        "disableApiTermination": False, "disableApiStop": False, "clientToken": item["clientToken"],
        "tagSpecificationSet": {"items": [{"resourceType": "instance", "tags": [{"key": "Name",
                                                                                   "value": "batch-worker"}]}]},
    }, read=False)(rng, account, region)
    out["responseElements"] = {"requestId": str(uuid.UUID(int=rng.getrandbits(128))),
                               "reservationId": f"r-0{_token(rng, 16).lower()}", "ownerId": account,
                               "groupSet": {}, "instancesSet": {"items": [item]}}
    return out


def _describe(rng: random.Random, account: str, region: str) -> dict[str, Any]:
    return {"instancesSet": {}, "filterSet": {"items": [{"name": "tag:team", "valueSet": {"items": [
        {"value": rng.choice(("data", "web", "platform"))}]}}]}}


SHAPES: tuple[tuple[float, Shape], ...] = (
    (24.0, _s3("GetObject", True)),
    (8.0, _s3("PutObject", False)),
    (4.0, _s3("HeadObject", True)),
    (6.0, _assume_role),
    (3.0, _simple("sts.amazonaws.com", "GetCallerIdentity", lambda r, a, g: None)),
    (8.0, _simple("ec2.amazonaws.com", "DescribeInstances", _describe)),
    (3.0, _simple("ec2.amazonaws.com", "DescribeSecurityGroups", lambda r, a, g: {
        "securityGroupSet": {}, "securityGroupIdSet": {}, "filterSet": {}})),
    (10.0, _kms("Decrypt")),
    (4.0, _kms("GenerateDataKey")),
    (6.0, _dynamodb("GetItem")),
    (3.0, _dynamodb("PutItem")),
    (3.0, _simple("lambda.amazonaws.com", "Invoke", lambda r, a, g: {
        "functionName": f"arn:aws:lambda:{g}:{a}:function:{demo_org.LAMBDA_PUBLIC}"}, read=False,
        category="Data")),
    (2.0, _simple("logs.amazonaws.com", "CreateLogStream", lambda r, a, g: {
        "logGroupName": f"/aws/lambda/{demo_org.LAMBDA_PUBLIC}",
        "logStreamName": f"2025/03/01/[$LATEST]{r.getrandbits(128):032x}"}, read=False)),
    (3.0, _simple("iam.amazonaws.com", "ListAttachedRolePolicies", lambda r, a, g: {
        "roleName": demo_org.ROLE_CI_DEPLOY})),
    (2.0, _simple("iam.amazonaws.com", "GetRole", lambda r, a, g: {"roleName": demo_org.ROLE_APP_INSTANCE})),
    (2.0, _simple("ssm.amazonaws.com", "GetParameter", lambda r, a, g: {
        "name": demo_org.SSM_SECURE, "withDecryption": True})),
    (1.0, _simple("secretsmanager.amazonaws.com", "GetSecretValue", lambda r, a, g: {
        "secretId": demo_org.SECRET_API})),
    (2.0, _simple("monitoring.amazonaws.com", "GetMetricData", lambda r, a, g: {
        "metricDataQueries": [{"id": "m1", "metricStat": {"metric": {"namespace": "AWS/EC2",
                              "metricName": "CPUUtilization"}, "period": 300, "stat": "Average"}}],
        "startTime": "Mar 1, 2025, 11:00:00 AM", "endTime": "Mar 1, 2025, 12:00:00 PM"})),
    (1.0, _simple("ecr.amazonaws.com", "GetAuthorizationToken", lambda r, a, g: None)),
    (1.0, _simple("cloudformation.amazonaws.com", "DescribeStacks", lambda r, a, g: {"stackName": "prod-web"})),
    (0.3, _run_instances),
)


class Corpus:
    """Draws realistic records; every one a fresh dict (ids, times, principals, addresses vary)."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        identities = _identities(self.rng)
        self.services = [i for i in identities if i["type"] == "AWSService"]
        self.principals = [i for i in identities if i["type"] != "AWSService"]
        self.weights = [w for w, _ in SHAPES]
        self.shapes = [s for _, s in SHAPES]
        self.attacks = _stratus_records()

    def record(self, when: datetime) -> dict[str, Any]:
        rng = self.rng
        if self.attacks and rng.random() < ATTACK_SHARE:
            return self._attack(when)
        # About a third of a real trail is AWS services acting for the account (small records).
        identity = rng.choice(self.services if rng.random() < SERVICE_SHARE else self.principals)
        account = identity.get("accountId") or rng.choice(ACCOUNTS)
        region = rng.choice(REGIONS)
        shape = rng.choices(self.shapes, self.weights)[0]
        body = shape(rng, account, region)
        service = identity["type"] == "AWSService"
        record: dict[str, Any] = {
            "eventVersion": "1.09" if body.get("eventCategory") == "Data" else "1.08",
            "userIdentity": identity,
            "eventTime": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "eventSource": body.pop("eventSource"), "eventName": body.pop("eventName"),
            "awsRegion": region,
            "sourceIPAddress": identity["invokedBy"] if service else rng.choice(
                INTERNAL_IPS if rng.random() < 0.6 else PUBLIC_IPS),
            "userAgent": identity["invokedBy"] if service else rng.choice(USER_AGENTS),
        }
        if rng.random() < 0.03:
            record["errorCode"] = "AccessDenied"
            record["errorMessage"] = (f"User: {identity.get('arn', 'service')} is not authorized to perform: "
                                      f"{record['eventSource'].split('.')[0]}:{record['eventName']} because no "
                                      "identity-based policy allows the action")
            body["responseElements"] = None
        if service:
            body.pop("tlsDetails", None)  # calls AWS services make inside AWS carry no TLS details
        record.update(body)
        record.update({
            "requestID": str(uuid.UUID(int=rng.getrandbits(128))),
            "eventID": str(uuid.UUID(int=rng.getrandbits(128))),
            "eventType": "AwsApiCall", "recipientAccountId": account,
        })
        return record

    def _attack(self, when: datetime) -> dict[str, Any]:
        record = dict(self.rng.choice(self.attacks))
        account = self.rng.choice(ACCOUNTS)
        identity = dict(record.get("userIdentity") or {})
        if "arn" in identity:
            identity["arn"] = re.sub(r"::\d{12}:", f"::{account}:", identity["arn"])
        if "accountId" in identity:
            identity["accountId"] = account
        record.update({"userIdentity": identity, "recipientAccountId": account,
                       "eventTime": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
                       "eventID": str(uuid.UUID(int=self.rng.getrandbits(128))),
                       "awsRegion": self.rng.choice(REGIONS)})
        return record


def _stratus_records() -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    for path in sorted(STRATUS_DIR.glob("*.json")):
        data = json.loads(path.read_text())
        records.extend(data.get("Records", []) if isinstance(data, dict) else data)
    return records


def generate(out: Path, events: int, seed: int) -> tuple[int, int, float]:
    """Write ``events`` records into ``out`` as CloudTrail files; returns (files, raw bytes, seconds)."""
    started = time.perf_counter()
    marker = out.parent / f"{out.name}.json"  # beside the corpus: nothing in it but CloudTrail files
    wanted = {"events": events, "seed": seed, "per_file": PER_FILE, "version": 1}
    if marker.exists() and json.loads(marker.read_text()).get("corpus") == wanted:
        info = json.loads(marker.read_text())
        return int(info["files"]), int(info["raw_bytes"]), 0.0
    shutil.rmtree(out, ignore_errors=True)
    corpus = Corpus(seed)
    encoder = msgspec.json.Encoder()
    step = timedelta(seconds=86400 / max(events, 1))
    files = raw_bytes = 0
    written = 0
    while written < events:
        count = min(PER_FILE, events - written)
        start = T0 + step * written
        records = [corpus.record(start + step * i) for i in range(count)]
        data = encoder.encode({"Records": records})
        raw_bytes += len(data)
        # CloudTrail's own layout: AWSLogs/<account>/CloudTrail/<region>/<yyyy>/<mm>/<dd>/<name>.json.gz
        folder = out / "AWSLogs" / demo_org.PROD / "CloudTrail" / demo_org.HOME_REGION / start.strftime("%Y/%m/%d")
        folder.mkdir(parents=True, exist_ok=True)
        name = f"{demo_org.PROD}_CloudTrail_{demo_org.HOME_REGION}_{start:%Y%m%dT%H%M%S}Z_{files:06d}.json.gz"
        (folder / name).write_bytes(gzip.compress(data, compresslevel=6))
        files += 1
        written += count
    marker.write_text(json.dumps({"corpus": wanted, "files": files, "raw_bytes": raw_bytes}))
    return files, raw_bytes, time.perf_counter() - started


def log_files(root: Path) -> list[Path]:
    return sorted(root.rglob("*.json.gz"))


# --- the measured children -----------------------------------------------------------------------------------


def rule_fields() -> list[str]:
    """The record fields the shipped pack plus the Sigma rules read (what ``cloudwarden detect`` decodes)."""
    from cloudwarden.detect.engine import _fields_read
    from cloudwarden.detect.rules import load_pack, load_rule_dirs

    ruleset = load_pack()
    ruleset.extend(load_rule_dirs([SIGMA_DIR]))
    return sorted(_fields_read(ruleset.rules, ruleset.allowlist))


def child_floor(paths: list[str], fields: list[str]) -> None:
    """Gunzip (two threads) and decode only ``fields``, the fastest way we know; keep nothing.

    The fastest decode measured is msgspec into a struct of raw JSON tokens holding only the record fields
    the rules name, ``userIdentity`` whole (a typed struct with strings and dates costs ~30% more, and
    cloudwarden's own, which also picks the identity paths out of ``userIdentity``, is no faster);
    the fastest gunzip, Intel's ISA-L (``isal``) checking the CRC as it inflates
    (``cloudwarden.detect.cloudtrail_files.decompress``; zlib took 2.4x as long on these files).
    The fields are worked out by the parent, so the floor's time holds no rule loading.
    """
    import msgspec

    from cloudwarden.detect.cloudtrail_files import INFLATER, decompress

    null = msgspec.Raw(b"null")
    record = msgspec.defstruct("Record", [(name, msgspec.Raw, null) for name in fields], gc=False)
    envelope = msgspec.defstruct("Envelope", [("Records", list[record])], gc=False)  # type: ignore[valid-type]
    decoder = msgspec.json.Decoder(envelope)
    events = 0
    with ThreadPoolExecutor(max_workers=2) as pool:
        for raw in pool.map(lambda p: decompress(Path(p).read_bytes()), paths):
            events += len(decoder.decode(raw).Records)
    print(json.dumps({"events": events, "inflater": INFLATER}))


def _flatten(value: Any, prefix: str, out: dict[str, Any]) -> None:
    """Zircolite's flattening: nested objects become dotted columns; lists are kept as JSON text."""
    for key, item in value.items():
        name = prefix + key
        if isinstance(item, dict):
            _flatten(item, name + ".", out)
        elif isinstance(item, list):
            out[name] = json.dumps(item)
        elif isinstance(item, bool):
            out[name] = "true" if item else "false"
        else:
            out[name] = item


def sqlite_rules() -> list[tuple[str, str]]:
    """(title, query) of every Sigma rule as pySigma's SQLite backend converts it."""
    from sigma.backends.sqlite.sqlite import sqliteBackend
    from sigma.collection import SigmaCollection

    files = sorted(SIGMA_DIR.rglob("*.yml"))
    collection = SigmaCollection.load_ruleset([str(f) for f in files])
    backend = sqliteBackend()  # type: ignore[no-untyped-call]
    out: list[tuple[str, str]] = []
    for rule in collection.rules:
        for query in backend.convert_rule(rule):  # type: ignore[no-untyped-call]
            out.append((str(rule.title), str(query)))
    return out


def child_sqlite(paths: list[str]) -> None:
    """The Zircolite approach: flatten into an in-memory SQLite table, then run every converted rule."""
    started = time.perf_counter()
    rules = sqlite_rules()
    db = sqlite3.connect(":memory:")
    db.create_function("regexp", 2, lambda pattern, value: value is not None and
                       re.search(pattern, str(value)) is not None, deterministic=True)
    db.execute("CREATE TABLE logs (row_id INTEGER PRIMARY KEY)")
    columns: list[str] = []
    known: set[str] = set()
    decoder = msgspec.json.Decoder()
    events = 0
    load_started = time.perf_counter()
    for path in paths:
        batch: list[dict[str, Any]] = []
        for record in decoder.decode(gzip.decompress(Path(path).read_bytes()))["Records"]:
            flat: dict[str, Any] = {}
            _flatten(record, "", flat)
            batch.append(flat)
            for name in flat.keys() - known:
                known.add(name)
                columns.append(name)
                db.execute(f'ALTER TABLE logs ADD COLUMN "{name}" TEXT COLLATE NOCASE')
        placeholders = ", ".join("?" * len(columns))
        names = ", ".join(f'"{c}"' for c in columns)
        db.executemany(f"INSERT INTO logs ({names}) VALUES ({placeholders})",
                       [[flat.get(c) for c in columns] for flat in batch])
        events += len(batch)
    db.commit()
    load_seconds = time.perf_counter() - load_started
    rules_started = time.perf_counter()
    matched = failed = 0
    for _, query in rules:
        for _attempt in range(8):
            try:
                matched += len(db.execute(query).fetchall())
                break
            except sqlite3.OperationalError as exc:
                # A field no event has: Zircolite's table has no such column. Add it (empty) and run again,
                # so every rule is really evaluated over the whole table.
                missing = re.match(r"no such column: (.+)$", str(exc))
                if missing is None:
                    failed += 1
                    break
                db.execute(f'ALTER TABLE logs ADD COLUMN "{missing.group(1)}" TEXT COLLATE NOCASE')
        else:
            failed += 1
    print(json.dumps({"events": events, "rules": len(rules), "rules_failed": failed, "matches": matched,
                      "load_s": round(load_seconds, 2), "rules_s": round(time.perf_counter() - rules_started, 2),
                      "setup_s": round(load_started - started, 2), "columns": len(columns)}))


# --- the parent ------------------------------------------------------------------------------------------------


@dataclass
class Measured:
    name: str
    events: int
    seconds: float
    peak_rss: int  # bytes
    detail: str


def run_child(name: str, argv: list[str], events: int, detail: Callable[[str], str]) -> Measured:
    """Run ``argv`` as a child; wall time, and peak RSS from that child's own rusage (``os.wait4``)."""
    started = time.perf_counter()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(argv, stdout=out, stderr=err, cwd=ROOT, env={**os.environ, "COLUMNS": "400"})
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.perf_counter() - started
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(), err.read().decode()
    if proc.returncode != 0:
        sys.exit(f"{name} failed (exit {proc.returncode}):\n{stdout[-2000:]}\n{stderr[-4000:]}")
    rss = usage.ru_maxrss * (1 if sys.platform == "darwin" else 1024)
    return Measured(name, events, seconds, rss, detail(stdout))


def _json_tail(stdout: str) -> dict[str, Any]:
    for line in reversed(stdout.strip().splitlines()):
        if line.startswith("{"):
            parsed: dict[str, Any] = json.loads(line)
            return parsed
    return {}


def measure_floor(paths: list[str], events: int) -> Measured:
    def detail(stdout: str) -> str:
        info = _json_tail(stdout)
        if info.get("events") != events:
            sys.exit(f"floor decoded {info.get('events')} events, expected {events}")
        return f"gunzip ({info.get('inflater')}, 2 threads) + msgspec decode of the rules' fields"

    argv = [sys.executable, __file__, "--child", "floor", "--fields", ",".join(rule_fields()), *paths]
    return run_child("floor", argv, events, detail)


def measure_cloudwarden(paths: list[str], events: int, scratch: Path, memory_limit: str | None = None) -> Measured:
    name = "cloudwarden detect" + (f" --memory-limit {memory_limit}" if memory_limit else "")
    out_dir = scratch / f"cloudwarden-out-{events}{'-limited' if memory_limit else ''}"
    cli = Path(sys.executable).with_name("cloudwarden")
    argv = [str(cli), "detect", *(a for p in paths for a in ("--logs", p)), "--rules", str(SIGMA_DIR),
            "--reread", "--output-dir", str(out_dir), "--format", "json"]
    if memory_limit:
        argv += ["--memory-limit", memory_limit]

    def detail(stdout: str) -> str:
        match = re.search(r"(\d+) events from (\d+) files .*?(\d+) rules · (\d+) findings · ([\d.]+)s", stdout)
        if not match:
            sys.exit(f"cannot read cloudwarden's summary line:\n{stdout[-2000:]}")
        if int(match.group(1)) != events:
            sys.exit(f"cloudwarden read {match.group(1)} events, expected {events}")
        return f"{match.group(3)} rules, {match.group(4)} findings, engine {float(match.group(5)):.1f}s"

    return run_child(name, argv, events, detail)


def measure_sqlite(paths: list[str], events: int, scratch: Path) -> Measured:
    listing = scratch / "sqlite-files.txt"
    listing.write_text("\n".join(paths))

    def detail(stdout: str) -> str:
        info = _json_tail(stdout)
        if info.get("events") != events:
            sys.exit(f"the SQLite approach loaded {info.get('events')} events, expected {events}")
        return (f"{info['rules']} rules ({info['rules_failed']} failed), {info['matches']} matches, "
                f"load {info['load_s']}s, rules {info['rules_s']}s")

    return run_child("Zircolite approach (SQLite)", [sys.executable, __file__, "--child", "sqlite", "@" + str(listing)],
                     events, detail)


def _gb(n: float) -> str:
    return f"{n / 1024**3:.2f} GB"


def report(rows: list[Measured], small: Measured | None, files: int, raw_bytes: int, gz_bytes: int,
           limited: Measured | None) -> None:
    floor = rows[0]
    width = max(len(r.name) for r in rows)
    print()
    print(f"{rows[0].events:,} events in {files} files: {raw_bytes / rows[0].events:,.0f} B/event JSON, "
          f"{_gb(raw_bytes)} raw, {_gb(gz_bytes)} gzipped")
    print(f"{'measurement':<{width}}  {'seconds':>8}  {'events/s':>11}  {'vs floor':>8}  {'peak RSS':>9}  detail")
    for row in rows:
        rate = row.events / row.seconds
        print(f"{row.name:<{width}}  {row.seconds:>8.1f}  {rate:>11,.0f}  {rate / (floor.events / floor.seconds):>7.0%}"
              f"  {_gb(row.peak_rss):>9}  {row.detail}")
    by_name = {r.name: r for r in rows}
    cw = by_name["cloudwarden detect"]
    cw_rate = cw.events / cw.seconds
    floor_rate = floor.events / floor.seconds
    print()
    share = cw_rate / floor_rate
    print(f"cloudwarden / floor: {share:.0%} (goal >= {GOAL_FLOOR_SHARE:.0%}): "
          f"{'met' if share >= GOAL_FLOOR_SHARE else 'NOT met'}")
    sq = by_name.get("Zircolite approach (SQLite)")
    if sq is not None:
        ratio = cw_rate / (sq.events / sq.seconds)
        print(f"cloudwarden / SQLite approach: {ratio:.1f}x (goal >= {GOAL_SQLITE_RATIO:.0f}x): "
              f"{'met' if ratio >= GOAL_SQLITE_RATIO else 'NOT met'}")
    if cw.events >= 10_000_000:
        print(f"cloudwarden peak RSS at {cw.events:,} events: {_gb(cw.peak_rss)} (DuckDB capped at "
              f"{DEFAULT_MEMORY_LIMIT} by default; goal < {_gb(GOAL_MEMORY_10M)} at 10M): "
              f"{'met' if cw.peak_rss < GOAL_MEMORY_10M else 'NOT met'}")
    elif small is not None:
        slope = max(0.0, (cw.peak_rss - small.peak_rss) / (cw.events - small.events))
        print(f"cloudwarden peak RSS: {_gb(small.peak_rss)} at {small.events:,} events, {_gb(cw.peak_rss)} at "
              f"{cw.events:,} ({slope:,.0f} B/event) until DuckDB reaches its cap ({DEFAULT_MEMORY_LIMIT} by "
              f"default) and spills the table to disk; the 10M goal (< {_gb(GOAL_MEMORY_10M)}) is measured with "
              f"--events 10000000")
    if limited is not None:
        rate = limited.events / limited.seconds
        print(f"with {limited.name.split(' ', 2)[-1]}: {_gb(limited.peak_rss)} peak at {limited.events:,} events "
              f"({rate:,.0f} events/s, {rate / cw_rate:.0%} of the unlimited run); DuckDB spills beyond its "
              f"limit, so the peak does not grow with the events (goal < {_gb(GOAL_MEMORY_10M)} at 10M: "
              f"{'met' if limited.peak_rss < GOAL_MEMORY_10M else 'NOT met'} if it holds there)")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=20250301)
    parser.add_argument("--scratch", type=Path, help="where the corpus goes (kept; reused when it matches)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary scratch directory")
    parser.add_argument("--memory-limit", default="1GB",
                        help="also run cloudwarden with this DuckDB --memory-limit ('' to skip)")
    parser.add_argument("--no-sqlite", action="store_true", help="skip the SQLite approach (slow)")
    parser.add_argument("--child", choices=("floor", "sqlite"), help=argparse.SUPPRESS)
    parser.add_argument("--fields", default="", help=argparse.SUPPRESS)
    parser.add_argument("paths", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        # The allocator settings the cloudwarden command uses (cloudwarden.core.allocator): without them the
        # floor's gunzip buffers cost ~400,000 page faults a million events, and the floor would not be the
        # fastest means; every child runs with them, as cloudwarden does.
        from cloudwarden.core.allocator import keep_freed_buffers

        keep_freed_buffers()
        paths = list(_expand(args.paths))
        if args.child == "floor":
            child_floor(paths, args.fields.split(","))
        else:
            child_sqlite(paths)
        return
    scratch = args.scratch or Path(tempfile.mkdtemp(prefix="cw-bench-detect-"))
    scratch.mkdir(parents=True, exist_ok=True)
    try:
        corpus_dir = scratch / "corpus"
        files, raw_bytes, gen_seconds = generate(corpus_dir, args.events, args.seed)
        paths = [str(p) for p in log_files(corpus_dir)]
        gz_bytes = sum(Path(p).stat().st_size for p in paths)
        print(f"corpus: {args.events:,} events, {files} files in {corpus_dir}"
              + (f" (generated in {gen_seconds:.0f}s)" if gen_seconds else " (reused)"), flush=True)
        rows = [measure_floor(paths, args.events)]
        print(f"  floor {rows[-1].seconds:.1f}s", flush=True)
        rows.append(measure_cloudwarden([str(corpus_dir)], args.events, scratch))
        print(f"  cloudwarden {rows[-1].seconds:.1f}s", flush=True)
        tenth = paths[: max(1, len(paths) // 10)]
        tenth_events = min(args.events, len(tenth) * PER_FILE)
        small = measure_cloudwarden(tenth, tenth_events, scratch) if len(tenth) < len(paths) else None
        limited = (measure_cloudwarden([str(corpus_dir)], args.events, scratch, args.memory_limit)
                   if args.memory_limit else None)
        if limited is not None:
            rows.append(limited)
            print(f"  {limited.name} {limited.seconds:.1f}s", flush=True)
        if not args.no_sqlite:
            rows.append(measure_sqlite(paths, args.events, scratch))
            print(f"  SQLite approach {rows[-1].seconds:.1f}s", flush=True)
        report(rows, small, files, raw_bytes, gz_bytes, limited)
    finally:
        if not (args.scratch or args.keep):
            shutil.rmtree(scratch, ignore_errors=True)


def _expand(paths: list[str]) -> Iterator[str]:
    for path in paths:
        if path.startswith("@"):
            yield from Path(path[1:]).read_text().split("\n")
        else:
            yield path


if __name__ == "__main__":
    main()
