"""The action tables: every documented constraint is enforced, and docs/api.md is current."""

from __future__ import annotations

from pathlib import Path

import pytest

from openkms.api import REGISTRY
from openkms.api.docs import render
from openkms.api.spec import ActionSpec, Param, snake
from openkms.wire import errors

SPECS = sorted(REGISTRY.values(), key=lambda s: s.name)


def _valid_value(p: Param) -> str:
    if p.enum:
        return p.enum[0]
    if p.kind is int:
        return str(p.min if p.min is not None else 1)
    if p.kind is bool:
        return "true"
    return "x" * max(p.min or 1, 1)


def _valid_raw(spec: ActionSpec) -> dict[str, str]:
    return {p.name: _valid_value(p) for p in spec.params if p.required}


def _boundary_cases() -> list[tuple[str, str, str, type[errors.KMSError]]]:
    cases = []
    for spec in SPECS:
        for p in spec.params:
            if p.required:
                cases.append((spec.name, p.name, "<absent>", errors.MissingParameter))
            if p.enum:
                cases.append((spec.name, p.name, "NotAValidChoice", errors.InvalidParameter))
            if p.kind is int:
                cases.append((spec.name, p.name, "abc", errors.InvalidParameter))
                if p.min is not None:
                    cases.append((spec.name, p.name, str(p.min - 1), errors.InvalidParameter))
                if p.max is not None:
                    cases.append((spec.name, p.name, str(p.max + 1), errors.InvalidParameter))
            elif p.kind is bool:
                cases.append((spec.name, p.name, "maybe", errors.InvalidParameter))
            elif p.max is not None and not p.enum:
                cases.append((spec.name, p.name, "y" * (p.max + 1), errors.InvalidParameter))
            if not p.enum:
                cases.append((spec.name, p.name, "a\x00b", errors.InvalidParameter))
    return cases


@pytest.mark.parametrize(("action", "param", "value", "error"), _boundary_cases())
def test_every_constraint_is_enforced(action: str, param: str, value: str, error: type) -> None:
    """Each table constraint (required, enum, bounds, type, NUL) refuses a value just outside it."""
    spec = REGISTRY[action]
    raw = _valid_raw(spec)
    if value == "<absent>":
        raw.pop(param)
    else:
        raw[param] = value
    with pytest.raises(error) as info:
        spec.bind(raw)
    assert param in info.value.message


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_boundary_values_inside_are_accepted(spec: ActionSpec) -> None:
    """Values exactly at each bound are accepted by the table."""
    raw = _valid_raw(spec)
    for p in spec.params:
        if p.kind is int and p.max is not None:
            raw[p.name] = str(p.max)
        elif p.kind is str and p.max is not None and not p.enum and not p.pattern:
            raw[p.name] = "z" * p.max
    spec.bind(raw)


def test_booleans_parse_case_insensitively() -> None:
    """The SDKs send Python's True/False: booleans are read in any case."""
    p = Param("Flag", kind=bool)
    assert [p.convert("True"), p.convert("false"), p.convert("TRUE")] == [True, False, True]


def test_snake_case_names() -> None:
    """Alibaba names map to Python argument names."""
    assert [
        snake("KeyId"), snake("DKMSInstanceId"), snake("PageSize")
    ] == ["key_id", "dkms_instance_id", "page_size"]


def test_api_reference_page_is_current() -> None:
    """docs/api.md is exactly what the action tables generate (run `make docs` after a change)."""
    page = Path(__file__).parents[3] / "docs" / "api.md"
    assert render() == page.read_text()
