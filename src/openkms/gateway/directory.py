"""What the instance gateway asks of the instance registry: the instances, the client keys
and their access points' decisions, and which instance holds a key or a secret.

The gateway depends on this protocol only; ``service/`` supplies the implementation over the
store (the instance, access point and client key services).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class ClientKeyGrant:
    """A client key as the gateway needs it: its public half (SubjectPublicKeyInfo DER), its
    validity, and the access point (and account) it belongs to."""

    client_key_id: str
    account_uid: str
    aap_name: str
    public_key_der: bytes
    not_before: float
    not_after: float


class Directory(Protocol):
    def instance_account(self, instance_id: str) -> str | None:
        """The account owning instance ``instance_id``; None if there is no such instance."""

    def client_key(self, client_key_id: str) -> ClientKeyGrant | None:
        """The client key ``client_key_id``; None if there is none."""

    def refusal(
        self, grant: ClientKeyGrant, instance_id: str, action: str, resource: str | None, source: str
    ) -> str | None:
        """None if the client key's access point allows ``action`` on ``resource``
        (``key/<id>``, ``secret/<name>`` or None) of the instance from address ``source``;
        otherwise why not (safe to show)."""

    def key_instance(self, account_uid: str, key_id: str) -> str | None:
        """The instance holding key ``key_id`` (None: the shared default path)."""

    def secret_instance(self, account_uid: str, secret_name: str) -> str | None:
        """The instance holding secret ``secret_name`` (None: the shared default path)."""
