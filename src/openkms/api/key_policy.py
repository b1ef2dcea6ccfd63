"""Key policy actions: GetKeyPolicy, SetKeyPolicy (the policy named ``default``).

Policies are validated (Alibaba's key-policy grammar, <= 32768 bytes) and stored, and CreateKey's
Policy parameter stores one too; every request on the key is decided with it (service/authz.py).
"""

from __future__ import annotations

from typing import Any

from openkms.api.spec import ActionSpec, Param
from openkms.domain.keypolicy import MAX_POLICY_BYTES, POLICY_NAME
from openkms.service.context import CallContext

KEY_ID = Param("KeyId", required=True, max=2048, doc="Key id, alias name, key ARN or alias ARN.")
POLICY_NAME_PARAM = Param("PolicyName", default=POLICY_NAME, max=128, doc='Only "default".')
IN_EFFECT = " It takes part in every decision on the key (docs/access-control.md)."


def get_key_policy(ctx: CallContext, *, key_id: str, policy_name: str) -> dict[str, Any]:
    return {"Policy": ctx.services.key_policies.get(ctx.scope, key_id, policy_name)}


def set_key_policy(ctx: CallContext, *, key_id: str, policy: str, policy_name: str) -> dict[str, Any]:
    ctx.services.key_policies.set(ctx.scope, key_id, policy_name, policy)
    return {}


ACTIONS = [
    ActionSpec(
        "GetKeyPolicy",
        get_key_policy,
        (KEY_ID, POLICY_NAME_PARAM),
        doc="Return the key's policy document; a key with none set answers the default policy "
        "(its account may do everything). Another PolicyName is 404 Forbidden.ResourceNotFound." + IN_EFFECT,
    ),
    ActionSpec(
        "SetKeyPolicy",
        set_key_policy,
        (
            KEY_ID,
            Param(
                "Policy",
                required=True,
                max=MAX_POLICY_BYTES,
                doc='JSON: Version "1", Statement[] of Sid, Effect, Principal {"RAM": [...]}, '
                'Action kms:*, Resource "*", Condition. <= 32768 bytes.',
            ),
            POLICY_NAME_PARAM,
        ),
        doc="Replace the key's policy after checking its grammar." + IN_EFFECT,
    ),
]
