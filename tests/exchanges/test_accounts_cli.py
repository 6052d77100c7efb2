"""`desk accounts …` in-process, with the in-memory keyring and the fake exchange."""

from __future__ import annotations

import io

import keyring
import pytest
from keyring.backends import fail, null

from desk.cli import main
from desk.store import secrets
from desk.store.paths import desk_paths


def _add(monkeypatch, *argv: str, stdin: str = "") -> int:
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    return main(["accounts", "add", *argv])


def test_add_list_remove_keeps_secrets_in_the_keyring_only(monkeypatch, capsys, memory_keyring, keys):
    rc = _add(monkeypatch, "main", "--venue", "binanceusdm", "--label", "Main", "--secrets-from-stdin",
              stdin=f"{keys.api_key}\n{keys.secret}\n")
    assert rc == 0, capsys.readouterr()
    assert memory_keyring.items == {("desk", "main:apiKey"): keys.api_key,
                                    ("desk", "main:secret"): keys.secret}
    settings_text = desk_paths().settings_file.read_text()
    assert "binanceusdm" in settings_text and keys.secret not in settings_text
    assert keys.api_key not in settings_text
    capsys.readouterr()

    assert main(["accounts", "list"]) == 0
    out = capsys.readouterr().out
    assert "main" in out and "binanceusdm" in out and "stored" in out and "MemoryKeyring" in out
    assert keys.secret not in out and keys.api_key not in out

    assert main(["accounts", "remove", "main"]) == 0
    assert memory_keyring.items == {}
    assert "main" not in main_accounts()


def main_accounts() -> dict:
    from desk.store.settings import Settings

    return Settings.load().accounts()


@pytest.mark.parametrize("backend", [fail.Keyring(), null.Keyring()])
def test_add_refuses_an_insecure_keyring(monkeypatch, capsys, backend, keys):
    keyring.set_keyring(backend)
    rc = _add(monkeypatch, "main", "--venue", "bybit", "--secrets-from-stdin",
              stdin=f"{keys.api_key}\n{keys.secret}\n")
    err = capsys.readouterr().err
    assert rc == 2
    assert "cannot store API keys safely" in err and "gnome-keyring" in err
    assert keys.secret not in err
    assert not desk_paths().settings_file.exists() or "bybit" not in desk_paths().settings_file.read_text()


def test_plaintext_and_chained_plaintext_backends_are_insecure():
    class PlaintextKeyring:  # shaped like keyrings.alt.file.PlaintextKeyring
        pass

    PlaintextKeyring.__module__ = "keyrings.alt.file"

    class ChainerBackend:
        def __init__(self, backends):
            self.backends = backends

    assert "plaintext" in secrets.insecurity(PlaintextKeyring())
    assert "plaintext" in secrets.insecurity(ChainerBackend([PlaintextKeyring()]))
    assert secrets.insecurity(ChainerBackend([])) is not None
    assert secrets.insecurity(fail.Keyring()) is not None


def test_add_with_too_few_stdin_lines_is_a_clear_error(monkeypatch, capsys, memory_keyring):
    rc = _add(monkeypatch, "x", "--venue", "okx", "--secrets-from-stdin", stdin="test-key\ntest-secret\n")
    assert rc == 2 and "expects 3" in capsys.readouterr().err and memory_keyring.items == {}


def test_add_unknown_venue_and_bad_wallet(monkeypatch, capsys):
    assert _add(monkeypatch, "x", "--venue", "binanse", "--secrets-from-stdin") == 2
    assert "unknown venue 'binanse'" in capsys.readouterr().err
    assert _add(monkeypatch, "hl", "--venue", "hyperliquid") == 2
    assert "--wallet-address" in capsys.readouterr().err


def test_hyperliquid_needs_no_key(monkeypatch, capsys, memory_keyring):
    assert _add(monkeypatch, "hl", "--venue", "hyperliquid", "--wallet-address", "0x" + "5e11" * 10) == 0
    assert memory_keyring.items == {}
    assert "no key needed" in capsys.readouterr().out


def test_accounts_test_reads_and_warns_about_trading_keys(monkeypatch, capsys, fake, keys):
    fake.keys[keys.api_key].can_trade = True
    fake.keys[keys.api_key].can_withdraw = True
    assert _add(monkeypatch, "main", "--venue", "binanceusdm", "--api-url", fake.url, "--secrets-from-stdin",
                stdin=f"{keys.api_key}\n{keys.secret}\n") == 0
    capsys.readouterr()
    assert main(["accounts", "test", "main"]) == 0
    captured = capsys.readouterr()
    assert "read access works — 2 open position(s)" in captured.out
    assert "ETH/USDT:USDT" in captured.out and "venue liq. 1153.3" in captured.out
    assert "can WITHDRAW" in captured.err and "can TRADE" in captured.err
    assert "GET /sapi/v1/account/apiRestrictions" in fake.paths()
    assert keys.secret not in captured.out + captured.err


def test_accounts_test_read_only_bybit_key(monkeypatch, capsys, fake, keys):
    assert _add(monkeypatch, "bb", "--venue", "bybit", "--api-url", fake.url, "--secrets-from-stdin",
                stdin=f"{keys.api_key}\n{keys.secret}\n") == 0
    capsys.readouterr()
    assert main(["accounts", "test", "bb"]) == 0
    out = capsys.readouterr().out
    assert "key permissions: read-only (GET /v5/user/query-api)" in out


def test_accounts_test_reports_a_revoked_key(monkeypatch, capsys, fake, keys):
    assert _add(monkeypatch, "main", "--venue", "binanceusdm", "--api-url", fake.url, "--secrets-from-stdin",
                stdin=f"{keys.api_key}\n{keys.secret}\n") == 0
    fake.revoke(keys.api_key)
    capsys.readouterr()
    assert main(["accounts", "test", "main"]) == 3
    err = capsys.readouterr().err
    assert "FAILED [auth]" in err and "rejected the API key" in err


def test_test_and_remove_of_unknown_account(capsys):
    assert main(["accounts", "test", "nope"]) == 2
    assert "no account named 'nope'" in capsys.readouterr().err
    assert main(["accounts", "remove", "nope"]) == 2
