"""Secrets Manager rules: names, values, stages, the version cap and policies."""

from __future__ import annotations

import json
from types import MappingProxyType

import pytest
from hypothesis import given
from hypothesis import strategies as st

from openkms.domain import errors
from openkms.domain.secret import (
    CURRENT,
    MAX_ROTATION,
    MAX_STAGES,
    MAX_VERSIONS,
    MIN_CREATE_ROTATION,
    MIN_POLICY_ROTATION,
    PREVIOUS,
    SecretRef,
    check_label,
    check_name,
    check_policy,
    default_policy,
    parse_extended_config,
    parse_rotation_interval,
    parse_secret_ref,
    requested_stages,
    secret_data_bytes,
    stages_after_move,
    stages_after_put,
    value_context,
    versions_to_drop,
)

REGION, ACCOUNT = "cn-hangzhou", "1234567890123456"


class TestNames:
    @pytest.mark.parametrize("name", ["a", "a" * 192, "db/prod/mysql", "A_b+c=d.e@f-g", "中" * 64, "app/中文"])
    def test_accepted(self, name: str) -> None:
        """Up to 192 of [A-Za-z0-9_/+=.@-], or up to 64 when Chinese characters are in it."""
        check_name(name)

    @pytest.mark.parametrize("name", ["", "a" * 193, "中" * 65, "a b", "a:b", "a\nb", "acs/ram/user/x", "ü"])
    def test_refused(self, name: str) -> None:
        """Anything else, and the acs/ space of managed secrets, is InvalidParameter SecretName."""
        with pytest.raises(errors.InvalidValue) as info:
            check_name(name)
        assert info.value.parameter == "SecretName"

    def test_reference_by_name_or_arn(self) -> None:
        """A SecretName parameter is a name (of the caller's account) or
        acs:kms:<region>:<account>:secret/<name> (of the account it names)."""
        assert parse_secret_ref("db/x", REGION, ACCOUNT) == SecretRef(ACCOUNT, "db/x")
        assert parse_secret_ref(f"acs:kms:{REGION}:{ACCOUNT}:secret/db/x", REGION, ACCOUNT) == SecretRef(
            ACCOUNT, "db/x"
        )
        assert parse_secret_ref(f"acs:kms:{REGION}:2222222222222222:secret/db/x", REGION, ACCOUNT) == SecretRef(
            "2222222222222222", "db/x"
        )

    @pytest.mark.parametrize(
        "ref",
        [
            f"acs:kms:cn-beijing:{ACCOUNT}:secret/x",
            f"acs:kms:{REGION}:12ab:secret/x",
            f"acs:kms:{REGION}::secret/x",
            f"acs:kms:{REGION}:{ACCOUNT}:key/x",
            f"acs:kms:{REGION}:{ACCOUNT}:secret/",
            "acs:kms:short",
            "bad name",
        ],
    )
    def test_foreign_or_malformed_reference(self, ref: str) -> None:
        """An ARN of another region or resource type, or without an account uid, is refused,
        not looked up."""
        with pytest.raises(errors.InvalidValue):
            parse_secret_ref(ref, REGION, ACCOUNT)


class TestValues:
    def test_size_is_counted_in_utf8_bytes(self) -> None:
        """SecretData holds 30720 bytes: 15360 two-byte characters fit, one more byte does not."""
        assert len(secret_data_bytes("é" * 15360)) == 30720
        with pytest.raises(errors.InvalidValue):
            secret_data_bytes("é" * 15360 + "x")

    def test_lone_surrogate_is_refused(self) -> None:
        """A value that has no UTF-8 form is InvalidParameter, not a crash."""
        with pytest.raises(errors.InvalidValue):
            secret_data_bytes("\ud800")

    @pytest.mark.parametrize(("value", "ok"), [("v1", True), ("x" * 64, True), ("x" * 65, False), ("a b", False), ("", False)])
    def test_version_id(self, value: str, ok: bool) -> None:
        """A VersionId is 1-64 printable ASCII characters without spaces."""
        if ok:
            check_label(value, "VersionId", 64)
        else:
            with pytest.raises(errors.InvalidValue):
                check_label(value, "VersionId", 64)

    def test_context_binds_name_version_and_type(self) -> None:
        """The sealing context changes with the secret, the version and the data type."""
        base = value_context("a", "v1", "text")
        assert base != value_context("b", "v1", "text")
        assert base != value_context("a", "v2", "text")
        assert base != value_context("a", "v1", "binary")


class TestStagesOnPut:
    def test_default_moves_current_to_previous(self) -> None:
        """A new version takes ACSCurrent; the old current becomes ACSPrevious (the old previous loses it)."""
        before = {CURRENT: "v2", PREVIOUS: "v1"}
        assert stages_after_put(before, "v3", [CURRENT]) == {CURRENT: "v3", PREVIOUS: "v2"}

    def test_first_version(self) -> None:
        """The first version is ACSCurrent and nothing is ACSPrevious."""
        assert stages_after_put({}, "v1", [CURRENT]) == {CURRENT: "v1"}

    def test_custom_stage_leaves_current_alone(self) -> None:
        """VersionStages without ACSCurrent does not touch ACSCurrent; a custom stage moves."""
        before = {CURRENT: "v1", "ACSNext": "v0"}
        assert stages_after_put(before, "v2", ["ACSNext"]) == {CURRENT: "v1", "ACSNext": "v2"}

    def test_explicit_previous_wins(self) -> None:
        """When ACSPrevious is requested too, it goes to the new version, not the old current."""
        assert stages_after_put({CURRENT: "v1"}, "v2", [CURRENT, PREVIOUS]) == {CURRENT: "v2", PREVIOUS: "v2"}

    def test_stage_limit(self) -> None:
        """A ninth stage on a secret is Rejected.LimitExceeded."""
        before = {f"S{i}": "v1" for i in range(MAX_STAGES)}
        with pytest.raises(errors.LimitExceeded):
            stages_after_put(before, "v2", ["S9"])

    @pytest.mark.parametrize(
        ("stages", "expected"),
        [(None, [CURRENT]), ([CURRENT, "ACSNext"], [CURRENT, "ACSNext"]), (["A", "A"], ["A"]), (["S"] * 9, ["S"])],
    )
    def test_requested(self, stages: list[str] | None, expected: list[str]) -> None:
        """VersionStages defaults to ACSCurrent; a stage named twice counts once."""
        assert expected == requested_stages(stages)

    @pytest.mark.parametrize("stages", [[], ["a b"], ["x" * 65], [""], ["\u00e9"], [f"S{i}" for i in range(9)]])
    def test_requested_refuses(self, stages: list[str]) -> None:
        """No stage, a label with a space, over 64 or non-ASCII characters, or nine stages is InvalidParameter.

        (Malformed JSON, a non-array and non-string items are refused by the action table:
        tests/unit/api/test_json_array.py.)"""
        with pytest.raises(errors.InvalidValue) as info:
            requested_stages(stages)
        assert info.value.parameter == "VersionStages"


STAGES = MappingProxyType({CURRENT: "v2", PREVIOUS: "v1", "Custom": "v1"})
VERSIONS = frozenset({"v1", "v2", "v3"})


class TestStageMoves:
    def _move(self, stage: str, move_to: str | None, remove_from: str | None) -> dict[str, str]:
        return stages_after_move(STAGES, stage, move_to, remove_from, set(VERSIONS))

    def test_add_custom(self) -> None:
        """MoveToVersion alone attaches a stage."""
        assert self._move("New", "v3", None) == {**STAGES, "New": "v3"}

    def test_add_moves_a_stage_held_elsewhere(self) -> None:
        """A stage sits on one version: adding it to another moves it."""
        assert self._move("Custom", "v3", None) == {**STAGES, "Custom": "v3"}

    def test_remove_custom(self) -> None:
        """RemoveFromVersion alone removes a custom stage."""
        assert self._move("Custom", None, "v1") == {CURRENT: "v2", PREVIOUS: "v1"}

    @pytest.mark.parametrize("stage", [CURRENT, PREVIOUS])
    def test_reserved_stages_are_never_just_removed(self, stage: str) -> None:
        """ACSCurrent and ACSPrevious can be moved, not removed."""
        holder = STAGES[stage]
        with pytest.raises(errors.UnsupportedOperation):
            self._move(stage, None, holder)

    def test_move_current_back(self) -> None:
        """Moving ACSCurrent from v2 to v1 makes v2 ACSPrevious."""
        assert self._move(CURRENT, "v1", "v2") == {CURRENT: "v1", PREVIOUS: "v2", "Custom": "v1"}

    def test_move_current_without_remove_from(self) -> None:
        """Adding ACSCurrent to another version moves it the same way."""
        assert self._move(CURRENT, "v3", None) == {CURRENT: "v3", PREVIOUS: "v2", "Custom": "v1"}

    def test_move_current_onto_itself_changes_nothing(self) -> None:
        """ACSCurrent moved onto the version that has it leaves ACSPrevious where it is."""
        assert self._move(CURRENT, "v2", "v2") == STAGES

    def test_param_mismatch(self) -> None:
        """RemoveFromVersion that does not carry the stage is Rejected.InvalidRequest."""
        with pytest.raises(errors.StageMismatch):
            self._move(CURRENT, "v3", "v1")
        with pytest.raises(errors.StageMismatch):
            self._move("Missing", None, "v1")

    def test_unknown_version(self) -> None:
        """A version that does not exist is not found."""
        for move_to, remove_from in (("v9", None), (None, "v9")):
            with pytest.raises(errors.ResourceNotFound):
                self._move("Custom", move_to, remove_from)

    def test_neither_version(self) -> None:
        """At least one of MoveToVersion and RemoveFromVersion is needed."""
        with pytest.raises(errors.InvalidValue):
            self._move("Custom", None, None)

    def test_limit(self) -> None:
        """The stage count is checked after the move."""
        full = {f"S{i}": "v1" for i in range(MAX_STAGES)}
        with pytest.raises(errors.LimitExceeded):
            stages_after_move(full, "S9", "v1", None, {"v1"})


class TestVersionCap:
    def test_oldest_unstaged_versions_go(self) -> None:
        """Over 10 versions, the oldest ones without a stage are dropped."""
        ordered = [f"v{i}" for i in range(1, 13)]
        stages = {CURRENT: "v12", PREVIOUS: "v11", "Pinned": "v1"}
        assert versions_to_drop(ordered, stages) == ["v2", "v3"]

    def test_nothing_to_drop(self) -> None:
        """Ten versions are kept as they are."""
        assert versions_to_drop([f"v{i}" for i in range(10)], {CURRENT: "v0"}) == []

    @given(
        st.integers(min_value=1, max_value=11).flatmap(
            lambda n: st.tuples(
                st.just([f"v{i}" for i in range(n)]),
                st.dictionaries(
                    st.sampled_from([f"S{i}" for i in range(MAX_STAGES)]),
                    st.sampled_from([f"v{i}" for i in range(n)]),
                ),
            )
        )
    )
    def test_never_drops_a_staged_version(self, case: tuple[list[str], dict[str, str]]) -> None:
        """Whatever the stages, at most 10 versions remain and none that a stage points at goes."""
        ordered, stages = case
        dropped = versions_to_drop(ordered, stages)
        assert not set(dropped) & set(stages.values())
        assert len(ordered) - len(dropped) <= MAX_VERSIONS


class TestOtherParameters:
    def test_rotation_bounds(self) -> None:
        """CreateSecret allows 6 h, UpdateSecretRotationPolicy 7 d, both up to 8760 h."""
        assert parse_rotation_interval("6h", MIN_CREATE_ROTATION) == 6 * 3600
        assert parse_rotation_interval("365d", MIN_CREATE_ROTATION) == MAX_ROTATION
        for text, minimum in (("5h", MIN_CREATE_ROTATION), ("6d", MIN_POLICY_ROTATION), ("366d", MIN_CREATE_ROTATION), ("x", 0)):
            with pytest.raises(errors.InvalidValue):
                parse_rotation_interval(text, minimum)

    def test_policy(self) -> None:
        """A secret policy follows the key-policy grammar; the default allows the owning account."""
        default = default_policy("1234567890123456")
        assert check_policy(default) == default
        for bad in ("{}", "[]", "{", "[" * 100000, json.dumps({"Version": "1", "Statement": [{"Effect": "x" * 32768}]})):
            with pytest.raises(errors.InvalidValue):
                check_policy(bad)
        assert json.loads(default)["Statement"][0]["Principal"]["RAM"] == ["acs:ram::1234567890123456:*"]

    def test_extended_config(self) -> None:
        """ExtendedConfig is a JSON object of at most 1024 characters."""
        assert parse_extended_config('{"a":1}') == {"a": 1}
        for bad in ("[]", "nope", json.dumps({"a": "x" * 1024})):
            with pytest.raises(errors.InvalidValue):
                parse_extended_config(bad)
