"""Declarative action tables: each action is a name, typed parameters and a handler.

Validation, the ``MissingParameter``/``InvalidParameter`` answers, the API reference page
(``docs/api.md``) and the bad-input tests are all derived from these tables, so they cannot
drift apart. A documented constraint that is not enforced here is a bug.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from openkms.wire import errors

MAX_PARAM_LEN = 64 * 1024


def snake(name: str) -> str:
    """``KeyId`` -> ``key_id``, ``DKMSInstanceId`` -> ``dkms_instance_id``."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name).lower()


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
        if len(raw) > max(MAX_PARAM_LEN, self.max or 0) or "\x00" in raw:
            raise errors.InvalidParameter(self.name)
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
                raise errors.InvalidParameter(self.name, f"It must be in {self.bounds()}.")
            return value
        if self.enum is not None and raw not in self.enum:
            raise errors.InvalidParameter(self.name, f"Valid values: {', '.join(self.enum)}.")
        if (self.min is not None and len(raw) < self.min) or (
            self.max is not None and len(raw) > self.max
        ):
            raise errors.InvalidParameter(self.name, f"Its length must be in {self.bounds()}.")
        if self.pattern is not None and not re.fullmatch(self.pattern, raw):
            raise errors.InvalidParameter(self.name)
        return raw

    def bounds(self) -> str:
        lo = "" if self.min is None else str(self.min)
        hi = "" if self.max is None else str(self.max)
        return f"[{lo}, {hi}]"


Handler = Callable[..., dict[str, Any]]


@dataclass(frozen=True)
class ActionSpec:
    """An Alibaba action: what it takes, what permission it needs, and what does the work."""

    name: str
    handler: Handler
    params: tuple[Param, ...] = ()
    permission: str = ""
    doc: str = ""
    # Repeated and nested parameters (``Tag.N.Key``) are read by the handler from the raw map.
    takes_raw: bool = False
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def action_permission(self) -> str:
        return self.permission or f"kms:{self.name}"

    def bind(self, raw: Mapping[str, str]) -> dict[str, Any]:
        """Validate every declared parameter and return handler keyword arguments."""
        kwargs = {p.arg: p.convert(raw.get(p.name)) for p in self.params}
        if self.takes_raw:
            kwargs["raw"] = raw
        return kwargs
