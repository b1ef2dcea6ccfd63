"""Runs calls of the official instance SDKs (alibabacloud-dkms-gcs, alibabacloud-kms-python-sdk,
the Secrets Manager client) in their own virtual environment, whose pins (pyOpenSSL < 23.3,
cryptography < 42, protobuf < 3.20) cannot live beside openkms's; see
tests/support/instance_sdk.py, which starts it.

Reads one JSON document on stdin: ``host`` (the gateway host name, resolved to 127.0.0.1 in this
process only), ``port``, ``ca``, ``client_key_file``, ``password`` and ``calls``, a list of
``{"client": "dkms" | "transfer" | "secrets", "action": ..., "request": {...}}``. Bytes travel as
``{"b64": ...}``. Writes one JSON list: each call's answer (its fields) or its error
(``{"error": {"code", "message", "request_id", "status"}}``).
"""

from __future__ import annotations

import base64
import json
import re
import socket
import sys
from typing import Any

_real_getaddrinfo = socket.getaddrinfo


def _resolve_to_loopback(host: str) -> None:
    def getaddrinfo(name: Any, *args: Any, **kwargs: Any) -> Any:
        return _real_getaddrinfo("127.0.0.1" if name == host else name, *args, **kwargs)

    socket.getaddrinfo = getaddrinfo  # type: ignore[assignment]


def _decode(value: Any) -> Any:
    if isinstance(value, dict) and set(value) == {"b64"}:
        return base64.b64decode(value["b64"])
    if isinstance(value, dict):
        return {k: _decode(v) for k, v in value.items()}
    return value


def _encode(value: Any) -> Any:
    if isinstance(value, bytes | bytearray):
        return {"b64": base64.b64encode(value).decode()}
    if isinstance(value, dict):
        return {k: _encode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_encode(v) for v in value]
    return value


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def main() -> None:
    spec = json.load(sys.stdin)
    _resolve_to_loopback(spec["host"])
    from openapi.models import Config
    from openapi_util.models import RuntimeOptions
    from sdk import models as dkms_models
    from sdk.client import Client as DkmsClient
    from Tea.exceptions import TeaException

    endpoint = f"{spec['host']}:{spec['port']}"
    config = Config(
        protocol="https",
        client_key_file=spec["client_key_file"],
        password=spec["password"],
        endpoint=endpoint,
        ca_file_path=spec["ca"],
    )
    dkms = DkmsClient(config)
    if "presign" in spec:
        json.dump(_encode(_presign(dkms, spec["host"], spec["port"], spec["presign"])), sys.stdout)
        return
    out: list[Any] = []
    for call in spec["calls"]:
        action, request = call["action"], _decode(call.get("request", {}))
        try:
            if call["client"] == "dkms":
                model = getattr(dkms_models, f"{action}Request")().from_map(request)
                runtime = RuntimeOptions(ignore_ssl=False, response_headers=["x-kms-migrationkeyversionid"])
                if call.get("headers"):
                    model.request_headers = call["headers"]
                answer = getattr(dkms, f"{_snake(action)}_with_options")(model, runtime).to_map()
            elif call["client"] == "transfer":
                answer = _transfer(spec, endpoint, action, request, low=call.get("low", False))
            else:
                answer = _secrets(spec, endpoint, request)
            out.append(answer)
        except TeaException as exc:
            data = exc.data or {}
            out.append(
                {
                    "error": {
                        "code": exc.code,
                        "message": exc.message,
                        "request_id": data.get("requestId"),
                        "status": data.get("httpCode"),
                    }
                }
            )
    json.dump(_encode(out), sys.stdout)


def _presign(client: Any, host: str, port: int, job: dict[str, Any]) -> list[dict[str, Any]]:
    """Requests as the instance SDK builds and signs them (its serializer, its headers, its
    string to sign and its signer), not sent: for replays and for the benchmark."""
    import functools

    from alibabacloud_darabonba_signature_util import signer
    from alibabacloud_openapi_util.client import Client as OpenApiUtilClient
    from alibabacloud_tea_util.client import Client as UtilClient
    from openapi_util.client import Client as DkmsUtil

    # The SDK's signer parses the private key's PEM for every request (an RSA key check each
    # time); a batch of thousands parses it once, and signs as the SDK does.
    signer.load_pem_private_key = functools.lru_cache(maxsize=4)(signer.load_pem_private_key)

    serialize = getattr(DkmsUtil, f"get_serialized_{_snake(job['action'])}_request")
    out = []
    for request in job["requests"]:
        body = serialize(_decode(request))
        headers = {
            "accept": "application/x-protobuf",
            "host": f"{host}:{port}",
            "date": job.get("date") or UtilClient.get_date_utcstring(),
            "user-agent": client._user_agent,
            "x-kms-apiversion": "dkms-gcs-0.2",
            "x-kms-apiname": job["action"],
            "x-kms-signaturemethod": "RSA_PKCS1_SHA_256",
            "x-kms-acccesskeyid": client._credential.get_access_key_id(),
            "content-type": "application/x-protobuf",
            "content-length": str(len(body)),
            "content-sha256": OpenApiUtilClient.hex_encode(OpenApiUtilClient.hash(body, "ACS3-RSA-SHA256")).upper(),
        }
        headers["authorization"] = client._credential.get_signature(DkmsUtil.get_string_to_sign("POST", "/", headers, None))
        out.append({"headers": headers, "body": body})
    return out


def _transfer(spec: dict[str, Any], endpoint: str, action: str, request: dict[str, Any], *, low: bool) -> Any:
    """A KMS (2016-01-20) action through the KMS SDK's transfer client: crypto to the gateway
    (through the instance API's Advance* actions, or with ``low`` its plain ones)."""
    from alibabacloud_kms20160120 import models as kms_models
    from alibabacloud_kms_kms20160120.models import KmsConfig, KmsRuntimeOptions
    from alibabacloud_kms_kms20160120.transfer_client import TransferClient
    from alibabacloud_tea_openapi import models as open_api_models

    kms_config = KmsConfig(
        protocol="https",
        client_key_file=spec["client_key_file"],
        password=spec["password"],
        endpoint=endpoint,
        force_low_version_crypto_transfer=low,
    )
    # Given alone, kms_config's transfer choice is not read: the SDK keeps it only beside a
    # config for the shared endpoint, which no call here reaches.
    shared = open_api_models.Config(
        access_key_id="unused", access_key_secret="unused", endpoint="127.0.0.1:9", region_id="cn-hangzhou"
    )
    client = TransferClient(config=shared, kms_config=kms_config)
    model = getattr(kms_models, f"{action}Request")().from_map(request)
    runtime = KmsRuntimeOptions(ca=spec["ca"])
    return getattr(client, f"{_snake(action)}_with_options")(model, runtime).body.to_map()


def _secrets(spec: dict[str, Any], endpoint: str, request: dict[str, Any]) -> Any:
    """GetSecretValue through the Secrets Manager client over a client key (its dkms config)."""
    from alibabacloud_secretsmanager_client.model.dkms_config import DKmsConfig
    from alibabacloud_secretsmanager_client.secret_manager_cache_client_builder import (
        SecretManagerCacheClientBuilder,
    )
    from alibabacloud_secretsmanager_client.service.default_secret_manager_client_builder import (
        DefaultSecretManagerClientBuilder,
    )

    dkms_config = DKmsConfig()
    dkms_config.endpoint = endpoint
    dkms_config.client_key_file = spec["client_key_file"]
    dkms_config.password = spec["password"]
    dkms_config.ca_file_path = spec["ca"]
    dkms_config.region_id = "cn-hangzhou"
    dkms_config.ignore_ssl_certs = False
    builder = DefaultSecretManagerClientBuilder.standard().add_dkms_config(dkms_config)
    cache = SecretManagerCacheClientBuilder.new_cache_client_builder(builder.build()).build()
    info = cache.get_secret_info(request["SecretName"])
    return {"SecretName": info.secret_name, "SecretValue": info.secret_value, "VersionId": info.version_id}


if __name__ == "__main__":
    main()
