"""The schema migrations: head equals the tables the code declares, and a database made by the
first schema (an existing deployment) upgrades with its data: its account becomes the first
row of ``accounts`` and its AccessKeys that account's root pairs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, text

from openkms.config import Settings
from openkms.service import access_keys
from openkms.service.deployment import open_deployment
from openkms.store import accounts
from openkms.store.migrate import MIGRATIONS, upgrade
from openkms.store.schema import metadata
from tests.support.postgres import PostgresDatabase


def test_head_matches_the_declared_tables(tmp_path: Path) -> None:
    """A database migrated to head has exactly the tables, columns and indexes schema.py declares."""
    engine = create_engine(f"sqlite:///{tmp_path / 'x.db'}")
    upgrade(engine)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    engine.dispose()
    assert diff == []


@pytest.fixture(params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str | None]:
    """None for the embedded default, or the URL of a PostgreSQL database of the test's own."""
    if request.param == "sqlite":
        yield None
        return
    with PostgresDatabase() as pg:
        yield pg.url


def test_a_first_schema_database_upgrades_with_its_data(tmp_path: Path, database: str | None) -> None:
    """An install made by the 0001 schema, with its account id and AccessKey rows, upgrades:
    the account is the first account and every pair is its root pair, still usable."""
    from openkms.rootkey import FileRootKey, Keyring
    from openkms.rootkey.file import create as create_root_key
    from openkms.rootkey.keyring import access_key_aad

    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    create_root_key(data / "root.key")
    root = FileRootKey.load(data / "root.key")
    settings = Settings(data_dir=data, database=database)
    engine = create_engine(settings.database_url)
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["engine"] = engine
    command.upgrade(cfg, "0001")
    kek = Keyring.new_kek(root, 1)
    keyring = Keyring(root, {1: kek})
    _, wrapped = keyring.wrap(b"OldSecret0123456789", access_key_aad("LTAIold000000000000001", 1))
    with engine.begin() as conn:
        conn.execute(
            text("INSERT INTO meta (name, value) VALUES ('root_fingerprint', :f), ('account_id', :a)"),
            {"f": root.fingerprint, "a": "1234567890123456"},
        )
        conn.execute(text("INSERT INTO keks (kek_version, wrapped, created) VALUES (1, :w, 1.0)"), {"w": kek})
        conn.execute(
            text(
                "INSERT INTO access_keys (access_key_id, secret_wrapped, kek_version, status, is_root, description,"
                " created) VALUES ('LTAIold000000000000001', :w, 1, 'Active', true, 'root', 1.0)"
            ),
            {"w": wrapped},
        )
    engine.dispose()

    dep = open_deployment(settings)  # migrates (`db upgrade` and the embedded default's start do the same)
    try:
        with dep.db.read() as tx:
            assert [a.uid for a in accounts.list_all(tx)] == ["1234567890123456"]
        pairs = access_keys.list_all(dep)
        assert [(p.access_key_id, p.account_uid, p.is_root) for p in pairs] == [
            ("LTAIold000000000000001", "1234567890123456", True)
        ]
        found = access_keys.CredentialStore(dep, _NoCache()).lookup("LTAIold000000000000001")
        assert found is not None
        assert (found.secret, found.active, found.owner.account_uid) == (
            "OldSecret0123456789",
            True,
            "1234567890123456",
        )
    finally:
        dep.close()


class _NoCache:
    def get(self, key, load):  # type: ignore[no-untyped-def]
        return load()
