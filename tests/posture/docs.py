"""Builders of snapshot resource documents exactly as the snapshot contract (and botocore) shapes them.

``data`` is the list/describe item as AWS returns it, ``calls`` each detail call's response without
``ResponseMetadata`` (datetimes as ISO-8601 strings) or ``{"error": {"code", "message"}}``. Each builder
gives a well-configured resource; tests override what they need with keyword arguments.
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from cloudwarden.posture.evaluate import run_check
from cloudwarden.posture.inventory import Inventory, to_docs
from cloudwarden.posture.model import Verdict
from cloudwarden.posture.registry import load_all

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
ACCT = "222222222222"
OTHER = "333333333333"
REGION = "us-east-1"
Doc = dict[str, Any]


def ago(days: int) -> str:
    return (NOW - timedelta(days=days)).isoformat()


def error(code: str = "AccessDenied", message: str = "User is not authorized") -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


def doc(type_: str, arn: str, name: str, data: dict[str, Any] | None = None, calls: dict[str, Any] | None = None,
        account: str = ACCT, region: str = REGION, tags: dict[str, str] | None = None) -> Doc:
    return {"arn": arn, "type": type_, "account": account, "region": region, "name": name, "tags": tags or {},
            "data": data or {}, "calls": calls or {}}


def with_(base: Doc, *, data: dict[str, Any] | None = None, calls: dict[str, Any] | None = None,
          drop_calls: tuple[str, ...] = (), drop_data: tuple[str, ...] = ()) -> Doc:
    """A copy of ``base`` with data/calls keys replaced (shallow per key) or removed."""
    out = copy.deepcopy(base)
    out["data"].update(data or {})
    out["calls"].update(calls or {})
    for key in drop_calls:
        out["calls"].pop(key, None)
    for key in drop_data:
        out["data"].pop(key, None)
    return out


def verdict_of(control_id: str, subject: Doc, *context: Doc, now: datetime = NOW) -> Verdict | None:
    """Run one control on ``subject`` with ``context`` documents beside it (strict: data-shape bugs raise)."""
    item = load_all()[control_id]
    inv = Inventory(to_docs([subject, *context]), now=now)
    target = inv.docs[0]
    assert target.type in item.scope, f"{control_id} does not run on {target.type}"
    return run_check(item, target, inv, strict=True)


def status_of(control_id: str, subject: Doc, *context: Doc, now: datetime = NOW) -> str | None:
    found = verdict_of(control_id, subject, *context, now=now)
    return None if found is None else found.status.value


# --- account-level ---------------------------------------------------------------------------------------------


def account(acct: str = ACCT, **calls: Any) -> Doc:
    base = {
        "GetAccountSummary": {"SummaryMap": {"AccountMFAEnabled": 1, "AccountAccessKeysPresent": 0, "Users": 3}},
        "GetAccountPasswordPolicy": {"PasswordPolicy": {
            "MinimumPasswordLength": 14, "RequireSymbols": True, "RequireNumbers": True,
            "RequireUppercaseCharacters": True, "RequireLowercaseCharacters": True, "AllowUsersToChangePassword": True,
            "ExpirePasswords": True, "MaxPasswordAge": 90, "PasswordReusePrevention": 24}},
        "ListVirtualMFADevices": {"VirtualMFADevices": []},
        "GetCredentialReport": {"rows": [
            {"user": "<root_account>", "arn": f"arn:aws:iam::{acct}:root", "password_enabled": "not_supported",
             "password_last_used": ago(200), "mfa_active": "true", "access_key_1_active": "false",
             "access_key_1_last_used_date": "N/A", "access_key_2_active": "false",
             "access_key_2_last_used_date": "N/A"}]},
        "GetPublicAccessBlock": {"PublicAccessBlockConfiguration": {
            "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True}},
        "ListServerCertificates": {"ServerCertificateMetadataList": []},
        "GetAlternateContact": {"AlternateContact": {"AlternateContactType": "SECURITY", "Name": "SecOps",
                                                     "EmailAddress": "secops@example.com"}},
    }
    base.update(calls)
    return doc("AwsAccount", f"arn:aws:iam::{acct}:root", acct, {"AccountId": acct}, base, account=acct)


def account_region(acct: str = ACCT, region: str = REGION, **calls: Any) -> Doc:
    base = {
        "GetEbsEncryptionByDefault": {"EbsEncryptionByDefault": True},
        "ListDetectors": {"DetectorIds": ["d1"]},
        "DescribeConfigurationRecorders": {"ConfigurationRecorders": [
            {"name": "default", "roleARN": f"arn:aws:iam::{acct}:role/config",
             "recordingGroup": {"allSupported": True, "includeGlobalResourceTypes": True}}]},
        "DescribeConfigurationRecorderStatus": {"ConfigurationRecordersStatus": [
            {"name": "default", "recording": True, "lastStatus": "SUCCESS"}]},
        "ListAnalyzers": {"analyzers": [{"arn": f"arn:aws:access-analyzer:{region}:{acct}:analyzer/a", "name": "a",
                                         "type": "ACCOUNT", "status": "ACTIVE"}]},
        "GetRegistryScanningConfiguration": {"registryId": acct, "scanningConfiguration": {"scanType": "BASIC",
                                                                                          "rules": []}},
        "GetServiceSetting": {"ServiceSetting": {"SettingId": "/ssm/documents/console/public-sharing-permission",
                                                 "SettingValue": "Disable"}},
        "DescribeHub": {"HubArn": f"arn:aws:securityhub:{region}:{acct}:hub/default"},
    }
    base.update(calls)
    return doc("AwsAccountRegion", f"arn:aws::{region}:{acct}:account-region", f"{acct}/{region}",
               {"AccountId": acct, "Region": region}, base, account=acct, region=region)


# --- IAM -------------------------------------------------------------------------------------------------------


def user(name: str = "alice", *, keys: list[dict[str, Any]] | None = None, mfa: bool = True, password: bool = True,
         inline: list[dict[str, Any]] | None = None, attached: list[str] | None = None, groups: list[str] | None = None,
         created_days: int = 300, password_last_used_days: int | None = 2, acct: str = ACCT) -> Doc:
    keys = keys if keys is not None else [{"AccessKeyId": "AKIAALICE0000001", "Status": "Active",
                                           "CreateDate": ago(20), "last_used": ago(1)}]
    data: dict[str, Any] = {
        "Path": "/", "UserName": name, "UserId": f"AIDA{name.upper()}", "Arn": f"arn:aws:iam::{acct}:user/{name}",
        "CreateDate": ago(created_days), "UserPolicyList": inline or [], "GroupList": groups or ["developers"],
        "AttachedManagedPolicies": [{"PolicyName": a.rsplit("/", 1)[-1], "PolicyArn": a} for a in attached or []],
        "Tags": [],
    }
    if password and password_last_used_days is not None:
        data["PasswordLastUsed"] = ago(password_last_used_days)
    last_used = {
        k["AccessKeyId"]: {"UserName": name, "AccessKeyLastUsed": (
            {"LastUsedDate": k["last_used"], "ServiceName": "s3", "Region": REGION} if k.get("last_used")
            else {"ServiceName": "N/A", "Region": "N/A"})}
        for k in keys}
    calls = {
        "ListAccessKeys": {"AccessKeyMetadata": [{"UserName": name, "AccessKeyId": k["AccessKeyId"],
                                                  "Status": k["Status"], "CreateDate": k["CreateDate"]} for k in keys]},
        "GetAccessKeyLastUsed": last_used,
        "ListMFADevices": {"MFADevices": [{"UserName": name, "SerialNumber": f"arn:aws:iam::{acct}:mfa/{name}",
                                           "EnableDate": ago(100)}] if mfa else []},
        "GetLoginProfile": ({"LoginProfile": {"UserName": name, "CreateDate": ago(created_days),
                                              "PasswordResetRequired": False}} if password
                            else error("NoSuchEntity", f"Login Profile for User {name} cannot be found.")),
    }
    return doc("AwsIamUser", data["Arn"], name, data, calls, account=acct)


def key(key_id: str, *, created: int, used: int | None, active: bool = True) -> dict[str, Any]:
    return {"AccessKeyId": key_id, "Status": "Active" if active else "Inactive", "CreateDate": ago(created),
            "last_used": ago(used) if used is not None else None}


def statement(action: Any = "s3:GetObject", resource: Any = "*", effect: str = "Allow", **extra: Any) -> dict[str, Any]:
    return {"Effect": effect, "Action": action, "Resource": resource, **extra}


def policy_doc(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def inline_policy(name: str, *statements: dict[str, Any]) -> dict[str, Any]:
    return {"PolicyName": name, "PolicyDocument": policy_doc(*statements)}


def role(name: str = "app", *, trust: dict[str, Any] | None = None, attached: list[str] | None = None,
         inline: list[dict[str, Any]] | None = None, acct: str = ACCT) -> Doc:
    trust = trust or policy_doc({"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"},
                                 "Action": "sts:AssumeRole"})
    data = {"Path": "/", "RoleName": name, "RoleId": f"AROA{name.upper()}", "Arn": f"arn:aws:iam::{acct}:role/{name}",
            "CreateDate": ago(100), "AssumeRolePolicyDocument": trust, "RolePolicyList": inline or [],
            "AttachedManagedPolicies": [{"PolicyName": a.rsplit("/", 1)[-1], "PolicyArn": a} for a in attached or []],
            "InstanceProfileList": [], "Tags": [], "RoleLastUsed": {}}
    return doc("AwsIamRole", data["Arn"], name, data, {}, account=acct)


def managed_policy(name: str, document: dict[str, Any], *, aws: bool = False, attachments: int = 1,
                   acct: str = ACCT) -> Doc:
    arn = f"arn:aws:iam::aws:policy/{name}" if aws else f"arn:aws:iam::{acct}:policy/{name}"
    data = {"PolicyName": name, "PolicyId": f"ANPA{name.upper()}", "Arn": arn, "Path": "/", "DefaultVersionId": "v2",
            "AttachmentCount": attachments, "IsAttachable": True, "CreateDate": ago(50), "UpdateDate": ago(10),
            "PolicyVersionList": [{"Document": policy_doc(statement("s3:ListBucket")), "VersionId": "v1",
                                   "IsDefaultVersion": False, "CreateDate": ago(50)},
                                  {"Document": document, "VersionId": "v2", "IsDefaultVersion": True,
                                   "CreateDate": ago(10)}]}
    return doc("AwsIamPolicy", arn, name, data, {}, account="aws" if aws else acct)


# --- S3 --------------------------------------------------------------------------------------------------------

OWNER = "75aa57f09aa0c8caeab4f8c24e99d10f8e7faeebf76c078efc7c6caea54ba06a"


def bucket(name: str = "data-222222222222", acct: str = ACCT, **calls: Any) -> Doc:
    base: dict[str, Any] = {
        "GetBucketPolicy": error("NoSuchBucketPolicy", "The bucket policy does not exist"),
        "GetBucketPolicyStatus": {"PolicyStatus": {"IsPublic": False}},
        "GetBucketAcl": {"Owner": {"ID": OWNER}, "Grants": [
            {"Grantee": {"ID": OWNER, "Type": "CanonicalUser"}, "Permission": "FULL_CONTROL"}]},
        "GetPublicAccessBlock": {"PublicAccessBlockConfiguration": {
            "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True}},
        "GetBucketEncryption": {"ServerSideEncryptionConfiguration": {"Rules": [
            {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": "k"},
             "BucketKeyEnabled": True}]}},
        "GetBucketLogging": {"LoggingEnabled": {"TargetBucket": "logs-222222222222", "TargetPrefix": f"{name}/"}},
        "GetBucketVersioning": {"Status": "Enabled", "MFADelete": "Enabled"},
        "GetBucketLifecycleConfiguration": {"Rules": [{"ID": "expire", "Status": "Enabled",
                                                       "Expiration": {"Days": 365}, "Filter": {}}]},
        "GetBucketOwnershipControls": {"OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}},
    }
    base.update(calls)
    return doc("AwsS3Bucket", f"arn:aws:s3:::{name}", name, {"Name": name, "CreationDate": ago(400),
                                                            "BucketRegion": REGION}, base, account=acct)


def bucket_policy(*statements: dict[str, Any]) -> dict[str, Any]:
    document = policy_doc(*statements)
    return {"Policy": json.dumps(document), "PolicyDocument": document}


def deny_http(name: str) -> dict[str, Any]:
    return {"Effect": "Deny", "Principal": "*", "Action": "s3:*",
            "Resource": [f"arn:aws:s3:::{name}", f"arn:aws:s3:::{name}/*"],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}}}


# --- EC2 / VPC -------------------------------------------------------------------------------------------------


def instance(name: str = "worker-1", **data: Any) -> Doc:
    base: dict[str, Any] = {
        "InstanceId": "i-0123456789abcdef0", "ImageId": "ami-1", "InstanceType": "t3.micro",
        "State": {"Code": 16, "Name": "running"}, "SubnetId": "subnet-private", "VpcId": "vpc-main",
        "PrivateIpAddress": "10.10.2.10", "VirtualizationType": "hvm", "StateTransitionReason": "",
        "MetadataOptions": {"State": "applied", "HttpTokens": "required", "HttpPutResponseHopLimit": 1,
                            "HttpEndpoint": "enabled"},
        "IamInstanceProfile": {"Arn": f"arn:aws:iam::{ACCT}:instance-profile/app", "Id": "AIPA1"},
        "SecurityGroups": [{"GroupName": "worker", "GroupId": "sg-worker"}],
        "NetworkInterfaces": [{"NetworkInterfaceId": "eni-1", "SubnetId": "subnet-private",
                               "Groups": [{"GroupName": "worker", "GroupId": "sg-worker"}]}],
        "Tags": [{"Key": "Name", "Value": name}],
    }
    base.update(data)
    calls = {"DescribeInstanceAttribute_userData": {"InstanceId": base["InstanceId"], "UserDataText": "#!/bin/sh\n",
                                                    "plaintext_check": {"looks_secret": False, "reasons": []}}}
    return doc("AwsEc2Instance", f"arn:aws:ec2:{REGION}:{ACCT}:instance/{base['InstanceId']}", name, base, calls)


def security_group(group_id: str = "sg-worker", name: str = "worker", *, ingress: list[dict[str, Any]] | None = None,
                   egress: list[dict[str, Any]] | None = None, vpc: str = "vpc-main") -> Doc:
    data = {"GroupId": group_id, "GroupName": name, "VpcId": vpc, "OwnerId": ACCT, "Description": name,
            "IpPermissions": ingress or [], "IpPermissionsEgress": egress or []}
    return doc("AwsEc2SecurityGroup", f"arn:aws:ec2:{REGION}:{ACCT}:security-group/{group_id}", name, data)


def rule(protocol: str = "tcp", from_port: int | None = 443, to_port: int | None = None, *, cidr: str | None = None,
         cidr6: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"IpProtocol": protocol, "IpRanges": [], "Ipv6Ranges": [], "UserIdGroupPairs": [],
                           "PrefixListIds": []}
    if from_port is not None:
        out["FromPort"] = from_port
        out["ToPort"] = to_port if to_port is not None else from_port
    if cidr:
        out["IpRanges"] = [{"CidrIp": cidr}]
    if cidr6:
        out["Ipv6Ranges"] = [{"CidrIpv6": cidr6}]
    return out


def nacl_entry(number: int, action: str, *, protocol: str = "-1", ports: tuple[int, int] | None = None,
               cidr: str = "0.0.0.0/0", egress: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {"RuleNumber": number, "Protocol": protocol, "RuleAction": action, "Egress": egress,
                           "CidrBlock": cidr}
    if ports:
        out["PortRange"] = {"From": ports[0], "To": ports[1]}
    return out


def nacl(acl_id: str = "acl-restricted", name: str = "restricted", *, entries: list[dict[str, Any]] | None = None,
         subnets: tuple[str, ...] = ("subnet-public",), default: bool = False, vpc: str = "vpc-main") -> Doc:
    entries = entries if entries is not None else [
        nacl_entry(50, "deny", protocol="6", ports=(22, 22)), nacl_entry(51, "deny", protocol="6", ports=(3389, 3389)),
        nacl_entry(100, "allow"), nacl_entry(32767, "deny"), nacl_entry(100, "allow", egress=True)]
    data = {"NetworkAclId": acl_id, "VpcId": vpc, "IsDefault": default, "Entries": entries,
            "Associations": [{"NetworkAclAssociationId": f"aclassoc-{s}", "NetworkAclId": acl_id, "SubnetId": s}
                             for s in subnets]}
    return doc("AwsEc2NetworkAcl", f"arn:aws:ec2:{REGION}:{ACCT}:network-acl/{acl_id}", name, data)


def subnet(subnet_id: str = "subnet-public", *, zone: str = "us-east-1a", public_ip: bool = False,
           vpc: str = "vpc-main") -> Doc:
    data = {"SubnetId": subnet_id, "VpcId": vpc, "AvailabilityZone": zone, "CidrBlock": "10.10.1.0/24",
            "MapPublicIpOnLaunch": public_ip, "State": "available"}
    return doc("AwsEc2Subnet", f"arn:aws:ec2:{REGION}:{ACCT}:subnet/{subnet_id}", subnet_id, data)


def route_table(rtb_id: str = "rtb-public", *, subnets: tuple[str, ...] = ("subnet-public",), igw: bool = True,
                main: bool = False, vpc: str = "vpc-main") -> Doc:
    routes: list[dict[str, Any]] = [{"DestinationCidrBlock": "10.10.0.0/16", "GatewayId": "local", "State": "active"}]
    if igw:
        routes.append({"DestinationCidrBlock": "0.0.0.0/0", "GatewayId": "igw-1", "State": "active"})
    assocs: list[dict[str, Any]] = [{"RouteTableAssociationId": f"rtbassoc-{s}", "RouteTableId": rtb_id, "SubnetId": s,
                                     "Main": False} for s in subnets]
    if main:
        assocs.append({"RouteTableAssociationId": "rtbassoc-main", "RouteTableId": rtb_id, "Main": True})
    data = {"RouteTableId": rtb_id, "VpcId": vpc, "Routes": routes, "Associations": assocs}
    return doc("AwsEc2RouteTable", f"arn:aws:ec2:{REGION}:{ACCT}:route-table/{rtb_id}", rtb_id, data)


def vpc(vpc_id: str = "vpc-main", name: str = "prod-main", *, flow_logs: bool = True) -> Doc:
    logs = [{"FlowLogId": "fl-1", "FlowLogStatus": "ACTIVE", "ResourceId": vpc_id, "TrafficType": "ALL",
             "LogDestinationType": "s3"}] if flow_logs else []
    return doc("AwsEc2Vpc", f"arn:aws:ec2:{REGION}:{ACCT}:vpc/{vpc_id}", name,
               {"VpcId": vpc_id, "CidrBlock": "10.10.0.0/16", "IsDefault": False, "State": "available"},
               {"DescribeFlowLogs": {"FlowLogs": logs}})


def endpoint(service: str, vpc_id: str = "vpc-main") -> Doc:
    data = {"VpcEndpointId": f"vpce-{service}", "VpcEndpointType": "Interface", "VpcId": vpc_id,
            "ServiceName": f"com.amazonaws.{REGION}.{service}", "State": "available"}
    return doc("AwsEc2VpcEndpoint", f"arn:aws:ec2:{REGION}:{ACCT}:vpc-endpoint/vpce-{service}", service, data)


# --- KMS, CloudTrail, GuardDuty --------------------------------------------------------------------------------


def kms_key(key_id: str = "1234abcd-12ab-34cd-56ef-1234567890ab", *, rotation: bool = True,
            policy: dict[str, Any] | None = None, **data: Any) -> Doc:
    arn = f"arn:aws:kms:{REGION}:{ACCT}:key/{key_id}"
    meta = {"AWSAccountId": ACCT, "KeyId": key_id, "Arn": arn, "CreationDate": ago(300), "Enabled": True,
            "KeyUsage": "ENCRYPT_DECRYPT", "KeyState": "Enabled", "Origin": "AWS_KMS", "KeyManager": "CUSTOMER",
            "KeySpec": "SYMMETRIC_DEFAULT", "CustomerMasterKeySpec": "SYMMETRIC_DEFAULT", "MultiRegion": False}
    meta.update(data)
    document = policy or policy_doc({"Sid": "root", "Effect": "Allow",
                                     "Principal": {"AWS": f"arn:aws:iam::{ACCT}:root"}, "Action": "kms:*",
                                     "Resource": "*"})
    calls = {"GetKeyRotationStatus": {"KeyRotationEnabled": rotation},
             "GetKeyPolicy": {"Policy": json.dumps(document), "PolicyDocument": document, "PolicyName": "default"}}
    return doc("AwsKmsKey", arn, key_id, meta, calls)


def trail(name: str = "org-trail", *, multi_region: bool = True, logging: bool = True, validation: bool = True,
          kms: bool = True, cloudwatch: bool = True, bucket_name: str = "trail-bucket", region: str = REGION,
          home: str = REGION, selectors: dict[str, Any] | None = None, acct: str = ACCT) -> Doc:
    arn = f"arn:aws:cloudtrail:{home}:{acct}:trail/{name}"
    data: dict[str, Any] = {"Name": name, "S3BucketName": bucket_name, "IncludeGlobalServiceEvents": True,
                            "IsMultiRegionTrail": multi_region, "HomeRegion": home, "TrailARN": arn,
                            "LogFileValidationEnabled": validation, "HasCustomEventSelectors": False,
                            "HasInsightSelectors": False, "IsOrganizationTrail": False}
    if kms:
        data["KmsKeyId"] = f"arn:aws:kms:{home}:{acct}:key/trail"
    if cloudwatch:
        data["CloudWatchLogsLogGroupArn"] = f"arn:aws:logs:{home}:{acct}:log-group:trail-logs:*"
        data["CloudWatchLogsRoleArn"] = f"arn:aws:iam::{acct}:role/trail-to-cw"
    calls = {"GetTrailStatus": {"IsLogging": logging},
             "GetEventSelectors": selectors or {"TrailARN": arn, "EventSelectors": [
                 {"ReadWriteType": "All", "IncludeManagementEvents": True, "DataResources": [],
                  "ExcludeManagementEventSources": []}]}}
    return doc("AwsCloudTrailTrail", arn, name, data, calls, account=acct, region=region)


def detector(detector_id: str = "d1", *, features: list[dict[str, Any]] | None = None, status: str = "ENABLED",
             region: str = REGION) -> Doc:
    names = ("CLOUD_TRAIL", "DNS_LOGS", "FLOW_LOGS", "S3_DATA_EVENTS", "EKS_AUDIT_LOGS", "EBS_MALWARE_PROTECTION",
             "RDS_LOGIN_EVENTS", "LAMBDA_NETWORK_LOGS")
    features = features if features is not None else [
        *({"Name": n, "Status": "ENABLED", "UpdatedAt": ago(3)} for n in names),
        {"Name": "RUNTIME_MONITORING", "Status": "ENABLED", "AdditionalConfiguration": [
            {"Name": c, "Status": "ENABLED"} for c in ("EKS_ADDON_MANAGEMENT", "ECS_FARGATE_AGENT_MANAGEMENT",
                                                       "EC2_AGENT_MANAGEMENT")]}]
    answer = {"CreatedAt": ago(100), "FindingPublishingFrequency": "SIX_HOURS", "ServiceRole": "r",
              "Status": status, "Features": features}
    return doc("AwsGuardDutyDetector", f"arn:aws:guardduty:{region}:{ACCT}:detector/{detector_id}", detector_id,
               {"DetectorId": detector_id}, {"GetDetector": answer}, region=region)


# --- RDS, secrets, SSM, Lambda, ECR ----------------------------------------------------------------------------


def db_instance(name: str = "orders-db", **data: Any) -> Doc:
    base: dict[str, Any] = {
        "DBInstanceIdentifier": name, "DBInstanceClass": "db.t3.micro", "Engine": "postgres",
        "DBInstanceStatus": "available", "MasterUsername": "orders_admin", "Endpoint": {"Address": "x", "Port": 6543},
        "PubliclyAccessible": False, "StorageEncrypted": True, "MultiAZ": True, "DeletionProtection": True,
        "IAMDatabaseAuthenticationEnabled": True, "AutoMinorVersionUpgrade": True, "BackupRetentionPeriod": 7,
        "MonitoringInterval": 60, "CopyTagsToSnapshot": True, "EnabledCloudwatchLogsExports": ["postgresql"],
        "VpcSecurityGroups": [{"VpcSecurityGroupId": "sg-db", "Status": "active"}],
        "DBSubnetGroup": {"DBSubnetGroupName": "private", "VpcId": "vpc-main", "Subnets": [
            {"SubnetIdentifier": "subnet-private", "SubnetAvailabilityZone": {"Name": "us-east-1a"}}]},
        "DBInstanceArn": f"arn:aws:rds:{REGION}:{ACCT}:db:{name}",
    }
    base.update(data)
    return doc("AwsRdsDbInstance", base["DBInstanceArn"], name, base)


def db_cluster(name: str = "orders-cluster", **data: Any) -> Doc:
    base: dict[str, Any] = {
        "DBClusterIdentifier": name, "Engine": "aurora-postgresql", "MasterUsername": "orders_admin",
        "StorageEncrypted": True, "MultiAZ": True, "DeletionProtection": True, "IAMDatabaseAuthenticationEnabled": True,
        "AutoMinorVersionUpgrade": True, "CopyTagsToSnapshot": True, "EnabledCloudwatchLogsExports": ["postgresql"],
        "DBClusterArn": f"arn:aws:rds:{REGION}:{ACCT}:cluster:{name}",
    }
    base.update(data)
    return doc("AwsRdsDbCluster", base["DBClusterArn"], name, base)


def db_snapshot(name: str = "orders-snap", *, public: bool = False, encrypted: bool = True) -> Doc:
    arn = f"arn:aws:rds:{REGION}:{ACCT}:snapshot:{name}"
    data = {"DBSnapshotIdentifier": name, "DBInstanceIdentifier": "orders-db", "Encrypted": encrypted,
            "DBSnapshotArn": arn, "SnapshotType": "manual"}
    calls = {"DescribeDBSnapshotAttributes": {"DBSnapshotAttributesResult": {
        "DBSnapshotIdentifier": name, "DBSnapshotAttributes": [
            {"AttributeName": "restore", "AttributeValues": ["all"] if public else []}]}}}
    return doc("AwsRdsDbSnapshot", arn, name, data, calls)


def secret(name: str = "prod/payments/api-key", *, rotation: bool = True, rotated_days: int | None = 10,
           accessed_days: int | None = 1, every: int = 30) -> Doc:
    arn = f"arn:aws:secretsmanager:{REGION}:{ACCT}:secret:{name}-AbCdEf"
    data: dict[str, Any] = {"ARN": arn, "Name": name, "CreatedDate": ago(200), "RotationEnabled": rotation,
                            "Tags": []}
    if rotation:
        data["RotationRules"] = {"AutomaticallyAfterDays": every}
        data["RotationLambdaARN"] = f"arn:aws:lambda:{REGION}:{ACCT}:function:rotate"
    if rotated_days is not None:
        data["LastRotatedDate"] = ago(rotated_days)
    if accessed_days is not None:
        data["LastAccessedDate"] = ago(accessed_days)
    return doc("AwsSecretsManagerSecret", arn, name, data, {"DescribeSecret": dict(data)})


def parameter(name: str = "/prod/app/api_token", *, type_: str = "SecureString",
              check: dict[str, Any] | None = None) -> Doc:
    data = {"Name": name, "Type": type_, "Version": 1, "LastModifiedDate": ago(5), "Tier": "Standard",
            "DataType": "text"}
    calls = {}
    if type_ == "String":
        calls["GetParameter_plaintext_check"] = check or {"looks_secret": False, "reason": "", "entropy": 1.2}
    return doc("AwsSsmParameter", f"arn:aws:ssm:{REGION}:{ACCT}:parameter{name}", name, data, calls)


def function(name: str = "orders-handler", *, policy: dict[str, Any] | None = None,
             env: dict[str, dict[str, Any]] | None = None, **data: Any) -> Doc:
    arn = f"arn:aws:lambda:{REGION}:{ACCT}:function:{name}"
    base: dict[str, Any] = {"FunctionName": name, "FunctionArn": arn, "Runtime": "python3.12", "PackageType": "Zip",
                            "Role": f"arn:aws:iam::{ACCT}:role/{name}-role", "Handler": "app.handler",
                            "Environment": {"Variables": env or {"LOG_LEVEL": {"looks_secret": False, "reason": ""}}}}
    base.update(data)
    calls: dict[str, Any] = {
        "GetPolicy": ({"Policy": json.dumps(policy), "PolicyDocument": policy, "RevisionId": "r"} if policy
                      else error("ResourceNotFoundException", "The resource you requested does not exist.")),
        "GetFunctionUrlConfig": error("ResourceNotFoundException", "The resource you requested does not exist."),
    }
    return doc("AwsLambdaFunction", arn, name, base, calls)


def repository(name: str = "prod/api", *, scan: bool = True, mutability: str = "IMMUTABLE",
               lifecycle: bool = True) -> Doc:
    arn = f"arn:aws:ecr:{REGION}:{ACCT}:repository/{name}"
    data = {"repositoryArn": arn, "registryId": ACCT, "repositoryName": name, "imageTagMutability": mutability,
            "imageScanningConfiguration": {"scanOnPush": scan}, "encryptionConfiguration": {"encryptionType": "AES256"}}
    calls = {"GetLifecyclePolicy": ({"registryId": ACCT, "repositoryName": name, "lifecyclePolicyText": "{}"}
                                    if lifecycle else error("LifecyclePolicyNotFoundException", "none")),
             "GetRepositoryPolicy": error("RepositoryPolicyNotFoundException", "none")}
    return doc("AwsEcrRepository", arn, name, data, calls)
