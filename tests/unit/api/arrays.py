"""Values for JSONArray parameters, derived from their declarations: a minimal valid text, a
strategy of valid arrays with the value each binds to, and texts each declaration refuses."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import strategies as st

from openkms.api.spec import JSONArray, Member

# Characters of generated member strings: printable ASCII without the JSON-special ones, so a
# text's length is easy to reason about (the table checks types and sizes, not charsets).
_CHARS = st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters='"\\')


def _member_example(m: Member) -> Any:
    if m.kind is list:
        return ["v"] * max(m.min or 0, 1 if m.max is None or m.max > 0 else 0)
    if m.enum:
        return m.enum[0]
    return "x" * max(m.min or 1, 1)


def element_example(p: JSONArray) -> Any:
    """One element the declaration accepts (every member given, required or not)."""
    if p.fields:
        return {f.name: _member_example(f) for f in p.fields}
    return _member_example(p.item)


def example(p: JSONArray) -> str:
    """The shortest valid text: ``[]`` where allowed, else ``min_items`` elements."""
    return json.dumps([element_example(p)] * p.min_items)


def padded(p: JSONArray, size: int) -> str:
    """A valid text exactly ``size`` characters long (JSON allows trailing whitespace)."""
    text = example(p)
    assert len(text) <= size
    return text + " " * (size - len(text))


def _member_value(m: Member) -> st.SearchStrategy[Any]:
    """Values a member accepts (never empty, so each binds to itself)."""
    if m.enum:
        return st.sampled_from(m.enum)
    hi = 40 if m.max is None else min(m.max, 40)
    if m.kind is list:
        lo = m.min or 0
        return st.lists(st.text(_CHARS, min_size=1, max_size=12), min_size=lo, max_size=max(lo, hi))
    lo = max(m.min or 1, 1)
    return st.one_of(st.just("x" * (m.max or lo)), st.text(_CHARS, min_size=lo, max_size=max(lo, hi)))


def _element(p: JSONArray) -> st.SearchStrategy[tuple[Any, Any]]:
    """(element as sent, element as bound) pairs."""
    if not p.fields:
        return _member_value(p.item).map(lambda v: (v, v))

    @st.composite
    def objects(draw: st.DrawFn) -> tuple[Any, Any]:
        sent: dict[str, Any] = {"Undeclared": "ignored"}
        bound: dict[str, Any] = {}
        for f in p.fields:
            if f.required or draw(st.booleans()):
                sent[f.name] = bound[f.arg] = draw(_member_value(f))
            else:
                bound[f.arg] = f.default
        return sent, bound

    return objects()


def valid(p: JSONArray) -> st.SearchStrategy[tuple[str, Any]]:
    """(text, value it binds to) pairs within the declaration, the text no longer than ``max``."""
    hi = min(p.max_items if p.max_items is not None else 12, 12)
    pairs = st.lists(_element(p), min_size=p.min_items, max_size=max(p.min_items, hi))
    texts = pairs.map(lambda items: (json.dumps([s for s, _ in items]), [b for _, b in items]))
    return texts.filter(lambda t: p.max is None or len(t[0]) <= p.max)


def invalid(p: JSONArray) -> list[str]:
    """Texts the declaration refuses: not JSON, not an array, wrong element or member types and
    sizes, too many or too few items, a required member missing."""
    good = element_example(p)
    out = ["[", "not json", "{}", '"a string"', "[" * 5000 + "]" * 5000, json.dumps([None]), json.dumps([1])]
    if p.max_items is not None:
        out.append(json.dumps([good] * (p.max_items + 1)))
    if p.min_items > 0:
        out.append("[]")
    if not p.fields:
        out.append(json.dumps([""]))
        if p.item.max is not None:
            out.append(json.dumps(["x" * (p.item.max + 1)]))
        return out
    out.append(json.dumps(["a string"]))
    for f in p.fields:
        wrong_type = 1 if f.kind is str else "not a list"
        out.append(json.dumps([{**good, f.name: wrong_type}]))
        if not f.nullable:
            out.append(json.dumps([{**good, f.name: None}]))
        if f.required:
            out.append(json.dumps([{k: v for k, v in good.items() if k != f.name}]))
        if f.max is not None:
            over = ["v"] * (f.max + 1) if f.kind is list else "x" * (f.max + 1)
            out.append(json.dumps([{**good, f.name: over}]))
        if f.enum:
            out.append(json.dumps([{**good, f.name: "NotOneOfThem"}]))
        if f.kind is list:
            out.append(json.dumps([{**good, f.name: [1]}]))
    return out
