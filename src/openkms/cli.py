"""The ``openkms`` command: create a deployment (init), serve it, manage accounts, AccessKeys
and RAM identities offline, migrate the database; as a client of a running server, call any
action (``call``) and encrypt files under a data key (``envelope``).

Every account is a tenant: its keys, aliases and secrets are its own and no other account's
AccessKeys see them. `openkms init` makes the first account; `openkms account create` makes
another, with a new 16-digit uid and a root AccessKey."""

from __future__ import annotations

import argparse
import ipaddress
import json
import logging
import os
import signal
import socket
import sqlite3
import ssl
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from openkms import config
from openkms.config import Settings

if TYPE_CHECKING:
    from uvicorn.supervisors import Multiprocess

    from openkms.http import Limits
    from openkms.service.deployment import Deployment

# What `serve` says about itself (start, refusals) goes to the log, as JSON lines like the rest.
log = logging.getLogger("openkms")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _add_setting_args(p: argparse.ArgumentParser, scope: str) -> None:
    """The flags of the settings whose table row names ``scope``, help from the table."""
    for s in config.SETTINGS:
        if s.flag != scope:
            continue
        default = "" if s.default is None else f" (default {s.default})"
        text = f"{s.help}{default}; {s.env_var}"
        if s.kind is bool:
            # A boolean flag says the opposite of its default: --insecure-http, --no-request-log.
            p.add_argument(
                s.flag_name,
                dest=s.name,
                action="store_const",
                const=not s.default,
                default=None,
                help=text,
            )
        else:
            p.add_argument(s.flag_name, dest=s.name, type=s.kind, help=text)


def _add_store_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--config",
        type=Path,
        metavar="FILE",
        help="TOML file of settings (docs/settings.md); flags and OPENKMS_* variables beat it; "
        "OPENKMS_CONFIG",
    )
    _add_setting_args(p, "store")


def _settings(args: argparse.Namespace) -> Settings:
    """Flags > environment > the --config file > defaults; exit 2 naming a bad setting (a
    password file that cannot be read among them)."""
    file = args.config or (Path(f) if (f := os.environ.get("OPENKMS_CONFIG")) else None)
    flags = {s.name: getattr(args, s.name, None) for s in config.SETTINGS}
    try:
        settings = config.load(file, flags)
        settings.password()
    except config.ConfigError as exc:
        print(f"openkms: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    _configure_logging(settings)
    return settings


# File descriptors a worker needs beside its connections (database, nonce files, logs, pipes).
_SPARE_FDS = 128
# Seconds a worker whose parent died is given to finish what it serves before it exits anyway.
_ORPHAN_GRACE = 30.0


def _export_env(s: Settings) -> None:
    """Worker processes rebuild their settings from the environment. The database password
    stays where it came from: its file, or the variable the workers inherit (the PKCS#11 PIN
    too)."""
    for setting in config.SETTINGS:
        if setting.name in ("database_password", "pkcs11_pin"):
            continue
        value = getattr(s, setting.name)
        if value is None:
            os.environ.pop(setting.env_var, None)
        elif isinstance(value, bool):
            os.environ[setting.env_var] = "1" if value else "0"
        elif isinstance(value, float):
            os.environ[setting.env_var] = repr(value)
        else:
            os.environ[setting.env_var] = str(value)


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
    _no_core_dumps(settings)
    # uvicorn configured this worker's logging (dict_config); this sets the rest (logs.configure).
    _configure_logging(settings)
    http.configure(_limits(settings))
    return KMSApp(open_deployment(settings, migrate_schema=False))


def _exit_with_parent(parent: int) -> None:
    """Make this worker process end when ``parent`` (the `serve` process) dies, even by kill -9:
    SIGTERM from the kernel (Linux's PR_SET_PDEATHSIG), and a thread that watches getppid() as
    well (other systems, and a parent that died before the request took effect). SIGTERM is a
    graceful stop: the listening socket closes, requests being served finish; a worker still
    alive :data:`_ORPHAN_GRACE` seconds later exits at once."""
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
        log.warning(
            "the open-file limit is %d: serving at most %d connections per worker (not %d); "
            "raise `ulimit -n` for more",
            soft,
            fit,
            s.max_connections,
        )
        s.max_connections = fit


def _no_core_dumps(s: Settings) -> None:
    """A core dump of a server process would hold unwrapped keys: none is written (RLIMIT_CORE
    0, and on Linux not dumpable, which also keeps other processes of the same user from
    ptrace-attaching), unless allow_core_dumps. The limit is inherited by the workers; the
    dumpable flag is not (execve resets it), so each worker calls this too."""
    if s.allow_core_dumps:
        return
    import resource

    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_dumpable = 4
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(pr_set_dumpable, 0, 0, 0, 0)


def _configure_logging(s: Settings) -> None:
    """JSON log lines on stderr at the log_level setting (logs.py); exit 2 if it names no level."""
    from openkms import logs

    try:
        level = logs.level_of(s.log_level)
    except ValueError as exc:
        print(f"openkms: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    logs.configure(level)


def _listen(host: str, port: int) -> socket.socket:
    """A listening socket, bound before anything says it serves; SystemExit(1) with the
    reason when the address cannot be had (a port in use, an address not of this host)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        sock = socket.create_server((host, port), family=family, backlog=2048)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        log.error("cannot listen on %s:%d: %s", host, port, reason)
        raise SystemExit(1) from None
    sock.set_inheritable(True)  # the worker processes serve on it
    return sock


def _workers() -> type[Multiprocess]:
    """uvicorn's supervisor of worker processes, SIGHUP forwarded to each worker (each reloads
    its TLS pair, tls.py) rather than uvicorn's own answer (replace every worker)."""
    import contextlib

    from uvicorn.supervisors import Multiprocess

    class Workers(Multiprocess):
        def handle_hup(self) -> None:
            for process in self.processes:
                if process.pid is not None:
                    with contextlib.suppress(ProcessLookupError):  # ended: its replacement reads the files
                        os.kill(process.pid, signal.SIGHUP)

    return Workers


class _StopRequested(Exception):
    """SIGTERM reached `serve` outside uvicorn's own handling of it."""


def _stop_requested(signum: int, frame: object) -> None:
    raise _StopRequested


def _mark_stopped(database_file: Path) -> None:
    from openkms.store import snapshot

    try:
        snapshot.mark_stopped(database_file)
    except sqlite3.Error as exc:
        # The row stays: the next start finds the -wal beside the file and starts as after a crash.
        log.warning("could not record the clean stop in %s: %s", database_file, exc)


def _after_a_crash(args: argparse.Namespace) -> Path | None:
    """The embedded database a command other than serve is about to open, when a server left
    it marked as served with its -wal beside it (a crash; store/snapshot.py)."""
    if args.func is cmd_serve or not hasattr(args, "data_dir") or not hasattr(args, "config"):
        return None
    from openkms.store import snapshot
    from openkms.store.engine import is_sqlite

    s = _settings(args)
    database_file = s.data_dir / "openkms.db"
    if not is_sqlite(s.database_url) or not database_file.with_name("openkms.db-wal").exists():
        return None
    try:
        return database_file if snapshot.served(database_file) else None
    except sqlite3.Error:
        return None


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from openkms import tls as tls_context
    from openkms.http import GuardedProtocol
    from openkms.service.deployment import StartupError, open_deployment
    from openkms.store import snapshot
    from openkms.store.engine import is_sqlite

    s = _settings(args)
    from openkms.server import trusted_networks

    try:
        trusted_networks(s.trusted_proxies)
    except ValueError as exc:
        log.error("trusted_proxies: %s", exc)
        return 2
    tls = s.tls_cert is not None or s.tls_key is not None
    if tls and (s.tls_cert is None or s.tls_key is None):
        log.error("--tls-cert and --tls-key go together")
        return 2
    if tls:
        assert s.tls_cert is not None and s.tls_key is not None
        try:
            tls_context.load(s.tls_cert, s.tls_key)
        except (ssl.SSLError, OSError, ValueError) as exc:
            log.error("cannot load --tls-cert/--tls-key: %s", exc)
            return 2
    try:
        metrics_at = s.metrics_address()
    except config.ConfigError as exc:
        log.error("%s", exc)
        return 2
    if metrics_at is not None and metrics_at[1] == s.port:
        log.error("metrics_listen: its port must differ from the main port")
        return 2
    if not tls and metrics_at is not None and not _is_loopback(metrics_at[0]) and not s.insecure_http:
        log.error(
            "refusing to serve plain HTTP on non-loopback address %s (metrics_listen); "
            "give --tls-cert/--tls-key, or --insecure-http",
            metrics_at[0],
        )
        return 2
    try:
        gateway_at = s.gateway_address()
    except config.ConfigError as exc:
        log.error("%s", exc)
        return 2
    if gateway_at is not None:
        from openkms.gateway import listener as gateway_listener

        pair = s.gateway_pair()
        if pair is None:
            log.error(
                "gateway_listen: the gateway serves TLS only: give gateway_tls_cert and "
                "gateway_tls_key (or tls_cert and tls_key)"
            )
            return 2
        if gateway_at[1] in (s.port, metrics_at[1] if metrics_at is not None else -1):
            log.error("gateway_listen: its port must differ from the main and metrics ports")
            return 2
        try:
            gateway_listener.check_pair(pair)
            gateway_listener.bind(*gateway_at, listen=False).close()
        except (ssl.SSLError, OSError, ValueError) as exc:
            log.error("cannot serve the instance gateway on %s:%s: %s", *gateway_at, exc)
            return 2
    if not tls and not _is_loopback(s.host) and not s.insecure_http:
        log.error(
            "refusing to serve plain HTTP on non-loopback address %s; "
            "give --tls-cert/--tls-key, or --insecure-http if a proxy terminates TLS",
            s.host,
        )
        return 2
    database_file = s.data_dir / "openkms.db" if is_sqlite(s.database_url) else None
    if database_file is not None and database_file.exists() and snapshot.copied_while_serving(database_file):
        log.error(
            "cannot start: %s was copied while a server had it open, without its -wal file (or "
            "its -wal file is lost): it lacks the commits since its last checkpoint, keys among "
            "them. Restore a snapshot made by `openkms backup` instead (docs/operations.md, "
            "Backup and restore)",
            database_file,
        )
        return 1
    _no_core_dumps(s)
    try:
        if not is_sqlite(s.database_url):
            # A node over PostgreSQL keeps its own state (its write generation, which lets its
            # processes keep hot reads) in its data directory.
            s.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        # The embedded database migrates itself; a shared one only when told (one node, once).
        dep = open_deployment(
            s, migrate_schema=is_sqlite(s.database_url) or args.migrate, check_integrity=True
        )
    except config.ConfigError as exc:
        log.error("%s", exc)
        return 2
    except StartupError as exc:
        log.error("cannot start: %s", exc)
        return 1
    dep.close()
    from openkms import admin

    if dep.seal is not None and dep.seal.can_unseal and not admin.path_fits(s.data_dir):
        log.error(
            "cannot start: the data directory's path %s is too long for the admin socket (a Unix "
            "socket address holds 107 bytes) that unsealing needs; use a shorter one",
            s.data_dir,
        )
        return 1
    if database_file is not None:
        # From here until a clean stop the file says it is served (store/snapshot.py).
        try:
            snapshot.mark_serving(database_file, time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
        except sqlite3.Error as exc:
            # Serving goes on: only the detection of a copy taken meanwhile is lost.
            log.warning("could not mark %s as served: %s", database_file, exc)
    sock = _listen(s.host, s.port)
    # The metrics listener: the same worker processes serve it, answering /metrics only (server.py).
    sockets = [sock] if metrics_at is None else [sock, _listen(*metrics_at)]
    url = f"{'https' if tls else 'http'}://{s.host}:{sock.getsockname()[1]}"
    metrics_url = "" if metrics_at is None else f"{metrics_at[0]}:{metrics_at[1]}"
    log.info(
        "account %s, region %s, serving on %s%s%s",
        dep.account_id,
        dep.region,
        url,
        f", /metrics on {metrics_url}" if metrics_url else "",
        ", sealed: unseal with `openkms operator unseal`" if dep.sealed else "",
        extra={"account": dep.account_id, "region": dep.region, "url": url, "metrics": metrics_url},
    )
    if gateway_at is not None:
        log.info(
            "instance gateway on https://%s:%s for the host names <instance id>.%s",
            gateway_at[0], gateway_at[1], s.gateway_suffix,
        )  # fmt: skip
    _raise_fd_limit(s)
    _export_env(s)
    if s.workers > 1:
        os.environ["OPENKMS_MASTER_PID"] = str(os.getpid())  # the workers end with this process
    from openkms import logs

    server_config = uvicorn.Config(
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
        # The same JSON lines in this process and in every worker process uvicorn starts.
        log_config=logs.dict_config(logs.level_of(s.log_level)),
        log_level=None,
        ssl_certfile=str(s.tls_cert) if tls else None,
        ssl_keyfile=str(s.tls_key) if tls else None,
        # TLS 1.2 at least; the pair is read again on SIGHUP (tls.py).
        ssl_context_factory=tls_context.context_factory if tls else None,
        timeout_keep_alive=s.keep_alive_timeout,  # type: ignore[arg-type]
    )
    server = uvicorn.Server(server_config)
    # uvicorn ends a graceful stop by raising the signal that asked for it again, under the
    # handler found before it ran: this one, so that the clean stop below is recorded.
    previous = signal.signal(signal.SIGTERM, _stop_requested)
    try:
        if s.workers > 1:
            _workers()(server_config, sockets=sockets).run()
        else:
            server.run(sockets=sockets)
    except (KeyboardInterrupt, _StopRequested):
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
    if database_file is not None:
        _mark_stopped(database_file)
    if s.workers == 1 and not server.started:
        return 1
    return 0


def cmd_config(args: argparse.Namespace) -> int:
    """`openkms config check FILE`: exit 1 naming the line and setting the file gets wrong,
    else print the effective settings (file, environment, defaults), secrets masked."""
    try:
        values, sources = config.resolve(args.file)
        settings = Settings(**values)
        lines = list(config.describe(settings, sources))
    except config.ConfigError as exc:
        print(f"openkms: {exc}", file=sys.stderr)
        return 1
    print(f"# {args.file}: valid; the effective settings (flags aside):")
    print("\n".join(lines))
    return 0


def _open(args: argparse.Namespace) -> Deployment:
    """The deployment the store flags name; exit 1 with the reason if there is none (nothing is
    created: a new deployment is `openkms init`'s)."""
    from openkms.service.deployment import StartupError, open_deployment

    try:
        dep = open_deployment(_settings(args))
    except StartupError as exc:
        print(f"openkms: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
    if dep.sealed:
        _unseal_here(dep)
    return dep


def _unseal_here(dep: Deployment) -> None:
    """Unseal this process's own copy of a sealed deployment, for an offline command: the
    passphrase or the shares are asked for (no echo; a pipe works too). Exit 1 when they do
    not unseal it."""
    import getpass

    from openkms.service.seal import UnsealRefused

    seal = dep.seal
    assert seal is not None
    if seal.automatic:
        print(f"openkms: the deployment is sealed: its {seal.provider} root did not unseal", file=sys.stderr)
        dep.close()
        raise SystemExit(1)
    what = "passphrase" if seal.provider == "passphrase" else "share (okshare1-...)"
    print(
        f"openkms: the deployment is sealed ({seal.provider}); this command needs it unsealed",
        file=sys.stderr,
    )
    while dep.sealed:
        status = seal.status()
        count = f" {status.progress + 1} of {status.threshold}" if status.threshold > 1 else ""
        try:
            status = seal.submit(getpass.getpass(f"{what}{count}: "))
        except UnsealRefused as exc:
            print(f"openkms: {exc}", file=sys.stderr)
            dep.close()
            raise SystemExit(1) from None
        except EOFError:
            dep.close()
            raise SystemExit(1) from None


def cmd_init(args: argparse.Namespace) -> int:
    """Create the deployment: root of trust, schema, first account and its root AccessKey (from
    OPENKMS_ROOT_ACCESS_KEY_ID/_SECRET when set, else generated and printed once)."""
    from openkms.service.deployment import StartupError, init_deployment
    from openkms.service.roots import InitRequest

    pair = _root_pair_from_env()
    settings = _settings(args)
    provider = settings.root_provider or "file"
    passphrase = None
    if provider == "passphrase":
        passphrase = _init_passphrase(args.passphrase_file)
    if args.share_dir is not None and provider != "shamir":
        print("openkms: --share-dir goes with --root-provider shamir", file=sys.stderr)
        return 2
    request = InitRequest(passphrase=passphrase, shares=args.shares, threshold=args.threshold)
    try:
        dep, root = init_deployment(settings, root_access_key=pair, root=request)
    except StartupError as exc:
        print(f"openkms: cannot init: {exc}", file=sys.stderr)
        return 1
    dep.close()
    print(
        f"openkms: created the deployment: account {dep.account_id}, region {dep.region}, "
        f"root of trust {provider}"
    )
    _print_root_pair(root.access_key_id, root.secret.reveal(), pair is not None)
    if root.shares:
        _give_shares(root.shares, args.share_dir, args.threshold)
    return 0


def _init_passphrase(path: Path | None) -> bytes:
    """The passphrase of a new passphrase deployment: from the file, else typed twice."""
    import getpass

    if path is not None:
        try:
            return path.read_text(encoding="utf-8").rstrip("\r\n").encode()
        except OSError as exc:
            print(f"openkms: cannot read {path}: {exc.strerror}", file=sys.stderr)
            raise SystemExit(2) from None
    first = getpass.getpass("new root passphrase: ")
    if getpass.getpass("again: ") != first:
        print("openkms: the passphrases differ", file=sys.stderr)
        raise SystemExit(2)
    return first.encode()


def _give_shares(shares: tuple[str, ...], share_dir: Path | None, threshold: int) -> None:
    """Print the unseal shares once, or write each to its own 0600 file in ``share_dir``."""
    if share_dir is None:
        print(f"unseal shares (any {threshold} unseal; shown this once, give each to its keeper):")
        for share in shares:
            print(share)
        return
    share_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    for i, share in enumerate(shares, 1):
        path = share_dir / f"share-{i}.txt"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(share + "\n")
    print(f"openkms: wrote {len(shares)} unseal shares (any {threshold} unseal) to {share_dir}/share-N.txt")


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


def cmd_console(args: argparse.Namespace) -> int:
    from openkms.service.console_sessions import ConsoleSessions

    dep = _open(args)
    try:
        ended = ConsoleSessions(dep).revoke(args.access_key_id)
    finally:
        dep.close()
    print(f"openkms: ended {ended} console session{'' if ended == 1 else 's'}")
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
    init.add_argument(
        "--passphrase-file", type=Path, help="passphrase provider: read it from this file (else prompted)"
    )
    init.add_argument("--shares", type=int, default=5, help="shamir provider: how many shares (default 5)")
    init.add_argument("--threshold", type=int, default=3, help="shamir provider: how many unseal (default 3)")
    init.add_argument(
        "--share-dir", type=Path, help="shamir provider: write each share to its own 0600 file here"
    )
    init.set_defaults(func=cmd_init)

    serve = sub.add_parser("serve", help="run the KMS server")
    _add_store_args(serve)
    _add_setting_args(serve, "serve")
    serve.add_argument("--migrate", action="store_true", help="upgrade a PostgreSQL schema at start")
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
    create = ak_sub.add_parser("create", help="a new pair; the secret is printed this once")
    create.add_argument("--description", help="a note kept with the pair")
    ak_sub.add_parser("list", help="every pair: AccessKeyId, status, owner, description")
    for name, text in (
        ("disable", "refuse the pair's requests from now on"),
        ("enable", "accept a disabled pair's requests again"),
        ("delete", "delete the pair"),
    ):
        p = ak_sub.add_parser(name, help=text)
        p.add_argument("access_key_id", help="the AccessKeyId")
    for p in (create, *ak_sub.choices.values()):
        if not any(a.dest == "data_dir" for a in p._actions):
            _add_store_args(p)
    ak.set_defaults(func=cmd_access_key)

    console = sub.add_parser("console", help="the web console's sessions (offline)")
    console_sub = console.add_subparsers(dest="console_command", required=True)
    revoke = console_sub.add_parser("revoke", help="end every console session, or those of one AccessKeyId")
    revoke.add_argument("--access-key-id", help="only the sessions signed in with this AccessKeyId")
    _add_store_args(revoke)
    console.set_defaults(func=cmd_console)

    denied = sub.add_parser("access-denied", help="read a refusal's EncodedDiagnosticMessage (offline)")
    denied_sub = denied.add_subparsers(dest="denied_command", required=True)
    decode = denied_sub.add_parser("decode", help="print the resource and statement of a refusal")
    decode.add_argument("message", help="the AccessDeniedDetail's EncodedDiagnosticMessage")
    _add_store_args(decode)
    denied.set_defaults(func=cmd_access_denied)

    cfg = sub.add_parser("config", help="the settings file (docs/settings.md)")
    cfg_sub = cfg.add_subparsers(dest="config_command", required=True)
    check = cfg_sub.add_parser(
        "check",
        help="validate a TOML settings file (exit 1 naming the line and setting) and print the "
        "effective settings, secrets masked",
    )
    check.add_argument("file", type=Path, help="the TOML file")
    cfg.set_defaults(func=cmd_config)

    db = sub.add_parser("db", help="database schema")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    for name, text in (
        ("upgrade", "migrate the schema to the one this version expects"),
        ("check", "exit 0 when the schema is the one this version expects, 1 otherwise"),
    ):
        _add_store_args(db_sub.add_parser(name, help=text))
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
    from openkms import cli_backup, cli_operator

    cli_backup.add_parser(sub, _add_store_args, _settings)
    from openkms import cli_audit

    cli_audit.add_parser(sub, _add_store_args, _open)
    cli_operator.add_parser(sub, _add_store_args, _settings)
    from openkms import cli_call, cli_envelope, cli_kms

    cli_call.add_parser(sub)
    cli_kms.add_parser(sub)
    cli_envelope.add_parser(sub)
    from openkms import cli_secrets

    cli_secrets.add_parser(sub, _add_store_args, _open)
    from openkms import cli_instances

    cli_instances.add_parser(sub, _add_store_args, _open)
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
    crashed = _after_a_crash(args)
    code = int(args.func(args))
    if crashed is not None and not crashed.with_name("openkms.db-wal").exists():
        # This command was the database's last user and closed it cleanly: the write-ahead log
        # the crash left is checkpointed into the file, which holds every commit again.
        _mark_stopped(crashed)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
