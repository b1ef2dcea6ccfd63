"""Backup and restore of the embedded deployment (`openkms backup`, `openkms restore`).

A backup is one tar file:

* ``manifest.json``: the format, schema revision, counts of keys and accounts, the root key's
  fingerprint, the time, the openkms version, whether the root key is inside;
* ``openkms.db``: the database as of one commit, copied online (store.snapshot);
* ``root.key.sealed``, only when asked for: the root key sealed under a passphrase
  (crypto.passphrase), bound to the fingerprint the manifest names.

The node's nonce files are not in it: a restore starts with none (docs/deployment.md, "Backup
and restore", says what that reopens and how to close it). A PostgreSQL deployment is backed up
with pg_dump; this module refuses it.
"""

from __future__ import annotations

import hmac
import io
import json
import os
import shutil
import tarfile
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from openkms import store
from openkms.config import Settings
from openkms.crypto import passphrase as sealing
from openkms.rootkey import FileRootKey, RootKeyError
from openkms.rootkey import file as root_file
from openkms.store import snapshot
from openkms.store.engine import is_sqlite

__all__ = ["BackupError", "Manifest", "backup", "read_manifest", "restore"]

FORMAT = "openkms-backup-1"
MANIFEST = "manifest.json"
DATABASE = "openkms.db"
SEALED_ROOT = "root.key.sealed"


class BackupError(RuntimeError):
    """A backup or restore refused or failed; the message says why (never a secret)."""


@dataclass(frozen=True, slots=True)
class Manifest:
    format: str
    schema_revision: str | None
    keys: int
    accounts: int
    root_fingerprint: str
    created: str
    openkms_version: str
    root_included: bool
    nonces_included: bool


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("openkms")
    except PackageNotFoundError:
        return "unknown"


def _root_aad(fingerprint: str) -> bytes:
    return f"{FORMAT} root key {fingerprint}".encode()


def backup(
    settings: Settings,
    out: Path,
    *,
    passphrase: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Manifest:
    """Write a backup of the embedded deployment of ``settings`` to ``out`` (a new file, 0600),
    while a node may serve it; with ``passphrase``, the root key goes in, sealed under it.

    Raises:
        BackupError: PostgreSQL, no database, ``out`` exists or has no directory, a root key
            file that does not match the database, a damaged copy.
    """
    if not is_sqlite(settings.database_url):
        raise BackupError("the database is PostgreSQL: back it up with pg_dump (docs/deployment.md)")
    source = settings.data_dir / DATABASE
    if not source.is_file():
        raise BackupError(f"no deployment: {source} does not exist")
    if out.exists():
        raise BackupError(f"{out} exists; a backup never overwrites a file")
    if not out.parent.is_dir():
        raise BackupError(f"{out.parent} is not a directory")
    work = Path(tempfile.mkdtemp(prefix=".openkms-backup-", dir=out.parent))  # 0700
    try:
        copy = work / DATABASE
        try:
            snapshot.online_copy(source, copy, progress)
            held = snapshot.contents(copy)
        except (snapshot.DamagedDatabase, OSError) as exc:
            raise BackupError(f"the copy failed: {exc}") from None
        except snapshot.CopyFailed as exc:
            raise BackupError(f"cannot read {source}: {exc}") from None
        except store.UNAVAILABLE as exc:
            raise BackupError(f"cannot check the copy: {store.reason(exc)}") from None
        if held.root_fingerprint is None:
            raise BackupError(f"{source} holds no deployment")
        sealed = None
        if passphrase is not None:
            sealed = _seal_root(settings.root_key_path, held.root_fingerprint, passphrase)
        manifest = Manifest(
            format=FORMAT,
            schema_revision=held.schema_revision,
            keys=held.keys,
            accounts=held.accounts,
            root_fingerprint=held.root_fingerprint,
            created=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            openkms_version=_version(),
            root_included=sealed is not None,
            nonces_included=False,
        )
        archive = work / "backup.tar"
        fd = os.open(archive, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f, tarfile.open(fileobj=f, mode="w") as tar:
            _add_bytes(tar, MANIFEST, json.dumps(asdict(manifest), indent=1).encode())
            tar.add(copy, arcname=DATABASE)
            if sealed is not None:
                _add_bytes(tar, SEALED_ROOT, sealed)
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(archive, out)  # atomic, and never over an existing file
        except FileExistsError:
            raise BackupError(f"{out} exists; a backup never overwrites a file") from None
        return manifest
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _seal_root(path: Path, fingerprint: str, passphrase: str) -> bytes:
    try:
        key = root_file.read(path)
    except RootKeyError as exc:
        raise BackupError(str(exc)) from None
    if not hmac.compare_digest(root_file.fingerprint(key), fingerprint):
        raise BackupError("the root key file does not match the database (fingerprint mismatch)")
    return sealing.seal(passphrase, key, _root_aad(fingerprint))


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o600
    info.mtime = int(time.time())
    tar.addfile(info, io.BytesIO(data))


def _member(tar: tarfile.TarFile, name: str) -> tarfile.ExFileObject | None:
    try:
        info = tar.getmember(name)
    except KeyError:
        return None
    if not info.isfile():
        raise BackupError(f"not an openkms backup: {name} is not a file")
    return tar.extractfile(info)  # type: ignore[return-value]


def read_manifest(archive: Path) -> Manifest:
    """The manifest of a backup file.

    Raises:
        BackupError: not an openkms backup (of this format).
    """
    try:
        with tarfile.open(archive, mode="r:") as tar:
            return _manifest(tar)
    except (OSError, tarfile.TarError) as exc:
        raise BackupError(f"not an openkms backup: {exc}") from None


def _manifest(tar: tarfile.TarFile) -> Manifest:
    f = _member(tar, MANIFEST)
    if f is None:
        raise BackupError("not an openkms backup: no manifest")
    try:
        fields = json.loads(f.read())
        manifest = Manifest(**fields)
    except (ValueError, TypeError):
        raise BackupError("not an openkms backup: the manifest does not read") from None
    if manifest.format != FORMAT:
        raise BackupError(f"backup format {manifest.format!r} is not {FORMAT!r}")
    return manifest


def restore(
    archive: Path,
    data_dir: Path,
    *,
    root_key_file: Path | None = None,
    passphrase: Callable[[], str] | None = None,
) -> Manifest:
    """Restore ``archive`` into ``data_dir``, which must be absent or empty: the database (0600,
    in a 0700 directory) and, without ``root_key_file``, the root key sealed in the backup
    (opened under ``passphrase()``) as ``data_dir/root.key``. The root key used must be the
    one whose fingerprint the backup names. On any refusal nothing is left behind.

    Raises:
        BackupError: a non-empty ``data_dir``, not a backup, a damaged database, a root key of
            another fingerprint, no root key at all, a wrong passphrase.
    """
    made_dir = not data_dir.exists()
    if not made_dir and (not data_dir.is_dir() or any(data_dir.iterdir())):
        raise BackupError(f"{data_dir} is not an empty directory; restore only into a new one")
    written: list[Path] = []
    try:
        data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(data_dir, 0o700)
        try:
            with tarfile.open(archive, mode="r:") as tar:
                manifest = _manifest(tar)
                # No key given or in the backup: only a deployment whose root is sealed in its
                # database (passphrase, shamir) restores; known once the database is read.
                in_database = root_key_file is None and _member(tar, SEALED_ROOT) is None
                key = None if in_database else _root_for(tar, manifest, root_key_file, passphrase)
                db_path = data_dir / DATABASE
                written.append(db_path)
                _extract(tar, DATABASE, db_path)
        except (OSError, tarfile.TarError) as exc:
            raise BackupError(f"not an openkms backup: {exc}") from None
        try:
            snapshot.check(db_path)
            held = snapshot.contents(db_path)
        except snapshot.DamagedDatabase as exc:
            raise BackupError(f"the backup's database is damaged: {exc}") from None
        except store.UNAVAILABLE as exc:
            raise BackupError(f"cannot read the restored database: {store.reason(exc)}") from None
        if not hmac.compare_digest(held.root_fingerprint or "", manifest.root_fingerprint):
            raise BackupError("the backup's database does not match its manifest (root fingerprint)")
        if in_database and held.root_provider == "file":
            raise BackupError("the backup holds no root key: give --root-key-file")
        if key is not None:
            written.append(data_dir / "root.key")
            root_file.create(data_dir / "root.key", key)
        return manifest
    except BaseException:
        for path in written:
            path.unlink(missing_ok=True)
        if made_dir:
            shutil.rmtree(data_dir, ignore_errors=True)
        raise


def _root_for(
    tar: tarfile.TarFile,
    manifest: Manifest,
    root_key_file: Path | None,
    passphrase: Callable[[], str] | None,
) -> bytes | None:
    """The root key to write into the data directory (None: ``root_key_file`` is used where it
    is), once it is known to be the backup's."""
    if root_key_file is not None:
        try:
            given = FileRootKey.load(root_key_file).fingerprint
        except RootKeyError as exc:
            raise BackupError(str(exc)) from None
        if not hmac.compare_digest(given, manifest.root_fingerprint):
            raise BackupError(
                "the root key does not match this backup (fingerprint mismatch): wrong --root-key-file"
            )
        return None
    sealed = _member(tar, SEALED_ROOT)
    if sealed is None:
        raise BackupError("the backup holds no root key: give --root-key-file")
    if passphrase is None:
        raise BackupError("the backup's root key is sealed under a passphrase: none was given")
    try:
        key = sealing.open_(passphrase(), sealed.read(), _root_aad(manifest.root_fingerprint))
    except sealing.WrongPassphrase:
        raise BackupError("the backup's root key does not open under this passphrase") from None
    if not hmac.compare_digest(root_file.fingerprint(key), manifest.root_fingerprint):
        raise BackupError("the backup's root key does not match its manifest (fingerprint mismatch)")
    return key


def _extract(tar: tarfile.TarFile, name: str, target: Path) -> None:
    source = _member(tar, name)
    if source is None:
        raise BackupError(f"not an openkms backup: no {name}")
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        shutil.copyfileobj(source, f, 1 << 20)
        f.flush()
        os.fsync(f.fileno())
    os.chmod(target, 0o600)  # whatever the umask
