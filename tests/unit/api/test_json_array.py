"""JSONArray parameters: the JSON texts Tags, TagKeys, Filters, VersionStages and SecretsList are
parsed and shape-checked by the action tables, and every refusal is 400 InvalidParameter naming
the parameter."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from openkms.api import KMS_ACTIONS as REGISTRY
from openkms.api.spec import JSONArray, Member
from openkms.wire import errors

SRC = Path(__file__).parents[3] / "src" / "openkms"

TAG_KEYS = JSONArray("TagKeys", max=4096, max_items=3, item=Member("TagKey", required=True, max=5))
OBJECTS = JSONArray(
    "Things",
    min_items=1,
    max_items=2,
    fields=(
        Member("Name", required=True, max=4),
        Member("Colour", enum=("red", "blue"), default="red"),
        Member("Note", nullable=True),
        Member("Values", kind=list, max=2),
    ),
)


def _refusal(p: JSONArray, text: str) -> str:
    with pytest.raises(errors.InvalidParameter) as info:
        p.convert(text)
    assert (info.value.code, info.value.http_status) == ("InvalidParameter", 400)
    assert info.value.message.startswith(f'The specified parameter "{p.name}" is not valid. ')
    return info.value.message.split("is not valid. ", 1)[1]


class TestJSONArray:
    def test_strings_bind_to_a_list(self) -> None:
        """An array of strings binds to the list, in order; absent binds to the default."""
        assert TAG_KEYS.convert('["a", "acs:x"]') == ["a", "acs:x"]
        assert TAG_KEYS.convert(None) is None
        assert TAG_KEYS.convert("") is None

    def test_objects_bind_to_dicts_of_declared_members(self) -> None:
        """Objects bind to dicts keyed by snake-case member names; undeclared members are dropped,
        absent, empty or (where nullable) null members take their defaults."""
        text = json.dumps([{"Name": "a", "Other": 1}, {"Name": "b", "Colour": "", "Note": None, "Values": ["x"]}])
        assert OBJECTS.convert(text) == [
            {"name": "a", "colour": "red", "note": None, "values": None},
            {"name": "b", "colour": "red", "note": None, "values": ["x"]},
        ]

    def test_required_and_missing(self) -> None:
        """Required and absent or empty is MissingParameter, as for any parameter."""
        required = JSONArray("SecretsList", required=True)
        for raw in (None, ""):
            with pytest.raises(errors.MissingParameter):
                required.convert(raw)

    @pytest.mark.parametrize(
        ("text", "reason"),
        [
            ("nope", "It must be a JSON array."),
            ("[", "It must be a JSON array."),
            ("[" * 4000, "It must be a JSON array."),
            ('{"a": 1}', "It must be a JSON array."),
            ('"a"', "It must be a JSON array."),
            ("[1]", "Item 1 must be a string."),
            ('["a", null]', "Item 2 must be a string."),
            ('["a", ""]', "Item 2 must not be empty."),
            ('["abcdef"]', "The length of item 1 must be at most 5."),
            ('["a", "b", "c", "d"]', "Its number of items must be at most 3."),
        ],
    )
    def test_string_array_refusals(self, text: str, reason: str) -> None:
        """Malformed JSON, a non-array, wrong item types and sizes, too many items: each says why."""
        assert reason == _refusal(TAG_KEYS, text)

    @pytest.mark.parametrize(
        ("items", "reason"),
        [
            ([], "Its number of items must be in [1, 2]."),
            ([{"Name": "a"}] * 3, "Its number of items must be in [1, 2]."),
            (["a"], "Item 1 must be a JSON object."),
            ([{"Name": "a"}, [1]], "Item 2 must be a JSON object."),
            ([{"Colour": "red"}], "Name of item 1 is required."),
            ([{"Name": ""}], "Name of item 1 must not be empty."),
            ([{"Name": None}], "Name of item 1 must be a string."),
            ([{"Name": 5}], "Name of item 1 must be a string."),
            ([{"Name": "abcde"}], "The length of Name of item 1 must be at most 4."),
            ([{"Name": "a", "Colour": "green"}], "Colour of item 1 must be one of red, blue."),
            ([{"Name": "a", "Values": "x"}], "Values of item 1 must be a list of strings."),
            ([{"Name": "a", "Values": [1]}], "Values of item 1 must be a list of strings."),
            ([{"Name": "a", "Values": ["1", "2", "3"]}], "The number of items in Values of item 1 must be at most 2."),
        ],
    )
    def test_object_array_refusals(self, items: list[Any], reason: str) -> None:
        """Object elements: the wrong type, a required member missing or empty, a member of the
        wrong type, size or value; each refusal names the item and the member."""
        assert reason == _refusal(OBJECTS, json.dumps(items))

    def test_the_text_is_checked_as_a_string_first(self) -> None:
        """The text's own length bound and the NUL check come before parsing."""
        assert _refusal(TAG_KEYS, "[" + " " * 4096 + "]") == "Its length must be at most 4096."
        assert _refusal(TAG_KEYS, '["a\x00"]') == "It must not contain a NUL character."


# -- the tables' JSON parameters ----------------------------------------------------------------

JSON_PARAMETERS = {
    ("CreateKey", "Tags"), ("CreateSecret", "Tags"), ("TagResource", "Tags"), ("UntagResource", "TagKeys"),
    ("ListKeys", "Filters"), ("ListSecrets", "Filters"), ("PutSecretValue", "VersionStages"),
    ("BatchGetSecretValue", "SecretsList"), ("CreatePolicy", "Permissions"), ("CreatePolicy", "Resources"),
    ("UpdatePolicy", "Permissions"), ("UpdatePolicy", "Resources"), ("CreateApplicationAccessPoint", "Policies"),
    ("UpdateApplicationAccessPoint", "Policies"),
}  # fmt: skip


def _param(action: str, name: str) -> JSONArray:
    p = next(p for p in REGISTRY[action].params if p.name == name)
    assert isinstance(p, JSONArray)
    return p


def test_every_json_array_parameter_is_declared_as_one() -> None:
    """The parameters the reference gives as JSON arrays are exactly the tables' JSONArrays."""
    declared = {(a, p.name) for a, s in REGISTRY.items() for p in s.params if isinstance(p, JSONArray)}
    assert declared == JSON_PARAMETERS


def test_no_hand_parsed_json_arrays_left() -> None:
    """Outside the JSONArray parameter kind, api and domain parse JSON only for objects with a
    grammar of their own: EncryptionContext, policy documents, ExtendedConfig, the claims of an
    STS SecurityToken, a managed secret's account, and three of group K/J (AccessControlRules,
    SourcePrivateIp, BindVpcs: domain/instance.py says why)."""
    parsers = {
        str(path.relative_to(SRC))
        for layer in ("api", "domain")
        for path in (SRC / layer).glob("*.py")
        if re.search(r"json\.loads?\(", path.read_text())
    }
    assert {
        "api/spec.py",
        "domain/ciphertext.py",
        "domain/instance.py",
        "domain/policy.py",
        "domain/rotation.py",
        "domain/secret.py",
        "domain/sts.py",
    } == parsers
    secret = (SRC / "domain" / "secret.py").read_text()
    assert secret.count("json.loads(") == 1
    assert "def parse_extended_config" in secret


@pytest.mark.parametrize(
    ("action", "name", "text", "expected"),
    [
        ("UntagResource", "TagKeys", '["a", "acs:x"]', ["a", "acs:x"]),
        ("TagResource", "Tags", '[{"TagKey": "a", "TagValue": "1"}, {"TagKey": "b"}]',
         [{"tag_key": "a", "tag_value": "1"}, {"tag_key": "b", "tag_value": ""}]),
        ("ListKeys", "Filters", '[{"Key": "KeyState", "Values": ["Enabled"]}, {"Key": "KeyState", "Values": []}]',
         [{"key": "KeyState", "values": ["Enabled"]}, {"key": "KeyState", "values": []}]),
        ("PutSecretValue", "VersionStages", '["ACSCurrent", "ACSCurrent"]', ["ACSCurrent", "ACSCurrent"]),
        ("BatchGetSecretValue", "SecretsList", '[{"SecretName": "s", "VersionId": null, "VersionStage": ""}]',
         [{"secret_name": "s", "version_id": None, "version_stage": None}]),
    ],
)  # fmt: skip
def test_table_binds(action: str, name: str, text: str, expected: Any) -> None:
    """Each table's JSON parameter binds to Python lists and dicts."""
    assert expected == _param(action, name).convert(text)


@pytest.mark.parametrize(
    ("action", "name", "text"),
    [
        # TagKeys: not JSON, an object, a non-string, an empty key, more than 20.
        *[("UntagResource", "TagKeys", t) for t in ("nope", '{"a": 1}', "[1]", '[""]', json.dumps(["k"] * 21))],
        # Tags: an object instead of an array, a non-string value, a key over 128, more than 20.
        *[("TagResource", "Tags", t) for t in (
            '{"TagKey": "a"}', '[{"TagKey": "a", "TagValue": 1}]', '[{"TagValue": "v"}]',
            json.dumps([{"TagKey": "k" * 129}]), json.dumps([{"TagKey": f"k{i}"} for i in range(21)]),
        )],
        # Filters: an unknown Key, Values not a list of at most 10 strings, more than 10 filters.
        *[("ListSecrets", "Filters", t) for t in (
            '[{"Key":"Colour","Values":["red"]}]', '[{"Key":"SecretName","Values":"a"}]',
            '[{"Key":"SecretName"}]', json.dumps([{"Key": "SecretName", "Values": ["v"] * 11}]),
            json.dumps([{"Key": "SecretName", "Values": ["v"]}] * 11), '["SecretName"]',
        )],
        # VersionStages: empty, an object, a bare string, a number, deep nesting.
        *[("PutSecretValue", "VersionStages", t) for t in ("[]", "{}", "ACSCurrent", "[1]", "[" * 10000)],
        # SecretsList: none, more than 20, no SecretName, an empty one, a VersionId over 64.
        *[("BatchGetSecretValue", "SecretsList", t) for t in (
            "[]", json.dumps([{"SecretName": "s"}] * 21), '[{"VersionId": "v"}]', '[{"SecretName": ""}]',
            json.dumps([{"SecretName": "s", "VersionId": "v" * 65}]), '[{"SecretName": "s", "VersionStage": 7}]',
        )],
    ],
)  # fmt: skip
def test_table_refusals_keep_code_and_status(action: str, name: str, text: str) -> None:
    """Each shape the hand parsers refused is still 400 InvalidParameter naming the parameter,
    now from the table, before the handler runs."""
    spec = REGISTRY[action]
    raw = {p.name: "x" for p in spec.params if p.required and p.name != name}
    with pytest.raises(errors.InvalidParameter) as info:
        spec.bind({**raw, name: text})
    assert (info.value.code, info.value.http_status) == ("InvalidParameter", 400)
    assert f'"{name}"' in info.value.message
