"""The key record the services pass around (one row of ``keys``), free of I/O."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Key:
    key_id: str
    account_uid: str  # the owner
    description: str
    key_spec: str
    key_usage: str
    origin: str
    protection_level: str
    key_state: str
    creator: str
    creator_type: str
    creation_date: float
    delete_date: float | None
    material_expire_time: float | None
    primary_version_id: str | None
    automatic_rotation: bool
    rotation_interval: int | None
    last_rotation_date: float | None
    next_rotation_date: float | None
    deletion_protection: bool
    deletion_protection_description: str
    dkms_instance_id: str
    revision: int


@dataclass(frozen=True, slots=True)
class KeyVersion:
    key_id: str
    version_id: str
    creation_date: float


def parse_interval(text: str) -> int:
    """Parse ``<n>d|h|m|s`` into seconds; raises ValueError on anything else."""
    units = {"d": 86400, "h": 3600, "m": 60, "s": 1}
    if len(text) < 2 or text[-1] not in units or not text[:-1].isdigit():
        raise ValueError(text)
    return int(text[:-1]) * units[text[-1]]
