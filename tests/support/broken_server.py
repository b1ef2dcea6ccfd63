"""A deliberately broken openkms for the crash test's mutation guard: it acknowledges writes
before committing them (the commit happens two seconds later, in the background). The crash test
must catch this server losing acknowledged writes; if it ever stops catching it, the crash test
has gone blind. Never used outside tests."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection

from openkms import cli
from openkms.store import engine

_honest_write = engine.Database.write
_serving = threading.Event()  # start-up writes stay honest; only served requests are broken


@contextmanager
def _ack_before_commit(self: engine.Database) -> Iterator[Connection]:
    # Only request handlers' writes to the key database are broken; the nonce store and the
    # job runner stay honest so load keeps flowing.
    if (
        not _serving.is_set()
        or "openkms.db" not in str(self.engine.url)
        or not threading.current_thread().name.startswith("openkms_")
    ):
        with _honest_write(self) as conn:
            yield conn
        return
    conn = self.engine.connect().execution_options(write=True)
    trans = conn.begin()
    try:
        yield conn
    except BaseException:
        trans.rollback()
        conn.close()
        raise

    def commit_later() -> None:
        time.sleep(2.0)
        trans.commit()
        conn.close()

    threading.Thread(target=commit_later, daemon=True).start()


_create_app = cli.create_app


def _create_broken_app() -> object:
    app = _create_app()
    _serving.set()
    return app


engine.Database.write = _ack_before_commit  # type: ignore[method-assign]
cli.create_app = _create_broken_app

if __name__ == "__main__":
    sys.exit(cli.main())
