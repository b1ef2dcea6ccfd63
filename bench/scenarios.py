"""The benchmark's scenarios: one line each.

A scenario is a name, the Alibaba action it calls and a function giving the parameters of the
i-th request from the run's :class:`~bench.fixtures.Fixtures` (keys, ciphertexts, a secret ...,
created through the API on first use). To add one, add a line to ``SCENARIOS``::

    Scenario("DescribeKey", "DescribeKey", lambda f, i: {"KeyId": f.sym_key(i)}),

A scenario whose action the server does not serve yet (it answers InvalidAction.NotFound), or
whose fixtures cannot be made, is reported as "not available" instead of stopping the run.
``scale=True`` also runs it in the large-store phase (100,000 keys by default); ``main=False``
runs it only there.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Params = Callable[[Any, int], dict[str, str]]
SCALE_REFERENCE = "Encrypt 64 B, 10 of the keys"


@dataclass(frozen=True)
class Scenario:
    name: str
    action: str
    params: Params
    scale: bool = False
    # Requests change state (CreateKey): run after the read-only scenarios.
    writes: bool = False
    main: bool = True
    # Who signs: the account's root, or a RAM user whose policy has ten statements (what the
    # authorization hop costs, beside the root's Encrypt).
    signed_by: str = "root"


SCENARIOS: list[Scenario] = [
    Scenario("Encrypt 64 B", "Encrypt", lambda f, i: {"KeyId": f.sym_key(i), "Plaintext": f.plaintext_64}, scale=True),
    # The large store's reference: the same server, store and nonce table as "Encrypt 64 B" in
    # that phase, but only 10 of its keys, so the ratio of the two is the cost of many keys alone.
    Scenario(SCALE_REFERENCE, "Encrypt", lambda f, i: {"KeyId": f.sym_key(i % 10), "Plaintext": f.plaintext_64},
             scale=True, main=False),
    Scenario("Encrypt 64 B, RAM user (10-statement policy)", "Encrypt",
             lambda f, i: {"KeyId": f.sym_key(i), "Plaintext": f.plaintext_64}, signed_by="user"),
    Scenario("Decrypt", "Decrypt", lambda f, i: {"CiphertextBlob": f.ciphertext(i)}, scale=True),
    Scenario("GenerateDataKey", "GenerateDataKey", lambda f, i: {"KeyId": f.sym_key(i), "NumberOfBytes": "32"}),
    Scenario("AsymmetricSign RSA_2048", "AsymmetricSign", lambda f, i: f.sign_params("RSA_2048", "RSA_PSS_SHA_256")),
    Scenario("AsymmetricSign EC_P256", "AsymmetricSign", lambda f, i: f.sign_params("EC_P256", "ECDSA_SHA_256")),
    Scenario("GetSecretValue", "GetSecretValue", lambda f, i: {"SecretName": f.secret_name()}),
    Scenario("DescribeKey", "DescribeKey", lambda f, i: {"KeyId": f.sym_key(i)}),
    Scenario("ListKeys", "ListKeys", lambda f, i: {"PageNumber": "1", "PageSize": "10"}),
    Scenario("CreateKey", "CreateKey", lambda f, i: {"KeySpec": "Aliyun_AES_256", "Description": "bench"}, writes=True),
]

# The floor: the same server's cheapest answer, GET /health (no signature, no store).
FLOOR = "floor (GET /health)"
