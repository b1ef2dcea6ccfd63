"""The replay guard: a nonce is single-use per AccessKey within the time window, across every
worker process and node that shares the store, and across restarts (it is a table)."""

from __future__ import annotations

from sqlalchemy import delete, insert, update
from sqlalchemy.exc import IntegrityError

from openkms.store.engine import Database
from openkms.store.schema import nonces


class SQLNonceStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    def use(self, access_key_id: str, nonce: str, expires_at: float, now: float) -> bool:
        """Record the nonce; False if it was already used and has not expired."""
        try:
            with self._db.write() as conn:
                conn.execute(
                    insert(nonces).values(
                        access_key_id=access_key_id, nonce=nonce, expires_at=expires_at
                    )
                )
            return True
        except IntegrityError:
            # Only an expired record (one the pruner has not reached yet) may be reclaimed.
            with self._db.write() as conn:
                result = conn.execute(
                    update(nonces)
                    .where(
                        nonces.c.access_key_id == access_key_id,
                        nonces.c.nonce == nonce,
                        nonces.c.expires_at < now,
                    )
                    .values(expires_at=expires_at)
                )
            return result.rowcount == 1

    def prune(self, now: float) -> int:
        with self._db.write() as conn:
            return conn.execute(delete(nonces).where(nonces.c.expires_at < now)).rowcount
