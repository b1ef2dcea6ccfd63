"""The sealed state of one process (service/seal.py): a sealed keyring raises Sealed (503), a
wrong passphrase or share set keeps it sealed, partial shares expire, sealing drops caches."""

from __future__ import annotations

from pathlib import Path

import pytest

from openkms.api.errors import to_wire
from openkms.config import Settings
from openkms.domain.errors import Sealed
from openkms.rootkey import Keyring, MemoryRootKey
from openkms.rootkey.keyring import material_aad
from openkms.service import roots
from openkms.service.caches import CacheBounds, Caches
from openkms.service.deployment import StartupError, init_deployment, open_deployment
from openkms.service.roots import InitRequest, UnsealRefused

PASSPHRASE = b"twelve chars or more"


def test_a_sealed_keyring_raises_sealed_which_answers_503() -> None:
    root = MemoryRootKey()
    ring = Keyring(root, {1: Keyring.new_kek(root, 1)})
    _, blob = ring.wrap(b"material", material_aad("k", "v", "Aliyun_AES_256", 1))
    ring.wipe()
    assert ring.is_sealed and repr(ring) == "Keyring(sealed)"
    for use in (
        lambda: ring.current,
        lambda: ring.unwrap(1, blob, material_aad("k", "v", "Aliyun_AES_256", 1)),
        lambda: ring.wrap(b"x", b"aad"),
        lambda: ring.seal_for(b"label", b"x", b"aad"),
        lambda: ring.digest(b"label", b"x"),
    ):
        with pytest.raises(Sealed):
            use()
    answer = to_wire(Sealed())
    assert (answer.http_status, answer.code) == (503, "ServiceUnavailableTemporary")
    assert "sealed" in str(answer)


def _deployment(tmp_path: Path, provider: str, request: InitRequest):  # type: ignore[no-untyped-def]
    settings = Settings(data_dir=tmp_path / "d", root_provider=provider)
    dep, pair = init_deployment(settings, root=request)
    dep.close()
    return open_deployment(Settings(data_dir=tmp_path / "d")), pair


def test_passphrase_deployment_opens_sealed_and_unseals(tmp_path: Path) -> None:
    dep, _ = _deployment(tmp_path, "passphrase", InitRequest(passphrase=PASSPHRASE))
    try:
        assert dep.sealed and dep.seal is not None and dep.seal.can_unseal
        with pytest.raises(UnsealRefused, match="wrong passphrase"):
            dep.seal.submit("not the passphrase!")
        assert dep.sealed
        assert not dep.seal.submit(PASSPHRASE.decode()).sealed
        assert dep.keyring.current == 1
        caches = Caches(None, CacheBounds())
        caches.material.put("v", (b"secret", None))
        dep.seal.on_seal.append(caches.drop_secrets)
        assert dep.seal.seal().sealed and len(caches.material) == 0
    finally:
        dep.close()


def test_short_passphrase_and_wrong_provider_are_refused(tmp_path: Path) -> None:
    with pytest.raises(StartupError, match="at least 12"):
        init_deployment(Settings(data_dir=tmp_path / "a", root_provider="passphrase"), root=InitRequest(passphrase=b"short"))
    with pytest.raises(StartupError, match="unknown root provider"):
        init_deployment(Settings(data_dir=tmp_path / "b", root_provider="tpm"))
    dep, _ = _deployment(tmp_path, "passphrase", InitRequest(passphrase=PASSPHRASE))
    dep.close()
    with pytest.raises(StartupError, match="root of trust is the passphrase provider"):
        open_deployment(Settings(data_dir=tmp_path / "d", root_provider="shamir"))


def test_shamir_partial_shares_expire(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    dep, pair = _deployment(tmp_path, "shamir", InitRequest(shares=3, threshold=2))
    try:
        assert dep.seal is not None and len(pair.shares) == 3
        now = [1000.0]
        unsealer = dep.seal._unsealer
        assert unsealer is not None
        monkeypatch.setattr(unsealer, "_clock", lambda: now[0])
        assert dep.seal.submit(pair.shares[0]).progress == 1
        now[0] += roots.SHARE_TIMEOUT + 1
        assert dep.seal.status().progress == 0  # forgotten
        assert dep.seal.submit(pair.shares[1]).sealed  # counts as the first again
        assert not dep.seal.submit(pair.shares[2]).sealed
    finally:
        dep.close()


def test_init_over_a_deployment_writes_no_root_key_file(tmp_path: Path) -> None:
    init_deployment(Settings(data_dir=tmp_path / "d"))[0].close()
    typo = tmp_path / "typo.key"
    with pytest.raises(StartupError, match="holds a deployment already"):
        init_deployment(Settings(data_dir=tmp_path / "d", root_key_file=typo))
    assert not typo.exists()
