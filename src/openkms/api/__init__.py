"""The action registry: every action openkms serves, by (Version, exact Action name).

Each product is one row of :data:`PRODUCTS`: its API version, the product its V4 credential
scope names, and its actions (each module lists its own in ``ACTIONS``). A request whose Version
is none of theirs is InvalidVersion; an Action its product does not have is
InvalidAction.NotFound.
"""

from __future__ import annotations

from dataclasses import dataclass

from openkms.api import (
    access_points,
    account,
    aliases,
    asymmetric,
    byok,
    instances,
    key_policy,
    keys,
    lifecycle,
    mac,
    ram,
    ram_policies,
    secrets,
    sts,
    symmetric,
    tags,
    versions,
)
from openkms.api.spec import ActionSpec, Param


@dataclass(frozen=True)
class Product:
    """One API: ``name`` as a V4 credential scope spells it, its ``version``, its actions by name."""

    name: str
    version: str
    title: str
    actions: dict[str, ActionSpec]


def _table(*modules: object) -> dict[str, ActionSpec]:
    out: dict[str, ActionSpec] = {}
    for module in modules:
        for spec in module.ACTIONS:  # type: ignore[attr-defined]
            assert spec.name not in out, spec.name
            out[spec.name] = spec
    return out


KMS_ACTIONS = _table(
    keys,
    lifecycle,
    symmetric,
    versions,
    account,
    aliases,
    tags,
    key_policy,
    asymmetric,
    mac,
    secrets,
    byok,
    instances,
    access_points,
)
RAM_ACTIONS = _table(ram, ram_policies)
STS_ACTIONS = _table(sts)

PRODUCTS = (
    Product("Kms", "2016-01-20", "KMS", KMS_ACTIONS),
    Product("Ram", "2015-05-01", "RAM", RAM_ACTIONS),
    Product("Sts", "2015-04-01", "STS", STS_ACTIONS),
)
VERSIONS: dict[str, Product] = {p.version: p for p in PRODUCTS}
REGISTRY: dict[tuple[str, str], ActionSpec] = {
    (p.version, name): spec for p in PRODUCTS for name, spec in p.actions.items()
}

__all__ = [
    "KMS_ACTIONS",
    "PRODUCTS",
    "RAM_ACTIONS",
    "REGISTRY",
    "STS_ACTIONS",
    "VERSIONS",
    "ActionSpec",
    "Param",
    "Product",
]
