"""the audit trail: chains and their events

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 16:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_chains",
        sa.Column("chain", sa.String(length=64), primary_key=True),
        sa.Column("node", sa.String(length=128), nullable=False),
        sa.Column("started", sa.Float(), nullable=False),
        sa.Column("kek_version", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("mac", sa.LargeBinary(), nullable=False),
        sa.Column("head", sa.LargeBinary(), nullable=False),
        sa.Column("closed", sa.Boolean(), nullable=False),
        sa.Column("pruned_seq", sa.Integer(), nullable=False),
        sa.Column("pruned_mac", sa.LargeBinary(), nullable=False),
    )
    op.create_table(
        "audit_events",
        sa.Column("chain", sa.String(length=64), primary_key=True),
        sa.Column("seq", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("at", sa.Float(), nullable=False),
        sa.Column("account_uid", sa.String(length=16), nullable=False),
        sa.Column("event_name", sa.String(length=128), nullable=False),
        sa.Column("event", sa.Text(), nullable=False),
        sa.Column("mac", sa.LargeBinary(), nullable=False),
    )
    op.create_index("ix_audit_events_at", "audit_events", ["at"])


def downgrade() -> None:
    op.drop_index("ix_audit_events_at", table_name="audit_events")
    op.drop_table("audit_events")
    op.drop_table("audit_chains")
