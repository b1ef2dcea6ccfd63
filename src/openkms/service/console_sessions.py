"""The console's sessions: who is signed in to ``/console`` and with which credentials.

The browser holds only a random session id (32 bytes, in an HttpOnly cookie); the row is keyed
by its SHA-256, so the table alone signs nobody in. The row holds the AccessKey pair (and STS
SecurityToken) the person signed in with, sealed under a KEK subkey of their own with the row's
key and the AccessKeyId as associated data: on each request the console opens it and checks the
pair again (auth.Authenticator.pair), so a pair disabled or deleted, or a token expired, ends the
session at once. A session ends at its expiry (``console_session_ttl``), at sign-out, when an
operator revokes it (``openkms console revoke``), when its AccessKey is deleted, or when the KEK
it was sealed under is gone (a rekey): then the person signs in again.

The form token (CSRF) is an HMAC of the session id: constant for a session, unknown to anyone
without the cookie, and never stored.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass

from openkms.crypto import aead
from openkms.service.deployment import Deployment
from openkms.store import console_sessions as repo

__all__ = ["SESSION_LABEL", "ConsoleSessions", "SignedIn"]

# The KEK subkey's label: console sessions' credentials are sealed under a key of their own.
SESSION_LABEL = b"openkms/console-session/v1"
_FORM_LABEL = b"openkms/console-form/v1"


@dataclass(frozen=True, slots=True)
class SignedIn:
    """An open session: the credentials it acts with, when it ends, and its form token."""

    access_key_id: str
    secret: str
    token: str
    account_uid: str
    expires: float
    form_token: str

    def __repr__(self) -> str:
        return f"SignedIn(access_key_id={self.access_key_id!r}, expires={self.expires!r})"

    def form_token_matches(self, given: str) -> bool:
        return hmac.compare_digest(self.form_token.encode(), given.encode())


def _digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def _aad(digest: str, access_key_id: str) -> bytes:
    return b"|".join((SESSION_LABEL, digest.encode(), access_key_id.encode()))


def form_token(session_id: str) -> str:
    return hmac.new(session_id.encode(), _FORM_LABEL, hashlib.sha256).hexdigest()


class ConsoleSessions:
    def __init__(self, dep: Deployment) -> None:
        self._dep = dep

    def open(self, access_key_id: str, secret: str, token: str, account_uid: str, ttl: float) -> str:
        """A new session for credentials already checked; returns its id (the cookie's value)."""
        session_id = secrets.token_urlsafe(32)
        digest = _digest(session_id)
        now = self._dep.clock.now()
        plain = json.dumps({"secret": secret, "token": token}).encode()
        kek_version, sealed = self._dep.keyring.seal_for(SESSION_LABEL, plain, _aad(digest, access_key_id))
        row = repo.SessionRow(digest, account_uid, access_key_id, kek_version, sealed, now, now + ttl)
        with self._dep.db.write() as tx:
            repo.delete_expired(tx, now)
            repo.insert_one(tx, row)
        return session_id

    def find(self, session_id: str) -> SignedIn | None:
        """The open session of a cookie's id; None if there is none, it expired or its
        credentials cannot be opened."""
        if not session_id or len(session_id) > 128:
            return None
        digest = _digest(session_id)
        row = repo.get(self._dep.db, digest)
        if row is None or self._dep.clock.now() >= row.expires:
            return None
        try:
            plain = self._dep.keyring.open_for(
                row.kek_version, SESSION_LABEL, row.sealed, _aad(digest, row.access_key_id)
            )
        except aead.NotAuthentic:
            return None
        held = json.loads(plain)
        return SignedIn(
            row.access_key_id,
            held["secret"],
            held["token"],
            row.account_uid,
            row.expires,
            form_token(session_id),
        )

    def close(self, session_id: str) -> None:
        """Sign-out: the session's row goes."""
        with self._dep.db.write() as tx:
            repo.delete_one(tx, _digest(session_id))

    def revoke(self, access_key_id: str | None = None) -> int:
        """End every session (of one AccessKeyId when given); the number ended."""
        with self._dep.db.write() as tx:
            return repo.delete_for_key(tx, access_key_id) if access_key_id else repo.delete_all(tx)
