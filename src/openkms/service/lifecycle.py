"""Key lifecycle: enable, disable, schedule and cancel deletion, deletion protection, and the
destruction of keys whose deletion window has passed (crypto-shredding).

Each change is one write transaction that reads the key, asks :mod:`openkms.domain.keystate`
for the new state and writes it only if the key's revision is unchanged, so two concurrent
changes cannot both win on a database that does not serialise writers (PostgreSQL).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection

from openkms.domain import errors, keystate
from openkms.domain.key import Key
from openkms.service.keys import KeyService
from openkms.store import keys as repo

DAY = 86400


def _change(ks: KeyService, key_ref: str, values_for: Callable[[Connection, Key], dict[str, Any]]) -> Key:
    with ks.dep.db.write() as conn:
        # Locked: a transition racing on another node waits for this one and then sees it.
        key = ks.load(conn, key_ref, for_update=True)
        if not repo.update_key(conn, key.key_id, expected_revision=key.revision, **values_for(conn, key)):
            raise errors.StateTransitionRefused()
        changed = repo.get_key(conn, key.key_id)
    assert changed is not None
    return changed


def enable_key(ks: KeyService, key_ref: str) -> Key:
    return _change(ks, key_ref, lambda _c, key: {"key_state": keystate.enable(key.key_state)})


def disable_key(ks: KeyService, key_ref: str) -> Key:
    return _change(ks, key_ref, lambda _c, key: {"key_state": keystate.disable(key.key_state)})


def schedule_key_deletion(ks: KeyService, key_ref: str, pending_window_days: int) -> Key:
    """PendingDeletion until now + N days; the deletion job destroys the key after that."""
    now = ks.dep.clock.now()

    def values(_conn: Connection, key: Key) -> dict[str, Any]:
        state = keystate.schedule_deletion(key.key_state, key.deletion_protection)
        return {"key_state": state, "delete_date": now + pending_window_days * DAY}

    return _change(ks, key_ref, values)


def cancel_key_deletion(ks: KeyService, key_ref: str) -> Key:
    """Back to Enabled, or to PendingImport for a key without material (see keystate)."""

    def values(conn: Connection, key: Key) -> dict[str, Any]:
        has_material = key.primary_version_id is not None and repo.has_material(
            conn, key.primary_version_id
        )
        return {"key_state": keystate.cancel_deletion(key.key_state, has_material), "delete_date": None}

    return _change(ks, key_ref, values)


def set_deletion_protection(ks: KeyService, key_ref: str, enabled: bool, description: str) -> Key:
    def values(_conn: Connection, key: Key) -> dict[str, Any]:
        keystate.require_not_pending_deletion(key.key_state)
        return {
            "deletion_protection": enabled,
            "deletion_protection_description": description if enabled else "",
        }

    return _change(ks, key_ref, values)


def destroy_due_keys(
    ks: KeyService, now: float, fence: Callable[[Connection], None], batch: int = 100
) -> int:
    """Destroy every key whose deletion window ended by ``now``; returns how many.

    One key per transaction: the key row, its aliases, tags and import tokens go and its
    wrapped material is overwritten with NULL, all or nothing. A crash between keys leaves
    whole keys either destroyed or untouched, and running again finishes the rest
    (idempotent). ``fence`` re-checks, inside each transaction, that this process still holds
    the job lease.
    """
    destroyed = 0
    while True:
        with ks.dep.db.read() as conn:
            due = repo.keys_due_for_deletion(conn, now, batch)
        for key_id in due:
            with ks.dep.db.write() as conn:
                fence(conn)
                key = repo.get_key(conn, key_id, for_update=True)
                # Re-read under the write lock: CancelKeyDeletion may have won the race.
                if key is None or not keystate.deletion_due(key.key_state, key.delete_date, now):
                    continue
                version_ids = repo.destroy_key(conn, key_id)
            for version_id in version_ids:
                ks.forget_material(version_id)
            destroyed += 1
        if len(due) < batch:
            return destroyed
