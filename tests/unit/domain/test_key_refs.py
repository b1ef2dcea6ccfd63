"""How a KeyId parameter names a key and the account it is looked up in: a bare id or alias in
the caller's account, an ARN in the account it names."""

from __future__ import annotations

import pytest

from openkms.domain import errors
from openkms.domain.arn import KeyRef, parse_key_ref

REGION = "cn-hangzhou"
MINE = "1111111111111111"
THEIRS = "2222222222222222"
KEY = "5c7a1e0e-8f9a-4c59-9b6c-1a2b3c4d5e6f"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (KEY, KeyRef(MINE, key_id=KEY)),
        ("alias/app/db", KeyRef(MINE, alias_name="alias/app/db")),
        (f"acs:kms:{REGION}:{MINE}:key/{KEY}", KeyRef(MINE, key_id=KEY)),
        (f"acs:kms:{REGION}:{THEIRS}:key/{KEY}", KeyRef(THEIRS, key_id=KEY)),
        (f"acs:kms:{REGION}:{THEIRS}:alias/app/db", KeyRef(THEIRS, alias_name="alias/app/db")),
    ],
)
def test_a_key_ref_names_its_account(value: str, expected: KeyRef) -> None:
    """Bare ids and alias names belong to the caller's account; ARNs to the account they name."""
    assert parse_key_ref(value, REGION, MINE) == expected


@pytest.mark.parametrize(
    "value",
    [
        f"acs:kms:cn-beijing:{MINE}:key/{KEY}",
        f"acs:kms:{REGION}::key/{KEY}",
        f"acs:kms:{REGION}:12ab:key/{KEY}",
        f"acs:kms:{REGION}:{MINE}:key/",
        f"acs:kms:{REGION}:{MINE}:secret/x",
        "acs:kms:short",
    ],
)
def test_a_malformed_arn_is_an_invalid_parameter(value: str) -> None:
    """An ARN of another region, without a numeric account or of another resource type is
    refused as a bad KeyId, not looked up."""
    with pytest.raises(errors.InvalidValue) as info:
        parse_key_ref(value, REGION, MINE)
    assert info.value.parameter == "KeyId"
