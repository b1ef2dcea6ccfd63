"""Turn bench/run.py's results.json into the markdown results table (medians, ratios first).

    bench/.venv/bin/python bench/report.py bench/results/<time>/results.json
"""

from __future__ import annotations

import json
import statistics
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

from scenarios import FLOOR, SCALE_REFERENCE

BEGIN = "<!-- bench:results:begin -->"
END = "<!-- bench:results:end -->"
ENCRYPT = "Encrypt 64 B"
MOTO = "moto Encrypt 64 B"


def medians(runs: list[dict[str, Any]]) -> dict[tuple[str, str, int], dict[str, float]]:
    groups: dict[tuple[str, str, int], list[dict[str, Any]]] = defaultdict(list)
    for r in runs:
        groups[(r["phase"], r["scenario"], r["conns"])].append(r)
    out = {}
    for key, rs in groups.items():
        out[key] = {
            "rps": statistics.median(r["rps"] for r in rs),
            "p50_ms": statistics.median(r["p50_ms"] for r in rs),
            "p99_ms": statistics.median(r["p99_ms"] for r in rs),
            "cpu_us": statistics.median(r["cpu_us_per_req"] for r in rs),
            "errors": sum(r["errors"] for r in rs),
            "requests": sum(r["requests"] for r in rs),
            "n": len(rs),
            "rps_min": min(r["rps"] for r in rs),
            "rps_max": max(r["rps"] for r in rs),
        }
    return out


def _fmt_rate(x: float | None) -> str:
    return "–" if x is None else f"{x:,.0f}"


def _fmt(x: float | None, digits: int = 1, suffix: str = "") -> str:
    return "–" if x is None else f"{x:,.{digits}f}{suffix}"


def _check(ok: bool | None) -> str:
    return "–" if ok is None else ("met" if ok else "**not met**")


def render(data: dict[str, Any]) -> str:
    info, runs = data["info"], data["runs"]
    m = medians(runs)
    settings = data.get("settings", {})
    conns = sorted({r["conns"] for r in runs}) or [1, 8, 32]
    top = max(conns)

    def get(phase: str, name: str, c: int, field: str) -> float | None:
        v = m.get((phase, name, c))
        return v[field] if v else None

    def best(phase: str, name: str) -> tuple[float | None, int | None]:
        cands = [(v["rps"], c) for (p, n, c), v in m.items() if p == phase and n == name]
        return max(cands) if cands else (None, None)

    py = info.get("python", {})
    lines = [
        f"Measured {info.get('date', '?')} by `make bench` ({info.get('argv', 'bench/run.py')}).",
        "",
        f"- Machine: {info.get('nproc')} CPUs, {info.get('cpu_model', '?')}, Linux {info.get('kernel', '?')}; "
        f"load average at start {' '.join(info.get('loadavg_start', []))}, at end {' '.join(info.get('loadavg_end', []))} "
        "(the machine is shared: ratios within one run are the figures to trust).",
        f"- Interpreter of the server: CPython {py.get('version', '?')} `{py.get('real_prefix', py.get('executable', '?'))}` "
        + (
            "(the distribution's build: Debian's packaging applies PGO and LTO itself, so its sysconfig "
            "does not show them; "
            if py.get("distro")
            else f"(PGO {'yes' if py.get('pgo') else 'not in its build flags'}, "
            f"LTO {'yes' if py.get('lto') else 'not in its build flags'}; "
        )
        + f"build {py.get('build', '?')}).",
        f"- Server: `{info.get('openkms_command', 'openkms serve')}` — embedded SQLite, replay protection and "
        "request log on (the defaults), server and loader on the same machine.",
        f"- Loader: {info.get('wrk', 'wrk')}, `-t {settings.get('wrk_threads', '?')}` (at most one thread per connection), "
        f"keep-alive; pre-signed requests ({settings.get('scheme', 'mix')}: V3 and V1 alternating), each with its own nonce "
        f"and a fresh timestamp; {settings.get('duration')} s per run after a warm-up, {settings.get('repeats')} rounds, medians.",
        "- Server CPU per request: utime+stime of the server's processes (/proc/<pid>/stat) over the run ÷ requests.",
        f"- Peer: moto {info.get('moto', '?')} `{info.get('moto_command', 'moto_server')}`, AWS KMS Encrypt "
        "(JSON protocol, SigV4 pre-signed with botocore), same loader settings.",
        "",
    ]

    # -- headline -------------------------------------------------------------------------
    enc_rps, enc_c = best("main", ENCRYPT)
    floor_cpu = get("main", FLOOR, top, "cpu_us")
    enc_cpu = get("main", ENCRYPT, top, "cpu_us")
    moto_rps, _ = best("moto", MOTO)
    scale_rps, _ = best("scale", ENCRYPT)
    head = ["| Target (issue 10) | Measured | Target | |", "|---|---:|---:|---|"]
    head.append(f"| Encrypt 64 B, best req/s (at {enc_c} connections) | {_fmt_rate(enc_rps)} | ≥ 6,000 | "
                f"{_check(None if enc_rps is None else enc_rps >= 6000)} |")
    diff = None if enc_cpu is None or floor_cpu is None else enc_cpu - floor_cpu
    head.append(f"| Server CPU per Encrypt − per floor request ({top} conns) | {_fmt(enc_cpu)} − {_fmt(floor_cpu)} = "
                f"**{_fmt(diff)} µs** | ≤ 100 µs | {_check(None if diff is None else diff <= 100)} |")
    ratio = None if enc_rps is None or not moto_rps else enc_rps / moto_rps
    head.append(f"| openkms Encrypt ÷ moto Encrypt (best req/s each) | {_fmt(ratio)}× ({_fmt_rate(enc_rps)} / {_fmt_rate(moto_rps)}) "
                f"| ≥ 25× | {_check(None if ratio is None else ratio >= 25)} |")
    for name in (ENCRYPT, "Decrypt"):
        p99 = get("main", name, top, "p99_ms")
        head.append(f"| {name} p99 at {top} connections | {_fmt(p99, 2)} ms | ≤ 20 ms | {_check(None if p99 is None else p99 <= 20)} |")
    keys_large = info.get("keys_in_scale_phase")
    sr = None if scale_rps is None or enc_rps is None else scale_rps / enc_rps
    keys_text = f"{keys_large:,}" if isinstance(keys_large, int) else "?"
    head.append(f"| Encrypt with {keys_text} keys ÷ with {settings.get('keys_small', 10)} keys | "
                f"{_fmt(sr, 2)} ({_fmt_rate(scale_rps)} / {_fmt_rate(enc_rps)}) | ≥ 0.9 | {_check(None if sr is None else sr >= 0.9)} |")
    ref_rps, _ = best("scale", SCALE_REFERENCE)
    same = None if scale_rps is None or not ref_rps else scale_rps / ref_rps
    head.append(f"| the same, within the large-store phase: Encrypt over all keys ÷ over 10 of them (same server, "
                f"store and nonce table) | {_fmt(same, 2)} ({_fmt_rate(scale_rps)} / {_fmt_rate(ref_rps)}) | ≥ 0.9 | "
                f"{_check(None if same is None else same >= 0.9)} |")
    rss = data.get("rss", {})
    if rss:
        parts = [f"{ph}: largest process {v['max_kib'] / 1024:.0f} MiB, all {v['processes']} {v['sum_kib'] / 1024:.0f} MiB"
                 for ph, v in rss.items()]
        head.append(f"| Peak RSS (VmHWM) | {'; '.join(parts)} | bounded by configuration | – |")
    for name, target in (("CreateKey", 300), ("GetSecretValue", 4000), ("AsymmetricSign EC_P256", 2000)):
        r, c = best("main", name)
        head.append(f"| {name}, best req/s | {_fmt_rate(r)} | ≥ {target:,} | {_check(None if r is None else r >= target)} |")
    rsa, _ = best("main", "AsymmetricSign RSA_2048")
    ossl = data.get("openssl", {}).get("rsa2048_sign_per_s")
    rr = None if rsa is None or not ossl else rsa / ossl
    head.append(f"| RSA_2048 sign ÷ `openssl speed -multi {info.get('nproc')} rsa2048` | {_fmt(rr, 2)} "
                f"({_fmt_rate(rsa)} / {_fmt_rate(ossl)}) | ≥ 0.8 | {_check(None if rr is None else rr >= 0.8)} |")
    lines += [*head, ""]

    # -- every scenario --------------------------------------------------------------------
    table = ["| Phase | Scenario | Conns | req/s | ÷ floor | p50 ms | p99 ms | server CPU µs/req | − floor µs | errors |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    order = [FLOOR] + [s for s in dict.fromkeys(r["scenario"] for r in runs) if s != FLOOR]
    for phase in ("main", "scale", "moto"):
        for name in order:
            for c in conns:
                v = m.get((phase, name, c))
                if v is None:
                    continue
                fl = m.get((phase, FLOOR, c)) or m.get(("main", FLOOR, c))
                ratio_f = "" if name == FLOOR or fl is None else f"{v['rps'] / fl['rps']:.2f}"
                minus = "" if name == FLOOR or fl is None or phase == "moto" else f"{v['cpu_us'] - fl['cpu_us']:.1f}"
                table.append(f"| {phase} | {name} | {c} | {v['rps']:,.0f} | {ratio_f} | {v['p50_ms']:.2f} | {v['p99_ms']:.2f} "
                             f"| {v['cpu_us']:.1f} | {minus} | {v['errors']} |")
    lines += ["All runs (medians of each cell; \"÷ floor\" is req/s over the floor's req/s at the same connections; " "\"− floor\" is server CPU per request minus the floor's):", "", *table, ""]
    if data.get("unavailable"):
        lines += ["Not available on this server (the action is not served yet, or its fixtures could not be made):", ""]
        lines += [f"- {k}: {v}" for k, v in data["unavailable"].items()] + [""]
    if data.get("openssl"):
        lines += ["OpenSSL alone on the same cores: " + ", ".join(f"{k} {v:,.0f}" for k, v in data["openssl"].items()) + ".", ""]
    if data.get("notes"):
        lines += ["Notes:", ""] + [f"- {n}" for n in data["notes"]] + [""]
    cmds = [f"- {k}: `{v}`" for k, v in info.items() if k.endswith("_command")]
    if cmds:
        lines += ["Exact commands:", "", *cmds, ""]
    return "\n".join(lines)


def update_docs(path: Path, md: str) -> None:
    text = path.read_text() if path.exists() else f"{BEGIN}\n{END}\n"
    if BEGIN not in text or END not in text:
        text += f"\n{BEGIN}\n{END}\n"
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    path.write_text(f"{head}{BEGIN}\n{md}\n{END}{tail}")


if __name__ == "__main__":
    print(render(json.loads(Path(sys.argv[1]).read_text())))
