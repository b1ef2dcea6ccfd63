"""The settings: one table gives the file keys, the variables, the flags and docs/settings.md;
flags > environment > file > defaults; a bad file is refused naming its line and setting."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from openkms import config
from openkms.cli import build_parser, main
from openkms.config import ConfigError, Settings

DOCS = Path(__file__).parents[2] / "docs" / "settings.md"


def _file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "openkms.toml"
    path.write_text(text)
    return path


def test_precedence_flags_env_file_defaults(tmp_path: Path) -> None:
    """Each layer beats the one below it, setting by setting."""
    path = _file(tmp_path, 'port = 9001\nregion = "cn-file"\nmax_inflight = 7\n')
    env = {"OPENKMS_PORT": "9002", "OPENKMS_REGION": "cn-env"}
    s = config.load(path, {"port": 9003}, env)
    assert (s.port, s.region, s.max_inflight, s.workers) == (9003, "cn-env", 7, 1)
    values, sources = config.resolve(path, {"port": 9003}, env)
    assert (sources["port"], sources["region"], sources["max_inflight"], sources["workers"]) == (
        "flag",
        "OPENKMS_REGION",
        "file",
        "default",
    )
    assert values["port"] == 9003


def test_types_from_the_file(tmp_path: Path) -> None:
    """Paths become Paths, an integer is a valid number, booleans stay booleans."""
    path = _file(tmp_path, 'data_dir = "/srv/kms"\nqueue_timeout = 3\ninsecure_http = true\n')
    s = config.load(path, environ={})
    assert s.data_dir == Path("/srv/kms")
    assert s.queue_timeout == 3.0 and isinstance(s.queue_timeout, float)
    assert s.insecure_http is True


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('region = "x"\n\nbogus = 1\n', "openkms.toml:3: unknown setting 'bogus'"),
        ('port = "80"\n', "openkms.toml:1: setting port wants an integer, got str '80'"),
        ("max_inflight = 2.5\n", "openkms.toml:1: setting max_inflight wants an integer"),
        ("insecure_http = 1\n", "openkms.toml:1: setting insecure_http wants true or false"),
        ('queue_timeout = "2"\n', "openkms.toml:1: setting queue_timeout wants a number"),
        ("[serve]\nport = 1\n", "openkms.toml:1: unknown setting 'serve'"),
        ('database_password = "pw"\n', "openkms.toml:1: database_password may not be written in the file"),
        ("port = \n", "not TOML"),
    ],
)
def test_a_bad_file_names_line_and_setting(tmp_path: Path, text: str, expected: str) -> None:
    """Unknown keys, wrong types, sections and secrets are each refused with where and what."""
    with pytest.raises(ConfigError) as err:
        config.read_file(_file(tmp_path, text))
    assert expected in str(err.value)


def test_a_bad_variable_is_named() -> None:
    with pytest.raises(ConfigError, match="OPENKMS_PORT: setting port wants an integer, got 'eighty'"):
        config.load(environ={"OPENKMS_PORT": "eighty"})


def test_password_from_file_or_environment(tmp_path: Path) -> None:
    """The password goes into the URL; its file beats the variable; masked when described."""
    url = "postgresql+psycopg://kms@db.example:5432/kms"
    s = Settings(database=url, database_password="from env", database_password_file=None)
    assert s.database_url == "postgresql+psycopg://kms:from%20env@db.example:5432/kms"
    secret_file = tmp_path / "pw"
    secret_file.write_text("p@ss:word/1\n")
    s.database_password_file = secret_file
    assert s.database_url == "postgresql+psycopg://kms:p%40ss%3Aword%2F1@db.example:5432/kms"
    shown = "\n".join(config.describe(s))
    assert "p@ss" not in shown and "p%40ss" not in shown and "from env" not in shown
    assert 'database = "postgresql+psycopg://kms:***@db.example:5432/kms"' in shown
    s.database_password_file = tmp_path / "missing"
    with pytest.raises(ConfigError, match="database_password_file: cannot read"):
        _ = s.database_url


def test_masked_url_leaves_a_url_without_password() -> None:
    assert config.masked_url("sqlite:///data/openkms.db") == "sqlite:///data/openkms.db"
    assert config.masked_url("postgresql://u:pw@h/db") == "postgresql://u:***@h/db"


def test_every_setting_is_a_field_and_every_env_field_a_setting() -> None:
    """The table and the dataclass agree (time_window is Alibaba's, not a setting)."""
    fields = set(Settings.__dataclass_fields__) - {"time_window"}
    assert fields == set(config.BY_NAME)


def _actions(parser: argparse.ArgumentParser, path: str) -> list[tuple[str, argparse.Action]]:
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help for a in action._choices_actions}
            for name, sub in action.choices.items():
                found.append((f"{path} {name}", argparse.Action([], name, help=helps.get(name))))
                found.extend(_actions(sub, f"{path} {name}"))
            continue
        found.append((path, action))
    return found


def test_every_flag_and_command_has_help() -> None:
    """Walk the whole parser: a flag, argument or subcommand without help text fails."""
    missing = [
        f"{path}: {'/'.join(a.option_strings) or a.dest}"
        for path, a in _actions(build_parser(), "openkms")
        if not a.help
    ]
    assert missing == []


def test_every_setting_flag_names_its_variable() -> None:
    """A setting's flag help says the variable that also sets it."""
    serve = build_parser()._subparsers._group_actions[0].choices["serve"]  # type: ignore[union-attr]
    helps = {a.dest: a.help or "" for a in serve._actions}
    for s in config.SETTINGS:
        if s.flag:
            assert s.env_var in helps[s.name], s.name


def test_docs_settings_page_is_current() -> None:
    """docs/settings.md is what `make docs` generates from the table."""
    assert DOCS.read_text() == config.render_markdown(), "run `make docs`"


def test_config_check_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`openkms config check`: exit 1 naming line and setting; else the effective settings."""
    monkeypatch.setenv("OPENKMS_DATABASE_PASSWORD", "hunter2")
    bad = _file(tmp_path, 'region = "cn-x"\nworkers = "two"\n')
    assert main(["config", "check", str(bad)]) == 1
    assert "openkms.toml:2: setting workers wants an integer" in capsys.readouterr().err
    good = _file(tmp_path, 'database = "postgresql://kms@h/db"\nworkers = 2\n')
    assert main(["config", "check", str(good)]) == 0
    out = capsys.readouterr().out
    assert "workers = 2  # file" in out
    assert 'database = "postgresql://kms:***@h/db"  # file' in out
    assert "hunter2" not in out


def test_offline_commands_read_the_file(tmp_path: Path) -> None:
    """The store flags' commands take --config: its data_dir is the one opened."""
    data = tmp_path / "elsewhere"
    path = _file(tmp_path, f'data_dir = "{data}"\nregion = "cn-shanghai"\n')
    args = build_parser().parse_args(["db", "check", "--config", str(path)])
    from openkms.cli import _settings

    s = _settings(args)
    assert (s.data_dir, s.region) == (data, "cn-shanghai")
    args = build_parser().parse_args(["db", "check", "--config", str(path), "--region", "cn-beijing"])
    assert _settings(args).region == "cn-beijing"


def test_an_unreadable_password_file_stops_an_offline_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Exit 2 naming the setting, before anything is opened."""
    with pytest.raises(SystemExit) as done:
        main(
            [
                "db",
                "check",
                "--data-dir",
                str(tmp_path),
                "--database",
                "postgresql://u@h/db",
                "--database-password-file",
                str(tmp_path / "missing"),
            ]
        )
    assert done.value.code == 2
    assert "database_password_file: cannot read" in capsys.readouterr().err
