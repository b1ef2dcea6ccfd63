"""Key states and Alibaba's rules for which operations each state allows."""

from __future__ import annotations

from openkms.domain.errors import (
    KeyDisabled,
    KeyPendingDeletion,
    KeyPendingImport,
    KeyStateError,
    StateTransitionRefused,
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


# -- lifecycle transitions (alibaba-kms-api.md §9.3) --------------------------------------------
# Each returns the new state or raises StateTransitionRefused (409 Rejected.StateModifiedFailed).


def enable(state: str) -> str:
    """EnableKey: Enabled or Disabled -> Enabled."""
    if state not in (ENABLED, DISABLED):
        raise StateTransitionRefused()
    return ENABLED


def disable(state: str) -> str:
    """DisableKey: Enabled or Disabled -> Disabled."""
    if state not in (ENABLED, DISABLED):
        raise StateTransitionRefused()
    return DISABLED


def schedule_deletion(state: str, deletion_protection: bool) -> str:
    """ScheduleKeyDeletion: Enabled, Disabled or PendingImport -> PendingDeletion.

    A key with deletion protection on is refused with the same 409 (Alibaba documents the
    refusal, not its code), and a message saying why.
    """
    if state == PENDING_DELETION:
        raise StateTransitionRefused()
    if deletion_protection:
        raise StateTransitionRefused(
            "The key has deletion protection enabled; disable it with SetDeletionProtection first."
        )
    return PENDING_DELETION


def cancel_deletion(state: str, has_material: bool) -> str:
    """CancelKeyDeletion: PendingDeletion -> Enabled.

    Alibaba documents only "back to Enabled". An EXTERNAL key whose material is absent (never
    imported, deleted or expired) goes back to PendingImport instead: an Enabled key that
    cannot encrypt would be a state the rest of the matrix does not know.
    """
    if state != PENDING_DELETION:
        raise StateTransitionRefused()
    return ENABLED if has_material else PENDING_IMPORT


def import_material(state: str) -> str:
    """ImportKeyMaterial: PendingImport -> Enabled; Enabled and Disabled keep their state (the
    same material again, with a new expiry); a key pending deletion refuses."""
    if state == PENDING_DELETION:
        raise StateTransitionRefused()
    return ENABLED if state == PENDING_IMPORT else state


def delete_material(state: str) -> str:
    """DeleteKeyMaterial, or material reaching MaterialExpireTime: -> PendingImport, except that
    a key pending deletion stays so (and keeps its DeleteDate)."""
    return PENDING_DELETION if state == PENDING_DELETION else PENDING_IMPORT


def require_material_current(material_expire_time: float | None, now: float) -> None:
    """Imported material past its MaterialExpireTime is unusable at once, before the expiry job
    has deleted it and moved the key to PendingImport.

    Raises:
        KeyPendingImport: 409 Rejected.PendingImport.
    """
    if material_expire_time is not None and material_expire_time <= now:
        raise KeyPendingImport()


def require_not_pending_deletion(state: str) -> None:
    """SetDeletionProtection (and other metadata changes) refuse a key pending deletion."""
    if state == PENDING_DELETION:
        raise StateTransitionRefused()


def deletion_due(state: str, delete_date: float | None, now: float) -> bool:
    """A key pending deletion whose window has ended is destroyed (and then gone for good)."""
    return state == PENDING_DELETION and delete_date is not None and delete_date <= now
