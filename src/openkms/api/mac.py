"""HMAC operations (group C): GenerateMac and VerifyMac with an HMAC key's one algorithm."""

from __future__ import annotations

from typing import Any

from openkms.api.asymmetric import b64decode, b64encode
from openkms.api.keys import KEY_ID
from openkms.api.spec import ActionSpec, Param
from openkms.api.symmetric import DRY_RUN
from openkms.domain.algorithms import MAC_ALGORITHMS
from openkms.service.context import CallContext

ALGORITHM = Param("Algorithm", required=True, enum=MAC_ALGORITHMS, doc="Must be the key's spec.")
MESSAGE = Param("Message", required=True, doc="Base64 of the message bytes.")


def generate_mac(
    ctx: CallContext, *, key_id: str, algorithm: str, message: str, dry_run: bool
) -> dict[str, Any]:
    key, tag = ctx.services.asymmetric.generate_mac(
        ctx.scope, key_id, algorithm, b64decode(message, "Message"), dry_run=dry_run
    )
    return {"KeyId": key.key_id, "Algorithm": algorithm, "Mac": b64encode(tag)}


def verify_mac(
    ctx: CallContext, *, key_id: str, algorithm: str, message: str, mac: str, dry_run: bool
) -> dict[str, Any]:
    key, ok = ctx.services.asymmetric.verify_mac(
        ctx.scope, key_id, algorithm, b64decode(message, "Message"), b64decode(mac, "Mac"), dry_run=dry_run
    )
    return {"KeyId": key.key_id, "Algorithm": algorithm, "Value": ok}


ACTIONS = [
    ActionSpec(
        "GenerateMac",
        generate_mac,
        (KEY_ID, ALGORITHM, MESSAGE, DRY_RUN),
        doc="HMAC of a message with an HMAC key.",
    ),
    ActionSpec(
        "VerifyMac",
        verify_mac,
        (KEY_ID, ALGORITHM, MESSAGE, Param("Mac", required=True, max=1024, doc="Base64 MAC."), DRY_RUN),
        doc="Check an HMAC; a wrong MAC is Value=false.",
    ),
]
