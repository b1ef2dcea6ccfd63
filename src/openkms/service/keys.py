"""Key use cases: create, resolve, describe, list and update keys; load key-version material.

Material is unwrapped on demand and kept in a bounded per-process cache keyed by version id
(material of a version never changes). Key *state* on the hot path (:meth:`KeyService.get`) is
kept only while the node has written nothing (service/read_cache.py), so a node always sees its
own writes; on PostgreSQL it is read on every call. Imported (EXTERNAL) material can be deleted
by any node, so its cache entries also record the key's revision and are used only while it is
unchanged.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from typing import Any

from sqlalchemy import Connection, and_, func, select

from openkms.crypto import aead, keygen
from openkms.domain import errors, ids, keystate
from openkms.domain.arn import KeyRef, parse_key_ref
from openkms.domain.key import Key
from openkms.domain.keypolicy import check_key_policy
from openkms.domain.keyspec import ORIGIN_EXTERNAL, ORIGIN_KMS, resolve_spec
from openkms.rootkey.keyring import material_aad
from openkms.service.deployment import Deployment
from openkms.service.read_cache import ReadCache
from openkms.store import keys as repo
from openkms.store.key_filters import related_conditions
from openkms.store.schema import aliases, keys, tags

errlog = logging.getLogger("openkms.error")
# Alibaba's automatic rotation bounds for software keys (current docs): 7 to 365 days.
MIN_ROTATION = 7 * 86400
MAX_ROTATION = 365 * 86400
KEY_FILTERS = {
    "KeyState": keys.c.key_state,
    "KeySpec": keys.c.key_spec,
    "KeyUsage": keys.c.key_usage,
    "ProtectionLevel": keys.c.protection_level,
    "CreatorType": keys.c.creator_type,
    "KeyId": keys.c.key_id,
    "Creator": keys.c.creator,
    "DKMSInstanceId": keys.c.dkms_instance_id,
}


class KeyService:
    def __init__(self, dep: Deployment) -> None:
        self.dep = dep
        # version id -> (material, key revision it was read at; None: valid whatever the revision)
        self._material: OrderedDict[str, tuple[bytes, int | None]] = OrderedDict()
        self._material_max = dep.settings.material_cache
        # Hot reads of keys, aliases and secrets, kept between the node's writes.
        self.reads = ReadCache(dep.db.generation, dep.settings.read_cache)

    # -- resolution -----------------------------------------------------------------------

    def parse_ref(self, value: str, parameter: str = "KeyId") -> KeyRef:
        return parse_key_ref(value, self.dep.region, self.dep.account_id, parameter)

    def resolve_id(self, conn: Connection, value: str, parameter: str = "KeyId") -> str:
        """Turn a key id, alias name, key ARN or alias ARN into a key id (not checked to exist)."""
        ref = self.parse_ref(value, parameter)
        if ref.key_id is not None:
            return ref.key_id
        key_id = conn.execute(
            select(aliases.c.key_id).where(aliases.c.alias_name == ref.alias_name)
        ).scalar()
        if key_id is None:
            raise errors.AliasNotFound()
        return str(key_id)

    def load(
        self, conn: Connection, value: str, parameter: str = "KeyId", *, for_update: bool = False
    ) -> Key:
        """The key ``value`` names; in a write transaction pass ``for_update=True`` to lock its
        row before deciding on what was read (PostgreSQL; SQLite writers are serialised)."""
        key = repo.get_key(conn, self.resolve_id(conn, value, parameter), for_update=for_update)
        if key is None:
            raise errors.KeyNotFound()
        return key

    def get(self, value: str, parameter: str = "KeyId") -> Key:
        """The key ``value`` names as the database holds it now, outside any transaction block.

        The hot path of every cryptographic action: one or two single-statement reads
        (:meth:`Database.first`) instead of a ``read()`` transaction, which costs ~100 µs more,
        and none while the node has written nothing since they were last made (:attr:`reads`).
        Use :meth:`load` inside a transaction that goes on to act on what it read.
        """
        ref = self.parse_ref(value, parameter)
        key_id = ref.key_id
        db = self.dep.db
        if key_id is None:
            alias = ref.alias_name
            assert alias is not None
            key_id = self.reads.get(("alias", alias), lambda: repo.find_alias_target(db, alias))
            if key_id is None:
                raise errors.AliasNotFound()
        found = key_id
        key = self.reads.get(("key", found), lambda: repo.find_key(db, found))
        if key is None:
            raise errors.KeyNotFound()
        return key

    # -- creation -------------------------------------------------------------------------

    def create(
        self,
        *,
        key_spec: str,
        key_usage: str | None,
        origin: str,
        protection_level: str,
        description: str,
        enable_automatic_rotation: bool,
        rotation_interval: str | None,
        tag_map: dict[str, str],
        creator: str,
        policy: str | None = None,
    ) -> Key:
        spec, usage = resolve_spec(key_spec, key_usage)
        if policy is not None:
            check_key_policy(policy)
        if protection_level != "SOFTWARE":
            raise errors.UnsupportedOperation(
                "ProtectionLevel HSM needs a PKCS#11 root of trust, which this deployment has not."
            )
        if origin == ORIGIN_EXTERNAL and not spec.symmetric:
            raise errors.InvalidValue("Origin", "EXTERNAL keys must be symmetric.")
        interval: int | None = None
        if rotation_interval is not None:
            interval = parse_rotation_interval(rotation_interval)
        if enable_automatic_rotation:
            if not spec.rotatable or origin != ORIGIN_KMS:
                raise errors.UnsupportedOperation("Automatic rotation applies to symmetric Aliyun_KMS keys.")
            if interval is None:
                raise errors.InvalidValue("RotationInterval", "It is required with EnableAutomaticRotation.")

        now = self.dep.clock.now()
        key_id = ids.new_key_id()
        version_id = ids.new_version_id()
        material_wrapped: bytes | None = None
        kek_version: int | None = None
        public_der: bytes | None = None
        if origin == ORIGIN_KMS:
            material, public_der = keygen.generate(spec)
            kek_version = self.dep.keyring.current
            _, material_wrapped = self.dep.keyring.wrap(
                material, material_aad(key_id, version_id, spec.name, kek_version)
            )
        state = keystate.PENDING_IMPORT if origin == ORIGIN_EXTERNAL else keystate.ENABLED
        with self.dep.db.write() as conn:
            repo.insert_key(
                conn,
                key_id=key_id,
                description=description,
                key_spec=spec.name,
                key_usage=usage,
                origin=origin,
                protection_level=protection_level,
                key_state=state,
                creator=creator,
                creator_type="User",
                creation_date=now,
                primary_version_id=version_id,
                automatic_rotation=enable_automatic_rotation,
                rotation_interval=interval,
                last_rotation_date=now if origin == ORIGIN_KMS else None,
                next_rotation_date=now + interval if enable_automatic_rotation and interval else None,
                deletion_protection=False,
                deletion_protection_description="",
                dkms_instance_id="",
                policy=policy,
                revision=1,
            )
            repo.insert_version(
                conn,
                version_id=version_id,
                key_id=key_id,
                creation_date=now,
                kek_version=kek_version,
                material_wrapped=material_wrapped,
                public_key_der=public_der,
            )
            for tag_key, tag_value in tag_map.items():
                conn.execute(
                    tags.insert().values(
                        resource_type="key", resource_id=key_id, tag_key=tag_key, tag_value=tag_value
                    )
                )
            key = repo.get_key(conn, key_id)
        assert key is not None
        return key

    # -- reads and simple updates ---------------------------------------------------------

    def list_page(
        self, page_number: int, page_size: int, filters: dict[str, list[str]]
    ) -> tuple[list[str], int]:
        conditions: list[Any] = []
        for name, values in filters.items():
            if name in KEY_FILTERS:
                conditions.append(KEY_FILTERS[name].in_(values))
        conditions.extend(related_conditions(filters))
        where = and_(*conditions) if conditions else None
        if where is None:
            return repo.find_page_of_key_ids(self.dep.db, (page_number - 1) * page_size, page_size)
        with self.dep.db.read() as conn:
            count_stmt = select(func.count()).select_from(keys)
            page_stmt = select(keys.c.key_id).order_by(keys.c.creation_date, keys.c.key_id)
            if where is not None:
                count_stmt = count_stmt.where(where)
                page_stmt = page_stmt.where(where)
            total = int(conn.execute(count_stmt).scalar_one())
            page = page_stmt.offset((page_number - 1) * page_size).limit(page_size)
            return [r[0] for r in conn.execute(page)], total

    def update_description(self, value: str, description: str) -> Key:
        with self.dep.db.write() as conn:
            key = self.load(conn, value, for_update=True)
            repo.update_key(conn, key.key_id, description=description)
        return key

    # -- material -------------------------------------------------------------------------

    def material(self, key: Key, version_id: str) -> bytes:
        """Unwrapped material of one version of ``key``.

        Raises:
            KeyVersionNotFound: no such version of this key.
            KeyPendingImport: the version has no material (an EXTERNAL key awaiting import).
            KeyMaterialUnavailable: the stored material does not authenticate under its AAD.
        """
        # DeleteKeyMaterial on another process or node bumps the key's revision: an EXTERNAL
        # key's entry read at another revision is read again, so it never outlives a deletion.
        revision = key.revision if key.origin == ORIGIN_EXTERNAL else None
        cached = self._material.get(version_id)
        if cached is not None and cached[1] == revision:
            self._material.move_to_end(version_id)
            return cached[0]
        self._material.pop(version_id, None)
        row = repo.find_version_material(self.dep.db, version_id)
        if row is None or row[0] != key.key_id:
            raise errors.KeyVersionNotFound()
        _, kek_version, wrapped = row
        if wrapped is None or kek_version is None:
            raise errors.KeyPendingImport()
        try:
            material = self.dep.keyring.unwrap(
                kek_version, wrapped, material_aad(key.key_id, version_id, key.key_spec, kek_version)
            )
        except aead.NotAuthentic:
            # A row that does not authenticate (moved, tampered) makes the key unusable; it
            # never silently becomes another key's material. The operator is told which row.
            errlog.error(
                "key %s version %s: stored material failed authentication (moved or tampered row)",
                key.key_id, version_id,
            )
            raise errors.KeyMaterialUnavailable() from None
        self._material[version_id] = (material, revision)
        if len(self._material) > self._material_max:
            self._material.popitem(last=False)
        return material

    def forget_material(self, version_id: str) -> None:
        """Drop a cached version (its material was deleted or the key destroyed)."""
        self._material.pop(version_id, None)


def parse_rotation_interval(text: str, parameter: str = "RotationInterval") -> int:
    from openkms.domain.key import parse_interval

    try:
        seconds = parse_interval(text)
    except ValueError:
        raise errors.InvalidValue(parameter, "Use <n>d, <n>h, <n>m or <n>s.") from None
    if not MIN_ROTATION <= seconds <= MAX_ROTATION:
        raise errors.InvalidValue(parameter, "It must be between 7 days and 365 days.")
    return seconds
