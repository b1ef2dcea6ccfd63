"""Accounts (tenants): each has its own 16-digit uid, root AccessKeys and resources, and sees
nothing of another's (service/tenancy.py). The first is made by `openkms init`
(service/deployment.py); more by `openkms account create`, offline like `openkms ram`.
"""

from __future__ import annotations

from dataclasses import dataclass

from openkms.config import Hidden
from openkms.domain import ids
from openkms.domain.ram import Owner
from openkms.service import access_keys
from openkms.service.deployment import Deployment
from openkms.store import Conflict
from openkms.store import access_keys as stored_keys
from openkms.store import accounts as repo

__all__ = ["MAX_NAME_CHARS", "Account", "AccountError", "NewAccount", "create", "list_all"]

MAX_NAME_CHARS = 64
# Attempts at drawing a uid nobody has (two draws meeting among 9e15 is not expected at all).
_DRAWS = 5

Account = repo.Account


class AccountError(Exception):
    """An account that cannot be made as asked; the message says why."""


@dataclass(frozen=True, slots=True)
class NewAccount:
    """A new account and its root AccessKey (the secret to be shown once)."""

    uid: str
    display_name: str
    access_key_id: str
    secret: Hidden


def create(
    dep: Deployment, display_name: str = "", root_access_key: tuple[str, str] | None = None
) -> NewAccount:
    """A new account with a new uid and a root AccessKey (``root_access_key`` as (id, secret),
    else a new pair), in one transaction.

    Raises:
        AccountError: a display name that is too long or not printable, an AccessKeyId that
            exists, or a pair of the wrong shape.
    """
    if len(display_name) > MAX_NAME_CHARS or not display_name.isprintable():
        raise AccountError(f"the account name must be at most {MAX_NAME_CHARS} printable characters")
    akid, secret = root_access_key or (None, None)
    for _ in range(_DRAWS):
        uid = ids.new_account_id()
        try:
            with dep.db.write() as tx:
                if akid is not None and stored_keys.exists(tx, akid):
                    raise AccountError(f"AccessKey {akid} already exists")
                repo.insert_account(tx, uid, display_name, dep.clock.now())
                made, value, _ = access_keys.insert(dep, tx, Owner(uid), akid, secret, "root")
        except access_keys.AccessKeyError as exc:
            raise AccountError(str(exc)) from None
        except Conflict:
            continue  # the uid was drawn before, or the pair was made meanwhile: look again
        return NewAccount(uid, display_name, made, value)
    raise AccountError("could not draw an account uid nobody has; try again")


def list_all(dep: Deployment) -> list[Account]:
    """Every account, oldest first (the first is the deployment's, made by init)."""
    with dep.db.read() as tx:
        return repo.list_all(tx)
