"""Key states and Alibaba's rules for which operations each state allows."""

from __future__ import annotations

from openkms.domain.errors import (
    KeyDisabled,
    KeyPendingDeletion,
    KeyPendingImport,
    KeyStateError,
)

ENABLED = "Enabled"
DISABLED = "Disabled"
PENDING_DELETION = "PendingDeletion"
PENDING_IMPORT = "PendingImport"
STATES = (ENABLED, DISABLED, PENDING_DELETION, PENDING_IMPORT)

_STATE_ERRORS: dict[str, type[KeyStateError]] = {
    DISABLED: KeyDisabled,
    PENDING_DELETION: KeyPendingDeletion,
    PENDING_IMPORT: KeyPendingImport,
}


def require_usable(state: str) -> None:
    """Cryptographic use (Encrypt, Decrypt, data keys, Sign, ...) needs an Enabled key.

    Raises:
        KeyStateError: the subclass naming the key's state (409 Rejected.<State>).
    """
    if state != ENABLED:
        raise _STATE_ERRORS.get(state, KeyDisabled)()
