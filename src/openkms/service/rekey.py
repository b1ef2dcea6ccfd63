"""Rekey, root rotation and provider migration (docs/root-of-trust.md, "Rekey and root rotation").

**Rekey** (`openkms operator rekey`) replaces the KEK new wraps use and re-wraps every wrapped
row under it, online. Each step commits before the next starts and a re-run resumes from what
the deployment records, so a kill at any point loses nothing:

1. ``added``: the KEK row (under the root), a bridge (the KEK wrapped under the current one, so
   running processes can take it up: rootkey/keyring.py) and ``rekey_target``, in one
   transaction; the current version is pinned in ``kek_current``. Nothing wraps under it yet.
2. ``switched``: ``kek_current`` names it. A serving process learns this within
   :data:`~openkms.service.keks.REFRESH_EVERY` seconds, and holds the KEK already (or takes it
   up at once on first sight of a row under it), so no process meets a version it cannot open.
3. ``batch``: the rows still under older KEKs, a batch per transaction; each row is read again
   inside the transaction and rewritten only if it is still as read (a concurrent write wins).
   Passes repeat until none is left and the switch is older than ``settle`` seconds (a process
   that had not yet learned of the switch may have wrapped under the old KEK meanwhile).
4. ``finished``: ``rekey_target`` removed.

Old KEK rows stay until :func:`retire` deletes them, which it refuses while any wrapped row
still names one. What cannot be re-wrapped because it is a MAC rather than a wrap (the audit
chains' MAC keys, imported materials' digests) keeps the retired KEK's subkey for its one label,
wrapped under the current KEK (``kek_retained.*``), so `openkms audit verify` and re-imports
still check.

**Root rotation** re-wraps the KEK rows under a new root of the same provider; **migration**
under a root of another provider. The new wrapped KEKs and the new root's fingerprint commit in
one transaction with the records that find the new root. A file root is written beside the old
one (``root.key.next``) and recorded before the switch; after the switch it replaces the old
file, and a re-run finishes that rename.
"""

from __future__ import annotations

import base64
import hmac
import os
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from openkms.crypto import aead
from openkms.rootkey import FileRootKey, RootKeyError, RootKeyProvider
from openkms.rootkey import file as root_file
from openkms.rootkey.keyring import (
    access_key_aad,
    bridge_aad,
    import_key_aad,
    kek_aad,
    material_aad,
    retained_aad,
)
from openkms.service import keks
from openkms.service.audit import CHAIN_LABEL
from openkms.service.byok import DIGEST_FORMAT, DIGEST_LABEL
from openkms.service.roots import DEFAULT_PROVIDER, PROVIDERS, InitRequest, RootError, UnsealRefused
from openkms.store import Conflict, meta
from openkms.store import rekey as repo
from openkms.store.rekey import WRAPPED_TABLES, Wrapped

if TYPE_CHECKING:
    from openkms.service.deployment import Deployment

__all__ = [
    "NEXT_SUFFIX",
    "SETTLE",
    "TARGET",
    "RekeyRefused",
    "Rekeyed",
    "behind",
    "finish_file_switch",
    "migrate_root",
    "next_key_path",
    "rekey",
    "retire",
    "rotate_root",
    "unlock",
]

TARGET = "rekey_target"
SWITCHED_AT = "kek_switched_at"
NEXT_FINGERPRINT = "root_next_fingerprint"
NEXT_KEK = "root_next_kek."
NEXT_SUFFIX = ".next"
# Seconds after the switch before a rekey trusts a pass that found nothing left: every serving
# process has read the switch by then.
SETTLE = 3 * keks.REFRESH_EVERY
# Seconds after settling that rows may keep appearing under an old KEK before rekey gives up
# (a process that does not read the switch); a re-run continues.
STRAGGLE = 120.0
# The records each provider keeps in meta beside root_provider and root_fingerprint.
_PROVIDER_RECORDS = (
    "root_sealed", "shamir_set", "shamir_threshold", "shamir_shares",
    "kms_root_blob", "kms_deployment", "kms_root_key_id",
)  # fmt: skip

Hook = Callable[[str], None]
Progress = Callable[[int, int], None]


class RekeyRefused(Exception):
    """The operation cannot go on (the message says why and what to do); what committed stays."""


@dataclass(frozen=True, slots=True)
class Rekeyed:
    target: int
    rewrapped: int
    # Rows whose wrap does not open (damaged): left as they are, and retire refuses over them.
    unreadable: tuple[str, ...] = ()


def _nothing(step: str) -> None:
    pass


def unlock(dep: Deployment, ask: Callable[[str], str]) -> RootKeyProvider:
    """The deployment's root, checked against its fingerprint, with the keyring of ``dep``
    loaded under it. A root that starts sealed is opened from ``ask(prompt)`` (a passphrase, or
    a share at a time until the threshold)."""
    with dep.db.read() as tx:
        records = meta.values(tx)
    name = records.get("root_provider", DEFAULT_PROVIDER)
    provider = PROVIDERS.get(name)
    if provider is None:
        raise RekeyRefused(
            f"this deployment's root of trust is the {name} provider, which this openkms lacks"
        )
    try:
        root = provider.start(dep.settings, records)
        unsealer = provider.unsealer(records) if root is None else None
        while root is None and unsealer is not None:
            prompt = (
                "passphrase: "
                if name == "passphrase"
                else f"share {unsealer.progress() + 1} of {unsealer.threshold}: "
            )
            root = unsealer.submit(ask(prompt))
    except (RootError, UnsealRefused) as exc:
        raise RekeyRefused(str(exc)) from None
    if root is None:
        raise RekeyRefused(f"the {name} root of trust gave no root")
    if not hmac.compare_digest(records.get("root_fingerprint", ""), root.fingerprint):
        raise RekeyRefused("the root key does not match this database (fingerprint mismatch)")
    keks.load(dep.db, dep.keyring, root, follow=False)
    return root


def _aad(row: Wrapped, kek_version: int) -> bytes:
    if row.table == "key_versions":
        key_id, key_spec = row.names
        return material_aad(key_id, row.row_id, key_spec, kek_version)
    if row.table == "access_keys":
        return access_key_aad(row.row_id, kek_version)
    key_id, spec, algorithm, expires = row.names
    return import_key_aad(row.row_id, key_id, spec, algorithm, int(expires), kek_version)


def behind(dep: Deployment, target: int) -> dict[str, int]:
    """How many wrapped rows of each table are not under KEK ``target``."""
    with dep.db.read() as tx:
        refs = repo.references(tx)
    return {t: sum(n for v, n in refs[t].items() if v != target) for t in WRAPPED_TABLES}


def rekey(
    dep: Deployment,
    root: RootKeyProvider,
    *,
    batch: int = 200,
    settle: float = SETTLE,
    hook: Hook = _nothing,
    progress: Progress | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> Rekeyed:
    """Run a rekey to its end, from the step the database records for it (a kill at any step
    resumes there; module docstring). ``root`` is the deployment's (from :func:`unlock`);
    ``hook`` is told each step once it committed."""
    if batch < 1:
        raise RekeyRefused("the batch size must be at least 1")
    target = _add(dep, root)
    hook("added")
    _switch(dep, root, target)
    hook("switched")
    total = sum(behind(dep, target).values())
    done = 0
    unreadable: set[str] = set()

    def moved(n: int) -> None:
        nonlocal done
        done += n
        if progress is not None:
            progress(min(done, max(total, done)), max(total, done))

    if progress is not None:
        progress(0, total)
    started = time.time()
    while True:
        for table in WRAPPED_TABLES:
            after = ""
            while True:
                rows = repo.behind(dep.db, table, target, after, batch)
                if not rows:
                    break
                after = rows[-1].row_id
                moved(_rewrap(dep, target, rows, unreadable))
                hook("batch")
        _rewrap_retained(dep, target)
        left = sum(behind(dep, target).values()) - len(unreadable)
        with dep.db.read() as tx:
            switched_at = float(meta.get(tx, SWITCHED_AT) or 0.0)
        waited = time.time() - switched_at
        if left <= 0 and waited >= settle:
            break
        if left > 0 and time.time() - started > settle + STRAGGLE:
            raise RekeyRefused(
                f"{left} rows keep being written under an older KEK: a serving process has not "
                "taken up the switch; run rekey again once every process serves the new KEK"
            )
        sleep(min(1.0, max(0.05, settle - waited)))
    with dep.db.write() as tx:
        repo.delete_value(tx, TARGET)
    hook("finished")
    return Rekeyed(target, done, tuple(sorted(unreadable)))


def _add(dep: Deployment, root: RootKeyProvider) -> int:
    """Step 1: the new KEK and its bridge, or the one a run that stopped added."""
    try:
        return _add_once(dep, root)
    except Conflict:
        return _add_once(dep, root)  # another rekey added it first: resume that one


def _add_once(dep: Deployment, root: RootKeyProvider) -> int:
    with dep.db.write() as tx:
        recorded = meta.get(tx, TARGET)
        if recorded is not None:
            return int(recorded)
        if not hmac.compare_digest(meta.get(tx, "root_fingerprint") or "", root.fingerprint):
            raise RekeyRefused("the deployment's root changed since this started (rotate-root?): run again")
        wrapped = meta.wrapped_keks(tx)
        state = keks.state(tx, list(wrapped))
        target = max(wrapped) + 1
        kek = secrets.token_bytes(32)
        bridge = aead.seal(dep.keyring.export(state.current), kek, bridge_aad(state.current, target))
        meta.insert_kek(tx, target, root.wrap(kek, kek_aad(target, root.fingerprint)), time.time())
        del kek
        repo.put_value(tx, keks.BRIDGE + str(target), keks.encode(state.current, bridge))
        repo.put_value(tx, keks.CURRENT, str(state.current))
        repo.put_value(tx, TARGET, str(target))
    return target


def _switch(dep: Deployment, root: RootKeyProvider, target: int) -> None:
    """Step 2: new wraps use ``target``."""
    with dep.db.write() as tx:
        if meta.get(tx, keks.CURRENT) != str(target):
            repo.put_value(tx, keks.CURRENT, str(target))
            repo.put_value(tx, SWITCHED_AT, repr(time.time()))
    keks.load(dep.db, dep.keyring, root, follow=False)
    if dep.keyring.current != target:
        raise RekeyRefused(f"the keyring did not take up KEK version {target}")


def _rewrap(dep: Deployment, target: int, rows: list[Wrapped], unreadable: set[str]) -> int:
    """Step 3, one batch in one transaction; the rows rewritten."""
    keyring = dep.keyring
    n = 0
    with dep.db.write() as tx:
        for seen in rows:
            row = repo.reread(tx, seen.table, seen.row_id)
            if row is None or row.kek_version == target:
                continue
            try:
                plain = keyring.unwrap(row.kek_version, row.blob, _aad(row, row.kek_version))
            except aead.NotAuthentic:
                unreadable.add(f"{row.table}:{row.row_id}")
                continue
            version, blob = keyring.wrap(plain, _aad(row, target))
            if version != target:
                raise RekeyRefused(f"the keyring wraps under KEK version {version}, not {target}")
            n += repo.rewrite(tx, row, target, blob)
    return n


def _rewrap_retained(dep: Deployment, target: int) -> None:
    """The retired KEKs' kept subkeys, under ``target``."""
    kek = dep.keyring.export(target)
    with dep.db.write() as tx:
        for name, value in repo.prefixed(tx, keks.RETAINED).items():
            under, blob = keks.decode(value)
            if under == target:
                continue
            version_text, _, label_text = name[len(keks.RETAINED) :].partition(".")
            version, label = int(version_text), label_text.encode()
            subkey = aead.open_(dep.keyring.export(under), blob, retained_aad(version, label, under))
            kept = aead.seal(kek, subkey, retained_aad(version, label, target))
            repo.put_value(tx, name, keks.encode(target, kept))


def retire(dep: Deployment, *, hook: Hook = _nothing) -> list[int]:
    """Delete every KEK row but the current one; the versions deleted. Refused while a rekey is
    under way or any wrapped row names an old version. Audit chains and imported materials'
    digests under a retired version keep its subkey for their label (module docstring); the
    bridges go with the KEKs they came from."""
    with dep.db.write() as tx:
        if meta.get(tx, TARGET) is not None:
            raise RekeyRefused("a rekey is under way: run `openkms operator rekey` to its end first")
        wrapped = meta.wrapped_keks(tx)
        state = keks.state(tx, list(wrapped))
        old = sorted(v for v in wrapped if v != state.current)
        if not old:
            return []
        refs = repo.references(tx)
        still = [
            f"{table}: {n} under version {v}"
            for table in WRAPPED_TABLES
            for v, n in sorted(refs[table].items())
            if v in old and n
        ]
        if still:
            raise RekeyRefused(
                "old KEK versions still wrap rows (" + "; ".join(still) + "): run "
                "`openkms operator rekey` to its end first; nothing was deleted"
            )
        needed = {(v, CHAIN_LABEL) for v in old if refs["audit_chains"].get(v)}
        for digest in repo.digests(tx):
            fmt, _, rest = digest.partition(":")
            version_text = rest.partition(":")[0]
            if fmt == DIGEST_FORMAT and version_text.isdigit() and int(version_text) in old:
                needed.add((int(version_text), DIGEST_LABEL))
        current = dep.keyring.export(state.current)
        for version, label in sorted(needed):
            name = f"{keks.RETAINED}{version}.{label.decode()}"
            if name in repo.prefixed(tx, name):
                continue
            subkey = dep.keyring.derived(label, version)[1]
            kept = aead.seal(current, subkey, retained_aad(version, label, state.current))
            repo.put_value(tx, name, keks.encode(state.current, kept))
        for name, value in repo.prefixed(tx, keks.RETAINED).items():
            if keks.decode(value)[0] in old:
                raise RekeyRefused(f"{name} is kept under a retired KEK: run rekey to its end first")
        for v in old:
            repo.delete_kek(tx, v)
        for name in repo.prefixed(tx, keks.BRIDGE):
            repo.delete_value(tx, name)
    hook("retired")
    return old


# --- the root ---------------------------------------------------------------------------


def _rewrapped_keks(dep: Deployment, old: RootKeyProvider, new: RootKeyProvider) -> dict[int, bytes]:
    """Every KEK row, wrapped under ``new`` (the keyring read again under ``old`` first: a rekey
    may have added one since)."""
    keks.load(dep.db, dep.keyring, old, follow=False)
    with dep.db.read() as tx:
        versions = list(meta.wrapped_keks(tx))
    return {v: new.wrap(dep.keyring.export(v), kek_aad(v, new.fingerprint)) for v in versions}


def _switch_root(
    dep: Deployment,
    old_fingerprint: str,
    new: RootKeyProvider,
    wrapped: Mapping[int, bytes],
    records: Mapping[str, str],
    provider: str,
) -> None:
    """One transaction: the KEK rows under ``new``, its fingerprint, provider and records."""
    with dep.db.write() as tx:
        if not meta.replace(tx, "root_fingerprint", old_fingerprint, new.fingerprint):
            raise RekeyRefused("the deployment's root changed while this ran; nothing was switched")
        if set(meta.wrapped_keks(tx)) != set(wrapped):
            raise RekeyRefused("the KEKs changed while this ran (a rekey?); nothing was switched")
        for v, blob in wrapped.items():
            repo.replace_kek(tx, v, blob)
        for name in _PROVIDER_RECORDS:
            repo.delete_value(tx, name)
        for name, value in records.items():
            repo.put_value(tx, name, value)
        repo.put_value(tx, "root_provider", provider)
        repo.delete_value(tx, NEXT_FINGERPRINT)
        for name in repo.prefixed(tx, NEXT_KEK):
            repo.delete_value(tx, name)


def next_key_path(dep: Deployment) -> Path:
    path = dep.settings.root_key_path
    return path.with_name(path.name + NEXT_SUFFIX)


def finish_file_switch(dep: Deployment) -> bool:
    """After a file root rotation that committed but stopped before its rename: put the new key
    file in place. Whether there was one to put."""
    nxt = next_key_path(dep)
    if not nxt.exists():
        return False
    with dep.db.read() as tx:
        fingerprint = meta.get(tx, "root_fingerprint")
    try:
        staged = FileRootKey.load(nxt).fingerprint
    except RootKeyError:
        return False
    if fingerprint is None or not hmac.compare_digest(staged, fingerprint):
        return False
    os.replace(nxt, dep.settings.root_key_path)
    _fsync_dir(nxt.parent)
    return True


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def rotate_root(
    dep: Deployment,
    root: RootKeyProvider,
    request: InitRequest,
    *,
    show: Callable[[list[str]], None] = lambda shares: None,
    hook: Hook = _nothing,
) -> None:
    """Re-wrap the KEKs under a new root of the deployment's provider (file: a new key file;
    passphrase: ``request.passphrase``; shamir: new shares, given to ``show`` before the switch
    commits: shares shown by a run that did not finish are void). Raises
    :class:`RekeyRefused` for a provider whose root lives outside openkms."""
    with dep.db.read() as tx:
        records = meta.values(tx)
    name = records.get("root_provider", DEFAULT_PROVIDER)
    if name == "file":
        _rotate_file(dep, root, hook)
        return
    if name not in ("passphrase", "shamir"):
        raise RekeyRefused(
            f"the {name} root lives outside openkms: rotate it there, or move with migrate-root"
        )
    try:
        created = PROVIDERS[name].create(dep.settings, request)
    except RootError as exc:
        raise RekeyRefused(str(exc)) from None
    wrapped = _rewrapped_keks(dep, root, created.root)
    show(list(created.shares))
    hook("staged")
    _switch_root(dep, root.fingerprint, created.root, wrapped, created.records, name)
    hook("switched")
    hook("finished")


def _rotate_file(dep: Deployment, root: RootKeyProvider, hook: Hook) -> None:
    nxt = next_key_path(dep)
    with dep.db.read() as tx:
        pending = meta.get(tx, NEXT_FINGERPRINT)
        staged = {
            int(n[len(NEXT_KEK) :]): base64.b64decode(v) for n, v in repo.prefixed(tx, NEXT_KEK).items()
        }
    new: FileRootKey | None = None
    if pending is not None and nxt.exists():
        try:
            new = FileRootKey.load(nxt)
        except RootKeyError:
            new = None
        if new is not None and not hmac.compare_digest(new.fingerprint, pending):
            new = None
        with dep.db.read() as tx:
            versions = set(meta.wrapped_keks(tx))
        if new is not None and set(staged) != versions:
            staged = _rewrapped_keks(dep, root, new)  # a rekey added a KEK since: stage them all again
            with dep.db.write() as tx:
                for v, blob in staged.items():
                    repo.put_value(tx, f"{NEXT_KEK}{v}", base64.b64encode(blob).decode())
    if new is None:
        nxt.unlink(missing_ok=True)  # from a run that stopped before recording it: never used
        old_umask = os.umask(0o077)
        try:
            root_file.create(nxt)
            new = FileRootKey.load(nxt)
        except (RootKeyError, OSError) as exc:
            raise RekeyRefused(f"cannot write {nxt}: {exc}") from None
        finally:
            os.umask(old_umask)
        staged = _rewrapped_keks(dep, root, new)
        with dep.db.write() as tx:
            for name in repo.prefixed(tx, NEXT_KEK):
                repo.delete_value(tx, name)
            repo.put_value(tx, NEXT_FINGERPRINT, new.fingerprint)
            for v, blob in staged.items():
                repo.put_value(tx, f"{NEXT_KEK}{v}", base64.b64encode(blob).decode())
    hook("staged")
    _switch_root(dep, root.fingerprint, new, staged, {}, "file")
    hook("switched")
    finish_file_switch(dep)
    hook("finished")


def migrate_root(
    dep: Deployment,
    root: RootKeyProvider,
    to: str,
    request: InitRequest,
    *,
    show: Callable[[list[str]], None] = lambda shares: None,
    hook: Hook = _nothing,
) -> bool:
    """Move the deployment to provider ``to`` (offline): the KEKs under its new root, the
    provider, its records and fingerprint in one transaction; the shares of a shamir target go
    to ``show`` before that. The key file the deployment stops using is removed after the
    switch (a re-run removes one a stopped run left). Whether anything was left to do."""
    with dep.db.read() as tx:
        name = meta.get(tx, "root_provider") or DEFAULT_PROVIDER
    key_file = dep.settings.root_key_path
    if to == name:
        if to != "file" and key_file.exists():
            key_file.unlink()
            hook("finished")
            return True
        return False
    provider = PROVIDERS.get(to)
    if provider is None:
        raise RekeyRefused(f"no root-of-trust provider {to!r}; one of: {', '.join(PROVIDERS)}")
    if to == "file" and key_file.exists():
        # Left by a migration to file that stopped before its switch (or by the file root this
        # deployment left): the root of nothing committed.
        key_file.unlink()
    try:
        created = provider.create(dep.settings, request)
    except RootError as exc:
        raise RekeyRefused(str(exc)) from None
    try:
        wrapped = _rewrapped_keks(dep, root, created.root)
        show(list(created.shares))
        hook("staged")
        _switch_root(dep, root.fingerprint, created.root, wrapped, created.records, to)
    except BaseException:
        created.undo()
        raise
    hook("switched")
    if name == "file":
        key_file.unlink(missing_ok=True)
    hook("finished")
    return True
