"""Declarative action tables: each action is a name, typed parameters and a handler.

Validation, the ``MissingParameter``/``InvalidParameter`` answers, the API reference page
(``docs/api.md``) and the bad-input tests are all derived from these tables, so they cannot
drift apart. A documented constraint that is not enforced here is a bug.
"""

from __future__ import annotations

import json
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
            if (self.min is not None and value < self.min) or (self.max is not None and value > self.max):
                raise errors.InvalidParameter(self.name, f"It must be {within(self.min, self.max)}.")
            return value
        if self.enum is not None and raw not in self.enum:
            raise errors.InvalidParameter(self.name, f"Valid values: {', '.join(self.enum)}.")
        if (self.min is not None and len(raw) < self.min) or (self.max is not None and len(raw) > self.max):
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


# A member missing from its object (JSON null is a value: see Member.nullable).
_ABSENT: Any = object()


@dataclass(frozen=True)
class Member:
    """A member of the objects in a :class:`JSONArray` (``TagKey`` in ``Tags``), or the check on
    each element of an array of strings.

    ``kind`` is ``str`` or ``list`` (a list of strings); ``min``/``max`` bound a string's length
    or a list's number of items. An empty string counts as absent, as for a :class:`Param`;
    JSON ``null`` counts as absent only where ``nullable`` is set.
    """

    name: str
    kind: type = str
    required: bool = False
    default: Any = None
    min: int | None = None
    max: int | None = None
    enum: tuple[str, ...] | None = None
    nullable: bool = False

    @property
    def arg(self) -> str:
        return snake(self.name)

    def check(self, value: Any, parameter: str, what: str) -> Any:
        """The member's value; a refusal is InvalidParameter naming ``parameter``, and its
        sentence names the member as ``what`` ("VersionId of item 2", "item 3")."""

        def refuse(reason: str) -> errors.InvalidParameter:
            return errors.InvalidParameter(parameter, reason[0].upper() + reason[1:])

        if value is _ABSENT or value == "" or (value is None and self.nullable):
            if self.required:
                raise refuse(f"{what} is required." if value is _ABSENT else f"{what} must not be empty.")
            return self.default
        if self.kind is list:
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise refuse(f"{what} must be a list of strings.")
            size, measure = len(value), f"the number of items in {what}"
        else:
            if not isinstance(value, str):
                raise refuse(f"{what} must be a string.")
            size, measure = len(value), f"the length of {what}"
        if (self.min is not None and size < self.min) or (self.max is not None and size > self.max):
            raise refuse(f"{measure} must be {within(self.min, self.max)}.")
        if self.enum is not None and value not in self.enum:
            raise refuse(f"{what} must be one of {', '.join(self.enum)}.")
        return value


@dataclass(frozen=True)
class JSONArray(Param):
    """A parameter whose text is a JSON array: ``Tags``, ``TagKeys``, ``Filters``,
    ``VersionStages``, ``SecretsList``.

    The text is first checked as a string (``max`` bounds its length), then parsed;
    ``min_items``/``max_items`` bound the array (``max_items=None``: only the text's length
    does). With ``fields`` each element is an object and binds to a ``dict`` keyed by the
    fields' ``arg`` names (members not declared are ignored, an absent one takes its field's
    default); without, each element is a string checked by ``item``. Malformed JSON, a
    non-array, an element or member of the wrong type or size and too many or too few items
    are each 400 InvalidParameter naming the parameter. Absent, the parameter binds to its
    ``default``.
    """

    item: Member = Member("item", required=True)
    fields: tuple[Member, ...] = ()
    min_items: int = 0
    max_items: int | None = 20

    def convert(self, raw: str | None) -> Any:
        text = super().convert(raw)
        if raw is None or (raw == "" and not self.allow_empty):
            return text
        try:
            data = json.loads(text)
        except (ValueError, RecursionError):
            raise errors.InvalidParameter(self.name, "It must be a JSON array.") from None
        if not isinstance(data, list):
            raise errors.InvalidParameter(self.name, "It must be a JSON array.")
        if len(data) < self.min_items or (self.max_items is not None and len(data) > self.max_items):
            raise errors.InvalidParameter(
                self.name, f"Its number of items must be {within(self.min_items or None, self.max_items)}."
            )
        if not self.fields:
            return [self.item.check(element, self.name, f"item {n}") for n, element in enumerate(data, 1)]
        out: list[dict[str, Any]] = []
        for n, element in enumerate(data, 1):
            if not isinstance(element, dict):
                raise errors.InvalidParameter(self.name, f"Item {n} must be a JSON object.")
            out.append(
                {
                    f.arg: f.check(element.get(f.name, _ABSENT), self.name, f"{f.name} of item {n}")
                    for f in self.fields
                }
            )
        return out


@dataclass(frozen=True)
class Unsupported:
    """A parameter Alibaba defines that openkms refuses rather than ignores, because ignoring it
    would do something other than the caller asked. Given with a value, the call is 400
    UnsupportedOperation with ``message``, before the handler runs; the handler never sees it.
    """

    name: str
    message: str
    doc: str = ""


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
    # Parameters refused with UnsupportedOperation once the declared ones have validated.
    unsupported: tuple[Unsupported, ...] = ()
    # The RAM service prefix of the action's permission (``kms``, ``ram``).
    service: str = "kms"

    @property
    def action_permission(self) -> str:
        return self.permission or f"{self.service}:{self.name}"

    def bind(self, raw: Mapping[str, str]) -> dict[str, Any]:
        """Validate every declared parameter, refuse any unsupported one given, and return
        handler keyword arguments."""
        kwargs = {p.arg: p.read(raw) for p in self.params}
        for u in self.unsupported:
            if raw.get(u.name):
                raise errors.UnsupportedOperation(u.message)
        if self.takes_raw:
            kwargs["raw"] = raw
        return kwargs
