"""The admin channel's answers (admin.py) and the limit of a Unix socket address."""

from __future__ import annotations

from pathlib import Path

from openkms import admin
from openkms.rootkey import Keyring, MemoryRootKey
from openkms.service.seal import Seal


def _file_like_seal() -> Seal:
    root = MemoryRootKey()
    return Seal(Keyring(root, {1: Keyring.new_kek(root, 1)}), "file", None, lambda r: None)


def test_malformed_and_unknown_requests_are_refused_and_change_nothing() -> None:
    seal = _file_like_seal()
    for line in (b"not json\n", b'{"no": "op"}\n', b'{"op": "explode"}\n', b'{"op": "unseal"}\n'):
        answer = admin._answer(seal, line)
        assert answer["Ok"] is False and answer["Sealed"] is False, line
    refused = admin._answer(seal, b'{"op": "seal"}\n')
    assert refused["Ok"] is False and "cannot be sealed" in refused["Message"]
    assert not seal.sealed


def test_a_data_directory_too_long_for_a_socket_address_is_told_apart() -> None:
    assert admin.path_fits(Path("/var/lib/openkms"))
    assert not admin.path_fits(Path("/" + "d" * 100))
