"""One settings object: command-line flags > ``OPENKMS_*`` environment > a TOML file > defaults.

:data:`SETTINGS` is the one table of settings: each row names a setting, its type, default,
environment variable, flag and help. The file's keys, the environment variables, the flags'
help and docs/settings.md (``python -m openkms.config``) all come from it.

Secrets (AccessKey secrets, database passwords) are held in :class:`Hidden`, whose repr never
shows the value. The database password may come from ``OPENKMS_DATABASE_PASSWORD`` or from
``database_password_file`` so that it never has to appear on a command line.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit


class Hidden:
    """A string that does not print itself."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Hidden('**********')"

    __str__ = __repr__


class ConfigError(ValueError):
    """A setting that cannot be read: its source (file and line, or variable) and what is wrong."""


@dataclass(frozen=True)
class Setting:
    """One row of :data:`SETTINGS`. ``kind`` is ``int``, ``float``, ``str``, ``bool`` or ``Path``;
    ``flag`` is ``"store"`` (every command that opens the store), ``"serve"`` or ``""`` (file and
    environment only); ``file`` is False for a value that may not be written in the file."""

    name: str
    kind: type
    default: Any
    help: str
    flag: str = ""
    env: str = ""
    option: str = ""
    file: bool = True
    secret: bool = False

    @property
    def env_var(self) -> str:
        return self.env or f"OPENKMS_{self.name.upper()}"

    @property
    def flag_name(self) -> str:
        return self.option or "--" + self.name.replace("_", "-")


_TYPE_NAMES = {int: "an integer", float: "a number", str: "a string", bool: "true or false", Path: "a path"}

# The table reads best one row to a setting: the formatter leaves it alone.
# fmt: off
SETTINGS: tuple[Setting, ...] = (
    # The store: every command that opens the deployment.
    Setting("data_dir", Path, Path("./data"), "data directory: the embedded database, the root key "
            "file, a PostgreSQL node's own state", "store"),
    Setting("database", str, None, "database URL (default: SQLite in the data directory); a "
            "PostgreSQL password belongs in database_password_file or OPENKMS_DATABASE_PASSWORD, "
            "not here", "store", secret=True),
    Setting("database_password_file", Path, None, "file holding the database password (one line), "
            "put into the database URL; beats OPENKMS_DATABASE_PASSWORD", "store"),
    Setting("database_password", str, None, "the database password, put into the database URL "
            "(environment only: never a flag, never the file)", file=False, secret=True),
    Setting("root_key_file", Path, None, "root key file (default DATA_DIR/root.key)", "store"),
    Setting("root_provider", str, None, "root of trust: file, passphrase, shamir, pkcs11 (a "
            "token) or kms (an upstream KMS; docs/root-of-trust.md), chosen at init (default "
            "file) and recorded; a node given another refuses (default: the recorded one)", "store"),
    Setting("pkcs11_module", Path, None, "the PKCS#11 module (shared library) of the token, "
            "for root_provider pkcs11", "store"),
    Setting("pkcs11_token_label", str, None, "the label of the token holding the root key, for "
            "root_provider pkcs11", "store"),
    Setting("pkcs11_pin_file", Path, None, "file holding the token's user PIN (one line); beats "
            "OPENKMS_PKCS11_PIN", "store"),
    Setting("pkcs11_pin", str, None, "the token's user PIN (environment only: never a flag, never "
            "the file)", file=False, secret=True),
    Setting("kms_endpoint", str, None, "the upstream KMS of root_provider kms (Alibaba Cloud KMS or "
            "another openkms): host[:port] (https), or an http:// or https:// URL", "store"),
    Setting("kms_region", str, None, "the upstream KMS's region id (default: region)", "store"),
    Setting("kms_key_id", str, None, "the upstream key (id, ARN or alias) that encrypts the root "
            "key, at init", "store"),
    Setting("kms_access_key_id", str, None, "the AccessKeyId openkms signs its calls to the upstream "
            "KMS with (file or environment)"),
    Setting("kms_access_key_secret_file", Path, None, "file holding the upstream AccessKey secret "
            "(one line); beats OPENKMS_KMS_ACCESS_KEY_SECRET", "store"),
    Setting("kms_access_key_secret", str, None, "the upstream AccessKey secret (environment only: "
            "never a flag, never the file)", file=False, secret=True),
    Setting("kms_security_token", str, None, "an STS SecurityToken to send with the upstream "
            "AccessKey (environment only)", file=False, secret=True),
    Setting("kms_ca_file", Path, None, "CA certificates (PEM) that verify the upstream's https "
            "certificate (default: the public CAs)", "store"),
    Setting("kms_unseal_retry_max", float, 60.0, "seconds at most between a sealed kms node's "
            "tries to unseal through the upstream (the wait doubles from 1 s)", "serve"),
    Setting("region", str, "cn-hangzhou", "region id answered in ARNs", "store"),
    Setting("log_level", str, "info", "least level of the JSON log lines on stderr: debug, info, "
            "warning or error (uvicorn's and Alembic's own lines: warning and above unless debug)",
            "store"),
    Setting("db_timeout", float, 5.0, "seconds one wait on PostgreSQL may take: connect, pool "
            "checkout, statement or lock wait", "store"),
    # The listener.
    Setting("host", str, "127.0.0.1", "address to listen on", "serve"),
    Setting("port", int, 8080, "port to listen on", "serve"),
    Setting("workers", int, 1, "worker processes sharing the port", "serve"),
    Setting("tls_cert", Path, None, "certificate chain (PEM) to serve HTTPS with", "serve"),
    Setting("tls_key", Path, None, "private key (PEM) of tls_cert", "serve"),
    Setting("insecure_http", bool, False, "allow plain HTTP off loopback (a proxy terminates TLS)",
            "serve"),
    Setting("allow_core_dumps", bool, False, "let the server's processes write core dumps (off: "
            "a core dump would hold unwrapped keys)", "serve"),
    Setting("log_requests", bool, True, "one log line per request", "serve",
            env="OPENKMS_REQUEST_LOG", option="--no-request-log"),
    Setting("trusted_proxies", str, "", "addresses or CIDR blocks, comma-separated, of proxies whose "
            "X-Forwarded-For names the client that policies see (acs:SourceIp); from any other "
            "peer the header is ignored", "serve"),
    Setting("metrics_token", str, "", "GET /metrics answers only requests bearing this token "
            "(Authorization: Bearer <token>); empty: anyone who reaches the port. Prefer the "
            "environment variable, which ps does not show", "serve", secret=True),
    Setting("metrics_listen", str, "", "HOST:PORT (or :PORT, on host) to serve GET /metrics on "
            "instead of the main port, with the main port's TLS; empty: on the main port",
            "serve"),
    # The instance gateway (docs/instances.md, "The instance gateway").
    Setting("gateway_listen", str, "", "HOST:PORT (or :PORT, on host) of the instance gateway, the "
            "TLS endpoint the instance SDKs call with a client key; empty: no gateway", "serve"),
    Setting("gateway_suffix", str, "cryptoservice.kms.aliyuncs.com", "the gateway's host names "
            "are <instance id>.<suffix>: the name a client uses chooses the instance", "serve"),
    Setting("gateway_tls_cert", Path, None, "certificate chain (PEM) of the gateway, valid for "
            "*.<gateway_suffix> (default: tls_cert)", "serve"),
    Setting("gateway_tls_key", Path, None, "private key (PEM) of gateway_tls_cert (default: "
            "tls_key)", "serve"),
    # Admission and the front door (docs/deployment.md, "The front door"), per worker process.
    Setting("request_timeout", float, 8.0, "seconds after a request's arrival at which a PostgreSQL "
            "wait of it is cut off, answered 503 and rolled back (below the SDKs' 10 s read "
            "timeout)", "serve"),
    Setting("queue_timeout", float, 2.0, "seconds a whole request may wait to start; past it the "
            "answer is 429 and nothing is done", "serve"),
    Setting("max_inflight", int, 256, "whole requests served at once per worker process; beyond "
            "it the answer is 429", "serve"),
    Setting("head_timeout", float, 10.0, "seconds to receive a request head, from the connection's "
            "opening or the request's first byte; then the connection is closed", "serve"),
    Setting("body_timeout", float, 30.0, "seconds to receive a request body after its head; then "
            "the connection is closed", "serve"),
    Setting("body_min_rate", int, 1024, "bytes per second a body must average after its first 2 "
            "seconds, else the connection is closed; 0 for no minimum", "serve"),
    Setting("keep_alive_timeout", float, 30.0, "seconds an idle kept-alive connection stays open",
            "serve"),
    Setting("max_header_bytes", int, 16 * 1024, "bytes of header fields (names and values) in one "
            "request; beyond it 431", "serve"),
    Setting("max_headers", int, 100, "header fields in one request; beyond it 431", "serve"),
    Setting("max_connections", int, 4096, "open connections per worker process; one more is "
            "answered 503 and closed", "serve"),
    Setting("max_pending_bytes", int, 64 << 20, "bytes of requests not yet whole held per worker "
            "process; a request passing it is answered 503 and its connection closed", "serve"),
    # The web console (docs/console.md).
    Setting("console", bool, True, "serve the web console at /console", "serve",
            option="--no-console"),
    Setting("console_session_ttl", float, 900.0, "seconds a console sign-in lasts", "serve"),
    # The audit trail (docs/audit.md).
    Setting("audit", bool, True, "record an audit event for every call and background action",
            "serve", option="--no-audit"),
    Setting("audit_mode", str, "reject", "reject: a call whose event cannot be written in the "
            "database is answered 503 and its result discarded; continue: it is answered and the "
            "failure logged", "serve"),
    Setting("audit_sync", bool, False, "embedded store: sync the database at every audit group "
            "commit, so events survive a power loss (an fsync per group); otherwise a commit "
            "survives the process's crash and reaches the disk within a second", "serve"),
    Setting("audit_file", Path, None, "also append every event to this JSON-lines file (rotated "
            "by size)", "serve"),
    Setting("audit_file_mode", str, "continue", "reject or continue, as audit_mode, for the file",
            "serve"),
    Setting("audit_file_max_bytes", int, 100 << 20, "size at which the audit file is rotated"),
    Setting("audit_file_keep", int, 10, "rotated audit files kept (FILE.1 newest)"),
    # The job runner: every process ticks every job_period seconds; the lease holder renews on
    # each tick, and another takes over job_lease seconds after its last renewal.
    Setting("job_period", float, 5.0, "seconds between job runner ticks in every process"),
    Setting("job_lease", float, 30.0, "seconds after the job lease holder's last renewal at which "
            "another process takes the jobs over"),
    # The per-process caches (service/caches.py says what each holds and when it goes stale).
    Setting("material_cache", int, 100_000, "entries of the key material cache"),
    Setting("read_cache", int, 10_000, "entries of the read cache"),
    Setting("read_max_age", float, 1.0, "seconds an entry of the read cache is served"),
    Setting("parsed_key_cache", int, 10_000, "entries of the parsed asymmetric key cache"),
    Setting("credential_cache", int, 10_000, "entries of the credential cache"),
    Setting("credential_seconds", float, 1.0, "seconds an entry of the credential cache is served"),
)
# fmt: on
BY_NAME: dict[str, Setting] = {s.name: s for s in SETTINGS}


def _parse_text(setting: Setting, text: str, where: str) -> Any:
    """A value from the environment (or a flag's text)."""
    try:
        if setting.kind is bool:
            low = text.strip().lower()
            if low in ("1", "true", "yes", "on"):
                return True
            if low in ("0", "false", "no", "off"):
                return False
            raise ValueError(text)
        return setting.kind(text)
    except ValueError:
        raise ConfigError(
            f"{where}: setting {setting.name} wants {_TYPE_NAMES[setting.kind]}, got {text!r}"
        ) from None


def _from_env(setting: Setting, environ: Mapping[str, str]) -> Any:
    """The setting's value from its variable, or the default when it is unset or empty."""
    text = environ.get(setting.env_var)
    if not text:
        return setting.default
    return _parse_text(setting, text, setting.env_var)


def _env_default(name: str) -> Callable[[], Any]:
    return lambda: _from_env(BY_NAME[name], os.environ)


@dataclass
class Settings:
    """Every setting; ``Settings()`` reads the environment over the defaults (worker processes
    rebuild theirs this way), :func:`load` adds a file and flags."""

    data_dir: Path = field(default_factory=_env_default("data_dir"))
    database: str | None = field(default_factory=_env_default("database"))
    database_password_file: Path | None = field(default_factory=_env_default("database_password_file"))
    database_password: str | None = field(default_factory=_env_default("database_password"), repr=False)
    root_key_file: Path | None = field(default_factory=_env_default("root_key_file"))
    root_provider: str | None = field(default_factory=_env_default("root_provider"))
    pkcs11_module: Path | None = field(default_factory=_env_default("pkcs11_module"))
    pkcs11_token_label: str | None = field(default_factory=_env_default("pkcs11_token_label"))
    pkcs11_pin_file: Path | None = field(default_factory=_env_default("pkcs11_pin_file"))
    pkcs11_pin: str | None = field(default_factory=_env_default("pkcs11_pin"), repr=False)
    kms_endpoint: str | None = field(default_factory=_env_default("kms_endpoint"))
    kms_region: str | None = field(default_factory=_env_default("kms_region"))
    kms_key_id: str | None = field(default_factory=_env_default("kms_key_id"))
    kms_access_key_id: str | None = field(default_factory=_env_default("kms_access_key_id"))
    kms_access_key_secret_file: Path | None = field(
        default_factory=_env_default("kms_access_key_secret_file")
    )
    kms_access_key_secret: str | None = field(
        default_factory=_env_default("kms_access_key_secret"), repr=False
    )
    kms_security_token: str | None = field(default_factory=_env_default("kms_security_token"), repr=False)
    kms_ca_file: Path | None = field(default_factory=_env_default("kms_ca_file"))
    kms_unseal_retry_max: float = field(default_factory=_env_default("kms_unseal_retry_max"))
    region: str = field(default_factory=_env_default("region"))
    log_level: str = field(default_factory=_env_default("log_level"))
    host: str = field(default_factory=_env_default("host"))
    port: int = field(default_factory=_env_default("port"))
    workers: int = field(default_factory=_env_default("workers"))
    tls_cert: Path | None = field(default_factory=_env_default("tls_cert"))
    tls_key: Path | None = field(default_factory=_env_default("tls_key"))
    insecure_http: bool = field(default_factory=_env_default("insecure_http"))
    allow_core_dumps: bool = field(default_factory=_env_default("allow_core_dumps"))
    db_timeout: float = field(default_factory=_env_default("db_timeout"))
    request_timeout: float = field(default_factory=_env_default("request_timeout"))
    job_period: float = field(default_factory=_env_default("job_period"))
    job_lease: float = field(default_factory=_env_default("job_lease"))
    # Signed requests must carry a timestamp within this many seconds of the server's clock
    # (Alibaba's window: not a setting).
    time_window: int = 15 * 60
    log_requests: bool = field(default_factory=_env_default("log_requests"))
    max_inflight: int = field(default_factory=_env_default("max_inflight"))
    queue_timeout: float = field(default_factory=_env_default("queue_timeout"))
    trusted_proxies: str = field(default_factory=_env_default("trusted_proxies"))
    metrics_token: str = field(default_factory=_env_default("metrics_token"), repr=False)
    metrics_listen: str = field(default_factory=_env_default("metrics_listen"))
    gateway_listen: str = field(default_factory=_env_default("gateway_listen"))
    gateway_suffix: str = field(default_factory=_env_default("gateway_suffix"))
    gateway_tls_cert: Path | None = field(default_factory=_env_default("gateway_tls_cert"))
    gateway_tls_key: Path | None = field(default_factory=_env_default("gateway_tls_key"))
    head_timeout: float = field(default_factory=_env_default("head_timeout"))
    body_timeout: float = field(default_factory=_env_default("body_timeout"))
    body_min_rate: int = field(default_factory=_env_default("body_min_rate"))
    keep_alive_timeout: float = field(default_factory=_env_default("keep_alive_timeout"))
    max_header_bytes: int = field(default_factory=_env_default("max_header_bytes"))
    max_headers: int = field(default_factory=_env_default("max_headers"))
    max_connections: int = field(default_factory=_env_default("max_connections"))
    max_pending_bytes: int = field(default_factory=_env_default("max_pending_bytes"))
    console: bool = field(default_factory=_env_default("console"))
    console_session_ttl: float = field(default_factory=_env_default("console_session_ttl"))
    audit: bool = field(default_factory=_env_default("audit"))
    audit_mode: str = field(default_factory=_env_default("audit_mode"))
    audit_sync: bool = field(default_factory=_env_default("audit_sync"))
    audit_file: Path | None = field(default_factory=_env_default("audit_file"))
    audit_file_mode: str = field(default_factory=_env_default("audit_file_mode"))
    audit_file_max_bytes: int = field(default_factory=_env_default("audit_file_max_bytes"))
    audit_file_keep: int = field(default_factory=_env_default("audit_file_keep"))
    material_cache: int = field(default_factory=_env_default("material_cache"))
    read_cache: int = field(default_factory=_env_default("read_cache"))
    read_max_age: float = field(default_factory=_env_default("read_max_age"))
    parsed_key_cache: int = field(default_factory=_env_default("parsed_key_cache"))
    credential_cache: int = field(default_factory=_env_default("credential_cache"))
    credential_seconds: float = field(default_factory=_env_default("credential_seconds"))

    @property
    def database_url(self) -> str:
        """The URL to connect with, the password (file, else environment) put into it."""
        url = self.database or f"sqlite:///{self.data_dir / 'openkms.db'}"
        password = self.password()
        return with_password(url, password.reveal()) if password is not None else url

    def password(self) -> Hidden | None:
        return self._secret("database_password_file", "database_password")

    def metrics_address(self) -> tuple[str, int] | None:
        """(host, port) of ``metrics_listen``, None when empty; ConfigError when malformed."""
        return _address("metrics_listen", self.metrics_listen, self.host)

    def gateway_address(self) -> tuple[str, int] | None:
        """(host, port) of ``gateway_listen``, None when empty; ConfigError when malformed."""
        return _address("gateway_listen", self.gateway_listen, self.host)

    def gateway_pair(self) -> tuple[Path, Path] | None:
        """The gateway's certificate and key: its own, else the main port's; None if neither."""
        cert = self.gateway_tls_cert or self.tls_cert
        key = self.gateway_tls_key or self.tls_key
        return (cert, key) if cert is not None and key is not None else None

    def token_pin(self) -> Hidden | None:
        """The PKCS#11 user PIN: ``pkcs11_pin_file``, else ``OPENKMS_PKCS11_PIN``."""
        return self._secret("pkcs11_pin_file", "pkcs11_pin")

    def kms_secret(self) -> Hidden | None:
        """The upstream KMS's AccessKey secret: ``kms_access_key_secret_file``, else
        ``OPENKMS_KMS_ACCESS_KEY_SECRET``."""
        return self._secret("kms_access_key_secret_file", "kms_access_key_secret")

    def _secret(self, file_setting: str, value_setting: str) -> Hidden | None:
        """A secret from the file a setting names (one line), else from its own setting (the
        environment); ConfigError naming the setting when the file cannot be read."""
        path: Path | None = getattr(self, file_setting)
        if path is not None:
            try:
                text = path.read_text(encoding="utf-8")
            except OSError as exc:
                raise ConfigError(f"{file_setting}: cannot read {path}: {exc.strerror}") from None
            return Hidden(text.rstrip("\r\n"))
        value: str | None = getattr(self, value_setting)
        return Hidden(value) if value else None

    @property
    def root_key_path(self) -> Path:
        return self.root_key_file or self.data_dir / "root.key"


def with_password(url: str, password: str) -> str:
    """``url`` with its password replaced by ``password`` (percent-encoded)."""
    parts = urlsplit(url)
    if not parts.netloc:
        raise ConfigError("a database password is given but the database URL has no host part")
    host = parts.netloc.rpartition("@")[2]
    user = parts.username or ""
    netloc = f"{quote(user, safe='')}:{quote(password, safe='')}@{host}"
    return urlunsplit(parts._replace(netloc=netloc))


def masked_url(url: str) -> str:
    """``url`` with any password shown as ``***``."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    userinfo, _, host = parts.netloc.rpartition("@")
    user = userinfo.partition(":")[0]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


def _line_of(text: str, key: str) -> int | None:
    # A key (bare or quoted) before "=", or a table header: [key] or [[key]].
    pattern = re.compile(rf"^[ \t]*(\[+[ \t]*)?[\"']?{re.escape(key)}[\"']?[ \t]*[=\].]", re.MULTILINE)
    match = pattern.search(text)
    return text.count("\n", 0, match.start()) + 1 if match else None


def _check_type(setting: Setting, value: Any) -> Any:
    """The file's value as the setting's type, or None when it is not one."""
    if setting.kind is bool:
        return value if isinstance(value, bool) else None
    if isinstance(value, bool):
        return None
    if setting.kind is int:
        return value if isinstance(value, int) else None
    if setting.kind is float:
        return float(value) if isinstance(value, int | float) else None
    if isinstance(value, str):
        return setting.kind(value)
    return None


def read_file(path: Path) -> dict[str, Any]:
    """The settings a TOML file gives: top-level ``name = value`` pairs named as in
    :data:`SETTINGS`. An unknown key or a value of the wrong type is a :class:`ConfigError`
    naming the file, the line and the setting."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not TOML: {exc}") from None
    values: dict[str, Any] = {}
    for key, value in raw.items():
        line = _line_of(text, key)
        where = f"{path}:{line}" if line else str(path)
        setting = BY_NAME.get(key)
        if setting is None:
            raise ConfigError(f"{where}: unknown setting {key!r} (docs/settings.md lists them)")
        if not setting.file:
            raise ConfigError(
                f"{where}: {key} may not be written in the file; use {setting.env_var} "
                "or database_password_file"
            )
        checked = _check_type(setting, value)
        if checked is None:
            raise ConfigError(
                f"{where}: setting {key} wants {_TYPE_NAMES[setting.kind]}, "
                f"got {type(value).__name__} {value!r}"
            )
        values[key] = checked
    return values


def load(
    file: Path | None = None,
    flags: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Settings from the defaults, then the file, then the environment, then the flags (a flag
    left None is not given)."""
    chosen, _ = resolve(file, flags, environ)
    return Settings(**chosen)


def resolve(
    file: Path | None = None,
    flags: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> tuple[dict[str, Any], dict[str, str]]:
    """Each setting's value and where it came from (default, file, environment or flag)."""
    env = os.environ if environ is None else environ
    from_file = read_file(file) if file is not None else {}
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for s in SETTINGS:
        value, source = s.default, "default"
        if s.name in from_file:
            value, source = from_file[s.name], "file"
        if env.get(s.env_var):
            value, source = _from_env(s, env), s.env_var
        given = (flags or {}).get(s.name)
        if given is not None:
            value, source = given, "flag"
        values[s.name], sources[s.name] = value, source
    return values, sources


def describe(settings: Settings, sources: Mapping[str, str] | None = None) -> Iterable[str]:
    """The effective settings as TOML lines, secrets masked, each with its source."""
    for s in SETTINGS:
        value = getattr(settings, s.name)
        if s.name == "database" and value is not None:
            shown = _toml(masked_url(settings.database_url))
        elif s.secret and value is not None:
            shown = '"***"'
        elif value is None:
            yield f"# {s.name} = (not set)" + (f"  # {sources[s.name]}" if sources else "")
            continue
        else:
            shown = _toml(value)
        yield f"{s.name} = {shown}" + (f"  # {sources[s.name]}" if sources else "")


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    text = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'


def render_markdown() -> str:
    """docs/settings.md: every setting, its file key, variable, flag, type and default."""
    out = [
        "# Settings",
        "",
        "<!-- Generated by `make docs` (python -m openkms.config) from the table in "
        "src/openkms/config.py: do not edit. -->",
        "",
        "Every setting comes from, in order of precedence: a command-line flag, an `OPENKMS_*` "
        "environment variable, the TOML file given with `--config FILE`, the default. "
        "`openkms config check FILE` validates a file and prints the effective settings, "
        "secrets masked. The file holds top-level `name = value` pairs; an unknown name or a "
        "value of the wrong type is refused with its line.",
        "",
        "The database password never has to be on a command line: put it in a file named by "
        "`database_password_file` (read at start, one line, mode 0600) or in "
        "`OPENKMS_DATABASE_PASSWORD`; it is put into the database URL in place of any password "
        "there. Flags are seen by every user through `ps`.",
        "",
        "| file key | environment | flag | type | default | meaning |",
        "|---|---|---|---|---|---|",
    ]
    for s in SETTINGS:
        key = f"`{s.name}`" if s.file else "(not in the file)"
        flag = f"`{s.flag_name}`" + (" (serve)" if s.flag == "serve" else "") if s.flag else ""
        kind = {int: "integer", float: "number", str: "string", bool: "boolean", Path: "path"}[s.kind]
        default = "" if s.default is None else f"`{_toml(s.default)}`"
        out.append(f"| {key} | `{s.env_var}` | {flag} | {kind} | {default} | {s.help} |")
    out += [
        "",
        "## Other environment variables",
        "",
        "| variable | read by | meaning |",
        "|---|---|---|",
        "| `OPENKMS_CONFIG` | every command that takes `--config` | the settings file when "
        "`--config` is not given |",
        "| `OPENKMS_ROOT_ACCESS_KEY_ID`, `OPENKMS_ROOT_ACCESS_KEY_SECRET` | `init`, `account "
        "create` | the new account's root AccessKey pair (both or neither); else one is generated "
        "and printed once |",
        "| `OPENKMS_MASTER_PID` | worker processes | set by `serve --workers N` for its workers, "
        "which end with it; not for operators |",
    ]
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    print(render_markdown(), end="")


def _address(name: str, value: str, default_host: str) -> tuple[str, int] | None:
    """(host, port) of a HOST:PORT (or :PORT) setting, None when empty."""
    text = value.strip()
    if not text:
        return None
    host, sep, port = text.rpartition(":")
    host = host.removeprefix("[").removesuffix("]") or default_host
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"{name}: {text!r} is not HOST:PORT (or :PORT)")
    return host, int(port)
