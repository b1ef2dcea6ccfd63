"""The built-in system policies: Alibaba's published KMS and STS policies, as data.

Each has its name, a description, its version and its document, whose statements are the
published ones (the access-control reference §1.7). Statements that speak of services openkms
does not have (``ram:CreateServiceLinkedRole``, RDS, ``ecs:DescribeInstances``) are left out; the
``ecs:*Tag*`` statements are kept as published: openkms's tag actions are checked as
``kms:TagResources``, ``kms:UntagResources`` and ``kms:ListTagResources``, so they grant nothing
here. System policies are read-only: the table is a mapping proxy of frozen records.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from openkms.domain.policy import Policy, parse_identity_policy

__all__ = ["SYSTEM_POLICIES", "SystemPolicy"]


@dataclass(frozen=True, slots=True)
class SystemPolicy:
    name: str
    description: str
    version: str
    document: str
    policy: Policy = field(compare=False, repr=False)


def _allow(action: str | list[str], resource: str | list[str]) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource}


_TAGGING = _allow(
    ["ecs:TagResources", "ecs:UntagResources", "ecs:ListTagResources"],
    ["acs:kms:*:*:key/*", "acs:kms:*:*:secret/*"],
)
_CRYPTO = [
    "kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey", "kms:GenerateDataKeyWithoutPlaintext",
    "kms:AsymmetricDecrypt", "kms:AsymmetricEncrypt", "kms:AsymmetricSign", "kms:AsymmetricVerify",
    "kms:GetPublicKey", "kms:GenerateMac", "kms:VerifyMac",
]  # fmt: skip
_READ_ONLY = [
    "kms:List*", "kms:Describe*", "kms:GetPublicKey", "kms:GetUploadBackupDataInfo",
    "kms:GetKmsInstanceSharedAccounts", "kms:GetKmsInstanceQuotaInfos",
    "kms:GetCheckAssociateResourceTaskResults", "kms:GetKeyPolicy", "kms:GetKeyDefaultPolicy",
    "kms:GetSecretPolicy", "kms:GetSecretDefaultPolicy", "kms:GetKmsInstance",
    "kms:GetDefaultKmsInstance",
]  # fmt: skip

_PUBLISHED: tuple[tuple[str, str, str, list[dict[str, Any]]], ...] = (
    (
        "AliyunKMSFullAccess",
        "Every KMS action on every resource.",
        "v3",
        [_allow("kms:*", "*")],
    ),
    (
        "AliyunKMSReadOnlyAccess",
        "Read-only KMS access: list and describe keys, aliases and secrets, read public keys and policies.",
        "v3",
        [_allow(_READ_ONLY, "*")],
    ),
    (
        "AliyunKMSCryptoUserAccess",
        "Use keys for cryptographic operations; no management.",
        "v2",
        [_allow(_CRYPTO, "*")],
    ),
    (
        "AliyunKMSCryptoAdminAccess",
        "Manage and use keys and aliases.",
        "v2",
        [_allow("kms:*", ["acs:kms:*:*:key*", "acs:kms:*:*:alias*"]), _TAGGING],
    ),
    (
        "AliyunKMSSecretAdminAccess",
        "Manage secrets, and generate random passwords.",
        "v5",
        [_allow("kms:*", "acs:kms:*:*:secret*"), _allow("kms:GetRandomPassword", "*"), _TAGGING],
    ),
    (
        "AliyunKMSSecretUserAccess",
        "Read secret values and describe secrets.",
        "v1",
        [_allow("kms:GetSecretValue", "*"), _allow(["kms:DescribeSecret", "kms:ListSecretVersionIds"], "*")],
    ),
    (
        "AliyunSTSAssumeRoleAccess",
        "Assume any role whose trust policy allows it (STS AssumeRole).",
        "v1",
        [_allow("sts:AssumeRole", "*")],
    ),
)


def _build() -> Mapping[str, SystemPolicy]:
    table = {}
    for name, description, version, statements in _PUBLISHED:
        document = json.dumps({"Version": "1", "Statement": statements}, indent=2)
        policy = parse_identity_policy(document, parameter=name)
        table[name] = SystemPolicy(name, description, version, document, policy)
    return MappingProxyType(table)


SYSTEM_POLICIES: Mapping[str, SystemPolicy] = _build()
