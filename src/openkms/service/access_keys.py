"""AccessKey pairs: created, listed, disabled and deleted offline (`openkms access-key`,
`openkms ram access-key`) or through RAM's API (service/ram.py); looked up on every request.
Each belongs to an account's root or to one of its RAM users. Secrets are stored only wrapped
under the KEK, bound to their AccessKeyId.

A running server keeps a looked-up pair for at most ``credential_seconds`` (default 1 s,
service/caches.py), so disabling or deleting a pair takes effect on every node within that bound.

An STS session's temporary AccessKey (``STS.…``) is stored nowhere: its secret and owner come
from the SecurityToken sent with each request (:meth:`CredentialStore.session`,
:mod:`openkms.service.sts`).
"""

from __future__ import annotations

from dataclasses import dataclass

from openkms.config import Hidden
from openkms.domain import ids
from openkms.domain.ram import ACTIVE, INACTIVE, Owner
from openkms.domain.sts import STS_PREFIX
from openkms.rootkey.keyring import access_key_aad
from openkms.service.caches import Expiring
from openkms.service.deployment import Deployment
from openkms.service.sts import SessionTokens, session_of
from openkms.store import Conflict, Tx, console_sessions
from openkms.store import access_keys as repo

__all__ = [
    "ACTIVE",
    "INACTIVE",
    "AccessKeyError",
    "AccessKeyInfo",
    "Credential",
    "CredentialStore",
    "create",
    "insert",
    "list_all",
    "remove",
    "set_status",
]


@dataclass(frozen=True, slots=True)
class AccessKeyInfo:
    access_key_id: str
    status: str
    description: str
    created: float
    account_uid: str
    user_id: str | None

    @property
    def is_root(self) -> bool:
        return self.user_id is None


@dataclass(frozen=True, slots=True)
class Credential:
    """What authentication needs of an AccessKeyId: its secret, whether it is active, its owner."""

    secret: str
    active: bool
    owner: Owner

    def __repr__(self) -> str:
        return f"Credential(active={self.active!r}, owner={self.owner!r})"


class AccessKeyError(Exception):
    pass


def insert(
    dep: Deployment, tx: Tx, owner: Owner, access_key_id: str | None = None, secret: str | None = None,
    description: str = "",
) -> tuple[str, Hidden, float]:  # fmt: skip
    """Add a pair for ``owner`` inside the caller's write transaction (generated unless given).

    Returns (AccessKeyId, secret, created). Raises :class:`~openkms.store.Conflict` if the id
    exists, AccessKeyError for an id or secret of the wrong shape.
    """
    akid = access_key_id or ids.new_access_key_id()
    value = secret or ids.new_access_key_secret()
    if not akid.isascii() or not akid.isprintable() or not akid or len(akid) > 64 or len(value) < 16:
        raise AccessKeyError("AccessKeyId must be 1-64 printable ASCII characters and the secret >= 16")
    if akid.startswith(STS_PREFIX):
        raise AccessKeyError(f"AccessKeyIds beginning {STS_PREFIX} are STS sessions' temporary ones")
    kek_version = dep.keyring.current
    _, wrapped = dep.keyring.wrap(value.encode(), access_key_aad(akid, kek_version))
    created = dep.clock.now()
    repo.insert_pair(
        tx,
        access_key_id=akid,
        secret_wrapped=wrapped,
        kek_version=kek_version,
        status=ACTIVE,
        description=description,
        created=created,
        account_uid=owner.account_uid,
        user_id=owner.user_id,
    )
    return akid, Hidden(value), created


def create(
    dep: Deployment, access_key_id: str | None = None, secret: str | None = None, *,
    owner: Owner | None = None, description: str = "",
) -> tuple[str, Hidden]:  # fmt: skip
    """Create a root pair of the deployment's account (or of ``owner``); raises AccessKeyError
    if the id exists. Quotas of users' pairs are the RAM service's (service/ram.py)."""
    try:
        with dep.db.write() as tx:
            owner = owner or Owner(dep.account_id)
            akid, value, _ = insert(dep, tx, owner, access_key_id, secret, description)
    except Conflict:
        raise AccessKeyError(f"AccessKey {access_key_id} already exists") from None
    return akid, value


def _info(p: repo.StoredAccessKey) -> AccessKeyInfo:
    return AccessKeyInfo(p.access_key_id, p.status, p.description, p.created, p.account_uid, p.user_id)


def list_all(dep: Deployment) -> list[AccessKeyInfo]:
    with dep.db.read() as tx:
        pairs = repo.list_all(tx)
    return [_info(p) for p in pairs]


def set_status(dep: Deployment, access_key_id: str, status: str) -> None:
    with dep.db.write() as tx:
        found = repo.set_status(tx, access_key_id, status)
    if not found:
        raise AccessKeyError(f"AccessKey {access_key_id} does not exist")


def remove(dep: Deployment, access_key_id: str) -> None:
    with dep.db.write() as tx:
        found = repo.remove(tx, access_key_id)
        console_sessions.delete_for_key(tx, access_key_id)
    if not found:
        raise AccessKeyError(f"AccessKey {access_key_id} does not exist")


class CredentialStore:
    """Looks up the :class:`Credential` of an AccessKeyId; a pair read is kept in
    ``caches.credentials`` for the configured number of seconds (service/caches.py)."""

    def __init__(
        self, dep: Deployment, cache: Expiring[str, Credential | None], tokens: SessionTokens | None = None
    ) -> None:
        self._dep = dep
        self._cache = cache
        self._tokens = tokens or SessionTokens(dep.keyring, dep.clock)

    def lookup(self, access_key_id: str) -> Credential | None:
        return self._cache.get(access_key_id, lambda: self._read(access_key_id))

    def session(self, access_key_id: str, token: str) -> Credential:
        """The Credential of an STS session's AccessKeyId, from the SecurityToken sent with it.

        Raises:
            TokenMalformed, TokenMismatch, TokenExpired: see :meth:`SessionTokens.open`.
        """
        claims = self._tokens.open(access_key_id, token)
        return Credential(claims.secret, True, session_of(claims))

    def _read(self, access_key_id: str) -> Credential | None:
        # On the database itself: one statement of its own, the hot path (see openkms.store).
        pair = repo.get(self._dep.db, access_key_id)
        if pair is None:
            return None
        secret = self._dep.keyring.unwrap(
            pair.kek_version,
            pair.secret_wrapped,
            access_key_aad(pair.access_key_id, pair.kek_version),
        ).decode()
        return Credential(secret, pair.status == ACTIVE, Owner(pair.account_uid, pair.user_id))
