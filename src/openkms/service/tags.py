"""Tag use cases over every taggable resource type (``key``, ``secret``).

A resource type is a name and a *resolver*: a function that turns what the caller sent (a key
id, alias or ARN; a secret name or ARN) into the id the tags are stored under, or raises the
type's not-found error. ``key`` resolves through :class:`KeyService`. ``secret`` resolves
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
from openkms.domain.tags import MAX_TAGS_PER_RESOURCE
from openkms.service.keys import KeyService
from openkms.store import Tx, keys, secrets
from openkms.store import tags as repo

# (transaction, value sent, parameter name for errors) -> stored resource id
Resolver = Callable[[Tx, str, str], str]
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
        self, resource_type: str, values: Sequence[str], new: Mapping[str, str], parameter: str
    ) -> list[str]:
        """Add or overwrite tags on every named resource; returns their ids.

        Raises:
            the resolver's not-found error for the first resource that does not exist;
            LimitExceeded: a resource would carry more than 20 tags.
        """
        with self.dep.db.write() as tx:
            ids = self._resolve_all(tx, resource_type, values, parameter)
            for resource_id in ids:
                self._touch(tx, resource_type, resource_id)
                current = repo.get_tags(tx, resource_type, resource_id)
                if len(current.keys() | new.keys()) > MAX_TAGS_PER_RESOURCE:
                    raise errors.LimitExceeded(f"A resource carries at most {MAX_TAGS_PER_RESOURCE} tags.")
                repo.put_tags(tx, resource_type, resource_id, new, current)
        return ids

    def untag(
        self,
        resource_type: str,
        values: Sequence[str],
        tag_keys: Sequence[str] | None,
        parameter: str,
    ) -> list[str]:
        """Remove the named tag keys (or, with ``None``, every tag) from every named resource."""
        with self.dep.db.write() as tx:
            ids = self._resolve_all(tx, resource_type, values, parameter)
            for resource_id in ids:
                self._touch(tx, resource_type, resource_id)
                repo.remove_tags(tx, resource_type, resource_id, tag_keys)
        return ids

    # -- reads ------------------------------------------------------------------------------

    def tags_of(self, resource_type: str, value: str, parameter: str) -> tuple[str, dict[str, str]]:
        """One resource's id and its tags, by key."""
        with self.dep.db.read() as tx:
            resource_id = self.resolvers[resource_type](tx, value, parameter)
            return resource_id, repo.get_tags(tx, resource_type, resource_id)

    def list_page(
        self,
        resource_type: str,
        values: Sequence[str],
        match: Sequence[tuple[str, str | None]],
        token: str | None,
    ) -> tuple[list[tuple[str, str, str]], str]:
        """One page (200 rows) of ``(resource_id, tag_key, tag_value)`` and the next token.

        ``values`` restricts the listing to those resources (ones that do not exist list
        nothing); ``match`` keeps resources carrying every given tag. The token is empty on the
        last page.
        """
        after = decode_token(token) if token else None
        with self.dep.db.read() as tx:
            ids: list[str] | None = None
            if values:
                ids = []
                for value in values:
                    try:
                        ids.append(self.resolvers[resource_type](tx, value, "ResourceId"))
                    except errors.NotFound:
                        continue
            rows = repo.page(
                tx, resource_type, resource_ids=ids, match=match, after=after,
                limit=LIST_PAGE_ROWS + 1,
            )  # fmt: skip
        if len(rows) > LIST_PAGE_ROWS:
            rows = rows[:LIST_PAGE_ROWS]
            return rows, encode_token(rows[-1][0], rows[-1][1])
        return rows, ""

    # -- resolvers --------------------------------------------------------------------------

    def _resolve_all(self, tx: Tx, resource_type: str, values: Sequence[str], parameter: str) -> list[str]:
        resolve = self.resolvers[resource_type]
        ids: list[str] = []
        for value in values:
            resource_id = resolve(tx, value, parameter)
            if resource_id not in ids:
                ids.append(resource_id)
        return ids

    @staticmethod
    def _touch(tx: Tx, resource_type: str, resource_id: str) -> None:
        """Mark a resource changed before its tags change (and lock its row where that exists)."""
        if resource_type == KEY:
            keys.update_key(tx, resource_id)

    def _resolve_key(self, tx: Tx, value: str, parameter: str) -> str:
        return self.keys.load(tx, value, parameter).key_id

    def _resolve_secret(self, tx: Tx, value: str, parameter: str) -> str:
        name = value
        if value.startswith("acs:kms:"):
            parts = value.split(":", 4)
            dep = self.dep
            if (
                len(parts) != 5
                or parts[2] != dep.region
                or parts[3] != dep.account_id
                or not parts[4].startswith("secret/")
            ):
                raise errors.InvalidValue(parameter)
            name = parts[4][len("secret/") :]
        if not secrets.secret_exists(tx, name):
            raise errors.ResourceNotFound("The specified secret is not found.")
        return name


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
