"""What the scenarios need on the server (keys, ciphertexts, a secret), made through the API.

Everything is created on first use, so a scenario whose fixtures need an action the server
does not serve yet fails with :class:`Unavailable` (reported as "not available") without
affecting the others.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import os
import socket
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from signer import Signer

RAM_VERSION = "2015-05-01"


class Unavailable(Exception):
    """A scenario cannot run on this server: the reason is reported in the results."""


class Client:
    """A keep-alive connection sending raw signed requests (from :class:`Signer`)."""

    def __init__(self, host: str, port: int, signer: Signer, scheme: str = "v3") -> None:
        self.addr = (host, port)
        self.signer = signer
        self.scheme = scheme
        self.sock: socket.socket | None = None

    def send_raw(self, raw: bytes) -> tuple[int, bytes]:
        for attempt in (1, 2):
            try:
                if self.sock is None:
                    self.sock = socket.create_connection(self.addr, timeout=60)
                    self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                self.sock.sendall(raw)
                resp = http.client.HTTPResponse(self.sock)
                resp.begin()
                body = resp.read()
                if resp.will_close:
                    self.close()
                return resp.status, body
            except (OSError, http.client.HTTPException):
                self.close()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def call(self, action: str, params: dict[str, str]) -> tuple[int, dict[str, Any]]:
        status, body = self.send_raw(self.signer.sign(self.scheme, action, params))
        try:
            return status, json.loads(body)
        except ValueError:
            return status, {"Code": "NotJSON", "Message": body[:200].decode("latin-1")}

    def ok(self, action: str, params: dict[str, str]) -> dict[str, Any]:
        """Call and return the answer; raise Unavailable when the call does not succeed."""
        status, answer = self.call(action, params)
        if status != 200:
            code = answer.get("Code", "?")
            if code == "InvalidAction.NotFound":
                raise Unavailable(f"{action} not served")
            raise Unavailable(f"{action} failed: {status} {code}: {answer.get('Message', '')[:120]}")
        return answer

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None


class Fixtures:
    """Keys, ciphertexts and a secret for the scenarios; ``sym_key_ids`` may be given."""

    def __init__(self, client: Client, *, sym_keys: int = 10, sym_key_ids: list[str] | None = None,
                 ciphertexts: int = 200, protection_level: str = "SOFTWARE") -> None:
        self.client = client
        # The ProtectionLevel of the keys made here (HSM: run.py --hsm-keys).
        self.protection_level = protection_level
        self._lock = threading.Lock()
        self.n_sym = sym_keys
        # Where the i-th request starts in the key and ciphertext lists (run.py varies it per batch).
        self.offset = 0
        self._sym: list[str] | None = sym_key_ids
        self.n_ciphertexts = ciphertexts
        self._blobs: list[str] | None = None
        self._sign: dict[str, tuple[str, str]] = {}
        self._secret: str | None = None
        self._user: Signer | None = None
        # 64 random bytes, Base64 (what a caller encrypting 64 bytes sends).
        self.plaintext_64 = base64.b64encode(os.urandom(64)).decode()
        self.digest = base64.b64encode(hashlib.sha256(b"openkms bench").digest()).decode()

    # -- symmetric keys ---------------------------------------------------------------------

    def sym_keys(self) -> list[str]:
        if self._sym is None:
            ids = []
            for n in range(self.n_sym):
                meta = self.client.ok("CreateKey", {"KeySpec": "Aliyun_AES_256", "Description": f"bench sym {n}",
                                                    "ProtectionLevel": self.protection_level})
                ids.append(meta["KeyMetadata"]["KeyId"])
            self._sym = ids
        return self._sym

    def sym_key(self, i: int) -> str:
        keys = self.sym_keys()
        return keys[(i + self.offset) % len(keys)]

    # -- ciphertexts ------------------------------------------------------------------------

    def ciphertexts(self) -> list[str]:
        if self._blobs is None:
            keys = self.sym_keys()
            n = min(self.n_ciphertexts, max(len(keys), 1) * 20)
            # Spread over the keys (every key once before any twice), made by a few connections.
            plan = [keys[j % len(keys)] for j in range(n)]
            first = self.client.ok("Encrypt", {"KeyId": plan[0], "Plaintext": self.plaintext_64})
            blobs = [first["CiphertextBlob"]]
            blobs += _parallel_encrypt(self.client, plan[1:], self.plaintext_64)
            self._blobs = blobs
        return self._blobs

    def ciphertext(self, i: int) -> str:
        blobs = self.ciphertexts()
        return blobs[(i + self.offset) % len(blobs)]

    # -- signing keys -----------------------------------------------------------------------

    def sign_params(self, key_spec: str, algorithm: str) -> dict[str, str]:
        if key_spec not in self._sign:
            meta = self.client.ok(
                "CreateKey", {"KeySpec": key_spec, "KeyUsage": "SIGN/VERIFY", "Description": f"bench {key_spec}",
                              "ProtectionLevel": self.protection_level}
            )["KeyMetadata"]
            version = meta.get("PrimaryKeyVersion") or ""
            if not version:
                versions = self.client.ok("ListKeyVersions", {"KeyId": meta["KeyId"]})
                version = versions["KeyVersions"]["KeyVersion"][0]["KeyVersionId"]
            self._sign[key_spec] = (meta["KeyId"], version)
            # One real call first: a key that cannot sign is "not available", not a flood of 4xx.
            self.client.ok("AsymmetricSign", {"KeyId": meta["KeyId"], "KeyVersionId": version,
                                              "Algorithm": algorithm, "Digest": self.digest})
        key_id, version = self._sign[key_spec]
        return {"KeyId": key_id, "KeyVersionId": version, "Algorithm": algorithm, "Digest": self.digest}

    # -- secrets ----------------------------------------------------------------------------

    def secret_name(self) -> str:
        if self._secret is None:
            name = "bench-secret-" + os.urandom(4).hex()
            self.client.ok("CreateSecret", {"SecretName": name, "VersionId": "v1",
                                            "SecretData": "bench-secret-value-" + os.urandom(8).hex()})
            self._secret = name
        return self._secret

    # -- a RAM user -------------------------------------------------------------------------

    def user_signer(self) -> Signer:
        """A signer for a RAM user of the account whose one custom policy has ten statements,
        the last of which allows Encrypt on every key (made through the RAM API on first use)."""
        if self._user is None:
            tag = os.urandom(4).hex()
            user, policy = f"bench-user-{tag}", f"bench-policy-{tag}"
            statements = [
                {"Effect": "Allow", "Action": [f"kms:Describe{n}*"], "Resource": [f"acs:kms:*:*:key/nothing-{n}"]}
                for n in range(9)
            ] + [{"Effect": "Allow", "Action": ["kms:Encrypt", "kms:Decrypt"], "Resource": ["acs:kms:*:*:key/*"]}]
            document = json.dumps({"Version": "1", "Statement": statements})
            self._ram("CreateUser", {"UserName": user})
            self._ram("CreatePolicy", {"PolicyName": policy, "PolicyDocument": document})
            self._ram("AttachPolicyToUser", {"PolicyType": "Custom", "PolicyName": policy, "UserName": user})
            pair = self._ram("CreateAccessKey", {"UserName": user})["AccessKey"]
            signer = self.client.signer
            self._user = Signer(signer.host, pair["AccessKeyId"], pair["AccessKeySecret"])
        return self._user

    def _ram(self, action: str, params: dict[str, str]) -> dict[str, Any]:
        status, body = self.client.send_raw(self.client.signer.v1(action, params, version=RAM_VERSION))
        answer: dict[str, Any] = json.loads(body)
        if status != 200:
            raise Unavailable(f"RAM {action} failed: {status} {answer.get('Code', '?')}")
        return answer


def _parallel_encrypt(client: Client, key_ids: list[str], plaintext: str, workers: int = 4) -> list[str]:
    if not key_ids:
        return []
    chunks = [key_ids[w::workers] for w in range(workers)]

    def work(chunk: list[str]) -> list[str]:
        c = Client(*client.addr, client.signer, client.scheme)
        try:
            return [c.ok("Encrypt", {"KeyId": k, "Plaintext": plaintext})["CiphertextBlob"] for k in chunk]
        finally:
            c.close()

    with ThreadPoolExecutor(workers) as pool:
        results = list(pool.map(work, chunks))
    return [b for chunk in results for b in chunk]
