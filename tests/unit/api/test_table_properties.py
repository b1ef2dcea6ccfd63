"""Property tests over every action's parameter table: for each declared
parameter (and each field of a repeat list), any value its declaration allows binds to the typed
value, and any value it refuses (out of range by one, too long, wrong type, not in the enum, a
NUL byte) is 400 InvalidParameter naming that parameter. The tables are the single source of
validation, so this is the check that a documented constraint is the enforced one."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openkms.api import KMS_ACTIONS as REGISTRY
from openkms.api.paging import PageSize
from openkms.api.spec import MAX_PARAM_LEN, JSONArray, Param, Repeated
from openkms.wire import errors
from tests.unit.api import arrays

INT_LO, INT_HI = -(10**18) + 1, 10**18 - 1


def _slots(action: str) -> list[tuple[str, Param]]:
    """Every wire slot of an action with the Param that checks it (repeat lists: their first item)."""
    out: list[tuple[str, Param]] = []
    for p in REGISTRY[action].params:
        if isinstance(p, Repeated):
            out += [(f"{p.name}.1.{f.name}", f) for f in p.fields] if p.fields else [(f"{p.name}.1", p)]
        else:
            out.append((p.name, p))
    return out


def _valid(p: Param) -> st.SearchStrategy[tuple[str, Any]]:
    """(raw text, value it binds to) pairs the declaration allows."""
    if isinstance(p, JSONArray):
        return arrays.valid(p)
    if p.kind is bool:
        return st.sampled_from(["true", "false", "True", "FALSE"]).map(lambda s: (s, s.lower() == "true"))
    if p.kind is int:
        lo = INT_LO if p.min is None else p.min
        hi = INT_HI if p.max is None else p.max
        ints = st.one_of(st.sampled_from([lo, hi]), st.integers(lo, hi))
        if isinstance(p, PageSize):
            # A PageSize of 0, where the range admits it, is the action's default size.
            return ints.map(lambda n: (str(n), p.default if n == 0 else n))
        return ints.map(lambda n: (str(n), n))
    if p.enum is not None:
        return st.sampled_from(p.enum).map(lambda s: (s, s))
    lo = max(p.min or 0, 0 if p.allow_empty else 1)
    hi = min(p.max if p.max is not None else MAX_PARAM_LEN, MAX_PARAM_LEN)
    if p.pattern is not None:
        texts = st.from_regex(p.pattern, fullmatch=True)
    else:
        edges = st.sampled_from(["x" * lo, "x" * hi]) if lo <= hi else st.nothing()
        texts = st.one_of(edges, st.text(st.characters(exclude_characters="\x00"), min_size=lo, max_size=min(hi, 80)))
    return texts.filter(lambda s: lo <= len(s) <= hi and "\x00" not in s).map(lambda s: (s, s))


def _invalid(p: Param) -> list[str]:
    """Raw texts the declaration refuses."""
    out = ["a\x00b"]
    if isinstance(p, JSONArray):
        out += arrays.invalid(p)
        out += ["x" * (p.max + 1)] if p.max is not None and p.max < MAX_PARAM_LEN else []
        return out
    if p.kind is bool:
        return [*out, "yes", "1", "truee"]
    if p.kind is int:
        out += ["1.5", "abc", "0x10", "1e3", " 1"]
        out += [str(p.min - 1)] if p.min is not None else []
        out += [str(p.max + 1)] if p.max is not None else []
        return out
    if p.enum is not None:
        return [*out, p.enum[0] + "x", p.enum[0].swapcase() if p.enum[0].swapcase() not in p.enum else "zz-not-in-enum"]
    if p.max is not None and p.max < MAX_PARAM_LEN:
        out.append("x" * (p.max + 1))
    if p.min is not None and p.min > 1:
        out.append("x" * (p.min - 1))
    if p.pattern is not None:
        out += [s for s in ("x", "alias", "alias/", "alias/a b") if not re.fullmatch(p.pattern, s)]
    return out


def _base(action: str) -> dict[str, str]:
    """A valid value for every required slot, so that only the slot under test can fail."""
    return {slot: _simple(p) for slot, p in _slots(action) if p.required}


def _simple(p: Param) -> str:
    if isinstance(p, JSONArray):
        return arrays.example(p)
    if p.kind is bool:
        return "false"
    if p.kind is int:
        return str(p.min if p.min is not None else 1)
    if p.enum is not None:
        return p.enum[0]
    if p.pattern is not None:
        return "alias/prop-test"
    return "x" * max(p.min or 1, 1)


def _bound(action: str, slot: str, kwargs: dict[str, Any]) -> Any:
    """The value a slot was bound to in the handler's keyword arguments."""
    for p in REGISTRY[action].params:
        if isinstance(p, Repeated) and slot.startswith(p.name + "."):
            item = kwargs[p.arg][0]
            return item[next(f.arg for f in p.fields if slot.endswith("." + f.name))] if p.fields else item
        if p.name == slot:
            return kwargs[p.arg]
    raise KeyError(slot)


@pytest.mark.parametrize("action", sorted(REGISTRY))
def test_allowed_values_bind_to_their_typed_value(action: str) -> None:
    """Any value a parameter's declaration allows binds, converted to its declared type."""
    slots = _slots(action)
    if not slots:
        return

    @settings(max_examples=60, deadline=None)
    @given(st.data())
    def run(data: st.DataObject) -> None:
        slot, p = data.draw(st.sampled_from(slots))
        raw_text, value = data.draw(_valid(p))
        params = {**_base(action), slot: raw_text}
        if isinstance(p, Repeated) or "." in slot:
            # The other fields of the same repeat-list item need values too.
            prefix = slot.rsplit(".", 1)[0] + "."
            for other, q in slots:
                if other.startswith(prefix) and other != slot and q.required:
                    params.setdefault(other, _simple(q))
        assert value == _bound(action, slot, REGISTRY[action].bind(params))

    run()


@pytest.mark.parametrize("action", sorted(REGISTRY))
def test_refused_values_name_their_parameter(action: str) -> None:
    """Every value a declaration refuses is 400 InvalidParameter, and the message names the slot."""
    for slot, p in _slots(action):
        for text in _invalid(p):
            params = {**_base(action), slot: text}
            prefix = slot.rsplit(".", 1)[0] + "."
            for other, q in _slots(action):
                if "." in slot and other.startswith(prefix) and other != slot and q.required:
                    params.setdefault(other, _simple(q))
            with pytest.raises(errors.InvalidParameter) as info:
                REGISTRY[action].bind(params)
            assert info.value.http_status == 400
            assert f'"{slot}"' in info.value.message, (slot, text, info.value.message)


@pytest.mark.parametrize("action", sorted(REGISTRY))
def test_required_parameters_are_missing_when_absent_or_empty(action: str) -> None:
    """A required parameter absent, or empty without allow_empty, is 400 MissingParameter naming it."""
    for slot, p in _slots(action):
        if not p.required or "." in slot:
            continue
        for params in ({k: v for k, v in _base(action).items() if k != slot}, {**_base(action), slot: ""}):
            if p.allow_empty and params.get(slot) == "":
                continue
            with pytest.raises(errors.MissingParameter) as info:
                REGISTRY[action].bind(params)
            assert slot in info.value.message
