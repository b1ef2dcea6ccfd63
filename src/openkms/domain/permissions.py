"""What each KMS action must be allowed: its RAM actions, and the resource each is checked on (the
access-control reference §1.6).

A row is a tuple of :class:`Permission`; a request needs every one of them (a :class:`Check`
for each resource it names). ``parameters`` are the request parameters that name the resource,
the first one given counting. Rules the server applies when it builds the checks:

- A key named by an alias (``alias/<name>`` or an alias ARN) is checked on the alias ARN *and*
  on the key's ARN, with the same RAM action; a policy that lists only ``key/*`` does not let a
  call through an alias.
- A key or secret named by its ARN lives in the account and region the ARN says; a bare id or
  name, in the caller's own.
- Decrypt, ExportDataKey and ReEncrypt (source) read the key id from the ciphertext's header.
- ``SECRET_KEY`` applies only when a customer key protects the secret.
- ``each``: one check per item of a list parameter (BatchGetSecretValue's secrets, the
  ResourceId.N of the new-style tag actions).

DescribeRegions needs nothing beyond authentication.

KMS instances and application access (groups J and K): each action needs ``kms:<Action>`` on
the instance, network rule, policy or access point it names (``keystore/<KmsInstanceId>``,
``network/<Name>``, ``policy/<Name>``, ``applicationaccesspoint/<Name>``), or on ``*`` when it
names none (the listings, GetDefaultKmsInstance, a client key named by its id).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType

__all__ = ["PERMISSIONS", "Permission", "ResourceKind"]


class ResourceKind(StrEnum):
    ANY = "*"  # the resource ``*``: only a statement with Resource "*" (or a wildcard) matches
    KEY_CONTAINER = "key container"  # acs:kms:{r}:{a}:key
    KEY = "key"  # acs:kms:{r}:{a}:key/{KeyId}
    ALIAS_CONTAINER = "alias container"  # acs:kms:{r}:{a}:alias
    ALIAS = "alias"  # acs:kms:{r}:{a}:alias/{name}
    SECRET_CONTAINER = "secret container"  # noqa: S105 - a resource kind; acs:kms:{r}:{a}:secret
    SECRET = "secret"  # noqa: S105 - a resource kind; acs:kms:{r}:{a}:secret/{SecretName}
    TAGGED = "key or secret"  # whichever the request names
    SECRET_KEY = "key protecting the secret"  # noqa: S105 - a resource kind; the secret's customer key, when it has one
    # Group J and K resources, named by a parameter; ``*`` when the parameter is not given.
    INSTANCE = "kms instance"  # acs:kms:{r}:{a}:keystore/{KmsInstanceId}
    NETWORK_RULE = "network rule"  # acs:kms:{r}:{a}:network/{Name}
    AAP_POLICY = "aap policy"  # acs:kms:{r}:{a}:policy/{Name}
    AAP = "application access point"  # acs:kms:{r}:{a}:applicationaccesspoint/{Name}
    INSTANCE_IF_NAMED = "kms instance, if named"  # as INSTANCE; nothing when not given


@dataclass(frozen=True, slots=True)
class Permission:
    action: str
    resource: ResourceKind
    parameters: tuple[str, ...] = ()
    each: bool = False


def _on(
    resource: ResourceKind, *parameters: str, each: bool = False
) -> tuple[ResourceKind, tuple[str, ...], bool]:
    return resource, parameters, each


_KEY = _on(ResourceKind.KEY, "KeyId")
_SECRET = _on(ResourceKind.SECRET, "SecretName")

# KMS action -> what it needs; a row that gives no RAM action needs kms:<the action's name>.
_TABLE: dict[str, tuple[tuple[str | None, tuple[ResourceKind, tuple[str, ...], bool]], ...]] = {
    "DescribeRegions": (),
    "ListKeys": ((None, _on(ResourceKind.KEY_CONTAINER)),),
    "CreateKey": ((None, _on(ResourceKind.KEY_CONTAINER)),),
    **{
        name: ((None, _KEY),)
        for name in (
            "DescribeKey", "UpdateKeyDescription", "EnableKey", "DisableKey", "ScheduleKeyDeletion",
            "CancelKeyDeletion", "GetKeyPolicy", "SetKeyPolicy", "CreateKeyVersion",
            "DescribeKeyVersion", "ListKeyVersions", "UpdateRotationPolicy", "GetParametersForImport",
            "ImportKeyMaterial", "DeleteKeyMaterial", "Encrypt", "GenerateDataKey",
            "GenerateDataKeyWithoutPlaintext", "GenerateAndExportDataKey", "GenerateMac", "VerifyMac",
            "AsymmetricEncrypt", "AsymmetricDecrypt", "AsymmetricSign", "AsymmetricVerify",
            "GetPublicKey", "ListAliasesByKeyId",
        )
    },
    "SetDeletionProtection": (
        (None, _on(ResourceKind.KEY, "KeyId", "ProtectedResourceArn")),
        (None, _on(ResourceKind.INSTANCE_IF_NAMED, "KmsInstanceId")),
    ),
    "Decrypt": ((None, _on(ResourceKind.KEY, "CiphertextBlob")),),
    "ExportDataKey": ((None, _on(ResourceKind.KEY, "CiphertextBlob")),),
    "ReEncrypt": (
        ("kms:ReEncryptFrom", _on(ResourceKind.KEY, "SourceKeyId", "CiphertextBlob")),
        ("kms:ReEncryptTo", _on(ResourceKind.KEY, "DestinationKeyId")),
    ),
    "ListAliases": ((None, _on(ResourceKind.ALIAS_CONTAINER)),),
    "CreateAlias": ((None, _on(ResourceKind.ALIAS, "AliasName")), (None, _KEY)),
    "UpdateAlias": ((None, _on(ResourceKind.ALIAS, "AliasName")), (None, _KEY)),
    # The key is the one the alias names.
    "DeleteAlias": ((None, _on(ResourceKind.ALIAS, "AliasName")), (None, _on(ResourceKind.KEY, "AliasName"))),
    "TagResource": ((None, _on(ResourceKind.TAGGED, "KeyId", "SecretName")),),
    "UntagResource": ((None, _on(ResourceKind.TAGGED, "KeyId", "SecretName")),),
    "ListResourceTags": ((None, _KEY),),
    "TagResources": ((None, _on(ResourceKind.TAGGED, "ResourceId", each=True)),),
    "UntagResources": ((None, _on(ResourceKind.TAGGED, "ResourceId", each=True)),),
    "ListTagResources": ((None, _on(ResourceKind.TAGGED, "ResourceId", each=True)),),
    "CreateSecret": ((None, _on(ResourceKind.SECRET_CONTAINER)),),
    "ListSecrets": ((None, _on(ResourceKind.SECRET_CONTAINER)),),
    **{
        name: ((None, _SECRET),)
        for name in (
            "DescribeSecret", "DeleteSecret", "UpdateSecret", "RestoreSecret", "ListSecretVersionIds",
            "UpdateSecretVersionStage", "UpdateSecretRotationPolicy", "RotateSecret",
            "GetSecretPolicy", "SetSecretPolicy",
        )
    },
    "GetSecretValue": ((None, _SECRET), ("kms:Decrypt", _on(ResourceKind.SECRET_KEY, "SecretName"))),
    "PutSecretValue": ((None, _SECRET), ("kms:GenerateDataKey", _on(ResourceKind.SECRET_KEY, "SecretName"))),
    "BatchGetSecretValue": (
        ("kms:GetSecretValue", _on(ResourceKind.SECRET, "SecretsList", each=True)),
        ("kms:Decrypt", _on(ResourceKind.SECRET_KEY, "SecretsList", each=True)),
    ),
    "GetRandomPassword": ((None, _on(ResourceKind.ANY)),),
    "DescribeAccountKmsStatus": ((None, _on(ResourceKind.ANY)),),
    "OpenKmsService": ((None, _on(ResourceKind.ANY)),),
    **{
        name: ((None, _on(ResourceKind.INSTANCE, "KmsInstanceId")),)
        for name in (
            "GetKmsInstance", "ConnectKmsInstance", "UpdateKmsInstanceBindVpc", "GetKmsInstanceQuotaInfos",
            "ReleaseKmsInstance",
        )
    },
    **{
        name: ((None, _on(ResourceKind.ANY)),)
        for name in (
            "ListKmsInstances", "GetDefaultKmsInstance", "ListNetworkRules", "ListPolicies",
            "ListApplicationAccessPoints", "GetClientKey", "DeleteClientKey",
        )
    },
    **{
        f"{verb}NetworkRule": ((None, _on(ResourceKind.NETWORK_RULE, "Name")),)
        for verb in ("Create", "Update", "Delete", "Describe")
    },
    **{
        f"{verb}Policy": ((None, _on(ResourceKind.AAP_POLICY, "Name")),)
        for verb in ("Create", "Update", "Delete", "Describe")
    },
    **{
        f"{verb}ApplicationAccessPoint": ((None, _on(ResourceKind.AAP, "Name")),)
        for verb in ("Create", "Update", "Delete", "Describe")
    },
    "CreateClientKey": ((None, _on(ResourceKind.AAP, "AapName")),),
    "ListClientKeys": ((None, _on(ResourceKind.AAP, "AapName")),),
}  # fmt: skip


def _rows() -> Mapping[str, tuple[Permission, ...]]:
    return MappingProxyType(
        {
            name: tuple(Permission(ram or f"kms:{name}", *on) for ram, on in row)
            for name, row in _TABLE.items()
        }
    )


PERMISSIONS: Mapping[str, tuple[Permission, ...]] = _rows()
