"""Alibaba's key state machine (alibaba-kms-api.md §9.3), one cell at a time."""

from __future__ import annotations

import pytest

from openkms.domain import keystate as ks
from openkms.domain.errors import (
    KeyDisabled,
    KeyPendingDeletion,
    KeyPendingImport,
    StateTransitionRefused,
)

E, D, PD, PI = ks.ENABLED, ks.DISABLED, ks.PENDING_DELETION, ks.PENDING_IMPORT
REFUSED = StateTransitionRefused


@pytest.mark.parametrize(
    ("transition", "state", "expected"),
    [
        (ks.enable, E, E), (ks.enable, D, E), (ks.enable, PD, REFUSED), (ks.enable, PI, REFUSED),
        (ks.disable, E, D), (ks.disable, D, D), (ks.disable, PD, REFUSED), (ks.disable, PI, REFUSED),
        (lambda s: ks.schedule_deletion(s, False), E, PD),
        (lambda s: ks.schedule_deletion(s, False), D, PD),
        (lambda s: ks.schedule_deletion(s, False), PI, PD),
        (lambda s: ks.schedule_deletion(s, False), PD, REFUSED),
        (lambda s: ks.cancel_deletion(s, True), PD, E),
        (lambda s: ks.cancel_deletion(s, True), E, REFUSED),
        (lambda s: ks.cancel_deletion(s, True), D, REFUSED),
        (lambda s: ks.cancel_deletion(s, True), PI, REFUSED),
        (ks.import_material, PI, E), (ks.import_material, E, E), (ks.import_material, D, D),
        (ks.import_material, PD, REFUSED),
        (ks.delete_material, E, PI), (ks.delete_material, D, PI), (ks.delete_material, PI, PI),
        (ks.delete_material, PD, PD),
    ],
)
def test_transitions(transition, state: str, expected) -> None:  # type: ignore[no-untyped-def]
    """Each lifecycle transition from each state ends where the matrix says, or is refused."""
    if expected is REFUSED:
        with pytest.raises(StateTransitionRefused):
            transition(state)
    else:
        assert expected == transition(state)


@pytest.mark.parametrize("state", [E, D, PI])
def test_protected_key_cannot_be_scheduled(state: str) -> None:
    """Deletion protection refuses ScheduleKeyDeletion with a message that says why."""
    with pytest.raises(StateTransitionRefused) as info:
        ks.schedule_deletion(state, True)
    assert "deletion protection" in (info.value.detail or "")


def test_cancel_without_material_goes_back_to_pending_import() -> None:
    """An EXTERNAL key without material returns to PendingImport, not to Enabled."""
    assert ks.cancel_deletion(PD, False) == PI


@pytest.mark.parametrize(
    ("state", "error"), [(D, KeyDisabled), (PD, KeyPendingDeletion), (PI, KeyPendingImport)]
)
def test_cryptographic_use_needs_enabled(state: str, error: type[Exception]) -> None:
    """Encrypt and friends: Enabled passes, every other state raises its own 409."""
    ks.require_usable(E)
    with pytest.raises(error):
        ks.require_usable(state)


def test_deletion_due() -> None:
    """A key is destroyed when its DeleteDate is reached, not before, and only if still pending."""
    assert ks.deletion_due(PD, 100.0, 100.0)
    assert not ks.deletion_due(PD, 100.0, 99.9)
    assert not ks.deletion_due(E, 100.0, 200.0)
    assert not ks.deletion_due(PD, None, 200.0)


def test_set_deletion_protection_refuses_pending_deletion() -> None:
    """SetDeletionProtection on a key pending deletion is Rejected.StateModifiedFailed."""
    for state in (E, D, PI):
        ks.require_not_pending_deletion(state)
    with pytest.raises(StateTransitionRefused):
        ks.require_not_pending_deletion(PD)
