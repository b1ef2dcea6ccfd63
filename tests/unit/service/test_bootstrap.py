"""`openkms init` creates a deployment once; opening never creates one (docs/access-control.md,
"Bootstrap")."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from openkms.config import Settings
from openkms.service import access_keys
from openkms.service.deployment import AlreadyInitialised, StartupError, init_deployment, open_deployment
from openkms.store import accounts


def test_init_makes_the_account_and_its_root_access_key(tmp_path: Path) -> None:
    """init records the first account (also the meta account id) and its root AccessKey, given."""
    dep, root = init_deployment(
        Settings(data_dir=tmp_path / "d"), root_access_key=("LTAIgiven000001", "s" * 20)
    )
    try:
        assert root.access_key_id == "LTAIgiven000001"
        with dep.db.read() as tx:
            assert [a.uid for a in accounts.list_all(tx)] == [dep.account_id]
        pairs = access_keys.list_all(dep)
        assert [(p.access_key_id, p.account_uid, p.is_root) for p in pairs] == [
            ("LTAIgiven000001", dep.account_id, True)
        ]
    finally:
        dep.close()


def test_init_generates_a_root_access_key_when_none_is_given(tmp_path: Path) -> None:
    """Without a pair, init draws one (LTAI + 20 characters, a 30-character secret)."""
    dep, root = init_deployment(Settings(data_dir=tmp_path / "d"))
    dep.close()
    assert (root.access_key_id[:4], len(root.access_key_id), len(root.secret.reveal())) == ("LTAI", 24, 30)
    assert root.secret.reveal() not in repr(root)


def test_init_refuses_to_run_twice(tmp_path: Path) -> None:
    """A second init over the same data directory changes nothing and says so."""
    settings = Settings(data_dir=tmp_path / "d")
    first, _ = init_deployment(settings)
    first.close()
    with pytest.raises(AlreadyInitialised, match="holds a deployment already"):
        init_deployment(settings)
    reopened = open_deployment(settings)
    assert (reopened.account_id, len(access_keys.list_all(reopened))) == (first.account_id, 1)
    reopened.close()


def test_inits_racing_leave_one_deployment(tmp_path: Path) -> None:
    """Four inits at once over one directory: exactly one succeeds, the others are refused."""
    settings = Settings(data_dir=tmp_path / "d")
    outcomes: list[str] = []

    def run() -> None:
        try:
            init_deployment(settings)[0].close()
            outcomes.append("made")
        except AlreadyInitialised:
            outcomes.append("refused")

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["made", "refused", "refused", "refused"]


@pytest.mark.parametrize("what", ["directory", "database", "root key"])
def test_open_without_a_deployment_creates_nothing(tmp_path: Path, what: str) -> None:
    """Opening a directory without a deployment (none at all, no database, no root key file) is
    refused naming `openkms init`, and leaves the directory as it was."""
    settings = Settings(data_dir=tmp_path / "d")
    if what != "directory":
        init_deployment(settings)[0].close()
        (settings.data_dir / ("openkms.db" if what == "database" else "root.key")).unlink()
    before = sorted(p.name for p in settings.data_dir.rglob("*")) if settings.data_dir.exists() else None
    with pytest.raises(StartupError, match="openkms init"):
        open_deployment(settings)
    after = sorted(p.name for p in settings.data_dir.rglob("*")) if settings.data_dir.exists() else None
    assert after == before


def test_a_deleted_root_access_key_is_not_minted_again(tmp_path: Path) -> None:
    """With the root AccessKey deleted, opening the deployment again makes none."""
    settings = Settings(data_dir=tmp_path / "d")
    dep, root = init_deployment(settings)
    access_keys.remove(dep, root.access_key_id)
    dep.close()
    reopened = open_deployment(settings)
    assert access_keys.list_all(reopened) == []
    reopened.close()


def test_bad_root_access_key_is_refused(tmp_path: Path) -> None:
    """A root AccessKey secret under 16 characters is refused before anything is created."""
    with pytest.raises(StartupError, match="at least 16"):
        init_deployment(Settings(data_dir=tmp_path / "d"), root_access_key=("LTAIshort", "short"))
    assert not (tmp_path / "d").exists()
