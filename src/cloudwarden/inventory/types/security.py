"""KMS keys, Secrets Manager secrets and SSM parameters (names and types, and a verdict for ``String`` ones).

Secret values never enter a document: Secrets Manager is read through ``ListSecrets``/``DescribeSecret``
only, and an SSM ``String`` parameter's value is fetched (without decryption) only to compute a
plaintext-secret verdict stored under ``calls.GetParameter_plaintext_check``; the value is dropped at once.
"""

from __future__ import annotations

from typing import Any

from cloudwarden.inventory.descriptor import Descriptor, Detail, Item, field_of
from cloudwarden.inventory.document import tags_of
from cloudwarden.inventory.secrets_scan import check_value


def _customer_symmetric(item: Item) -> bool:
    return item.get("KeyManager") == "CUSTOMER" and item.get("KeySpec", "SYMMETRIC_DEFAULT") == "SYMMETRIC_DEFAULT" \
        and item.get("KeyState") != "PendingDeletion"


def _customer(item: Item) -> bool:
    return item.get("KeyManager") == "CUSTOMER"


def _kms_tags(_data: Item, calls: dict[str, Any]) -> dict[str, str]:
    return tags_of((calls.get("ListResourceTags") or {}).get("Tags"))


KMS_KEY = Descriptor(
    type="AwsKmsKey", service="kms", list_operation="ListKeys", items="Keys[]",
    enrich=Detail("DescribeKey", lambda i: {"KeyId": i["KeyId"]}), enrich_path="KeyMetadata",
    arn=lambda i, a, r: str(i.get("Arn") or i.get("KeyArn") or f"arn:aws:kms:{r}:{a}:key/{i['KeyId']}"),
    name=field_of("KeyId"),
    details=(
        Detail("GetKeyRotationStatus", lambda i: {"KeyId": i["KeyId"]}, when=_customer_symmetric),
        Detail("GetKeyPolicy", lambda i: {"KeyId": i["KeyId"], "PolicyName": "default"}, decode="Policy"),
        Detail("ListGrants", lambda i: {"KeyId": i["KeyId"]}, when=_customer),
        Detail("ListResourceTags", lambda i: {"KeyId": i["KeyId"]}, when=_customer),
        Detail("ListAliases", lambda i: {"KeyId": i["KeyId"]}),
    ),
    tags=_kms_tags,
)

SECRET = Descriptor(
    type="AwsSecretsManagerSecret", service="secretsmanager", list_operation="ListSecrets", items="SecretList[]",
    arn=lambda i, a, r: str(i["ARN"]), name=field_of("Name"),
    details=(
        Detail("DescribeSecret", lambda i: {"SecretId": i["ARN"]}),
        Detail("GetResourcePolicy", lambda i: {"SecretId": i["ARN"]}, decode="ResourcePolicy"),
    ),
)


def parameter_arn(item: Item, account: str, region: str) -> str:
    name = str(item.get("Name", ""))
    return f"arn:aws:ssm:{region}:{account}:parameter{name if name.startswith('/') else '/' + name}"


def plaintext_check(answer: Item) -> Item:
    """A ``GetParameter`` answer -> the verdict only; the value is not kept."""
    parameter = answer.get("Parameter") or {}
    verdict = check_value(str(parameter.get("Value", "")), str(parameter.get("Name", "")))
    return verdict.as_dict()


def _ssm_tags(_data: Item, calls: dict[str, Any]) -> dict[str, str]:
    return tags_of((calls.get("ListTagsForResource") or {}).get("TagList"))


SSM_PARAMETER = Descriptor(
    type="AwsSsmParameter", service="ssm", list_operation="DescribeParameters", items="Parameters[]",
    arn=parameter_arn, name=field_of("Name"),
    details=(
        Detail("GetParameter", lambda i: {"Name": i["Name"], "WithDecryption": False},
               key="GetParameter_plaintext_check", transform=plaintext_check,
               when=lambda i: i.get("Type") == "String"),
        Detail("ListTagsForResource", lambda i: {"ResourceType": "Parameter", "ResourceId": i["Name"]}),
    ),
    tags=_ssm_tags,
)

DESCRIPTORS: tuple[Descriptor, ...] = (KMS_KEY, SECRET, SSM_PARAMETER)
