"""Start-up schema check: a node serves only the schema its code expects."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from openkms.config import Settings
from openkms.rootkey.file import create as create_root_key
from openkms.service.deployment import StartupError, init_deployment, open_deployment, readiness


def _settings(tmp_path: Path) -> Settings:
    settings = Settings(data_dir=tmp_path / "data")
    init_deployment(settings)[0].close()
    return settings


def _set_revision(settings: Settings, revision: str | None) -> None:
    with sqlite3.connect(settings.data_dir / "openkms.db") as conn:
        conn.execute("DELETE FROM alembic_version")
        if revision is not None:
            conn.execute("INSERT INTO alembic_version (version_num) VALUES (?)", (revision,))


def test_older_schema_is_refused_without_migrate(tmp_path: Path) -> None:
    """A schema behind the code stops a node that may not migrate, and names the fix."""
    settings = _settings(tmp_path)
    _set_revision(settings, "0001")
    with pytest.raises(StartupError, match="older than this openkms; run `openkms db upgrade`"):
        open_deployment(settings, migrate_schema=False)


def test_database_without_a_schema_is_no_deployment(tmp_path: Path) -> None:
    """A database never migrated holds no deployment: refused with `openkms init`, and nothing
    is written to it (no schema appears)."""
    settings = Settings(data_dir=tmp_path / "data")
    settings.data_dir.mkdir(mode=0o700)
    create_root_key(settings.data_dir / "root.key")
    sqlite3.connect(settings.data_dir / "openkms.db").close()
    with pytest.raises(StartupError, match=r"no deployment .*openkms init"):
        open_deployment(settings)
    with sqlite3.connect(settings.data_dir / "openkms.db") as conn:
        assert conn.execute("SELECT name FROM sqlite_master").fetchall() == []


@pytest.mark.parametrize("migrate_schema", [False, True])
def test_newer_schema_is_refused_even_with_migrate(tmp_path: Path, migrate_schema: bool) -> None:
    """A schema from a later openkms (an unknown revision) is never served nor 'upgraded'."""
    settings = _settings(tmp_path)
    _set_revision(settings, "9999_from_the_future")
    with pytest.raises(StartupError, match="newer than this openkms"):
        open_deployment(settings, migrate_schema=migrate_schema)


def test_current_schema_starts_without_migrate(tmp_path: Path) -> None:
    """The schema the code expects starts without migrating."""
    settings = _settings(tmp_path)
    open_deployment(settings, migrate_schema=False).close()


def test_readiness_names_a_schema_changed_under_a_running_node(tmp_path: Path) -> None:
    """GET /ready's check: ready on the expected schema; not ready, with the reason, once the
    database holds another (a later openkms upgraded it while this node runs)."""
    settings = _settings(tmp_path)
    dep = open_deployment(settings, migrate_schema=False)
    try:
        assert readiness(dep) is None
        _set_revision(settings, "9999_from_the_future")
        assert readiness(dep) == "the database schema is newer than this openkms"
        _set_revision(settings, "0001")
        assert readiness(dep) == "the database schema is older than this openkms"
    finally:
        dep.close()
