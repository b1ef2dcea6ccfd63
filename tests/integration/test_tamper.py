"""Tampering through the wire: a CiphertextBlob with any bit flipped, cut or
extended, a header relabelled to another key or version, wrapped material moved to another
key's row in the database, an EncryptionContext missing, extra, changed, re-cased or with a
duplicated key. Every one is refused with an Alibaba error; none is a 500; none answers another
key's plaintext."""

from __future__ import annotations

import base64
import json
import sqlite3
import unicodedata
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.calls import SDK
from tests.support.clients import RawSigner
from tests.support.keys import new_key
from tests.support.server import ServerProcess, running

BAD_BLOB = ("InvalidParameter", 400, 'The specified parameter "CiphertextBlob" is not valid.')
UNAVAILABLE = ("Rejected.Unavailable", 409)


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[ServerProcess]:
    """A server of the test's own on SQLite, always: these tests edit rows of its database file."""
    with running(ServerProcess(tmp_path / "data")) as srv:
        yield srv


def _raw_decrypt(raw: RawSigner, blob_bytes: bytes, context: str | None = None) -> tuple[int, str, str]:
    params = {"CiphertextBlob": base64.b64encode(blob_bytes).decode()}
    if context is not None:
        params["EncryptionContext"] = context
    resp = raw.v1("Decrypt", params)
    body = resp.json()
    return resp.status, body.get("Code", ""), body.get("Message", body.get("Plaintext", ""))


def test_every_bit_flip_cut_and_extension_is_refused_on_the_wire(raw: RawSigner, server: ServerProcess) -> None:
    """Every one of a blob's bit flips, every prefix and two extensions: 400 InvalidParameter (S1, S2)."""
    key_id = new_key(SDK("tea", server.endpoint), "Aliyun_SM4")
    context = json.dumps({"purpose": "tamper"})
    sealed = raw.v1("Encrypt", {"KeyId": key_id, "Plaintext": "attack at dawn", "EncryptionContext": context}).json()
    blob = base64.b64decode(sealed["CiphertextBlob"])
    assert _raw_decrypt(raw, blob, context)[::2] == (200, "attack at dawn")
    variants = []
    for i in range(len(blob) * 8):
        flipped = bytearray(blob)
        flipped[i // 8] ^= 1 << (i % 8)
        variants.append(bytes(flipped))
    variants += [blob[:cut] for cut in range(1, len(blob))]
    variants += [blob + b"\x00", blob + b"\xff"]
    answers: dict[tuple[str, int, str], int] = {}
    for variant in variants:
        status, code, message = _raw_decrypt(raw, variant, context)
        answers[(code, status, message)] = answers.get((code, status, message), 0) + 1
    assert {BAD_BLOB: len(variants)} == answers
    # The empty prefix is an empty parameter, which Alibaba reports as missing.
    assert _raw_decrypt(raw, b"", context)[1::-1] == ("MissingParameter", 400)


def test_header_relabelled_to_another_key_or_version_is_refused(sdk: SDK) -> None:
    """A blob whose version id names another key (any spec) or another version of its key is a bad blob (S4)."""
    key_id = new_key(sdk)
    old_version = sdk.call("DescribeKey", KeyId=key_id)["KeyMetadata"]["PrimaryKeyVersion"]
    blob = base64.b64decode(sdk.call("Encrypt", KeyId=key_id, Plaintext="mine", EncryptionContext={"c": "1"})["CiphertextBlob"])
    new_version = sdk.call("CreateKeyVersion", KeyId=key_id)["KeyVersion"]["KeyVersionId"]
    others = [new_version]
    for spec in ("Aliyun_AES_256", "Aliyun_AES_128", "Aliyun_SM4"):
        other = new_key(sdk, spec)
        others.append(sdk.call("DescribeKey", KeyId=other)["KeyMetadata"]["PrimaryKeyVersion"])
    assert old_version.encode() == blob[:36]
    for version in others:
        relabelled = base64.b64encode(version.encode() + blob[36:]).decode()
        error = sdk.error("Decrypt", CiphertextBlob=relabelled, EncryptionContext={"c": "1"})
        assert (error.code, error.status, error.message) == BAD_BLOB, version
    # The original still decrypts under its (now older) version.
    opened = sdk.call("Decrypt", CiphertextBlob=base64.b64encode(blob).decode(), EncryptionContext={"c": "1"})
    assert (old_version, "mine") == (opened["KeyVersionId"], opened["Plaintext"])


def _version_row(db: Path, version_id: str) -> tuple[bytes, int]:
    with sqlite3.connect(db) as conn:
        row = conn.execute(
            "SELECT material_wrapped, kek_version FROM key_versions WHERE version_id = ?", (version_id,)
        ).fetchone()
    return bytes(row[0]), int(row[1])


def _put_version_row(db: Path, version_id: str, wrapped: bytes, kek_version: int) -> None:
    conn = sqlite3.connect(db)
    try:
        with conn:
            conn.execute(
                "UPDATE key_versions SET material_wrapped = ?, kek_version = ? WHERE version_id = ?",
                (wrapped, kek_version, version_id),
            )
    finally:
        conn.close()


def _copy_material(srv: ServerProcess, source: str, target: str) -> None:
    """With ``srv`` stopped, copy version ``source``'s wrapped material over version ``target``'s row; restart."""
    srv.stop()
    db = srv.data_dir / "openkms.db"
    _put_version_row(db, target, *_version_row(db, source))
    srv.start()


def test_wrapped_material_moved_to_another_key_makes_that_key_unusable(own_server: ServerProcess) -> None:
    """Key A's wrapped material copied into key B's row: B answers 409 Rejected.Unavailable to every
    use, never A's plaintext and never a 500; A and B's metadata are untouched (S5)."""
    tea = SDK("tea", own_server.endpoint)
    a, b = new_key(tea), new_key(tea)
    blob_a = tea.call("Encrypt", KeyId=a, Plaintext="secret of A")["CiphertextBlob"]
    blob_b = tea.call("Encrypt", KeyId=b, Plaintext="secret of B")["CiphertextBlob"]
    version_a = base64.b64decode(blob_a)[:36].decode()
    version_b = base64.b64decode(blob_b)[:36].decode()
    # A's body under B's header: if B had silently become A, this would open to A's plaintext.
    a_under_b = base64.b64encode(version_b.encode() + base64.b64decode(blob_a)[36:]).decode()
    _copy_material(own_server, version_a, version_b)
    for name in ("tea", "old"):
        sdk = SDK(name, own_server.endpoint)
        for action, params in [
            ("Decrypt", {"CiphertextBlob": blob_b}),
            ("Decrypt", {"CiphertextBlob": a_under_b}),
            ("Encrypt", {"KeyId": b, "Plaintext": "x"}),
            ("GenerateDataKey", {"KeyId": b}),
            ("ReEncrypt", {"CiphertextBlob": blob_a, "DestinationKeyId": b}),
        ]:
            error = sdk.error(action, **params)
            assert (error.code, error.status) == UNAVAILABLE, (name, action)
        assert sdk.call("DescribeKey", KeyId=b)["KeyMetadata"]["KeyState"] == "Enabled"
        assert sdk.call("Decrypt", CiphertextBlob=blob_a)["Plaintext"] == "secret of A"
    own_server.stop()  # log lines are written in batches; an orderly exit writes the rest
    assert f"key {b} version {version_b}: stored material failed authentication" in own_server.log()
    assert "InternalFailure" not in own_server.log()


def test_material_swapped_between_versions_of_one_key_is_refused(own_server: ServerProcess) -> None:
    """Version 1's wrapped material copied over version 2 of the same key: version 2 is unavailable,
    version 1 still decrypts (the AAD names the version, not only the key)."""
    tea = SDK("tea", own_server.endpoint)
    key_id = new_key(tea)
    first = tea.call("Encrypt", KeyId=key_id, Plaintext="one")["CiphertextBlob"]
    tea.call("CreateKeyVersion", KeyId=key_id)
    second = tea.call("Encrypt", KeyId=key_id, Plaintext="two")["CiphertextBlob"]
    v1, v2 = (base64.b64decode(b)[:36].decode() for b in (first, second))
    assert v1 != v2
    _copy_material(own_server, v1, v2)
    error = tea.error("Decrypt", CiphertextBlob=second)
    assert (error.code, error.status) == UNAVAILABLE
    error = tea.error("Encrypt", KeyId=key_id, Plaintext="x")  # the primary is version 2
    assert (error.code, error.status) == UNAVAILABLE
    assert tea.call("Decrypt", CiphertextBlob=first)["Plaintext"] == "one"


def test_flipped_bit_in_stored_material_makes_the_key_unusable(own_server: ServerProcess) -> None:
    """One bit flipped in a key's wrapped material at rest: 409 Rejected.Unavailable, not a 500."""
    tea = SDK("tea", own_server.endpoint)
    key_id = new_key(tea)
    blob = tea.call("Encrypt", KeyId=key_id, Plaintext="p")["CiphertextBlob"]
    version = base64.b64decode(blob)[:36].decode()
    own_server.stop()
    db = own_server.data_dir / "openkms.db"
    wrapped, kek = _version_row(db, version)
    _put_version_row(db, version, wrapped[:-1] + bytes([wrapped[-1] ^ 1]), kek)
    own_server.start()
    for name in ("tea", "old"):
        error = SDK(name, own_server.endpoint).error("Decrypt", CiphertextBlob=blob)
        assert (error.code, error.status) == UNAVAILABLE


CONTEXT = {"Bucket": "photos", "Object": "café.jpg"}


def _sealed_under_context(raw: RawSigner, server: ServerProcess) -> str:
    """The CiphertextBlob of "p" under a new key of ``server`` and the EncryptionContext CONTEXT."""
    key_id = new_key(SDK("tea", server.endpoint))
    return str(raw.v1("Encrypt", {"KeyId": key_id, "Plaintext": "p", "EncryptionContext": json.dumps(CONTEXT)}).json()["CiphertextBlob"])


@pytest.mark.parametrize(
    ("label", "text"),
    [
        ("missing", None),
        ("empty", "{}"),
        ("one pair missing", json.dumps({"Bucket": "photos"})),
        ("extra pair", json.dumps({**CONTEXT, "x": ""})),
        ("changed value", json.dumps({**CONTEXT, "Bucket": "photoz"})),
        ("re-cased key", json.dumps({"bucket": "photos", "Object": "café.jpg"})),
        ("re-cased value", json.dumps({"Bucket": "Photos", "Object": "café.jpg"})),
        ("trailing space", json.dumps({"Bucket": "photos ", "Object": "café.jpg"})),
        ("NFD spelling", json.dumps({"Bucket": "photos", "Object": unicodedata.normalize("NFD", "café.jpg")})),
    ],
)
def test_decrypt_with_a_different_context_is_a_bad_blob(raw: RawSigner, server: ServerProcess, label: str, text: str | None) -> None:
    """Any context that is not the same map of strings: 400 naming CiphertextBlob, as any bad blob (S3)."""
    blob = _sealed_under_context(raw, server)
    status, code, message = _raw_decrypt(raw, base64.b64decode(blob), text)
    assert (code, status, message) == BAD_BLOB, label


@pytest.mark.parametrize(
    "text",
    [
        '{"Bucket":"photos","Object":"café.jpg","Bucket":"photos"}',
        '{"Bucket":"other","Object":"café.jpg","Bucket":"photos"}',
        '{"Bucket":"photos","Bucket":"other","Object":"café.jpg"}',
        '{"Bucket":"photos","Object":["café.jpg"]}',
        '{"Bucket":"photos","Object":null}',
    ],
)
def test_duplicated_or_non_string_context_is_refused_on_decrypt(raw: RawSigner, server: ServerProcess, text: str) -> None:
    """A duplicated key (either value last) or a non-string value on Decrypt: 400 naming EncryptionContext,
    never decrypted by taking one of the duplicates (S3)."""
    blob = _sealed_under_context(raw, server)
    status, code, message = _raw_decrypt(raw, base64.b64decode(blob), text)
    assert (status, code) == (400, "InvalidParameter")
    assert "EncryptionContext" in message
    error = SDK("old", server.endpoint).error("Decrypt", CiphertextBlob=blob, EncryptionContext=text)
    assert (error.code, error.status) == ("InvalidParameter", 400)


@pytest.mark.parametrize(
    "text",
    [
        json.dumps({"Object": "café.jpg", "Bucket": "photos"}),
        '{ "Bucket" : "photos" ,\n "Object" : "caf\\u00e9.jpg" }',
        json.dumps(CONTEXT, ensure_ascii=True),
    ],
)
def test_same_map_spelled_differently_decrypts(raw: RawSigner, server: ServerProcess, text: str) -> None:
    """The context is a map: key order, JSON whitespace and \\u escapes do not change it (S3)."""
    blob = _sealed_under_context(raw, server)
    assert _raw_decrypt(raw, base64.b64decode(blob), text)[::2] == (200, "p")
