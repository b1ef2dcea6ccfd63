"""The action table (access-control reference §1.6): every KMS action openkms serves says which
RAM actions it needs and on which resources."""

from __future__ import annotations

import pytest

from openkms.api import KMS_ACTIONS as REGISTRY
from openkms.domain.permissions import PERMISSIONS, Permission, ResourceKind
from openkms.domain.system_policies import SYSTEM_POLICIES
from openkms.domain.wildcard import Glob

K = ResourceKind


def test_every_registered_action_has_a_row() -> None:
    """Each action of the registry has a row, and each row is a registered action."""
    assert set(PERMISSIONS) == set(REGISTRY)


def test_only_describe_regions_needs_nothing() -> None:
    """DescribeRegions is the one action checked against no permission."""
    assert [name for name, row in PERMISSIONS.items() if not row] == ["DescribeRegions"]


@pytest.mark.parametrize(
    ("action", "expected"),
    [
        ("ListKeys", (Permission("kms:ListKeys", K.KEY_CONTAINER),)),
        ("CreateKey", (Permission("kms:CreateKey", K.KEY_CONTAINER),)),
        ("Encrypt", (Permission("kms:Encrypt", K.KEY, ("KeyId",)),)),
        ("Decrypt", (Permission("kms:Decrypt", K.KEY, ("CiphertextBlob",)),)),
        ("GetKeyPolicy", (Permission("kms:GetKeyPolicy", K.KEY, ("KeyId",)),)),
        (
            "ReEncrypt",
            (
                Permission("kms:ReEncryptFrom", K.KEY, ("SourceKeyId", "CiphertextBlob")),
                Permission("kms:ReEncryptTo", K.KEY, ("DestinationKeyId",)),
            ),
        ),
        ("ListAliases", (Permission("kms:ListAliases", K.ALIAS_CONTAINER),)),
        (
            "CreateAlias",
            (
                Permission("kms:CreateAlias", K.ALIAS, ("AliasName",)),
                Permission("kms:CreateAlias", K.KEY, ("KeyId",)),
            ),
        ),
        ("ListAliasesByKeyId", (Permission("kms:ListAliasesByKeyId", K.KEY, ("KeyId",)),)),
        ("TagResource", (Permission("kms:TagResource", K.TAGGED, ("KeyId", "SecretName")),)),
        ("TagResources", (Permission("kms:TagResources", K.TAGGED, ("ResourceId",), each=True),)),
        ("CreateSecret", (Permission("kms:CreateSecret", K.SECRET_CONTAINER),)),
        ("ListSecrets", (Permission("kms:ListSecrets", K.SECRET_CONTAINER),)),
        ("DescribeSecret", (Permission("kms:DescribeSecret", K.SECRET, ("SecretName",)),)),
        (
            "GetSecretValue",
            (
                Permission("kms:GetSecretValue", K.SECRET, ("SecretName",)),
                Permission("kms:Decrypt", K.SECRET_KEY, ("SecretName",)),
            ),
        ),
        (
            "PutSecretValue",
            (
                Permission("kms:PutSecretValue", K.SECRET, ("SecretName",)),
                Permission("kms:GenerateDataKey", K.SECRET_KEY, ("SecretName",)),
            ),
        ),
        (
            "BatchGetSecretValue",
            (
                Permission("kms:GetSecretValue", K.SECRET, ("SecretsList",), each=True),
                Permission("kms:Decrypt", K.SECRET_KEY, ("SecretsList",), each=True),
            ),
        ),
        ("GetRandomPassword", (Permission("kms:GetRandomPassword", K.ANY),)),
        ("DescribeRegions", ()),
    ],
)
def test_rows(action: str, expected: tuple[Permission, ...]) -> None:
    """The rows the reference gives, with the parameters that name each resource."""
    assert PERMISSIONS[action] == expected


def test_parameters_are_the_actions_own() -> None:
    """Every parameter a row names is one its action takes."""
    for name, row in PERMISSIONS.items():
        params = {p.name for p in REGISTRY[name].params}
        for permission in row:
            assert set(permission.parameters) <= params, (name, permission)


def test_every_action_is_named_by_full_access() -> None:
    """Every RAM action the table uses is a kms: action (which AliyunKMSFullAccess covers), and
    each is kms:<Api> except the documented exceptions."""
    full = Glob("kms:*", fold=True)
    exceptions = {
        ("ReEncrypt", "kms:ReEncryptFrom"),
        ("ReEncrypt", "kms:ReEncryptTo"),
        ("BatchGetSecretValue", "kms:GetSecretValue"),
    }
    for name, row in PERMISSIONS.items():
        for permission in row:
            assert full.match(permission.action)
            if permission.resource is not K.SECRET_KEY and permission.action != f"kms:{name}":
                assert (name, permission.action) in exceptions
    assert "AliyunKMSFullAccess" in SYSTEM_POLICIES
