"""The built-in system policies (access-control reference §1.7): Alibaba's published KMS and STS
statements, read-only."""

from __future__ import annotations

import json
from dataclasses import FrozenInstanceError

import pytest

from openkms.domain.policy import PolicyKind
from openkms.domain.system_policies import SYSTEM_POLICIES

STAR = "*"
TAGGING = {
    "Effect": "Allow",
    "Action": ["ecs:TagResources", "ecs:UntagResources", "ecs:ListTagResources"],
    "Resource": ["acs:kms:*:*:key/*", "acs:kms:*:*:secret/*"],
}
EXPECTED = {
    "AliyunKMSFullAccess": ("v3", [{"Effect": "Allow", "Action": "kms:*", "Resource": STAR}]),
    "AliyunKMSReadOnlyAccess": (
        "v3",
        [
            {
                "Effect": "Allow",
                "Action": [
                    "kms:List*", "kms:Describe*", "kms:GetPublicKey", "kms:GetUploadBackupDataInfo",
                    "kms:GetKmsInstanceSharedAccounts", "kms:GetKmsInstanceQuotaInfos",
                    "kms:GetCheckAssociateResourceTaskResults", "kms:GetKeyPolicy",
                    "kms:GetKeyDefaultPolicy", "kms:GetSecretPolicy", "kms:GetSecretDefaultPolicy",
                    "kms:GetKmsInstance", "kms:GetDefaultKmsInstance",
                ],
                "Resource": STAR,
            }
        ],
    ),
    "AliyunKMSCryptoUserAccess": (
        "v2",
        [
            {
                "Effect": "Allow",
                "Action": [
                    "kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey",
                    "kms:GenerateDataKeyWithoutPlaintext", "kms:AsymmetricDecrypt",
                    "kms:AsymmetricEncrypt", "kms:AsymmetricSign", "kms:AsymmetricVerify",
                    "kms:GetPublicKey", "kms:GenerateMac", "kms:VerifyMac",
                ],
                "Resource": STAR,
            }
        ],
    ),
    "AliyunKMSCryptoAdminAccess": (
        "v2",
        [{"Effect": "Allow", "Action": "kms:*", "Resource": ["acs:kms:*:*:key*", "acs:kms:*:*:alias*"]}, TAGGING],
    ),
    "AliyunKMSSecretAdminAccess": (
        "v5",
        [
            {"Effect": "Allow", "Action": "kms:*", "Resource": "acs:kms:*:*:secret*"},
            {"Effect": "Allow", "Action": "kms:GetRandomPassword", "Resource": STAR},
            TAGGING,
        ],
    ),
    "AliyunKMSSecretUserAccess": (
        "v1",
        [
            {"Effect": "Allow", "Action": "kms:GetSecretValue", "Resource": STAR},
            {"Effect": "Allow", "Action": ["kms:DescribeSecret", "kms:ListSecretVersionIds"], "Resource": STAR},
        ],
    ),
    "AliyunSTSAssumeRoleAccess": ("v1", [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": STAR}]),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_published_statements(name: str) -> None:
    """Each system policy carries the published statements and version, and compiles as an
    identity policy."""
    entry = SYSTEM_POLICIES[name]
    version, statements = EXPECTED[name]
    assert entry.name == name
    assert entry.version == version
    assert entry.description
    assert json.loads(entry.document) == {"Version": "1", "Statement": statements}
    assert entry.policy.kind is PolicyKind.IDENTITY
    assert entry.policy.text == entry.document


def test_exactly_these() -> None:
    """The table holds the seven published KMS and STS policies and nothing else."""
    assert set(SYSTEM_POLICIES) == set(EXPECTED)


def test_read_only() -> None:
    """Neither the table nor an entry can be changed."""
    with pytest.raises(TypeError):
        SYSTEM_POLICIES["Mine"] = SYSTEM_POLICIES["AliyunKMSFullAccess"]  # type: ignore[index]
    with pytest.raises(FrozenInstanceError):
        SYSTEM_POLICIES["AliyunKMSFullAccess"].document = "{}"  # type: ignore[misc]
