"""Key policies: the document a key answers when none was set, and the check SetKeyPolicy and
CreateKey apply.

Every key has one policy, named ``default``. Without one set, a key answers the default policy
(the owner account may do everything). The grammar is the policy language's, for key policies
(:mod:`openkms.domain.policy`): Principal ``{"RAM": [...]}``, ``kms:`` actions, Resource ``"*"``,
known condition operators and keys, at most 32768 bytes. A document that passes is one the
access-control engine can evaluate.
"""

from __future__ import annotations

import json

from openkms.domain.policy import MAX_POLICY_BYTES, PolicyKind, parse_resource_policy

__all__ = ["DEFAULT_SID", "MAX_POLICY_BYTES", "POLICY_NAME", "check_key_policy", "default_policy"]

POLICY_NAME = "default"
DEFAULT_SID = "kms default key policy"

_P = "Policy"


def default_policy(account_id: str) -> str:
    """The policy a key answers when none was set: its own account may do everything."""
    document = {
        "Version": "1",
        "Statement": [
            {
                "Sid": DEFAULT_SID,
                "Effect": "Allow",
                "Principal": {"RAM": [f"acs:ram::{account_id}:*"]},
                "Action": ["kms:*"],
                "Resource": ["*"],
            }
        ],
    }
    return json.dumps(document, separators=(",", ":"))


def check_key_policy(text: str, parameter: str = _P) -> None:
    """Refuse a key policy document the key-policy grammar does not accept.

    Raises:
        PolicyError: naming ``parameter``, with the first rule the document breaks.
    """
    parse_resource_policy(text, PolicyKind.KEY, parameter)
