"""The kms root provider's parts that need no upstream (service/roots.py, rootkey/upstream.py,
service/auto_unseal.py): an upstream that cannot be reached is named without the credentials or
the request, a missing SDK says how to install it, settings missing are named, and the
background tries unseal a sealed node once the upstream answers."""

from __future__ import annotations

import socket
import sys
import threading
import time

import pytest

from openkms.config import Settings
from openkms.rootkey import Keyring, MemoryRootKey, RootKeyProvider
from openkms.rootkey.upstream import Upstream, UpstreamSdkMissing, UpstreamUnavailable
from openkms.service import roots
from openkms.service.auto_unseal import AutoUnseal
from openkms.service.roots import InitRequest, RootError, UnsealRefused
from openkms.service.seal import Seal

SECRET = "canary-secret-0123456789abcdef"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_an_unreachable_upstream_is_named_without_credentials_or_plaintext() -> None:
    up = Upstream(f"http://127.0.0.1:{_closed_port()}", "cn-hangzhou", "LTAIcanaryid", SECRET)
    key = b"\x07" * 32
    with pytest.raises(UpstreamUnavailable) as caught:
        up.encrypt("alias/root", key, {"openkms": "root"})
    text = str(caught.value)
    assert "cannot be reached" in text and "127.0.0.1" in text
    for leak in (SECRET, "LTAIcanaryid", "BwcHBwcH", "Plaintext"):
        assert leak not in text
    assert SECRET not in repr(up)


def test_a_missing_sdk_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "alibabacloud_kms20160120", None)
    up = Upstream("kms.example", "cn-hangzhou", "id", SECRET)
    with pytest.raises(UpstreamSdkMissing, match=r"openkms\[kms-unseal\]"):
        up.decrypt("blob", {})


def test_init_names_the_settings_it_lacks() -> None:
    provider = roots.PROVIDERS["kms"]
    with pytest.raises(RootError, match="kms_key_id"):
        provider.create(Settings(kms_endpoint="x", kms_access_key_id="a"), InitRequest())
    with pytest.raises(RootError, match="kms_endpoint"):
        provider.create(Settings(kms_key_id="alias/k", kms_endpoint=None), InitRequest())
    with pytest.raises(RootError, match="OPENKMS_KMS_ACCESS_KEY_SECRET"):
        provider.create(
            Settings(
                kms_key_id="alias/k", kms_endpoint="x", kms_access_key_id="a", kms_access_key_secret=None
            ),
            InitRequest(),
        )


class _FlakyUnsealer:
    """Refuses until ``answers`` is set; counts the tries."""

    threshold = 1
    automatic = True

    def __init__(self, root: RootKeyProvider) -> None:
        self.root = root
        self.answers = threading.Event()
        self.tries = 0

    def progress(self) -> int:
        return 0

    def submit(self, material: str) -> RootKeyProvider | None:
        self.tries += 1
        if not self.answers.is_set():
            raise UnsealRefused("the upstream KMS cannot be reached")
        return self.root

    def reset(self) -> None:
        pass


def test_auto_unseal_retries_until_the_upstream_answers(caplog: pytest.LogCaptureFixture) -> None:
    root = MemoryRootKey()
    kek = Keyring.new_kek(root, 1)
    keyring = Keyring.sealed()
    unsealer = _FlakyUnsealer(root)
    seal = Seal(keyring, "kms", unsealer, lambda r: keyring.load(r, {1: kek}))
    assert seal.automatic and seal.sealed
    auto = AutoUnseal(seal, max_wait=1.0)
    auto.start()
    try:
        time.sleep(2.5)
        assert seal.sealed and unsealer.tries >= 2
        assert caplog.text.count("still sealed") == unsealer.tries
        unsealer.answers.set()
        deadline = time.monotonic() + 5
        while seal.sealed and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not seal.sealed
    finally:
        auto.stop()
    tries = unsealer.tries
    time.sleep(1.5)
    assert unsealer.tries == tries  # done once unsealed


def test_providers_that_need_the_operator_are_not_automatic() -> None:
    keyring = Keyring.sealed()
    unsealer = roots.PROVIDERS["passphrase"].unsealer({"root_sealed": "AAAA"})
    assert not Seal(keyring, "passphrase", unsealer, lambda r: None).automatic
