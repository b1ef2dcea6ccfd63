"""Authentication: which AccessKey signed this request, and is the request fresh?

Order of checks, chosen so that nothing unauthenticated can consume state: the timestamp
window first, then the signature (constant-time), then the AccessKey's status, and only then
the nonce, which is recorded in the shared store.

:meth:`Authenticator.verify` makes every check, the nonce's last; the server calls it before it
parses the action's parameters, so that a replayed request is refused as a replay whatever else
is wrong with it.

What a signature must cover, beyond the bytes it is computed over: V1 signs every parameter
and nothing else, so Action and Version are read from the parameters only
(:attr:`~openkms.wire.request.WireRequest.action`). V3/V4 must sign the headers the server
reads (``V3_REQUIRED_HEADERS``) and, when the request has a body, ``content-type``, which
decides whether the body is parameters (IncompleteSignature otherwise). A V4 credential scope
must name the deployment's region and the product Kms (SignatureDoesNotMatch otherwise, as for
a key derived for another scope).

STS credentials. A request may carry a SecurityToken: V1 in the signed ``SecurityToken``
parameter, V3/V4 in the ``x-acs-security-token`` header, which must then be signed (or in the
signed query). Any token sent is opened, whatever the AccessKeyId: it must be one this deployment
issued (InvalidSecurityToken.Malformed), for this AccessKeyId (.MismatchWithAccessKey), and not
expired (.Expired); its session's secret then checks the signature. An ``STS.`` AccessKeyId
without a token is MissingSecurityToken. A V3/V4 ``x-acs-accesskey-id`` header, when sent, must
name the AccessKeyId of the Credential (.MismatchWithAccessKey).
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Protocol

from openkms.domain.clock import Clock, parse_iso
from openkms.domain.ram import Owner
from openkms.domain.sts import STS_PREFIX, TokenError, TokenExpired, TokenMalformed, TokenMismatch
from openkms.service.access_keys import Credential
from openkms.service.nonces import NonceStore
from openkms.wire import errors, signing
from openkms.wire.request import WireRequest

MAX_NONCE_LEN = 128
V3_REQUIRED_HEADERS = frozenset(
    {"host", "x-acs-action", "x-acs-version", "x-acs-date", "x-acs-signature-nonce", "x-acs-content-sha256"}
)
# The product a V4 credential scope names for KMS actions (the Tea SDK writes "Kms"); other
# products' actions name their own (the server passes it from the action table).
V4_PRODUCT = "Kms"
_TOKEN_ERRORS: dict[type[TokenError], type[errors.KMSError]] = {
    TokenMalformed: errors.InvalidSecurityTokenMalformed,
    TokenMismatch: errors.InvalidSecurityTokenMismatchWithAccessKey,
    TokenExpired: errors.InvalidSecurityTokenExpired,
}


class Credentials(Protocol):
    """Finds the secret of an AccessKeyId, whether the pair is active, and its owner; for an STS
    session, from the SecurityToken sent with it."""

    def lookup(self, access_key_id: str) -> Credential | None: ...

    def session(self, access_key_id: str, token: str) -> Credential:
        """Raises TokenMalformed, TokenMismatch or TokenExpired."""
        ...


@dataclass(frozen=True, slots=True)
class Principal:
    """Who signed a request: the AccessKeyId, its owner (an account's root or a RAM user) and
    the signature scheme."""

    access_key_id: str
    scheme: str
    owner: Owner


@dataclass(frozen=True, slots=True)
class Checked:
    """A request whose signature and AccessKey passed: its nonce is still to be recorded."""

    principal: Principal
    nonce: str
    expires_at: float

    def claim(self, now: float) -> tuple[str, str, float, float]:
        """The arguments of ``NonceStore.use`` for this request's nonce."""
        return (self.principal.access_key_id, self.nonce, self.expires_at, now)


class Replayed(errors.SignatureNonceUsed):  # type: ignore[misc,valid-type]
    """SignatureNonceUsed for a request that passed every other check: it names the
    :class:`Principal` that signed it (the server logs who replayed)."""

    def __init__(self, principal: Principal) -> None:
        super().__init__()
        self.principal = principal


class Authenticator:
    """Checks requests for one deployment: its AccessKeys, nonces, clock and ``region`` (which a
    V4 credential scope must name)."""

    def __init__(
        self, credentials: Credentials, nonces: NonceStore, clock: Clock, window: int = 900, *, region: str
    ) -> None:
        self._credentials = credentials
        self._nonces = nonces
        self._clock = clock
        self._window = window
        self._region = region

    def verify(self, req: WireRequest, product: str = V4_PRODUCT) -> Principal:
        """Who signed the request, once every check passed (the timestamp window, the
        signature, the AccessKey's status, then the nonce, recorded only now); raises a wire
        error on the first that fails, :class:`Replayed` for a nonce used before."""
        checked = self.check(req, product)
        if not self._nonces.use(*checked.claim(self._clock.now())):
            raise Replayed(checked.principal)
        return checked.principal

    def check(self, req: WireRequest, product: str = V4_PRODUCT) -> Checked:
        """Every check of :meth:`verify` but the nonce, which the caller records (the server
        awaits it on PostgreSQL, service/nonces.py) before the request may do anything."""
        if req.signed_in_headers:
            return self._v3_or_v4(req, req.header("authorization") or "", product)
        return self._v1(req)

    def pair(self, access_key_id: str, secret: str, token: str | None = None) -> Principal:
        """Who holds an AccessKey pair (and SecurityToken) given as such, not as a signature:
        the console's sign-in and each of its requests. The secret is compared in constant
        time; the same errors as a signed request's (an unknown id, an inactive pair, a bad
        token), SignatureDoesNotMatch for a wrong secret."""
        found = self._credential(access_key_id, token or None)
        if not hmac.compare_digest(found.secret.encode(), secret.encode()):
            raise errors.SignatureDoesNotMatch("")
        return self._finish(access_key_id, found, "", 0.0, "console").principal

    # -- shared steps ---------------------------------------------------------------------

    def _check_time(self, stamp: str | None) -> float:
        if not stamp:
            raise errors.IllegalTimestamp()
        try:
            ts = parse_iso(stamp)
        except ValueError:
            raise errors.IllegalTimestamp(
                'The input parameter "Timestamp" is not in the format yyyy-MM-ddTHH:mm:ssZ.'
            ) from None
        if abs(self._clock.now() - ts) > self._window:
            raise errors.InvalidTimeStampExpired()
        return ts

    def _credential(self, access_key_id: str, token: str | None) -> Credential:
        if token:
            try:
                return self._credentials.session(access_key_id, token)
            except TokenError as refused:
                raise _TOKEN_ERRORS[type(refused)]() from None
        if access_key_id.startswith(STS_PREFIX):
            raise errors.MissingSecurityToken()
        found = self._credentials.lookup(access_key_id)
        if found is None:
            raise errors.InvalidAccessKeyIdNotFound()
        return found

    def _finish(self, access_key_id: str, found: Credential, nonce: str, ts: float, scheme: str) -> Checked:
        if not found.active:
            raise errors.ForbiddenAccessKey()
        # Keep the record past both edges of the window: a timestamp up to `window` in the
        # future stays acceptable until ts + window.
        return Checked(Principal(access_key_id, scheme, found.owner), nonce, ts + self._window + 60)

    @staticmethod
    def _check_nonce(nonce: str | None, name: str) -> str:
        if not nonce:
            raise errors.MissingParameter(name)
        if len(nonce) > MAX_NONCE_LEN:
            raise errors.InvalidParameter(name)
        return nonce

    # -- V1 -------------------------------------------------------------------------------

    def _v1(self, req: WireRequest) -> Checked:
        p = req.params
        given = p.get("Signature")
        access_key_id = p.get("AccessKeyId")
        if not given and not access_key_id:
            raise errors.IncompleteSignature(
                "The request is not signed: no Signature parameter and no Authorization header."
            )
        for name in ("AccessKeyId", "Signature"):
            if not p.get(name):
                raise errors.MissingParameter(name)
        if p.get("SignatureMethod", "") != "HMAC-SHA1":
            raise errors.InvalidParameter("SignatureMethod")
        if p.get("SignatureVersion", "") != "1.0":
            raise errors.InvalidParameter("SignatureVersion")
        ts = self._check_time(p.get("Timestamp"))
        nonce = self._check_nonce(p.get("SignatureNonce"), "SignatureNonce")
        assert access_key_id is not None and given is not None
        found = self._credential(access_key_id, p.get("SecurityToken"))
        sts = signing.v1_string_to_sign(req.method, req.query_params + req.body_params)
        if not signing.signatures_equal(signing.v1_signature(found.secret, sts), given):
            raise errors.SignatureDoesNotMatch(sts)
        return self._finish(access_key_id, found, nonce, ts, "v1")

    # -- V3 / V4 --------------------------------------------------------------------------

    def _v3_or_v4(self, req: WireRequest, value: str, product: str) -> Checked:
        auth = signing.parse_authorization(value)
        if auth is None:
            raise errors.IncompleteSignature()
        if not V3_REQUIRED_HEADERS.issubset(auth.signed_headers):
            raise errors.IncompleteSignature(
                "SignedHeaders must include " + ";".join(sorted(V3_REQUIRED_HEADERS)) + "."
            )
        if req.body and "content-type" not in auth.signed_headers:
            # The content type decides whether the body is read as parameters: unsigned, it
            # could be changed to drop the body's parameters (an EncryptionContext) unseen.
            raise errors.IncompleteSignature(
                "SignedHeaders must include content-type when the request has a body."
            )
        stamp = req.header("x-acs-date")
        ts = self._check_time(stamp)
        nonce = self._check_nonce(req.header("x-acs-signature-nonce"), "x-acs-signature-nonce")
        token = self._v3_token(req, auth.signed_headers)
        body_hash = hashlib.sha256(req.body).hexdigest()
        canonical = signing.canonical_request(
            req.method, req.path, req.query_params, req.headers, auth.signed_headers, body_hash
        )
        if auth.algorithm == signing.V3_ALGORITHM:
            access_key_id = auth.credential
            self._check_named_key(req, access_key_id)
            found = self._credential(access_key_id, token)
            sts = signing.v3_string_to_sign(canonical)
            expected = signing.v3_signature(found.secret, sts)
            scheme = "v3"
        else:
            scope = auth.scope
            assert stamp is not None
            if len(scope) != 4 or scope[3] != "aliyun_v4_request" or scope[0] != stamp[:10].replace("-", ""):
                raise errors.IncompleteSignature("The credential scope of ACS4-HMAC-SHA256 is not valid.")
            access_key_id = auth.access_key_id
            self._check_named_key(req, access_key_id)
            found = self._credential(access_key_id, token)
            sts = signing.v4_string_to_sign(canonical)
            key = signing.v4_signing_key(found.secret, scope[0], scope[1], scope[2])
            expected = signing.v4_signature(key, sts)
            scheme = "v4"
            if scope[1] != self._region or scope[2].lower() != product.lower():
                # Signed for another region or product: refused as a wrong signature is, with
                # what the scope must name.
                raise errors.SignatureDoesNotMatch(
                    sts,
                    f"The credential scope must name region {self._region} and product {product}.",
                )
        if not signing.signatures_equal(expected, auth.signature) or not signing.signatures_equal(
            body_hash, req.header("x-acs-content-sha256") or ""
        ):
            raise errors.SignatureDoesNotMatch(sts)
        return self._finish(access_key_id, found, nonce, ts, scheme)

    @staticmethod
    def _v3_token(req: WireRequest, signed_headers: tuple[str, ...]) -> str | None:
        """The SecurityToken of a V3/V4 request: its header, which must be signed, or else the
        (signed) query's ``SecurityToken``."""
        token = req.header("x-acs-security-token")
        if token is None:
            return req.params.get("SecurityToken")
        if "x-acs-security-token" not in signed_headers:
            raise errors.IncompleteSignature(
                "SignedHeaders must include x-acs-security-token when it is sent."
            )
        return token

    @staticmethod
    def _check_named_key(req: WireRequest, access_key_id: str) -> None:
        named = req.header("x-acs-accesskey-id")
        if named is not None and named != access_key_id:
            raise errors.InvalidSecurityTokenMismatchWithAccessKey()
