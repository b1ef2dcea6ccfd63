"""HMAC operations (group C): GenerateMac and VerifyMac with an HMAC key's one algorithm."""

from __future__ import annotations

from typing import Any

from openkms.api.asymmetric import KEY_ID, b64decode, b64encode
from openkms.api.spec import ActionSpec, Param
from openkms.domain.algorithms import MAC_ALGORITHMS
from openkms.service.context import CallContext

ALGORITHM = Param("Algorithm", required=True, enum=MAC_ALGORITHMS, doc="Must be the key's spec.")
MESSAGE = Param("Message", required=True, doc="Base64 of the message bytes.")


def generate_mac(ctx: CallContext, *, key_id: str, algorithm: str, message: str) -> dict[str, Any]:
    key, tag = ctx.services.asymmetric.generate_mac(key_id, algorithm, b64decode(message, "Message"))
    return {"KeyId": key.key_id, "Algorithm": algorithm, "Mac": b64encode(tag)}


def verify_mac(
    ctx: CallContext, *, key_id: str, algorithm: str, message: str, mac: str
) -> dict[str, Any]:
    key, ok = ctx.services.asymmetric.verify_mac(
        key_id, algorithm, b64decode(message, "Message"), b64decode(mac, "Mac")
    )
    return {"KeyId": key.key_id, "Algorithm": algorithm, "Value": ok}


ACTIONS = [
    ActionSpec(
        "GenerateMac",
        generate_mac,
        (KEY_ID, ALGORITHM, MESSAGE),
        doc="HMAC of a message with an HMAC key.",
    ),
    ActionSpec(
        "VerifyMac",
        verify_mac,
        (KEY_ID, ALGORITHM, MESSAGE, Param("Mac", required=True, max=1024, doc="Base64 MAC.")),
        doc="Check an HMAC; a wrong MAC is Value=false.",
    ),
]
