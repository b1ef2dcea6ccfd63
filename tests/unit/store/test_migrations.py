"""The schema migrations: head equals the tables the code declares, and a database made by an
older schema (an existing deployment) upgrades with its data: its account becomes the first
row of ``accounts``, its AccessKeys that account's root pairs, and its keys, aliases, tags and
secrets that account's resources."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, create_engine, inspect, text

from openkms.config import Settings
from openkms.domain import errors
from openkms.service import access_keys
from openkms.service.accounts import create as create_account
from openkms.service.context import build_services
from openkms.service.deployment import init_deployment, open_deployment
from openkms.service.tenancy import root_scope
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


OWNED = ("keys", "aliases", "tags", "secrets", "secret_versions", "secret_version_stages")


def _shape(engine: Engine) -> dict[str, tuple[list[str], list[str], list[str]]]:
    """The resource tables as the database holds them: columns, primary key, indexes."""
    found = inspect(engine)
    return {
        t: (
            sorted(c["name"] for c in found.get_columns(t)),
            list(found.get_pk_constraint(t)["constrained_columns"]),
            sorted(str(i["name"]) for i in found.get_indexes(t)),
        )
        for t in OWNED
    }


def _alembic(engine: Engine) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["engine"] = engine
    return cfg


def test_resources_of_a_second_schema_database_belong_to_the_first_account(
    tmp_path: Path, database: str | None
) -> None:
    """Keys, aliases, tags, secrets and the secrets' default key of a database at revision 0002
    (no owners, names unique deployment-wide) belong to the first account after the upgrade and
    work as before; a second account may then take the same alias and secret names."""
    settings = Settings(data_dir=tmp_path / "data", database=database)
    dep = init_deployment(settings)[0]
    first = dep.account_id
    services = build_services(dep)
    scope = root_scope(first)
    key = services.keys.create(
        key_spec="Aliyun_AES_256", key_usage=None, origin="Aliyun_KMS", protection_level="SOFTWARE",
        description="old", enable_automatic_rotation=False, rotation_interval=None, tag_map={"env": "old"},
        account_uid=first,
    )  # fmt: skip
    services.aliases.create(scope, "alias/old", key.key_id)
    blob = services.symmetric.encrypt(scope, key.key_id, b"kept", {}).blob
    services.secrets.create(
        scope, name="old-secret", version_id="v1", data="value", data_type="text", description="",
        encryption_key_id=None, tag_map={"env": "old"}, policy=None,
    )  # fmt: skip
    default_key = services.secrets.default_key_id(first)
    dep.close()

    engine = create_engine(settings.database_url)
    try:
        command.downgrade(_alembic(engine), "0002")  # the schema of a deployment before tenancy
        with PostgresDatabase() if database else contextlib.nullcontext() as pg:
            fresh = create_engine(pg.url if pg is not None else f"sqlite:///{tmp_path / 'fresh.db'}")
            command.upgrade(_alembic(fresh), "0002")
            assert _shape(engine) == _shape(fresh)
            fresh.dispose()
        with engine.connect() as conn:
            assert conn.execute(text("SELECT value FROM meta WHERE name = 'secrets_default_key_id'")).scalar() == (
                default_key
            )
    finally:
        engine.dispose()

    dep = open_deployment(settings)  # migrates to head
    try:
        services = build_services(dep)
        second = root_scope(create_account(dep, "second").uid)
        assert services.keys.get(scope, key.key_id).account_uid == first
        assert services.keys.get(scope, "alias/old").key_id == key.key_id
        assert services.symmetric.decrypt(scope, blob, {}).plaintext == b"kept"
        assert services.tags.tags_of(scope, "key", key.key_id, "KeyId") == (key.key_id, {"env": "old"})
        assert services.secrets.get_value(scope, "old-secret", None, None).data == "value"
        assert services.secrets.describe(scope, "old-secret", True)[1] == [("env", "old")]
        assert services.secrets.default_key_id(first) == default_key
        listed, total = services.keys.list_page(scope, 1, 10, {})
        assert (set(listed), total) == ({key.key_id, default_key}, 2)
        with pytest.raises(errors.KeyNotFound):
            services.keys.get(second, key.key_id)
        mine = services.keys.create(
            key_spec="Aliyun_AES_256", key_usage=None, origin="Aliyun_KMS", protection_level="SOFTWARE",
            description="", enable_automatic_rotation=False, rotation_interval=None, tag_map={},
            account_uid=second.account_uid,
        )  # fmt: skip
        services.aliases.create(second, "alias/old", mine.key_id)
        services.secrets.create(
            second, name="old-secret", version_id="v1", data="other", data_type="text", description="",
            encryption_key_id=None, tag_map={}, policy=None,
        )  # fmt: skip
        assert services.keys.get(second, "alias/old").key_id == mine.key_id
        assert services.secrets.get_value(second, "old-secret", None, None).data == "other"
        assert services.secrets.get_value(scope, "old-secret", None, None).data == "value"
    finally:
        dep.close()
