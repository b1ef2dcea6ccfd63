"""Policy wildcards: ``*`` matches any run of characters (the empty one too, and across ``:`` and
``/``), ``?`` exactly one character; everything else is literal.

A pattern is compiled once, when its policy is parsed. Matching never backtracks: the pattern is
cut at each ``*`` into fixed-length pieces, and each piece is looked for at its earliest place
after the one before it (for fixed-length pieces the earliest place is always a right choice). The
cost is linear in the text for each piece, whatever the pattern, so a policy such as
``*a*a*a*a*b`` cannot make a long resource name expensive, as a backtracking regular expression
would.
"""

from __future__ import annotations

import re
from collections.abc import Callable

__all__ = ["Glob", "has_wildcard"]


def has_wildcard(pattern: str) -> bool:
    return "*" in pattern or "?" in pattern


# A piece between two stars: literal text (found with str.find), or text with ``?`` in it (found
# with a regular expression of the same fixed length, which cannot backtrack either).
_Finder = Callable[[str, int], int]


def _finder(piece: str) -> _Finder:
    """A function (text, start) -> the index where ``piece`` first matches at or after ``start``,
    or -1."""
    if "?" not in piece:
        return lambda text, start: text.find(piece, start)
    regex = re.compile("".join("." if c == "?" else re.escape(c) for c in piece), re.DOTALL)

    def find(text: str, start: int) -> int:
        found = regex.search(text, start)
        return -1 if found is None else found.start()

    return find


def _fits(piece: str, text: str, at: int) -> bool:
    """``piece`` (with ``?``) matches ``text`` at index ``at`` exactly."""
    if at < 0 or at + len(piece) > len(text):
        return False
    return all(p == "?" or p == c for p, c in zip(piece, text[at : at + len(piece)], strict=True))


class Glob:
    """One compiled pattern. ``fold`` compares without regard to case (action names)."""

    __slots__ = ("_finders", "_head", "_middle", "_tail", "fold", "match", "pattern")

    def __init__(self, pattern: str, *, fold: bool = False) -> None:
        self.pattern = pattern
        self.fold = fold
        source = pattern.lower() if fold else pattern
        pieces = source.split("*")
        self._head = pieces[0]
        self._tail = pieces[-1] if len(pieces) > 1 else ""
        self._middle = tuple(p for p in pieces[1:-1] if p)
        self._finders = tuple(_finder(p) for p in self._middle)
        self.match: Callable[[str], bool]
        # The shapes real policies use get a direct test; the general case walks the pieces.
        if len(pieces) == 1 and "?" not in source:
            self.match = self._folded(source.__eq__)
        elif len(pieces) == 1:
            self.match = self._folded(lambda text: len(text) == len(source) and _fits(source, text, 0))
        elif source == "*" * len(source):
            self.match = lambda text: True
        elif not self._middle and "?" not in source:
            head, tail = self._head, self._tail
            self.match = self._folded(
                lambda t: len(t) >= len(head) + len(tail) and t.startswith(head) and t.endswith(tail)
            )
        else:
            self.match = self._folded(self._walk)

    def _folded(self, test: Callable[[str], bool]) -> Callable[[str], bool]:
        if not self.fold:
            return test
        return lambda text: test(text.lower())

    def _walk(self, text: str) -> bool:
        head, tail = self._head, self._tail
        if len(text) < len(head) + len(tail) or not _fits(head, text, 0):
            return False
        end = len(text) - len(tail)
        if not _fits(tail, text, end):
            return False
        at = len(head)
        for piece, find in zip(self._middle, self._finders, strict=True):
            found = find(text, at)
            if found < 0 or found + len(piece) > end:
                return False
            at = found + len(piece)
        return True

    def __repr__(self) -> str:
        return f"Glob({self.pattern!r})"
