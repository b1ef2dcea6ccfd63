"""Storage: tables, repositories, engines, migrations, leases and the node's nonce files.

The one way in, for every caller above this package:

* A :class:`Database` opens transactions: ``with db.read() as tx`` and ``with db.write() as
  tx``. A write block has committed, durably, when it exits normally.
* A repository module per aggregate (``keys``, ``versions``, ``aliases``, ``tags``, ``byok``,
  ``secrets``, ``rotation``, ``access_keys``, ``console_sessions``, ``meta``, ``nonces``,
  ``leases``) holds every statement about it. Its functions take ``q``: a transaction
  (:class:`Tx`), to act inside the caller's transaction, or the :class:`Database` itself, to
  run on their own as the hot path (one statement, one transaction; on SQLite without
  SQLAlchemy's per-statement overhead; inside ``db.snapshot()`` several such reads see one
  snapshot). The caller chooses by what it passes,
  never by calling another function. Functions that need several statements, or statements
  built per call, take a :class:`Tx` (or open their own block from a ``Database``).
* Rows are read by column name and handed up as the domain's records (``Key``, ``Secret``) or
  small records of the repository module; no caller sees a SQLAlchemy row, statement or
  exception.
* A write that meets an existing primary or unique key raises :class:`Conflict`; a database
  that cannot be reached, or cannot store more, raises one of :data:`UNAVAILABLE` (answered 503
  by the server); :func:`disk_full` tells a full disk from the rest.
"""

from openkms.store.engine import UNAVAILABLE, Conflict, Database, Row, Tx, WouldWait, disk_full, reason

__all__ = ["UNAVAILABLE", "Conflict", "Database", "Row", "Tx", "WouldWait", "disk_full", "reason"]
