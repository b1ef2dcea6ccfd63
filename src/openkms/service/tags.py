"""Tag use cases over every taggable resource type (``key``, ``secret``).

A resource type is a name and a *resolver*: a function that turns what the caller sent (a key
id, alias or ARN; a secret name or ARN) into the resource's owner account and the id the tags
are stored under, or raises the type's not-found error. Names resolve in the caller's account
and ARNs in theirs, as the request's scope admits (service/tenancy.py); listings show the
caller's account only. ``key`` resolves through :class:`KeyService`. ``secret`` resolves
against the ``secrets`` table; the secrets service may :meth:`TagService.register` a resolver of
its own (to refuse secrets in their deletion window, say) without touching this module.

Every change is one transaction: a call naming 50 resources tags all of them or none. Tags are
part of a key's authorization context (``kms:tag`` conditions), so changing them bumps the key's
revision; on PostgreSQL that row lock also serializes concurrent tag changes of one key, which
keeps the 20-tag limit exact.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Mapping, Sequence

from openkms.domain import errors
from openkms.domain.secret import split_secret_ref
from openkms.domain.tags import MAX_TAGS_PER_RESOURCE
from openkms.service.keys import KeyService
from openkms.service.tenancy import Scope
from openkms.store import Tx, keys, secrets
from openkms.store import tags as repo

# A resource as tags are stored under it: (owner account, resource id).
Owned = tuple[str, str]
# (transaction, request scope, value sent, parameter name for errors) -> the resource
Resolver = Callable[[Tx, Scope, str, str], Owned]
KEY = "key"
SECRET = "secret"  # noqa: S105 - a resource type name, not a credential
RESOURCE_TYPES = (KEY, SECRET)
LIST_PAGE_ROWS = 200


class TagService:
    def __init__(self, keys_service: KeyService) -> None:
        self.keys = keys_service
        self.dep = keys_service.dep
        self.resolvers: dict[str, Resolver] = {KEY: self._resolve_key, SECRET: self._resolve_secret}

    def register(self, resource_type: str, resolver: Resolver) -> None:
        """Install (or replace) the resolver of a resource type."""
        self.resolvers[resource_type] = resolver

    # -- changes ----------------------------------------------------------------------------

    def tag(
        self, scope: Scope, resource_type: str, values: Sequence[str], new: Mapping[str, str], parameter: str
    ) -> list[str]:
        """Add or overwrite tags on every named resource; returns their ids.

        Raises:
            the resolver's not-found error for the first resource that does not exist;
            LimitExceeded: a resource would carry more than 20 tags.
        """
        with self.dep.db.write() as tx:
            found = self._resolve_all(tx, scope, resource_type, values, parameter)
            for account, resource_id in found:
                self._touch(tx, resource_type, resource_id)
                current = repo.get_tags(tx, account, resource_type, resource_id)
                if len(current.keys() | new.keys()) > MAX_TAGS_PER_RESOURCE:
                    raise errors.LimitExceeded(f"A resource carries at most {MAX_TAGS_PER_RESOURCE} tags.")
                repo.put_tags(tx, account, resource_type, resource_id, new, current)
        return [resource_id for _, resource_id in found]

    def untag(
        self,
        scope: Scope,
        resource_type: str,
        values: Sequence[str],
        tag_keys: Sequence[str] | None,
        parameter: str,
    ) -> list[str]:
        """Remove the named tag keys (or, with ``None``, every tag) from every named resource."""
        with self.dep.db.write() as tx:
            found = self._resolve_all(tx, scope, resource_type, values, parameter)
            for account, resource_id in found:
                self._touch(tx, resource_type, resource_id)
                repo.remove_tags(tx, account, resource_type, resource_id, tag_keys)
        return [resource_id for _, resource_id in found]

    # -- reads ------------------------------------------------------------------------------

    def tags_of(
        self, scope: Scope, resource_type: str, value: str, parameter: str
    ) -> tuple[str, dict[str, str]]:
        """One resource's id and its tags, by key."""
        with self.dep.db.read() as tx:
            account, resource_id = self.resolvers[resource_type](tx, scope, value, parameter)
            return resource_id, repo.get_tags(tx, account, resource_type, resource_id)

    def list_page(
        self,
        scope: Scope,
        resource_type: str,
        values: Sequence[str],
        match: Sequence[tuple[str, str | None]],
        token: str | None,
    ) -> tuple[list[tuple[str, str, str]], str]:
        """One page (200 rows) of ``(resource_id, tag_key, tag_value)`` and the next token.

        The rows are of the caller's account. ``values`` restricts the listing to those
        resources (ones that do not exist there list nothing; another account's are refused as
        any cross-account use is); ``match`` keeps resources carrying every given tag. The token
        is empty on the last page.
        """
        after = decode_token(token) if token else None
        with self.dep.db.read() as tx:
            ids: list[str] | None = None
            if values:
                ids = []
                for value in values:
                    try:
                        account, resource_id = self.resolvers[resource_type](tx, scope, value, "ResourceId")
                    except errors.NotFound:
                        continue
                    if account == scope.account_uid:
                        ids.append(resource_id)
            rows = repo.page(
                tx, scope.account_uid, resource_type, resource_ids=ids, match=match, after=after,
                limit=LIST_PAGE_ROWS + 1,
            )  # fmt: skip
        if len(rows) > LIST_PAGE_ROWS:
            rows = rows[:LIST_PAGE_ROWS]
            return rows, encode_token(rows[-1][0], rows[-1][1])
        return rows, ""

    # -- resolvers --------------------------------------------------------------------------

    def _resolve_all(
        self, tx: Tx, scope: Scope, resource_type: str, values: Sequence[str], parameter: str
    ) -> list[Owned]:
        resolve = self.resolvers[resource_type]
        found: list[Owned] = []
        for value in values:
            resource = resolve(tx, scope, value, parameter)
            if resource not in found:
                found.append(resource)
        return found

    @staticmethod
    def _touch(tx: Tx, resource_type: str, resource_id: str) -> None:
        """Mark a resource changed before its tags change (and lock its row where that exists)."""
        if resource_type == KEY:
            keys.update_key(tx, resource_id)

    def _resolve_key(self, tx: Tx, scope: Scope, value: str, parameter: str) -> Owned:
        key = self.keys.load(tx, scope, value, parameter)
        return key.account_uid, key.key_id

    def _resolve_secret(self, tx: Tx, scope: Scope, value: str, parameter: str) -> Owned:
        ref = split_secret_ref(value, self.dep.region, scope.account_uid, parameter)
        scope.admit(ref.account_uid)
        if not secrets.secret_exists(tx, ref.account_uid, ref.name):
            raise errors.ResourceNotFound("The specified secret is not found.")
        return ref.account_uid, ref.name


def encode_token(resource_id: str, tag_key: str) -> str:
    """An opaque NextToken: the last row's position, so the next page starts after it."""
    raw = json.dumps([resource_id, tag_key], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_token(token: str) -> tuple[str, str]:
    """Raises InvalidValue("NextToken") for anything :func:`encode_token` did not make."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        position = json.loads(raw)
    except (binascii.Error, ValueError, RecursionError):
        raise errors.InvalidValue("NextToken") from None
    if not isinstance(position, list) or len(position) != 2 or not all(isinstance(p, str) for p in position):
        raise errors.InvalidValue("NextToken")
    return position[0], position[1]
