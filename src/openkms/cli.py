"""The ``openkms`` command: serve, manage AccessKeys, migrate the database."""

from __future__ import annotations

import argparse
import ipaddress
import os
import sys
from pathlib import Path

from openkms.config import Settings


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
    os.environ["OPENKMS_REQUEST_TIMEOUT"] = repr(s.request_timeout)


def create_app() -> object:
    """uvicorn factory: one application per worker process, settings from the environment."""
    from openkms.server import KMSApp
    from openkms.service.deployment import open_deployment

    settings = Settings()
    settings.log_requests = os.environ.get("OPENKMS_REQUEST_LOG", "1") == "1"
    # A worker process (uvicorn spawns them) starts with logging unconfigured: without this,
    # its request log lines would be dropped below the default WARNING level.
    _configure_logging()
    return KMSApp(open_deployment(settings, migrate_schema=False))


def _configure_logging() -> None:
    from openkms import logs

    logs.configure()


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from openkms.http import OneSendProtocol
    from openkms.service import access_keys
    from openkms.service.deployment import StartupError, open_deployment
    from openkms.store.engine import is_sqlite

    s = _settings(args)
    s.host, s.port, s.workers = args.host, args.port, args.workers
    s.log_requests = not args.no_request_log
    if args.request_timeout is not None:
        s.request_timeout = args.request_timeout
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
    try:
        # The embedded database migrates itself; a shared one only when told (one node, once).
        dep = open_deployment(s, migrate_schema=is_sqlite(s.database_url) or args.migrate)
    except StartupError as exc:
        print(f"openkms: cannot start: {exc}", file=sys.stderr)
        return 1
    created = access_keys.ensure_root(dep)
    if created is not None and os.environ.get("OPENKMS_ROOT_ACCESS_KEY_SECRET"):
        print(f"openkms: created the root AccessKey {created[0]} from the environment", flush=True)
    elif created is not None:
        akid, secret = created
        print(
            "openkms: created the root AccessKey (the secret is shown only this once):\n"
            f"  AccessKeyId:     {akid}\n  AccessKeySecret: {secret.reveal()}",
            flush=True,
        )
    print(
        f"openkms: account {dep.account_id}, region {dep.region}, "
        f"serving on {'https' if tls else 'http'}://{s.host}:{s.port}",
        flush=True,
    )
    dep.close()
    _export_env(s)
    _configure_logging()
    uvicorn.run(
        "openkms.cli:create_app",
        factory=True,
        host=s.host,
        port=s.port,
        workers=s.workers if s.workers > 1 else None,
        loop="auto",
        http=OneSendProtocol,
        access_log=False,
        # Nothing reads the client address, so X-Forwarded-* need no middleware on every
        # request; and the answer does not name the server software.
        proxy_headers=False,
        server_header=False,
        log_level="warning",
        ssl_certfile=str(args.tls_cert) if tls else None,
        ssl_keyfile=str(args.tls_key) if tls else None,
        timeout_keep_alive=30,
        h11_max_incomplete_event_size=256 * 1024,
    )
    return 0


def _open(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from openkms.service.deployment import StartupError, open_deployment

    try:
        return open_deployment(_settings(args))
    except StartupError as exc:
        print(f"openkms: {exc}", file=sys.stderr)
        raise SystemExit(1) from None


def cmd_access_key(args: argparse.Namespace) -> int:
    from openkms.service import access_keys

    dep = _open(args)
    try:
        if args.ak_command == "create":
            akid, secret = access_keys.create(dep, description=args.description or "")
            print(f"AccessKeyId:     {akid}\nAccessKeySecret: {secret.reveal()}")
        elif args.ak_command == "list":
            for info in access_keys.list_all(dep):
                role = "root" if info.is_root else "-"
                print(f"{info.access_key_id}\t{info.status}\t{role}\t{info.description}")
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


def cmd_db(args: argparse.Namespace) -> int:
    from openkms.store import migrate
    from openkms.store.engine import make_nullpool_engine

    s = _settings(args)
    if args.db_command == "upgrade":
        dep = _open(args)
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

    serve = sub.add_parser("serve", help="run the KMS server")
    _add_store_args(serve)
    serve.add_argument("--host", default=os.environ.get("OPENKMS_HOST", "127.0.0.1"))
    serve.add_argument("--port", type=int, default=int(os.environ.get("OPENKMS_PORT", "8080")))
    serve.add_argument("--workers", type=int, default=int(os.environ.get("OPENKMS_WORKERS", "1")))
    serve.add_argument("--tls-cert", type=Path)
    serve.add_argument("--tls-key", type=Path)
    serve.add_argument("--insecure-http", action="store_true", help="allow plain HTTP off loopback")
    serve.add_argument("--migrate", action="store_true", help="upgrade a PostgreSQL schema at start")
    serve.add_argument(
        "--request-timeout",
        type=float,
        help="seconds a request may take before it is answered 503 (default 8)",
    )
    serve.add_argument("--no-request-log", action="store_true", help="no per-request log lines")
    serve.set_defaults(func=cmd_serve)

    ak = sub.add_parser("access-key", help="manage AccessKey pairs (offline)")
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

    db = sub.add_parser("db", help="database schema")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    for name in ("upgrade", "check"):
        _add_store_args(db_sub.add_parser(name))
    db.set_defaults(func=cmd_db)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
