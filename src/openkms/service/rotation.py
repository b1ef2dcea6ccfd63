"""Managed secrets that rotate themselves: the targets they rotate on, their creation, RotateSecret,
UpdateSecretRotationPolicy and the rotate-secrets job.

One rotation runs the steps of :mod:`openkms.domain.rotation`, each recorded in its own
transaction before the next begins:

1. *start*: a new password (GetRandomPassword's generator) for the account to rotate, sealed and
   stored as a new version carrying ``ACSPending``, and the rotation row at ``pending``. The
   secret's ACSCurrent is untouched, so readers keep the working credential.
2. *apply*: the target gets the password (idempotent), then the row moves to ``applied``.
3. *verify*: openkms logs in to the target with it, then the row moves to ``verified``.
4. *promote*: ACSCurrent moves to the new version (the old one becomes ACSPrevious), the pending
   stage goes, LastRotationDate and NextRotationDate are set and the row is deleted, at once.

A process killed between steps leaves a row the next run (the job, or RotateSecret) carries on
from; a step that fails keeps the row where it was, counts the attempt and retries after
:func:`openkms.domain.rotation.backoff`. In DoubleUsers mode the account rotated is the one
ACSCurrent does not hold, so the value a reader holds keeps working until the rotation after.
In SingleUser mode the password changes in place, so between *apply* and *promote* ACSCurrent
is stale: the next run repeats *apply* (the same password) and promotes. RAMCredentials take
the same steps over a RAM user's AccessKeys: *apply* deletes the ACSPrevious pair and creates
the new one chosen at *start*.
"""

from __future__ import annotations

import hmac
import json
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from openkms.domain import errors, ids, password
from openkms.domain.audit import Report
from openkms.domain.clock import iso
from openkms.domain.ram import ACTIVE
from openkms.domain.rotation import (
    DATABASE_TYPES,
    INSTANCE_KEY,
    PASSWORD_EXCLUDES,
    PASSWORD_LENGTH,
    PENDING,
    RAM_CREDENTIALS,
    RATE_WINDOW,
    ROTATIONS_PER_HOUR,
    STEP_APPLIED,
    STEP_PENDING,
    STEP_VERIFIED,
    TARGET_SERVES,
    Account,
    ManagedConfig,
    Rotation,
    access_key_value,
    account_to_rotate,
    account_value,
    backoff,
    check_dsn,
    check_target_name,
    error_text,
    first_account,
    parse_access_keys,
    parse_accounts,
    parse_managed_config,
    parse_ram_config,
    read_access_key,
    read_account,
)
from openkms.domain.secret import CURRENT, GENERIC, Secret, parse_extended_config, stages_after_put
from openkms.domain.secret import versions_to_drop as _versions_to_drop
from openkms.rootkey.keyring import access_key_aad
from openkms.service.deployment import Deployment
from openkms.service.ram import RamService
from openkms.service.rotation_targets import Driver, TargetError, driver_for
from openkms.service.secrets import ROTATION_UNSUPPORTED, SecretService
from openkms.service.tenancy import Scope, root_scope
from openkms.store import Conflict, Tx
from openkms.store import access_keys as pair_repo
from openkms.store import accounts as account_repo
from openkms.store import rotation as repo
from openkms.store import secrets as secret_repo

__all__ = ["RotationService", "RotationStatus", "TargetInfo"]

log = logging.getLogger("openkms.rotation")

BATCH = 50
RETRIES = 5
Fence = Callable[[Tx], None]


@dataclass(frozen=True, slots=True)
class TargetInfo:
    name: str
    target_type: str
    dsn: str
    admin_secret: str
    create_time: float


@dataclass(frozen=True, slots=True)
class RotationStatus:
    """A rotation in flight, as DescribeSecret shows it."""

    version_id: str
    step: str
    attempts: int
    next_attempt: float
    last_error: str


class _Raced(Exception):
    """The secret or its rotation changed between our read and our write."""


def _no_fence(tx: Tx) -> None:
    del tx


class RotationService:
    def __init__(self, secrets: SecretService, ram: RamService) -> None:
        self.secrets = secrets
        self.ram = ram
        self.dep: Deployment = secrets.dep
        # Which driver speaks to a target; replaced by tests that need a target to fail.
        self.driver_for: Callable[[str, str], Driver] = driver_for

    # -- targets --------------------------------------------------------------------------------

    def create_target(
        self, account_uid: str, name: str, target_type: str, dsn: str, admin_secret: str
    ) -> TargetInfo:
        """Register a target of ``account_uid``. The admin secret must be a Generic secret of the
        account whose value is ``{"AccountName":…,"AccountPassword":…}``.

        Raises:
            InvalidValue: a bad name, type or DSN, or an admin secret of another shape.
            ResourceNotFound: no such admin secret. AlreadyExists: the name is taken.
        """
        check_target_name(name)
        check_dsn(target_type, dsn)
        self._admin_account(account_uid, admin_secret)
        row = repo.TargetRow(account_uid, name, target_type, dsn, admin_secret, self.dep.clock.now())
        try:
            with self.dep.db.write() as tx:
                if repo.get_target(tx, account_uid, name) is not None:
                    raise errors.AlreadyExists(f"A secret target named {name} exists.")
                repo.insert_target(tx, row)
        except Conflict:
            raise errors.AlreadyExists(f"A secret target named {name} exists.") from None
        return _info(row)

    def list_targets(self, account_uid: str) -> list[TargetInfo]:
        with self.dep.db.read() as tx:
            return [_info(r) for r in repo.list_targets(tx, account_uid)]

    def delete_target(self, account_uid: str, name: str) -> None:
        """Remove a target no managed secret names.

        Raises:
            ResourceNotFound: no such target. StateTransitionRefused: a secret names it.
        """
        with self.dep.db.write() as tx:
            for text in repo.targets_in_use(tx, account_uid):
                config = json.loads(text)
                if name in (config.get(k) for k in INSTANCE_KEY.values()):
                    raise errors.StateTransitionRefused(
                        f"A managed secret rotates on {name}; delete it first."
                    )
            if not repo.delete_target(tx, account_uid, name):
                raise errors.ResourceNotFound(f"No secret target named {name}.")

    def _admin_account(self, account_uid: str, admin_secret: str) -> Account:
        value = self.secrets.get_value(root_scope(account_uid), admin_secret, None, None)
        if value.secret.secret_type != GENERIC:
            raise errors.InvalidValue("AdminSecret", "The admin credential is a Generic secret.")
        try:
            return read_account(value.data)
        except (ValueError, KeyError, TypeError):
            raise errors.InvalidValue(
                "AdminSecret", 'Its value is {"AccountName":…,"AccountPassword":…}.'
            ) from None

    # -- creation -------------------------------------------------------------------------------

    def managed_config(
        self, account_uid: str, secret_type: str, extended_config: str | None
    ) -> ManagedConfig:
        """CreateSecret's ExtendedConfig for a managed secret: a target of the account that
        serves the type, or for RAMCredentials a RAM user of the account.

        Raises:
            UnsupportedOperation: a type openkms does not rotate.
            InvalidValue: no ExtendedConfig, a bad one, a target that does not exist or serves
            other types, or no such RAM user.
        """
        if secret_type not in (*DATABASE_TYPES, RAM_CREDENTIALS):
            raise errors.UnsupportedOperation(f"SecretType {secret_type} is not rotated by openkms.")
        if extended_config is None:
            raise errors.InvalidValue("ExtendedConfig", f"A {secret_type} secret names its target here.")
        if secret_type == RAM_CREDENTIALS:
            config = parse_ram_config(parse_extended_config(extended_config))
            try:
                self.ram.get_user(account_uid, config.target)
            except errors.DomainError:
                raise errors.InvalidValue(
                    "ExtendedConfig", f"No RAM user {config.target} in the account."
                ) from None
            return config
        config = parse_managed_config(secret_type, parse_extended_config(extended_config))
        target = repo.get_target(self.dep.db, account_uid, config.target)
        if target is None:
            raise errors.InvalidValue(
                "ExtendedConfig", f"{INSTANCE_KEY[secret_type]} {config.target} is not a secret target."
            )
        if secret_type not in TARGET_SERVES[target.target_type]:
            raise errors.InvalidValue(
                "ExtendedConfig", f"The target {config.target} is not a {secret_type} server."
            )
        return config

    def initial_value(self, account_uid: str, config: ManagedConfig, data: str) -> str:
        """The first version's value of a managed secret, in the shape GetSecretValue answers,
        from CreateSecret's SecretData.

        Raises:
            InvalidValue: SecretData of another shape; for RAMCredentials, an AccessKeyId that
            is not a pair of the user.
        """
        if config.secret_type != RAM_CREDENTIALS:
            return account_value(parse_accounts(data)[0])
        access_key_id, secret = parse_access_keys(data)
        held = {p.access_key_id: p for p in self.ram.list_access_keys(account_uid, config.target)}
        if access_key_id not in held:
            raise errors.InvalidValue(
                "SecretData", f"{access_key_id} is not an AccessKey of {config.target}."
            )
        return access_key_value(access_key_id, secret, iso(held[access_key_id].created))

    # -- rotating -------------------------------------------------------------------------------

    def rotate(
        self, scope: Scope, ref: str, version_id: str, report: Report | None = None
    ) -> tuple[Secret, str]:
        """RotateSecret: start a rotation whose new version is ``version_id`` and run it as far
        as the target lets it. A VersionId the secret has starts nothing; while an earlier
        rotation cannot complete, none starts. A step that fails is retried by the job;
        DescribeSecret shows it. Returns the secret and the version of the rotation it started,
        or of the one still in flight.

        Raises:
            UnsupportedOperation: a Generic secret. ResourceNotFound, SecretInDeleteWindow.
            LimitExceeded: the account's RotateSecret calls started 50 rotations in the last
            hour (counted in the database, so across every node).
        """
        found = self.secrets.secret_ref(scope, ref)
        secret = self._managed(found.account_uid, found.name)
        account_uid, name = secret.account_uid, secret.secret_name
        if self.finish(account_uid, name, _no_fence, report):
            self.start(account_uid, name, version_id, _no_fence, requested=True)
            self.finish(account_uid, name, _no_fence, report)
        in_flight = repo.get_rotation(self.dep.db, account_uid, name)
        return secret, in_flight.version_id if in_flight is not None else version_id

    def update_policy(self, scope: Scope, ref: str, enable: bool, interval: int | None) -> str:
        """UpdateSecretRotationPolicy: turn automatic rotation on (every ``interval`` seconds,
        counted from the last rotation) or off."""
        found = self.secrets.secret_ref(scope, ref)
        self._managed(found.account_uid, found.name)
        for _ in range(RETRIES):
            now = self.dep.clock.now()
            with self.dep.db.write() as tx:
                secret = secret_repo.get_secret(tx, found.account_uid, found.name, lock=True)
                if secret is None:
                    raise errors.ResourceNotFound("The specified secret is not found.")
                values: dict[str, object] = {"update_time": now}
                if enable:
                    assert interval is not None
                    since = secret.last_rotation_date or now
                    values |= {
                        "automatic_rotation": "Enabled",
                        "rotation_interval": interval,
                        "next_rotation_date": since + interval,
                    }
                else:
                    values |= {"automatic_rotation": "Disabled", "next_rotation_date": None}
                    if interval is not None:
                        values["rotation_interval"] = interval
                if secret_repo.update_secret(tx, found.account_uid, found.name, secret.revision, **values):
                    return secret.secret_name
        raise errors.StateTransitionRefused("The secret was changed concurrently; try again.")

    def status(self, secret: Secret) -> RotationStatus | None:
        """The rotation of ``secret`` in flight, if any."""
        rotation = repo.get_rotation(self.dep.db, secret.account_uid, secret.secret_name)
        if rotation is None:
            return None
        return RotationStatus(
            rotation.version_id, rotation.step, rotation.attempts, rotation.next_attempt, rotation.last_error
        )

    @staticmethod
    def _config(secret: Secret) -> ManagedConfig:
        config = json.loads(secret.extended_config or "{}")
        if secret.secret_type == RAM_CREDENTIALS:
            return parse_ram_config(config)
        return parse_managed_config(secret.secret_type, config)

    def _managed(self, account_uid: str, name: str) -> Secret:
        secret = secret_repo.get_secret(self.dep.db, account_uid, name)
        if secret is None:
            raise errors.ResourceNotFound("The specified secret is not found.")
        if secret.pending_deletion:
            raise errors.SecretInDeleteWindow()
        if secret.secret_type == GENERIC:
            raise errors.UnsupportedOperation(ROTATION_UNSUPPORTED)
        return secret

    # -- the steps ------------------------------------------------------------------------------

    def start(
        self, account_uid: str, name: str, version_id: str, fence: Fence, *, requested: bool = False
    ) -> bool:
        """Step 1: store the new value as a version carrying ACSPending and record the rotation
        at ``pending``. False (nothing done) when a rotation is in flight or ``version_id``
        exists. A rotation RotateSecret ``requested`` counts towards the account's hourly limit
        (LimitExceeded beyond it), under the account's row lock so that nodes count together."""
        scope = root_scope(account_uid)
        for _ in range(RETRIES):
            secret = self._managed(account_uid, name)
            if repo.get_rotation(self.dep.db, account_uid, name) is not None:
                return False
            now = self.dep.clock.now()
            if secret.secret_type == RAM_CREDENTIALS:
                # The new pair is chosen here and created on the user by the next step.
                account, key_secret = ids.new_access_key_id(), ids.new_access_key_secret()
                new_value = access_key_value(account, key_secret, iso(now))
            else:
                current = read_account(self.secrets.get_value(scope, name, None, CURRENT).data)
                account = account_to_rotate(self._config(secret).sub_type, current.name)
                new_value = account_value(Account(account, _new_password()))
            sealed = self.secrets.seal_value(scope, secret, version_id, new_value)
            try:
                with self.dep.db.write() as tx:
                    fence(tx)
                    if requested:  # the account's row serialises the hourly count across nodes
                        account_repo.lock(tx, account_uid)
                    locked = secret_repo.get_secret(tx, account_uid, name, lock=True)
                    if locked is None or locked.revision != secret.revision:
                        raise _Raced()
                    if repo.get_rotation(tx, account_uid, name) is not None:
                        return False
                    if secret_repo.get_ciphertext(tx, account_uid, name, version_id) is not None:
                        return False
                    if requested:
                        if repo.count_requests(tx, account_uid, now - RATE_WINDOW) >= ROTATIONS_PER_HOUR:
                            raise errors.LimitExceeded(
                                f"RotateSecret starts at most {ROTATIONS_PER_HOUR} rotations an hour."
                            )
                        repo.record_request(tx, account_uid, name, version_id, now, now - RATE_WINDOW)
                    secret_repo.update_secret(tx, account_uid, name, secret.revision, update_time=now)
                    secret_repo.insert_version(tx, account_uid, name, version_id, "text", sealed, now)
                    old = secret_repo.get_stages(tx, account_uid, name)
                    secret_repo.set_stages(tx, account_uid, name, old, {**old, PENDING: version_id})
                    repo.insert_rotation(
                        tx, Rotation(account_uid, name, version_id, account, STEP_PENDING, 0, now, "", now)
                    )
            except (_Raced, Conflict):
                continue
            return True
        raise errors.StateTransitionRefused("The secret was changed concurrently; try again.")

    def finish(self, account_uid: str, name: str, fence: Fence, report: Report | None = None) -> bool:
        """Run the rotation in flight from the step it reached to its end. True when it
        completed (or none was in flight); False when a step failed (recorded for a retry)."""
        for _ in range(RETRIES + 3):
            rotation = repo.get_rotation(self.dep.db, account_uid, name)
            if rotation is None:
                return True
            try:
                if rotation.step == STEP_VERIFIED:
                    self._promote(rotation, fence)
                    if report is not None:
                        report("RotateSecret", account_uid, {"ACS::KMS::Secret": [name]})
                    return True
                self._target_step(rotation, fence)
            except TargetError as exc:
                self._failed(rotation, exc, fence)
                if report is not None:
                    report("RotateSecretFailed", account_uid, {"ACS::KMS::Secret": [name]})
                return False
        return False

    def _target_step(self, rotation: Rotation, fence: Fence) -> None:
        """Step 2 (``pending``: set the password) or 3 (``applied``: log in with it), then record it."""
        scope = root_scope(rotation.account_uid)
        secret = self._managed(rotation.account_uid, rotation.secret_name)
        config = self._config(secret)
        if secret.secret_type == RAM_CREDENTIALS:
            self._ram_step(rotation, config.target, fence)
            return
        target = repo.get_target(self.dep.db, rotation.account_uid, config.target)
        if target is None:
            raise TargetError(f"the secret target {config.target} is not registered")
        new = read_account(
            self.secrets.get_value(scope, rotation.secret_name, rotation.version_id, None).data
        )
        driver = self.driver_for(target.target_type, target.dsn)
        if rotation.step == STEP_PENDING:
            try:
                admin = self._admin_account(rotation.account_uid, target.admin_secret)
            except errors.DomainError as exc:
                raise TargetError(f"the admin secret {target.admin_secret} cannot be read: {exc}") from None
            driver.set_password(admin, new.name, new.password, like=first_account(new.name))
            self._advance(rotation, STEP_APPLIED, fence)
        else:
            driver.verify(new.name, new.password)
            self._advance(rotation, STEP_VERIFIED, fence)

    def _ram_step(self, rotation: Rotation, user: str, fence: Fence) -> None:
        """RAMCredentials' steps 2 and 3. ``pending``: the user gets the new pair, after its
        pair that is neither ACSCurrent's nor the new one (ACSPrevious's, kept working until
        this rotation) is deleted to make room (a user holds at most two). ``applied``: the
        pair authenticates: it exists, is Active, is the user's and holds the new secret."""
        account_uid, name = rotation.account_uid, rotation.secret_name
        scope = root_scope(account_uid)
        new_id, new_secret = read_access_key(
            self.secrets.get_value(scope, name, rotation.version_id, None).data
        )
        try:
            if rotation.step == STEP_PENDING:
                current_id = read_access_key(self.secrets.get_value(scope, name, None, CURRENT).data)[0]
                held = [p.access_key_id for p in self.ram.list_access_keys(account_uid, user)]
                if new_id not in held:
                    for old in held:
                        if old != current_id:
                            self.ram.delete_access_key(account_uid, user, old)
                    self.ram.create_access_key(account_uid, user, new_id, new_secret)
                self._advance(rotation, STEP_APPLIED, fence)
                return
        except errors.DomainError as exc:
            raise TargetError(f"RAM: {type(exc).__name__}: {exc.detail or ''}".strip()) from None
        user_id = self.ram.get_user(account_uid, user).user_id
        pair = pair_repo.get(self.dep.db, new_id)
        if pair is None or pair.status != ACTIVE or pair.user_id != user_id:
            raise TargetError(f"RAM: the AccessKey {new_id} is not an active pair of {user}")
        stored = self.dep.keyring.unwrap(
            pair.kek_version, pair.secret_wrapped, access_key_aad(pair.access_key_id, pair.kek_version)
        )
        if not hmac.compare_digest(stored, new_secret.encode()):
            raise TargetError(f"RAM: the AccessKey {new_id} holds another secret")
        self._advance(rotation, STEP_VERIFIED, fence)

    def _advance(self, rotation: Rotation, step: str, fence: Fence) -> None:
        with self.dep.db.write() as tx:
            fence(tx)
            repo.update_rotation(
                tx,
                rotation.account_uid,
                rotation.secret_name,
                rotation.step,
                step=step,
                attempts=0,
                last_error="",
                next_attempt=self.dep.clock.now(),
            )

    def _failed(self, rotation: Rotation, exc: TargetError, fence: Fence) -> None:
        attempts = rotation.attempts + 1
        now = self.dep.clock.now()
        log.warning(
            "rotation of secret %s (step %s, attempt %d) failed: %s",
            rotation.secret_name,
            rotation.step,
            attempts,
            error_text(exc),
        )
        with self.dep.db.write() as tx:
            fence(tx)
            repo.update_rotation(
                tx,
                rotation.account_uid,
                rotation.secret_name,
                rotation.step,
                attempts=attempts,
                last_error=error_text(exc),
                next_attempt=now + backoff(attempts),
            )

    def _promote(self, rotation: Rotation, fence: Fence) -> None:
        """Step 4: ACSCurrent to the new version, ACSPrevious to the old, the pending stage and
        the row gone, the dates set: one transaction."""
        account_uid, name = rotation.account_uid, rotation.secret_name
        now = self.dep.clock.now()
        with self.dep.db.write() as tx:
            fence(tx)
            secret = secret_repo.get_secret(tx, account_uid, name, lock=True)
            current = repo.get_rotation(tx, account_uid, name, lock=True)
            if secret is None or current is None or current.step != STEP_VERIFIED:
                return
            old = secret_repo.get_stages(tx, account_uid, name)
            without = {s: v for s, v in old.items() if s != PENDING}
            new = stages_after_put(without, rotation.version_id, [CURRENT])
            secret_repo.set_stages(tx, account_uid, name, old, new)
            ordered = [v.version_id for v in secret_repo.list_versions(tx, account_uid, name)]
            secret_repo.delete_versions(tx, account_uid, name, _versions_to_drop(ordered, new))
            values: dict[str, object] = {"update_time": now, "last_rotation_date": now}
            if secret.automatic_rotation == "Enabled" and secret.rotation_interval:
                values["next_rotation_date"] = now + secret.rotation_interval
            secret_repo.update_secret(tx, account_uid, name, secret.revision, **values)
            repo.delete_rotation(tx, account_uid, name)

    # -- the job ----------------------------------------------------------------------------------

    def rotate_due(self, now: float, fence: Fence, report: Report | None = None) -> int:
        """Carry on every rotation whose retry is due, then start those whose schedule is due.
        Returns how many rotations completed."""
        done = 0
        with self.dep.db.read() as tx:
            resumed = repo.rotations_due(tx, now, BATCH)
        for account_uid, name in resumed:
            done += self._run(account_uid, name, fence, report, start=False)
        with self.dep.db.read() as tx:
            scheduled = repo.secrets_due_for_rotation(tx, now, BATCH)
        for account_uid, name in scheduled:
            done += self._run(account_uid, name, fence, report, start=True)
        return done

    def _run(self, account_uid: str, name: str, fence: Fence, report: Report | None, *, start: bool) -> int:
        try:
            if start and not self.start(account_uid, name, str(uuid.uuid4()), fence):
                return 0
            return int(self.finish(account_uid, name, fence, report))
        except errors.DomainError as exc:
            # A secret deleted, or its key disabled, meanwhile: nothing to rotate now.
            log.warning("rotation of secret %s skipped: %s", name, type(exc).__name__)
            return 0


def _new_password() -> str:
    classes = password.character_classes(exclude_characters=PASSWORD_EXCLUDES)
    return password.generate(PASSWORD_LENGTH, classes, require_each=True)


def _info(row: repo.TargetRow) -> TargetInfo:
    return TargetInfo(row.name, row.target_type, row.dsn, row.admin_secret, row.create_time)
