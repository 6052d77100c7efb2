"""Test isolation for the whole suite.

Every test runs with DESK_HOME in a temporary folder (and the XDG variables pointed there
too), an in-memory keyring, and — through bootstrap.sh — inside a private D-Bus session.
Unexpected Qt warnings fail the test (pyproject: qt_log_level_fail).
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import keyring
import pytest

from tests.support.memkeyring import MemoryKeyring

ROOT = Path(__file__).resolve().parent.parent

_private_bus: subprocess.Popen[str] | None = None


def pytest_configure(config: pytest.Config) -> None:
    """Run the whole session on a private D-Bus session bus of its own.

    Whatever way pytest is started (with or without dbus-run-session), no test — nor any
    `desk` subprocess a test starts — can reach the user's desktop bus, keyring or
    notification server.
    """
    global _private_bus
    daemon = shutil.which("dbus-daemon")
    if daemon is None:
        raise pytest.UsageError("dbus-daemon is missing: install Debian's `dbus` package "
                                "(bash packaging/bootstrap.sh test does it)")
    _private_bus = subprocess.Popen([daemon, "--session", "--nofork", "--print-address=1"],
                                    stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert _private_bus.stdout is not None
    address = _private_bus.stdout.readline().strip()
    if not address:
        raise pytest.UsageError("could not start a private dbus-daemon for the tests")
    os.environ["DBUS_SESSION_BUS_ADDRESS"] = address


def pytest_unconfigure(config: pytest.Config) -> None:
    if _private_bus is not None:
        _private_bus.terminate()
        try:
            _private_bus.wait(timeout=5)
        except subprocess.TimeoutExpired:
            _private_bus.kill()


@pytest.fixture(autouse=True)
def desk_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path_factory.mktemp("desk-home")
    monkeypatch.setenv("DESK_HOME", str(home))
    for var, sub in (("XDG_CONFIG_HOME", "xdg-config"), ("XDG_DATA_HOME", "xdg-data"),
                     ("XDG_CACHE_HOME", "xdg-cache"), ("XDG_STATE_HOME", "xdg-state")):
        monkeypatch.setenv(var, str(home / sub))
    # Subprocesses get a keyring that refuses everything unless a test gives them a real one.
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    return home


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """`desk.cli.main` starts desk's log in-process: undo it after each test (handlers, hooks)."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    hooks = (sys.excepthook, threading.excepthook)
    yield
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
            handler.close()
    root.setLevel(level)
    logging.captureWarnings(False)
    sys.excepthook, threading.excepthook = hooks


@pytest.fixture(autouse=True)
def memory_keyring() -> Iterator[MemoryKeyring]:
    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    yield backend
    keyring.set_keyring(previous)


@pytest.fixture
def subprocess_env(desk_home: Path) -> dict[str, str]:
    """Environment for running `desk` as a subprocess: isolated home, no user D-Bus leaks."""
    env = dict(os.environ)
    env["DESK_HOME"] = str(desk_home)
    env.setdefault("QT_QPA_PLATFORM", "offscreen")
    return env
