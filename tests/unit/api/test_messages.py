"""Error messages the action tables write: every range they state is well formed.

A bound the table does not set is left out of the sentence ("at most 261"), never printed empty
("[, 261]"). The walk covers every parameter of every action, each field and item of a repeat
list, and the generated API page.
"""

from __future__ import annotations

import re

import pytest

from openkms.api import KMS_ACTIONS as REGISTRY
from openkms.api.docs import render
from openkms.api.spec import JSONArray, Param, Repeated, within
from openkms.wire import errors
from tests.unit.api import arrays

# An empty bound: "[, 5]", "[5, ]", "[ , ]", or a bare "[]" (not "Statement[]", a list's name).
EMPTY_BOUND = re.compile(r"\[\s*,|,\s*\]|(?<![\w\]])\[\s*\]")


def _checked(p: Param) -> list[tuple[str, Param]]:
    """(where, Param) for a parameter and, for a repeat list, the Param that checks each item."""
    if not isinstance(p, Repeated):
        return [(p.name, p)]
    if p.fields:
        return [(f"{p.name}.1.{f.name}", f) for f in p.fields]
    return [(f"{p.name}.1", p._item(f"{p.name}.1"))]


def _outside(p: Param) -> list[str]:
    """Raw values just outside each bound a parameter declares."""
    if p.kind is int:
        return [str(b) for b in (None if p.min is None else p.min - 1, None if p.max is None else p.max + 1) if b is not None]
    if p.kind is str and p.enum is None:
        out = [] if p.max is None else ["x" * (p.max + 1)]
        return out + ([] if p.min is None or p.min < 2 else ["x" * (p.min - 1)])
    return []


def _range_messages() -> list[tuple[str, str]]:
    out = []
    for action in sorted(REGISTRY):
        for param in REGISTRY[action].params:
            for where, p in _checked(param):
                for value in _outside(p):
                    with pytest.raises(errors.InvalidParameter) as info:
                        p.convert(value)
                    out.append((f"{action}.{where}={value[:12]}", info.value.message))
            if isinstance(param, JSONArray):
                # Item counts and member sizes: the refusals that state a range.
                for value in arrays.invalid(param):
                    with pytest.raises(errors.InvalidParameter) as info:
                        param.convert(value)
                    if re.search(r"length|number of items", info.value.message):
                        out.append((f"{action}.{param.name}={value[:12]}", info.value.message))
    return out


MESSAGES = _range_messages()


def test_the_walk_reaches_length_and_integer_bounds() -> None:
    """The walk produces messages for both kinds of bound, so the checks below cannot pass empty."""
    texts = [m for _, m in MESSAGES]
    assert any("Its length must be at most" in m for m in texts)
    assert any(re.search(r"It must be in \[\d+, \d+\]\.", m) for m in texts)
    assert any("Its number of items must be in [1, 20]." in m for m in texts)
    assert any("The number of items in Values of item 1 must be at most 10." in m for m in texts)


@pytest.mark.parametrize(("case", "message"), MESSAGES, ids=[c for c, _ in MESSAGES])
def test_range_messages_have_no_empty_bound(case: str, message: str) -> None:
    """Each out-of-range answer states its range with every bound present."""
    assert not EMPTY_BOUND.search(message), message
    assert re.search(r"must be (in \[-?\d+, \d+\]|at most \d+|at least -?\d+)\.", message), message


def test_api_page_has_no_empty_bound() -> None:
    """The generated reference page states ranges the same way."""
    page = render()
    assert not EMPTY_BOUND.search(page), EMPTY_BOUND.search(page)


@pytest.mark.parametrize(
    ("lo", "hi", "expected"),
    [(1, 100, "in [1, 100]"), (None, 261, "at most 261"), (1, None, "at least 1"), (0, 0, "in [0, 0]")],
)
def test_within_leaves_out_a_missing_bound(lo: int | None, hi: int | None, expected: str) -> None:
    """One bound alone is "at most"/"at least"; both are an interval."""
    assert expected == within(lo, hi)


def test_length_message_without_a_lower_bound() -> None:
    """A string with only a maximum length says "at most", naming the parameter."""
    with pytest.raises(errors.InvalidParameter) as info:
        Param("AliasName", max=261).convert("a" * 262)
    assert info.value.message == 'The specified parameter "AliasName" is not valid. Its length must be at most 261.'
