"""The pkcs11 root provider under load and across fork, against SoftHSM2 tokens of this test run
(skipped without SoftHSM2): several processes with several threads each on one token while
another process creates objects on it (R7, shortened), and forked workers with SoftHSM2's
``library.reset_on_fork`` on (R8)."""

from __future__ import annotations

import multiprocessing
import os
import secrets
import threading
import time
from pathlib import Path

import pytest

from tests.support.softhsm import Token, init_token, require_softhsm, shared_conf

pytestmark = pytest.mark.pkcs11

SECONDS = 3.0


def _worker(token: Token, threads: int, queue) -> None:  # type: ignore[no-untyped-def]
    """Wrap and unwrap from ``threads`` threads for SECONDS; put (round trips, errors)."""
    from openkms.rootkey.pkcs11 import Pkcs11RootKey

    done, errors = [0], []
    try:
        root = Pkcs11RootKey.open(token.module, token.label, token.pin)
    except BaseException as exc:
        queue.put((0, [repr(exc)]))
        return

    def loop(n: int) -> None:
        end = time.monotonic() + SECONDS
        i = 0
        while time.monotonic() < end:
            kek, aad = secrets.token_bytes(32), f"{os.getpid()}/{n}/{i}".encode()
            try:
                if root.unwrap(root.wrap(kek, aad), aad) != kek:
                    errors.append("wrong plaintext")
            except BaseException as exc:
                errors.append(repr(exc))
            done[0] += 1
            i += 1

    ts = [threading.Thread(target=loop, args=(n,)) for n in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    queue.put((done[0], errors[:5]))


def _creator(token: Token, queue) -> None:  # type: ignore[no-untyped-def]
    """Create root objects under new labels on the same token for SECONDS."""
    from openkms.rootkey.pkcs11 import Pkcs11RootKey

    made, errors = 0, []
    end = time.monotonic() + SECONDS
    while time.monotonic() < end:
        try:
            Pkcs11RootKey.open(
                token.module, token.label, token.pin, key_label=f"load-{secrets.token_hex(6)}", create=True
            )
            made += 1
        except BaseException as exc:
            errors.append(repr(exc))
    queue.put((made, errors[:5]))


@pytest.fixture(scope="module")
def token(tmp_path_factory: pytest.TempPathFactory) -> Token:
    require_softhsm()
    conf = shared_conf(tmp_path_factory)
    made = init_token(conf, f"load-{secrets.token_hex(4)}")
    from openkms.rootkey.pkcs11 import Pkcs11RootKey

    Pkcs11RootKey.open(made.module, made.label, made.pin, create=True)
    return made


def test_processes_with_threads_share_a_token_while_another_creates_objects(token: Token) -> None:
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(token, 4, queue)) for _ in range(3)]
    procs.append(ctx.Process(target=_creator, args=(token, queue)))
    for p in procs:
        p.start()
    results = [queue.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(timeout=30)
        assert p.exitcode == 0, "a process on the token crashed"
    assert all(not errors for _, errors in results), results
    assert all(count > 0 for count, _ in results), results


def _forked_child(root, blob: bytes, queue) -> None:  # type: ignore[no-untyped-def]
    try:
        queue.put(root.unwrap(blob, b"reset"))
    except BaseException as exc:
        queue.put(repr(exc))


def _reset_on_fork_parent(conf: str, token: Token, queue) -> None:  # type: ignore[no-untyped-def]
    """In a process of its own (SOFTHSM2_CONF is read when the library initialises): open the
    root, then fork two children that unwrap with it."""
    os.environ["SOFTHSM2_CONF"] = conf
    try:
        from openkms.rootkey.pkcs11 import Pkcs11RootKey

        root = Pkcs11RootKey.open(token.module, token.label, token.pin, create=True)
        kek = secrets.token_bytes(32)
        blob = root.wrap(kek, b"reset")
        fork = multiprocessing.get_context("fork")
        inner = fork.Queue()
        children = [fork.Process(target=_forked_child, args=(root, blob, inner)) for _ in range(2)]
        for c in children:
            c.start()
        got = [inner.get(timeout=30) for _ in children]
        for c in children:
            c.join(timeout=30)
        queue.put(
            ("ok" if got == [kek, kek] and root.unwrap(blob, b"reset") == kek else "bad", repr(got)[:300])
        )
    except BaseException as exc:
        queue.put(("error", repr(exc)))


def test_forked_workers_serve_with_reset_on_fork(tmp_path: Path) -> None:
    require_softhsm()
    directory = tmp_path / "reset"
    tokens = directory / "tokens"
    tokens.mkdir(parents=True)
    conf = directory / "softhsm2.conf"
    conf.write_text(
        f"directories.tokendir = {tokens}\nobjectstore.backend = file\nslots.removable = false\n"
        "library.reset_on_fork = true\nlog.level = ERROR\n"
    )
    made = init_token(conf, f"reset-{secrets.token_hex(4)}")
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    parent = ctx.Process(target=_reset_on_fork_parent, args=(str(conf), made, queue))
    parent.start()
    status, detail = queue.get(timeout=60)
    parent.join(timeout=30)
    assert status == "ok", detail
