"""Key use cases: create, resolve, describe, list and update keys; load key-version material.

Material is unwrapped on demand and kept in ``caches.material`` (a version's material never
changes). Key *state* on the hot path (:meth:`KeyService.get`) is kept in ``caches.reads`` only
while the node has written nothing, so a node always sees its own writes; on PostgreSQL it is
read on every call. Imported (EXTERNAL) material can be deleted by any node, so its cache entries
also record the key's revision and are used only while it is unchanged (service/caches.py).

Every method that takes a KeyId takes the request's :class:`~openkms.service.tenancy.Scope`: a
bare id or alias resolves in the caller's account, an ARN in the account it names, once the
scope has admitted that account (service/tenancy.py).
"""

from __future__ import annotations

import logging

from openkms.crypto import aead, keygen
from openkms.domain import errors, ids, keystate
from openkms.domain.arn import KeyRef, parse_key_ref
from openkms.domain.key import Key
from openkms.domain.keypolicy import check_key_policy
from openkms.domain.keyspec import ORIGIN_EXTERNAL, ORIGIN_KMS, PROTECTION_LEVELS, KeySpec, resolve_spec
from openkms.rootkey.keyring import material_aad
from openkms.service import instances
from openkms.service.caches import Caches
from openkms.service.deployment import Deployment
from openkms.service.hsm_keys import HsmKeys, is_hsm
from openkms.service.tenancy import Scope
from openkms.store import Database, Tx, aliases, tags, versions
from openkms.store import keys as repo

errlog = logging.getLogger("openkms.error")
# Alibaba's automatic rotation bounds for software keys (current docs): 7 to 365 days.
MIN_ROTATION = 7 * 86400
MAX_ROTATION = 365 * 86400


def new_version(
    dep: Deployment, key_id: str, spec: KeySpec, hsm: HsmKeys | None = None
) -> tuple[str, bytes, int, bytes | None]:
    """Material for a new version of a key: (version id, wrapped material, KEK version, public
    key DER or None). Nothing is stored. With ``hsm`` the material is made in the token and
    what is wrapped under the KEK is its wrap by the token's master key (service/hsm_keys.py)."""
    version_id = ids.new_version_id()
    if hsm is not None:
        material, public_der = hsm.generate(spec)
    else:
        material, public_der = keygen.generate(spec)
    kek_version = dep.keyring.current
    _, wrapped = dep.keyring.wrap(material, material_aad(key_id, version_id, spec.name, kek_version))
    return version_id, wrapped, kek_version, public_der


class KeyService:
    def __init__(self, dep: Deployment, caches: Caches) -> None:
        self.dep = dep
        self.caches = caches
        self.hsm = HsmKeys(dep)

    # -- resolution -----------------------------------------------------------------------

    def parse_ref(self, scope: Scope, value: str, parameter: str = "KeyId") -> KeyRef:
        """Parse a KeyId sent in ``scope`` and admit the account it points into, before
        anything is looked up.

        Raises:
            InvalidValue: a malformed ARN or one of another region.
            NoPermission: another account's key or alias the caller may not use.
        """
        ref = parse_key_ref(value, self.dep.region, scope.account_uid, parameter)
        scope.admit(ref.account_uid)
        return ref

    def resolve_id(self, tx: Tx, scope: Scope, value: str, parameter: str = "KeyId") -> str:
        """Turn a key id, alias name, key ARN or alias ARN into a key id (not checked to exist)."""
        return _key_id(tx, self.parse_ref(scope, value, parameter))

    def resolve(self, account_uid: str, value: str, parameter: str = "KeyId") -> Key:
        """The key a caller of ``account_uid`` names by ``value``, deciding nothing about
        cross-account use: its owner is ``Key.account_uid``. For what decides (the
        authorization of a request) before a handler runs.

        Raises:
            InvalidValue: a malformed ARN; KeyNotFound, AliasNotFound: nothing by that name.
        """
        return self._found(parse_key_ref(value, self.dep.region, account_uid, parameter))

    def load(self, tx: Tx, scope: Scope, value: str, parameter: str = "KeyId", *, lock: bool = False) -> Key:
        """The key ``value`` names, inside ``tx``; in a write transaction pass ``lock=True`` to
        lock its row before deciding on what was read (PostgreSQL; SQLite writers are
        serialised)."""
        ref = self.parse_ref(scope, value, parameter)
        return _owned(repo.get(tx, _key_id(tx, ref), lock=lock), ref)

    def get(self, scope: Scope, value: str, parameter: str = "KeyId") -> Key:
        """The key ``value`` names as the database holds it now, outside any transaction block.

        The hot path of every cryptographic action: one or two single-statement reads on the
        Database instead of a ``read()`` transaction, and none while the node has written
        nothing since they were last made (``caches.reads``). Use :meth:`load` inside a
        transaction that goes on to act on what it read.
        """
        return self._found(self.parse_ref(scope, value, parameter))

    def _found(self, ref: KeyRef) -> Key:
        """The key ``ref`` names, by the hot reads. A key row is kept by id alone (its owner is
        in the row); an alias's target by account and name."""
        key_id = ref.key_id
        db = self.dep.db
        reads = self.caches.reads
        if key_id is None:
            account, alias = ref.account_uid, ref.alias_name
            assert alias is not None
            key_id = reads.get(("alias", account, alias), lambda: aliases.target(db, account, alias))
            if key_id is None:
                raise errors.AliasNotFound()
        found = key_id
        return _owned(reads.get(("key", found), lambda: repo.get(db, found)), ref)

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
        account_uid: str,
        policy: str | None = None,
        dkms_instance_id: str | None = None,
    ) -> Key:
        """A new key of the account ``account_uid``, which is also its Creator; in the KMS
        instance ``dkms_instance_id`` when given (connected, below its key quota), where the
        protection level is the instance's (SOFTWARE)."""
        if dkms_instance_id:
            instances.usable(self.dep.db, account_uid, dkms_instance_id)
            protection_level = PROTECTION_LEVELS[0]  # SOFTWARE
        spec, usage = resolve_spec(key_spec, key_usage)
        if policy is not None:
            check_key_policy(policy)
        hsm = self.hsm if is_hsm(protection_level) else None
        if hsm is not None:
            hsm.check_spec(spec, usage, origin)
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
        material_wrapped: bytes | None = None
        kek_version: int | None = None
        public_der: bytes | None = None
        if origin == ORIGIN_KMS:
            version_id, material_wrapped, kek_version, public_der = new_version(self.dep, key_id, spec, hsm)
        else:
            version_id = ids.new_version_id()
        state = keystate.PENDING_IMPORT if origin == ORIGIN_EXTERNAL else keystate.ENABLED
        with self.dep.db.write() as tx:
            if dkms_instance_id:
                instances.admit(tx, account_uid, dkms_instance_id, instances.QUOTA_KEY)
            repo.insert_key(
                tx,
                key_id=key_id,
                account_uid=account_uid,
                description=description,
                key_spec=spec.name,
                key_usage=usage,
                origin=origin,
                protection_level=protection_level,
                key_state=state,
                creator=account_uid,
                creator_type="User",
                creation_date=now,
                primary_version_id=version_id,
                automatic_rotation=enable_automatic_rotation,
                rotation_interval=interval,
                last_rotation_date=now if origin == ORIGIN_KMS else None,
                next_rotation_date=now + interval if enable_automatic_rotation and interval else None,
                deletion_protection=False,
                deletion_protection_description="",
                dkms_instance_id=dkms_instance_id or "",
                policy=policy,
                revision=1,
            )
            versions.insert_version(
                tx,
                version_id=version_id,
                key_id=key_id,
                creation_date=now,
                kek_version=kek_version,
                material_wrapped=material_wrapped,
                public_key_der=public_der,
            )
            tags.put_tags(tx, account_uid, "key", key_id, tag_map, current={})
            key = repo.get(tx, key_id)
        assert key is not None
        return key

    # -- reads and simple updates ---------------------------------------------------------

    def list_page(
        self, scope: Scope, page_number: int, page_size: int, filters: dict[str, list[str]]
    ) -> tuple[list[str], int]:
        """A page of the ids of the caller's keys (never another account's)."""
        offset = (page_number - 1) * page_size
        return repo.page_ids(self.dep.db, scope.account_uid, offset, page_size, filters)

    def update_description(self, scope: Scope, value: str, description: str) -> Key:
        with self.dep.db.write() as tx:
            key = self.load(tx, scope, value, lock=True)
            repo.update_key(tx, key.key_id, description=description)
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
        cache = self.caches.material
        cached = cache.get(version_id)
        if cached is not None and cached[1] == revision:
            return cached[0]
        row = versions.material(self.dep.db, version_id)
        if row is None or row.key_id != key.key_id:
            raise errors.KeyVersionNotFound()
        kek_version, wrapped = row.kek_version, row.wrapped
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
                key.key_id,
                version_id,
            )
            raise errors.KeyMaterialUnavailable() from None
        cache.put(version_id, (material, revision))
        return material


def _key_id(q: Tx | Database, ref: KeyRef) -> str:
    """The key id ``ref`` names: its own, or its alias's target in the alias's account."""
    if ref.key_id is not None:
        return ref.key_id
    assert ref.alias_name is not None
    key_id = aliases.target(q, ref.account_uid, ref.alias_name)
    if key_id is None:
        raise errors.AliasNotFound()
    return key_id


def _owned(key: Key | None, ref: KeyRef) -> Key:
    """The key found for ``ref``, which must belong to the account ``ref`` points into: a key
    id of another account is not found in this one (ids say nothing across accounts)."""
    if key is None or key.account_uid != ref.account_uid:
        raise errors.KeyNotFound()
    return key


def parse_rotation_interval(text: str, parameter: str = "RotationInterval") -> int:
    from openkms.domain.key import parse_interval

    try:
        seconds = parse_interval(text)
    except ValueError:
        raise errors.InvalidValue(parameter, "Use <n>d, <n>h, <n>m or <n>s.") from None
    if not MIN_ROTATION <= seconds <= MAX_ROTATION:
        raise errors.InvalidValue(parameter, "It must be between 7 days and 365 days.")
    return seconds
