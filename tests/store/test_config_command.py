"""`desk config …` end to end (in process and as a real subprocess for --home)."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from desk.cli import main
from desk.store.paths import desk_paths
from desk.store.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def test_home_option_is_visible_in_config_path(tmp_path: Path, subprocess_env: dict[str, str]) -> None:
    home = tmp_path / "portable home"
    env = dict(subprocess_env)
    env.pop("DESK_HOME")
    out = subprocess.run([sys.executable, "-m", "desk", "--home", str(home), "config", "path", "--json"],
                         capture_output=True, text=True, env=env, timeout=60, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    where = json.loads(out.stdout)
    resolved = home.resolve()
    assert where["settings"] == str(resolved / "config" / "settings.toml")
    assert where["history"] == str(resolved / "data" / "history.sqlite3")
    assert where["logs"] == str(resolved / "logs")
    assert where["cache"] == str(resolved / "cache")
    assert where["portable"] is True
    plain = subprocess.run([sys.executable, "-m", "desk", "--home", str(home), "config", "path"],
                           capture_output=True, text=True, env=env, timeout=60, cwd=ROOT)
    assert str(resolved / "config" / "settings.toml") in plain.stdout
    assert "DESK_HOME" in plain.stdout


def test_set_get_reset_and_show_marks_changes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config", "set", "alerts.distance_warning", "0.2"]) == 0
    assert "alerts.distance_warning = 0.2" in capsys.readouterr().out
    assert main(["config", "get", "alerts.distance_warning"]) == 0
    assert capsys.readouterr().out.strip() == "0.2"
    assert main(["config", "show"]) == 0
    shown = capsys.readouterr().out
    changed = [line for line in shown.splitlines() if line.startswith(" * ")]
    assert len(changed) == 1 and "alerts.distance_warning" in changed[0] and "(default 0.1)" in changed[0]
    assert "[alerts]" in shown and "[monitor]" in shown and "[history]" in shown
    assert any("ui.theme" in line and '"auto"' in line for line in shown.splitlines())
    assert main(["config", "reset", "alerts.distance_warning"]) == 0
    capsys.readouterr()
    assert Settings.load().get("alerts.distance_warning") == 0.10
    doc = tomllib.loads(desk_paths().settings_file.read_text())
    assert "alerts" not in doc


def test_show_json_is_every_option(capsys: pytest.CaptureFixture[str]) -> None:
    from desk.store.settings import OPTIONS

    assert main(["config", "show", "--json"]) == 0
    values = json.loads(capsys.readouterr().out)
    assert set(values) == {o.key for o in OPTIONS}


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["config", "set", "ui.theme", "neon"],
         "ui.theme: 'neon' is not allowed — expected one of auto, light, dark"),
        (["config", "set", "ui.them", "dark"], "did you mean ui.theme"),
        (["config", "get", "nope"], "unknown setting 'nope'"),
        (["config", "set", "alerts.cooldown_minutes", "soon"], "alerts.cooldown_minutes"),
    ],
)
def test_bad_input_is_a_clear_error_exit_2(argv: list[str], message: str,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err
    assert not desk_paths().settings_file.exists()


def test_an_old_webhook_url_in_the_file_is_reported_masked_and_kept(
        capsys: pytest.CaptureFixture[str]) -> None:
    """alerts.webhook_url held a token in settings.toml; channel URLs now live in the keyring."""
    token = "fake-token-for-test-1234"
    path = desk_paths().ensure().settings_file
    path.write_text(f'schema_version = 2\n[alerts]\nwebhook_url = "https://127.0.0.1/hook/{token}"\n')
    assert main(["config", "show"]) == 0
    assert main(["config", "show", "--json"]) == 0
    captured = capsys.readouterr()
    assert token not in captured.out + captured.err
    assert "alerts.webhook_url" in captured.err and "desk alerts channel add" in captured.err
    assert main(["config", "set", "alerts.webhook_url", "https://x.example/y"]) == 2
    assert token in path.read_text()  # nothing lost: the user moves it and removes the line


def test_corrupt_settings_reported_by_config_show(capsys: pytest.CaptureFixture[str]) -> None:
    path = desk_paths().ensure().settings_file
    path.write_text("this is = = not toml")
    assert main(["config", "show"]) == 0
    err = capsys.readouterr().err
    assert "is damaged" in err and "line 1" in err and "a copy is kept as" in err
    assert path.read_text() == "this is = = not toml"  # the user's file is not moved away
    assert any(p.name.startswith("settings.toml.damaged-") for p in path.parent.iterdir())


def test_show_lists_accounts_and_overrides(capsys: pytest.CaptureFixture[str]) -> None:
    from desk.store.settings import AccountConfig

    s = Settings.load()
    s.put_account(AccountConfig(name="main", venue="binance", label="Futures", sandbox=True))
    s.set_override("main/BTC/USDT:USDT", "alerts.distance_warning", 0.2)
    s.save()
    assert main(["config", "show"]) == 0
    out = capsys.readouterr().out
    assert "main: binance (sandbox) — Futures" in out
    assert "main/BTC/USDT:USDT: alerts.distance_warning = 0.2" in out


def test_unknown_key_is_also_a_key_error() -> None:
    from desk.store.settings import SettingsError

    s = Settings.load()
    with pytest.raises(KeyError) as exc:
        s.get("alerts.nope")
    assert isinstance(exc.value, SettingsError)
    assert str(exc.value).startswith("unknown setting 'alerts.nope'")
