"""Alias use cases: create, re-point, delete and page through aliases.

Rules (Alibaba's key-state matrix): CreateAlias refuses a key pending deletion with 409
``Rejected.StateModifiedFailed``; UpdateAlias refuses a *target* pending deletion with 409
``Rejected.PendingDeletion``; DeleteAlias and the listings work in every state. A name already
taken is 409 ``Rejected.ResourceExist`` (see :class:`AliasService.create`).

An alias belongs to the caller's account (names are unique per account) and points at a key of
that same account.
"""

from __future__ import annotations

from openkms.domain import errors, keystate
from openkms.domain.aliases import check_alias_name
from openkms.domain.key import Key
from openkms.service.keys import KeyService
from openkms.service.tenancy import Scope
from openkms.store import Conflict, Tx
from openkms.store import aliases as repo


class AliasService:
    def __init__(self, keys_service: KeyService) -> None:
        self.keys = keys_service
        self.dep = keys_service.dep

    def _target(self, tx: Tx, scope: Scope, key_value: str) -> Key:
        """The key an alias of the caller's account is to point at, locked: one of that account
        (an alias never names another account's key)."""
        key = self.keys.load(tx, scope, key_value, lock=True)
        if key.account_uid != scope.account_uid:
            raise errors.InvalidValue("KeyId", "An alias points at a key of its own account.")
        return key

    def create(self, scope: Scope, alias_name: str, key_value: str) -> str:
        """Bind a new alias to a key; returns the key id.

        Alibaba's 2021 error table has ``AliasAlreadyExists`` (400) for a taken name, while every
        newer "already exists" answer is 409 ``Rejected.ResourceExist``; we answer the latter,
        which is what the current SDK docs list for duplicates.

        Raises:
            InvalidValue: a bad or reserved name.
            KeyNotFound, AliasNotFound: the key does not resolve.
            StateTransitionRefused: the key is pending deletion.
            AlreadyExists: the name is taken.
        """
        check_alias_name(alias_name)
        try:
            with self.dep.db.write() as tx:
                # Locked: a ScheduleKeyDeletion racing on another node waits for this, or wins.
                key = self._target(tx, scope, key_value)
                if key.key_state == keystate.PENDING_DELETION:
                    raise errors.StateTransitionRefused("An alias cannot be bound to a key pending deletion.")
                if repo.target(tx, scope.account_uid, alias_name) is not None:
                    raise errors.AlreadyExists("The alias already exists.")
                repo.insert_alias(tx, scope.account_uid, alias_name, key.key_id, self.dep.clock.now())
        except Conflict:
            # Two nodes creating the same name at once: the primary key decides.
            raise errors.AlreadyExists("The alias already exists.") from None
        return key.key_id

    def update(self, scope: Scope, alias_name: str, key_value: str) -> str:
        """Point an existing alias at another key; returns the new key id.

        Raises:
            AliasNotFound: no such alias.
            KeyNotFound: the target does not resolve.
            KeyPendingDeletion: the target is pending deletion.
        """
        with self.dep.db.write() as tx:
            if repo.target(tx, scope.account_uid, alias_name) is None:
                raise errors.AliasNotFound()
            key = self._target(tx, scope, key_value)
            if key.key_state == keystate.PENDING_DELETION:
                raise errors.KeyPendingDeletion()
            repo.repoint(tx, scope.account_uid, alias_name, key.key_id, self.dep.clock.now())
        return key.key_id

    def delete(self, scope: Scope, alias_name: str) -> None:
        """Remove an alias of the caller's account; its key is untouched. Raises AliasNotFound."""
        with self.dep.db.write() as tx:
            if not repo.delete_alias(tx, scope.account_uid, alias_name):
                raise errors.AliasNotFound()

    def list_page(
        self, scope: Scope, page_number: int, page_size: int, key_value: str | None = None
    ) -> tuple[str, list[tuple[str, str]], int]:
        """The account listed and a page of its ``(alias_name, key_id)`` by name: every alias
        of the caller's account, or one key's (in the key's account)."""
        offset = (page_number - 1) * page_size
        with self.dep.db.read() as tx:
            if key_value is None:
                return (scope.account_uid, *repo.page(tx, scope.account_uid, offset, page_size))
            key = self.keys.load(tx, scope, key_value)
            return (key.account_uid, *repo.page(tx, key.account_uid, offset, page_size, key.key_id))
