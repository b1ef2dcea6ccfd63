"""A deliberately broken openkms for the crash test's mutation guard: it acknowledges writes
before committing them. Served writes to the key store go into one long transaction that is
committed every ``BATCH`` writes ("acknowledge, commit in batches"); each write
is a savepoint inside it, so a refused request still rolls back alone. A kill -9 loses the
acknowledged writes of the open batch. The crash test must catch this server losing them; if it
ever stops catching it, the crash test has gone blind. Never used outside tests."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from openkms import cli
from openkms.store import engine

BATCH = 20
_honest_write = engine.Database.write
_serving = threading.Event()  # set once the app is built: from then on served writes are broken
_lock = threading.Lock()
_open: dict[int, list[Any]] = {}  # id(Database) -> [connection, outer transaction, writes in batch]


@contextmanager
def _ack_before_commit(self: engine.Database) -> Iterator[engine.Tx]:
    # Only request handlers' writes to the key database are broken: start-up, the nonce store and
    # the job runner stay honest, so the load keeps flowing.
    if (
        not _serving.is_set()
        or "openkms.db" not in str(self.engine.url)
        or not threading.current_thread().name.startswith("openkms_")
    ):
        with _honest_write(self) as tx:
            yield tx
        return
    with _lock:
        batch = _open.get(id(self))
        if batch is None:
            conn = self.engine.connect().execution_options(write=True)
            batch = _open[id(self)] = [conn, conn.begin(), 0]
        conn = batch[0]
        savepoint = conn.begin_nested()
        try:
            yield engine.Tx(conn)
        except BaseException:
            savepoint.rollback()
            raise
        savepoint.commit()
        batch[2] += 1
        if batch[2] >= BATCH:
            batch[1].commit()
            conn.close()
            del _open[id(self)]


_create_app = cli.create_app


def _create_broken_app() -> object:
    app = _create_app()
    _serving.set()
    return app


engine.Database.write = _ack_before_commit  # type: ignore[method-assign]
cli.create_app = _create_broken_app

if __name__ == "__main__":
    sys.exit(cli.main())
