"""KMS controls: rotation, deletion, public key policies, IAM policies decrypting with every key."""

from __future__ import annotations

import pytest

from tests.posture import docs as d
from tests.posture.cases import Case, check

PUBLIC = d.policy_doc({"Sid": "shared", "Effect": "Allow", "Principal": "*", "Action": "kms:Decrypt",
                       "Resource": "*"})
ACCOUNT_ONLY = d.policy_doc({"Effect": "Allow", "Principal": "*", "Action": "kms:Decrypt", "Resource": "*",
                             "Condition": {"StringEquals": {"kms:CallerAccount": "222222222222"}}})
DECRYPT_ALL = d.statement(["kms:Decrypt"], "*")
DECRYPT_ONE = d.statement(["kms:Decrypt"], "arn:aws:kms:us-east-1:222222222222:key/k")

CASES = [
    Case("KMS.4", lambda: d.kms_key(), "PASSED"),
    Case("KMS.4", lambda: d.kms_key(rotation=False), "FAILED", "rotation off"),
    Case("KMS.4", lambda: d.kms_key(KeyManager="AWS"), None),
    Case("KMS.4", lambda: d.kms_key(KeySpec="RSA_2048"), None),
    Case("KMS.4", lambda: d.with_(d.kms_key(), calls={"GetKeyRotationStatus": d.error()}), "NOT_AVAILABLE",
         "AccessDenied on kms:GetKeyRotationStatus"),
    Case("KMS.3", lambda: d.kms_key(), "PASSED"),
    Case("KMS.3", lambda: d.kms_key(KeyState="PendingDeletion", DeletionDate=d.ago(-7)), "FAILED"),
    Case("KMS.3", lambda: d.with_(d.kms_key(), drop_data=("KeyState",)), "NOT_AVAILABLE"),
    Case("KMS.5", lambda: d.kms_key(), "PASSED"),
    Case("KMS.5", lambda: d.kms_key(policy=PUBLIC), "FAILED", "kms:Decrypt to everyone"),
    Case("KMS.5", lambda: d.kms_key(policy=ACCOUNT_ONLY), "PASSED"),
    Case("KMS.5", lambda: d.with_(d.kms_key(), calls={"GetKeyPolicy": d.error()}), "NOT_AVAILABLE"),
    Case("KMS.1", lambda: d.managed_policy("ok", d.policy_doc(DECRYPT_ONE)), "PASSED"),
    Case("KMS.1", lambda: d.managed_policy("bad", d.policy_doc(DECRYPT_ALL)), "FAILED", "kms:Decrypt"),
    Case("KMS.1", lambda: d.with_(d.managed_policy("x", d.policy_doc()), data={"PolicyVersionList": []}),
         "NOT_AVAILABLE"),
    Case("KMS.2", lambda: d.user(inline=[d.inline_policy("ok", DECRYPT_ONE)]), "PASSED"),
    Case("KMS.2", lambda: d.user(inline=[d.inline_policy("all", d.statement("*", "*"))]), "FAILED",
         "kms:Decrypt, kms:ReEncryptFrom"),
    Case("KMS.2", lambda: d.user(), None),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_control(case: Case) -> None:
    check(case)
