"""In-process driver: openkms's ASGI application without uvicorn or sockets.

A development aid for the hot path, not the benchmark (that is ``make bench``): it pre-signs
requests with bench/signer.py, turns each into an ASGI scope and awaits the application on it
in a loop, so the CPU time of openkms's own request path (wire, auth, nonce, handler, render,
request log) can be timed and profiled in isolation, quickly and repeatably.

    .venv/bin/python bench/inproc.py DescribeKey -n 20000
    .venv/bin/python bench/inproc.py Encrypt --profile pyinstrument   # needs pyinstrument

Runs under the project's venv (it imports openkms); the request log goes to /dev/null.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from signer import Signer

AK, SECRET = "LTAIbenchInproc000001", "BenchInprocSecret0123456789abcd"


def scope_of(raw: bytes) -> tuple[dict, bytes]:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    method, target, _ = lines[0].split(b" ")
    path, _, query = target.partition(b"?")
    headers = []
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        headers.append((name.strip().lower(), value.strip()))
    scope = {
        "type": "http", "method": method.decode(), "path": path.decode(), "query_string": query,
        "headers": headers, "client": ("127.0.0.1", 5555), "http_version": "1.1",
    }
    return scope, body


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("action", help="ListKeys, DescribeKey, Encrypt, Decrypt, GenerateDataKey, GetSecretValue, health")
    ap.add_argument("-n", type=int, default=20000)
    ap.add_argument("--scheme", choices=["v1", "v3", "mix"], default="mix")
    ap.add_argument("--profile", choices=["none", "cprofile", "pyinstrument"], default="none")
    ap.add_argument("--build-only", action="store_true",
                    help="sign and decode the requests but do not serve them (to subtract their cost)")
    ap.add_argument("--direct", action="store_true",
                    help="call KMSApp.process synchronously (no event loop, no thread pool)")
    ap.add_argument("--without", choices=["sync", "nonce"], action="append", default=[],
                    help="leave a part out to see what it costs: the nonce files' background "
                         "fsync, or the nonce record altogether (replay protection OFF)")
    ap.add_argument("--sort", default="cumulative", help="cProfile's sort key (e.g. tottime)")
    args = ap.parse_args()

    if "sync" in args.without:
        from openkms.store import nonce_table

        nonce_table.SYNC_EVERY = 1e9
    if "nonce" in args.without:
        from openkms.store import nonce_table

        nonce_table.FileNonceStore.use = lambda self, *a: True  # type: ignore[method-assign]

    os.environ["OPENKMS_ROOT_ACCESS_KEY_ID"] = AK
    os.environ["OPENKMS_ROOT_ACCESS_KEY_SECRET"] = SECRET
    from openkms import logs
    from openkms.config import Settings
    from openkms.server import KMSApp
    from openkms.service.deployment import init_deployment
    from openkms.service.tenancy import root_scope

    # The request log goes where INPROC_LOG says (default /dev/null), a write per line as in a server.
    logs.configure(stream=open(os.environ.get("INPROC_LOG", os.devnull), "w"))  # noqa: SIM115
    tmp = tempfile.mkdtemp(prefix="openkms-inproc-")
    settings = Settings()
    settings.data_dir = Path(tmp) / "data"
    dep, _ = init_deployment(settings, root_access_key=(AK, SECRET))
    app = KMSApp(dep)
    key = app.services.keys.create(
        key_spec="Aliyun_AES_256", key_usage=None, origin="Aliyun_KMS", protection_level="SOFTWARE",
        description="inproc", enable_automatic_rotation=False, rotation_interval=None, tag_map={},
        account_uid=dep.account_id,
    )
    signer = Signer("127.0.0.1:1", AK, SECRET)
    plaintext = base64.b64encode(os.urandom(64)).decode()
    params = {
        "ListKeys": {"PageSize": "10"},
        "DescribeKey": {"KeyId": key.key_id},
        "Encrypt": {"KeyId": key.key_id, "Plaintext": plaintext},
        "GenerateDataKey": {"KeyId": key.key_id},
    }
    if args.action == "GetSecretValue":
        # A secret as bench/fixtures.py makes one (under the service-managed default key).
        app.services.secrets.create(
            root_scope(dep.account_id),
            name="inproc-secret", version_id="v1", data="bench-secret-value-" + os.urandom(8).hex(),
            data_type="text", description="", encryption_key_id=None, tag_map={}, policy=None,
        )
        params["GetSecretValue"] = {"SecretName": "inproc-secret"}

    sent: list[tuple[int, bytes]] = []

    async def run(reqs: list[tuple[dict, bytes]]) -> None:
        for scope, body in reqs:
            done = False

            async def receive(body: bytes = body) -> dict:
                nonlocal done
                if done:
                    return {"type": "http.disconnect"}
                done = True
                return {"type": "http.request", "body": body, "more_body": False}

            async def send(message: dict) -> None:
                if message["type"] == "http.response.start":
                    sent.append((message["status"], b""))
                else:
                    status, _ = sent[-1]
                    sent[-1] = (status, message.get("body", b""))

            await app(scope, receive, send)

    def build(n: int) -> list[tuple[dict, bytes]]:
        if args.action == "health":
            return [scope_of(b"GET /health HTTP/1.1\r\nhost: x\r\n\r\n")] * n
        out = []
        for i in range(n):
            scheme = args.scheme if args.scheme != "mix" else ("v1" if i % 2 else "v3")
            p = params.get(args.action, {})
            if args.action == "Decrypt":
                p = {"CiphertextBlob": blob}
            out.append(scope_of(signer.sign(scheme, args.action, p)))
        return out

    blob = ""
    if args.action == "Decrypt":
        asyncio.run(run(build.__wrapped__(1) if hasattr(build, "__wrapped__") else [scope_of(signer.v3("Encrypt", params["Encrypt"]))]))
        import json

        blob = json.loads(sent[-1][1])["CiphertextBlob"]
    asyncio.run(run(build(500)))  # warm up
    reqs = build(args.n)
    sent.clear()
    profiler = None
    if args.profile == "cprofile":
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    elif args.profile == "pyinstrument":
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.0001)
        profiler.start()
    cpu0, t0 = time.process_time(), time.perf_counter()
    if args.build_only:
        pass
    elif args.direct:
        for scope, body in reqs:
            sent.append(app.process(scope, body, False, "REQ")[::2])
    else:
        asyncio.run(run(reqs))
    cpu1, t1 = time.process_time(), time.perf_counter()
    if args.profile == "cprofile":
        import pstats

        profiler.disable()
        pstats.Stats(profiler).sort_stats(args.sort).print_stats(45)
    elif args.profile == "pyinstrument":
        profiler.stop()
        print(profiler.output_text(unicode=False, color=False, show_all=False))
    statuses = {}
    for status, _ in sent:
        statuses[status] = statuses.get(status, 0) + 1
    if any(s != 200 for s in statuses):
        print("answers:", statuses, "last:", sent[-1][1][:300], file=sys.stderr)
    print(f"{args.action} ({args.scheme}): {args.n} requests, "
          f"{(cpu1 - cpu0) / args.n * 1e6:.1f} us CPU/request, {(t1 - t0) / args.n * 1e6:.1f} us wall/request")
    app.pool.shutdown()
    dep.close()


if __name__ == "__main__":
    main()
