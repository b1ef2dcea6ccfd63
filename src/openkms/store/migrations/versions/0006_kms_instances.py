"""KMS instances, network rules, AAP policies, application access points and client keys;
secrets get the instance that holds them

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 21:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "kms_instances",
        sa.Column("instance_id", sa.String(length=64), primary_key=True),
        sa.Column("account_uid", sa.String(length=16), nullable=False),
        sa.Column("instance_name", sa.String(length=128), nullable=False),
        sa.Column("spec", sa.Integer(), nullable=False),
        sa.Column("key_num", sa.Integer(), nullable=False),
        sa.Column("secret_num", sa.Integer(), nullable=False),
        sa.Column("vpc_num", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("vpc_id", sa.String(length=64), nullable=False),
        sa.Column("vswitch_ids", sa.Text(), nullable=False),
        sa.Column("zone_ids", sa.Text(), nullable=False),
        sa.Column("bind_vpcs", sa.Text(), nullable=False),
        sa.Column("deletion_protection", sa.Boolean(), nullable=False),
        sa.Column("deletion_protection_description", sa.Text(), nullable=False),
        sa.Column("create_time", sa.Float(), nullable=False),
        sa.Column("end_time", sa.Float(), nullable=True),
    )
    op.create_index(
        "ix_kms_instances_account_created", "kms_instances", ["account_uid", "create_time", "instance_id"]
    )
    op.create_table(
        "network_rules",
        sa.Column("account_uid", sa.String(length=16), primary_key=True),
        sa.Column("name", sa.String(length=128), primary_key=True),
        sa.Column("rule_type", sa.String(length=16), nullable=False),
        sa.Column("source_private_ip", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("create_time", sa.Float(), nullable=False),
    )
    op.create_table(
        "aap_policies",
        sa.Column("account_uid", sa.String(length=16), primary_key=True),
        sa.Column("name", sa.String(length=128), primary_key=True),
        sa.Column("kms_instance", sa.String(length=64), nullable=False),
        sa.Column("permissions", sa.Text(), nullable=False),
        sa.Column("resources", sa.Text(), nullable=False),
        sa.Column("network_rules", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("create_time", sa.Float(), nullable=False),
    )
    op.create_table(
        "access_points",
        sa.Column("account_uid", sa.String(length=16), primary_key=True),
        sa.Column("name", sa.String(length=128), primary_key=True),
        sa.Column("authentication_method", sa.String(length=16), nullable=False),
        sa.Column("policies", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("create_time", sa.Float(), nullable=False),
    )
    op.create_table(
        "client_keys",
        sa.Column("client_key_id", sa.String(length=64), primary_key=True),
        sa.Column("account_uid", sa.String(length=16), nullable=False),
        sa.Column("aap_name", sa.String(length=128), nullable=False),
        sa.Column("key_algorithm", sa.String(length=16), nullable=False),
        sa.Column("key_origin", sa.String(length=16), nullable=False),
        sa.Column("public_key_der", sa.LargeBinary(), nullable=False),
        sa.Column("certificate_der", sa.LargeBinary(), nullable=False),
        sa.Column("not_before", sa.Float(), nullable=False),
        sa.Column("not_after", sa.Float(), nullable=False),
        sa.Column("create_time", sa.Float(), nullable=False),
    )
    op.create_index("ix_client_keys_aap", "client_keys", ["account_uid", "aap_name", "create_time"])
    with op.batch_alter_table("secrets") as batch:
        batch.add_column(
            sa.Column("dkms_instance_id", sa.String(length=64), nullable=False, server_default="")
        )
    op.create_index("ix_secrets_instance", "secrets", ["dkms_instance_id"])
    op.create_index("ix_keys_instance", "keys", ["dkms_instance_id"])


def downgrade() -> None:
    op.drop_index("ix_keys_instance", table_name="keys")
    op.drop_index("ix_secrets_instance", table_name="secrets")
    with op.batch_alter_table("secrets") as batch:
        batch.drop_column("dkms_instance_id")
    op.drop_index("ix_client_keys_aap", table_name="client_keys")
    op.drop_table("client_keys")
    op.drop_table("access_points")
    op.drop_table("aap_policies")
    op.drop_table("network_rules")
    op.drop_index("ix_kms_instances_account_created", table_name="kms_instances")
    op.drop_table("kms_instances")
