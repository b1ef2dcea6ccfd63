"""Bring your own key: GetParametersForImport, ImportKeyMaterial and DeleteKeyMaterial, for keys
created with Origin=EXTERNAL. The rules are in :mod:`openkms.domain.byok` and
:mod:`openkms.service.byok`."""

from __future__ import annotations

import base64
from typing import Any

from openkms.api.keys import KEY_ID
from openkms.api.spec import ActionSpec, Param
from openkms.domain.byok import MAX_EXPIRE_UNIX, WRAPPING_ALGORITHMS, WRAPPING_KEY_SPECS
from openkms.domain.clock import iso
from openkms.service.context import CallContext


def get_parameters_for_import(
    ctx: CallContext, *, key_id: str, wrapping_algorithm: str, wrapping_key_spec: str
) -> dict[str, Any]:
    params = ctx.services.byok.get_parameters_for_import(
        ctx.scope, key_id, wrapping_key_spec, wrapping_algorithm
    )
    return {
        "KeyId": params.key_id,
        "ImportToken": params.token,
        "PublicKey": base64.b64encode(params.public_key).decode("ascii"),
        "TokenExpireTime": iso(params.expires_at),
    }


def import_key_material(
    ctx: CallContext,
    *,
    key_id: str,
    encrypted_key_material: str,
    import_token: str,
    key_material_expire_unix: int,
) -> dict[str, Any]:
    ctx.services.byok.import_key_material(
        ctx.scope, key_id, encrypted_key_material, import_token, key_material_expire_unix
    )
    return {}


def delete_key_material(ctx: CallContext, *, key_id: str) -> dict[str, Any]:
    ctx.services.byok.delete_key_material(ctx.scope, key_id)
    return {}


ACTIONS = [
    ActionSpec(
        "GetParametersForImport",
        get_parameters_for_import,
        (
            KEY_ID,
            Param(
                "WrappingAlgorithm",
                required=True,
                enum=WRAPPING_ALGORITHMS,
                doc="RSA_2048: RSAES_OAEP_SHA_256, RSAES_OAEP_SHA_1 or RSAES_PKCS1_V1_5. EC_SM2: SM2PKE.",
            ),
            Param("WrappingKeySpec", required=True, enum=WRAPPING_KEY_SPECS),
        ),
        doc="A fresh wrapping public key (Base64 DER SubjectPublicKeyInfo) and an ImportToken for one "
        "EXTERNAL key, both valid 24 hours.",
    ),
    ActionSpec(
        "ImportKeyMaterial",
        import_key_material,
        (
            KEY_ID,
            Param(
                "EncryptedKeyMaterial",
                required=True,
                max=4096,
                doc="Base64 of the material wrapped with the PublicKey and WrappingAlgorithm of the "
                "token's GetParametersForImport.",
            ),
            Param("ImportToken", required=True, max=4096, doc="From GetParametersForImport for this key."),
            Param(
                "KeyMaterialExpireUnix",
                kind=int,
                default=0,
                min=0,
                max=MAX_EXPIRE_UNIX,
                doc="Unix seconds when the material expires, in the future; 0 (default) = never.",
            ),
        ),
        doc="PendingImport -> Enabled; Enabled or Disabled keep their state. A key only ever takes "
        "the material it first had. Wrong material (unwrap, length, other material) burns the token.",
    ),
    ActionSpec(
        "DeleteKeyMaterial",
        delete_key_material,
        (KEY_ID,),
        doc="-> PendingImport (PendingDeletion keeps its state and DeleteDate).",
    ),
]
