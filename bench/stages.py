"""CPU per stage of openkms's request path, in-process (no HTTP server, no sockets).

A development aid beside bench/inproc.py: it pre-signs requests (V1 and V3) and times each
stage of ``KMSApp`` separately over thousands of requests -- decode, signature check, nonce
record, parameter validation, handler with rendering, request log line, request id -- and
prints the best of several rounds (the machine is shared; the minimum is the least disturbed).

    .venv/bin/python bench/stages.py Encrypt
    .venv/bin/python bench/stages.py DescribeKey --rounds 3

Runs under the project's venv (it imports openkms); the request log goes to /dev/null.
"""

from __future__ import annotations

import argparse
import base64
import os
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from inproc import AK, SECRET, scope_of
from signer import Signer


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("action", choices=["Encrypt", "DescribeKey", "GenerateDataKey", "GetSecretValue"])
    ap.add_argument("-n", type=int, default=5000)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()

    os.environ["OPENKMS_ROOT_ACCESS_KEY_ID"] = AK
    os.environ["OPENKMS_ROOT_ACCESS_KEY_SECRET"] = SECRET
    from openkms import logs
    from openkms.api import KMS_ACTIONS as REGISTRY
    from openkms.config import Settings
    from openkms.domain import ids
    from openkms.server import KMSApp, _Call
    from openkms.service.deployment import init_deployment
    from openkms.service.tenancy import root_scope
    from openkms.wire.request import build_request

    logs.configure(stream=open(os.devnull, "w"))  # noqa: SIM115
    settings = Settings()
    settings.data_dir = Path(tempfile.mkdtemp(prefix="openkms-stages-")) / "data"
    dep, _ = init_deployment(settings, root_access_key=(AK, SECRET))
    app = KMSApp(dep, run_jobs=False)
    key = app.services.keys.create(
        key_spec="Aliyun_AES_256", key_usage=None, origin="Aliyun_KMS", protection_level="SOFTWARE",
        description="stages", enable_automatic_rotation=False, rotation_interval=None, tag_map={},
        account_uid=dep.account_id,
    )
    signer = Signer("127.0.0.1:1", AK, SECRET)
    params = {"KeyId": key.key_id}
    if args.action == "Encrypt":
        params["Plaintext"] = base64.b64encode(os.urandom(64)).decode()
    if args.action == "GetSecretValue":
        # A secret as bench/fixtures.py makes one (under the service-managed default key).
        app.services.secrets.create(
            root_scope(dep.account_id),
            name="stages-secret", version_id="v1", data="bench-secret-value-" + os.urandom(8).hex(),
            data_type="text", description="", encryption_key_id=None, tag_map={}, policy=None,
        )
        params = {"SecretName": "stages-secret"}
    spec = REGISTRY[args.action]
    nonces = app.auth.nonces
    best: dict[tuple[str, str], float] = {}

    def timed(fn: Callable[[Any], Any], items: Sequence[Any]) -> tuple[float, list[Any]]:
        t = time.process_time()
        out = [fn(x) for x in items]
        return (time.process_time() - t) / len(items) * 1e6, out

    for _ in range(args.rounds):
        for scheme in ("v1", "v3"):
            scopes = [scope_of(signer.sign(scheme, args.action, params)) for _ in range(args.n)]
            r: dict[str, float] = {}
            r["decode"], reqs = timed(
                lambda sc: build_request(
                    sc[0]["method"], sc[0]["path"], sc[0]["query_string"], sc[0]["headers"], sc[1]
                ),
                scopes,
            )
            r["signature"], _ = timed(app.auth.verify, reqs)
            claims = [os.urandom(16).hex() for _ in range(args.n)]
            r["nonce"], _ = timed(lambda n: nonces.use(AK, n, 1e10, 0), claims)
            r["params"], bound = timed(lambda q: spec.bind(q.params), reqs)
            calls = []
            for q, kw in zip(reqs, bound, strict=True):
                call = _Call("REQUEST-ID", time.perf_counter())
                call.req, call.spec, call.kwargs, call.caller = q, spec, kw, AK
                calls.append(call)
            r["handler+render"], answers = timed(app._handle, calls)
            assert answers[0][0] == 200, answers[0]
            r["log line"], _ = timed(lambda c: app._log(c, (200, b"", b"")), calls)
            r["request id"], _ = timed(lambda i: ids.new_request_id(), range(args.n))
            for stage, value in r.items():
                best[(scheme, stage)] = min(best.get((scheme, stage), 1e9), value)
    stages = ["decode", "signature", "nonce", "params", "handler+render", "log line", "request id"]
    print(f"| {args.action}: µs of CPU per request (best of {args.rounds}) | " + " | ".join(stages) + " | total |")
    print("|---|" + "---:|" * (len(stages) + 1))
    for scheme in ("v1", "v3"):
        values = [best[(scheme, s)] for s in stages]
        total = sum(values)
        print(f"| {scheme.upper()} | " + " | ".join(f"{v:.1f}" for v in values) + f" | {total:.1f} |")
    dep.close()


if __name__ == "__main__":
    main()
