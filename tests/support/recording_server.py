"""openkms with a recorder on every source of secret bytes, for the no-plaintext-at-rest scan
(S11). Each value is appended, hex-encoded with its kind, to the file named by
``OPENKMS_TEST_RECORD``:

* ``material``  what ``crypto.keygen.generate`` returns (symmetric keys, private keys in DER);
* ``random``    every ``os.urandom`` draw of 16 bytes or more (key material, data keys; IVs and
                GCM nonces are 12 bytes, not secret, and stored in every blob);
* ``root``      the root key as read from its file;
* ``wrap-key`` / ``wrap-plaintext``  the key and the plaintext of every ``crypto.aead.seal``
                (KEKs under the root, material under KEKs, AccessKey secrets);
* ``blob-key`` / ``blob-plaintext``  the material and the plaintext of every CiphertextBlob
                sealed by ``crypto.blob.seal`` (Encrypt plaintexts, data keys as text, secret values).

Values shorter than 16 bytes are not recorded (they could match by chance). The server is
otherwise unchanged; the patches apply at import, in uvicorn's worker processes too. Never used
outside tests.
"""

from __future__ import annotations

import os
import sys
import threading
from typing import Any

from openkms import cli
from openkms.crypto import aead, blob, keygen
from openkms.rootkey import file as rootfile

MIN_LEN = 16
_path = os.environ.get("OPENKMS_TEST_RECORD", "")
_lock = threading.Lock()


def record(kind: str, value: bytes) -> None:
    if not _path or len(value) < MIN_LEN:
        return
    with _lock, open(_path, "a") as out:
        out.write(f"{kind} {value.hex()}\n")


_urandom = os.urandom
_generate = keygen.generate
_seal = aead.seal
_blob_seal = blob.seal
_read = rootfile.read


def _recording_urandom(n: int) -> bytes:
    value = _urandom(n)
    record("random", value)
    return value


def _recording_generate(spec: Any) -> tuple[bytes, bytes | None]:
    private, public = _generate(spec)
    record("material", private)
    return private, public


def _recording_seal(key: bytes, plaintext: bytes, aad: bytes) -> bytes:
    record("wrap-key", key)
    record("wrap-plaintext", plaintext)
    return _seal(key, plaintext, aad)


def _recording_blob_seal(cipher: str, material: bytes, info: bytes, plaintext: bytes, aad: bytes,
                         iv: bytes | None = None) -> tuple[bytes, bytes]:
    record("blob-key", material)
    record("blob-plaintext", plaintext)
    return _blob_seal(cipher, material, info, plaintext, aad, iv)


def _recording_read(path: Any) -> bytes:
    key = _read(path)
    record("root", key)
    return key


os.urandom = _recording_urandom
keygen.generate = _recording_generate
aead.seal = _recording_seal
blob.seal = _recording_blob_seal
rootfile.read = _recording_read

if __name__ == "__main__":
    sys.exit(cli.main())
