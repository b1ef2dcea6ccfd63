"""Tables (SQLAlchemy Core). The same schema and queries serve SQLite and PostgreSQL: no
dialect-only SQL. Times are epoch seconds (float) in UTC; rendering is the wire's business.

What is secret is stored only wrapped (``*_wrapped`` columns, AES-256-GCM under a KEK with
associated data naming the row); public keys and metadata are stored plain.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

# Deployment facts: account id, region, root fingerprint, schema markers.
meta = Table(
    "meta",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

keks = Table(
    "keks",
    metadata,
    Column("kek_version", Integer, primary_key=True, autoincrement=False),
    Column("wrapped", LargeBinary, nullable=False),
    Column("created", Float, nullable=False),
)

access_keys = Table(
    "access_keys",
    metadata,
    Column("access_key_id", String(64), primary_key=True),
    Column("secret_wrapped", LargeBinary, nullable=False),
    Column("kek_version", Integer, nullable=False),
    Column("status", String(16), nullable=False),  # Active | Inactive
    Column("description", Text, nullable=False, default=""),
    Column("created", Float, nullable=False),
    # The owner: an account's root (user_id NULL) or one of its RAM users.
    Column("account_uid", String(16), nullable=False),
    Column("user_id", String(20), nullable=True),
    Index("ix_access_keys_owner", "account_uid", "user_id"),
)

# Tenants. The first is made by `openkms init`; its uid is also the meta row `account_id`
# (the account named in the deployment's key and secret ARNs).
accounts = Table(
    "accounts",
    metadata,
    Column("uid", String(16), primary_key=True),
    Column("display_name", Text, nullable=False, default=""),
    Column("created", Float, nullable=False),
)

ram_users = Table(
    "ram_users",
    metadata,
    Column("user_id", String(20), primary_key=True),
    Column("account_uid", String(16), nullable=False),
    Column("user_name", String(64), nullable=False),
    Column("display_name", String(128), nullable=False, default=""),
    Column("comments", String(128), nullable=False, default=""),
    Column("email", String(128), nullable=False, default=""),
    Column("mobile_phone", String(32), nullable=False, default=""),
    Column("created", Float, nullable=False),
    Column("updated", Float, nullable=False),
    UniqueConstraint("account_uid", "user_name", name="uq_ram_users_name"),
)

ram_groups = Table(
    "ram_groups",
    metadata,
    Column("group_id", String(20), primary_key=True),
    Column("account_uid", String(16), nullable=False),
    Column("group_name", String(64), nullable=False),
    Column("comments", String(128), nullable=False, default=""),
    Column("created", Float, nullable=False),
    Column("updated", Float, nullable=False),
    UniqueConstraint("account_uid", "group_name", name="uq_ram_groups_name"),
)

ram_group_members = Table(
    "ram_group_members",
    metadata,
    Column("group_id", String(20), primary_key=True),
    Column("user_id", String(20), primary_key=True),
    Column("joined", Float, nullable=False),
    Index("ix_ram_group_members_user", "user_id"),
)

ram_roles = Table(
    "ram_roles",
    metadata,
    Column("role_id", String(20), primary_key=True),
    Column("account_uid", String(16), nullable=False),
    Column("role_name", String(64), nullable=False),
    # The name lowercased: role names are unique per account whatever their case.
    Column("name_key", String(64), nullable=False),
    Column("trust_policy", Text, nullable=False),
    Column("max_session_duration", Integer, nullable=False, default=3600),
    Column("description", Text, nullable=False, default=""),
    Column("created", Float, nullable=False),
    Column("updated", Float, nullable=False),
    UniqueConstraint("account_uid", "name_key", name="uq_ram_roles_name"),
)

# Custom policies only: system policies are built into the code.
ram_policies = Table(
    "ram_policies",
    metadata,
    Column("account_uid", String(16), primary_key=True),
    Column("policy_name", String(128), primary_key=True),
    Column("description", Text, nullable=False, default=""),
    Column("default_version", Integer, nullable=False),
    # The number of the last version made: version ids are never reused.
    Column("last_version", Integer, nullable=False),
    Column("created", Float, nullable=False),
    Column("updated", Float, nullable=False),
)

ram_policy_versions = Table(
    "ram_policy_versions",
    metadata,
    Column("account_uid", String(16), primary_key=True),
    Column("policy_name", String(128), primary_key=True),
    Column("version", Integer, primary_key=True, autoincrement=False),  # N of "vN"
    Column("document", Text, nullable=False),
    Column("created", Float, nullable=False),
)

ram_policy_attachments = Table(
    "ram_policy_attachments",
    metadata,
    Column("account_uid", String(16), primary_key=True),
    Column("policy_type", String(16), primary_key=True),  # System | Custom
    Column("policy_name", String(128), primary_key=True),
    Column("principal_type", String(16), primary_key=True),  # User | Group | Role
    Column("principal_id", String(20), primary_key=True),
    Column("attached", Float, nullable=False),
    Index("ix_ram_policy_attachments_principal", "principal_type", "principal_id"),
)

# Keys, aliases, secrets and tags belong to one account each (``account_uid``). Key ids are
# unique across the deployment; alias and secret names only within an account.
keys = Table(
    "keys",
    metadata,
    Column("key_id", String(64), primary_key=True),
    Column("account_uid", String(16), nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("key_spec", String(32), nullable=False),
    Column("key_usage", String(32), nullable=False),
    Column("origin", String(16), nullable=False),
    Column("protection_level", String(16), nullable=False),
    Column("key_state", String(32), nullable=False),
    Column("creator", String(64), nullable=False),
    Column("creator_type", String(16), nullable=False, default="User"),
    Column("creation_date", Float, nullable=False),
    Column("delete_date", Float, nullable=True),
    Column("material_expire_time", Float, nullable=True),
    Column("primary_version_id", String(64), nullable=True),
    Column("automatic_rotation", Boolean, nullable=False, default=False),
    Column("rotation_interval", Integer, nullable=True),  # seconds
    Column("last_rotation_date", Float, nullable=True),
    Column("next_rotation_date", Float, nullable=True),
    Column("deletion_protection", Boolean, nullable=False, default=False),
    Column("deletion_protection_description", Text, nullable=False, default=""),
    Column("dkms_instance_id", String(64), nullable=False, default=""),
    Column("policy", Text, nullable=True),
    # Bumped by every change; caches compare it, concurrent writers check it.
    Column("revision", Integer, nullable=False, default=1),
    # ListKeys: one account's keys in creation order.
    Index("ix_keys_account_created", "account_uid", "creation_date", "key_id"),
    Index("ix_keys_state", "key_state"),
    Index("ix_keys_instance", "dkms_instance_id"),
)

key_versions = Table(
    "key_versions",
    metadata,
    Column("version_id", String(64), primary_key=True),
    Column("key_id", String(64), nullable=False),
    Column("creation_date", Float, nullable=False),
    Column("kek_version", Integer, nullable=True),
    # NULL for an EXTERNAL key's version until material is imported (and after it is deleted).
    Column("material_wrapped", LargeBinary, nullable=True),
    # A digest binding an EXTERNAL key to the one material it may ever take again.
    Column("material_digest", String(128), nullable=True),
    Column("public_key_der", LargeBinary, nullable=True),
    Index("ix_key_versions_key", "key_id", "creation_date"),
)

aliases = Table(
    "aliases",
    metadata,
    Column("account_uid", String(16), primary_key=True),
    Column("alias_name", String(300), primary_key=True),
    Column("key_id", String(64), nullable=False),
    Column("creation_date", Float, nullable=False),
    Column("update_date", Float, nullable=False),
    Index("ix_aliases_key", "key_id"),
)

tags = Table(
    "tags",
    metadata,
    Column("account_uid", String(16), primary_key=True),  # the resource's owner
    Column("resource_type", String(16), primary_key=True),  # key | secret
    Column("resource_id", String(300), primary_key=True),
    Column("tag_key", String(128), primary_key=True),
    Column("tag_value", String(128), nullable=False),
    Index("ix_tags_kv", "tag_key", "tag_value"),
)

import_tokens = Table(
    "import_tokens",
    metadata,
    Column("token", String(128), primary_key=True),
    Column("key_id", String(64), nullable=False),
    Column("wrapping_key_spec", String(32), nullable=False),
    Column("wrapping_algorithm", String(32), nullable=False),
    Column("private_wrapped", LargeBinary, nullable=False),
    Column("kek_version", Integer, nullable=False),
    Column("public_key_der", LargeBinary, nullable=False),
    Column("expires_at", Float, nullable=False),
    Index("ix_import_tokens_key", "key_id"),
)

secrets = Table(
    "secrets",
    metadata,
    Column("account_uid", String(16), primary_key=True),
    Column("secret_name", String(256), primary_key=True),
    Column("description", Text, nullable=False, default=""),
    Column("encryption_key_id", String(64), nullable=False),
    Column("secret_type", String(32), nullable=False, default="Generic"),
    Column("extended_config", Text, nullable=True),
    Column("automatic_rotation", String(16), nullable=False, default="Disabled"),
    Column("rotation_interval", Integer, nullable=True),
    Column("last_rotation_date", Float, nullable=True),
    Column("next_rotation_date", Float, nullable=True),
    Column("planned_delete_time", Float, nullable=True),
    Column("create_time", Float, nullable=False),
    Column("update_time", Float, nullable=False),
    Column("policy", Text, nullable=True),
    Column("revision", Integer, nullable=False, default=1),
    # The KMS instance holding the secret; "" for none (the shared default path).
    Column("dkms_instance_id", String(64), nullable=False, default="", server_default=""),
    # ListSecrets: one account's secrets in creation order.
    Index("ix_secrets_account_created", "account_uid", "create_time", "secret_name"),
    Index("ix_secrets_instance", "dkms_instance_id"),
)

secret_versions = Table(
    "secret_versions",
    metadata,
    Column("account_uid", String(16), primary_key=True),
    Column("secret_name", String(256), primary_key=True),
    Column("version_id", String(64), primary_key=True),
    Column("secret_data_type", String(16), nullable=False),
    # The value encrypted under the secret's CMK (a CiphertextBlob's bytes), never plaintext.
    Column("ciphertext", LargeBinary, nullable=False),
    Column("create_time", Float, nullable=False),
    Column("seq", Integer, nullable=False),
)

secret_version_stages = Table(
    "secret_version_stages",
    metadata,
    Column("account_uid", String(16), primary_key=True),
    Column("secret_name", String(256), primary_key=True),
    Column("stage", String(64), primary_key=True),
    Column("version_id", String(64), nullable=False),
)

# Where managed secrets rotate: a database or Redis server of one account, reached at ``dsn``
# (no password in it) with the admin account held in the Generic secret ``admin_secret``.
secret_targets = Table(
    "secret_targets",
    metadata,
    Column("account_uid", String(16), primary_key=True),
    Column("name", String(64), primary_key=True),
    Column("target_type", String(16), nullable=False),
    Column("dsn", Text, nullable=False),
    Column("admin_secret", String(256), nullable=False),
    Column("create_time", Float, nullable=False),
)

# A managed secret's rotation in flight (domain/rotation.py): the pending version, the account
# it sets, the step reached, and the retries of a failing step. The row goes when it completes.
secret_rotations = Table(
    "secret_rotations",
    metadata,
    Column("account_uid", String(16), primary_key=True),
    Column("secret_name", String(256), primary_key=True),
    Column("version_id", String(64), nullable=False),
    Column("account_name", String(64), nullable=False),
    Column("step", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt", Float, nullable=False),
    Column("last_error", Text, nullable=False),
    Column("started", Float, nullable=False),
    Index("ix_secret_rotations_next", "next_attempt"),
)

# KMS instances (docs/instances.md). Ids are unique across the deployment (like key ids); the
# list-valued columns (vSwitches, zones, bound VPCs) are stored as JSON text.
kms_instances = Table(
    "kms_instances",
    metadata,
    Column("instance_id", String(64), primary_key=True),
    Column("account_uid", String(16), nullable=False),
    Column("instance_name", String(128), nullable=False),
    Column("spec", Integer, nullable=False),
    Column("key_num", Integer, nullable=False),  # key quota
    Column("secret_num", Integer, nullable=False),  # secret quota
    Column("vpc_num", Integer, nullable=False),  # bound-VPC quota
    Column("status", String(16), nullable=False),  # Uninitialized | Connected
    Column("vpc_id", String(64), nullable=False),
    Column("vswitch_ids", Text, nullable=False),
    Column("zone_ids", Text, nullable=False),
    Column("bind_vpcs", Text, nullable=False),
    Column("deletion_protection", Boolean, nullable=False),
    Column("deletion_protection_description", Text, nullable=False),
    Column("create_time", Float, nullable=False),
    Column("end_time", Float, nullable=True),
    Index("ix_kms_instances_account_created", "account_uid", "create_time", "instance_id"),
)

# Application access: network rules (source addresses), AAP permission policies (templates,
# resources, the network rules they require, the instance they apply to), access points (their
# policies) and client keys. Names are unique per account; list-valued columns are JSON text.
network_rules = Table(
    "network_rules",
    metadata,
    Column("account_uid", String(16), primary_key=True),
    Column("name", String(128), primary_key=True),
    Column("rule_type", String(16), nullable=False),
    Column("source_private_ip", Text, nullable=False),
    Column("description", Text, nullable=False),
    Column("create_time", Float, nullable=False),
)

aap_policies = Table(
    "aap_policies",
    metadata,
    Column("account_uid", String(16), primary_key=True),
    Column("name", String(128), primary_key=True),
    Column("kms_instance", String(64), nullable=False),
    Column("permissions", Text, nullable=False),
    Column("resources", Text, nullable=False),
    Column("network_rules", Text, nullable=False),
    Column("description", Text, nullable=False),
    Column("create_time", Float, nullable=False),
)

access_points = Table(
    "access_points",
    metadata,
    Column("account_uid", String(16), primary_key=True),
    Column("name", String(128), primary_key=True),
    Column("authentication_method", String(16), nullable=False),
    Column("policies", Text, nullable=False),
    Column("description", Text, nullable=False),
    Column("create_time", Float, nullable=False),
)

# A client key's public half only: its private key and password are handed out once by
# CreateClientKey and never kept. Ids are unique across the deployment.
client_keys = Table(
    "client_keys",
    metadata,
    Column("client_key_id", String(64), primary_key=True),
    Column("account_uid", String(16), nullable=False),
    Column("aap_name", String(128), nullable=False),
    Column("key_algorithm", String(16), nullable=False),
    Column("key_origin", String(16), nullable=False),
    Column("public_key_der", LargeBinary, nullable=False),  # SubjectPublicKeyInfo
    Column("certificate_der", LargeBinary, nullable=False),
    Column("not_before", Float, nullable=False),
    Column("not_after", Float, nullable=False),
    Column("create_time", Float, nullable=False),
    Index("ix_client_keys_aap", "account_uid", "aap_name", "create_time"),
)

# Leases for work that exactly one node may do at a time (the job runner).
leases = Table(
    "leases",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("holder", String(128), nullable=False),
    Column("expires_at", Float, nullable=False),
)

# The audit trail (domain/audit.py): one chain of events per writer (a server process or an
# offline command). ``event`` is the canonical JSON the MAC covers; the other columns are copies
# of its fields for filtering. A chain's row is its head: the last seq and MAC, under a MAC of
# its own (``head``), and the KEK version its key is derived from.
audit_chains = Table(
    "audit_chains",
    metadata,
    Column("chain", String(64), primary_key=True),
    Column("node", String(128), nullable=False),
    Column("started", Float, nullable=False),
    Column("kek_version", Integer, nullable=False),
    Column("seq", Integer, nullable=False),
    Column("mac", LargeBinary, nullable=False),
    Column("head", LargeBinary, nullable=False),
    Column("closed", Boolean, nullable=False),
    # Events before this seq were pruned (after an export); ``pruned_mac`` is the MAC of the
    # last pruned one, where verification picks the chain up.
    Column("pruned_seq", Integer, nullable=False),
    Column("pruned_mac", LargeBinary, nullable=False),
)

audit_events = Table(
    "audit_events",
    metadata,
    Column("chain", String(64), primary_key=True),
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("at", Float, nullable=False),
    Column("account_uid", String(16), nullable=False),
    Column("event_name", String(128), nullable=False),
    Column("event", Text, nullable=False),
    Column("mac", LargeBinary, nullable=False),
    Index("ix_audit_events_at", "at"),
)


# Replay protection. On the embedded default this table lives in its own SQLite file
# (synchronous=NORMAL: survives a process crash without an fsync per request).
nonce_metadata = MetaData()
nonces = Table(
    "nonces",
    nonce_metadata,
    Column("access_key_id", String(64), primary_key=True),
    Column("nonce", String(128), primary_key=True),
    Column("expires_at", Float, nullable=False),
    Index("ix_nonces_expires", "expires_at"),
    # SQLite: the primary key is the table (one B-tree fewer to update per request).
    sqlite_with_rowid=False,
)
