"""Known-answer tests run at start-up: the server refuses to start if a primitive is wrong or
missing (for example a `cryptography` build without SM4-GCM, or no OpenSSL 3 libcrypto for SM2).

Every algorithm openkms offers is covered: AES-GCM, SM4(-GCM), SM3, SHA-256, HMAC with SM3 and
SHA-224/256/384/512, RSASSA-PKCS1-v1_5 and RSASSA-PSS, RSAES-OAEP (SHA-1, SHA-256), ECDSA on P-256
and secp256k1, SM2 signatures and SM2 encryption. Randomised schemes get a known-answer check in
the direction that is deterministic (verify or decrypt a vector made by the openssl command) and a
pairwise round trip in the other.

The private keys below are throw-away test keys made for this file with the openssl command
(``openssl genpkey``, then ``openssl pkcs8 -topk8 -nocrypt``); the signatures and ciphertexts were
made from them with ``openssl pkeyutl`` / ``openssl dgst -sm3 -sigopt distid:1234567812345678``.
"""

from __future__ import annotations

import hashlib

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from openkms.crypto import asymmetric, mac, sm2
from openkms.domain.keyspec import Kind

RSA_1024_PKCS8 = bytes.fromhex(
    "30820276020100300d06092a864886f70d0101010500048202603082025c02010002818100b6d70e274bb290"
    "9b144d71db7cee4d36f1da1ff6cbeb7636afb811eed6a8c6d9ddfbaffa2b991f8d1aaf7bb2601691d7436f51"
    "9493805c161c29207596a09ca8954ef310d2d8929b1620c8db06218c3b790a682e91d1fed3888c22f42faac8"
    "3fe2ad14c356b3f80f87b569309f6f6480749b3318d41bfe751385ef7ea70f949302030100010281804fb435"
    "f64958611349696d3dca1b33cbc4e85a50c29a3561277ead4a9986df906fe55cd448972a9adf4c2a371b0e1b"
    "ab64392dae0012cf91cfdad9cc88ca211fdac1ac97120525d82698701236e934498743de32c251024ffc449d"
    "394c01c9c8962ee93cbace5c206e99a2570bb62406f9a55749c9ae0190401538b1efd23a29024100efa5c6de"
    "acb1c82321b013c7c5ff2404ab96b4180df5f7355fd2a46b58d0ebcd9f69a9ec2eb2eda6bed0bf03c9cbf07d"
    "d6581c16685fe97a5fc59ec3ae623a9f024100c350f369f1359aafe6e2e5b55786f685b70be824f488c07394"
    "d0190e00c9600cb83ddb9fb29e065c64faea33e091a6856067318159ae3c42d004a93c0071d58d02404a40a1"
    "37c966644e8e57922969edbde93c893b4fe0b37f5f284b89ea40e0aacf513f5a08f607369f5dac2c232e5964"
    "3079435fa089c27e030ebd9a8da2f0889d024011a561a883ab65235947cc9b1aa24de97cc52d9f111cbdce73"
    "766d9d0f43225363ddead6bdcb7b25a3d5eb8cee501a6c586e5a51a669907634d706f72dcf1b0d024100cf01"
    "5e33850d1a2d9a2acf75152354c69162920a3e923a7435120a7244b24d172bb28ee7fba2f8165ab4ded83aad"
    "6a083261e332f247d5f173d9b68362fb8346"
)
P256_PKCS8 = bytes.fromhex(
    "308187020100301306072a8648ce3d020106082a8648ce3d030107046d306b020101042050afbd9a40455d05"
    "999562e3ec381d5fb5adc4026e79d8e9dd05a4c52cf71034a144034200049e0af7ce280e8819ab5093a54fb0"
    "a07f264eb30294858ca02b4a6c552986f94b7298af94b2f6455aa16ef80d76b62d9438053a8e77268baab4b3"
    "fd8f4067f616"
)
SECP256K1_PKCS8 = bytes.fromhex(
    "308184020100301006072a8648ce3d020106052b8104000a046d306b02010104202e0c0c86de198df4c8dfdb"
    "8b00de9842568c991410df838dc157a07b7c4b51f8a1440342000402024a5415229bec3d42c44644f01fe972"
    "a190a48806fb6222eabafbb5362ec59cd33e930c6c977c8166c0b5062781cd18309f26076c06f47ec02cd7a7"
    "f2c08d"
)
SM2_PKCS8 = bytes.fromhex(
    "308187020100301306072a8648ce3d020106082a811ccf5501822d046d306b0201010420bf62f5b64bd90cca"
    "4991c9028aeb2bae2691762edd63d98fb621cdc67af87d59a14403420004811530fef6d9e77244dde7a1d259"
    "a559af8d003407943f8e30198cb31f00af74d1e9ed124ba6d55953ce8a73f67f18f5dd68680d8d4d98550282"
    "2f47719c4ce9"
)

ABC_SHA256 = hashlib.sha256(b"abc").digest()
PLAINTEXT = b"openkms self-test"
RSA_PKCS1_SIG = bytes.fromhex(
    "07d295abc223622cee162a667903f23cfbaf2d423f3f17ab182b9b6317576816a64a276d1007268758728c8a"
    "21219e1f3b3e1aab66ddce324c8a510819550cf7418f13bff8f040500fccf4fb34fc223f1a9af38a47668cd9"
    "96daf9d349d591a67af66d4425170287deb7be49d6c45112624ebca34eeb3659983d5460e0c21eb5"
)
RSA_OAEP_SHA256_CT = bytes.fromhex(
    "53701051c63d1b27aafbf6a2a5513f35f43871b251310e4ab62f9c93e60f3b5d225096d6c4487c400c090f18"
    "44a526aedfde68946ae415db0e22da9c49f1834b0af36561e3fc14b7e5b4de9204de2d0b1ab80abf586ef1eb"
    "9abb998d3e3095ac9f0eee2845b14d6fee485fb566bf4907355f1b00b9c5f4391127f8dc99ea0a3f"
)
P256_SIG = bytes.fromhex(
    "30450220394eebcdb252fbea245dde9d19b1775e23f527d6432ab7ae38d33eef91768a2f022100cc5687802e"
    "e7a6920a0a7438fe895573bb753389892bcb6de7ae46c5668d28a8"
)
SECP256K1_SIG = bytes.fromhex(
    "3045022100a73bd68e72c1de3fe46de0477cabc35aca34566400ed91958556ee4ad62ac19602203fa51e1bee"
    "0fb84f3cc15bd5d8b7894b4f620c93e84f55b8c1d0d01c7f1747a1"
)
# SM2 signature over M = "abc" with the GM/T 0009 default id; the server verifies e = SM3(Z||M).
SM2_SIG = bytes.fromhex(
    "3045022100a9d63d7e918cc2706cab7e60b72712a9d1d31f280cc27b459a556cb807a63845022012b035f4b6"
    "4c9a1ffd8dac98213f7122cce55c3cdc24d9a4bc47db0366d9ac7e"
)
SM2_CT = bytes.fromhex(
    "307b022100c4e0da3381fbc60683212117b836f1f01df7288a95ea8e99d39fdb807f041ebc022100f5c7e15a"
    "d77803b813407923ed14cc55e34bdfdb8734102f738fb40524d1eb9504207e0d2585854f38cfa2c0b35c59d2"
    "5458430cd9d4b225abc5a8b09e336a01735d0411055b776d0794e26ec6cbac98a5a00be29f"
)
# RFC 4231 test case 2 (key "Jefe"); the HMAC-SM3 value is the same input through
# `openssl dgst -sm3 -mac HMAC`.
HMAC_KEY = b"Jefe"
HMAC_DATA = b"what do ya want for nothing?"
HMAC_KATS = {
    "HMAC_SHA_224": "a30e01098bc6dbbf45690f3a7e9e6d0f8bbea2a39e6148008fd05e44",
    "HMAC_SHA_256": "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
    "HMAC_SHA_384": "af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47e42ec3736322445e"
    "8e2240ca5e69e2c78b3239ecfab21649",
    "HMAC_SHA_512": "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea250554"
    "9758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737",
    "HMAC_SM3": "2e87f1d16862e6d964b50a5200bf2b10b764faa9680a296a2405f24bec39f882",
}


class SelfTestFailed(RuntimeError):
    pass


def _check(name: str, ok: bool) -> None:
    if not ok:
        raise SelfTestFailed(f"cryptographic self-test failed: {name}")


def run() -> None:
    """Raise :class:`SelfTestFailed` unless every primitive gives its known answer."""
    # AES-GCM, NIST GCM test case 13/14 (256-bit zero key, zero IV, one zero block).
    ct = AESGCM(bytes(32)).encrypt(bytes(12), bytes(16), None)
    _check(
        "AES-256-GCM",
        ct.hex() == "cea7403d4d606b6e074ec5d3baf39d18d0d1c8a799996bf0265b98b5d48ab919",
    )
    # SM4 block cipher, GB/T 32907 appendix A.
    key = bytes.fromhex("0123456789abcdeffedcba9876543210")
    enc = Cipher(algorithms.SM4(key), modes.ECB()).encryptor()  # noqa: S305 - one-block known answer
    _check("SM4", (enc.update(key) + enc.finalize()).hex() == "681edf34d206965e86b3e94f536e4246")
    # SM4-GCM must exist (Aliyun_SM4 is a GCM-only spec).
    try:
        Cipher(algorithms.SM4(key), modes.GCM(bytes(12))).encryptor()
    except Exception as exc:
        raise SelfTestFailed("cryptographic self-test failed: SM4-GCM unavailable") from exc
    # SM3 of "abc", GB/T 32905 appendix A.
    h = hashes.Hash(hashes.SM3())
    h.update(b"abc")
    _check(
        "SM3",
        h.finalize().hex() == "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0",
    )
    _check("SHA-256", hashlib.sha256(b"abc").hexdigest().startswith("ba7816bf"))
    for algorithm, expected in HMAC_KATS.items():
        _check(algorithm, mac.generate(algorithm, HMAC_KEY, HMAC_DATA).hex() == expected)
    _rsa()
    _ecdsa("ECDSA P-256", P256_PKCS8, P256_SIG)
    _ecdsa("ECDSA secp256k1", SECP256K1_PKCS8, SECP256K1_SIG)
    _sm2()


def _rsa() -> None:
    key = asymmetric.load_private(Kind.RSA, RSA_1024_PKCS8)
    assert isinstance(key, rsa.RSAPrivateKey)
    public = key.public_key()
    # PKCS#1 v1.5 signatures are deterministic: a true known answer.
    _check("RSA PKCS1", asymmetric.sign(key, "RSA_PKCS1_SHA_256", ABC_SHA256) == RSA_PKCS1_SIG)
    _check("RSA PKCS1 verify", asymmetric.verify(public, "RSA_PKCS1_SHA_256", ABC_SHA256, RSA_PKCS1_SIG))
    pss = asymmetric.sign(key, "RSA_PSS_SHA_256", ABC_SHA256)
    _check("RSA PSS", asymmetric.verify(public, "RSA_PSS_SHA_256", ABC_SHA256, pss))
    _check("RSA PSS reject", not asymmetric.verify(public, "RSA_PSS_SHA_256", bytes(32), pss))
    _check(
        "RSA OAEP-SHA256 decrypt",
        asymmetric.decrypt(key, "RSAES_OAEP_SHA_256", RSA_OAEP_SHA256_CT) == PLAINTEXT,
    )
    for algorithm in ("RSAES_OAEP_SHA_256", "RSAES_OAEP_SHA_1"):
        ct = asymmetric.encrypt(public, algorithm, PLAINTEXT)
        _check(algorithm, asymmetric.decrypt(key, algorithm, ct) == PLAINTEXT)


def _ecdsa(name: str, pkcs8: bytes, signature: bytes) -> None:
    key = asymmetric.load_private(Kind.EC, pkcs8)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    public = key.public_key()
    _check(name, asymmetric.verify(public, "ECDSA_SHA_256", ABC_SHA256, signature))
    _check(name + " reject", not asymmetric.verify(public, "ECDSA_SHA_256", bytes(32), signature))
    fresh = asymmetric.sign(key, "ECDSA_SHA_256", ABC_SHA256)
    _check(name + " sign", asymmetric.verify(public, "ECDSA_SHA_256", ABC_SHA256, fresh))


def _sm2() -> None:
    try:
        key = sm2.load_private(SM2_PKCS8)
    except sm2.SM2Error as exc:
        raise SelfTestFailed(f"cryptographic self-test failed: SM2 unavailable ({exc})") from exc
    public = sm2.load_public(sm2.public_der(key))
    e = sm2.digest(sm2.public_der(key), b"abc")
    _check("SM2 verify", sm2.verify_digest(public, e, SM2_SIG))
    _check("SM2 reject", not sm2.verify_digest(public, bytes(32), SM2_SIG))
    _check("SM2 sign", sm2.verify_digest(public, e, sm2.sign_digest(key, e)))
    _check("SM2 decrypt", sm2.decrypt(key, SM2_CT) == PLAINTEXT)
    _check("SM2 encrypt", sm2.decrypt(key, sm2.encrypt(public, PLAINTEXT)) == PLAINTEXT)
