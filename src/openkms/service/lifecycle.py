"""Key lifecycle: enable, disable, schedule and cancel deletion, deletion protection, and the
destruction of keys whose deletion window has passed (crypto-shredding).

Each change is one write transaction that reads the key, asks :mod:`openkms.domain.keystate`
for the new state and writes it only if the key's revision is unchanged, so two concurrent
changes cannot both win on a database that does not serialise writers (PostgreSQL).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from openkms.domain import errors, keystate
from openkms.domain.audit import Report
from openkms.domain.key import Key
from openkms.service.caches import Caches
from openkms.service.due import each_due
from openkms.service.keys import KeyService
from openkms.service.tenancy import Scope
from openkms.store import Tx, keys, versions

DAY = 86400


class LifecycleService:
    def __init__(self, keys_service: KeyService, caches: Caches) -> None:
        self.keys = keys_service
        self.dep = keys_service.dep
        self.caches = caches

    def _change(self, scope: Scope, key_ref: str, values_for: Callable[[Tx, Key], dict[str, Any]]) -> Key:
        with self.dep.db.write() as tx:
            # Locked: a transition racing on another node waits for this one and then sees it.
            key = self.keys.load(tx, scope, key_ref, lock=True)
            if not keys.update_key(tx, key.key_id, expected_revision=key.revision, **values_for(tx, key)):
                raise errors.StateTransitionRefused()
            changed = keys.get(tx, key.key_id)
        assert changed is not None
        return changed

    def enable_key(self, scope: Scope, key_ref: str) -> Key:
        return self._change(scope, key_ref, lambda _tx, key: {"key_state": keystate.enable(key.key_state)})

    def disable_key(self, scope: Scope, key_ref: str) -> Key:
        return self._change(scope, key_ref, lambda _tx, key: {"key_state": keystate.disable(key.key_state)})

    def schedule_key_deletion(self, scope: Scope, key_ref: str, pending_window_days: int) -> Key:
        """PendingDeletion until now + N days; the deletion job destroys the key after that."""
        now = self.dep.clock.now()

        def values(_tx: Tx, key: Key) -> dict[str, Any]:
            state = keystate.schedule_deletion(key.key_state, key.deletion_protection)
            return {"key_state": state, "delete_date": now + pending_window_days * DAY}

        return self._change(scope, key_ref, values)

    def cancel_key_deletion(self, scope: Scope, key_ref: str) -> Key:
        """Back to Enabled, or to PendingImport for a key without material (see keystate)."""

        def values(tx: Tx, key: Key) -> dict[str, Any]:
            has_material = key.primary_version_id is not None and versions.has_material(
                tx, key.primary_version_id
            )
            return {"key_state": keystate.cancel_deletion(key.key_state, has_material), "delete_date": None}

        return self._change(scope, key_ref, values)

    def set_deletion_protection(self, scope: Scope, key_ref: str, enabled: bool, description: str) -> Key:
        def values(_tx: Tx, key: Key) -> dict[str, Any]:
            keystate.require_not_pending_deletion(key.key_state)
            return {
                "deletion_protection": enabled,
                "deletion_protection_description": description if enabled else "",
            }

        return self._change(scope, key_ref, values)

    def destroy_due_keys(
        self, now: float, fence: Callable[[Tx], None], batch: int = 100, report: Report | None = None
    ) -> int:
        """Destroy every key whose deletion window ended by ``now``; returns how many.

        One key per transaction: the key row, its aliases, tags and import tokens go and its
        wrapped material is overwritten with NULL, all or nothing. A crash between keys leaves
        whole keys either destroyed or untouched, and running again finishes the rest
        (idempotent). ``fence`` re-checks, inside each transaction, that this process still
        holds the job lease. ``report`` hears of each key destroyed, once committed (the audit
        trail).
        """

        destroyed: dict[str, list[str]] = {}
        owners: dict[str, str] = {}

        def destroy(tx: Tx, key_id: str) -> bool:
            key = keys.get(tx, key_id, lock=True)
            # Re-read under the write lock: CancelKeyDeletion may have won the race.
            if key is None or not keystate.deletion_due(key.key_state, key.delete_date, now):
                return False
            destroyed[key_id] = keys.destroy(tx, key_id)
            owners[key_id] = key.account_uid
            return True

        def forget(key_id: str) -> None:
            gone = destroyed.pop(key_id)
            for version_id in gone:
                self.caches.forget_version(version_id)
            if report is not None:
                refs = {"ACS::KMS::Key": [key_id], "ACS::KMS::KeyVersion": gone}
                report("DestroyKey", owners.pop(key_id), refs)

        return each_due(
            self.dep.db, lambda tx: keys.due_for_deletion(tx, now, batch), destroy, fence, batch, after=forget
        )
