"""A root of trust on a PKCS#11 token (an HSM, or SoftHSM2 for tests).

The root is an AES-256 secret key object on the token: ``SENSITIVE``, not ``EXTRACTABLE``,
usable only to encrypt and decrypt, found by its label (made by :meth:`Pkcs11RootKey.open` with
``create=True`` when absent). A KEK is wrapped by AES-256-GCM computed inside the token with the
caller's associated data; the 96-bit nonce comes from the host (SoftHSM2 does not make one).
Blob: ``nonce (12) || ciphertext || tag (16)``.

The fingerprint the database records is derived from the key object's ``CKA_ID``, 16 random bytes
given at creation: stable across processes and restarts, not secret, and different for a key
made again under the same label.

PKCS#11 discipline (docs/root-of-trust.md, "pkcs11"):

* the library is initialised in each process before its first use, never inherited across
  ``fork()`` (a forked child finalises and initialises it again, lazily, on first use);
* one logged-in session per process and token, opened once and never closed (closing it logs
  every other session of the process out);
* one lock per process around every token call: SoftHSM2 initialised without mutex functions
  (which python-pkcs11 does) is not safe for concurrent calls;
* the key's handle is looked up once and cached (object lookups are linear in the token's size);
* wrapping and unwrapping use ``C_Encrypt``/``C_Decrypt``, which create no token objects.

The PIN is held in memory only and never appears in a message or a repr.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from openkms.crypto import aead

__all__ = [
    "DEFAULT_KEY_LABEL",
    "Pkcs11RootKey",
    "Pkcs11Unavailable",
    "TokenHold",
    "available",
    "holding",
    "library",
]

DEFAULT_KEY_LABEL = "openkms-root-v1"
NONCE_LEN = 12
TAG_BITS = 128
ID_LEN = 16
_FINGERPRINT_LABEL = b"openkms pkcs11 root fingerprint v1|"


class Pkcs11Unavailable(RuntimeError):
    """The token, its library, the login or the root key object cannot be used; the server
    must not start. The message says which and never holds the PIN."""


def available() -> bool:
    """Whether python-pkcs11 (the ``hsm`` extra) is installed."""
    try:
        import pkcs11  # noqa: F401
    except ImportError:
        return False
    return True


def _pkcs11() -> Any:
    try:
        import pkcs11
    except ImportError:
        raise Pkcs11Unavailable(
            "the pkcs11 root provider needs python-pkcs11: install openkms with the 'hsm' extra"
        ) from None
    return pkcs11


@dataclass
class _Process:
    """What one process holds of the token: reset in a forked child, which must not use its
    parent's library state, sessions or locks."""

    pid: int = field(default_factory=os.getpid)
    lock: threading.RLock = field(default_factory=threading.RLock)
    initialised: set[str] = field(default_factory=set)
    sessions: dict[tuple[str, str], Any] = field(default_factory=dict)
    keys: dict[tuple[str, str, str], Any] = field(default_factory=dict)
    # Session objects of HSM key versions unwrapped into the token, least recently used first
    # (rootkey/token_keys.py); dropped, not destroyed, when the library is initialised again.
    objects: OrderedDict[tuple[str, str, str], Any] = field(default_factory=OrderedDict)
    mechanisms: dict[tuple[str, str], frozenset[int]] = field(default_factory=dict)


_state = _Process()


def _reset_after_fork() -> None:
    global _state
    _state = _Process()


os.register_at_fork(after_in_child=_reset_after_fork)


def _here() -> _Process:
    # register_at_fork covers os.fork(); the pid check also covers a child made another way.
    if _state.pid != os.getpid():
        _reset_after_fork()
    return _state


def _library(proc: _Process, module: str) -> Any:
    """The module's library object, initialised by this process (caller holds the lock)."""
    try:
        lib = _pkcs11().lib(module)
    except (OSError, RuntimeError) as exc:
        raise Pkcs11Unavailable(f"cannot load the PKCS#11 module {module}: {exc}") from None
    if module not in proc.initialised:
        if proc.pid != _first_pid.get(module, proc.pid):
            # Loaded by a parent: python-pkcs11 hands back the parent's object, whose
            # C_Initialize happened in that process.
            _reinitialise(proc, module, lib)
        _first_pid.setdefault(module, proc.pid)
        proc.initialised.add(module)
    return lib


_first_pid: dict[str, int] = {}
# Attempts to open the token's session, backing off from 50 ms to 1 s (about 4 s in all).
_OPEN_TRIES = 8


def _session(proc: _Process, module: str, token_label: str, pin: str) -> Any:
    """This process's logged-in session on the token (caller holds the lock)."""
    found = proc.sessions.get((module, token_label))
    if found is not None:
        return found
    p11 = _pkcs11()
    delay = 0.05
    for attempt in range(_OPEN_TRIES):
        lib = _library(proc, module)
        try:
            token = lib.get_token(token_label=token_label)
            session = token.open(user_pin=pin, rw=True)
        except p11.NoSuchToken:
            problem = f"no token labelled {token_label!r} in the PKCS#11 module {module}"
        except p11.PinIncorrect:
            raise Pkcs11Unavailable(
                f"the PIN of the token {token_label!r} is incorrect (pkcs11_pin_file or OPENKMS_PKCS11_PIN)"
            ) from None
        except p11.MultipleTokensReturned:
            raise Pkcs11Unavailable(f"several tokens are labelled {token_label!r}") from None
        except p11.PinLocked:
            raise Pkcs11Unavailable(f"the user PIN of the token {token_label!r} is locked") from None
        except p11.UserAlreadyLoggedIn:
            problem = f"the token {token_label!r} has a login this process did not make"
        except p11.GeneralError:
            problem = f"the token {token_label!r} answered a general error"
        else:
            proc.sessions[(module, token_label)] = session
            return session
        # A token whose files another process rewrote can vanish from a library's view until
        # it is initialised again (docs/root-of-trust.md): retry for a few seconds (another
        # process may keep rewriting them that long), then refuse.
        if attempt < _OPEN_TRIES - 1:
            _reinitialise(proc, module, lib)
            time.sleep(delay)
            delay = min(delay * 2, 1.0)
    raise Pkcs11Unavailable(problem)


def _reinitialise(proc: _Process, module: str, lib: Any) -> None:
    """Finalise and initialise the module again; every session and handle of this process on
    it is gone with that, so their caches are dropped (the next use opens and logs in anew)."""
    with contextlib.suppress(_pkcs11().PKCS11Error):
        lib.finalize()
    lib.initialize()
    for where in [w for w in proc.sessions if w[0] == module]:
        del proc.sessions[where]
    for which in [k for k in proc.keys if k[0] == module]:
        del proc.keys[which]
    for held in [o for o in proc.objects if o[0] == module]:
        del proc.objects[held]
    for listed in [t for t in proc.mechanisms if t[0] == module]:
        del proc.mechanisms[listed]


@dataclass(frozen=True)
class TokenHold:
    """This process's logged-in session on a token and its per-process state, handed out
    with the process lock held (:func:`holding`)."""

    proc: _Process
    session: Any


@contextlib.contextmanager
def holding(module: str, token_label: str, pin: str) -> Iterator[TokenHold]:
    """The process lock, held for the block, and the process's session on the token."""
    proc = _here()
    with proc.lock:
        yield TokenHold(proc, _session(proc, module, token_label, pin))


def library() -> Any:
    """The python-pkcs11 module (:class:`Pkcs11Unavailable` without the ``hsm`` extra)."""
    return _pkcs11()


def fingerprint_of(key_id: bytes) -> str:
    """What the database records of a token root: a digest of its random ``CKA_ID``."""
    return hashlib.sha256(_FINGERPRINT_LABEL + key_id).hexdigest()[:32]


class Pkcs11RootKey:
    """Root-of-trust provider whose key never leaves a PKCS#11 token."""

    name = "pkcs11"

    def __init__(self, module: str, token_label: str, pin: str, key_label: str, key_id: bytes) -> None:
        self._module = module
        self._token_label = token_label
        self._pin = pin
        self._key_label = key_label
        self.key_id = key_id
        self.fingerprint = fingerprint_of(key_id)

    @classmethod
    def open(
        cls,
        module: str,
        token_label: str,
        pin: str,
        *,
        key_label: str = DEFAULT_KEY_LABEL,
        create: bool = False,
    ) -> Pkcs11RootKey:
        """The root on the token; made there first with ``create`` when the token has none.

        Raises:
            Pkcs11Unavailable: no module or python-pkcs11, no such token, a wrong PIN, no root
                object (without ``create``), several, or one that is extractable or not AES-256.
        """
        if not os.path.exists(module):
            raise Pkcs11Unavailable(f"the PKCS#11 module {module} does not exist")
        if not pin:
            raise Pkcs11Unavailable(
                f"no PIN for the token {token_label!r}: set pkcs11_pin_file or OPENKMS_PKCS11_PIN"
            )
        p11 = _pkcs11()
        proc = _here()
        with proc.lock:
            session = _session(proc, module, token_label, pin)
            try:
                key = session.get_key(
                    object_class=p11.ObjectClass.SECRET_KEY, key_type=p11.KeyType.AES, label=key_label
                )
            except p11.NoSuchKey:
                if not create:
                    raise Pkcs11Unavailable(
                        f"the token {token_label!r} holds no root key labelled {key_label!r}: wrong "
                        "token, or a deployment initialised on another one"
                    ) from None
                key = cls._generate(session, key_label)
            except p11.MultipleObjectsReturned:
                raise Pkcs11Unavailable(
                    f"the token {token_label!r} holds several keys labelled {key_label!r}"
                ) from None
            cls._check(key, token_label, key_label)
            key_id = bytes(key[p11.Attribute.ID])
            proc.keys[(module, token_label, key_label)] = key
        return cls(module, token_label, pin, key_label, key_id)

    @staticmethod
    def _generate(session: Any, key_label: str) -> Any:
        p11 = _pkcs11()
        flags = p11.MechanismFlag
        return session.generate_key(
            p11.KeyType.AES,
            256,
            label=key_label,
            id=secrets.token_bytes(ID_LEN),
            store=True,
            capabilities=flags.ENCRYPT | flags.DECRYPT,
            template={
                p11.Attribute.EXTRACTABLE: False,
                p11.Attribute.SENSITIVE: True,
                p11.Attribute.WRAP: False,
                p11.Attribute.UNWRAP: False,
                p11.Attribute.SIGN: False,
                p11.Attribute.VERIFY: False,
                p11.Attribute.DERIVE: False,
                p11.Attribute.TOKEN: True,
                p11.Attribute.PRIVATE: True,
            },
        )

    @staticmethod
    def _check(key: Any, token_label: str, key_label: str) -> None:
        """Refuse a root object anyone could read out: it must be sensitive, never extractable,
        256 bits and carry an id."""
        p11 = _pkcs11()
        attr = p11.Attribute
        where = f"the root key {key_label!r} on the token {token_label!r}"
        if key[attr.EXTRACTABLE] or not key[attr.SENSITIVE]:
            raise Pkcs11Unavailable(f"{where} is extractable or not sensitive; make it again")
        if key[attr.VALUE_LEN] != 32:
            raise Pkcs11Unavailable(f"{where} is not an AES-256 key")
        if len(bytes(key[attr.ID])) < ID_LEN:
            raise Pkcs11Unavailable(f"{where} has no CKA_ID of {ID_LEN} bytes")

    def _key(self, proc: _Process) -> Any:
        """The cached handle of the root in this process (caller holds the lock)."""
        found = proc.keys.get((self._module, self._token_label, self._key_label))
        if found is not None:
            return found
        p11 = _pkcs11()
        session = _session(proc, self._module, self._token_label, self._pin)
        try:
            key = session.get_key(
                object_class=p11.ObjectClass.SECRET_KEY,
                key_type=p11.KeyType.AES,
                label=self._key_label,
                id=self.key_id,
            )
        except (p11.NoSuchKey, p11.MultipleObjectsReturned):
            raise Pkcs11Unavailable(
                f"the root key {self._key_label!r} is gone from the token {self._token_label!r}"
            ) from None
        proc.keys[(self._module, self._token_label, self._key_label)] = key
        return key

    def wrap(self, plaintext: bytes, aad: bytes) -> bytes:
        p11 = _pkcs11()
        nonce = secrets.token_bytes(NONCE_LEN)
        proc = _here()
        with proc.lock:
            sealed = self._key(proc).encrypt(
                plaintext,
                mechanism=p11.Mechanism.AES_GCM,
                mechanism_param=p11.GCMParams(nonce, aad, TAG_BITS),
            )
        return nonce + bytes(sealed)

    def unwrap(self, blob: bytes, aad: bytes) -> bytes:
        """Raises :class:`~openkms.crypto.aead.NotAuthentic` for a blob that does not open
        (SoftHSM2 reports a bad tag as CKR_GENERAL_ERROR, so every refusal of the token maps
        here)."""
        if len(blob) < NONCE_LEN + TAG_BITS // 8:
            raise aead.NotAuthentic("the wrapped key is too short")
        p11 = _pkcs11()
        proc = _here()
        with proc.lock:
            try:
                return bytes(
                    self._key(proc).decrypt(
                        blob[NONCE_LEN:],
                        mechanism=p11.Mechanism.AES_GCM,
                        mechanism_param=p11.GCMParams(blob[:NONCE_LEN], aad, TAG_BITS),
                    )
                )
            except p11.PKCS11Error:
                raise aead.NotAuthentic("the wrapped key does not open under the token's root") from None

    def __repr__(self) -> str:
        return f"Pkcs11RootKey(token={self._token_label!r}, fingerprint={self.fingerprint!r})"
