"""Tenancy: every key, alias and secret belongs to one account, and a request acts in its
caller's.

A bare KeyId, an alias name (``alias/x``) or a secret name is looked up in the caller's account:
another account's key id there is simply not found (404), since ids mean nothing across
accounts. A key, alias or secret ARN names its account and is looked up in it; so is the key a
ciphertext's header names (Decrypt, ReEncrypt). Reaching into another account that way is a
cross-account use, and :meth:`Scope.admit` decides it before the resource is looked up, so a
refusal (403 ``Forbidden.NoPermission``) never tells whether the resource exists.

The one decision is :func:`may_use_other_account`. Cross-account use needs grants on both sides
(the owner's key or secret policy names the caller, and the caller's own RAM policy allows the
action on the ARN); until policies are evaluated nothing can grant it, so it answers False.
Listings (ListKeys, ListAliases, ListSecrets, ListTagResources) show the caller's account only.
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import ip_address

from openkms.domain import errors
from openkms.domain.access import IPAddress
from openkms.domain.authorization import CROSS_ACCOUNT_ACTIONS
from openkms.domain.ram import Owner, Session

__all__ = ["Caller", "Scope", "may_use_other_account", "refusal_detail", "root_scope"]


@dataclass(frozen=True, slots=True)
class Caller:
    """Who made a request: the AccessKeyId that signed it and its owner (``user_id`` and
    ``session`` None: the account's root; ``session``: an STS session of one of its roles), and
    where from: the client's address (as the connection gave it) and whether it came over TLS."""

    access_key_id: str
    request_id: str
    account_uid: str = ""
    user_id: str | None = None
    session: Session | None = None
    client: str = ""
    secure_transport: bool = False

    @property
    def owner(self) -> Owner:
        return Owner(self.account_uid, self.user_id, self.session)

    @property
    def source_ip(self) -> IPAddress | None:
        """The client's address as policy conditions read it (``acs:SourceIp``); None if unknown.
        Parsed only when asked for: most requests never need it."""
        try:
            return ip_address(self.client)
        except ValueError:
            return None


def may_use_other_account(caller: Caller, owner: str, action: str) -> bool:
    """Whether ``caller`` may use, by the API action ``action``, a resource of the account
    ``owner``, which is not the caller's.

    The authorization hop (service/authz.py) has decided the request before any handler runs:
    across accounts both the caller's policies and the resource's must allow, and only the use
    actions can be allowed at all. What reaches a handler from another account was therefore
    allowed, if it is a use action; anything else never is.
    """
    del caller, owner
    return action == "ReEncrypt" or f"kms:{action}".lower() in CROSS_ACCOUNT_ACTIONS


@dataclass(frozen=True, slots=True)
class Scope:
    """What one request may reach: its caller's account, in which bare ids and names resolve,
    and, through :meth:`admit`, another account's resources as :func:`may_use_other_account`
    decides for ``action``."""

    caller: Caller
    action: str

    @property
    def account_uid(self) -> str:
        return self.caller.account_uid

    def admit(self, owner: str) -> None:
        """Allow acting on a resource of account ``owner``: the caller's own always, another's
        only as :func:`may_use_other_account` says.

        Raises:
            NoPermission: another account's resource that the caller may not use.
        """
        if owner != self.caller.account_uid and not may_use_other_account(self.caller, owner, self.action):
            raise errors.NoPermission(refusal_detail(self.caller, self.action))


def refusal_detail(caller: Caller, action: str) -> dict[str, str]:
    """The ``AccessDeniedDetail`` of a refused cross-account use: nothing on the owner's side
    (its key or secret policy) grants it, an implicit deny. The resource stays out of it, as in
    Alibaba's answers."""
    return {
        "AuthAction": f"kms:{action}",
        "AuthPrincipalType": "SubUser",
        "AuthPrincipalOwnerId": caller.account_uid,
        "AuthPrincipalDisplayName": caller.user_id or caller.account_uid,
        "PolicyType": "ResourceBasedPolicy",
        "NoPermissionType": "ImplicitDeny",
        "EncodedDiagnosticMessage": "",
    }


def root_scope(account_uid: str, action: str = "") -> Scope:
    """A scope acting as the root of ``account_uid`` outside any request: for the offline
    commands, the service tests and the tools that act for an account."""
    return Scope(Caller("", "", account_uid), action)
