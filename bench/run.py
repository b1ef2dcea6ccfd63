"""The openkms benchmark: one command (``make bench``) runs it all and writes a results table.

What it does, in one run on one machine:

1. Starts ``openkms serve`` on the embedded default (SQLite, replay protection and request log
   on, ``--workers`` processes) on 127.0.0.1, and creates the keys, ciphertexts and secret the
   scenarios need through the API (bench/fixtures.py).
2. For every scenario of bench/scenarios.py and for the floor (GET /health of the same server),
   at 1, 8 and 32 connections: pre-signs a batch of requests (V1 and V3 alternating, each with
   its own nonce and a fresh timestamp; bench/signer.py), writes one file per wrk thread and
   replays them with wrk over keep-alive connections (bench/replay.lua). It reads requests/s
   and p50/p99 from wrk, and the server's CPU time from its processes' own accounting
   (/proc/<pid>/stat utime+stime of the server and its workers) before and after.
3. Runs moto's standalone server (AWS KMS Encrypt over its JSON protocol, SigV4 pre-signed
   with botocore) with the same loader settings.
4. Stops openkms, bulk-loads keys into the same store (bench/bulkload.py) up to 100,000,
   restarts it and runs the ``scale`` scenarios (Encrypt, Decrypt) over all those keys. Peak
   RSS (VmHWM) of the server processes is read at the end of both phases.
5. Times ``openssl speed`` for RSA-2048 and ECDSA P-256 on the same cores.

Every measurement is repeated (``--repeats``, rounds interleaved across scenarios) and the
table reports medians, led by ratios: scenario / floor and openkms / moto. Results go to
bench/results/<time>/ (results.md, results.json, the server log); ``--update-docs`` also puts
the table into docs/performance.md.

Runs under bench/.venv (made by bench/setup.sh: moto, botocore, py-spy); the server runs under
the project's venv (``--openkms``). ``--profile`` records the server with py-spy instead.

A/B: two openkms in one run
---------------------------

``--baseline PATH`` (another openkms executable) or ``--baseline-commit REV`` (a git revision,
installed once into bench/.baseline/<commit>/ by bench/baseline.py and reused) makes the run a
comparison: A is the baseline, B is ``--openkms``. Both servers are started, each on its own
fresh data directory with the same fixtures made through the API (the same counts, the same
plaintext), and stay up side by side; every round measures each cell (scenario x connections,
the floor included) on A and then on B (``--ab-order alternate``: B first in every second
round), so both see the same minutes of a noisy machine. The table gives, per scenario and
connection count, the medians of each side and B/A for req/s, p50, p99 and server CPU per
request, B/A of req/s in each round, and server CPU over each side's own floor. The scale phase
is skipped unless ``--keys-large N`` asks for it. ``--label`` and ``--baseline-label`` name the
sides in the table (default: the commit, and whether the tree had uncommitted changes).

    # an older commit (A) against the working tree (B: the project's .venv, an editable
    # install, so uncommitted changes count); about 8 minutes on 2 cores:
    bench/.venv/bin/python bench/run.py --openkms .venv/bin/openkms --baseline-commit HEAD~1 \\
        --scenarios Encrypt Decrypt GetSecretValue --connections 8,32 --repeats 5 \\
        --skip-moto --skip-openssl
    # a smoke run (one 2-second round): about 90 s the first time (the install), 40 s after
    bench/.venv/bin/python bench/run.py --baseline-commit HEAD~1 --quick --scenarios Encrypt \\
        --connections 8 --skip-moto --skip-openssl

A/B of root providers: ``--root-provider pkcs11`` runs one build twice, A over the file root
key and B over a root key on a SoftHSM2 token made for the run (bench/softhsm.py: its own token
directory under the work directory). KEKs are unwrapped once per process at start, so Encrypt
of software keys should be the same on both sides:

    bench/.venv/bin/python bench/run.py --root-provider pkcs11 --scenarios "Encrypt 64 B" \\
        --connections 8 --repeats 3 --duration 3 --skip-moto --skip-openssl

``--hsm-keys`` makes B's keys ProtectionLevel=HSM keys, whose AES-GCM and signatures run in
the token: the same command with it compares software keys (A) with HSM keys (B).

The venvs in bench/.baseline/ (about 120 MB each) stay until deleted. bench/report.py renders
an A/B results.json again, like any other.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from fixtures import Client, Fixtures, Unavailable  # noqa: E402
from scenarios import FLOOR, SCENARIOS, Scenario  # noqa: E402
from signer import Signer, health_request  # noqa: E402

AK = "LTAIbenchAccessKey0001"
SECRET = "BenchAccessKeySecret0123456789abcdef"
CLK_TCK = os.sysconf("SC_CLK_TCK")


# -- processes and their accounting ------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def descendants(pid: int) -> list[int]:
    """``pid`` and every process below it (uvicorn's workers are children of the master)."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    fields = fh.read().rsplit(")", 1)[1].split()
                parents[int(entry)] = int(fields[1])
            except (OSError, IndexError):
                continue
    found, frontier = [pid], [pid]
    while frontier:
        nxt = [c for c, p in parents.items() if p in frontier]
        found += nxt
        frontier = nxt
    return found


def cpu_seconds(pids: list[int]) -> float:
    """utime + stime of the processes (all their threads), from their own accounting."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)
        except OSError:
            continue
    return total / CLK_TCK


def postgres_cpu_seconds() -> float:
    """CPU time of the PostgreSQL server on this machine so far: utime+stime of its live
    processes (postmaster, backends, WAL writer, ...: all named ``postgres``) plus, from the
    postmaster's own accounting, that of its children that have exited (backends of closed
    connections)."""
    total = 0
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    comm, rest = fh.read().split(" (", 1)[1].rsplit(")", 1)
            except (OSError, IndexError, ValueError):
                continue
            if comm == "postgres" or comm.startswith("postgres:"):
                fields = rest.split()
                total += int(fields[11]) + int(fields[12])
                if fields[1] == "1" or not _is_postgres(int(fields[1])):  # the postmaster
                    total += int(fields[13]) + int(fields[14])  # cutime, cstime
    return total / CLK_TCK


def _is_postgres(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/comm") as fh:
            return fh.read().strip().startswith("postgres")
    except OSError:
        return False


def peak_rss_kib(pids: list[int]) -> list[int]:
    out = []
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status") as fh:
                for line in fh:
                    if line.startswith("VmHWM:"):
                        out.append(int(line.split()[1]))
        except OSError:
            continue
    return out


class Server:
    """A server process group started by the bench, stopped by its own pid."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log: Path, port: int,
                 health: str = "/health") -> None:
        self.name, self.argv, self.env, self.log_path, self.port = name, argv, env, log, port
        self.health = health
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60) -> None:
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT, env=self.env,
                                         start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}; see {self.log_path}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{self.health}", timeout=1):
                    return
            except urllib.error.HTTPError:
                return  # answering at all is enough (moto answers 404 on /)
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"{self.name} did not come up; see {self.log_path}")

    def pids(self) -> list[int]:
        assert self.proc is not None
        return descendants(self.proc.pid)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        self.proc = None


def python_info(py: Path) -> dict[str, Any]:
    """What the interpreter of a venv is: version, build, PGO/LTO flags, a distribution's build."""
    probe = ("import sys, sysconfig, json; a = sysconfig.get_config_var('CONFIG_ARGS') or '';"
             "f = (sysconfig.get_config_var('PY_CFLAGS_NODIST') or '') + (sysconfig.get_config_var('PY_CORE_LDFLAGS') or '');"
             "print(json.dumps({'version': sys.version.split()[0], 'executable': sys.executable,"
             "'implementation': sys.implementation.name, 'build': ' '.join(sys.version.split()[1:]),"
             "'pgo': '--enable-optimizations' in a or '-fprofile-use' in f, 'lto': '--with-lto' in a or '-flto' in f,"
             "'real_prefix': sys.base_prefix,"
             "'distro': sys.base_prefix == '/usr' and __import__('os').path.exists('/etc/debian_version')}))")
    try:
        return dict(json.loads(subprocess.run([str(py), "-c", probe], capture_output=True, text=True,
                                              check=True).stdout))
    except (OSError, subprocess.CalledProcessError, ValueError):
        return {"version": "?", "executable": str(py)}


# -- one wrk run -------------------------------------------------------------------------------


@dataclass
class Run:
    scenario: str
    conns: int
    phase: str
    requests: int = 0
    seconds: float = 0.0
    rps: float = 0.0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    errors: int = 0
    server_cpu_s: float = 0.0
    cpu_us_per_req: float = 0.0
    loader_cpu_s: float = 0.0
    side: str = ""  # A/B runs: "A" (the baseline) or "B" (--openkms); "P" over PostgreSQL; "" otherwise
    round: int = 0
    db_cpu_s: float = 0.0  # CPU of the PostgreSQL server's processes over the run
    db_cpu_us_per_req: float = 0.0


class Loader:
    def __init__(self, args: argparse.Namespace, workdir: Path) -> None:
        self.args = args
        self.dir = workdir / "requests"
        self.dir.mkdir(parents=True, exist_ok=True)

    def threads(self, conns: int) -> int:
        return max(1, min(conns, self.args.wrk_threads))

    def write(self, threads: int, batches: list[list[bytes]]) -> None:
        for old in self.dir.glob("thread-*.bin"):
            old.unlink()
        for t in range(threads):
            with open(self.dir / f"thread-{t}.bin", "wb") as fh:
                for raw in batches[t]:
                    fh.write(raw)
                    fh.write(b"\0")

    def run(self, url: str, conns: int, seconds: float, pids: list[int]
            ) -> tuple[dict[str, Any], float, float, float]:
        """Run wrk; return its BENCHJSON summary, the server CPU seconds, wrk's CPU seconds and the
        PostgreSQL server's CPU seconds (0 when none runs here)."""
        threads = self.threads(conns)
        argv = ["wrk", "-t", str(threads), "-c", str(conns), "-d", f"{max(1, round(seconds))}s", "--timeout", "10s",
                "-s", str(HERE / "replay.lua"), url]
        env = {**os.environ, "BENCH_REQ_DIR": str(self.dir)}
        cpu0, db0 = cpu_seconds(pids), postgres_cpu_seconds()
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        cpu1, db1 = cpu_seconds(pids), postgres_cpu_seconds()
        out = proc.stdout.read().decode() if proc.stdout else ""
        err = proc.stderr.read().decode() if proc.stderr else ""
        proc.returncode = os.waitstatus_to_exitcode(status)
        m = re.search(r"^BENCHJSON (\{.*\})$", out, re.M)
        if proc.returncode != 0 or not m:
            raise RuntimeError(f"wrk failed ({proc.returncode}): {out[-500:]} {err[-500:]}")
        return json.loads(m.group(1)), cpu1 - cpu0, usage.ru_utime + usage.ru_stime, db1 - db0


# -- the benchmark -----------------------------------------------------------------------------


@dataclass
class State:
    runs: list[Run] = field(default_factory=list)
    unavailable: dict[str, str] = field(default_factory=dict)
    rss: dict[str, dict[str, int]] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)
    openssl: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


@dataclass
class Side:
    """One openkms under test: its executable, its own data directory and, while up, its server."""

    key: str  # "" in a run of one server; "A" (the baseline) or "B" in an A/B run
    label: str
    exe: str
    data_dir: Path
    server: Server | None = None
    client: Client | None = None
    fx: Fixtures | None = None
    unavailable: set[str] = field(default_factory=set)
    keys: int = 0
    bulk_ids: list[str] = field(default_factory=list)
    database: str | None = None  # a PostgreSQL URL; None: the embedded SQLite in data_dir
    serve_args: list[str] = field(default_factory=list)  # more `openkms serve` flags of this side
    root_flags: list[str] = field(default_factory=list)  # init and serve: the root provider's flags
    root_env: dict[str, str] = field(default_factory=dict)  # and its environment (the token's PIN)
    protection_level: str = "SOFTWARE"  # of the keys the fixtures make (--hsm-keys: HSM)
    initialised: bool = False  # `openkms init` has made its deployment

    def phase(self, phase: str) -> str:
        """The phase name of this side's runs: a PostgreSQL side of a one-build run is its own."""
        return "postgres" if self.key == "P" else phase

    @property
    def python(self) -> Path:
        return Path(self.exe).parent / "python"

    def info_key(self, name: str) -> str:
        """``name`` in results.json's info: as before for one server, per side in an A/B run."""
        return name if not self.key else f"{self.key}_{name}"


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        stamp = time.strftime("%Y%m%d-%H%M%S")
        self.out = Path(args.out) if args.out else HERE / "results" / stamp
        self.out.mkdir(parents=True, exist_ok=True)
        self.work = Path(tempfile.mkdtemp(prefix="openkms-bench-"))
        self.loader = Loader(args, self.work)
        self.state = State()
        self.rates: dict[tuple[str, str, str], float] = {}
        if args.baseline:
            self.sides = [Side("A", args.baseline_label, args.baseline, self.work / "data-A",
                               serve_args=shlex.split(args.baseline_serve_args or "")),
                          Side("B", args.label, args.openkms, self.work / "data-B")]
        else:
            self.sides = [Side("", "openkms", args.openkms, self.work / "data")]
        if args.root_provider == "pkcs11":
            from softhsm import make_token

            token = make_token(self.work / "softhsm")
            self.sides[1].root_flags = token.flags
            self.sides[1].root_env = token.env
            if args.hsm_keys:
                self.sides[1].protection_level = "HSM"
        self.databases: list[str] = []
        if args.postgres:
            self.postgres_sides()

    def postgres_sides(self) -> None:
        """With ``--postgres``: in an A/B run both sides run over PostgreSQL; otherwise a node over
        PostgreSQL (side "P") runs beside the embedded one. Each gets a fresh database of its own."""
        admin = self.args.postgres
        if subprocess.run(["psql", admin, "-Atqc", "SELECT 1"], capture_output=True).returncode != 0:
            self.state.notes.append(f"PostgreSQL at {admin} not reachable: no PostgreSQL phase")
            return
        if not self.args.baseline:
            self.sides.append(Side("P", "openkms over PostgreSQL", self.args.openkms, self.work / "data-P"))
        for side in self.sides:
            if side.key == "":
                continue
            name = f"openkms_bench_{os.getpid()}_{side.key.lower()}"
            subprocess.run(["psql", admin, "-Atqc", f"DROP DATABASE IF EXISTS {name}"], check=True,
                           capture_output=True)
            subprocess.run(["psql", admin, "-Atqc", f"CREATE DATABASE {name}"], check=True, capture_output=True)
            self.databases.append(name)
            side.database = admin.rsplit("/", 1)[0] + "/" + name
        version = subprocess.run(["psql", admin, "-Atqc", "SHOW server_version"], capture_output=True, text=True)
        self.state.info["postgres"] = version.stdout.strip()

    def drop_databases(self) -> None:
        for name in self.databases:
            subprocess.run(["psql", self.args.postgres, "-Atqc", f"DROP DATABASE IF EXISTS {name}"],
                           capture_output=True)

    def log(self, msg: str) -> None:
        print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", flush=True)

    # -- openkms ---------------------------------------------------------------------------

    def start_openkms(self, side: Side) -> tuple[Server, Client]:
        port = free_port()
        argv = [side.exe, "serve", "--data-dir", str(side.data_dir), "--port", str(port),
                "--workers", str(self.args.workers)]
        if side.database:
            argv += ["--database", side.database, "--migrate"]
        argv += side.root_flags + side.serve_args
        env = {**os.environ, "OPENKMS_ROOT_ACCESS_KEY_ID": AK, "OPENKMS_ROOT_ACCESS_KEY_SECRET": SECRET,
               **side.root_env}
        self.init_openkms(side, env)
        log = self.out / (f"openkms-server-{side.key}.log" if side.key else "openkms-server.log")
        server = Server(f"openkms {side.key}".strip(), argv, env, log, port)
        side.server = server
        server.start()
        self.state.info[side.info_key("openkms_command")] = " ".join(shlex.quote(a) for a in argv)
        client = Client("127.0.0.1", port, Signer(f"127.0.0.1:{port}", AK, SECRET))
        side.client = client
        return server, client

    def init_openkms(self, side: Side, env: dict[str, str]) -> None:
        """`openkms init` on a side's new data directory (serve never creates a deployment). A
        baseline older than `init` has no such command: its serve creates the deployment itself."""
        if side.initialised:
            return
        argv = [side.exe, "init", "--data-dir", str(side.data_dir)]
        if side.database:
            argv += ["--database", side.database]
        argv += side.root_flags
        done = subprocess.run(argv, env=env, capture_output=True, text=True)
        if done.returncode != 0 and "invalid choice: 'init'" not in done.stderr:
            raise RuntimeError(f"openkms init failed: {done.stderr}")
        side.initialised = True

    def stop_openkms(self, side: Side) -> None:
        if side.client is not None:
            side.client.close()
            side.client = None
        if side.server is not None:
            side.server.stop()
            side.server = None

    def batch(self, scenario: Scenario, fx: Fixtures, signer: Signer, n: int) -> list[bytes]:
        out = []
        schemes = ("v3", "v1") if self.args.scheme == "mix" else (self.args.scheme,)
        ts = None
        for i in range(n):
            if i % 2000 == 0:
                from signer import timestamp

                ts = timestamp()
            out.append(signer.sign(schemes[i % len(schemes)], scenario.action, scenario.params(fx, i), ts=ts))
        return out

    def measure(self, phase: str, side: Side, scenario: Scenario | None, conns: int, seconds: float,
                record: bool = True, rnd: int = 0) -> Run:
        """One wrk run of a scenario (None: the floor) at ``conns`` connections on ``side``'s server."""
        server, fx = side.server, side.fx
        assert server is not None and side.client is not None
        signer = side.client.signer
        name = scenario.name if scenario else FLOOR
        url = f"http://127.0.0.1:{server.port}/"
        threads = self.loader.threads(conns)
        key = (side.key, phase, name)
        rate = self.rates.get(key, self.args.initial_rate)
        per_thread = int(rate * seconds * 1.5 / threads) + 500
        for _attempt in range(4):
            if scenario is None:
                self.loader.write(threads, [[health_request(signer.host)]] * threads)
            else:
                assert fx is not None
                fx.offset = secrets.randbelow(1 << 30)
                by = fx.user_signer() if scenario.signed_by == "user" else signer
                reqs = self.batch(scenario, fx, by, per_thread * threads)
                self.loader.write(threads, [reqs[t::threads] for t in range(threads)])
            summary, cpu, loader_cpu, db_cpu = self.loader.run(url, conns, seconds, server.pids())
            if scenario is not None and summary["wraps"] > 0:
                per_thread *= 3  # the batch ran out: repeat with a larger one
                self.rates[key] = max(rate, summary["requests"] / (summary["duration_us"] / 1e6))
                continue
            break
        else:
            self.state.notes.append(f"{phase} {side.key} {name} c={conns}: batch ran out 4 times".replace("  ", " "))
        n = summary["requests"]
        secs = summary["duration_us"] / 1e6
        errors = summary["err_status"] + summary["err_connect"] + summary["err_read"] + summary["err_write"] + summary["err_timeout"]
        run = Run(name, conns, side.phase(phase), n, secs, n / secs if secs else 0.0, summary["p50_us"] / 1000,
                  summary["p99_us"] / 1000, errors, cpu, cpu / n * 1e6 if n else 0.0, loader_cpu, side.key, rnd,
                  db_cpu if side.database else 0.0, db_cpu / n * 1e6 if n and side.database else 0.0)
        self.rates[key] = max(self.rates.get(key, 0.0), run.rps)
        if record:
            self.state.runs.append(run)
            tag = f"{phase} {side.key}" if side.key else phase
            db = f"  db {run.db_cpu_us_per_req:6.1f} us/req" if side.database else ""
            self.log(f"{tag:6} {name:28} c={conns:<3} {run.rps:9.0f} req/s  p50 {run.p50_ms:6.2f} ms  "
                     f"p99 {run.p99_ms:7.2f} ms  cpu {run.cpu_us_per_req:7.1f} us/req{db}  errors {errors}")
        return run

    def available(self, scenario: Scenario, side: Side) -> bool:
        if scenario.name in side.unavailable:
            return False
        assert side.client is not None and side.fx is not None
        try:
            params = scenario.params(side.fx, 0)
            if scenario.signed_by == "user":
                side.fx.user_signer()  # made through the RAM API (Unavailable where there is none)
            status, answer = side.client.call(scenario.action, params)
            if status != 200:
                code = answer.get("Code", "?")
                raise Unavailable(f"{scenario.action} not served" if code == "InvalidAction.NotFound"
                                  else f"{scenario.action} answers {status} {code}")
        except Unavailable as exc:
            side.unavailable.add(scenario.name)
            where = f"{scenario.name} ({side.key}: {side.label})" if side.key else scenario.name
            self.state.unavailable[where] = str(exc)
            self.log(f"{where}: not available ({exc})")
            return False
        return True

    def phase(self, phase: str, scenarios: list[Scenario], sides: list[Side]) -> None:
        """Every round runs each cell (scenario x connections) on every side, one after the other."""
        on = {side.key: [s for s in scenarios if self.available(s, side)] for side in sides}
        ready = [s for s in scenarios if any(s in v for v in on.values())]
        ready.sort(key=lambda s: s.writes)  # state-changing scenarios last
        # Warm up (caches, the interpreter) and learn each scenario's rate to size its batches.
        for side in sides:
            self.measure(phase, side, None, 8, self.args.warmup, record=False)
            for s in on[side.key]:
                self.measure(phase, side, s, 8, self.args.warmup, record=False)
        for rep in range(self.args.repeats):
            order = list(sides)
            if self.args.ab_order == "alternate" and rep % 2:
                order.reverse()
            self.log(f"{phase}: round {rep + 1} of {self.args.repeats}"
                     + (f" ({' then '.join(s.key for s in order)} in each cell)" if len(sides) > 1 else ""))
            for conns in self.args.connections:
                for s in [None, *ready]:
                    for side in order:
                        if s is None or s in on[side.key]:
                            self.measure(phase, side, s, conns, self.args.duration, rnd=rep)
        for side in sides:
            assert side.server is not None
            self.state.rss[f"{phase} {side.key}" if side.key else phase] = self.rss(side.server)

    def rss(self, server: Server) -> dict[str, int]:
        values = peak_rss_kib(server.pids())
        return {"processes": len(values), "max_kib": max(values, default=0), "sum_kib": sum(values)}

    # -- moto -----------------------------------------------------------------------------

    def moto(self) -> None:
        try:
            import botocore.session
            from botocore.auth import SigV4Auth
            from botocore.awsrequest import AWSRequest
        except ImportError:
            self.state.notes.append("moto: botocore not installed (run bench/setup.sh)")
            return
        moto_bin = Path(sys.executable).parent / "moto_server"
        if not moto_bin.exists():
            self.state.notes.append("moto: moto_server not installed (run bench/setup.sh)")
            return
        port = free_port()
        argv = [str(moto_bin), "-H", "127.0.0.1", "-p", str(port)]
        server = Server("moto", argv, dict(os.environ), self.out / "moto-server.log", port, health="/moto-api/")
        server.start()
        self.state.info["moto_command"] = " ".join(argv)
        try:
            session = botocore.session.get_session()
            session.set_credentials("AKIDBENCHMOTO0000001", "bench-moto-secret-key-0123456789abcdef")
            kms = session.create_client("kms", region_name="us-east-1", endpoint_url=f"http://127.0.0.1:{port}")
            key_id = kms.create_key()["KeyMetadata"]["KeyId"]
            creds = session.get_credentials()
            plaintext = os.urandom(64)
            import base64

            body = json.dumps({"KeyId": key_id, "Plaintext": base64.b64encode(plaintext).decode()})

            def signed() -> bytes:
                req = AWSRequest(method="POST", url=f"http://127.0.0.1:{port}/", data=body,
                                 headers={"X-Amz-Target": "TrentService.Encrypt",
                                          "Content-Type": "application/x-amz-json-1.1"})
                SigV4Auth(creds, "kms", "us-east-1").add_auth(req)
                lines = ["POST / HTTP/1.1", f"Host: 127.0.0.1:{port}"]
                lines += [f"{k}: {v}" for k, v in req.headers.items()]
                lines.append(f"Content-Length: {len(body)}")
                return ("\r\n".join(lines) + "\r\n\r\n" + body).encode()

            # moto checks no nonce: a pool of signed requests is cycled (wraps are expected).
            pool = [signed() for _ in range(200)]
            check = Client("127.0.0.1", port, Signer("x", "x", "x")).send_raw(pool[0])
            if check[0] != 200:
                self.state.notes.append(f"moto Encrypt answered {check[0]}: {check[1][:200]!r}")
                return
            url = f"http://127.0.0.1:{port}/"
            for _rep in range(self.args.repeats):
                for conns in self.args.connections:
                    threads = self.loader.threads(conns)
                    self.loader.write(threads, [pool] * threads)
                    summary, cpu, loader_cpu, _ = self.loader.run(url, conns, self.args.duration, server.pids())
                    n, secs = summary["requests"], summary["duration_us"] / 1e6
                    errors = summary["err_status"] + summary["err_connect"] + summary["err_read"] + summary["err_write"] + summary["err_timeout"]
                    run = Run("moto Encrypt 64 B", conns, "moto", n, secs, n / secs if secs else 0, summary["p50_us"] / 1000,
                              summary["p99_us"] / 1000, errors, cpu, cpu / n * 1e6 if n else 0, loader_cpu)
                    self.state.runs.append(run)
                    self.log(f"moto   Encrypt 64 B                 c={conns:<3} {run.rps:9.0f} req/s  p50 {run.p50_ms:6.2f} ms  "
                             f"p99 {run.p99_ms:7.2f} ms  cpu {run.cpu_us_per_req:7.1f} us/req  errors {errors}")
        finally:
            server.stop()

    # -- openssl ----------------------------------------------------------------------------

    def openssl(self) -> None:
        if shutil.which("openssl") is None:
            return
        n = str(os.cpu_count() or 1)
        for alg, pattern, key in (("rsa2048", r"^rsa\s+2048 bits\s+\S+\s+\S+\s+([\d.]+)", "rsa2048_sign_per_s"),
                                  ("ecdsap256", r"nistp256\)\s+\S+\s+\S+\s+([\d.]+)", "ecdsap256_sign_per_s")):
            argv = ["openssl", "speed", "-seconds", str(max(1, int(self.args.duration))), "-multi", n, alg]
            try:
                out = subprocess.run(argv, capture_output=True, text=True, timeout=120).stdout
            except (OSError, subprocess.TimeoutExpired):
                continue
            m = re.search(pattern, out, re.M)
            if m:
                self.state.openssl[key] = float(m.group(1))
                self.state.info[f"openssl_{alg}_command"] = " ".join(argv)
        self.log(f"openssl speed: {self.state.openssl}")

    # -- the whole run ----------------------------------------------------------------------

    def machine(self) -> None:
        info = self.state.info
        info["date"] = time.strftime("%Y-%m-%d %H:%M:%S %Z")
        info["nproc"] = os.cpu_count()
        model = ""
        try:
            with open("/proc/cpuinfo") as fh:
                model = next((ln.split(":", 1)[1].strip() for ln in fh if ln.startswith("model name")), "")
        except OSError:
            pass
        info["cpu_model"] = model
        info["kernel"] = platform.release()
        info["loadavg_start"] = Path("/proc/loadavg").read_text().split()[:3]
        info["python"] = python_info(Path(self.args.openkms).parent / "python")
        if self.args.baseline:
            from baseline import describe

            info["ab"] = {}
            for side in self.sides:
                info["ab"][side.key] = {"label": side.label, **describe(Path(side.exe)),
                                        "python": python_info(side.python)}
            info["ab"]["A"]["built"] = self.args.baseline_meta
            if self.args.root_provider != "file":
                info["ab"]["B"]["root_provider"] = self.args.root_provider
            info["ab_order"] = self.args.ab_order
        wrk = subprocess.run(["wrk", "--version"], capture_output=True, text=True)
        info["wrk"] = (wrk.stdout + wrk.stderr).split("\n")[0].strip()
        try:
            import moto

            info["moto"] = moto.__version__
        except ImportError:
            info["moto"] = "not installed"
        info["argv"] = " ".join(shlex.quote(a) for a in sys.argv)

    def run(self) -> None:
        args = self.args
        self.machine()
        self.log(f"results in {self.out}; work dir {self.work}")
        for side in self.sides:
            if side.key:
                self.log(f"{side.key}: {side.label} ({side.exe})")
        wanted = [s for s in SCENARIOS if not args.scenarios or any(p.lower() in s.name.lower() for p in args.scenarios)]
        try:
            for side in self.sides:
                _, client = self.start_openkms(side)
                side.fx = Fixtures(client, sym_keys=args.keys_small, protection_level=side.protection_level)
            # The same fixtures on every side: the same counts (made on first use) and plaintext.
            for side in self.sides[1:]:
                assert side.fx is not None and self.sides[0].fx is not None
                side.fx.plaintext_64 = self.sides[0].fx.plaintext_64
            self.phase("main", [s for s in wanted if s.main], self.sides)
            for side in self.sides:
                assert side.client is not None
                side.keys = self.count_keys(side.client)
                self.state.info[side.info_key("keys_after_main")] = side.keys
                self.stop_openkms(side)
            if not args.skip_moto:
                self.moto()
            scale = [s for s in wanted if s.scale and not all(s.name in side.unavailable for side in self.sides)]
            if args.keys_large and scale:
                self.scale_phase(scale)
            if not args.skip_openssl:
                self.openssl()
        finally:
            for side in self.sides:
                self.stop_openkms(side)
            self.drop_databases()
        self.state.info["loadavg_end"] = Path("/proc/loadavg").read_text().split()[:3]
        self.write_results()

    def count_keys(self, client: Client) -> int:
        try:
            return int(client.ok("ListKeys", {"PageSize": "1"})["TotalCount"])
        except (Unavailable, KeyError, ValueError):
            return 0

    def scale_phase(self, scale: list[Scenario]) -> None:
        args = self.args
        env = {**os.environ, "OPENKMS_ROOT_ACCESS_KEY_ID": AK, "OPENKMS_ROOT_ACCESS_KEY_SECRET": SECRET}
        sides = [side for side in self.sides if not side.database]  # the embedded store only
        for side in sides:
            # Each side's own code loads its own store (bulkload.py imports openkms).
            to_add = max(0, args.keys_large - side.keys)
            ids_file = self.work / f"bulk-ids{side.key}.txt"
            cmd = [str(side.python), str(HERE / "bulkload.py"), "--data-dir", str(side.data_dir),
                   "--count", str(to_add), "--out", str(ids_file)]
            self.log(f"bulk-loading {to_add} keys: {' '.join(cmd)}")
            subprocess.run(cmd, check=True, env=env)
            self.state.info[side.info_key("bulkload_command")] = " ".join(cmd)
            side.bulk_ids = ids_file.read_text().split()
            secrets.SystemRandom().shuffle(side.bulk_ids)
        for side in sides:
            _, client = self.start_openkms(side)
            total = self.count_keys(client)
            self.state.info[side.info_key("keys_in_scale_phase")] = total
            side.fx = Fixtures(client, sym_key_ids=side.bulk_ids, ciphertexts=args.scale_ciphertexts)
            self.log(f"scale phase {side.key}: {total} keys in the store; making {args.scale_ciphertexts} ciphertexts"
                     .replace("  ", " "))
        for side in sides[1:]:
            assert side.fx is not None and sides[0].fx is not None
            side.fx.plaintext_64 = sides[0].fx.plaintext_64
        self.phase("scale", scale, sides)
        for side in sides:
            self.stop_openkms(side)

    # -- profile ----------------------------------------------------------------------------

    def profile(self) -> None:
        """py-spy records the server (every worker) while wrk drives one scenario at a time."""
        pyspy = Path(sys.executable).parent / "py-spy"
        if not pyspy.exists():
            sys.exit("bench: py-spy is not installed; run bench/setup.sh")
        from profsummary import load, summarise

        args = self.args
        wanted = [s for s in SCENARIOS if not args.scenarios or any(p.lower() in s.name.lower() for p in args.scenarios)]
        side = self.sides[-1]
        server, client = self.start_openkms(side)
        side.fx = Fixtures(client, sym_keys=args.keys_small)
        report = [f"# Profile of the server's request path ({time.strftime('%Y-%m-%d %H:%M')})", ""]
        try:
            for scenario in wanted:
                if scenario.writes or not self.available(scenario, side):
                    continue
                self.measure("main", side, scenario, 8, 1, record=False)  # warm, size
                raw = self.out / f"profile-{scenario.action}.txt"
                seconds = max(3, int(args.duration))
                rec = subprocess.Popen([str(pyspy), "record", "--subprocesses", "--rate", "997", "--format", "raw", *(["--gil"] if os.environ.get("BENCH_PROFILE_GIL") else []),
                                        "--duration", str(seconds + 1), "--pid", str(server.proc.pid),
                                        "--output", str(raw), "--nonblocking"],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                time.sleep(0.5)
                run = self.measure("main", side, scenario, 8, seconds, record=False)
                rec.wait(60)
                if not raw.exists():
                    self.log(f"{scenario.name}: py-spy wrote nothing (is ptrace allowed?)")
                    continue
                report += [f"## {scenario.name} (8 connections, {run.rps:,.0f} req/s while sampled)", "",
                           summarise(load(str(raw)), 15), ""]
                self.log(f"profiled {scenario.name}: {raw}")
        finally:
            self.stop_openkms(side)
        text = "\n".join(report)
        (self.out / "profile.md").write_text(text)
        print(text)
        shutil.rmtree(self.work, ignore_errors=True)

    # -- results ----------------------------------------------------------------------------

    def write_results(self) -> None:
        from report import render

        data = {"info": self.state.info, "runs": [asdict(r) for r in self.state.runs],
                "unavailable": self.state.unavailable, "rss": self.state.rss, "openssl": self.state.openssl,
                "notes": self.state.notes, "settings": {k: v for k, v in vars(self.args).items()}}
        (self.out / "results.json").write_text(json.dumps(data, indent=1))
        md = render(data)
        (self.out / "results.md").write_text(md)
        print(md)
        if self.args.update_docs:
            from report import update_docs

            update_docs(ROOT / "docs" / "performance.md", md)
        shutil.rmtree(self.work, ignore_errors=True)


def ab_args(args: argparse.Namespace) -> None:
    """Resolve the A/B options: A's executable (built for --baseline-commit) and both labels."""
    from baseline import build, describe

    if args.profile or args.update_docs:
        sys.exit("bench: --profile and --update-docs take one server, not --baseline/--baseline-commit")
    if args.baseline_commit:
        exe, meta = build(args.baseline_commit, Path(args.openkms),
                          log=lambda m: print(f"[bench {time.strftime('%H:%M:%S')}] {m}", flush=True))
        args.baseline, args.baseline_meta = str(exe), meta
    elif not Path(args.baseline).exists():
        sys.exit(f"bench: {args.baseline} not found")

    def label(exe: str) -> str:
        d = describe(Path(exe))
        if "commit" not in d:
            return exe
        where = "working tree" if Path(d["tree"]) == ROOT else d["tree"]
        return f"{where} at {d['commit'][:10]}" + (" with uncommitted changes" if d.get("dirty") else "")

    if not args.baseline_label:
        meta = args.baseline_meta
        if meta:
            short = meta["commit"][:10]
            args.baseline_label = short if meta["commit"].startswith(meta["rev"]) else f"{meta['rev']} ({short})"
        else:
            args.baseline_label = label(args.baseline)
    if not args.label:
        args.label = label(args.openkms)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--openkms", default=str(ROOT / ".venv" / "bin" / "openkms"), help="the openkms executable")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 2, help="server worker processes")
    ap.add_argument("--duration", type=float, default=5.0, help="seconds per measured run")
    ap.add_argument("--warmup", type=float, default=1.0, help="seconds of warm-up per scenario")
    ap.add_argument("--repeats", type=int, default=3, help="rounds; the table shows medians")
    ap.add_argument("--connections", type=lambda s: [int(x) for x in s.split(",")], default=[1, 8, 32])
    ap.add_argument("--wrk-threads", type=int, default=min(2, os.cpu_count() or 1))
    ap.add_argument("--scheme", choices=["mix", "v1", "v3"], default="mix", help="signature scheme of the requests")
    ap.add_argument("--scenarios", nargs="*", help="only scenarios whose name contains one of these")
    ap.add_argument("--keys-small", type=int, default=10, help="symmetric keys in the main phase")
    ap.add_argument("--keys-large", type=int, default=None,
                    help="keys in the store in the scale phase (0: skip; default 100,000, and 0 in an A/B run)")
    ap.add_argument("--scale-ciphertexts", type=int, default=20_000, help="distinct ciphertexts (keys) for Decrypt at scale")
    ap.add_argument("--initial-rate", type=float, default=8000, help="req/s guessed before a scenario was measured")
    ap.add_argument("--postgres", metavar="URL",
                    help="a PostgreSQL database URL whose role may create databases: a node over PostgreSQL "
                         "(a fresh database) runs beside the embedded one in the main phase; in an A/B run, "
                         "both sides run over PostgreSQL")
    ap.add_argument("--skip-moto", action="store_true")
    ap.add_argument("--skip-openssl", action="store_true")
    ap.add_argument("--quick", action="store_true", help="1 round of 2 s, 20,000 keys at scale: a smoke run")
    ap.add_argument("--out", help="results directory (default bench/results/<time>)")
    ap.add_argument("--update-docs", action="store_true", help="also write the table into docs/performance.md")
    ap.add_argument("--profile", action="store_true", help="py-spy the server per scenario instead of benchmarking")
    ab = ap.add_argument_group("A/B", "two openkms in one run, rounds interleaved; --openkms is B")
    other = ab.add_mutually_exclusive_group()
    other.add_argument("--baseline", metavar="PATH", help="A: another openkms executable")
    other.add_argument("--baseline-commit", metavar="REV",
                       help="A: openkms at this git revision, installed once into bench/.baseline/<commit>/ "
                       "(bench/baseline.py: git archive, a venv from --openkms's interpreter, pip install -e)")
    ab.add_argument("--baseline-serve-args", metavar="FLAGS",
                    help="more `openkms serve` flags for A, e.g. \"--no-audit\" with --baseline .venv/bin/openkms: "
                    "the same build with and without a feature")
    ab.add_argument("--baseline-label", help="A's name in the table (default: its commit, or its path)")
    ab.add_argument("--label", help="B's name in the table (default: its commit and whether its tree had "
                    "uncommitted changes, or its path)")
    ab.add_argument("--ab-order", choices=["ab", "alternate"], default="ab",
                    help="ab: A then B in every cell of every round; alternate: B first in every second round")
    ap.add_argument("--root-provider", choices=["file", "pkcs11"], default="file",
                    help="pkcs11: an A/B run of one build, A over the file root key, B over a root "
                    "key on a SoftHSM2 token made for the run")
    ap.add_argument("--hsm-keys", action="store_true",
                    help="with --root-provider pkcs11: B's keys are ProtectionLevel=HSM keys (AES-GCM "
                    "and signatures in the token), A's stay software keys")
    args = ap.parse_args()
    if args.hsm_keys and args.root_provider != "pkcs11":
        sys.exit("bench: --hsm-keys needs --root-provider pkcs11")
    if args.root_provider == "pkcs11":
        if args.baseline or args.baseline_commit or args.profile or args.update_docs:
            sys.exit("bench: --root-provider pkcs11 compares the root providers of one build: no "
                     "--baseline, --baseline-commit, --profile or --update-docs")
        args.baseline = args.openkms
        args.baseline_label = args.baseline_label or "file root key"
        args.label = args.label or (
            "pkcs11 root, HSM keys (SoftHSM2)" if args.hsm_keys else "pkcs11 root key (SoftHSM2)"
        )
    if args.keys_large is None:
        args.keys_large = 0 if args.baseline or args.baseline_commit else 100_000
    if args.quick:
        args.repeats, args.duration, args.warmup = 1, 2.0, 1.0
        args.keys_large = min(args.keys_large, 20_000)
        args.scale_ciphertexts = min(args.scale_ciphertexts, 2000)
    if shutil.which("wrk") is None:
        sys.exit("bench: wrk is not installed; run bench/setup.sh (make bench does)")
    if not Path(args.openkms).exists():
        sys.exit(f"bench: {args.openkms} not found; run make install")
    args.baseline_meta = None
    if (args.baseline or args.baseline_commit) and args.root_provider == "file":
        ab_args(args)
    bench = Bench(args)
    if args.profile:
        bench.profile()
    else:
        bench.run()


if __name__ == "__main__":
    main()
