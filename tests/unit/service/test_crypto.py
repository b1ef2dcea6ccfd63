"""Symmetric cryptography at the service level (service/crypto.py): round trips, tampering,
context binding and the hot path, fast enough to run thousands of decryptions."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import event

from openkms.domain import errors
from openkms.domain.ciphertext import MAX_PLAINTEXT_BYTES
from tests.support.inprocess import World

SPECS = ["Aliyun_AES_256", "Aliyun_AES_192", "Aliyun_AES_128", "Aliyun_SM4"]
contexts = st.dictionaries(st.text(max_size=8), st.text(max_size=8), max_size=4)
FEW = settings(max_examples=15, deadline=None)


def _flip_bit(raw: bytes, i: int) -> bytes:
    out = bytearray(raw)
    out[i // 8] ^= 1 << (i % 8)
    return bytes(out)


@pytest.fixture(scope="module")
def keys(shared_world: World) -> dict[str, str]:
    return {spec: shared_world.create_key(spec).key_id for spec in SPECS}


@FEW
@given(spec=st.sampled_from(SPECS), text=st.text(max_size=300), context=contexts, data=st.data())
def test_round_trip_any_spec_text_and_context(
    shared_world: World, keys: dict[str, str], spec: str, text: str, context: dict[str, str], data: st.DataObject
) -> None:
    """Any text under any symmetric spec decrypts to itself with the context in any key order."""
    try:
        plaintext = text.encode("utf-8")
    except UnicodeEncodeError:
        return
    sealed = shared_world.services.symmetric.encrypt(shared_world.scope, keys[spec], plaintext, context)
    reordered = dict(data.draw(st.permutations(list(context.items()))))
    opened = shared_world.services.symmetric.decrypt(shared_world.scope, sealed.blob, reordered)
    assert (opened.key_id, opened.version_id, opened.plaintext) == (keys[spec], sealed.version_id, plaintext)


@settings(max_examples=8, deadline=None)
@given(spec=st.sampled_from(SPECS), data=st.binary(min_size=1, max_size=16), context=contexts)
def test_every_single_bit_flip_is_refused(shared_world: World, keys: dict[str, str], spec: str, data: bytes, context: dict[str, str]) -> None:
    """Flipping any one bit of a blob (its bytes, or its Base64 text) is InvalidCiphertext (S1)."""
    blob = shared_world.services.symmetric.encrypt(shared_world.scope, keys[spec], data, context).blob
    raw = base64.b64decode(blob)
    tampered = [base64.b64encode(_flip_bit(raw, i)).decode() for i in range(len(raw) * 8)]
    tampered += [_flip_bit(blob.encode(), i).decode("latin-1") for i in range(len(blob) * 8)]
    for text in tampered:
        if text == blob:
            continue
        with pytest.raises(errors.InvalidCiphertext):
            shared_world.services.symmetric.decrypt(shared_world.scope, text, context)


def test_truncation_and_extension_are_refused(shared_world: World, keys: dict[str, str]) -> None:
    """Every prefix of a blob, and the blob with a byte added, is InvalidCiphertext (S2)."""
    raw = base64.b64decode(shared_world.services.symmetric.encrypt(shared_world.scope, keys["Aliyun_AES_256"], b"0123456789", {}).blob)
    for cut in range(len(raw)):
        with pytest.raises(errors.InvalidCiphertext):
            shared_world.services.symmetric.decrypt(shared_world.scope, base64.b64encode(raw[:cut]).decode(), {})
    for extra in (b"\x00", b"\xff"):
        with pytest.raises(errors.InvalidCiphertext):
            shared_world.services.symmetric.decrypt(shared_world.scope, base64.b64encode(raw + extra).decode(), {})


@pytest.mark.parametrize(
    "other",
    [{}, {"a": "1"}, {"a": "1", "b": "2", "c": "3"}, {"a": "1", "b": "3"}, {"A": "1", "b": "2"}, {"a ": "1", "b": "2"}],
)
def test_context_must_match_exactly(shared_world: World, keys: dict[str, str], other: dict[str, str]) -> None:
    """A missing, extra, changed or differently-cased pair is InvalidCiphertext (S3)."""
    blob = shared_world.services.symmetric.encrypt(shared_world.scope, keys["Aliyun_SM4"], b"x", {"a": "1", "b": "2"}).blob
    with pytest.raises(errors.InvalidCiphertext):
        shared_world.services.symmetric.decrypt(shared_world.scope, blob, other)


def test_relabelled_header_is_refused(shared_world: World, keys: dict[str, str]) -> None:
    """A blob whose version id is replaced by another key's version does not decrypt (S4)."""
    a = base64.b64decode(shared_world.services.symmetric.encrypt(shared_world.scope, keys["Aliyun_AES_256"], b"x", {}).blob)
    b = shared_world.services.symmetric.encrypt(shared_world.scope, keys["Aliyun_AES_128"], b"x", {})
    moved = base64.b64encode(b.version_id.encode() + a[36:]).decode()
    with pytest.raises(errors.InvalidCiphertext):
        shared_world.services.symmetric.decrypt(shared_world.scope, moved, {})


def test_unknown_version_is_a_bad_blob(shared_world: World, keys: dict[str, str]) -> None:
    """A well-formed blob naming a version nobody made is InvalidCiphertext, not a 404."""
    raw = base64.b64decode(shared_world.services.symmetric.encrypt(shared_world.scope, keys["Aliyun_AES_256"], b"x", {}).blob)
    forged = base64.b64encode(b"00000000-0000-4000-8000-000000000000" + raw[36:]).decode()
    with pytest.raises(errors.InvalidCiphertext):
        shared_world.services.symmetric.decrypt(shared_world.scope, forged, {})


def test_blob_naming_an_asymmetric_version_is_a_bad_blob(shared_world: World) -> None:
    """A symmetric blob header naming an RSA key's version is InvalidCiphertext."""
    rsa = shared_world.create_key("RSA_2048")
    assert rsa.primary_version_id is not None
    forged = base64.b64encode(rsa.primary_version_id.encode() + bytes(40)).decode()
    with pytest.raises(errors.InvalidCiphertext):
        shared_world.services.symmetric.decrypt(shared_world.scope, forged, {})


def test_encrypt_with_an_asymmetric_key_is_unsupported(shared_world: World) -> None:
    """Encrypt and GenerateDataKey with a non-symmetric key: Rejected.UnsupportedOperation."""
    for spec in ("RSA_2048", "EC_P256"):
        key_id = shared_world.create_key(spec).key_id
        with pytest.raises(errors.UnsupportedOperation):
            shared_world.services.symmetric.encrypt(shared_world.scope, key_id, b"x", {})
        with pytest.raises(errors.UnsupportedOperation):
            shared_world.services.symmetric.generate_data_key(shared_world.scope, key_id, 32, {})


def test_data_key_blob_decrypts_to_the_base64_text(shared_world: World, keys: dict[str, str]) -> None:
    """Decrypt of a data-key blob answers exactly GenerateDataKey's Plaintext."""
    for length in (1, 16, 32, 1024):
        sealed, text = shared_world.services.symmetric.generate_data_key(shared_world.scope, keys["Aliyun_AES_256"], length, {"k": "v"})
        assert length == len(base64.b64decode(text))
        assert text.encode() == shared_world.services.symmetric.decrypt(shared_world.scope, sealed.blob, {"k": "v"}).plaintext


def test_largest_plaintext_round_trips(shared_world: World, keys: dict[str, str]) -> None:
    """A 6144-byte plaintext encrypts and decrypts (the longest blob parses)."""
    data = b"z" * MAX_PLAINTEXT_BYTES
    blob = shared_world.services.symmetric.encrypt(shared_world.scope, keys["Aliyun_SM4"], data, {}).blob
    assert data == shared_world.services.symmetric.decrypt(shared_world.scope, blob, {}).plaintext


def test_hot_path_writes_nothing(shared_world: World, keys: dict[str, str]) -> None:
    """Encrypt, Decrypt, ReEncrypt and GenerateDataKey issue no write to the key database."""
    statements: list[str] = []

    def record(_conn, _cursor, statement, *_args) -> None:  # type: ignore[no-untyped-def]
        statements.append(statement.split()[0].upper())

    engine = shared_world.dep.db.engine
    event.listen(engine, "before_cursor_execute", record)
    # The hot path reads on its own raw connection (Database.first), outside the engine's events.
    shared_world.dep.db.set_trace(lambda statement: record(None, None, statement))
    try:
        sym = shared_world.services.symmetric
        blob = sym.encrypt(shared_world.scope, keys["Aliyun_AES_256"], b"x", {}).blob
        sym.decrypt(shared_world.scope, blob, {})
        sym.reencrypt(shared_world.scope, blob, {}, keys["Aliyun_SM4"], {})
        sym.generate_data_key(shared_world.scope, keys["Aliyun_AES_128"], 32, {})
    finally:
        event.remove(engine, "before_cursor_execute", record)
        shared_world.dep.db.set_trace(None)
    assert statements
    assert set() == {s for s in statements if s in ("INSERT", "UPDATE", "DELETE", "REPLACE")}


def test_disable_takes_effect_at_once(shared_world: World) -> None:
    """Key state is kept only until the node writes: the next Encrypt after DisableKey is refused
    (same node)."""
    key_id = shared_world.create_key().key_id
    blob = shared_world.services.symmetric.encrypt(shared_world.scope, key_id, b"x", {}).blob
    shared_world.services.lifecycle.disable_key(shared_world.scope, key_id)
    with pytest.raises(errors.KeyDisabled):
        shared_world.services.symmetric.encrypt(shared_world.scope, key_id, b"x", {})
    with pytest.raises(errors.KeyDisabled):
        shared_world.services.symmetric.decrypt(shared_world.scope, blob, {})
    shared_world.services.lifecycle.enable_key(shared_world.scope, key_id)
    assert shared_world.services.symmetric.decrypt(shared_world.scope, blob, {}).plaintext == b"x"


def test_dry_run_checks_then_stops(shared_world: World, keys: dict[str, str]) -> None:
    """DryRun passes every check and then raises DryRunSucceeded; a state error still wins."""
    with pytest.raises(errors.DryRunSucceeded):
        shared_world.services.symmetric.encrypt(shared_world.scope, keys["Aliyun_AES_256"], b"x", {}, dry_run=True)
    key_id = shared_world.create_key().key_id
    shared_world.services.lifecycle.disable_key(shared_world.scope, key_id)
    with pytest.raises(errors.KeyDisabled):
        shared_world.services.symmetric.encrypt(shared_world.scope, key_id, b"x", {}, dry_run=True)


def test_material_cache_is_bounded_by_its_setting(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each process keeps at most ``material_cache`` unwrapped versions, least recently used out
    first; an evicted version is read and unwrapped again, and still encrypts correctly."""
    from openkms.service.caches import CacheBounds
    from openkms.service.context import build_services
    from openkms.store import versions

    services = build_services(world.dep, CacheBounds(material_cache=2))
    ks, sym = services.keys, services.symmetric
    made = [world.create_key() for _ in range(3)]
    reads: list[str] = []
    real = versions.material
    monkeypatch.setattr(versions, "material", lambda db, v: reads.append(v) or real(db, v))
    keys = [ks.get(world.scope, k.key_id) for k in made]
    for key in [keys[0], keys[1], keys[0], keys[2], keys[1], keys[0]]:
        sealed = sym.seal(key, b"x", {})
        assert sym.decrypt(world.scope, sealed.blob, {}).plaintext == b"x"
    # 0, 1 miss; 0 hits; 2 misses and evicts 1; 1 misses and evicts 0; 0 misses.
    assert reads == [k.primary_version_id for k in (keys[0], keys[1], keys[2], keys[1], keys[0])]
    assert len(services.caches.material) == 2
