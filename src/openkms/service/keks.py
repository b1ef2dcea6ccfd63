"""The deployment's KEKs as recorded for a serving process: which version new wraps use
(``meta`` ``kek_current``; a deployment that records none uses its newest), the bridges a
rekey leaves for running processes (``kek_bridge.<version>``) and the subkeys kept of retired
KEKs (``kek_retained.<version>.<label>``). service/rekey.py writes them; this module reads them
into a :class:`~openkms.rootkey.Keyring`, at start and unseal and while serving
(rootkey/keyring.py says how a process takes up a KEK added after it started).
"""

from __future__ import annotations

import base64

from openkms.rootkey import KekState, Keyring, RootKeyProvider
from openkms.store import Database, Tx, meta
from openkms.store import rekey as repo

__all__ = [
    "BRIDGE",
    "CURRENT",
    "REFRESH_EVERY",
    "RETAINED",
    "attach",
    "decode",
    "encode",
    "load",
    "state",
]

CURRENT = "kek_current"
BRIDGE = "kek_bridge."
RETAINED = "kek_retained."
# How often a serving process reads the KEK state (it also reads it at once on a miss): a rekey
# waits a few of these after switching before it counts what is left (service/rekey.py).
REFRESH_EVERY = 5.0


def encode(under: int, blob: bytes) -> str:
    """A value wrapped under KEK ``under``, as a ``meta`` value."""
    return f"{under}:{base64.b64encode(blob).decode()}"


def decode(text: str) -> tuple[int, bytes]:
    under, _, b64 = text.partition(":")
    return int(under), base64.b64decode(b64)


def state(q: Tx | Database, versions: list[int] | None = None) -> KekState:
    """The recorded KEK state; ``versions`` (the KEK rows' versions) to pick the newest when no
    current version is recorded (read from the store when not given)."""
    recorded = meta.get(q, CURRENT)
    if recorded is not None:
        current = int(recorded)
    else:
        current = max(versions if versions is not None else meta.wrapped_keks(q), default=0)
    bridges = {int(name[len(BRIDGE) :]): decode(v) for name, v in repo.prefixed(q, BRIDGE).items()}
    retained = {}
    for name, value in repo.prefixed(q, RETAINED).items():
        version, _, label = name[len(RETAINED) :].partition(".")
        retained[(int(version), label.encode())] = decode(value)
    return KekState(current, bridges, retained)


def load(db: Database, keyring: Keyring, root: RootKeyProvider, *, follow: bool = True) -> None:
    """Unwrap the deployment's KEKs under ``root`` into ``keyring`` (current version and retained
    subkeys as recorded); ``follow``: let it read the state again while serving."""
    with db.read() as tx:
        wrapped = meta.wrapped_keks(tx)
        recorded = state(tx, list(wrapped))
    keyring.load(root, wrapped, recorded.current, recorded.retained)
    if follow:
        attach(db, keyring)


def attach(db: Database, keyring: Keyring) -> None:
    def read() -> KekState:
        with db.read() as tx:
            return state(tx)

    keyring.attach(read, REFRESH_EVERY)
