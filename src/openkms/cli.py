"""The ``openkms`` command: create a deployment (init), serve it, manage accounts, AccessKeys
and RAM identities offline, migrate the database.

Every account is a tenant: its keys, aliases and secrets are its own and no other account's
AccessKeys see them. `openkms init` makes the first account; `openkms account create` makes
another, with a new 16-digit uid and a root AccessKey."""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from openkms.config import Settings

if TYPE_CHECKING:
    from openkms.http import Limits
    from openkms.service.deployment import Deployment


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _add_store_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-dir", type=Path, help="data directory (default ./data)")
    p.add_argument("--database", help="database URL (default: SQLite in the data directory)")
    p.add_argument("--root-key-file", type=Path, help="root key file (default DATA_DIR/root.key)")
    p.add_argument("--region", help="region id answered in ARNs (default cn-hangzhou)")
    p.add_argument("--db-timeout", type=float, help="seconds one PostgreSQL wait may take (default 5)")


def _settings(args: argparse.Namespace) -> Settings:
    s = Settings()
    if args.data_dir is not None:
        s.data_dir = args.data_dir
    if args.database is not None:
        s.database = args.database
    if args.root_key_file is not None:
        s.root_key_file = args.root_key_file
    if args.region is not None:
        s.region = args.region
    if args.db_timeout is not None:
        s.db_timeout = args.db_timeout
    return s


# The `serve` flags of the front door and of admission: (flag, Settings field, type, help). Each
# field is also read from OPENKMS_<FIELD> (config.py); docs/deployment.md, "The front door".
_SERVE_LIMITS: tuple[tuple[str, str, type, str], ...] = (
    ("--request-timeout", "request_timeout", float,
     "seconds after a request's arrival at which a PostgreSQL wait of it is cut off, answered "
     "503 and rolled back (default 8)"),
    ("--queue-timeout", "queue_timeout", float,
     "seconds a whole request may wait to start; past it the answer is 429 and nothing is done "
     "(default 2)"),
    ("--max-inflight", "max_inflight", int,
     "whole requests served at once per worker process; beyond it the answer is 429 (default 256)"),
    ("--head-timeout", "head_timeout", float,
     "seconds to receive a request head, from the connection's opening or the request's first "
     "byte; then the connection is closed (default 10)"),
    ("--body-timeout", "body_timeout", float,
     "seconds to receive a request body after its head; then the connection is closed (default 30)"),
    ("--body-min-rate", "body_min_rate", int,
     "bytes per second a body must average after its first 2 seconds, else the connection is "
     "closed; 0 for no minimum (default 1024)"),
    ("--keep-alive-timeout", "keep_alive_timeout", float,
     "seconds an idle kept-alive connection stays open (default 30)"),
    ("--max-header-bytes", "max_header_bytes", int,
     "bytes of header fields (names and values) in one request; beyond it 431 (default 16384)"),
    ("--max-headers", "max_headers", int,
     "header fields in one request; beyond it 431 (default 100)"),
    ("--max-connections", "max_connections", int,
     "open connections per worker process; one more is answered 503 and closed (default 4096)"),
    ("--max-pending-bytes", "max_pending_bytes", int,
     "bytes of requests not yet whole held per worker process; a request passing it is answered "
     "503 and its connection closed (default 67108864)"),
)
# File descriptors a worker needs beside its connections (database, nonce files, logs, pipes).
_SPARE_FDS = 128
# Seconds a worker whose parent died is given to finish what it serves before it exits anyway.
_ORPHAN_GRACE = 30.0


def _export_env(s: Settings) -> None:
    """Worker processes rebuild their settings from the environment."""
    os.environ["OPENKMS_DATA_DIR"] = str(s.data_dir)
    os.environ["OPENKMS_REGION"] = s.region
    if s.database:
        os.environ["OPENKMS_DATABASE"] = s.database
    if s.root_key_file:
        os.environ["OPENKMS_ROOT_KEY_FILE"] = str(s.root_key_file)
    os.environ["OPENKMS_REQUEST_LOG"] = "1" if s.log_requests else "0"
    os.environ["OPENKMS_DB_TIMEOUT"] = repr(s.db_timeout)
    for _, name, _, _ in _SERVE_LIMITS:
        os.environ[f"OPENKMS_{name.upper()}"] = repr(getattr(s, name))
    os.environ["OPENKMS_TRUSTED_PROXIES"] = s.trusted_proxies
    os.environ["OPENKMS_METRICS_TOKEN"] = s.metrics_token


def _limits(s: Settings) -> Limits:
    from openkms import http

    return http.Limits(
        head_timeout=s.head_timeout,
        body_timeout=s.body_timeout,
        body_min_rate=s.body_min_rate,
        max_header_bytes=s.max_header_bytes,
        max_headers=s.max_headers,
        max_connections=s.max_connections,
        max_pending_bytes=s.max_pending_bytes,
    )


def create_app() -> object:
    """uvicorn factory: one application per worker process, settings from the environment."""
    from openkms import http
    from openkms.server import KMSApp
    from openkms.service.deployment import open_deployment

    master = int(os.environ.get("OPENKMS_MASTER_PID", "0"))
    if master and master != os.getpid():
        _exit_with_parent(master)
    settings = Settings()
    settings.log_requests = os.environ.get("OPENKMS_REQUEST_LOG", "1") == "1"
    # A worker process (uvicorn spawns them) starts with logging unconfigured: without this,
    # its request log lines would be dropped below the default WARNING level.
    _configure_logging()
    http.configure(_limits(settings))
    return KMSApp(open_deployment(settings, migrate_schema=False))


def _exit_with_parent(parent: int) -> None:
    """Make this worker process end when ``parent`` (the `serve` process) dies, even by kill -9:
    SIGTERM from the kernel (Linux's PR_SET_PDEATHSIG), and a thread that watches getppid() as
    well (other systems, and a parent that died before the request took effect). SIGTERM is a
    graceful stop: the listening socket closes, requests being served finish; a worker still
    alive :data:`_ORPHAN_GRACE` seconds later exits at once."""
    import signal
    import threading
    import time

    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(pr_set_pdeathsig, int(signal.SIGTERM), 0, 0, 0)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(_ORPHAN_GRACE)
        os._exit(1)

    threading.Thread(target=watch, name="openkms-parent-watch", daemon=True).start()


def _raise_fd_limit(s: Settings) -> None:
    """Let each process hold ``max_connections`` sockets and its own files: raise the soft limit
    on open files as far as the hard limit allows, and lower ``max_connections`` to fit it."""
    import resource

    want = s.max_connections + _SPARE_FDS
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < want:
        new = want if hard == resource.RLIM_INFINITY else min(want, hard)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
            soft = new
        except (ValueError, OSError):
            pass
    if soft != resource.RLIM_INFINITY and soft < want:
        fit = max(1, soft - _SPARE_FDS)
        print(
            f"openkms: the open-file limit is {soft}: serving at most {fit} connections per worker "
            f"(not {s.max_connections}); raise `ulimit -n` for more",
            file=sys.stderr,
            flush=True,
        )
        s.max_connections = fit


def _configure_logging() -> None:
    from openkms import logs

    logs.configure()


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from openkms.http import GuardedProtocol
    from openkms.service.deployment import StartupError, open_deployment
    from openkms.store.engine import is_sqlite

    s = _settings(args)
    s.host, s.port, s.workers = args.host, args.port, args.workers
    s.log_requests = not args.no_request_log
    for _, name, _, _ in _SERVE_LIMITS:
        if getattr(args, name) is not None:
            setattr(s, name, getattr(args, name))
    if args.trusted_proxies is not None:
        s.trusted_proxies = args.trusted_proxies
    if args.metrics_token is not None:
        s.metrics_token = args.metrics_token
    from openkms.server import trusted_networks

    try:
        trusted_networks(s.trusted_proxies)
    except ValueError as exc:
        print(f"openkms: --trusted-proxies: {exc}", file=sys.stderr)
        return 2
    tls = args.tls_cert is not None or args.tls_key is not None
    if tls and (args.tls_cert is None or args.tls_key is None):
        print("openkms: --tls-cert and --tls-key go together", file=sys.stderr)
        return 2
    if not tls and not _is_loopback(s.host) and not args.insecure_http:
        print(
            f"openkms: refusing to serve plain HTTP on non-loopback address {s.host}; "
            "give --tls-cert/--tls-key, or --insecure-http if a proxy terminates TLS",
            file=sys.stderr,
        )
        return 2
    if not is_sqlite(s.database_url):
        # A node over PostgreSQL keeps its own state (its write generation, which lets its
        # processes keep hot reads) in its data directory.
        s.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        # The embedded database migrates itself; a shared one only when told (one node, once).
        dep = open_deployment(
            s, migrate_schema=is_sqlite(s.database_url) or args.migrate, check_integrity=True
        )
    except StartupError as exc:
        print(f"openkms: cannot start: {exc}", file=sys.stderr)
        return 1
    print(
        f"openkms: account {dep.account_id}, region {dep.region}, "
        f"serving on {'https' if tls else 'http'}://{s.host}:{s.port}",
        flush=True,
    )
    dep.close()
    _raise_fd_limit(s)
    _export_env(s)
    if s.workers > 1:
        os.environ["OPENKMS_MASTER_PID"] = str(os.getpid())  # the workers end with this process
    _configure_logging()
    uvicorn.run(
        "openkms.cli:create_app",
        factory=True,
        host=s.host,
        port=s.port,
        workers=s.workers if s.workers > 1 else None,
        loop="auto",
        http=GuardedProtocol,
        ws="none",
        access_log=False,
        # Nothing reads the client address, so X-Forwarded-* need no middleware on every
        # request; and the answer does not name the server software.
        proxy_headers=False,
        server_header=False,
        log_level="warning",
        ssl_certfile=str(args.tls_cert) if tls else None,
        ssl_keyfile=str(args.tls_key) if tls else None,
        timeout_keep_alive=s.keep_alive_timeout,  # type: ignore[arg-type]
    )
    return 0


def _open(args: argparse.Namespace) -> Deployment:
    """The deployment the store flags name; exit 1 with the reason if there is none (nothing is
    created: a new deployment is `openkms init`'s)."""
    from openkms.service.deployment import StartupError, open_deployment

    try:
        return open_deployment(_settings(args))
    except StartupError as exc:
        print(f"openkms: {exc}", file=sys.stderr)
        raise SystemExit(1) from None


def cmd_init(args: argparse.Namespace) -> int:
    """Create the deployment: root key, schema, first account and its root AccessKey (from
    OPENKMS_ROOT_ACCESS_KEY_ID/_SECRET when set, else generated and printed once)."""
    from openkms.service.deployment import StartupError, init_deployment

    pair = _root_pair_from_env()
    try:
        dep, root = init_deployment(_settings(args), root_access_key=pair)
    except StartupError as exc:
        print(f"openkms: cannot init: {exc}", file=sys.stderr)
        return 1
    dep.close()
    print(f"openkms: created the deployment: account {dep.account_id}, region {dep.region}")
    _print_root_pair(root.access_key_id, root.secret.reveal(), pair is not None)
    return 0


def _root_pair_from_env() -> tuple[str, str] | None:
    """OPENKMS_ROOT_ACCESS_KEY_ID/_SECRET as a pair, None when neither is set; exit 2 when only
    one is."""
    env_id = os.environ.get("OPENKMS_ROOT_ACCESS_KEY_ID")
    env_secret = os.environ.get("OPENKMS_ROOT_ACCESS_KEY_SECRET")
    if bool(env_id) != bool(env_secret):
        print(
            "openkms: set both OPENKMS_ROOT_ACCESS_KEY_ID and OPENKMS_ROOT_ACCESS_KEY_SECRET, or neither",
            file=sys.stderr,
        )
        raise SystemExit(2)
    return (env_id, env_secret) if env_id and env_secret else None


def _print_root_pair(access_key_id: str, secret: str, from_env: bool) -> None:
    if from_env:
        print(f"openkms: the root AccessKey is {access_key_id}, from the environment")
    else:
        print(
            "openkms: the root AccessKey (the secret is shown only this once):\n"
            f"  AccessKeyId:     {access_key_id}\n  AccessKeySecret: {secret}"
        )


def cmd_account(args: argparse.Namespace) -> int:
    """`openkms account create|list`: tenants of the deployment, offline."""
    from openkms.service import accounts

    pair = _root_pair_from_env() if args.account_command == "create" else None
    dep = _open(args)
    try:
        if args.account_command == "create":
            made = accounts.create(dep, args.name or "", pair)
            named = f" ({made.display_name})" if made.display_name else ""
            print(f"openkms: created account {made.uid}{named}")
            _print_root_pair(made.access_key_id, made.secret.reveal(), pair is not None)
        else:
            for account in accounts.list_all(dep):
                first = "\tfirst" if account.uid == dep.account_id else ""
                created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(account.created))
                print(f"{account.uid}\t{created}\t{account.display_name}{first}")
    except accounts.AccountError as exc:
        print(f"openkms: {exc}", file=sys.stderr)
        return 1
    finally:
        dep.close()
    return 0


def cmd_access_key(args: argparse.Namespace) -> int:
    from openkms.service import access_keys

    dep = _open(args)
    try:
        if args.ak_command == "create":
            akid, secret = access_keys.create(dep, description=args.description or "")
            print(f"AccessKeyId:     {akid}\nAccessKeySecret: {secret.reveal()}")
        elif args.ak_command == "list":
            for info in access_keys.list_all(dep):
                owner = "root" if info.is_root else f"user:{info.user_id}"
                print(f"{info.access_key_id}\t{info.status}\t{owner}\t{info.description}")
        elif args.ak_command in ("disable", "enable"):
            status = access_keys.INACTIVE if args.ak_command == "disable" else access_keys.ACTIVE
            access_keys.set_status(dep, args.access_key_id, status)
        elif args.ak_command == "delete":
            access_keys.remove(dep, args.access_key_id)
    except access_keys.AccessKeyError as exc:
        print(f"openkms: {exc}", file=sys.stderr)
        return 1
    finally:
        dep.close()
    return 0


def cmd_access_denied(args: argparse.Namespace) -> int:
    from openkms.service.authz import open_diagnostic

    dep = _open(args)
    try:
        print(json.dumps(open_diagnostic(dep, args.message), indent=1))
    except ValueError as exc:
        print(f"openkms: {exc}", file=sys.stderr)
        return 1
    finally:
        dep.close()
    return 0


def cmd_db(args: argparse.Namespace) -> int:
    from openkms.store import migrate
    from openkms.store.engine import make_nullpool_engine

    s = _settings(args)
    if args.db_command == "upgrade":
        dep = _open(args)  # opening migrates; a database without a deployment is refused
        dep.close()
        print("openkms: database schema is current")
        return 0
    engine = make_nullpool_engine(s.database_url, timeout=s.db_timeout)
    try:
        current = migrate.current_revision(engine)
        head = migrate.head_revision(engine)
    finally:
        engine.dispose()
    print(f"schema revision {current}, code expects {head}")
    return 0 if current == head else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="openkms", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    init = sub.add_parser(
        "init",
        help="create a deployment: root key, database, first account and its root AccessKey "
        "(OPENKMS_ROOT_ACCESS_KEY_ID/_SECRET, else generated and printed once)",
    )
    _add_store_args(init)
    init.set_defaults(func=cmd_init)

    serve = sub.add_parser("serve", help="run the KMS server")
    _add_store_args(serve)
    serve.add_argument(
        "--host",
        default=os.environ.get("OPENKMS_HOST", "127.0.0.1"),
        help="address to listen on (default 127.0.0.1)",
    )
    serve.add_argument(
        "--port", type=int, default=int(os.environ.get("OPENKMS_PORT", "8080")), help="port (default 8080)"
    )
    serve.add_argument(
        "--workers",
        type=int,
        default=int(os.environ.get("OPENKMS_WORKERS", "1")),
        help="worker processes sharing the port (default 1)",
    )
    serve.add_argument("--tls-cert", type=Path, help="certificate chain (PEM) to serve HTTPS with")
    serve.add_argument("--tls-key", type=Path, help="private key (PEM) of --tls-cert")
    serve.add_argument("--insecure-http", action="store_true", help="allow plain HTTP off loopback")
    serve.add_argument("--migrate", action="store_true", help="upgrade a PostgreSQL schema at start")
    for flag, name, kind, text in _SERVE_LIMITS:
        serve.add_argument(flag, dest=name, type=kind, help=f"{text}; OPENKMS_{name.upper()}")
    serve.add_argument(
        "--trusted-proxies",
        help="addresses or CIDR blocks, comma-separated, of proxies whose X-Forwarded-For names the "
        "client that policies see (acs:SourceIp); from any other peer the header is ignored "
        "(default none); OPENKMS_TRUSTED_PROXIES",
    )
    serve.add_argument(
        "--metrics-token",
        help="GET /metrics answers only requests with `Authorization: Bearer <token>` (default: "
        "no token; prefer the environment, which `ps` does not show); OPENKMS_METRICS_TOKEN",
    )
    serve.add_argument("--no-request-log", action="store_true", help="no per-request log lines")
    serve.set_defaults(func=cmd_serve)

    account = sub.add_parser(
        "account",
        help="accounts (tenants), offline: `create [--name N]` makes one with a new uid and a root "
        "AccessKey (OPENKMS_ROOT_ACCESS_KEY_ID/_SECRET, else generated and printed once); `list`",
    )
    account_sub = account.add_subparsers(dest="account_command", required=True)
    account_create = account_sub.add_parser("create", help="a new account and its root AccessKey")
    account_create.add_argument("--name", help="display name (at most 64 printable characters)")
    account_sub.add_parser("list", help="every account: uid, created, name (the first is init's)")
    for p in account_sub.choices.values():
        _add_store_args(p)
    account.set_defaults(func=cmd_account)

    ak = sub.add_parser("access-key", help="manage the first account's root AccessKey pairs (offline)")
    ak_sub = ak.add_subparsers(dest="ak_command", required=True)
    create = ak_sub.add_parser("create")
    create.add_argument("--description")
    ak_sub.add_parser("list")
    for name in ("disable", "enable", "delete"):
        p = ak_sub.add_parser(name)
        p.add_argument("access_key_id")
    for p in (create, *ak_sub.choices.values()):
        if not any(a.dest == "data_dir" for a in p._actions):
            _add_store_args(p)
    ak.set_defaults(func=cmd_access_key)

    denied = sub.add_parser("access-denied", help="read a refusal's EncodedDiagnosticMessage (offline)")
    denied_sub = denied.add_subparsers(dest="denied_command", required=True)
    decode = denied_sub.add_parser("decode", help="print the resource and statement of a refusal")
    decode.add_argument("message", help="the AccessDeniedDetail's EncodedDiagnosticMessage")
    _add_store_args(decode)
    denied.set_defaults(func=cmd_access_denied)

    db = sub.add_parser("db", help="database schema")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    for name in ("upgrade", "check"):
        _add_store_args(db_sub.add_parser(name))
    db.set_defaults(func=cmd_db)

    dev_cert = sub.add_parser(
        "dev-cert",
        help="make a local CA and a server certificate signed by it (test benches, private networks)",
    )
    dev_cert.add_argument(
        "--out", type=Path, required=True, help="directory for the four PEM files (made 0700)"
    )
    dev_cert.add_argument(
        "--name",
        action="append",
        required=True,
        help="a DNS name or IP address the server is reached by (repeat)",
    )
    dev_cert.set_defaults(func=cmd_dev_cert)

    from openkms import cli_ram

    cli_ram.add_parser(sub, _add_store_args, _open)
    from openkms import cli_backup

    cli_backup.add_parser(sub, _add_store_args, _settings)
    return parser


def cmd_dev_cert(args: argparse.Namespace) -> int:
    """Write ca.pem, ca-key.pem, server.pem and server-key.pem (keys 0600); refuse to overwrite."""
    from openkms.crypto import devcert

    out: Path = args.out
    files = ("ca.pem", "ca-key.pem", "server.pem", "server-key.pem")
    existing = [f for f in files if (out / f).exists()]
    if existing:
        print(f"openkms: {out / existing[0]} exists; nothing was written", file=sys.stderr)
        return 1
    made = devcert.make(args.name)
    out.mkdir(mode=0o700, parents=True, exist_ok=True)
    contents = (made.ca_cert, made.ca_key, made.server_cert, made.server_key)
    for name, data, mode in zip(files, contents, (0o644, 0o600, 0o644, 0o600), strict=True):
        fd = os.open(out / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
    print(
        f"openkms: serve with --tls-cert {out / 'server.pem'} --tls-key {out / 'server-key.pem'}; "
        f"clients trust {out / 'ca.pem'} (docs/operations.md, TLS)"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
