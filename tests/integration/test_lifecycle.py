"""Key lifecycle through both official SDKs: every cell of Alibaba's state x action matrix
(alibaba-kms-api.md §9.3), scheduled deletion, cancellation and deletion protection."""

from __future__ import annotations

import base64
import calendar
import time
from collections.abc import Callable
from typing import Any

import pytest

from tests.support.calls import SDK, ApiError
from tests.support.export import wrap_params
from tests.support.keys import new_key
from tests.support.server import ServerProcess

E, D, PD, PI = "Enabled", "Disabled", "PendingDeletion", "PendingImport"
STATES = [E, D, PD, PI]
OK = "OK"
SMF = "Rejected.StateModifiedFailed"
STATE_ERROR = {D: "Rejected.Disabled", PD: "Rejected.PendingDeletion", PI: "Rejected.PendingImport"}
WRAP = wrap_params()


class Subject:
    """A key brought into one state, with a data-key blob made while it could still make one."""

    def __init__(self, sdk: SDK, state: str) -> None:
        self.sdk = sdk
        if state == PI:
            meta = sdk.call("CreateKey", Origin="EXTERNAL")["KeyMetadata"]
            self.key_id = meta["KeyId"]
            # No blob can exist for a key that never had material: forge one naming its version.
            # The state is checked before any cryptography, so the state error is the answer.
            self.blob = base64.b64encode(meta["PrimaryKeyVersion"].encode() + bytes(12 + 44 + 16)).decode()
            return
        self.key_id = new_key(sdk)
        self.blob = sdk.call("GenerateDataKey", KeyId=self.key_id)["CiphertextBlob"]
        if state == D:
            sdk.call("DisableKey", KeyId=self.key_id)
        elif state == PD:
            sdk.call("ScheduleKeyDeletion", KeyId=self.key_id, PendingWindowInDays=7)

    def state(self) -> str:
        return str(self.sdk.call("DescribeKey", KeyId=self.key_id)["KeyMetadata"]["KeyState"])


CRYPTO: dict[str, Callable[[SDK, Subject], dict[str, Any]]] = {
    "Encrypt": lambda sdk, s: sdk.call("Encrypt", KeyId=s.key_id, Plaintext="p"),
    "Decrypt": lambda sdk, s: sdk.call("Decrypt", CiphertextBlob=s.blob),
    "GenerateDataKey": lambda sdk, s: sdk.call("GenerateDataKey", KeyId=s.key_id),
    "GenerateDataKeyWithoutPlaintext": lambda sdk, s: sdk.call("GenerateDataKeyWithoutPlaintext", KeyId=s.key_id),
    "GenerateAndExportDataKey": lambda sdk, s: sdk.call("GenerateAndExportDataKey", KeyId=s.key_id, **WRAP),
    "ExportDataKey": lambda sdk, s: sdk.call("ExportDataKey", CiphertextBlob=s.blob, **WRAP),
    "ReEncrypt(source)": lambda sdk, s: sdk.call("ReEncrypt", CiphertextBlob=s.blob, DestinationKeyId=new_key(sdk)),
    "ReEncrypt(destination)": lambda sdk, s: sdk.call(
        "ReEncrypt", DestinationKeyId=s.key_id,
        CiphertextBlob=sdk.call("Encrypt", KeyId=new_key(sdk), Plaintext="p")["CiphertextBlob"],
    ),
}

# action -> (call, expected answer per state, state after a success per state)
LIFECYCLE: dict[str, tuple[Callable[[SDK, Subject], dict[str, Any]], dict[str, str], dict[str, str]]] = {
    "EnableKey": (lambda sdk, s: sdk.call("EnableKey", KeyId=s.key_id),
                  {E: OK, D: OK, PD: SMF, PI: SMF}, {E: E, D: E}),
    "DisableKey": (lambda sdk, s: sdk.call("DisableKey", KeyId=s.key_id),
                   {E: OK, D: OK, PD: SMF, PI: SMF}, {E: D, D: D}),
    "ScheduleKeyDeletion": (lambda sdk, s: sdk.call("ScheduleKeyDeletion", KeyId=s.key_id, PendingWindowInDays=30),
                            {E: OK, D: OK, PD: SMF, PI: OK}, {E: PD, D: PD, PI: PD}),
    "CancelKeyDeletion": (lambda sdk, s: sdk.call("CancelKeyDeletion", KeyId=s.key_id),
                          {E: SMF, D: SMF, PD: OK, PI: SMF}, {PD: E}),
    "SetDeletionProtection": (lambda sdk, s: sdk.call("SetDeletionProtection", EnableDeletionProtection=True,
                                                      ProtectedResourceArn=_arn(sdk, s.key_id)),
                              {E: OK, D: OK, PD: SMF, PI: OK}, {E: E, D: D, PI: PI}),
}


def _arn(sdk: SDK, key_id: str) -> str:
    return str(sdk.call("DescribeKey", KeyId=key_id)["KeyMetadata"]["Arn"])


@pytest.mark.parametrize("state", STATES)
@pytest.mark.parametrize("action", sorted(CRYPTO))
def test_crypto_action_by_state(sdk: SDK, action: str, state: str) -> None:
    """Cryptographic use needs Enabled; otherwise 409 Rejected.<State>, and the state is unchanged."""
    subject = Subject(sdk, state)
    if state == E:
        assert CRYPTO[action](sdk, subject)["RequestId"]
    else:
        with pytest.raises(ApiError) as info:
            CRYPTO[action](sdk, subject)
        error = info.value
        assert (STATE_ERROR[state], 409) == (error.code, error.status)
    assert state == subject.state()


@pytest.mark.parametrize("state", STATES)
@pytest.mark.parametrize("action", sorted(LIFECYCLE))
def test_lifecycle_action_by_state(sdk: SDK, action: str, state: str) -> None:
    """Lifecycle actions follow the matrix: the documented next state, or 409 StateModifiedFailed."""
    call, expected, after = LIFECYCLE[action]
    subject = Subject(sdk, state)
    if expected[state] == OK:
        call(sdk, subject)
        assert after[state] == subject.state()
    else:
        with pytest.raises(ApiError) as info:
            call(sdk, subject)
        error = info.value
        assert (expected[state], 409) == (error.code, error.status)
        assert state == subject.state()


@pytest.mark.parametrize("action", ["EnableKey", "DisableKey", "CancelKeyDeletion", "Encrypt", "GenerateDataKey"])
def test_missing_key_is_not_found(sdk: SDK, action: str) -> None:
    """Every key action on a key that does not exist (or no longer exists) is 404 Forbidden.KeyNotFound."""
    params = {"KeyId": "00000000-0000-4000-8000-000000000000"}
    if action == "Encrypt":
        params["Plaintext"] = "p"
    error = sdk.error(action, **params)
    assert (error.code, error.status) == ("Forbidden.KeyNotFound", 404)


def test_schedule_sets_delete_date(sdk: SDK) -> None:
    """DeleteDate is now + PendingWindowInDays; CancelKeyDeletion clears it."""
    key_id = new_key(sdk)
    before = time.time()
    sdk.call("ScheduleKeyDeletion", KeyId=key_id, PendingWindowInDays=10)
    meta = sdk.call("DescribeKey", KeyId=key_id)["KeyMetadata"]
    delete_at = calendar.timegm(time.strptime(meta["DeleteDate"], "%Y-%m-%dT%H:%M:%SZ"))
    assert before + 10 * 86400 - 2 <= delete_at <= time.time() + 10 * 86400
    sdk.call("CancelKeyDeletion", KeyId=key_id)
    meta = sdk.call("DescribeKey", KeyId=key_id)["KeyMetadata"]
    assert (meta["KeyState"], meta["DeleteDate"]) == ("Enabled", "")


@pytest.mark.parametrize(("days", "ok"), [(6, False), (7, True), (366, True), (367, False)])
def test_pending_window_bounds(sdk: SDK, days: int, ok: bool) -> None:
    """PendingWindowInDays takes 7 to 366."""
    key_id = new_key(sdk)
    if ok:
        sdk.call("ScheduleKeyDeletion", KeyId=key_id, PendingWindowInDays=days)
    else:
        error = sdk.error("ScheduleKeyDeletion", KeyId=key_id, PendingWindowInDays=days)
        assert (error.code, error.status) == ("InvalidParameter", 400)
        assert "PendingWindowInDays" in error.message


def test_cancel_returns_a_disabled_key_to_enabled(sdk: SDK) -> None:
    """Disabled -> PendingDeletion -> CancelKeyDeletion ends Enabled, as Alibaba documents."""
    key_id = new_key(sdk)
    sdk.call("DisableKey", KeyId=key_id)
    sdk.call("ScheduleKeyDeletion", KeyId=key_id, PendingWindowInDays=7)
    sdk.call("CancelKeyDeletion", KeyId=key_id)
    assert sdk.call("DescribeKey", KeyId=key_id)["KeyMetadata"]["KeyState"] == "Enabled"


def test_deletion_protection(sdk: SDK) -> None:
    """A protected key shows it in DescribeKey and cannot be scheduled; unprotected, it can."""
    key_id = new_key(sdk)
    target = {"KeyId": key_id} if sdk.name == "tea" else {"ProtectedResourceArn": _arn(sdk, key_id)}
    sdk.call("SetDeletionProtection", EnableDeletionProtection=True, DeletionProtectionDescription="used by billing", **target)
    meta = sdk.call("DescribeKey", KeyId=key_id)["KeyMetadata"]
    assert (meta["DeletionProtection"], meta["DeletionProtectionDescription"]) == ("Enabled", "used by billing")
    error = sdk.error("ScheduleKeyDeletion", KeyId=key_id, PendingWindowInDays=7)
    assert (error.code, error.status) == (SMF, 409)
    assert "deletion protection" in error.message
    sdk.call("SetDeletionProtection", EnableDeletionProtection=False, **target)
    meta = sdk.call("DescribeKey", KeyId=key_id)["KeyMetadata"]
    assert (meta["DeletionProtection"], meta["DeletionProtectionDescription"]) == ("Disabled", "")
    sdk.call("ScheduleKeyDeletion", KeyId=key_id, PendingWindowInDays=7)


def test_deletion_protection_needs_a_target(server: ServerProcess) -> None:
    """SetDeletionProtection without KeyId or ProtectedResourceArn is 400 MissingParameter."""
    error = SDK("old", server.endpoint).error("SetDeletionProtection", EnableDeletionProtection=True)
    assert (error.code, error.status) == ("MissingParameter", 400)


def test_external_key_cancels_to_pending_import(sdk: SDK) -> None:
    """An EXTERNAL key without material goes back to PendingImport when its deletion is cancelled."""
    key_id = new_key(sdk, Origin="EXTERNAL")
    sdk.call("ScheduleKeyDeletion", KeyId=key_id, PendingWindowInDays=7)
    sdk.call("CancelKeyDeletion", KeyId=key_id)
    assert sdk.call("DescribeKey", KeyId=key_id)["KeyMetadata"]["KeyState"] == "PendingImport"


def test_serve_runs_the_job_runner(server: ServerProcess) -> None:
    """`openkms serve` holds the deployment's job lease (one runner per deployment)."""
    deadline = time.monotonic() + 10  # the runner's first tick follows start-up closely
    rows: list[tuple[str, str, float]] = []
    while not rows and time.monotonic() < deadline:
        rows = server.query("SELECT name, holder, expires_at FROM leases")
        if not rows:
            time.sleep(0.1)
    assert [r[0] for r in rows] == ["jobs"]
    assert rows[0][2] > time.time()
