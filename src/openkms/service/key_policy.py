"""Key policy use cases: read and replace a key's ``default`` policy.

The policy is validated and stored (``keys.policy``; NULL means the default policy). It is not
yet *enforced*: evaluation arrives with access control, which reads what is stored here.
"""

from __future__ import annotations

from openkms.domain import errors
from openkms.domain.keypolicy import POLICY_NAME, check_key_policy, default_policy
from openkms.service.deployment import Deployment
from openkms.service.keys import KeyService
from openkms.store import keys as key_repo


class KeyPolicyService:
    def __init__(self, dep: Deployment, keys: KeyService) -> None:
        self.dep = dep
        self.keys = keys

    def get(self, key_value: str, policy_name: str) -> str:
        """The key's policy document as stored, or the default one.

        Raises:
            ResourceNotFound: a policy name other than ``default`` (no such policy).
            KeyNotFound, AliasNotFound: the key does not resolve.
        """
        with self.dep.db.read() as conn:
            key = self.keys.load(conn, key_value)
            if policy_name != POLICY_NAME:
                raise errors.ResourceNotFound("The specified policy is not found.")
            stored = key_repo.get_policy(conn, key.key_id)
        return stored if stored is not None else default_policy(self.dep.account_id)

    def set(self, key_value: str, policy_name: str, document: str) -> str:
        """Validate and store a key policy; returns the key id.

        Raises:
            InvalidValue: ``PolicyName`` other than ``default``, or a document that breaks the
                grammar of :mod:`openkms.domain.keypolicy`.
            KeyNotFound, AliasNotFound: the key does not resolve.
        """
        if policy_name != POLICY_NAME:
            raise errors.InvalidValue("PolicyName", f'The only key policy is "{POLICY_NAME}".')
        check_key_policy(document)
        with self.dep.db.write() as conn:
            key = self.keys.load(conn, key_value)
            key_repo.update_key(conn, key.key_id, policy=document)
        return key.key_id
