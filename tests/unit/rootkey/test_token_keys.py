"""HSM key versions kept by a SoftHSM2 token of this test run (skipped without SoftHSM2): made in
the token and handed out only wrapped, used as non-extractable session objects, evicted objects
destroyed, refusals mapped, and the mechanism list deciding which specs a token can keep."""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterator

import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from openkms.crypto import aead
from tests.support.softhsm import Token, init_token, require_softhsm, shared_conf

pytestmark = pytest.mark.pkcs11


@pytest.fixture(scope="module")
def token(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Token]:
    require_softhsm()
    conf = shared_conf(tmp_path_factory)
    yield init_token(conf, f"hsmk-{secrets.token_hex(4)}")


@pytest.fixture(scope="module")
def keeper(token: Token):  # type: ignore[no-untyped-def]
    from openkms.rootkey.token_keys import TokenKeys

    keys = TokenKeys(token.module, token.label, token.pin, max_held=3)
    keys.ensure_master()
    return keys


def _session_objects(token: Token) -> int:
    from pkcs11 import Attribute, ObjectClass

    from openkms.rootkey.pkcs11 import holding

    with holding(token.module, token.label, token.pin) as hold:
        found = hold.session.get_objects({Attribute.CLASS: ObjectClass.SECRET_KEY, Attribute.TOKEN: False})
        return len(list(found))


def test_a_version_round_trips_in_the_token_and_a_wrong_aad_or_tag_fails(keeper) -> None:  # type: ignore[no-untyped-def]
    wrapped = keeper.generate("Aliyun_AES_256")[0]
    assert len(wrapped) == 16 + 40  # the master's id, then RFC 5649 of 32 bytes
    nonce = secrets.token_bytes(12)
    sealed = keeper.seal("v-round", wrapped, nonce, b"attack at dawn", b"aad")
    assert len(sealed) == len(b"attack at dawn") + 16
    assert keeper.open("v-round", wrapped, nonce, sealed, b"aad") == b"attack at dawn"
    with pytest.raises(aead.NotAuthentic):
        keeper.open("v-round", wrapped, nonce, sealed, b"other aad")
    flipped = bytearray(sealed)
    flipped[-1] ^= 1
    with pytest.raises(aead.NotAuthentic):
        keeper.open("v-round", wrapped, nonce, bytes(flipped), b"aad")
    # Nothing the process holds is the key: no 32-byte window of the wrap opens the blob.
    for start in range(len(wrapped) - 31):
        with pytest.raises(InvalidTag):
            AESGCM(wrapped[start : start + 32]).decrypt(nonce, sealed, b"aad")


def test_each_version_has_its_own_key_and_a_tampered_wrap_is_refused(keeper) -> None:  # type: ignore[no-untyped-def]
    from openkms.rootkey.token_keys import TokenRefused

    one, two = keeper.generate("Aliyun_AES_128")[0], keeper.generate("Aliyun_AES_128")[0]
    assert one != two
    nonce = secrets.token_bytes(12)
    sealed = keeper.seal("v-one", one, nonce, b"x", b"")
    with pytest.raises(aead.NotAuthentic):
        keeper.open("v-two", two, nonce, sealed, b"")
    bad = bytearray(keeper.generate("Aliyun_AES_192")[0])
    bad[-1] ^= 1
    with pytest.raises(TokenRefused):
        keeper.seal("v-bad", bytes(bad), nonce, b"x", b"")
    with pytest.raises(TokenRefused):
        keeper.seal("v-other-master", secrets.token_bytes(16) + bytes(bad[16:]), nonce, b"x", b"")


def test_the_unwrapped_key_can_be_neither_read_nor_wrapped_out(keeper) -> None:  # type: ignore[no-untyped-def]
    import pkcs11
    from pkcs11 import Attribute, Mechanism

    wrapped = keeper.generate("Aliyun_AES_256")[0]
    keeper.seal("v-held", wrapped, secrets.token_bytes(12), b"x", b"")
    held = keeper.held_object("v-held")
    assert held is not None
    assert held[Attribute.SENSITIVE] and not held[Attribute.EXTRACTABLE] and not held[Attribute.TOKEN]
    with pytest.raises(pkcs11.AttributeSensitive):
        held[Attribute.VALUE]
    from openkms.rootkey.pkcs11 import holding

    with holding(keeper._module, keeper._token_label, keeper._pin) as hold:
        master = keeper._master(hold, wrapped[:16])
        with pytest.raises(pkcs11.KeyUnextractable):
            master.wrap_key(held, mechanism=Mechanism.AES_KEY_WRAP_PAD)
        with pytest.raises(pkcs11.AttributeSensitive):
            master[Attribute.VALUE]


def test_evicted_objects_are_destroyed_and_making_a_version_leaves_none(token: Token, keeper) -> None:  # type: ignore[no-untyped-def]
    before = _session_objects(token)
    wraps = [keeper.generate("Aliyun_AES_256")[0] for _ in range(5)]
    assert _session_objects(token) == before  # the generated copies are destroyed after wrapping
    nonce = secrets.token_bytes(12)
    sealed = [keeper.seal(f"v-lru-{i}", w, nonce, b"p", b"") for i, w in enumerate(wraps)]
    assert _session_objects(token) <= 3  # max_held
    for i, w in enumerate(wraps):  # evicted versions are unwrapped again
        assert keeper.open(f"v-lru-{i}", w, nonce, sealed[i], b"") == b"p"
    assert _session_objects(token) <= 3


def test_threads_of_one_process_share_the_token(keeper) -> None:  # type: ignore[no-untyped-def]
    wraps = [keeper.generate("Aliyun_AES_256")[0] for _ in range(4)]
    failures: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(150):
                which = (n + i) % len(wraps)
                nonce = secrets.token_bytes(12)
                text = f"{n}-{i}".encode()
                sealed = keeper.seal(f"v-thread-{which}", wraps[which], nonce, text, b"t")
                assert keeper.open(f"v-thread-{which}", wraps[which], nonce, sealed, b"t") == text
        except BaseException as exc:  # reported below
            failures.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []


def test_the_mechanism_list_decides_which_specs_a_token_keeps(keeper) -> None:  # type: ignore[no-untyped-def]
    import pkcs11

    from openkms.rootkey.token_keys import missing_mechanisms

    offered = keeper.mechanisms()
    assert int(pkcs11.Mechanism.AES_GCM) in offered
    assert missing_mechanisms("Aliyun_AES_256", offered) == []
    without_gcm = offered - {int(pkcs11.Mechanism.AES_GCM)}
    assert missing_mechanisms("Aliyun_AES_256", without_gcm) == ["CKM_AES_GCM"]
    assert missing_mechanisms("Aliyun_AES_128", set()) == [
        "CKM_AES_KEY_GEN",
        "CKM_AES_KEY_WRAP_PAD",
        "CKM_AES_GCM",
    ]
    assert missing_mechanisms("RSA_2048", offered) == []
    assert missing_mechanisms("EC_P256K", offered) == []
    assert missing_mechanisms("EC_P256", offered - {int(pkcs11.Mechanism.ECDSA)}) == ["CKM_ECDSA"]
    assert missing_mechanisms("RSA_3072", {int(pkcs11.Mechanism.RSA_PKCS)}) == [
        "CKM_RSA_PKCS_KEY_PAIR_GEN",
        "CKM_RSA_PKCS_PSS",
        "CKM_AES_KEY_WRAP_PAD",
    ]
    for spec in ("Aliyun_SM4", "EC_SM2", "HMAC_SHA_256"):
        assert missing_mechanisms(spec, offered) is None


@pytest.mark.parametrize(
    ("spec", "algorithm"),
    [
        ("RSA_2048", "RSA_PSS_SHA_256"),
        ("RSA_2048", "RSA_PKCS1_SHA_256"),
        ("EC_P256", "ECDSA_SHA_256"),
        ("EC_P256K", "ECDSA_SHA_256"),
    ],
)
def test_key_pairs_sign_in_the_token_and_their_private_keys_stay_there(
    keeper, spec: str, algorithm: str
) -> None:  # type: ignore[no-untyped-def]
    import hashlib

    import pkcs11
    from pkcs11 import Attribute, Mechanism

    from openkms.crypto import asymmetric
    from openkms.domain.keyspec import SPECS
    from openkms.rootkey.pkcs11 import holding

    wrapped, public_der = keeper.generate(spec)
    assert public_der is not None
    digest = hashlib.sha256(b"signed in the token").digest()
    version = f"v-{spec}-{algorithm}"
    signature = keeper.sign(version, wrapped, spec, algorithm, digest)
    public = asymmetric.load_public(SPECS[spec].kind, public_der)
    assert asymmetric.verify(public, algorithm, digest, signature)
    assert not asymmetric.verify(public, algorithm, hashlib.sha256(b"other").digest(), signature)
    held = keeper.held_object(version)
    assert held[Attribute.SENSITIVE] and not held[Attribute.EXTRACTABLE] and not held[Attribute.TOKEN]
    secret = Attribute.PRIVATE_EXPONENT if spec.startswith("RSA") else Attribute.VALUE
    with pytest.raises(pkcs11.AttributeSensitive):
        held[secret]
    with holding(keeper._module, keeper._token_label, keeper._pin) as hold:
        master = keeper._master(hold, wrapped[:16])
        with pytest.raises(pkcs11.KeyUnextractable):
            master.wrap_key(held, mechanism=Mechanism.AES_KEY_WRAP_PAD)
