"""Secrets Manager use cases: secrets, their versions and stages, deletion windows and policies.

A secret belongs to one account (names are unique per account): a bare name resolves in the
caller's account, a secret ARN in the one it names once the request's scope admits it
(service/tenancy.py). Every value is sealed under a CMK (the secret's EncryptionKeyId, or its
account's service-managed default key, made on first use) with the symmetric recipe of
:mod:`openkms.service.symmetric`, bound to its secret name, version id and data type. Only that
ciphertext reaches the store. Reading a value checks the CMK's state, so a Disabled, pending or
destroyed key makes its secrets unreadable with the key's own error.

Each change is one write transaction that first reads the secret FOR UPDATE (on PostgreSQL the
writers of one secret queue on its row; SQLite's write transaction holds the database lock) and
bumps its revision, so every decision is taken on the state it writes over. Sealing happens
before the transaction (it needs no lock); a PutSecretValue whose VersionId appeared meanwhile
starts again from a fresh read.
"""

from __future__ import annotations

import base64
import hmac
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import TypeVar

from openkms.domain import errors, keystate
from openkms.domain.arn import key_arn
from openkms.domain.audit import Report
from openkms.domain.ciphertext import HEADER_LEN, VERSION_ID_LEN, Blob
from openkms.domain.key import Key
from openkms.domain.secret import (
    CURRENT,
    GENERIC,
    RESERVED_STAGES,
    Secret,
    SecretRef,
    default_policy,
    parse_secret_ref,
    secret_data_bytes,
    stages_after_move,
    stages_after_put,
    value_context,
    versions_to_drop,
)
from openkms.service import instances
from openkms.service.caches import Caches
from openkms.service.due import each_due
from openkms.service.keys import KeyService
from openkms.service.symmetric import SymmetricService
from openkms.service.tenancy import Scope
from openkms.store import Conflict, Tx, keys, meta
from openkms.store import secrets as repo

DAY = 86400
DEFAULT_KEY_DESCRIPTION = (
    "Default key of Secrets Manager (service-managed; encrypts secrets without EncryptionKeyId)"
)
# The meta row naming an account's default key is this prefix and the account's uid.
DEFAULT_KEY_META = "secrets_default_key_id"
RETRIES = 5
NOT_FOUND = "The specified secret is not found."
VERSION_NOT_FOUND = "The specified secret version is not found."
ROTATION_UNSUPPORTED = (
    "Rotation applies to managed secrets (Rds, PolarDB, Redis); a Generic secret gets a new value "
    "with PutSecretValue."
)

T = TypeVar("T")


class _Raced(Exception):
    """Another writer changed the secret between our read and our write: try again."""


@dataclass(frozen=True, slots=True)
class SecretValue:
    secret: Secret
    version_id: str
    data_type: str
    data: str
    create_time: float
    stages: list[str]


@dataclass(frozen=True, slots=True)
class Managed:
    """What a managed secret carries beyond a Generic one: its type, its ExtendedConfig as
    given, and its automatic rotation interval (None: rotated only by RotateSecret)."""

    secret_type: str
    extended_config: str
    rotation_interval: int | None


@dataclass(frozen=True, slots=True)
class VersionInfo:
    version_id: str
    create_time: float
    stages: list[str]


def stage_order(stages: Mapping[str, str], version_id: str) -> list[str]:
    """The stages on one version, in the order of :func:`stages_in_order`."""
    return stages_in_order([s for s, v in stages.items() if v == version_id])


def stages_in_order(mine: Collection[str]) -> list[str]:
    """Stages as answered: ACSCurrent, ACSPrevious, then custom stages by name."""
    return [s for s in RESERVED_STAGES if s in mine] + sorted(s for s in mine if s not in RESERVED_STAGES)


def _usable(secret: Secret | None, allow_pending: bool) -> Secret:
    """The secret read, or its error: not found, or pending deletion unless ``allow_pending``."""
    if secret is None:
        raise errors.ResourceNotFound(NOT_FOUND)
    if secret.pending_deletion and not allow_pending:
        raise errors.SecretInDeleteWindow()
    return secret


def _stored_blob(stored: bytes) -> Blob:
    """A stored value's parts: it is a CiphertextBlob's bytes (key version id, IV, sealed)."""
    return Blob(
        stored[:VERSION_ID_LEN].decode("ascii", errors="replace"),
        stored[VERSION_ID_LEN:HEADER_LEN],
        stored[HEADER_LEN:],
    )


class SecretService:
    def __init__(self, keys_service: KeyService, symmetric: SymmetricService, caches: Caches) -> None:
        self.keys = keys_service
        self.dep = keys_service.dep
        self.symmetric = symmetric
        self.caches = caches

    # -- resolution -----------------------------------------------------------------------

    def secret_ref(self, scope: Scope, ref: str, parameter: str = "SecretName") -> SecretRef:
        """The secret a SecretName names in ``scope``, its account admitted (NoPermission for
        another account's the caller may not use) before anything is looked up."""
        found = parse_secret_ref(ref, self.dep.region, scope.account_uid, parameter)
        scope.admit(found.account_uid)
        return found

    def resolve(self, account_uid: str, ref: str, parameter: str = "SecretName") -> Secret:
        """The secret a caller of ``account_uid`` names by ``ref`` (pending deletion or not),
        deciding nothing about cross-account use: its owner is ``Secret.account_uid``. For what
        decides (the authorization of a request) before a handler runs.

        Raises:
            InvalidValue: a malformed name or ARN; ResourceNotFound: no such secret.
        """
        found = parse_secret_ref(ref, self.dep.region, account_uid, parameter)
        secret = repo.get_secret(self.dep.db, found.account_uid, found.name)
        return _usable(secret, allow_pending=True)

    @staticmethod
    def _load(tx: Tx, ref: SecretRef, *, allow_pending: bool = False, lock: bool = False) -> Secret:
        return _usable(repo.get_secret(tx, ref.account_uid, ref.name, lock=lock), allow_pending)

    def _change(
        self, scope: Scope, ref: str, apply: Callable[[Tx, Secret, float], T], *, allow_pending: bool = False
    ) -> T:
        """Run ``apply`` in one write transaction that holds the secret at its read revision."""
        found = self.secret_ref(scope, ref)
        for _ in range(RETRIES):
            now = self.dep.clock.now()
            try:
                with self.dep.db.write() as tx:
                    secret = self._load(tx, found, allow_pending=allow_pending, lock=True)
                    if not repo.update_secret(tx, *found_of(secret), secret.revision, update_time=now):
                        raise _Raced()
                    return apply(tx, secret, now)
            except _Raced:
                continue
        raise errors.StateTransitionRefused("The secret was changed concurrently; try again.")

    # -- the CMK ----------------------------------------------------------------------------

    def _encryption_key(self, scope: Scope, key_ref: str | None) -> Key:
        """The CMK that seals the values of a new secret of the caller's account: a symmetric
        key in state Enabled, of that same account."""
        if key_ref is None:
            key_ref = self.default_key_id(scope.account_uid)
        key = self.symmetric.encrypting_key(scope, key_ref, "EncryptionKeyId")
        if key.account_uid != scope.account_uid:
            raise errors.InvalidValue("EncryptionKeyId", "A secret is sealed under a key of its own account.")
        return key

    def _sealing_key(self, scope: Scope, secret: Secret) -> Key:
        """The CMK that seals a new value of ``secret``: the one it was created with, a key of
        the secret's account (checked like any key the caller names)."""
        arn = key_arn(self.dep.region, secret.account_uid, secret.encryption_key_id)
        return self.symmetric.encrypting_key(scope, arn, "EncryptionKeyId")

    def default_key_id(self, account_uid: str) -> str:
        """The account's service-managed default key (CreatorType Service), made on first use.

        Of processes racing to make it one wins the ``meta`` row (a unique insert, or a
        compare-and-set over a default key that was destroyed); the others destroy the key they
        made and take the winner's. A default key that was destroyed is replaced for new secrets.
        """
        for _ in range(RETRIES):
            with self.dep.db.read() as tx:
                known = self._stored_default(tx, account_uid)
            if known is not None:
                return known
            made = self.keys.create(
                key_spec="Aliyun_AES_256",
                key_usage="ENCRYPT/DECRYPT",
                origin="Aliyun_KMS",
                protection_level="SOFTWARE",
                description=DEFAULT_KEY_DESCRIPTION,
                enable_automatic_rotation=False,
                rotation_interval=None,
                tag_map={},
                account_uid=account_uid,
            )
            try:
                with self.dep.db.write() as tx:
                    self._claim_default(tx, account_uid, made.key_id)
                return made.key_id
            except (Conflict, _Raced):
                # Another process claimed it first (on PostgreSQL the unique insert or the
                # compare-and-set failed); this key was never used: destroy it and read theirs.
                with self.dep.db.write() as tx:
                    keys.destroy(tx, made.key_id)
        raise errors.StateTransitionRefused("The default key was changed concurrently; try again.")

    @staticmethod
    def _claim_default(tx: Tx, account_uid: str, key_id: str) -> None:
        """Record ``key_id`` as the account's default key, unless a live one is recorded (then
        _Raced)."""
        name = default_key_meta(account_uid)
        current = meta.get(tx, name)
        if current is None:
            meta.insert_value(tx, name, key_id)  # Conflict if another made it first
        elif keys.get(tx, current) is not None or not meta.replace(tx, name, current, key_id):
            raise _Raced()
        keys.update_key(tx, key_id, creator_type="Service")

    @staticmethod
    def _stored_default(tx: Tx, account_uid: str) -> str | None:
        key_id = meta.get(tx, default_key_meta(account_uid))
        if key_id is None or keys.get(tx, key_id) is None:
            return None
        return key_id

    def _seal(self, key: Key, name: str, version_id: str, data_type: str, raw: bytes) -> bytes:
        sealed = self.symmetric.seal(key, raw, value_context(name, version_id, data_type))
        return base64.b64decode(sealed.blob)

    def _open(
        self,
        secret: Secret,
        version_id: str,
        data_type: str,
        blob: Blob,
        owner: tuple[bool, Key | None],
        *,
        dry_run: bool = False,
    ) -> str:
        """Decrypt a stored value after checking its CMK may decrypt (the key's state error if not).
        ``owner`` is what key_of_version answered for the blob's key version, read in the
        transaction (or snapshot) that read the value.

        A stored value that names no key version, another key, or fails authentication is
        damage to the store, not a client error: it raises RuntimeError (InternalFailure).
        """
        exists, key = owner
        if not exists:
            raise RuntimeError(f"the value of secret version {version_id!r} names no key version")
        if key is None:
            raise errors.KeyNotFound()
        if key.key_id != secret.encryption_key_id:
            raise RuntimeError(f"the value of secret version {version_id!r} names another key")
        keystate.require_usable(key.key_state)
        keystate.require_material_current(key.material_expire_time, self.dep.clock.now())
        if dry_run:
            raise errors.DryRunSucceeded()
        context = value_context(secret.secret_name, version_id, data_type)
        try:
            opened = self.symmetric.open_blob(key, blob, context)
        except errors.InvalidCiphertext:
            raise RuntimeError(f"the value of secret version {version_id!r} failed authentication") from None
        return opened.plaintext.decode("utf-8")

    # -- create, describe, list, update -------------------------------------------------------

    def create(
        self,
        scope: Scope,
        *,
        name: str,
        version_id: str,
        data: str,
        data_type: str,
        description: str,
        encryption_key_id: str | None,
        tag_map: Mapping[str, str],
        policy: str | None,
        managed: Managed | None = None,
        dkms_instance_id: str | None = None,
    ) -> Secret:
        """A secret of the caller's account with its first version, stage ACSCurrent (checked by
        the caller: name, version id, type). Generic unless ``managed`` says otherwise. In the
        KMS instance ``dkms_instance_id`` when given (connected, below its secret quota), sealed
        under an EncryptionKeyId of that instance."""
        raw = secret_data_bytes(data)
        if dkms_instance_id:
            instances.usable(self.dep.db, scope.account_uid, dkms_instance_id)
            if encryption_key_id is None:
                raise errors.InvalidValue("EncryptionKeyId", "A secret of a KMS instance names a key of it.")
        key = self._encryption_key(scope, encryption_key_id)
        if dkms_instance_id and key.dkms_instance_id != dkms_instance_id:
            raise errors.InvalidValue("EncryptionKeyId", "The key is not in the secret's KMS instance.")
        sealed = self._seal(key, name, version_id, data_type, raw)
        now = self.dep.clock.now()
        account = scope.account_uid
        try:
            with self.dep.db.write() as tx:
                if dkms_instance_id:
                    instances.admit(tx, account, dkms_instance_id, instances.QUOTA_SECRET)
                existing = repo.get_secret(tx, account, name)
                if existing is not None:
                    if existing.pending_deletion:
                        raise errors.SecretInDeleteWindow()
                    raise errors.AlreadyExists("A secret of this name already exists.")
                repo.insert_secret(
                    tx,
                    account_uid=account,
                    secret_name=name,
                    description=description,
                    encryption_key_id=key.key_id,
                    secret_type=managed.secret_type if managed else GENERIC,
                    extended_config=managed.extended_config if managed else None,
                    automatic_rotation="Enabled" if managed and managed.rotation_interval else "Disabled",
                    rotation_interval=managed.rotation_interval if managed else None,
                    last_rotation_date=now if managed else None,
                    next_rotation_date=(
                        now + managed.rotation_interval if managed and managed.rotation_interval else None
                    ),
                    create_time=now,
                    update_time=now,
                    policy=policy,
                    revision=1,
                    dkms_instance_id=dkms_instance_id or "",
                )
                repo.insert_version(tx, account, name, version_id, data_type, sealed, now)
                repo.set_stages(tx, account, name, {}, {CURRENT: version_id})
                repo.insert_tags(tx, account, name, tag_map)
                secret = repo.get_secret(tx, account, name)
        except Conflict:
            # Another process created the same name between our check and our insert.
            raise errors.AlreadyExists("A secret of this name already exists.") from None
        assert secret is not None
        return secret

    def describe(
        self, scope: Scope, ref: str, fetch_tags: bool
    ) -> tuple[Secret, list[tuple[str, str]] | None]:
        found = self.secret_ref(scope, ref)
        with self.dep.db.read() as tx:
            secret = self._load(tx, found, allow_pending=True)
            tag_list = repo.tags_of(tx, found.account_uid, [found.name])[found.name] if fetch_tags else None
        return secret, tag_list

    def list_page(
        self,
        scope: Scope,
        filters: Mapping[str, list[str]],
        page_number: int,
        page_size: int,
        fetch_tags: bool,
    ) -> tuple[list[tuple[Secret, list[tuple[str, str]] | None]], int]:
        """A page of the caller's secrets (never another account's)."""
        account = scope.account_uid
        with self.dep.db.read() as tx:
            page, total = repo.page_secrets(tx, filters, account, (page_number - 1) * page_size, page_size)
            tag_map = repo.tags_of(tx, account, [s.secret_name for s in page]) if fetch_tags else {}
        return [(s, tag_map.get(s.secret_name) if fetch_tags else None) for s in page], total

    def update_description(self, scope: Scope, ref: str, description: str | None) -> str:
        def apply(tx: Tx, secret: Secret, _now: float) -> str:
            if description is not None:
                repo.update_secret(tx, *found_of(secret), secret.revision + 1, description=description)
            return secret.secret_name

        return self._change(scope, ref, apply)

    # -- values -------------------------------------------------------------------------------

    def get_value(
        self, scope: Scope, ref: str, version_id: str | None, stage: str | None, *, dry_run: bool = False
    ) -> SecretValue:
        """A version's value: by VersionId, by VersionStage, or the ACSCurrent version.

        Given both, the version must carry the stage. Not found is 404 Forbidden.ResourceNotFound.
        """
        found_ref = self.secret_ref(scope, ref)
        account, name = found_ref.account_uid, found_ref.name
        db = self.dep.db

        def snapshot() -> tuple[Secret | None, repo.StoredValue | None, tuple[bool, Key | None]]:
            # The secret, the version with its stages and the CMK are read in one snapshot
            # (three hot statements), so a concurrent PutSecretValue or
            # UpdateSecretVersionStage is seen whole or not at all: never a spurious 404, never
            # a version without the asked stage.
            with db.snapshot():
                secret = repo.get_secret(db, account, name)
                value = repo.get_value(db, account, name, version_id, stage or CURRENT) if secret else None
                if value is None:
                    return secret, None, (False, None)
                owner = keys.of_version(db, _stored_blob(value.ciphertext).version_id)
                return secret, value, owner

        # Kept between the node's writes (caches.reads), but only a version that was found.
        found, value, owner = self.caches.reads.get(
            ("secret value", account, name, version_id, stage),
            snapshot,
            keep=lambda read: read[1] is not None,
        )
        secret = _usable(found, allow_pending=False)
        if value is None or (stage is not None and stage not in value.stages):
            raise errors.ResourceNotFound(VERSION_NOT_FOUND)
        blob = _stored_blob(value.ciphertext)
        data = self._open(secret, value.version_id, value.secret_data_type, blob, owner, dry_run=dry_run)
        return SecretValue(
            secret,
            value.version_id,
            value.secret_data_type,
            data,
            value.create_time,
            stages_in_order(value.stages),
        )

    def put_value(
        self, scope: Scope, ref: str, version_id: str, data: str, data_type: str, requested: list[str]
    ) -> tuple[str, list[str]]:
        """Store a new version; the same VersionId again is idempotent only for the same value.

        Returns the secret name and the stages of the version.

        Raises:
            AlreadyExists: the VersionId exists with another value or data type (409).
        """
        target = self.secret_ref(scope, ref)
        account, name = target.account_uid, target.name
        raw = secret_data_bytes(data)
        for _ in range(RETRIES):
            with self.dep.db.read() as tx:
                secret = self._load(tx, target)
                _require_generic(secret, "PutSecretValue")
                found = repo.get_ciphertext(tx, account, name, version_id)
                stages = repo.get_stages(tx, account, name)
                existing = None
                if found is not None:
                    blob = _stored_blob(found[1])
                    owner = keys.of_version(tx, blob.version_id)
                    # Opened even when the type differs, so both refusals cost the same work.
                    existing = self._open(secret, version_id, found[0].secret_data_type, blob, owner)
            if found is not None:
                assert existing is not None
                same_type = found[0].secret_data_type == data_type
                if not (hmac.compare_digest(existing.encode("utf-8"), raw) and same_type):
                    raise errors.AlreadyExists("This VersionId already holds another value.")
                return name, stage_order(stages, version_id)
            key = self._sealing_key(scope, secret)
            sealed = self._seal(key, name, version_id, data_type, raw)
            now = self.dep.clock.now()
            try:
                with self.dep.db.write() as tx:
                    current = self._load(tx, target, lock=True)
                    if not repo.update_secret(tx, account, name, current.revision, update_time=now):
                        raise _Raced()
                    if repo.get_ciphertext(tx, account, name, version_id) is not None:
                        raise _Raced()
                    old = repo.get_stages(tx, account, name)
                    new = stages_after_put(old, version_id, requested)
                    repo.insert_version(tx, account, name, version_id, data_type, sealed, now)
                    repo.set_stages(tx, account, name, old, new)
                    ordered = [v.version_id for v in repo.list_versions(tx, account, name)]
                    repo.delete_versions(tx, account, name, versions_to_drop(ordered, new))
            except (_Raced, Conflict):
                continue
            return name, stage_order(new, version_id)
        raise errors.StateTransitionRefused("The secret was changed concurrently; try again.")

    def list_versions(
        self, scope: Scope, ref: str, include_deprecated: bool, page_number: int, page_size: int
    ) -> tuple[str, list[VersionInfo], int]:
        """Versions oldest first; those without a stage only with IncludeDeprecated."""
        target = self.secret_ref(scope, ref)
        name = target.name
        with self.dep.db.read() as tx:
            self._load(tx, target, allow_pending=True)
            rows = repo.list_versions(tx, target.account_uid, name)
            stages = repo.get_stages(tx, target.account_uid, name)
        infos = [VersionInfo(r.version_id, r.create_time, stage_order(stages, r.version_id)) for r in rows]
        if not include_deprecated:
            infos = [i for i in infos if i.stages]
        start = (page_number - 1) * page_size
        return name, infos[start : start + page_size], len(infos)

    def update_stage(
        self, scope: Scope, ref: str, stage: str, move_to: str | None, remove_from: str | None
    ) -> str:
        def apply(tx: Tx, secret: Secret, _now: float) -> str:
            _require_generic(secret, "UpdateSecretVersionStage")
            versions = {v.version_id for v in repo.list_versions(tx, *found_of(secret))}
            old = repo.get_stages(tx, *found_of(secret))
            new = stages_after_move(old, stage, move_to, remove_from, versions)
            repo.set_stages(tx, *found_of(secret), old, new)
            return secret.secret_name

        return self._change(scope, ref, apply)

    # -- rotation (managed secrets only) ------------------------------------------------------

    def seal_value(self, scope: Scope, secret: Secret, version_id: str, data: str) -> bytes:
        """A text value of ``secret``'s version ``version_id`` sealed under the secret's CMK, as
        the store keeps it (managed secrets' rotations store their new values with this)."""
        key = self._sealing_key(scope, secret)
        return self._seal(key, secret.secret_name, version_id, "text", data.encode())

    # -- deletion -------------------------------------------------------------------------------

    def delete(self, scope: Scope, ref: str, *, force: bool, window_days: int) -> tuple[str, float]:
        """Schedule deletion in ``window_days`` or, with ``force``, delete now (also a scheduled
        secret). Returns the name and the planned (or actual) deletion time."""

        def apply(tx: Tx, secret: Secret, now: float) -> tuple[str, float]:
            if force:
                repo.delete_secret(tx, *found_of(secret))
                return secret.secret_name, now
            if secret.pending_deletion:
                raise errors.SecretInDeleteWindow()
            planned = now + window_days * DAY
            repo.update_secret(tx, *found_of(secret), secret.revision + 1, planned_delete_time=planned)
            return secret.secret_name, planned

        return self._change(scope, ref, apply, allow_pending=True)

    def restore(self, scope: Scope, ref: str) -> str:
        def apply(tx: Tx, secret: Secret, _now: float) -> str:
            if not secret.pending_deletion:
                raise errors.SecretNotInDeleteWindow("The secret is not scheduled for deletion.")
            repo.update_secret(tx, *found_of(secret), secret.revision + 1, planned_delete_time=None)
            return secret.secret_name

        return self._change(scope, ref, apply, allow_pending=True)

    def purge_due(
        self, now: float, fence: Callable[[Tx], None], batch: int = 100, report: Report | None = None
    ) -> int:
        """Delete every secret (of every account) whose recovery window ended by ``now``;
        returns how many.

        One secret per transaction (all its versions, stages and tags, or nothing); the lease
        fence is re-checked inside each, and a secret restored meanwhile is left alone.
        """

        def purge(tx: Tx, item: tuple[str, str]) -> bool:
            secret = repo.get_secret(tx, *item, lock=True)
            # Re-read under the write lock: RestoreSecret may have won the race.
            if secret is None or not secret.pending_deletion:
                return False
            assert secret.planned_delete_time is not None
            if secret.planned_delete_time > now:
                return False
            repo.delete_secret(tx, *item)
            return True

        def purged(item: tuple[str, str]) -> None:
            if report is not None:
                report("PurgeSecret", item[0], {"ACS::KMS::Secret": [item[1]]})

        return each_due(
            self.dep.db,
            lambda tx: repo.secrets_due_for_deletion(tx, now, batch),
            purge,
            fence,
            batch,
            after=purged,
        )

    # -- policy ---------------------------------------------------------------------------------

    def get_policy(self, scope: Scope, ref: str) -> str:
        target = self.secret_ref(scope, ref)
        with self.dep.db.read() as tx:
            self._load(tx, target, allow_pending=True)
            policy = repo.get_policy(tx, target.account_uid, target.name)
        return policy if policy is not None else default_policy(target.account_uid)

    def set_policy(self, scope: Scope, ref: str, policy: str) -> None:
        def apply(tx: Tx, secret: Secret, _now: float) -> None:
            repo.update_secret(tx, *found_of(secret), secret.revision + 1, policy=policy)

        self._change(scope, ref, apply)


def _require_generic(secret: Secret, action: str) -> None:
    """Values and stages of a managed secret change only by rotation (Alibaba: Generic only)."""
    if secret.secret_type != GENERIC:
        raise errors.UnsupportedOperation(f"{action} applies to Generic secrets; a managed secret rotates.")


def found_of(secret: Secret) -> tuple[str, str]:
    """How the store names a secret: its account and its name."""
    return secret.account_uid, secret.secret_name


def default_key_meta(account_uid: str) -> str:
    """The meta row naming ``account_uid``'s default key."""
    return f"{DEFAULT_KEY_META}:{account_uid}"
