"""Import tokens (BYOK): the ``import_tokens`` table. The material columns of an EXTERNAL key's
versions are in store/versions.py. Each function takes the caller's transaction."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, insert, select

from openkms.store.engine import Tx
from openkms.store.schema import import_tokens

__all__ = ["ImportToken", "delete_token", "get_token", "insert_token", "prune_tokens"]


@dataclass(frozen=True, slots=True)
class ImportToken:
    """One row of ``import_tokens``; ``private_wrapped`` is the wrapping private key under a KEK."""

    token: str
    key_id: str
    wrapping_key_spec: str
    wrapping_algorithm: str
    private_wrapped: bytes
    kek_version: int
    public_key_der: bytes
    expires_at: float


def insert_token(tx: Tx, token: ImportToken) -> None:
    tx.run(
        insert(import_tokens).values(
            token=token.token,
            key_id=token.key_id,
            wrapping_key_spec=token.wrapping_key_spec,
            wrapping_algorithm=token.wrapping_algorithm,
            private_wrapped=token.private_wrapped,
            kek_version=token.kek_version,
            public_key_der=token.public_key_der,
            expires_at=token.expires_at,
        )
    )


def get_token(tx: Tx, token: str) -> ImportToken | None:
    row = tx.first(select(import_tokens).where(import_tokens.c.token == token))
    if row is None:
        return None
    return ImportToken(
        token=row["token"],
        key_id=row["key_id"],
        wrapping_key_spec=row["wrapping_key_spec"],
        wrapping_algorithm=row["wrapping_algorithm"],
        private_wrapped=bytes(row["private_wrapped"]),
        kek_version=row["kek_version"],
        public_key_der=bytes(row["public_key_der"]),
        expires_at=row["expires_at"],
    )


def delete_token(tx: Tx, token: str) -> None:
    tx.run(delete(import_tokens).where(import_tokens.c.token == token))


def prune_tokens(tx: Tx, before: float) -> int:
    """Delete tokens that expired before ``before``; returns how many."""
    return tx.run(delete(import_tokens).where(import_tokens.c.expires_at < before))
