"""EC2 controls over instances, volumes, snapshots, images, subnets, ENIs, launch templates and the
account-region EBS settings. Security groups, network ACLs, VPCs and reachability are in
:mod:`cloudwarden.posture.network`.
"""

from __future__ import annotations

import re
from typing import Any

from cloudwarden.core.severity import Severity
from cloudwarden.posture.inventory import ACCOUNT_REGION, Inventory
from cloudwarden.posture.model import (
    NotAvailable,
    ResourceDoc,
    Verdict,
    failed,
    not_collected,
    parse_time,
    passed,
    verdict,
)
from cloudwarden.posture.registry import control

INSTANCE = "AwsEc2Instance"
TEMPLATE = "AwsEc2LaunchTemplate"


def live_instance(doc: ResourceDoc) -> bool:
    return str((doc.data.get("State") or {}).get("Name", "running")) not in ("terminated", "shutting-down")


def public_ips(doc: ResourceDoc) -> list[str]:
    found = {str(doc.data["PublicIpAddress"])} if doc.data.get("PublicIpAddress") else set()
    for eni in doc.data.get("NetworkInterfaces") or []:
        ip = (eni.get("Association") or {}).get("PublicIp")
        if ip:
            found.add(str(ip))
    return sorted(found)


@control("EC2.1", title="Amazon EBS snapshots should not be publicly restorable", severity=Severity.CRITICAL,
         resource_type="AwsEc2Snapshot", service="ec2", calls=("DescribeSnapshotAttribute",),
         rationale="Anyone can create a volume from a public snapshot and read its data.",
         remediation="Remove the 'all' group from the snapshot's createVolumePermission.",
         cli="aws ec2 modify-snapshot-attribute --snapshot-id <id> --attribute createVolumePermission "
             "--operation-type remove --group-names all")
def public_snapshot(doc: ResourceDoc, inv: Inventory) -> Verdict:
    answer = doc.call("DescribeSnapshotAttribute_createVolumePermission") or {}
    public = any(p.get("Group") == "all" for p in answer.get("CreateVolumePermissions") or [])
    return verdict(not public, f"snapshot {doc.label} is not public",
                   f"snapshot {doc.label} can be restored by anyone (createVolumePermission: all)")


@control("CW.EC2.4", title="Amazon EBS snapshots should be encrypted", severity=Severity.MEDIUM,
         resource_type="AwsEc2Snapshot", service="ec2", categories=("encryption",),
         rationale="An unencrypted snapshot copies the volume's data with no key policy in front of it.",
         remediation="Copy the snapshot with encryption on, then delete the unencrypted one.",
         cli="aws ec2 copy-snapshot --source-snapshot-id <id> --source-region <r> --encrypted --kms-key-id <key>")
def snapshot_encrypted(doc: ResourceDoc, inv: Inventory) -> Verdict:
    return verdict(bool(doc.need("Encrypted")), f"snapshot {doc.label} is encrypted",
                   f"snapshot {doc.label} is not encrypted")


@control("EC2.3", title="Attached Amazon EBS volumes should be encrypted at-rest", severity=Severity.MEDIUM,
         resource_type="AwsEc2Volume", service="ec2", categories=("encryption",),
         rationale="Encryption at rest protects volume data, its snapshots and the volumes made from them.",
         remediation="Snapshot the volume, copy the snapshot encrypted, and replace the volume with one made from it.",
         cli="aws ec2 copy-snapshot --source-snapshot-id <id> --source-region <r> --encrypted; "
             "aws ec2 create-volume --snapshot-id <copy> --availability-zone <az>")
def volume_encrypted(doc: ResourceDoc, inv: Inventory) -> Verdict | None:
    attached = [a for a in doc.data.get("Attachments") or [] if a.get("State", "attached") in ("attached",
                                                                                              "attaching")]
    if not attached:
        return None
    on = bool(doc.need("Encrypted"))
    to = ", ".join(str(a.get("InstanceId")) for a in attached)
    return verdict(on, f"volume {doc.label} (on {to}) is encrypted", f"volume {doc.label} (on {to}) is not encrypted")


_STOPPED_AT = re.compile(r"\((\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}) GMT\)")


@control("EC2.4", title="Stopped EC2 instances should be removed after a specified time period",
         severity=Severity.MEDIUM, resource_type=INSTANCE, service="ec2",
         rationale="Instances stopped for a long time keep old, unpatched software and attached data around.",
         remediation="Terminate instances stopped for more than 30 days (after keeping what is needed).",
         cli="aws ec2 terminate-instances --instance-ids <id>")
def stopped_too_long(doc: ResourceDoc, inv: Inventory) -> Verdict | None:
    if not live_instance(doc):
        return None
    state = (doc.data.get("State") or {}).get("Name")
    if state != "stopped":
        return passed(f"instance {doc.label} is {state}")
    match = _STOPPED_AT.search(str(doc.data.get("StateTransitionReason", "")))
    when = parse_time(match.group(1).replace(" ", "T") + "+00:00") if match else None
    if when is None:
        raise NotAvailable(f"when instance {doc.label} was stopped is not in the snapshot")
    days = (inv.now - when).days
    return verdict(days <= 30, f"instance {doc.label} was stopped {days} days ago",
                   f"instance {doc.label} has been stopped for {days} days")


@control("EC2.7", title="EBS default encryption should be enabled", severity=Severity.MEDIUM,
         resource_type=ACCOUNT_REGION, service="ec2", calls=("GetEbsEncryptionByDefault",), categories=("encryption",),
         rationale="With default encryption every new volume and snapshot copy is encrypted, whoever creates it.",
         remediation="Enable EBS encryption by default in every region.",
         cli="aws ec2 enable-ebs-encryption-by-default --region <region>")
def ebs_default_encryption(doc: ResourceDoc, inv: Inventory) -> Verdict:
    on = bool((doc.call("GetEbsEncryptionByDefault") or {}).get("EbsEncryptionByDefault"))
    return verdict(on, f"EBS encryption by default is on in {doc.account}/{doc.region}",
                   f"EBS encryption by default is off in {doc.account}/{doc.region}")


@control("EC2.8", title="EC2 instances should use Instance Metadata Service Version 2 (IMDSv2)",
         severity=Severity.HIGH, resource_type=INSTANCE, service="ec2",
         rationale="IMDSv1 answers any request, so an SSRF bug can steal the instance role's credentials.",
         remediation="Require session tokens (IMDSv2) on the instance.",
         cli="aws ec2 modify-instance-metadata-options --instance-id <id> --http-tokens required")
def imdsv2(doc: ResourceDoc, inv: Inventory) -> Verdict | None:
    if not live_instance(doc):
        return None
    options = doc.need("MetadataOptions") or {}
    ok = options.get("HttpTokens") == "required" or options.get("HttpEndpoint") == "disabled"
    return verdict(ok, f"instance {doc.label} requires IMDSv2",
                   f"instance {doc.label} allows IMDSv1 (HttpTokens: {options.get('HttpTokens')})")


@control("EC2.9", title="Amazon EC2 instances should not have a public IPv4 address", severity=Severity.HIGH,
         resource_type=INSTANCE, service="ec2",
         rationale="A public address puts the instance one security group rule away from the internet.",
         remediation="Launch instances without public addresses; reach them through load balancers or SSM.",
         cli="aws ec2 modify-subnet-attribute --subnet-id <id> --no-map-public-ip-on-launch")
def no_public_ip(doc: ResourceDoc, inv: Inventory) -> Verdict | None:
    if not live_instance(doc):
        return None
    ips = public_ips(doc)
    return verdict(not ips, f"instance {doc.label} has no public IPv4 address",
                   f"instance {doc.label} has public IPv4 address {', '.join(ips)}")


@control("EC2.15", title="Amazon EC2 subnets should not automatically assign public IP addresses",
         severity=Severity.MEDIUM, resource_type="AwsEc2Subnet", service="ec2",
         rationale="Subnets that hand out public addresses make every instance launched there internet-facing.",
         remediation="Turn off auto-assign public IPv4 on the subnet.",
         cli="aws ec2 modify-subnet-attribute --subnet-id <id> --no-map-public-ip-on-launch")
def subnet_auto_public_ip(doc: ResourceDoc, inv: Inventory) -> Verdict:
    on = bool(doc.need("MapPublicIpOnLaunch"))
    return verdict(not on, f"subnet {doc.label} does not assign public addresses",
                   f"subnet {doc.label} assigns public IPv4 addresses on launch")


@control("EC2.17", title="Amazon EC2 instances should not use multiple ENIs", severity=Severity.LOW,
         resource_type=INSTANCE, service="ec2",
         rationale="Several interfaces can bridge subnets that were meant to be separate.",
         remediation="Detach interfaces the instance does not need.",
         cli="aws ec2 detach-network-interface --attachment-id <id>")
def single_eni(doc: ResourceDoc, inv: Inventory) -> Verdict | None:
    if not live_instance(doc):
        return None
    count = len(doc.data.get("NetworkInterfaces") or [])
    return verdict(count <= 1, f"instance {doc.label} has {count} network interface(s)",
                   f"instance {doc.label} has {count} network interfaces")


@control("EC2.24", title="Amazon EC2 paravirtual instance types should not be used", severity=Severity.MEDIUM,
         resource_type=INSTANCE, service="ec2",
         rationale="Paravirtual (PV) instances miss the hardware and security features of HVM.",
         remediation="Migrate the workload to an HVM instance type.",
         cli="aws ec2 run-instances --image-id <hvm-ami> ...")
def not_paravirtual(doc: ResourceDoc, inv: Inventory) -> Verdict | None:
    if not live_instance(doc):
        return None
    kind = doc.data.get("VirtualizationType", "hvm")
    return verdict(kind != "paravirtual", f"instance {doc.label} is {kind}", f"instance {doc.label} is paravirtual")


@control("CW.EC2.1", title="EC2 instances should use IAM instance roles for AWS access", severity=Severity.MEDIUM,
         resource_type=INSTANCE, service="ec2",
         rationale="An instance role hands the instance short-lived credentials instead of long-lived keys on disk.",
         remediation="Attach an instance profile with the permissions the workload needs.",
         cli="aws ec2 associate-iam-instance-profile --instance-id <id> --iam-instance-profile Name=<profile>")
def instance_profile(doc: ResourceDoc, inv: Inventory) -> Verdict | None:
    if not live_instance(doc):
        return None
    profile = (doc.data.get("IamInstanceProfile") or {}).get("Arn")
    return verdict(bool(profile), f"instance {doc.label} uses instance profile {profile}",
                   f"instance {doc.label} has no IAM instance profile")


@control("CW.EC2.3", title="Amazon Machine Images should not be public", severity=Severity.CRITICAL,
         resource_type="AwsEc2Image", service="ec2", calls=("DescribeImageAttribute",),
         rationale="A public AMI lets anyone launch a copy of the image, with whatever data and secrets it holds.",
         remediation="Remove the 'all' group from the image's launch permission.",
         cli="aws ec2 modify-image-attribute --image-id <id> --launch-permission 'Remove=[{Group=all}]'")
def public_image(doc: ResourceDoc, inv: Inventory) -> Verdict:
    if doc.data.get("Public") is True:
        return failed(f"image {doc.label} is public")
    answer = doc.call("DescribeImageAttribute_launchPermission") or {}
    public = any(p.get("Group") == "all" for p in answer.get("LaunchPermissions") or [])
    return verdict(not public, f"image {doc.label} is private", f"image {doc.label} can be launched by anyone")


def user_data_verdict(answer: dict[str, Any]) -> dict[str, Any] | None:
    """The collector's plaintext-secret verdict for user data, wherever it put it."""
    for key in ("PlaintextCheck", "plaintext_check", "SecretCheck", "secret_check"):
        if isinstance(answer.get(key), dict):
            return dict(answer[key])
    if "looks_secret" in answer:
        return dict(answer)
    return None


def _reasons(found: dict[str, Any]) -> str:
    reasons = found.get("reasons") or ([found["reason"]] if found.get("reason") else [])
    return "; ".join(str(r) for r in reasons) or "pattern match"


@control("CW.EC2.5", title="EC2 user data should not hold plaintext secrets", severity=Severity.HIGH,
         resource_type=INSTANCE, service="ec2", calls=("DescribeInstanceAttribute",),
         rationale="User data is readable by anyone with ec2:DescribeInstanceAttribute and from inside the instance "
                   "through the metadata service.",
         remediation="Move the secret to Secrets Manager or an SSM SecureString and read it at boot with the "
                     "instance role; rotate the exposed secret.",
         cli="aws secretsmanager create-secret --name <name> --secret-string <value>; "
             "aws ec2 modify-instance-attribute --instance-id <id> --user-data file://clean.txt")
def user_data_secrets(doc: ResourceDoc, inv: Inventory) -> Verdict | None:
    if not live_instance(doc):
        return None
    answer = doc.call("DescribeInstanceAttribute_userData", not_configured=("InvalidInstanceID.NotFound",)) or {}
    found = user_data_verdict(answer)
    text = answer.get("UserDataText")
    if found is None:
        if text is None:
            return passed(f"instance {doc.label} has no user data")
        if "****" in str(text):
            return failed(f"the user data of {doc.label} holds a secret (masked in the snapshot)")
        raise NotAvailable(f"the plaintext-secret verdict for the user data of {doc.label} is not in the snapshot")
    return verdict(not found.get("looks_secret"), f"the user data of {doc.label} holds no secret",
                   f"the user data of {doc.label} holds a plaintext secret ({_reasons(found)})")


@control("EC2.180", title="EC2 network interfaces should have source/destination checking enabled",
         severity=Severity.MEDIUM, resource_type="AwsEc2NetworkInterface", service="ec2",
         rationale="Without the check an interface can forward traffic that is not its own.",
         remediation="Enable source/destination checking unless the interface is a NAT or firewall appliance.",
         cli="aws ec2 modify-network-interface-attribute --network-interface-id <id> --source-dest-check")
def source_dest_check(doc: ResourceDoc, inv: Inventory) -> Verdict | None:
    if doc.data.get("InterfaceType", "interface") != "interface":
        return None
    on = doc.data.get("SourceDestCheck")
    if on is None:
        raise NotAvailable(f"SourceDestCheck is not in the snapshot for {doc.label}")
    return verdict(bool(on), f"interface {doc.label} checks source/destination",
                   f"interface {doc.label} has source/destination checking off")


# --- launch templates ----------------------------------------------------------------------------------------


def template_data(doc: ResourceDoc) -> dict[str, Any]:
    """The latest version's LaunchTemplateData, wherever the collector put it."""
    if isinstance(doc.data.get("LaunchTemplateData"), dict):
        return dict(doc.data["LaunchTemplateData"])
    latest = doc.data.get("LatestVersion")
    if isinstance(latest, dict) and isinstance(latest.get("LaunchTemplateData"), dict):
        return dict(latest["LaunchTemplateData"])
    answer = doc.call("DescribeLaunchTemplateVersions") or {}
    versions = answer.get("LaunchTemplateVersions") or []
    if not versions:
        raise NotAvailable(f"no version of launch template {doc.label} is in the snapshot")
    newest = max(versions, key=lambda v: int(v.get("VersionNumber", 0)))
    return dict(newest.get("LaunchTemplateData") or {})


@control("EC2.25", title="Amazon EC2 launch templates should not assign public IPs to network interfaces",
         severity=Severity.HIGH, resource_type=TEMPLATE, service="ec2",
         rationale="Every instance launched from the template would get a public address.",
         remediation="Create a template version without AssociatePublicIpAddress and make it the default.",
         cli="aws ec2 create-launch-template-version --launch-template-id <id> --launch-template-data file://d.json")
def template_public_ip(doc: ResourceDoc, inv: Inventory) -> Verdict:
    data = template_data(doc)
    public = any(n.get("AssociatePublicIpAddress") for n in data.get("NetworkInterfaces") or [])
    return verdict(not public, f"launch template {doc.label} assigns no public address",
                   f"launch template {doc.label} assigns public IP addresses")


@control("EC2.170", title="EC2 launch templates should use Instance Metadata Service Version 2 (IMDSv2)",
         severity=Severity.LOW, resource_type=TEMPLATE, service="ec2",
         rationale="Instances launched from the template would otherwise answer IMDSv1 requests.",
         remediation="Create a template version with MetadataOptions HttpTokens=required.",
         cli="aws ec2 create-launch-template-version --launch-template-id <id> "
             "--launch-template-data '{\"MetadataOptions\":{\"HttpTokens\":\"required\"}}'")
def template_imdsv2(doc: ResourceDoc, inv: Inventory) -> Verdict:
    tokens = (template_data(doc).get("MetadataOptions") or {}).get("HttpTokens")
    return verdict(tokens == "required", f"launch template {doc.label} requires IMDSv2",
                   f"launch template {doc.label} does not require IMDSv2")


@control("EC2.181", title="EC2 launch templates should enable encryption for attached EBS volumes",
         severity=Severity.MEDIUM, resource_type=TEMPLATE, service="ec2", categories=("encryption",),
         rationale="Volumes launched from the template would otherwise be created unencrypted.",
         remediation="Create a template version with Encrypted=true on every EBS block device mapping.",
         cli="aws ec2 create-launch-template-version --launch-template-id <id> --launch-template-data file://d.json")
def template_ebs_encrypted(doc: ResourceDoc, inv: Inventory) -> Verdict | None:
    mappings = [m for m in template_data(doc).get("BlockDeviceMappings") or [] if "Ebs" in m]
    if not mappings:
        return None
    plain = [str(m.get("DeviceName")) for m in mappings if not (m.get("Ebs") or {}).get("Encrypted")]
    return verdict(not plain, f"launch template {doc.label} encrypts its EBS volumes",
                   f"launch template {doc.label} leaves {', '.join(plain)} unencrypted")


# --- resource types outside the snapshot contract ----------------------------------------------------------------


def _uncollected(control_id: str, title: str, what: str, resource_type: str, severity: Severity, fix: str,
                 cli: str) -> None:
    def check(doc: ResourceDoc, inv: Inventory) -> Verdict:
        not_collected(what)

    check.__name__ = "uncollected_" + control_id.replace(".", "_").lower()
    control(control_id, title=title, severity=severity, resource_type=resource_type, scope=ACCOUNT_REGION,
            service="ec2", rationale=f"{title}.", remediation=fix, cli=cli)(check)


_uncollected("EC2.20", "Both VPN tunnels for an AWS Site-to-Site VPN connection should be up",
             "Site-to-Site VPN connections", "AwsEc2VpnConnection", Severity.MEDIUM,
             "Bring the down tunnel back up (check the customer gateway).", "aws ec2 describe-vpn-connections")
_uncollected("EC2.23", "Amazon EC2 Transit Gateways should not automatically accept VPC attachment requests",
             "Transit gateways", "AwsEc2TransitGateway", Severity.HIGH,
             "Turn off AutoAcceptSharedAttachments.",
             "aws ec2 modify-transit-gateway --transit-gateway-id <id> --options AutoAcceptSharedAttachments=disable")
_uncollected("EC2.51", "EC2 Client VPN endpoints should have client connection logging enabled",
             "Client VPN endpoints", "AwsEc2ClientVpnEndpoint", Severity.LOW, "Enable connection logging.",
             "aws ec2 modify-client-vpn-endpoint --client-vpn-endpoint-id <id> "
             "--connection-log-options Enabled=true,CloudwatchLogGroup=<group>")
_uncollected("EC2.171", "EC2 VPN connections should have logging enabled", "Site-to-Site VPN connections",
             "AwsEc2VpnConnection", Severity.MEDIUM, "Enable tunnel logging to CloudWatch Logs.",
             "aws ec2 modify-vpn-tunnel-options --vpn-connection-id <id> --vpn-tunnel-outside-ip-address <ip> ...")
_uncollected("EC2.172", "EC2 VPC Block Public Access settings should block internet gateway traffic",
             "VPC Block Public Access options", "AwsEc2VpcBlockPublicAccessOptions", Severity.MEDIUM,
             "Turn on VPC Block Public Access.",
             "aws ec2 modify-vpc-block-public-access-options --internet-gateway-block-mode block-bidirectional")
_uncollected("EC2.173", "EC2 Spot Fleet requests with launch parameters should enable encryption for attached EBS "
             "volumes", "Spot Fleet requests", "AwsEc2SpotFleetRequest", Severity.MEDIUM,
             "Recreate the Spot Fleet request with encrypted EBS volumes.", "aws ec2 request-spot-fleet ...")
