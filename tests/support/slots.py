"""Where the action tables' parameters travel on the wire: a plain parameter under its own name,
a repeat list through its first item (``ResourceId.1``, ``Tag.1.Key``)."""

from __future__ import annotations

from openkms.api.spec import Param, Repeated


def slots(p: Param) -> list[tuple[str, Param]]:
    """The wire names a parameter is read from, each with the Param that checks the value there."""
    if not isinstance(p, Repeated):
        return [(p.name, p)]
    if p.fields:
        return [(f"{p.name}.1.{f.name}", f) for f in p.fields]
    return [(f"{p.name}.1", p)]
