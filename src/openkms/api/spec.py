"""Declarative action tables: each action is a name, typed parameters and a handler.

Validation, the ``MissingParameter``/``InvalidParameter`` answers, the API reference page
(``docs/api.md``) and the bad-input tests are all derived from these tables, so they cannot
drift apart. A documented constraint that is not enforced here is a bug.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any

from openkms.wire import errors

MAX_PARAM_LEN = 64 * 1024


@lru_cache(maxsize=1024)
def snake(name: str) -> str:
    """``KeyId`` -> ``key_id``, ``DKMSInstanceId`` -> ``dkms_instance_id``."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name).lower()


def within(lo: int | None, hi: int | None) -> str:
    """A range in words, for messages and docs: ``in [1, 100]``, ``at most 261``, ``at least 1``.

    A bound that is not set is left out rather than shown empty.
    """
    if lo is not None and hi is not None:
        return f"in [{lo}, {hi}]"
    if hi is not None:
        return f"at most {hi}"
    if lo is not None:
        return f"at least {lo}"
    return "unbounded"


@dataclass(frozen=True)
class Param:
    """One request parameter. ``kind`` is ``str``, ``int`` or ``bool``.

    For strings, ``min``/``max`` bound the length in characters; for integers, the value.
    An empty string counts as absent unless ``allow_empty`` is set.
    """

    name: str
    kind: type = str
    required: bool = False
    default: Any = None
    min: int | None = None
    max: int | None = None
    enum: tuple[str, ...] | None = None
    pattern: str | None = None
    allow_empty: bool = False
    doc: str = ""

    @property
    def arg(self) -> str:
        return snake(self.name)

    def convert(self, raw: str | None) -> Any:
        """Validate and convert one raw value; raises a wire error naming the parameter."""
        if raw is None or (raw == "" and not self.allow_empty):
            if self.required:
                raise errors.MissingParameter(self.name)
            return self.default
        if "\x00" in raw:
            raise errors.InvalidParameter(self.name, "It must not contain a NUL character.")
        cap = max(MAX_PARAM_LEN, self.max or 0)
        if len(raw) > cap:
            # Refused before any parsing; a string's message states its own bounds.
            lo, hi = (self.min, self.max or cap) if self.kind is str else (None, cap)
            raise errors.InvalidParameter(self.name, f"Its length must be {within(lo, hi)}.")
        if self.kind is bool:
            lowered = raw.lower()
            if lowered not in ("true", "false"):
                raise errors.InvalidParameter(self.name, "It must be true or false.")
            return lowered == "true"
        if self.kind is int:
            if not re.fullmatch(r"-?[0-9]{1,18}", raw):
                raise errors.InvalidParameter(self.name, "It must be an integer.")
            value = int(raw)
            if (self.min is not None and value < self.min) or (
                self.max is not None and value > self.max
            ):
                raise errors.InvalidParameter(self.name, f"It must be {within(self.min, self.max)}.")
            return value
        if self.enum is not None and raw not in self.enum:
            raise errors.InvalidParameter(self.name, f"Valid values: {', '.join(self.enum)}.")
        if (self.min is not None and len(raw) < self.min) or (
            self.max is not None and len(raw) > self.max
        ):
            raise errors.InvalidParameter(self.name, f"Its length must be {within(self.min, self.max)}.")
        if self.pattern is not None and not re.fullmatch(self.pattern, raw):
            raise errors.InvalidParameter(self.name)
        return raw

    @property
    def wire_name(self) -> str:
        """How the parameter is spelled on the wire (``Tag.N.Key`` for repeat lists)."""
        return self.name

    def read(self, raw: Mapping[str, str]) -> Any:
        """Find this parameter in the raw request map and convert it."""
        return self.convert(raw.get(self.name))


@dataclass(frozen=True)
class Repeated(Param):
    """A repeat list: ``Name.1``, ``Name.2``, ... or, with ``fields``, ``Name.N.Field``.

    This is how both SDKs flatten list parameters (the old SDK's ``RepeatList`` setters and the
    Tea SDK's list models). ``N`` runs from 1 to ``max_items``; the items come back in ``N``
    order. Without ``fields`` each item is a string checked like a plain :class:`Param` (the
    inherited ``min``/``max``/``pattern``/``enum`` apply to each item) and the value is a
    ``list[str]``. With ``fields`` each item is a ``dict`` keyed by the fields' ``arg`` names;
    a field's own ``required`` and ``default`` apply per item. ``required`` means "at least one
    item". Fields not declared (``Tag.1.Other``) are ignored, like any undeclared parameter.
    """

    fields: tuple[Param, ...] = ()
    max_items: int = 20

    @property
    def wire_name(self) -> str:
        if self.fields:
            return " / ".join(f"{self.name}.N.{f.name}" for f in self.fields)
        return f"{self.name}.N"

    def read(self, raw: Mapping[str, str]) -> Any:
        found: dict[int, dict[str, str]] = {}
        prefix = self.name + "."
        for name, value in raw.items():
            if not name.startswith(prefix):
                continue
            index_text, _, rest = name[len(prefix) :].partition(".")
            if bool(rest) != bool(self.fields):
                continue
            if not re.fullmatch(r"[1-9][0-9]{0,5}", index_text) or int(index_text) > self.max_items:
                raise errors.InvalidParameter(
                    name, f"{self.name} takes at most {self.max_items} items, numbered from 1."
                )
            found.setdefault(int(index_text), {})[rest] = value
        if not found:
            if self.required:
                raise errors.MissingParameter(self.name)
            return []
        items: list[Any] = []
        for n in sorted(found):
            given = found[n]
            if not self.fields:
                items.append(self._item(f"{self.name}.{n}").convert(given[""]))
                continue
            items.append(
                {
                    f.arg: replace(f, name=f"{self.name}.{n}.{f.name}").convert(given.get(f.name))
                    for f in self.fields
                }
            )
        return items

    def _item(self, name: str) -> Param:
        return Param(
            name,
            kind=self.kind,
            required=True,
            min=self.min,
            max=self.max,
            enum=self.enum,
            pattern=self.pattern,
            allow_empty=self.allow_empty,
        )


Handler = Callable[..., dict[str, Any]]


@dataclass(frozen=True)
class ActionSpec:
    """An Alibaba action: what it takes, what permission it needs, and what does the work."""

    name: str
    handler: Handler
    params: tuple[Param, ...] = ()
    permission: str = ""
    doc: str = ""
    # For parameters no declarative type fits, the handler may read the raw map itself.
    # Repeat lists (``Tag.N.Key``) are declared with :class:`Repeated` instead.
    takes_raw: bool = False
    # True when the handler only reads and computes: no durable write (fsync), no long wait.
    # On the embedded database such a handler runs on the event loop (see server.py).
    inline: bool = False
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def action_permission(self) -> str:
        return self.permission or f"kms:{self.name}"

    def bind(self, raw: Mapping[str, str]) -> dict[str, Any]:
        """Validate every declared parameter and return handler keyword arguments."""
        kwargs = {p.arg: p.read(raw) for p in self.params}
        if self.takes_raw:
            kwargs["raw"] = raw
        return kwargs
