"""Key policy use cases: read and replace a key's ``default`` policy.

The policy is validated and stored (``keys.policy``; NULL means the default policy, which lets
the key's own account do everything). Nothing evaluates it: every AccessKey of the key's account
may call every action on it.
"""

from __future__ import annotations

from openkms.domain import errors
from openkms.domain.keypolicy import POLICY_NAME, check_key_policy, default_policy
from openkms.service.keys import KeyService
from openkms.service.tenancy import Scope
from openkms.store import keys


class KeyPolicyService:
    def __init__(self, keys_service: KeyService) -> None:
        self.keys = keys_service
        self.dep = keys_service.dep

    def get(self, scope: Scope, key_value: str, policy_name: str) -> str:
        """The key's policy document as stored, or the default one.

        Raises:
            ResourceNotFound: a policy name other than ``default`` (no such policy).
            KeyNotFound, AliasNotFound: the key does not resolve.
        """
        with self.dep.db.read() as tx:
            key = self.keys.load(tx, scope, key_value)
            if policy_name != POLICY_NAME:
                raise errors.ResourceNotFound("The specified policy is not found.")
            stored = keys.policy(tx, key.key_id)
        return stored if stored is not None else default_policy(key.account_uid)

    def set(self, scope: Scope, key_value: str, policy_name: str, document: str) -> str:
        """Validate and store a key policy; returns the key id.

        Raises:
            InvalidValue: ``PolicyName`` other than ``default``, or a document that breaks the
                grammar of :mod:`openkms.domain.keypolicy`.
            KeyNotFound, AliasNotFound: the key does not resolve.
        """
        if policy_name != POLICY_NAME:
            raise errors.InvalidValue("PolicyName", f'The only key policy is "{POLICY_NAME}".')
        check_key_policy(document)
        with self.dep.db.write() as tx:
            key = self.keys.load(tx, scope, key_value)
            keys.update_key(tx, key.key_id, policy=document)
        return key.key_id
