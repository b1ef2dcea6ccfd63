"""A sealed node whose root of trust unseals without operator input (``kms``: an upstream KMS
that could not be reached at start) asks again in the background, the wait doubling from one
second up to ``kms_unseal_retry_max``, until it is unsealed or stopped.

Each failed try is logged once, with the wait before the next: the reason names the upstream
and its answer, never a credential (rootkey/upstream.py). A node the operator seals again
stays sealed: this runs from the process's start until its first unseal only, and
`openkms operator unseal` asks at once.
"""

from __future__ import annotations

import logging
import threading

from openkms.service.seal import Seal, UnsealRefused

__all__ = ["AutoUnseal"]

log = logging.getLogger("openkms.seal")
FIRST_WAIT = 1.0


class AutoUnseal:
    """The background tries of one process's :class:`Seal`."""

    def __init__(self, seal: Seal, max_wait: float) -> None:
        self._seal = seal
        self._max_wait = max(FIRST_WAIT, max_wait)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="openkms-auto-unseal", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=15.0)

    def _run(self) -> None:
        wait = FIRST_WAIT
        while not self._stop.wait(wait):
            if not self._seal.sealed:
                return  # unsealed meanwhile (`openkms operator unseal`)
            try:
                status = self._seal.submit("")
            except UnsealRefused as exc:
                wait = min(wait * 2, self._max_wait)
                log.warning("still sealed: %s; next try in %.0f s", exc, wait)
                continue
            if not status.sealed:
                log.info("unsealed through the %s root of trust", status.provider)
                return
