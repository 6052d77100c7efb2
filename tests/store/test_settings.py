"""Settings: declared options, validation, atomic storage, migrations, corrupt files, accounts, overrides."""

from __future__ import annotations

import os
import shutil
import tomllib
from pathlib import Path

import pytest

from desk.store import settings as settings_mod
from desk.store.paths import desk_paths
from desk.store.settings import (
    OPTIONS,
    OPTIONS_BY_KEY,
    SCHEMA_VERSION,
    AccountConfig,
    Settings,
    SettingsError,
)

FIXTURES = Path(__file__).parent / "fixtures"

REQUIRED = {
    "monitor.reconcile_seconds": 10, "monitor.poll_seconds": 2, "monitor.live_seconds": 5,
    "monitor.stale_seconds": 30, "monitor.markets_cache_hours": 24,
    "alerts.enabled": True, "alerts.distance_warning": 0.10, "alerts.distance_critical": 0.05,
    "alerts.margin_ratio_warning": 0.5, "alerts.margin_ratio_critical": 0.8, "alerts.stale_seconds": 30,
    "alerts.rearm_margin": 0.1, "alerts.cooldown_minutes": 30, "alerts.disagree_ticks": 2,
    "alerts.digest_threshold": 3, "alerts.quiet_hours": "", "alerts.sound": False,
    "alerts.repeat_critical_minutes": "2,5,10,15", "alerts.desktop": True, "risk.target_margin_ratio": 0.5,
    "history.sample_seconds": 10, "history.fine_retention_hours": 24, "history.coarse_sample_minutes": 5,
    "history.coarse_retention_days": 90, "history.max_megabytes": 200, "ui.theme": "auto",
    "ui.refresh_hz": 4, "ui.start_minimized": False, "logs.level": "info", "logs.max_megabytes": 5,
    "logs.backups": 5,
}


def test_every_required_option_is_declared_once_with_its_default() -> None:
    keys = [o.key for o in OPTIONS]
    assert len(keys) == len(set(keys))
    for key, default in REQUIRED.items():
        assert OPTIONS_BY_KEY[key].default == default, key
    for opt in OPTIONS:
        assert opt.label and opt.help and opt.group == opt.key.split(".")[0]
        assert opt.validate(opt.default) == opt.default  # every default is itself valid
    assert OPTIONS_BY_KEY["ui.theme"].choices == ("auto", "light", "dark")
    assert OPTIONS_BY_KEY["logs.level"].choices is not None
    assert set(OPTIONS_BY_KEY["logs.level"].choices) >= {"info", "debug", "warning"}


def test_defaults_without_a_file_and_nothing_written() -> None:
    s = Settings.load()
    assert s.path == desk_paths().settings_file
    assert s.get("alerts.distance_warning") == 0.10
    assert s.problems == []
    assert not s.path.exists()


def test_set_save_load_round_trip_stores_only_changes(tmp_path: Path) -> None:
    path = tmp_path / "settings.toml"
    s = Settings.load(path)
    s.set("alerts.distance_warning", "0.15")  # CLI text is parsed per type
    s.set("ui.theme", "dark")
    s.set("alerts.sound", "yes")
    s.set("logs.backups", 3)
    s.save()
    doc = tomllib.loads(path.read_text())
    assert doc == {"schema_version": SCHEMA_VERSION, "alerts": {"distance_warning": 0.15, "sound": True},
                   "ui": {"theme": "dark"}, "logs": {"backups": 3}}
    again = Settings.load(path)
    assert again.get("alerts.distance_warning") == 0.15
    assert again.get("alerts.sound") is True
    assert again.get("ui.theme") == "dark"
    assert again.get("logs.backups") == 3
    assert not again.is_default("ui.theme") and again.is_default("ui.refresh_hz")
    if os.name == "posix":
        assert path.stat().st_mode & 0o777 == 0o600
    again.reset("ui.theme")
    again.save()
    assert "ui" not in tomllib.loads(path.read_text())
    assert Settings.load(path).get("ui.theme") == "auto"


@pytest.mark.parametrize(
    ("key", "value", "expected_in_message"),
    [
        ("ui.theme", "purple", "one of auto, light, dark"),
        ("alerts.distance_warning", "-0.1", "from 0.0001 to 1"),
        ("alerts.distance_warning", "ten", "a number"),
        ("logs.backups", "2.5", "a whole number"),
        ("alerts.sound", "maybe", "true or false"),
        ("alerts.quiet_hours", "11pm-7am", "HH:MM-HH:MM"),
        ("alerts.repeat_critical_minutes", "5,2,15", "rising except the last"),
        ("alerts.repeat_critical_minutes", "2,0", "e.g. \"2,5,10,15\""),
        ("history.sample_seconds", "0", "from 1 to 3600"),
    ],
)
def test_invalid_values_are_refused_naming_key_and_allowed_values(key: str, value: str,
                                                                   expected_in_message: str) -> None:
    s = Settings.load()
    before = s.get(key)
    with pytest.raises(SettingsError) as exc:
        s.set(key, value)
    assert key in str(exc.value)
    assert expected_in_message in str(exc.value)
    assert s.get(key) == before


def test_unknown_key_suggests_close_matches() -> None:
    s = Settings.load()
    with pytest.raises(SettingsError, match=r"did you mean alerts\.distance_warning"):
        s.set("alerts.distance_warn", 0.2)
    with pytest.raises(SettingsError, match="unknown setting"):
        s.get("nope")


def test_types_are_strict_for_programmatic_values() -> None:
    s = Settings.load()
    with pytest.raises(SettingsError):
        s.set("alerts.enabled", 1)  # not a bool
    with pytest.raises(SettingsError):
        s.set("alerts.distance_warning", float("nan"))
    s.set("ui.refresh_hz", 2)  # an int is a fine float
    assert s.get("ui.refresh_hz") == 2.0 and isinstance(s.get("ui.refresh_hz"), float)


def test_atomic_write_leaves_no_temp_files_and_survives_failure(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "settings.toml"
    s = Settings.load(path)
    s.set("ui.theme", "light")
    s.save()
    original = path.read_bytes()

    def broken_replace(src: str, dst: str) -> None:
        raise OSError("disk full")

    s.set("ui.theme", "dark")
    monkeypatch.setattr(settings_mod.os, "replace", broken_replace)
    with pytest.raises(OSError):
        s.save()
    monkeypatch.undo()
    assert path.read_bytes() == original  # the old file is intact
    # no temp file left (the lock file stays: removing it would let two writers lock different files)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["settings.toml", "settings.toml.lock"]


def test_unreadable_file_is_kept_backed_up_and_reported_line_by_line(tmp_path: Path) -> None:
    # Issue 14: a damaged file used to be moved aside and replaced by defaults. Now it stays where
    # the user wrote it, a copy is kept, and each unreadable line is reported by key and line.
    path = tmp_path / "settings.toml"
    garbage = b"[alerts\ndistance_warning = = 0.1\n\xff"
    path.write_bytes(garbage)
    s = Settings.load(path)
    assert [(i.key, i.line) for i in s.issues] == [
        ("alerts", 1), ("alerts.distance_warning", 2), ("line 3", 3)]
    assert path.read_bytes() == garbage  # left as it is
    backups = [p for p in tmp_path.iterdir() if p.name.startswith("settings.toml.damaged-")]
    assert len(backups) == 1 and backups[0].read_bytes() == garbage
    assert any(str(backups[0]) in p for p in s.problems)
    assert s.get("alerts.distance_warning") == 0.10
    s.set("ui.theme", "dark")
    s.save()
    assert backups[0].read_bytes() == garbage
    again = Settings.load(path)
    assert again.get("ui.theme") == "dark" and again.problems == []
    text = path.read_text()
    assert "#   line 1: [alerts" in text and "#   line 2: distance_warning = = 0.1" in text
    assert "#   line 3: \\xff" in text  # the byte is written out, escaped


def test_invalid_value_in_file_is_reported_and_kept_until_changed(tmp_path: Path) -> None:
    path = tmp_path / "settings.toml"
    path.write_text('schema_version = 2\n[ui]\ntheme = "neon"\nrefresh_hz = 2\n[mystery]\nfuture = 1\n')
    s = Settings.load(path)
    assert s.get("ui.theme") == "auto"
    assert any("ui.theme" in p and "neon" in p for p in s.problems)
    s.set("alerts.sound", True)
    s.save()
    doc = tomllib.loads(path.read_text())
    assert doc["ui"] == {"theme": "neon", "refresh_hz": 2}  # the user's text is not destroyed
    assert doc["mystery"] == {"future": 1}  # unknown tables survive


def test_v1_file_is_backed_up_then_migrated(tmp_path: Path) -> None:
    path = tmp_path / "settings.toml"
    shutil.copy(FIXTURES / "settings-v1.toml", path)
    original = path.read_bytes()
    s = Settings.load(path)
    backups = [p for p in tmp_path.iterdir() if p.name.startswith("settings.toml.v1-backup-")]
    assert len(backups) == 1 and backups[0].read_bytes() == original
    assert any("migrated from schema 1" in p for p in s.problems)
    assert s.get("ui.theme") == "dark"
    assert s.get("ui.refresh_hz") == 2.0
    assert s.get("logs.level") == "debug"
    assert s.get("alerts.distance_warning") == pytest.approx(0.12)
    assert s.get("alerts.distance_critical") == pytest.approx(0.06)
    assert s.get("alerts.cooldown_minutes") == 15
    accounts = s.accounts()
    assert accounts["main"] == AccountConfig(name="main", venue="binance", label="Main futures")
    assert accounts["hl"].wallet_address == "0x00000000000000000000000000000000000000aa"
    doc = tomllib.loads(path.read_text())
    assert doc["schema_version"] == 2
    assert doc["general"] == {"favourite_colour": "teal"}  # unknown v1 keys are kept
    assert "distance_warning_percent" not in doc["alerts"]
    # loading again does not migrate or back up again
    again = Settings.load(path)
    assert again.problems == []
    assert len([p for p in tmp_path.iterdir() if "backup" in p.name]) == 1


def test_newer_schema_is_read_but_never_written(tmp_path: Path) -> None:
    path = tmp_path / "settings.toml"
    text = 'schema_version = 99\n[ui]\ntheme = "dark"\n[new_things]\nx = 1\n'
    path.write_text(text)
    s = Settings.load(path)
    assert s.get("ui.theme") == "dark"
    assert any("newer desk" in p for p in s.problems)
    s.set("ui.theme", "light")
    with pytest.raises(SettingsError, match="newer desk"):
        s.save()
    assert path.read_text() == text


def test_two_writers_do_not_undo_each_other(tmp_path: Path) -> None:
    path = tmp_path / "settings.toml"
    dashboard = Settings.load(path)
    cli = Settings.load(path)
    cli.set("alerts.sound", True)
    cli.save()
    dashboard.set("ui.theme", "dark")
    dashboard.save()
    final = Settings.load(path)
    assert final.get("alerts.sound") is True
    assert final.get("ui.theme") == "dark"
    assert dashboard.get("alerts.sound") is True  # the saver sees the other's change too


def test_accounts_round_trip_and_validation(tmp_path: Path) -> None:
    path = tmp_path / "settings.toml"
    s = Settings.load(path)
    s.put_account(AccountConfig(name="main", venue="binance", sandbox=True))
    s.put_account(AccountConfig(name="hl", venue="hyperliquid", wallet_address="0xabc", api_url="http://127.0.0.1:9"))
    s.save()
    loaded = Settings.load(path).accounts()
    assert loaded["main"] == AccountConfig(name="main", venue="binance", sandbox=True)
    assert loaded["hl"].api_url == "http://127.0.0.1:9"
    with pytest.raises(SettingsError, match="account name"):
        AccountConfig(name="a/b", venue="binance")
    with pytest.raises(SettingsError, match="venue"):
        AccountConfig(name="x", venue="")
    s.remove_account("hl")
    s.save()
    assert set(Settings.load(path).accounts()) == {"main"}
    with pytest.raises(SettingsError, match="no account named"):
        s.remove_account("ghost")


def test_secret_in_account_table_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "settings.toml"
    path.write_text('schema_version = 2\n[accounts.main]\nvenue = "binance"\nsecret = "fake-not-real"\n')
    s = Settings.load(path)
    assert any("keyring" in p and "secret" in p for p in s.problems)
    assert "fake-not-real" not in " ".join(s.problems)


def test_overrides_per_account_and_position(tmp_path: Path) -> None:
    path = tmp_path / "settings.toml"
    s = Settings.load(path)
    s.put_account(AccountConfig(name="main", venue="binance"))
    s.set_override("main", "alerts.distance_warning", 0.2)
    s.set_override("main/BTC/USDT:USDT", "distance_critical", "0.08")  # short key, CLI text
    s.save()
    again = Settings.load(path)
    assert again.overrides("main") == {"alerts.distance_warning": 0.2}
    assert again.overrides("main/BTC/USDT:USDT") == {"alerts.distance_critical": 0.08}
    assert again.overrides("other") == {}
    with pytest.raises(SettingsError, match="only alerts"):
        again.set_override("main", "ui.theme", "dark")
    with pytest.raises(SettingsError, match=r"alerts\.distance_warning"):
        again.set_override("main", "alerts.distance_warning", 5)
    with pytest.raises(SettingsError, match="scope"):
        again.set_override("/BTC", "alerts.sound", True)
    again.clear_override("main/BTC/USDT:USDT", "alerts.distance_critical")
    again.save()
    assert "main/BTC/USDT:USDT" not in tomllib.loads(path.read_text()).get("overrides", {})
    again.remove_account("main")  # removes its overrides too
    again.save()
    assert Settings.load(path).overrides("main") == {}
