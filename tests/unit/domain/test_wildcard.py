"""Policy wildcards: ``*`` any run (empty too, across ``:`` and ``/``), ``?`` one character."""

from __future__ import annotations

from functools import cache

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openkms.domain.wildcard import Glob, has_wildcard


@pytest.mark.parametrize(
    ("pattern", "text", "expected"),
    [
        ("acs:kms:*:*:key*", "acs:kms:cn-hangzhou:1:key", True),
        ("acs:kms:*:*:key*", "acs:kms:cn-hangzhou:1:key/abc", True),
        ("acs:kms:*:1:key/*", "acs:kms:cn-hangzhou:1:key", False),
        ("acs:kms:*:1:key/*", "acs:kms:cn-hangzhou:1:key/", True),
        ("acs:kms:*:1:key/*", "acs:kms:cn-hangzhou:2:key/abc", False),
        ("acs:kms:*:1:key/*", "acs:kms:a:b:1:key/x", True),  # a star crosses ':'
        ("*", "", True),
        ("**", "anything", True),
        ("?", "", False),
        ("?", "a", True),
        ("?", "ab", False),
        ("a?c", "abc", True),
        ("a?c", "ac", False),
        ("a*", "a", True),
        ("*a", "a", True),
        ("a*a", "a", False),
        ("a*a", "aa", True),
        ("*ab*ab*", "abab", True),
        ("*ab*ab*", "aab", False),
        ("*a?c*", "xxabcxx", True),
        ("*a?c*", "xxacxx", False),
        ("k*?", "k", False),
        ("k*?", "kx", True),
        ("key/*/end", "key//end", True),
        ("key/*/end", "key/end", False),
        ("exact", "exact", True),
        ("exact", "Exact", False),
        ("a.b", "axb", False),  # regular-expression characters are literal
        ("[ab]", "[ab]", True),
        ("[ab]", "a", False),
    ],
)
def test_matches(pattern: str, text: str, expected: bool) -> None:
    """Each shape of pattern matches what the wildcard rules say, and nothing more."""
    assert Glob(pattern).match(text) is expected


def test_fold_ignores_case_on_both_sides() -> None:
    """Action names compare without regard to case."""
    glob = Glob("KMS:List*", fold=True)
    assert glob.match("kms:ListKeys")
    assert glob.match("KMS:LISTALIASES")
    assert not glob.match("kms:DescribeKey")
    assert not Glob("kms:List*").match("KMS:ListKeys")


def test_has_wildcard() -> None:
    """Only * and ? are wildcards."""
    assert has_wildcard("a*")
    assert has_wildcard("a?")
    assert not has_wildcard("a.b[c]")


def test_many_stars_stay_cheap() -> None:
    """A pattern built to make a backtracking matcher explode answers at once on a long text."""
    glob = Glob("*a" * 40 + "*b")
    assert not glob.match("a" * 20000)
    assert glob.match("a" * 20000 + "b")


@cache
def _reference(pattern: str, text: str) -> bool:
    """The definition, read literally: recursion over the first character of the pattern."""
    if not pattern:
        return not text
    head, rest = pattern[0], pattern[1:]
    if head == "*":
        return _reference(rest, text) or (bool(text) and _reference(pattern, text[1:]))
    if not text:
        return False
    return (head == "?" or head == text[0]) and _reference(rest, text[1:])


# A small alphabet makes overlaps between the pieces of a pattern, and with the text, likely.
@settings(max_examples=1500)
@given(st.text(st.sampled_from("ab*?"), max_size=8), st.text(st.sampled_from("ab?*:"), max_size=10))
def test_agrees_with_the_definition(pattern: str, text: str) -> None:
    """For any pattern and text over a small alphabet, the compiled matcher gives the answer the
    recursive definition gives."""
    assert _reference(pattern, text) == Glob(pattern).match(text)
