"""The action registry: every Alibaba action openkms serves, by exact name.

Each module lists its actions in ``ACTIONS``; this package assembles them.
"""

from __future__ import annotations

from openkms.api import (
    account,
    aliases,
    asymmetric,
    byok,
    key_policy,
    keys,
    lifecycle,
    mac,
    secrets,
    symmetric,
    tags,
    versions,
)
from openkms.api.spec import ActionSpec, Param

REGISTRY: dict[str, ActionSpec] = {}
_MODULES = (
    keys, lifecycle, symmetric, versions, account, aliases, tags, key_policy, asymmetric, mac, secrets, byok,
)  # fmt: skip
for _module in _MODULES:
    for _spec in _module.ACTIONS:
        assert _spec.name not in REGISTRY, _spec.name
        REGISTRY[_spec.name] = _spec

__all__ = ["REGISTRY", "ActionSpec", "Param"]
