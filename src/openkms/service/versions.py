"""Key versions: manual creation (CreateKeyVersion), automatic rotation when due, listing.

A new version's row and the switch of the key's primary version commit in one transaction, so
a crash leaves either the old or the new primary, never a key without a usable one. Every older
version keeps its material: ciphertexts made under it decrypt for as long as the key exists.
"""

from __future__ import annotations

from openkms.domain import errors, keystate
from openkms.domain.audit import Report
from openkms.domain.key import Key, KeyVersion
from openkms.domain.keyspec import ORIGIN_KMS, SPECS
from openkms.service.hsm_keys import is_hsm
from openkms.service.keys import KeyService, new_version, parse_rotation_interval
from openkms.service.tenancy import Scope
from openkms.store import Tx, keys, versions

MAX_VERSIONS_PER_KEY = 50


def require_rotatable(key: Key) -> None:
    """Only symmetric keys with KMS-generated material have versions made by openkms."""
    if not SPECS[key.key_spec].rotatable or key.origin != ORIGIN_KMS:
        raise errors.UnsupportedOperation(
            "Key versions and rotation apply to symmetric keys of origin Aliyun_KMS."
        )


class VersionService:
    def __init__(self, keys_service: KeyService) -> None:
        self.keys = keys_service
        self.dep = keys_service.dep

    def _add_version(self, tx: Tx, key: Key, now: float) -> KeyVersion:
        """Insert a version and make it primary; the caller's transaction commits both."""
        if versions.count(tx, key.key_id) >= MAX_VERSIONS_PER_KEY:
            raise errors.LimitExceeded(f"A key has at most {MAX_VERSIONS_PER_KEY} versions.")
        hsm = self.keys.hsm if is_hsm(key.protection_level) else None
        version_id, wrapped, kek_version, public_der = new_version(
            self.dep, key.key_id, SPECS[key.key_spec], hsm
        )
        versions.insert_version(
            tx,
            version_id=version_id,
            key_id=key.key_id,
            creation_date=now,
            kek_version=kek_version,
            material_wrapped=wrapped,
            public_key_der=public_der,
        )
        next_rotation = (
            now + key.rotation_interval
            if key.automatic_rotation and key.rotation_interval
            else key.next_rotation_date
        )
        if not keys.update_key(
            tx,
            key.key_id,
            expected_revision=key.revision,
            primary_version_id=version_id,
            last_rotation_date=now,
            next_rotation_date=next_rotation,
        ):
            # Another writer changed the key since we read it: refuse rather than guess.
            raise errors.StateTransitionRefused("The key changed concurrently; retry.")
        return KeyVersion(key.key_id, version_id, now)

    def create(self, scope: Scope, value: str) -> KeyVersion:
        """CreateKeyVersion: the key must be Enabled and rotatable."""
        with self.dep.db.write() as tx:
            key = self.keys.load(tx, scope, value, lock=True)
            require_rotatable(key)
            keystate.require_usable(key.key_state)
            return self._add_version(tx, key, self.dep.clock.now())

    def describe(self, scope: Scope, value: str, version_id: str) -> KeyVersion:
        with self.dep.db.read() as tx:
            key = self.keys.load(tx, scope, value)
            found = versions.get(tx, version_id)
        if found is None or found.key_id != key.key_id:
            raise errors.KeyVersionNotFound()
        return found

    def list_page(
        self, scope: Scope, value: str, page_number: int, page_size: int
    ) -> tuple[list[KeyVersion], int]:
        with self.dep.db.read() as tx:
            key = self.keys.load(tx, scope, value)
            total = versions.count(tx, key.key_id)
            page = versions.page(tx, key.key_id, (page_number - 1) * page_size, page_size)
        return page, total

    def update_rotation_policy(
        self, scope: Scope, value: str, enable: bool, interval_text: str | None
    ) -> None:
        """UpdateRotationPolicy; disabled keys keep a (Suspended) policy, pending deletion refuses."""
        interval = parse_rotation_interval(interval_text) if interval_text is not None else None
        with self.dep.db.write() as tx:
            key = self.keys.load(tx, scope, value, lock=True)
            require_rotatable(key)
            if key.key_state == keystate.PENDING_DELETION:
                raise errors.KeyPendingDeletion()
            if not enable:
                keys.update_key(
                    tx,
                    key.key_id,
                    automatic_rotation=False,
                    next_rotation_date=None,
                    **({"rotation_interval": interval} if interval is not None else {}),
                )
                return
            if interval is None:
                raise errors.InvalidValue("RotationInterval", "It is required to enable rotation.")
            base = key.last_rotation_date or key.creation_date
            keys.update_key(
                tx,
                key.key_id,
                automatic_rotation=True,
                rotation_interval=interval,
                next_rotation_date=base + interval,
            )

    def rotate_due(self, limit: int = 100, report: Report | None = None) -> int:
        """Rotate every Enabled key whose NextRotationDate has passed; returns how many.

        Idempotent and crash-safe: each key is re-read and rotated in its own transaction, and
        a key a concurrent run rotated does not match the due condition. ``report``
        hears of each rotation, once committed (the audit trail).
        """
        now = self.dep.clock.now()
        with self.dep.db.read() as tx:
            key_ids = keys.due_for_rotation(tx, now, limit)
        rotated = 0
        for key_id in key_ids:
            with self.dep.db.write() as tx:
                key = keys.get(tx, key_id, lock=True)
                if (
                    key is None
                    or not key.automatic_rotation
                    or key.key_state != keystate.ENABLED
                    or key.next_rotation_date is None
                    or key.next_rotation_date > now
                ):
                    continue
                version = self._add_version(tx, key, now)
            rotated += 1
            if report is not None:
                refs = {"ACS::KMS::Key": [key_id], "ACS::KMS::KeyVersion": [version.version_id]}
                report("RotateKey", key.account_uid, refs)
        return rotated
