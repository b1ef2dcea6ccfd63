"""Instance-gateway Encrypt beside the shared API's Encrypt, in one run on one server.

    .venv/bin/python bench/gateway.py --connections 8 --seconds 5 --repeats 3

One ``openkms serve`` (embedded SQLite, replay protection and request log on) serves the shared
API over TLS on its port and the instance gateway over TLS on its own, with one certificate
from a test CA. Through the API it makes an instance's key (CreateKey DKMSInstanceId), a
network rule, an AAP policy, an access point and a client key. Then, in every round, for each
path in turn: pre-signs a batch of distinct Encrypt requests of 64 bytes (the shared API's
signed with V3, each with its own nonce, by bench/signer.py; the gateway's built and signed by
the official instance SDK itself, alibabacloud-dkms-gcs, through tests/support/instance_sdk.py,
each with its own plaintext since the protocol has no nonce) and replays them with wrk over
keep-alive TLS connections (bench/replay.lua). Prints the medians of requests/s, p50 and p99
of each path and the ratio gateway / shared API.

Runs under the project's venv; needs wrk (bench/setup.sh installs it).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

from run import AK, SECRET, Loader, descendants, free_port  # noqa: E402
from signer import Signer  # noqa: E402

SUFFIX = "kms.localhost"
PASSWORD = "Bench-Client-Key-1"
CLI = [sys.executable, "-m", "openkms.cli"]


def _setup_server(work: Path) -> tuple[subprocess.Popen[bytes], int, int, Path, dict[str, str]]:
    subprocess.run(
        [*CLI, "dev-cert", "--out", str(work / "tls"), "--name", "127.0.0.1", "--name", f"*.{SUFFIX}"],
        check=True,
        capture_output=True,
    )
    data = work / "data"
    env = {**os.environ, "OPENKMS_ROOT_ACCESS_KEY_ID": AK, "OPENKMS_ROOT_ACCESS_KEY_SECRET": SECRET}
    subprocess.run([*CLI, "init", "--data-dir", str(data)], check=True, capture_output=True, env=env)
    port, gport = free_port(), free_port()
    env.update(
        {
            "OPENKMS_GATEWAY_LISTEN": f"127.0.0.1:{gport}",
            "OPENKMS_GATEWAY_SUFFIX": SUFFIX,
        }
    )
    log = open(work / "server.log", "ab")  # noqa: SIM115 - open for the server's life
    proc = subprocess.Popen(
        [*CLI, "serve", "--data-dir", str(data), "--port", str(port),
         "--tls-cert", str(work / "tls" / "server.pem"), "--tls-key", str(work / "tls" / "server-key.pem")],
        stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True,
    )  # fmt: skip
    ctx = ssl.create_default_context(cafile=str(work / "tls" / "ca.pem"))
    for _ in range(300):
        try:
            with urllib.request.urlopen(f"https://127.0.0.1:{port}/health", timeout=1, context=ctx):
                break
        except OSError:
            time.sleep(0.1)
    else:
        raise RuntimeError(f"openkms did not come up; see {work / 'server.log'}")
    return proc, port, gport, data, env


def _instance_and_client_key(port: int, work: Path) -> tuple[str, str, Path]:
    """Through the API (the Tea SDK): an instance's key and a client key allowed to use it."""
    from alibabacloud_kms20160120 import models as m
    from alibabacloud_kms20160120.client import Client
    from alibabacloud_tea_openapi import models as open_api_models
    from alibabacloud_tea_util.models import RuntimeOptions

    client = Client(
        open_api_models.Config(
            access_key_id=AK,
            access_key_secret=SECRET,
            region_id="cn-hangzhou",
            endpoint=f"127.0.0.1:{port}",
            protocol="https",
        )
    )
    runtime = RuntimeOptions(ca=str(work / "tls" / "ca.pem"))

    class Tea:
        def __getattr__(self, name: str) -> Any:
            return lambda request: getattr(client, f"{name}_with_options")(request, runtime)

    tea = Tea()
    instance_id = _connected_instance(work / "data")
    key_id = tea.create_key(m.CreateKeyRequest(dkmsinstance_id=instance_id)).body.key_metadata.key_id
    tea.create_network_rule(
        m.CreateNetworkRuleRequest(
            name="bench-net", type="Private", source_private_ip='["127.0.0.1/32"]', description=""
        )
    )
    tea.create_policy(
        m.CreatePolicyRequest(
            name="bench-policy",
            kms_instance=instance_id,
            permissions='["RbacPermission/Template/CryptoServiceKeyUser"]',
            resources='["key/*"]',
            access_control_rules='{"NetworkRules":["bench-net"]}',
            description="",
        )
    )
    tea.create_application_access_point(
        m.CreateApplicationAccessPointRequest(
            name="bench", policies='["bench-policy"]', authentication_method="ClientKey", description=""
        )
    )
    made = tea.create_client_key(m.CreateClientKeyRequest(aap_name="bench", password=PASSWORD)).body
    key_file = work / "clientkey.json"
    key_file.write_text(json.dumps({"KeyId": made.client_key_id, "PrivateKeyData": made.private_key_data}))
    key_file.chmod(0o600)
    return instance_id, key_id, key_file


def _connected_instance(data: Path) -> str:
    """A new instance of the deployment's account (buying one is outside the API)."""
    from openkms.config import Settings
    from openkms.service.context import build_services
    from openkms.service.deployment import open_deployment

    dep = open_deployment(Settings(data_dir=data, root_key_file=None))
    try:
        return build_services(dep).instances.create_instance(dep.account_id, "bench").instance_id
    finally:
        dep.close()


def _raw(headers: dict[str, str], body: bytes) -> bytes:
    head = "POST / HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    return head.encode() + body


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--connections", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--batch", type=int, default=12000, help="requests pre-signed per path and round")
    ap.add_argument("--wrk-threads", type=int, default=2)
    args = ap.parse_args()
    from tests.support.instance_sdk import Gateway, b64

    work = Path(tempfile.mkdtemp(prefix="openkms-gateway-bench-"))
    proc, port, gport, _data, _env = _setup_server(work)
    try:
        instance_id, key_id, key_file = _instance_and_client_key(port, work)
        gateway = Gateway(f"{instance_id}.{SUFFIX}", gport, work / "tls" / "ca.pem", key_file, PASSWORD)
        shared = Signer(f"127.0.0.1:{port}", AK, SECRET)
        loader = Loader(args, work)
        threads = loader.threads(args.connections)
        results: dict[str, list[dict[str, Any]]] = {"shared API Encrypt": [], "gateway Encrypt": []}
        serial = 0
        for _round in range(args.repeats):
            for name in results:
                raws: list[bytes] = []
                if name.startswith("shared"):
                    for _ in range(args.batch):
                        serial += 1
                        raws.append(shared.v3("Encrypt", {"KeyId": key_id, "Plaintext": f"{serial:064d}"}))
                    url = f"https://127.0.0.1:{port}/"
                else:
                    asked = []
                    for _ in range(args.batch):
                        serial += 1
                        asked.append({"KeyId": key_id, "Plaintext": b64(f"{serial:064d}".encode())})
                    raws = [_raw(r["headers"], r["body"]) for r in gateway.presign("Encrypt", asked)]
                    url = f"https://127.0.0.1:{gport}/"
                loader.write(threads, [raws[t::threads] for t in range(threads)])
                summary, server_cpu, _, _ = loader.run(
                    url, args.connections, args.seconds, descendants(proc.pid)
                )
                if summary["wraps"]:
                    print(f"warning: {name} ran past its batch; raise --batch", file=sys.stderr)
                rps = summary["requests"] / (summary["duration_us"] / 1e6)
                ok = summary["requests"] - summary["err_status"]
                results[name].append({
                    "rps": rps, "ok": ok, "errors": summary["err_status"], "p50_ms": summary["p50_us"] / 1000,
                    "p99_ms": summary["p99_us"] / 1000,
                    "cpu_us_per_req": 1e6 * server_cpu / max(1, summary["requests"]),
                })  # fmt: skip
                print(name, json.dumps(results[name][-1]), flush=True)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
    med = {n: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for n, rs in results.items()}
    shared_m, gw_m = med["shared API Encrypt"], med["gateway Encrypt"]
    print(f"\n{args.connections} connections, {args.seconds:g} s x {args.repeats} rounds; medians:")
    print("| path | req/s | p50 ms | p99 ms | server CPU µs/req | non-2xx |")
    print("|---|---|---|---|---|---|")
    for n, v in med.items():
        print(
            f"| {n} | {v['rps']:.0f} | {v['p50_ms']:.2f} | {v['p99_ms']:.2f} | {v['cpu_us_per_req']:.0f} | {v['errors']:.0f} |"
        )
    print(
        f"\ngateway / shared API: req/s {gw_m['rps'] / shared_m['rps']:.2f}x, "
        f"p50 {gw_m['p50_ms'] / shared_m['p50_ms']:.2f}x, server CPU per request "
        f"{gw_m['cpu_us_per_req'] / shared_m['cpu_us_per_req']:.2f}x"
    )


if __name__ == "__main__":
    main()
