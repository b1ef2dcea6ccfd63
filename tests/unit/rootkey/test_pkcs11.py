"""The pkcs11 root provider against a SoftHSM2 token of this test run (skipped without SoftHSM2)."""

from __future__ import annotations

import multiprocessing
import secrets
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from openkms.crypto import aead
from tests.support.softhsm import Token, init_token, require_softhsm, shared_conf

pytestmark = pytest.mark.pkcs11


@pytest.fixture(scope="module")
def token(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Token]:
    require_softhsm()
    conf = shared_conf(tmp_path_factory)
    yield init_token(conf, f"unit-{secrets.token_hex(4)}")


@pytest.fixture(scope="module")
def root(token: Token):  # type: ignore[no-untyped-def]
    from openkms.rootkey.pkcs11 import Pkcs11RootKey

    return Pkcs11RootKey.open(token.module, token.label, token.pin, create=True)


def test_round_trip_and_the_fingerprint_is_stable(token: Token, root) -> None:  # type: ignore[no-untyped-def]
    from openkms.rootkey.pkcs11 import Pkcs11RootKey

    kek = secrets.token_bytes(32)
    blob = root.wrap(kek, b"aad-1")
    assert kek not in blob and len(blob) == 12 + 32 + 16
    assert root.wrap(kek, b"aad-1") != blob  # a fresh nonce each time
    assert root.unwrap(blob, b"aad-1") == kek
    again = Pkcs11RootKey.open(token.module, token.label, token.pin)  # found by label, not made
    assert again.fingerprint == root.fingerprint and len(root.fingerprint) == 32
    assert again.unwrap(blob, b"aad-1") == kek


def test_a_wrong_aad_or_a_tampered_blob_does_not_open(root) -> None:  # type: ignore[no-untyped-def]
    blob = root.wrap(b"k" * 32, b"right")
    with pytest.raises(aead.NotAuthentic):
        root.unwrap(blob, b"wrong")
    tampered = bytearray(blob)
    tampered[20] ^= 1
    with pytest.raises(aead.NotAuthentic):
        root.unwrap(bytes(tampered), b"right")
    with pytest.raises(aead.NotAuthentic):
        root.unwrap(blob[:20], b"right")


def test_the_root_object_cannot_be_read_or_wrapped_out(root) -> None:  # type: ignore[no-untyped-def]
    import pkcs11
    from pkcs11 import Attribute

    from openkms.rootkey import pkcs11 as provider

    proc = provider._here()
    with proc.lock:
        key = root._key(proc)
        assert key[Attribute.EXTRACTABLE] is False
        assert key[Attribute.SENSITIVE] is True
        assert key[Attribute.NEVER_EXTRACTABLE] is True
        assert key[Attribute.TOKEN] is True
        with pytest.raises(pkcs11.AttributeSensitive):
            key[Attribute.VALUE]
        session = proc.sessions[(root._module, root._token_label)]
        wrapper = session.generate_key(
            pkcs11.KeyType.AES,
            256,
            store=False,
            capabilities=pkcs11.MechanismFlag.WRAP | pkcs11.MechanismFlag.UNWRAP,
        )
        try:
            with pytest.raises(pkcs11.KeyUnextractable):
                wrapper.wrap_key(key, mechanism=pkcs11.Mechanism.AES_KEY_WRAP_PAD)
        finally:
            wrapper.destroy()


def test_refusals_name_the_problem_and_never_the_pin(token: Token, tmp_path: Path) -> None:
    from openkms.rootkey.pkcs11 import Pkcs11RootKey, Pkcs11Unavailable

    with pytest.raises(Pkcs11Unavailable, match="no token labelled 'absent-token'"):
        Pkcs11RootKey.open(token.module, "absent-token", token.pin)
    with pytest.raises(Pkcs11Unavailable, match="no root key labelled 'other-root'") as refused:
        Pkcs11RootKey.open(token.module, token.label, token.pin, key_label="other-root")
    assert token.pin not in str(refused.value)
    with pytest.raises(Pkcs11Unavailable, match="does not exist"):
        Pkcs11RootKey.open(str(tmp_path / "absent.so"), token.label, token.pin)
    with pytest.raises(Pkcs11Unavailable, match="no PIN"):
        Pkcs11RootKey.open(token.module, token.label, "")


def test_a_wrong_pin_is_refused(tmp_path_factory: pytest.TempPathFactory, token: Token) -> None:
    from openkms.rootkey.pkcs11 import Pkcs11RootKey, Pkcs11Unavailable

    # A token of its own: the process's login on the shared one would hide the wrong PIN.
    other = init_token(token.conf, f"pin-{secrets.token_hex(4)}")
    wrong = "0" * 8
    with pytest.raises(Pkcs11Unavailable, match=r"PIN .* is incorrect") as refused:
        Pkcs11RootKey.open(other.module, other.label, wrong, create=True)
    assert wrong not in str(refused.value) and other.pin not in repr(refused.value)


def test_the_repr_holds_no_pin(token: Token, root) -> None:  # type: ignore[no-untyped-def]
    assert token.pin not in repr(root) and root.fingerprint in repr(root)


def _child(root, blob: bytes, queue) -> None:  # type: ignore[no-untyped-def]
    try:
        kek = root.unwrap(blob, b"from parent")
        queue.put(("ok", kek, root.wrap(kek, b"from child")))
    except BaseException as exc:
        queue.put(("error", repr(exc), b""))


def test_a_forked_child_initialises_its_own_library_and_session(root) -> None:  # type: ignore[no-untyped-def]
    kek = secrets.token_bytes(32)
    blob = root.wrap(kek, b"from parent")
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    children = [ctx.Process(target=_child, args=(root, blob, queue)) for _ in range(3)]
    for child in children:
        child.start()
    results = [queue.get(timeout=30) for _ in children]
    for child in children:
        child.join(timeout=30)
        assert child.exitcode == 0
    for status, got, child_blob in results:
        assert status == "ok", got
        assert got == kek
        assert root.unwrap(child_blob, b"from child") == kek  # the parent still serves
    assert root.unwrap(blob, b"from parent") == kek


def test_concurrent_threads_share_the_token_safely(root) -> None:  # type: ignore[no-untyped-def]
    # Without the lock SoftHSM2 (initialised without mutexes) crashes or corrupts under this load.
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(150):
                kek = secrets.token_bytes(32)
                aad = f"{n}/{i}".encode()
                assert root.unwrap(root.wrap(kek, aad), aad) == kek
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors


def test_threads_on_two_tokens_of_one_module_are_serialised(token: Token) -> None:
    # Two tokens: two sessions, which python-pkcs11 does not serialise with each other. SoftHSM2
    # initialised without mutexes crashes under concurrent calls on two sessions; the provider's
    # per-process lock is what keeps this test alive (the reference's reproducer).
    from openkms.rootkey.pkcs11 import Pkcs11RootKey

    second = init_token(token.conf, f"two-{secrets.token_hex(4)}")
    roots = [
        Pkcs11RootKey.open(token.module, token.label, token.pin, create=True),
        Pkcs11RootKey.open(second.module, second.label, second.pin, create=True),
    ]
    errors: list[BaseException] = []

    def work(n: int) -> None:
        root = roots[n % 2]
        try:
            for i in range(300):
                kek, aad = secrets.token_bytes(32), f"{n}/{i}".encode()
                assert root.unwrap(root.wrap(kek, aad), aad) == kek
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
