"""managed secrets: the RotateSecret requests of the last hour, for the per-account limit

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 21:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "secret_rotation_requests",
        sa.Column("account_uid", sa.String(length=16), primary_key=True),
        sa.Column("secret_name", sa.String(length=256), primary_key=True),
        sa.Column("version_id", sa.String(length=64), primary_key=True),
        sa.Column("requested", sa.Float(), primary_key=True),
    )
    op.create_index(
        "ix_secret_rotation_requests_account", "secret_rotation_requests", ["account_uid", "requested"]
    )


def downgrade() -> None:
    op.drop_index("ix_secret_rotation_requests_account", table_name="secret_rotation_requests")
    op.drop_table("secret_rotation_requests")
