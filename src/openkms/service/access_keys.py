"""AccessKey pairs: created, listed, disabled and deleted offline or at first start; looked up
on every request. Secrets are stored only wrapped under the KEK, bound to their AccessKeyId.

A running server keeps a looked-up pair for at most ``credential_seconds`` (default 1 s,
service/caches.py), so disabling or deleting a pair takes effect on every node within that bound.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from openkms.config import Hidden
from openkms.domain import ids
from openkms.rootkey.keyring import access_key_aad
from openkms.service.caches import Expiring
from openkms.service.deployment import Deployment
from openkms.store import Conflict
from openkms.store import access_keys as repo

ACTIVE = "Active"
INACTIVE = "Inactive"


@dataclass(frozen=True, slots=True)
class AccessKeyInfo:
    access_key_id: str
    status: str
    is_root: bool
    description: str
    created: float


class AccessKeyError(Exception):
    pass


def create(
    dep: Deployment,
    access_key_id: str | None = None,
    secret: str | None = None,
    *,
    is_root: bool = False,
    description: str = "",
) -> tuple[str, Hidden]:
    """Create a pair (generated unless given); raises AccessKeyError if the id exists."""
    akid = access_key_id or ids.new_access_key_id()
    value = secret or ids.new_access_key_secret()
    if not akid.isascii() or not akid or len(akid) > 64 or len(value) < 16:
        raise AccessKeyError("AccessKeyId must be 1-64 ASCII characters and the secret >= 16")
    kek_version = dep.keyring.current
    _, wrapped = dep.keyring.wrap(value.encode(), access_key_aad(akid, kek_version))
    try:
        with dep.db.write() as tx:
            repo.insert_pair(
                tx,
                access_key_id=akid,
                secret_wrapped=wrapped,
                kek_version=kek_version,
                status=ACTIVE,
                is_root=is_root,
                description=description,
                created=dep.clock.now(),
            )
    except Conflict:
        raise AccessKeyError(f"AccessKey {akid} already exists") from None
    return akid, Hidden(value)


def ensure_root(dep: Deployment) -> tuple[str, Hidden] | None:
    """Create the root pair on first start. Returns it only to the process that created it.

    The pair comes from ``OPENKMS_ROOT_ACCESS_KEY_ID``/``_SECRET`` when both are set.
    """
    env_id = os.environ.get("OPENKMS_ROOT_ACCESS_KEY_ID")
    env_secret = os.environ.get("OPENKMS_ROOT_ACCESS_KEY_SECRET")
    with dep.db.read() as tx:
        exists = repo.exists(tx, env_id) if env_id else repo.root_exists(tx)
    if exists:
        return None
    try:
        return create(dep, env_id, env_secret, is_root=True, description="root")
    except AccessKeyError:
        return None  # another process created it first


def list_all(dep: Deployment) -> list[AccessKeyInfo]:
    with dep.db.read() as tx:
        pairs = repo.list_all(tx)
    return [AccessKeyInfo(p.access_key_id, p.status, p.is_root, p.description, p.created) for p in pairs]


def set_status(dep: Deployment, access_key_id: str, status: str) -> None:
    with dep.db.write() as tx:
        found = repo.set_status(tx, access_key_id, status)
    if not found:
        raise AccessKeyError(f"AccessKey {access_key_id} does not exist")


def remove(dep: Deployment, access_key_id: str) -> None:
    with dep.db.write() as tx:
        found = repo.remove(tx, access_key_id)
    if not found:
        raise AccessKeyError(f"AccessKey {access_key_id} does not exist")


class CredentialStore:
    """Looks up (secret, active) for an AccessKeyId; a pair read is kept in
    ``caches.credentials`` for the configured number of seconds (service/caches.py)."""

    def __init__(self, dep: Deployment, cache: Expiring[str, tuple[str, bool] | None]) -> None:
        self._dep = dep
        self._cache = cache

    def lookup(self, access_key_id: str) -> tuple[str, bool] | None:
        return self._cache.get(access_key_id, lambda: self._read(access_key_id))

    def _read(self, access_key_id: str) -> tuple[str, bool] | None:
        # On the database itself: one statement of its own, the hot path (see openkms.store).
        pair = repo.get(self._dep.db, access_key_id)
        if pair is None:
            return None
        secret = self._dep.keyring.unwrap(
            pair.kek_version,
            pair.secret_wrapped,
            access_key_aad(pair.access_key_id, pair.kek_version),
        ).decode()
        return secret, pair.status == ACTIVE
