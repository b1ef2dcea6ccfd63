"""The action tables: every documented constraint is enforced, and docs/api.md is current."""

from __future__ import annotations

from pathlib import Path

import pytest

from openkms.api import KMS_ACTIONS as REGISTRY
from openkms.api.docs import render
from openkms.api.spec import ActionSpec, JSONArray, Param, Repeated, snake
from openkms.domain.aliases import NAME_PATTERN
from openkms.wire import errors
from tests.unit.api import arrays

SPECS = sorted(REGISTRY.values(), key=lambda s: s.name)


# Values that satisfy a table's pattern, by pattern.
PATTERN_EXAMPLES = {NAME_PATTERN: "alias/example"}


def _valid_value(p: Param) -> str:
    if isinstance(p, JSONArray):
        return arrays.example(p)
    if p.pattern:
        return PATTERN_EXAMPLES[p.pattern]
    if p.enum:
        return p.enum[0]
    if p.kind is int:
        return str(p.min if p.min is not None else 1)
    if p.kind is bool:
        return "true"
    return "x" * max(p.min or 1, 1)


def _slots(p: Param) -> list[tuple[str, Param]]:
    """The raw keys a parameter is read from, each with the Param that checks the value there
    (a repeat list is exercised through its first item: ``ResourceId.1``, ``Tag.1.Key``)."""
    if not isinstance(p, Repeated):
        return [(p.name, p)]
    if p.fields:
        return [(f"{p.name}.1.{f.name}", f) for f in p.fields]
    item = Param(f"{p.name}.1", kind=p.kind, required=True, min=p.min, max=p.max, enum=p.enum, pattern=p.pattern)
    return [(item.name, item)]


def _valid_raw(spec: ActionSpec) -> dict[str, str]:
    """Every required parameter, plus a complete first item of every repeat list."""
    return {
        key: _valid_value(q)
        for p in spec.params
        if p.required or isinstance(p, Repeated)
        for key, q in _slots(p)
    }


def _boundary_cases() -> list[tuple[str, str, str, type[errors.KMSError]]]:
    cases = []
    for spec in SPECS:
        for param in spec.params:
            if param.required:
                cases.append((spec.name, param.name, "<absent>", errors.MissingParameter))
            if isinstance(param, Repeated):
                over = f"{param.name}.{param.max_items + 1}" + (f".{param.fields[0].name}" if param.fields else "")
                cases.append((spec.name, over, "x", errors.InvalidParameter))
                for f in param.fields:
                    if f.required:
                        cases.append((spec.name, f"{param.name}.1.{f.name}", "<absent>", errors.MissingParameter))
            for name, p in _slots(param):
                cases.extend(_value_cases(spec.name, name, p))
    return cases


def _value_cases(action: str, name: str, p: Param) -> list[tuple[str, str, str, type[errors.KMSError]]]:
    cases: list[tuple[str, str, str, type[errors.KMSError]]] = []
    if p.enum:
        cases.append((action, name, "NotAValidChoice", errors.InvalidParameter))
    if p.kind is int:
        cases.append((action, name, "abc", errors.InvalidParameter))
        if p.min is not None:
            cases.append((action, name, str(p.min - 1), errors.InvalidParameter))
        if p.max is not None:
            cases.append((action, name, str(p.max + 1), errors.InvalidParameter))
    elif p.kind is bool:
        cases.append((action, name, "maybe", errors.InvalidParameter))
    elif p.max is not None and not p.enum:
        cases.append((action, name, "y" * (p.max + 1), errors.InvalidParameter))
    if not p.enum:
        cases.append((action, name, "a\x00b", errors.InvalidParameter))
    return cases


@pytest.mark.parametrize(("action", "param", "value", "error"), _boundary_cases())
def test_every_constraint_is_enforced(action: str, param: str, value: str, error: type) -> None:
    """Each table constraint (required, enum, bounds, type, NUL) refuses a value just outside it."""
    spec = REGISTRY[action]
    raw = _valid_raw(spec)
    if value == "<absent>":
        for key in [k for k in raw if k == param or k.startswith(param + ".")]:
            raw.pop(key)
    else:
        raw[param] = value
    with pytest.raises(error) as info:
        spec.bind(raw)
    assert param in info.value.message


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_boundary_values_inside_are_accepted(spec: ActionSpec) -> None:
    """Values exactly at each bound are accepted by the table."""
    raw = _valid_raw(spec)
    for param in spec.params:
        for name, p in _slots(param):
            if p.kind is int and p.max is not None:
                raw[name] = str(p.max)
            elif isinstance(p, JSONArray) and p.max is not None:
                raw[name] = arrays.padded(p, p.max)
            elif p.kind is str and p.max is not None and not p.enum and not p.pattern:
                raw[name] = "z" * p.max
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
