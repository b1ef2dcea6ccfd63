"""ARN builders for the resources and principals access control speaks of."""

from __future__ import annotations

from openkms.domain import arn


def test_kms_resources() -> None:
    """Containers, keys, aliases and secrets in Alibaba's ARN form."""
    r, a = "cn-hangzhou", "1111111111111111"
    assert arn.key_container_arn(r, a) == "acs:kms:cn-hangzhou:1111111111111111:key"
    assert arn.key_arn(r, a, "key-1") == "acs:kms:cn-hangzhou:1111111111111111:key/key-1"
    assert arn.alias_container_arn(r, a) == "acs:kms:cn-hangzhou:1111111111111111:alias"
    assert arn.alias_arn(r, a, "alias/k1") == "acs:kms:cn-hangzhou:1111111111111111:alias/k1"
    assert arn.secret_container_arn(r, a) == "acs:kms:cn-hangzhou:1111111111111111:secret"
    assert arn.secret_arn(r, a, "db/pw") == "acs:kms:cn-hangzhou:1111111111111111:secret/db/pw"
    assert arn.ANY_RESOURCE == "*"


def test_ram_principals() -> None:
    """Root, users, roles and role sessions have no region."""
    assert arn.account_root_arn("1") == "acs:ram::1:root"
    assert arn.user_arn("1", "alice") == "acs:ram::1:user/alice"
    assert arn.role_arn("1", "kmsuser") == "acs:ram::1:role/kmsuser"
    assert arn.role_session_arn("1", "kmsuser", "s") == "acs:ram::1:role/kmsuser/s"


def test_account_of() -> None:
    """The account field of an ARN; none for * or a non-ARN."""
    assert arn.account_of("acs:kms:cn-hangzhou:1111:key/k") == "1111"
    assert arn.account_of("acs:ram::2222:role/r/s") == "2222"
    assert arn.account_of("acs:kms:cn-hangzhou:1111:secret/a:b") == "1111"
    assert arn.account_of("*") is None
    assert arn.account_of("acs:kms:cn-hangzhou") is None
    assert arn.account_of("acs:kms:r::key/k") is None
