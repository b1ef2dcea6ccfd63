"""Destroyed material leaves the embedded database's files: deletes overwrite their pages
(secure_delete) and a checkpoint truncates the -wal file that held older copies."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from openkms.store.engine import Database, make_engine


def test_deleted_rows_leave_no_bytes_in_the_database_files(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    db = Database(make_engine(f"sqlite:///{path}"))
    marker = b"MATERIAL-" + b"\x5a" * 64
    try:
        with db.engine.begin() as conn:
            assert conn.exec_driver_sql("PRAGMA secure_delete").scalar() == 1
            conn.execute(text("CREATE TABLE m (k INTEGER PRIMARY KEY, v BLOB)"))
            conn.execute(text("INSERT INTO m (v) VALUES (:v)"), {"v": marker})
            conn.execute(text("INSERT INTO m (v) VALUES (:v)"), {"v": b"other row"})
        db.checkpoint()
        assert marker in path.read_bytes()
        with db.engine.begin() as conn:
            conn.execute(text("DELETE FROM m WHERE v = :v"), {"v": marker})
        db.checkpoint()
        wal = Path(f"{path}-wal")
        assert not wal.exists() or wal.stat().st_size == 0
        assert marker not in path.read_bytes()
    finally:
        db.dispose()
