"""STS: AssumeRole, GetCallerIdentity, and the SecurityTokens that carry a session.

Tokens are stateless (:mod:`openkms.domain.sts` lays them out): a token is sealed under a
subkey of the KEK derived for tokens alone (:meth:`~openkms.rootkey.keyring.Keyring.seal_for`),
so every node of the deployment opens every token it issued, with one AES-GCM open and no
database read, and nothing about a session is stored. A process keeps the claims of the tokens
it opened (``Caches.sessions``): they never change. A session ends at its Expiration; its
rights are its role's, read on every request, so detaching the role's policies or deleting the
role takes them away at once.

AssumeRole decides with the policy engine (:func:`openkms.domain.authorization.decide`): the
caller's identity policies (a user's own and its groups', or a session's role's, held to the
session's policy) must allow ``sts:AssumeRole`` on the role's ARN, and the role's trust policy
must name the caller. The identity side is asked first, before the role is looked up, so a
caller without that right learns nothing of which roles exist.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import UTC, datetime

from openkms.crypto import aead
from openkms.domain import ram
from openkms.domain.access import Check, IPAddress, Principal, RequestContext
from openkms.domain.authorization import ASSUME_ROLE, PolicyType, decide
from openkms.domain.clock import Clock
from openkms.domain.errors import PolicyError
from openkms.domain.policy import Policy, parse_identity_policy, parse_trust_policy
from openkms.domain.ram import GROUP, ROLE, USER, Owner, Session
from openkms.domain.sts import (
    DEFAULT_DURATION,
    MAX_POLICY_CHARS,
    MIN_DURATION,
    Claims,
    StsError,
    TokenExpired,
    TokenMalformed,
    TokenMismatch,
    check_duration,
    check_external_id,
    check_session_name,
    decode_claims,
    encode_claims,
    new_access_key_id,
    new_access_key_secret,
    pack,
    parse_role_arn,
    token_aad,
    token_header,
    unpack,
)
from openkms.rootkey.keyring import Keyring
from openkms.service.authz import attached_policies
from openkms.service.caches import Caches, Lru
from openkms.service.deployment import Deployment
from openkms.store import Tx, principals

__all__ = ["TOKEN_LABEL", "CallerIdentity", "Issued", "SessionTokens", "StsService", "session_of"]

# The KEK subkey's label: tokens are sealed under a key of their own.
TOKEN_LABEL = b"openkms/sts-token/v1"
# Longer than any token issued (a 2048-character session policy, escaped): anything longer is
# refused before it is decoded.
MAX_TOKEN_CHARS = 32768

_DENY_ALL = parse_identity_policy(
    '{"Version":"1","Statement":[{"Effect":"Deny","Action":"*","Resource":"*"}]}'
)
_NO_PERMISSION = "You are not authorized to do this action. You should be authorized by RAM."


class SessionTokens:
    """Seals the claims of a new session into a SecurityToken, and opens a token presented with
    an AccessKeyId."""

    def __init__(self, keyring: Keyring, clock: Clock, opened: Lru[str, Claims] | None = None) -> None:
        self._keyring = keyring
        self._clock = clock
        self._opened: Lru[str, Claims] = opened if opened is not None else Lru(0)

    def issue(self, claims: Claims) -> str:
        header = token_header(self._keyring.current)
        kek_version, sealed = self._keyring.seal_for(TOKEN_LABEL, encode_claims(claims), token_aad(header))
        assert kek_version == self._keyring.current
        return pack(header, sealed)

    def open(self, access_key_id: str, token: str) -> Claims:
        """The claims of ``token`` if it was issued here for ``access_key_id`` and has not
        expired.

        Raises:
            TokenMalformed: not a token of this deployment, or altered.
            TokenMismatch: a token of another AccessKeyId.
            TokenExpired: past its Expiration.
        """
        claims = self._opened.get(token)
        if claims is None:
            claims = self._unseal(token)
            self._opened.put(token, claims)
        if not hmac.compare_digest(claims.access_key_id.encode(), access_key_id.encode()):
            raise TokenMismatch
        if self._clock.now() >= claims.expires:
            raise TokenExpired
        return claims

    def _unseal(self, token: str) -> Claims:
        if len(token) > MAX_TOKEN_CHARS:
            raise TokenMalformed
        header, kek_version, sealed = unpack(token)
        try:
            data = self._keyring.open_for(kek_version, TOKEN_LABEL, sealed, token_aad(header))
        except aead.NotAuthentic:
            raise TokenMalformed from None
        return decode_claims(data)


def session_of(claims: Claims) -> Owner:
    """The owner of a session's temporary AccessKey: the role's account, no user, the session."""
    return Owner(
        claims.account_uid,
        None,
        Session(claims.role_id, claims.role_name, claims.session_name, claims.expires, claims.policy),
    )


@dataclass(frozen=True, slots=True)
class Issued:
    """A new session: its claims (the secret among them) and its SecurityToken."""

    claims: Claims
    token: str

    @property
    def arn(self) -> str:
        return _session_arn(self.claims.account_uid, self.claims.role_name, self.claims.session_name)

    @property
    def assumed_role_id(self) -> str:
        return f"{self.claims.role_id}:{self.claims.session_name}"


@dataclass(frozen=True, slots=True)
class CallerIdentity:
    """GetCallerIdentity's answer: ``identity_type`` is ``Account``, ``RAMUser`` or
    ``AssumedRoleUser``; ``user_id`` is given for the first two, ``role_id`` for the last."""

    identity_type: str
    account_id: str
    arn: str
    principal_id: str
    user_id: str | None = None
    role_id: str | None = None


class StsService:
    """AssumeRole and GetCallerIdentity for the accounts of one deployment."""

    def __init__(self, dep: Deployment, caches: Caches | None = None) -> None:
        self.dep = dep
        self.tokens = SessionTokens(dep.keyring, dep.clock, caches.sessions if caches is not None else None)

    def assume_role(
        self,
        caller: Owner,
        role_arn: str,
        session_name: str,
        duration: int | None = None,
        policy: str | None = None,
        external_id: str | None = None,
        *,
        source_ip: IPAddress | None = None,
        secure_transport: bool = False,
    ) -> Issued:
        """A session of the role ``role_arn`` for ``caller``.

        Raises StsError: InvalidParameter.RoleArn / .RoleSessionName / .DurationSeconds /
        .PolicySize / .PolicyGrammar / .ExternalId (400), NoPermission (403: the account's
        root, or either policy refusing), EntityNotExist.Role (404).
        """
        account, role_name = parse_role_arn(role_arn)
        check_session_name(session_name)
        if external_id is not None:
            check_external_id(external_id)
        if duration is not None and duration < MIN_DURATION:
            check_duration(duration, ram.MAX_SESSION_DURATION)
        if policy is not None:
            _check_session_policy(policy)
        if caller.is_root:
            raise StsError("NoPermission", _NO_PERMISSION)  # the account itself assumes no role
        now = self.dep.clock.now()
        resource = ram.role_arn(account, role_name)
        with self.dep.db.read() as tx:
            principal, identity, narrowed_by = self._caller(tx, caller)
            ctx = RequestContext(
                principal,
                datetime.fromtimestamp(now, UTC),
                source_ip,
                secure_transport,
                session_policy=narrowed_by,
            )
            # The caller's side first: the trust policy is not asked yet, so the engine refuses
            # with AssumeRolePolicy exactly when the identity side allowed.
            own = decide(ctx, [Check(ASSUME_ROLE, resource)], identity)
            if own.policy_type is not PolicyType.ASSUME_ROLE:
                raise StsError("NoPermission", _NO_PERMISSION)
            role = principals.get_role(tx, account, role_name)
            if role is None:
                raise StsError("EntityNotExist.Role", "The specified Role not exists.")
            if not decide(ctx, [Check(ASSUME_ROLE, resource, _trust(role.trust_policy))], identity).allowed:
                raise StsError("NoPermission", _NO_PERMISSION)
        seconds = check_duration(duration or DEFAULT_DURATION, role.max_session_duration)
        issued = int(now)
        claims = Claims(
            access_key_id=new_access_key_id(),
            secret=new_access_key_secret(),
            account_uid=role.account_uid,
            role_id=role.role_id,
            role_name=role.role_name,
            session_name=session_name,
            issued=issued,
            expires=issued + seconds,
            policy=policy,
            caller_arn=principal.arn,
        )
        return Issued(claims, self.tokens.issue(claims))

    def caller_identity(self, caller: Owner) -> CallerIdentity:
        """Who ``caller`` is, as GetCallerIdentity answers it."""
        account = caller.account_uid
        session = caller.session
        if session is not None:
            return CallerIdentity(
                "AssumedRoleUser",
                account,
                _session_arn(account, session.role_name, session.session_name),
                f"{session.role_id}:{session.session_name}",
                role_id=session.role_id,
            )
        if caller.user_id is None:
            return CallerIdentity("Account", account, f"acs:ram::{account}:root", account, user_id=account)
        with self.dep.db.read() as tx:
            user = principals.get_user_by_id(tx, caller.user_id)
        if user is None:  # deleted since its AccessKey was looked up (cached for at most 1 s)
            raise StsError("NoPermission", _NO_PERMISSION)
        return CallerIdentity(
            "RAMUser",
            account,
            ram.user_arn(account, user.user_name),
            user.user_id,
            user_id=user.user_id,
        )

    # -- the caller's policies ----------------------------------------------------------------

    def _caller(self, tx: Tx, caller: Owner) -> tuple[Principal, list[Policy], Policy | None]:
        """The caller as the engine sees it, its identity policies, and its session's policy."""
        account = caller.account_uid
        session = caller.session
        if session is not None:
            principal = Principal.session(account, session.role_name.lower(), session.session_name)
            narrowed_by = _session_policy(session.policy)
            return principal, attached_policies(tx, account, [(ROLE, session.role_id)]), narrowed_by
        assert caller.user_id is not None
        user = principals.get_user_by_id(tx, caller.user_id)
        if user is None:
            raise StsError("NoPermission", _NO_PERMISSION)
        holders = [(USER, user.user_id)] + [
            (GROUP, g.group_id) for g, _ in principals.groups_of_user(tx, user.user_id)
        ]
        return Principal.user(account, user.user_name), attached_policies(tx, account, holders), None


def _trust(document: str) -> Policy | None:
    """A role's trust policy; one the engine cannot read names nobody."""
    try:
        return parse_trust_policy(document)
    except PolicyError:
        return None


def _session_policy(text: str | None) -> Policy | None:
    if text is None:
        return None
    try:
        return parse_identity_policy(text, "Policy")
    except PolicyError:
        # Checked when the session was made, and sealed since: only a grammar that became
        # stricter on an upgrade refuses it now. Such a session may do nothing.
        return _DENY_ALL


def _check_session_policy(text: str) -> None:
    if len(text) > MAX_POLICY_CHARS:
        raise StsError(
            "InvalidParameter.PolicySize",
            f"The size of Policy must be at most {MAX_POLICY_CHARS} characters.",
        )
    try:
        parse_identity_policy(text, "Policy")
    except PolicyError as refused:
        raise StsError("InvalidParameter.PolicyGrammar", refused.detail) from None


def _session_arn(account: str, role_name: str, session_name: str) -> str:
    return f"{ram.role_arn(account, role_name)}/{session_name}"
