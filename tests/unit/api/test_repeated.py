"""Repeat-list parameters (``ResourceId.N``, ``Tag.N.Key``): how both SDKs flatten lists."""

from __future__ import annotations

import pytest

from openkms.api.spec import Param, Repeated
from openkms.wire import errors

IDS = Repeated("ResourceId", required=True, max=8, max_items=3)
TAGS = Repeated(
    "Tag",
    max_items=20,
    fields=(Param("Key", required=True, max=128), Param("Value", default="", max=128, allow_empty=True)),
)


def test_items_come_back_in_index_order_not_arrival_order() -> None:
    """Tag.10 sorts after Tag.2 although the signature's byte order puts it first."""
    raw = {"Tag.10.Key": "ten", "Tag.2.Key": "two", "Tag.1.Key": "one", "Tag.1.Value": "v"}
    expected = [
        {"key": "one", "value": "v"},
        {"key": "two", "value": ""},
        {"key": "ten", "value": ""},
    ]
    assert expected == TAGS.read(raw)


def test_old_sdk_sends_value_before_key() -> None:
    """aliyunsdkkms's set_Tags adds Tag.N.Value before Tag.N.Key; order does not matter."""
    assert TAGS.read({"Tag.1.Value": "v", "Tag.1.Key": "k"}) == [{"key": "k", "value": "v"}]


def test_scalar_list_and_unrelated_names() -> None:
    """ResourceId.N is read; ResourceIds, ResourceId and ResourceId.1.x are not items."""
    raw = {"ResourceId.2": "b", "ResourceId.1": "a", "ResourceId": "z", "ResourceIds.1": "z", "ResourceId.1.x": "z"}
    assert IDS.read(raw) == ["a", "b"]


def test_absent_optional_list_is_empty() -> None:
    """An optional repeat list that is not sent is an empty list."""
    assert TAGS.read({"Tags": "[]"}) == []


def test_absent_required_list_is_missing_parameter() -> None:
    """A required repeat list without items is MissingParameter naming the list."""
    with pytest.raises(errors.MissingParameter) as info:
        IDS.read({})
    assert "ResourceId" in info.value.message


@pytest.mark.parametrize("name", ["ResourceId.4", "ResourceId.0", "ResourceId.01", "ResourceId.x", "ResourceId.-1"])
def test_index_outside_one_to_max_is_refused(name: str) -> None:
    """N runs from 1 to the list's maximum (50 resources, 20 tags), written without leading zeros."""
    with pytest.raises(errors.InvalidParameter) as info:
        IDS.read({name: "a"})
    assert name in info.value.message


def test_each_item_is_checked_like_a_param() -> None:
    """Item constraints name the item: ResourceId.2 too long."""
    with pytest.raises(errors.InvalidParameter) as info:
        IDS.read({"ResourceId.1": "ok", "ResourceId.2": "x" * 9})
    assert "ResourceId.2" in info.value.message


def test_item_without_required_field_is_missing_parameter() -> None:
    """A Tag.N with a Value but no Key is MissingParameter Tag.N.Key."""
    with pytest.raises(errors.MissingParameter) as info:
        TAGS.read({"Tag.1.Key": "a", "Tag.2.Value": "b"})
    assert "Tag.2.Key" in info.value.message


def test_undeclared_fields_are_ignored() -> None:
    """Tag.1.Other is ignored like any undeclared parameter."""
    assert TAGS.read({"Tag.1.Key": "a", "Tag.1.Other": "b"}) == [{"key": "a", "value": ""}]


def test_wire_names_document_the_flattening() -> None:
    """The API reference shows the flattened names the SDKs send."""
    assert (IDS.wire_name, TAGS.wire_name) == ("ResourceId.N", "Tag.N.Key / Tag.N.Value")
