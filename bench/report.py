"""Turn bench/run.py's results.json into the markdown results table (medians, ratios first).

    bench/.venv/bin/python bench/report.py bench/results/<time>/results.json

An A/B run (``--baseline``/``--baseline-commit``) gets its own table (:func:`render_ab`): each
side's medians and B/A per scenario and connection count.
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
            "db_cpu_us": statistics.median(r.get("db_cpu_us_per_req", 0.0) for r in rs),
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
    if data["info"].get("ab"):
        return render_ab(data)
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
    head = ["| Target | Measured | Target | |", "|---|---:|---:|---|"]
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
    for phase in ("main", "postgres", "scale", "moto"):
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
    lines += stores(m, order, conns, info)
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


def stores(m: dict[tuple[str, str, int], dict[str, float]], order: list[str], conns: list[int],
           info: dict[str, Any]) -> list[str]:
    """The embedded node beside a node over PostgreSQL (phase ``postgres``, run in the same
    rounds), and what the PostgreSQL server's own CPU per request says about how many nodes it
    carries."""
    if not any(k[0] == "postgres" for k in m):
        return []
    table = ["| Scenario | Conns | embedded req/s | PostgreSQL req/s | PG ÷ embedded | p99 ms embedded | p99 ms PG "
             "| node CPU µs/req embedded | node CPU µs/req PG | PostgreSQL CPU µs/req |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name in order:
        if name == FLOOR:
            continue
        for c in conns:
            e, p = m.get(("main", name, c)), m.get(("postgres", name, c))
            if e is None or p is None:
                continue
            table.append(f"| {name} | {c} | {e['rps']:,.0f} | {p['rps']:,.0f} | {p['rps'] / e['rps']:.2f} "
                         f"| {e['p99_ms']:.2f} | {p['p99_ms']:.2f} | {e['cpu_us']:.1f} | {p['cpu_us']:.1f} "
                         f"| {p['db_cpu_us']:.1f} |")
    lines = [f"Embedded and PostgreSQL {info.get('postgres', '')} in the same rounds: one node (`--workers` as above) "
             "on each, the PostgreSQL server on the same machine. PostgreSQL CPU µs/req: utime+stime of every "
             "`postgres` process (and of backends that exited, from the postmaster's own accounting) over the "
             "run ÷ requests.", "", *table, ""]
    top = max(conns)
    enc = m.get(("postgres", ENCRYPT, top))
    if enc is not None and enc["db_cpu_us"] > 0:
        per_core = 1e6 / enc["db_cpu_us"]
        lines += [f"On paper: at {enc['db_cpu_us']:.0f} µs of PostgreSQL CPU per Encrypt, one PostgreSQL core "
                  f"carries about {per_core:,.0f} Encrypt/s, the load of {per_core / enc['rps']:.1f} nodes like this "
                  f"one at {enc['rps']:,.0f}/s each (docs/deployment.md, \"Capacity\", says where the next limit is).",
                  ""]
    return lines


def _ratio(b: float | None, a: float | None) -> str:
    return "–" if a is None or b is None or not a else f"{b / a:.2f}"


def _side(key: str, d: dict[str, Any]) -> str:
    built = d.get("built") or {}
    commit = d.get("commit") or built.get("commit")
    subject = d.get("subject") or built.get("subject")
    py = d.get("python", {})
    text = f"- {key}: **{d.get('label', key)}**: `{d.get('executable', '?')}`"
    if commit:
        if subject and len(subject) > 72:
            subject = subject[:71] + "…"
        text += f", commit {commit[:10]}" + (f" ({subject})" if subject else "")
        if d.get("dirty"):
            text += " plus the uncommitted changes to its src/ and pyproject.toml"
    if built:
        text += ("; its tree by `git archive` into bench/.baseline/, `pip install -e` in a venv of its own"
                 + (", dependencies pinned to B's venv's versions" if built.get("pinned_to") else ""))
    text += f"; CPython {py.get('version', '?')} `{py.get('real_prefix', py.get('executable', '?'))}`."
    return text


def render_ab(data: dict[str, Any]) -> str:
    """The A/B table: per phase, scenario and connection count, A's and B's medians and B/A."""
    info, runs = data["info"], data["runs"]
    settings = data.get("settings", {})
    sides = info["ab"]
    groups: dict[tuple[str, str, str, int], list[dict[str, Any]]] = defaultdict(list)
    by_round: dict[tuple[str, str, int], dict[int, dict[str, float]]] = defaultdict(lambda: defaultdict(dict))
    for r in runs:
        groups[(r.get("side", ""), r["phase"], r["scenario"], r["conns"])].append(r)
        by_round[(r["phase"], r["scenario"], r["conns"])][r.get("round", 0)][r.get("side", "")] = r["rps"]
    m: dict[tuple[str, str, str, int], dict[str, float]] = {}
    for key, rs in groups.items():
        m[key] = {"rps": statistics.median(r["rps"] for r in rs),
                  "p50_ms": statistics.median(r["p50_ms"] for r in rs),
                  "p99_ms": statistics.median(r["p99_ms"] for r in rs),
                  "cpu_us": statistics.median(r["cpu_us_per_req"] for r in rs),
                  "errors": sum(r["errors"] for r in rs), "n": len(rs)}
    conns = sorted({r["conns"] for r in runs if r.get("side")})
    names = [FLOOR] + [s for s in dict.fromkeys(r["scenario"] for r in runs if r.get("side")) if s != FLOOR]
    phases = [p for p in ("main", "scale") if any(k[1] == p and k[0] for k in m)]

    def get(side: str, phase: str, name: str, c: int, field: str) -> float | None:
        v = m.get((side, phase, name, c))
        return v[field] if v else None

    order = ("A then B in every cell of every round" if info.get("ab_order", "ab") == "ab"
             else "A then B in every cell, B then A in every second round")
    lines = [
        f"A/B measured {info.get('date', '?')} by `bench/run.py` ({info.get('argv', '')}).",
        "",
        _side("A", sides.get("A", {})),
        _side("B", sides.get("B", {})),
        f"- Both servers up side by side, each on its own fresh data directory with the same fixtures; {order}; "
        f"{settings.get('repeats')} round{'' if settings.get('repeats') == 1 else 's'} of {settings.get('duration')} s "
        "per cell after a warm-up. Every figure is "
        "the median of a side's rounds; B/A is B's median over A's (req/s above 1: B serves more; p50, p99 and CPU "
        "below 1: B is quicker, cheaper); \"each round\" is B/A of req/s round by round, to judge the noise.",
        f"- Machine: {info.get('nproc')} CPUs, {info.get('cpu_model', '?')}, Linux {info.get('kernel', '?')}; "
        f"load average at start {' '.join(info.get('loadavg_start', []))}, at end "
        f"{' '.join(info.get('loadavg_end', []))}.",
        f"- Server: `openkms serve --workers {settings.get('workers', '?')}` on the embedded default (SQLite, replay "
        f"protection and request log on); loader: {info.get('wrk', 'wrk')}, `-t {settings.get('wrk_threads', '?')}`, "
        f"keep-alive, pre-signed requests ({settings.get('scheme', 'mix')}), on the same machine. Server CPU per "
        "request: utime+stime of the server's processes (/proc/<pid>/stat) over the run ÷ requests.",
        "",
    ]
    table = ["| Phase | Scenario | Conns | req/s A | req/s B | B/A | each round | p50 ms A | p50 ms B | B/A "
             "| p99 ms A | p99 ms B | B/A | CPU µs/req A | CPU µs/req B | B/A | errors A / B |",
             "|---|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    over = ["| Phase | Scenario | Conns | A µs | B µs | B/A |", "|---|---|---:|---:|---:|---:|"]
    for phase in phases:
        for name in names:
            for c in conns:
                a, b = m.get(("A", phase, name, c)), m.get(("B", phase, name, c))
                if a is None and b is None:
                    continue
                rounds = by_round[(phase, name, c)]
                each = " ".join(_ratio(v.get("B"), v.get("A")) for _, v in sorted(rounds.items())
                                if "A" in v and "B" in v)
                cells = [phase, name, str(c)]
                for f, digits in (("rps", 0), ("p50_ms", 2), ("p99_ms", 2), ("cpu_us", 1)):
                    va, vb = get("A", phase, name, c, f), get("B", phase, name, c, f)
                    cells += [_fmt(va, digits), _fmt(vb, digits), _ratio(vb, va)]
                    if f == "rps":
                        cells.append(each)
                ea = "–" if a is None else str(int(a["errors"]))
                eb = "–" if b is None else str(int(b["errors"]))
                table.append("| " + " | ".join([*cells, f"{ea} / {eb}"]) + " |")
                if name != FLOOR:
                    da = db = None
                    fa, fb = get("A", phase, FLOOR, c, "cpu_us"), get("B", phase, FLOOR, c, "cpu_us")
                    if a is not None and fa is not None:
                        da = a["cpu_us"] - fa
                    if b is not None and fb is not None:
                        db = b["cpu_us"] - fb
                    over.append(f"| {phase} | {name} | {c} | {_fmt(da)} | {_fmt(db)} | {_ratio(db, da)} |")
    lines += [*table, ""]
    if len(over) > 2:
        lines += ["Server CPU per request over each side's own floor (its GET /health at the same connections; "
                  "the cost of the KMS work itself):", "", *over, ""]
    keys = [f"{k} {info[f'{k}_keys_in_scale_phase']:,}" for k in ("A", "B") if f"{k}_keys_in_scale_phase" in info]
    if keys:
        lines += [f"Keys in the store in the scale phase: {', '.join(keys)}.", ""]
    rss = data.get("rss", {})
    if rss:
        parts = [f"{ph}: largest process {v['max_kib'] / 1024:.0f} MiB, all {v['processes']} "
                 f"{v['sum_kib'] / 1024:.0f} MiB" for ph, v in rss.items()]
        lines += [f"Peak RSS (VmHWM) of the servers' processes: {'; '.join(parts)}.", ""]
    moto = [r for r in runs if r["phase"] == "moto"]
    if moto:
        mm = medians(moto)
        lines += ["Peer (moto, AWS KMS Encrypt), medians: "
                  + ", ".join(f"{c} connections {v['rps']:,.0f} req/s" for (_, _, c), v in sorted(mm.items())) + ".", ""]
    if data.get("unavailable"):
        lines += ["Not available (the action is not served, or its fixtures could not be made):", ""]
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
