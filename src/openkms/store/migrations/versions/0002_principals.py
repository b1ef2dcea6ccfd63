"""accounts, RAM users, groups, roles, custom policies and attachments; AccessKeys get an owner

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02 13:09:11.050786

The deployment's account (the meta row ``account_id``) becomes the first row of ``accounts``,
and every AccessKey of a database made before accounts existed is a root AccessKey of it.
"""

from __future__ import annotations

import time

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("uid", sa.String(length=16), nullable=False),
        sa.Column("display_name", sa.Text(), nullable=False),
        sa.Column("created", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("uid"),
    )
    op.create_table(
        "ram_group_members",
        sa.Column("group_id", sa.String(length=20), nullable=False),
        sa.Column("user_id", sa.String(length=20), nullable=False),
        sa.Column("joined", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("group_id", "user_id"),
    )
    with op.batch_alter_table("ram_group_members", schema=None) as batch_op:
        batch_op.create_index("ix_ram_group_members_user", ["user_id"], unique=False)

    op.create_table(
        "ram_groups",
        sa.Column("group_id", sa.String(length=20), nullable=False),
        sa.Column("account_uid", sa.String(length=16), nullable=False),
        sa.Column("group_name", sa.String(length=64), nullable=False),
        sa.Column("comments", sa.String(length=128), nullable=False),
        sa.Column("created", sa.Float(), nullable=False),
        sa.Column("updated", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("group_id"),
        sa.UniqueConstraint("account_uid", "group_name", name="uq_ram_groups_name"),
    )
    op.create_table(
        "ram_policies",
        sa.Column("account_uid", sa.String(length=16), nullable=False),
        sa.Column("policy_name", sa.String(length=128), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("default_version", sa.Integer(), nullable=False),
        sa.Column("last_version", sa.Integer(), nullable=False),
        sa.Column("created", sa.Float(), nullable=False),
        sa.Column("updated", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("account_uid", "policy_name"),
    )
    op.create_table(
        "ram_policy_attachments",
        sa.Column("account_uid", sa.String(length=16), nullable=False),
        sa.Column("policy_type", sa.String(length=16), nullable=False),
        sa.Column("policy_name", sa.String(length=128), nullable=False),
        sa.Column("principal_type", sa.String(length=16), nullable=False),
        sa.Column("principal_id", sa.String(length=20), nullable=False),
        sa.Column("attached", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint(
            "account_uid", "policy_type", "policy_name", "principal_type", "principal_id"
        ),
    )
    with op.batch_alter_table("ram_policy_attachments", schema=None) as batch_op:
        batch_op.create_index(
            "ix_ram_policy_attachments_principal", ["principal_type", "principal_id"], unique=False
        )

    op.create_table(
        "ram_policy_versions",
        sa.Column("account_uid", sa.String(length=16), nullable=False),
        sa.Column("policy_name", sa.String(length=128), nullable=False),
        sa.Column("version", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.Column("created", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("account_uid", "policy_name", "version"),
    )
    op.create_table(
        "ram_roles",
        sa.Column("role_id", sa.String(length=20), nullable=False),
        sa.Column("account_uid", sa.String(length=16), nullable=False),
        sa.Column("role_name", sa.String(length=64), nullable=False),
        sa.Column("name_key", sa.String(length=64), nullable=False),
        sa.Column("trust_policy", sa.Text(), nullable=False),
        sa.Column("max_session_duration", sa.Integer(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("created", sa.Float(), nullable=False),
        sa.Column("updated", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("role_id"),
        sa.UniqueConstraint("account_uid", "name_key", name="uq_ram_roles_name"),
    )
    op.create_table(
        "ram_users",
        sa.Column("user_id", sa.String(length=20), nullable=False),
        sa.Column("account_uid", sa.String(length=16), nullable=False),
        sa.Column("user_name", sa.String(length=64), nullable=False),
        sa.Column("display_name", sa.String(length=128), nullable=False),
        sa.Column("comments", sa.String(length=128), nullable=False),
        sa.Column("email", sa.String(length=128), nullable=False),
        sa.Column("mobile_phone", sa.String(length=32), nullable=False),
        sa.Column("created", sa.Float(), nullable=False),
        sa.Column("updated", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("user_id"),
        sa.UniqueConstraint("account_uid", "user_name", name="uq_ram_users_name"),
    )

    # The existing deployment's account becomes the first account, and its AccessKeys (every
    # one was the account's root) belong to it.
    bind = op.get_bind()
    account = bind.execute(sa.text("SELECT value FROM meta WHERE name = 'account_id'")).scalar()
    if account is not None:
        bind.execute(
            sa.text("INSERT INTO accounts (uid, display_name, created) VALUES (:uid, '', :at)"),
            {"uid": account, "at": time.time()},
        )
    with op.batch_alter_table("access_keys", schema=None) as batch_op:
        batch_op.add_column(sa.Column("account_uid", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("user_id", sa.String(length=20), nullable=True))
    if account is not None:
        bind.execute(sa.text("UPDATE access_keys SET account_uid = :uid"), {"uid": account})
    with op.batch_alter_table("access_keys", schema=None) as batch_op:
        batch_op.alter_column("account_uid", existing_type=sa.String(length=16), nullable=False)
        batch_op.create_index("ix_access_keys_owner", ["account_uid", "user_id"], unique=False)
        batch_op.drop_column("is_root")


def downgrade() -> None:
    with op.batch_alter_table("access_keys", schema=None) as batch_op:
        batch_op.add_column(sa.Column("is_root", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.drop_index("ix_access_keys_owner")
        batch_op.drop_column("user_id")
        batch_op.drop_column("account_uid")

    op.drop_table("ram_users")
    op.drop_table("ram_roles")
    op.drop_table("ram_policy_versions")
    with op.batch_alter_table("ram_policy_attachments", schema=None) as batch_op:
        batch_op.drop_index("ix_ram_policy_attachments_principal")

    op.drop_table("ram_policy_attachments")
    op.drop_table("ram_policies")
    op.drop_table("ram_groups")
    with op.batch_alter_table("ram_group_members", schema=None) as batch_op:
        batch_op.drop_index("ix_ram_group_members_user")

    op.drop_table("ram_group_members")
    op.drop_table("accounts")
