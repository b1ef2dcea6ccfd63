"""managed secrets: rotation targets and rotations in flight

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 17:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "secret_targets",
        sa.Column("account_uid", sa.String(length=16), primary_key=True),
        sa.Column("name", sa.String(length=64), primary_key=True),
        sa.Column("target_type", sa.String(length=16), nullable=False),
        sa.Column("dsn", sa.Text(), nullable=False),
        sa.Column("admin_secret", sa.String(length=256), nullable=False),
        sa.Column("create_time", sa.Float(), nullable=False),
    )
    op.create_table(
        "secret_rotations",
        sa.Column("account_uid", sa.String(length=16), primary_key=True),
        sa.Column("secret_name", sa.String(length=256), primary_key=True),
        sa.Column("version_id", sa.String(length=64), nullable=False),
        sa.Column("account_name", sa.String(length=64), nullable=False),
        sa.Column("step", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt", sa.Float(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.Column("started", sa.Float(), nullable=False),
    )
    op.create_index("ix_secret_rotations_next", "secret_rotations", ["next_attempt"])


def downgrade() -> None:
    op.drop_index("ix_secret_rotations_next", table_name="secret_rotations")
    op.drop_table("secret_rotations")
    op.drop_table("secret_targets")
