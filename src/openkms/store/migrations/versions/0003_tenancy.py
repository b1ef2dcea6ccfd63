"""keys, aliases, secrets and tags belong to an account

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-05 09:12:40.318220

Every resource row gets ``account_uid``; the rows of a database made before accounts owned
resources belong to the deployment's first account (the meta row ``account_id``), and so does
the secrets' service-managed default key. Alias and secret names become unique per account
(their primary keys take ``account_uid`` first); secret versions, stages and tags follow their
resource. Key versions and import tokens hang off a key id, which stays unique deployment-wide.
"""

from __future__ import annotations

import warnings

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# table -> its primary key before this revision (None: the primary key does not change).
OWNED: dict[str, tuple[str, ...] | None] = {
    "keys": None,
    "aliases": ("alias_name",),
    "tags": ("resource_type", "resource_id", "tag_key"),
    "secrets": ("secret_name",),
    "secret_versions": ("secret_name", "version_id"),
    "secret_version_stages": ("secret_name", "stage"),
}
DEFAULT_KEY_META = "secrets_default_key_id"


def _first_account() -> str | None:
    return op.get_bind().execute(sa.text("SELECT value FROM meta WHERE name = 'account_id'")).scalar()


def _set_primary_key(table: str, columns: tuple[str, ...]) -> None:
    """Replace ``table``'s primary key (named ``<table>_pkey``, as PostgreSQL names the ones of
    the first revisions; SQLite's are unnamed and go with the copy batch mode makes)."""
    if op.get_bind().dialect.name == "postgresql":
        op.drop_constraint(f"{table}_pkey", table, type_="primary")
    with warnings.catch_warnings():
        # SQLite: the copy's columns keep their reflected primary-key flags, which the new
        # constraint overrides, as intended; SQLAlchemy warns that they differ.
        warnings.filterwarnings("ignore", "Table '_alembic_tmp_", sa.exc.SAWarning)
        with op.batch_alter_table(table) as batch_op:
            batch_op.create_primary_key(f"{table}_pkey", list(columns))


def upgrade() -> None:
    bind = op.get_bind()
    first = _first_account()
    for table, old_key in OWNED.items():
        with op.batch_alter_table(table) as batch_op:
            batch_op.add_column(sa.Column("account_uid", sa.String(length=16), nullable=True))
        if first is not None:
            bind.execute(sa.text(f"UPDATE {table} SET account_uid = :uid"), {"uid": first})  # noqa: S608
        with op.batch_alter_table(table) as batch_op:
            batch_op.alter_column("account_uid", existing_type=sa.String(length=16), nullable=False)
        if old_key is not None:
            _set_primary_key(table, ("account_uid", *old_key))

    with op.batch_alter_table("keys") as batch_op:
        batch_op.drop_index("ix_keys_created")
        batch_op.create_index("ix_keys_account_created", ["account_uid", "creation_date", "key_id"])
    with op.batch_alter_table("secrets") as batch_op:
        batch_op.drop_index("ix_secrets_created")
        batch_op.create_index("ix_secrets_account_created", ["account_uid", "create_time", "secret_name"])
    if first is not None:
        bind.execute(
            sa.text("UPDATE meta SET name = :new WHERE name = :old"),
            {"new": f"{DEFAULT_KEY_META}:{first}", "old": DEFAULT_KEY_META},
        )


def downgrade() -> None:
    bind = op.get_bind()
    first = _first_account()
    for table in OWNED:
        others = bind.execute(
            sa.text(f"SELECT count(*) FROM {table} WHERE account_uid <> :uid"),  # noqa: S608
            {"uid": first or ""},
        ).scalar()
        if others:
            raise RuntimeError(
                f"{table} holds resources of accounts other than the first; the older schema cannot hold them"
            )
    if first is not None:
        bind.execute(
            sa.text("UPDATE meta SET name = :old WHERE name = :new"),
            {"new": f"{DEFAULT_KEY_META}:{first}", "old": DEFAULT_KEY_META},
        )
    with op.batch_alter_table("secrets") as batch_op:
        batch_op.drop_index("ix_secrets_account_created")
        batch_op.create_index("ix_secrets_created", ["create_time", "secret_name"])
    with op.batch_alter_table("keys") as batch_op:
        batch_op.drop_index("ix_keys_account_created")
        batch_op.create_index("ix_keys_created", ["creation_date", "key_id"])
    for table, old_key in OWNED.items():
        if old_key is not None:
            _set_primary_key(table, old_key)
        with op.batch_alter_table(table) as batch_op:
            batch_op.drop_column("account_uid")
