"""Managed secrets' rules: ExtendedConfig per type, the values they hold, which account a
rotation sets, the backoff of a failing step and the DSN of a target."""

from __future__ import annotations

import json

import pytest

from openkms.domain.errors import InvalidValue
from openkms.domain.rotation import (
    DOUBLE_USERS,
    FIRST_RETRY,
    MAX_RETRY,
    SINGLE_USER,
    Account,
    access_key_value,
    account_to_rotate,
    account_value,
    backoff,
    check_account_name,
    check_dsn,
    check_target_name,
    error_text,
    first_account,
    parse_access_keys,
    parse_accounts,
    parse_managed_config,
    parse_ram_config,
    read_access_key,
    read_account,
)


class TestExtendedConfig:
    def test_each_type_names_its_target_by_alibabas_instance_key(self) -> None:
        """Rds names DBInstanceId, PolarDB DBClusterId, Redis InstanceId; CustomData is kept."""
        for secret_type, key in (
            ("Rds", "DBInstanceId"),
            ("PolarDB", "DBClusterId"),
            ("Redis", "InstanceId"),
        ):
            config = parse_managed_config(
                secret_type, {"SecretSubType": "DoubleUsers", key: "t-1", "CustomData": {"a": 1}}
            )
            assert (config.sub_type, config.target, config.custom_data) == (DOUBLE_USERS, "t-1", {"a": "1"})

    @pytest.mark.parametrize(
        "config",
        [
            {},
            {"SecretSubType": "Single"},
            {"SecretSubType": "SingleUser"},
            {"SecretSubType": "SingleUser", "DBInstanceId": 5},
            {"SecretSubType": "SingleUser", "DBInstanceId": "-bad"},
            {"SecretSubType": "SingleUser", "DBInstanceId": "ok", "CustomData": []},
            {
                "SecretSubType": "SingleUser",
                "DBInstanceId": "ok",
                "CustomData": {str(i): i for i in range(11)},
            },
        ],
    )
    def test_bad_configs_are_refused(self, config: dict[str, object]) -> None:
        """A missing or unknown SecretSubType, a missing or malformed instance, bad CustomData."""
        with pytest.raises(InvalidValue) as refused:
            parse_managed_config("Rds", config)
        assert refused.value.parameter == "ExtendedConfig"

    def test_ram_config(self) -> None:
        """RAMCredentials: SecretSubType RamUserAccessKey and a UserName."""
        assert parse_ram_config({"SecretSubType": "RamUserAccessKey", "UserName": "app"}).target == "app"
        for bad in (
            {"SecretSubType": "RamUserAccessKey"},
            {"SecretSubType": "SingleUser", "UserName": "app"},
        ):
            with pytest.raises(InvalidValue):
                parse_ram_config(bad)


class TestValues:
    def test_accounts_round_trip_in_alibabas_shape(self) -> None:
        """SecretData's one account becomes GetSecretValue's AccountName/AccountPassword object."""
        (account,) = parse_accounts(
            json.dumps({"Accounts": [{"AccountName": "app_1", "AccountPassword": "p w"}]})
        )
        value = account_value(account)
        assert json.loads(value) == {"AccountName": "app_1", "AccountPassword": "p w"}
        assert read_account(value) == Account("app_1", "p w")

    @pytest.mark.parametrize(
        "data",
        [
            "not json",
            "[]",
            '{"Accounts": []}',
            '{"Accounts": [1]}',
            '{"Accounts": [{"AccountName": "a"}]}',
            '{"Accounts": [{"AccountName": "a", "AccountPassword": ""}]}',
            '{"Accounts": [{"AccountName": "a b", "AccountPassword": "p"}]}',
            '{"Accounts": [{"AccountName": "a", "AccountPassword": "p"}, {"AccountName": "b", "AccountPassword": "p"}]}',
        ],
    )
    def test_other_shapes_are_refused(self, data: str) -> None:
        """Anything but one account with a name openkms manages and a password."""
        with pytest.raises(InvalidValue):
            parse_accounts(data)

    def test_account_names_are_plain(self) -> None:
        """Letters, digits and _; nothing that would need quoting in SQL or ACL rules."""
        check_account_name("_app9")
        for bad in ("", "9app", "app-1", 'a"b', "a" * 60):
            with pytest.raises(InvalidValue):
                check_account_name(bad)

    def test_access_keys_round_trip(self) -> None:
        """RAMCredentials: SecretData's pair in, AccessKeyId/AccessKeySecret/GenerateTimestamp out."""
        pair = parse_access_keys('{"AccessKeys":[{"AccessKeyId":"LTAI1","AccessKeySecret":"s"}]}')
        value = access_key_value(*pair, "2026-12-02T00:00:00Z")
        assert json.loads(value)["GenerateTimestamp"] == "2026-12-02T00:00:00Z"
        assert read_access_key(value) == ("LTAI1", "s")
        for bad in ("{}", '{"AccessKeys":[]}', '{"AccessKeys":[{"AccessKeyId":"x"}]}', "nope"):
            with pytest.raises(InvalidValue):
                parse_access_keys(bad)


class TestRotationRules:
    def test_which_account_a_rotation_sets(self) -> None:
        """SingleUser: the one account; DoubleUsers: the other of app and app_dual."""
        assert account_to_rotate(SINGLE_USER, "app") == "app"
        assert account_to_rotate(DOUBLE_USERS, "app") == "app_dual"
        assert account_to_rotate(DOUBLE_USERS, "app_dual") == "app"
        assert first_account("app_dual") == first_account("app") == "app"

    def test_backoff_doubles_up_to_an_hour(self) -> None:
        """30 s after the first failure, doubling, never more than an hour."""
        assert [backoff(n) for n in (1, 2, 3)] == [FIRST_RETRY, 2 * FIRST_RETRY, 4 * FIRST_RETRY]
        assert backoff(40) == MAX_RETRY and backoff(0) == FIRST_RETRY

    def test_error_text_is_one_bounded_line(self) -> None:
        """The kind and first line of an error, at most 500 characters."""
        assert error_text(ValueError("first\nsecond")) == "ValueError: first"
        assert error_text(ValueError()) == "ValueError"
        assert len(error_text(ValueError("x" * 1000))) == 500


class TestTargets:
    @pytest.mark.parametrize(
        ("kind", "dsn"),
        [
            ("postgresql", "postgresql://db:5432/app"),
            ("mysql", "mysql://db:3306"),
            ("redis", "redis://cache:6379"),
        ],
    )
    def test_dsns_of_each_kind(self, kind: str, dsn: str) -> None:
        """A URL of the target's kind naming a host is accepted."""
        check_dsn(kind, dsn)

    @pytest.mark.parametrize(
        ("kind", "dsn"),
        [
            ("oracle", "oracle://db"),
            ("postgresql", "redis://db"),
            ("postgresql", "postgresql:///app"),
            ("postgresql", "postgresql://admin:pw@db/app"),
            ("postgresql", "postgresql://admin@db/app"),
            ("redis", "redis://db:notaport"),
        ],
    )
    def test_bad_dsns_are_refused(self, kind: str, dsn: str) -> None:
        """Another kind or scheme, no host, an account in it, or a bad port."""
        with pytest.raises(InvalidValue):
            check_dsn(kind, dsn)

    def test_target_names(self) -> None:
        """1-64 letters, digits, _, . or -, starting with a letter or digit."""
        check_target_name("pg-main.1")
        for bad in ("", "-x", "a b", "x" * 65):
            with pytest.raises(InvalidValue):
                check_target_name(bad)
