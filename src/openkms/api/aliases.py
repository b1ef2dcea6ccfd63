"""Alias actions: CreateAlias, UpdateAlias, DeleteAlias, ListAliases, ListAliasesByKeyId.

Every KeyId parameter of every action also accepts ``alias/<name>`` and the alias ARN
(``acs:kms:<region>:<account>:alias/<name>``); that resolution lives in KeyService.resolve_id.
An alias belongs to the caller's account: names are unique per account, and the listings show
the caller's aliases only.
"""

from __future__ import annotations

from typing import Any

from openkms.api.paging import PAGE_NUMBER, echo, page_size_param
from openkms.api.spec import ActionSpec, Param
from openkms.domain.aliases import MAX_NAME_LEN, NAME_PATTERN
from openkms.domain.arn import alias_arn
from openkms.service.context import CallContext

ALIAS_NAME = Param(
    "AliasName",
    required=True,
    max=MAX_NAME_LEN,
    pattern=NAME_PATTERN,
    doc="alias/ + 1-255 of [A-Za-z0-9_/-]; alias/acs* is reserved.",
)
KEY_ID = Param("KeyId", required=True, max=2048, doc="Key id, alias name, key ARN or alias ARN.")


def _page(ctx: CallContext, page_number: int, page_size: int, key_id: str | None) -> dict[str, Any]:
    account, rows, total = ctx.services.aliases.list_page(ctx.scope, page_number, page_size, key_id)
    region = ctx.services.deployment.region
    return {
        **echo(page_number, page_size, total),
        "Aliases": {
            "Alias": [
                {
                    "AliasName": name,
                    "AliasArn": alias_arn(region, account, name),
                    "KeyId": target,
                }
                for name, target in rows
            ]
        },
    }


def create_alias(ctx: CallContext, *, alias_name: str, key_id: str) -> dict[str, Any]:
    ctx.services.aliases.create(ctx.scope, alias_name, key_id)
    return {}


def update_alias(ctx: CallContext, *, alias_name: str, key_id: str) -> dict[str, Any]:
    ctx.services.aliases.update(ctx.scope, alias_name, key_id)
    return {}


def delete_alias(ctx: CallContext, *, alias_name: str) -> dict[str, Any]:
    ctx.services.aliases.delete(ctx.scope, alias_name)
    return {}


def list_aliases(ctx: CallContext, *, page_number: int, page_size: int) -> dict[str, Any]:
    return _page(ctx, page_number, page_size, None)


def list_aliases_by_key_id(
    ctx: CallContext, *, key_id: str, page_number: int, page_size: int
) -> dict[str, Any]:
    return _page(ctx, page_number, page_size, key_id)


ACTIONS = [
    ActionSpec(
        "CreateAlias",
        create_alias,
        (ALIAS_NAME, KEY_ID),
        doc="Bind a new alias to a key. A taken name is 409 Rejected.ResourceExist; a key "
        "pending deletion is 409 Rejected.StateModifiedFailed.",
    ),
    ActionSpec(
        "UpdateAlias",
        update_alias,
        (ALIAS_NAME, KEY_ID),
        doc="Point an existing alias at another key (404 Forbidden.AliasNotFound if none; "
        "409 Rejected.PendingDeletion if the new key is pending deletion).",
    ),
    ActionSpec(
        "DeleteAlias",
        delete_alias,
        (ALIAS_NAME,),
        doc="Delete an alias; the key is untouched.",
    ),
    ActionSpec(
        "ListAliases",
        list_aliases,
        (PAGE_NUMBER, page_size_param(10, 0, 100)),
        doc="Page through the aliases of the account, by name.",
    ),
    ActionSpec(
        "ListAliasesByKeyId",
        list_aliases_by_key_id,
        (KEY_ID, PAGE_NUMBER, page_size_param(10, 0, 101)),
        doc="Page through the aliases of one key, by name.",
    ),
]
