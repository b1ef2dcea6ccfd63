"""Secrets at rest and in the field: no value in any file of the data dir, values that survive a
kill -9, and the official Secrets Manager client reading a secret from a running openkms."""

from __future__ import annotations

import base64
import binascii
import logging
import uuid
from collections.abc import Iterator

import pytest
from alibabacloud_secretsmanager_client_v2.secret_manager_cache_client_builder import (
    SecretManagerCacheClientBuilder,
)
from alibabacloud_secretsmanager_client_v2.service.default_secret_manager_client_builder import (
    DefaultSecretManagerClientBuilder,
)
from alibabacloud_tea_openapi import models as open_api_models

from tests.support.calls import SDK
from tests.support.clients import REGION
from tests.support.server import ACCESS_KEY_ID, ACCESS_KEY_SECRET, ServerProcess


def _needles(value: str) -> list[bytes]:
    raw = value.encode("utf-8")
    return [raw, base64.b64encode(raw), binascii.hexlify(raw), binascii.hexlify(raw).upper(), value.encode("utf-16-le")]


def test_canary_value_is_in_no_file_of_the_data_dir(fresh_server: ServerProcess) -> None:
    """A canary written as a secret (create, put, read, batch) appears in no file, WAL or log, raw,
    Base64, hex or UTF-16, while the server runs and after it stops."""
    canaries = []
    for name in ("tea", "old"):
        sdk = SDK(name, fresh_server.endpoint)
        first, second = (f"canary-{kind}-{uuid.uuid4().hex}" for kind in ("create", "put"))
        canaries += [first, second]
        secret = f"canary/{name}"
        sdk.call("CreateSecret", SecretName=secret, VersionId="v1", SecretData=first)
        sdk.call("PutSecretValue", SecretName=secret, VersionId="v2", SecretData=second)
        assert second == sdk.call("GetSecretValue", SecretName=secret)["SecretData"]
        assert first == sdk.call("GetSecretValue", SecretName=secret, VersionStage="ACSPrevious")["SecretData"]
    needles = [n for c in canaries for n in _needles(c)]
    for label in ("running", "stopped"):
        files = fresh_server.at_rest()  # the data dir's files, on PostgreSQL every table's rows, the log
        assert any(path.endswith(".db") or path == "table secret_versions" for path in files)
        for where, data in files.items():
            for needle in needles:
                assert needle not in data, f"{label}: {where}"
        fresh_server.stop()


def test_secrets_survive_kill9(fresh_server: ServerProcess) -> None:
    """Every acknowledged CreateSecret and PutSecretValue is there after kill -9 and a restart."""
    sdk = SDK("tea", fresh_server.endpoint)
    for i in range(5):
        sdk.call("CreateSecret", SecretName=f"durable/{i}", VersionId="v1", SecretData=f"one-{i}")
        sdk.call("PutSecretValue", SecretName=f"durable/{i}", VersionId="v2", SecretData=f"two-{i}")
    fresh_server.kill9()
    fresh_server.start()
    sdk = SDK("tea", fresh_server.endpoint)
    for i in range(5):
        assert f"two-{i}" == sdk.call("GetSecretValue", SecretName=f"durable/{i}")["SecretData"]
        previous = sdk.call("GetSecretValue", SecretName=f"durable/{i}", VersionStage="ACSPrevious")
        assert (f"one-{i}", "v1") == (previous["SecretData"], previous["VersionId"])


@pytest.fixture
def cache_client(server: ServerProcess) -> Iterator[object]:
    """The official Secrets Manager client (alibabacloud-secretsmanager-client-v2), pointed at the
    test server through an open_api Config over plain http (sdk-wire.md §6)."""
    config = open_api_models.Config(
        access_key_id=ACCESS_KEY_ID,
        access_key_secret=ACCESS_KEY_SECRET,
        region_id=REGION,
        endpoint=server.endpoint,
        protocol="http",
    )
    client = DefaultSecretManagerClientBuilder.standard().add_config(config).build()
    cache = SecretManagerCacheClientBuilder.new_cache_client_builder(client).build()
    yield cache
    cache.close()
    # The client logs every refresh at INFO on its own logger; keep the rest of the run quiet.
    logging.getLogger("SecretsManagerClientV2").setLevel(logging.WARNING)


def test_official_secrets_manager_client_reads_a_secret(server: ServerProcess, cache_client: object) -> None:
    """The official client reads a JSON secret, refreshes to a new ACSCurrent value on demand, and
    surfaces openkms's error for a secret that does not exist."""
    name = f"app/{uuid.uuid4().hex[:10]}"
    value = '{"user":"app","password":"p@ss word+/="}'
    sdk = SDK("tea", server.endpoint)
    sdk.call("CreateSecret", SecretName=name, VersionId="v1", SecretData=value)
    info = cache_client.get_secret_info(name)  # type: ignore[attr-defined]
    assert (name, "v1", value, "text", "Generic") == (
        info.secret_name, info.version_id, info.secret_value, info.secret_data_type, info.secret_type
    )
    assert value == cache_client.get_secret_value(name)  # type: ignore[attr-defined]
    sdk.call("PutSecretValue", SecretName=name, VersionId="v2", SecretData="rotated")
    assert cache_client.refresh_now(name)  # type: ignore[attr-defined]
    assert cache_client.get_secret_value(name) == "rotated"  # type: ignore[attr-defined]
    with pytest.raises(Exception) as missing:
        cache_client.get_secret_value(f"missing/{uuid.uuid4().hex}")  # type: ignore[attr-defined]
    assert missing.value.code == "Forbidden.ResourceNotFound"  # type: ignore[attr-defined]
