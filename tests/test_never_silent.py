"""Never silent, never lost — through the real `desk` entry point (subprocesses).

Every command writes desk.log; an unexpected error is one line on stderr naming the log (the
traceback is in the log, redacted); a reader that stops early ends the command quietly; a key a
venue echoes back never reaches the screen; names cannot drive the terminal.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.fake_exchange import FakeExchange
from tests.fake_exchange.server import Fault
from tests.services.test_watch import Watch
from tests.support.file_keyring import BACKEND as FILE_KEYRING

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "docs" / "examples" / "multi-venue.json"
ESC, BEL = "\x1b", "\x07"


def desk(env: dict[str, str], *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "desk", *args], cwd=ROOT, env=env, input=stdin,
                          capture_output=True, text=True, timeout=60, check=False)


def wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.1)


def log_lines(home: Path) -> list[str]:
    path = home / "logs" / "desk.log"
    return path.read_text(encoding="utf-8").splitlines() if path.exists() else []


# --- 1. desk.log is written by every entry point ----------------------------------------------

ENTRY_POINTS = [
    (("risk", str(EXAMPLE)), "risk", 0),
    (("snapshot", "--demo", "--seed", "1", "-o", "{tmp}/snap.json"), "snapshot", 0),
    (("accounts", "list"), "accounts list", 0),
    (("export", "alerts", "--format", "json"), "export alerts", 0),
    (("config", "show"), "config show", 0),
    (("config", "set", "ui.theme", "no-such-theme"), "config set", 2),
    (("watch",), "watch", 2),  # no account configured: refused, and the log says so
    (("--scenario", "calm"), "dashboard", 2),  # the dashboard's entry, refused before Qt starts
]


@pytest.mark.parametrize(("args", "name", "code"), ENTRY_POINTS, ids=[e[1] for e in ENTRY_POINTS])
def test_every_entry_point_writes_desk_log(subprocess_env, desk_home: Path, tmp_path: Path,
                                          args: tuple[str, ...], name: str, code: int) -> None:
    before = len(log_lines(desk_home))
    done = desk(subprocess_env, *(a.format(tmp=tmp_path) for a in args))
    assert done.returncode == code, done.stderr
    new = log_lines(desk_home)[before:]
    assert any(f"{name} started" in line for line in new), new
    assert any(f"{name} ended with exit code {code}" in line for line in new), new
    assert "Traceback" not in done.stderr


def test_watch_logs_to_desk_log_while_running(subprocess_env, desk_home: Path) -> None:
    w = Watch(subprocess_env, "--demo", "--speed", "5", "--seed", "3", "--json-lines")
    try:
        w.read_until(lambda line: '"type":"snapshot"' in line)
    finally:
        code, _, err = w.stop(signal.SIGINT)
    assert code == 0 and "Traceback" not in err
    text = "\n".join(log_lines(desk_home))
    assert "watch started" in text and "watch ended with exit code 0" in text
    assert "-> live" in text  # the monitor's own status lines reach the file, not the terminal


# --- 7. no traceback reaches a user ---------------------------------------------------------

def _configure_account(env: dict[str, str], name: str = "main", api_url: str = "http://127.0.0.1:9") -> None:
    """A binance account in the settings (written directly: `accounts add` would need a keyring
    that works, and these tests give the subprocess one that does not)."""
    from desk.store.settings import AccountConfig, Settings

    settings = Settings.load()
    settings.put_account(AccountConfig(name=name, venue="binanceusdm", api_url=api_url))
    settings.save()


def test_an_unexpected_error_is_one_line_and_its_traceback_is_in_desk_log(subprocess_env,
                                                                          desk_home: Path) -> None:
    _configure_account(subprocess_env)
    env = dict(subprocess_env, PYTHON_KEYRING_BACKEND="tests.support.file_keyring.ExplodingKeyring")
    done = desk(env, "accounts", "test", "main")
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "internal error (RuntimeError: backend bug while reading main:apiKey)" in lines[0]
    assert str(desk_home / "logs" / "desk.log") in lines[0]
    text = "\n".join(log_lines(desk_home))
    assert "Traceback (most recent call last)" in text and "RuntimeError: backend bug" in text
    assert "accounts test ended with exit code 1" in text


@pytest.mark.parametrize("args", [("export", "alerts", "--format", "json"), ("export", "history"),
                                  ("snapshot", "--demo", "--seed", "1"), ("risk", str(EXAMPLE))],
                         ids=["export-alerts", "export-history", "snapshot", "risk"])
def test_a_reader_that_stops_early_ends_the_command_quietly(subprocess_env, desk_home: Path,
                                                             args: tuple[str, ...]) -> None:
    """`desk export … | head`: the reader is gone before desk writes (deterministically: the
    read end is closed before the process starts)."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        proc = subprocess.Popen([sys.executable, "-m", "desk", *args], cwd=ROOT, env=subprocess_env,
                                stdout=write_end, stderr=subprocess.PIPE, text=True)
    finally:
        os.close(write_end)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "BrokenPipe" not in err and "Traceback" not in err and "internal error" not in err
    assert "Exception ignored" not in err
    assert any("output pipe was closed" in line for line in log_lines(desk_home))


@pytest.mark.parametrize("backend", ["no_such_keyring_package.Keyring",
                                     "keyring.backends.NoSuchBackend.Keyring",
                                     "keyring.backends.fail.NoSuchClass"])
def test_an_unloadable_keyring_backend_is_a_named_error(subprocess_env, backend: str) -> None:
    _configure_account(subprocess_env)
    env = dict(subprocess_env, PYTHON_KEYRING_BACKEND=backend)
    done = desk(env, "accounts", "test", "main")
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and "internal error" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert f"PYTHON_KEYRING_BACKEND='{backend}' cannot be loaded" in done.stderr
    assert "install the package that provides it" in done.stderr
    listed = desk(env, "accounts", "list")
    assert listed.returncode == 0, listed.stderr
    assert "keyring: unavailable" in listed.stdout and "cannot be loaded" in listed.stdout
    assert "keyring unavailable" in listed.stdout  # the account's key status


# --- 8. a key echoed by the venue never reaches the screen ---------------------------------

@pytest.fixture
def echoing_venue(subprocess_env, tmp_path: Path):
    """A fake Binance that answers the signed reads with an error body echoing their headers, and an
    account `main` on it whose keys are in a keyring the subprocesses can read."""
    api_key = "test-key-" + secrets.token_hex(8)
    secret = "test-secret-" + secrets.token_hex(16)
    env = dict(subprocess_env, PYTHON_KEYRING_BACKEND=FILE_KEYRING,
               DESK_TEST_KEYRING=str(tmp_path / "keyring.json"))
    server = FakeExchange(("binance",))
    server.add_key(api_key, secret)
    with server.running() as running:
        added = desk(env, "accounts", "add", "main", "--venue", "binanceusdm", "--api-url", running.url,
                     "--secrets-from-stdin", stdin=f"{api_key}\n{secret}\n")
        assert added.returncode == 0, added.stderr
        # the signed reads (they carry X-MBX-APIKEY); public market data still answers
        running.inject(Fault("echo_headers", path="/fapi/v3/*", status=401))
        yield env, running, api_key, secret


def _assert_no_key(api_key: str, secret: str, *texts: str) -> None:
    for text in texts:
        assert api_key not in text and secret not in text


def test_accounts_test_never_prints_an_echoed_key(echoing_venue, desk_home: Path) -> None:
    env, server, api_key, secret = echoing_venue
    done = desk(env, "accounts", "test", "main")
    assert done.returncode == 3, done.stderr
    assert "FAILED [auth]" in done.stderr and "rejected the API key" in done.stderr
    assert '"X-MBX-APIKEY": "***"' in done.stderr  # the echo is there, masked
    assert any(r.headers.get("X-MBX-APIKEY") == api_key for r in server.requests)  # it was really sent
    _assert_no_key(api_key, secret, done.stdout, done.stderr, "\n".join(log_lines(desk_home)))


def test_snapshot_never_prints_an_echoed_key(echoing_venue, tmp_path: Path) -> None:
    env, _, api_key, secret = echoing_venue
    done = desk(env, "snapshot", "--account", "main", "-o", str(tmp_path / "out.json"))
    assert done.returncode == 3, done.stderr
    assert "cannot read main: [auth]" in done.stderr and "X-MBX-APIKEY" in done.stderr
    _assert_no_key(api_key, secret, done.stdout, done.stderr)


def test_watch_json_lines_never_print_an_echoed_key(echoing_venue, desk_home: Path) -> None:
    env, _, api_key, secret = echoing_venue
    w = Watch(env, "--account", "main", "--json-lines", "--no-alerts")
    try:
        line = w.read_until(lambda line: '"type":"status"' in line and '"new":"error"' in line)
    finally:
        code, rest, err = w.stop(signal.SIGINT)
    assert code == 0, err
    assert "X-MBX-APIKEY" in json.loads(line)["reason"]
    _assert_no_key(api_key, secret, "\n".join(w.lines), rest, err, "\n".join(log_lines(desk_home)))


def test_watch_table_never_prints_an_echoed_key(echoing_venue) -> None:
    env, _, api_key, secret = echoing_venue
    w = Watch(env, "--account", "main", "--no-alerts")
    try:
        w.read_until(lambda line: "main:" in line and "→ error" in line)
    finally:
        code, rest, err = w.stop(signal.SIGINT)
    assert code == 0, err
    _assert_no_key(api_key, secret, "\n".join(w.lines), rest, err)


def test_an_html_error_page_is_one_line(subprocess_env, tmp_path: Path) -> None:
    env = dict(subprocess_env, PYTHON_KEYRING_BACKEND=FILE_KEYRING,
               DESK_TEST_KEYRING=str(tmp_path / "k.json"))
    server = FakeExchange(("binance",))
    server.add_key("test-key-html", "test-secret-html")
    page = ("<!DOCTYPE html>\n<html>\n<head><title>502 Bad Gateway</title>\n<style>body{color:red}</style>"
            "</head>\n<body>\n<center><h1>502 Bad Gateway</h1></center>\n<hr><center>nginx</center>\n"
            "</body>\n</html>\n" + "<!-- padding -->\n" * 50)
    with server.running() as running:
        assert desk(env, "accounts", "add", "main", "--venue", "binanceusdm", "--api-url", running.url,
                    "--secrets-from-stdin", stdin="test-key-html\ntest-secret-html\n").returncode == 0
        running.inject(Fault("html", status=502, body=page))
        done = desk(env, "accounts", "test", "main")
    assert done.returncode == 3, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("FAILED [exchange_down]") and "502 Bad Gateway" in lines[0]
    assert "<" not in lines[0] and "color:red" not in lines[0] and len(lines[0]) < 800


# --- 9. names cannot drive the terminal -------------------------------------------------------

def test_risk_escapes_control_characters_in_names(subprocess_env, tmp_path: Path) -> None:
    doc = json.loads(EXAMPLE.read_text())
    doc["accounts"][0]["name"] = f"evil{ESC}]0;pwned{BEL}{ESC}[2J"
    doc["accounts"][0]["positions"][0]["symbol"] = f"BTC/USDT:USDT{ESC}[1A"
    path = tmp_path / "hostile.json"
    path.write_text(json.dumps(doc))
    done = desk(subprocess_env, "risk", str(path))
    assert ESC not in done.stdout + done.stderr and BEL not in done.stdout + done.stderr
    if done.returncode == 0:
        assert "evil\\x1b]0;pwned\\x07\\x1b[2J" in done.stdout
        assert "BTC/USDT:USDT\\x1b[1A" in done.stdout
    else:  # a stricter file check may refuse the name: then the message quotes it escaped
        assert done.returncode == 2 and "\\x1b" in done.stderr


def test_error_messages_quote_a_short_escaped_prefix(subprocess_env) -> None:
    hostile = f"{ESC}]0;pwned{BEL}" + "x" * 5000
    for args in (("watch", "--demo", "--scenario", hostile), ("snapshot", "--demo", "--scenario", hostile),
                 ("accounts", "test", hostile), ("export", "alerts", "--from", hostile)):
        done = desk(subprocess_env, *args)
        assert done.returncode == 2, (args, done.stderr)
        assert ESC not in done.stderr and BEL not in done.stderr
        assert "\\x1b]0;pwned\\x07" in done.stderr
        assert len(done.stderr) < 600, (args, len(done.stderr))


def test_the_dashboard_writes_desk_log(subprocess_env, desk_home: Path, tmp_path: Path) -> None:
    """`desk --demo` (offscreen Qt): started, the monitor's status lines, and a clean end on SIGTERM."""
    report = tmp_path / "report.json"
    env = dict(subprocess_env, DESK_TEST_REPORT=str(report))
    (desk_home / "config").mkdir(parents=True, exist_ok=True)
    (desk_home / "config" / "settings.toml").write_text("schema_version = 2\n[alerts]\ndesktop = false\n")
    proc = subprocess.Popen([sys.executable, "-m", "desk", "--demo", "--seed", "3"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_until(lambda: report.exists() or proc.poll() is not None, 60, "the dashboard's first numbers")
        assert proc.poll() is None, proc.communicate()
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    text = "\n".join(log_lines(desk_home))
    assert "dashboard started" in text and "-> live" in text
    assert "dashboard ended with exit code 0" in text


def test_an_exception_nobody_caught_is_logged_and_one_line(desk_home: Path, capsys) -> None:
    """What Qt does with an exception raised in a slot: it calls sys.excepthook."""
    from desk.store.logs import setup_logging

    path = setup_logging("info", max_megabytes=1, backups=1)
    try:
        raise LookupError(f"slot failed {ESC}[2J")
    except LookupError as exc:
        sys.excepthook(type(exc), exc, exc.__traceback__)
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "internal error (LookupError: slot failed \\x1b[2J)" in err
    assert str(path) in err and ESC not in err
    text = path.read_text()
    assert "uncaught exception" in text and "Traceback" in text and "LookupError: slot failed" in text
