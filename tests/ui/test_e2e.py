"""`desk --demo` as a real process on the test X display: the window, the filled table, a single
instance, a clean quit."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from desk.exchanges.demo import DEMO_ACCOUNTS, demo_portfolio

TITLE = "desk — risk dashboard [DEMO]"


def wait_for(predicate, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    pytest.fail(f"timed out after {timeout:g} s waiting for {what}")


@pytest.fixture
def desk_env(subprocess_env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    if not os.environ.get("DISPLAY"):
        pytest.fail("no X display: run under pytest-xvfb (DISPLAY unset) or xvfb-run")
    env = dict(subprocess_env)
    env.pop("QT_QPA_PLATFORM", None)  # the real window on the X display
    env["DESK_TEST_REPORT"] = str(tmp_path / "report.json")
    home = Path(env["DESK_HOME"])
    (home / "config").mkdir(parents=True, exist_ok=True)
    # No desktop popups from this test's alerts (the notification tests cover delivery).
    (home / "config" / "settings.toml").write_text("schema_version = 2\n[alerts]\ndesktop = false\n")
    return env


def desk_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "desk", *args]


@pytest.fixture
def running_desk(desk_env: dict[str, str]) -> Iterator[subprocess.Popen[str]]:
    proc = subprocess.Popen(desk_command("--demo", "--seed", "3"), env=desk_env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=10)


@pytest.mark.integration
def test_desk_demo_opens_the_window_and_fills_the_table(running_desk, desk_env) -> None:  # type: ignore[no-untyped-def]
    report_path = Path(desk_env["DESK_TEST_REPORT"])
    wait_for(lambda: report_path.exists() or running_desk.poll() is not None, 30, "the table to fill")
    assert running_desk.poll() is None, running_desk.stderr.read()
    report = json.loads(report_path.read_text())
    expected = demo_portfolio("calm", seed=3)
    assert report["title"] == TITLE
    assert report["demo"] is True
    assert report["rows"] == sum(len(a.positions) for a in expected.accounts)
    assert report["accounts"] == sorted(DEMO_ACCOUNTS)
    assert report["symbols"] == sorted({p.symbol for a in expected.accounts for p in a.positions})

    # The window really is on the X display, under that title.
    if shutil.which("xdotool") is None:
        pytest.fail("xdotool is not installed (apt-get install xdotool)")
    found = subprocess.run(["xdotool", "search", "--onlyvisible", "--name", "risk dashboard"], env=desk_env,
                           capture_output=True, text=True, timeout=10)
    window_ids = found.stdout.split()
    assert window_ids, found.stderr
    names = [subprocess.run(["xdotool", "getwindowname", w], env=desk_env, capture_output=True, text=True,
                            timeout=10).stdout.strip() for w in window_ids]
    assert TITLE in names

    # A second launch hands over to the first and exits.
    second = subprocess.run(desk_command("--demo"), env=desk_env, capture_output=True, text=True, timeout=30)
    assert second.returncode == 0
    assert "already running" in second.stderr
    assert running_desk.poll() is None

    # SIGTERM quits cleanly (the monitor is stopped, exit code 0).
    running_desk.send_signal(signal.SIGTERM)
    assert running_desk.wait(20) == 0


@pytest.mark.integration
def test_scenario_without_demo_is_a_clear_error(desk_env) -> None:  # type: ignore[no-untyped-def]
    done = subprocess.run(desk_command("--scenario", "flash-crash"), env=desk_env, capture_output=True,
                          text=True, timeout=30)
    assert done.returncode == 2
    assert "add --demo" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.integration
def test_unknown_scenario_names_the_choices(desk_env) -> None:  # type: ignore[no-untyped-def]
    done = subprocess.run(desk_command("--demo", "--scenario", "moon"), env=desk_env, capture_output=True,
                          text=True, timeout=30)
    assert done.returncode == 2
    assert "'moon'" in done.stderr and "flash-crash" in done.stderr


@pytest.mark.integration
def test_plain_desk_without_accounts_opens_on_the_demo_and_says_so(desk_env) -> None:  # type: ignore[no-untyped-def]
    report_path = Path(desk_env["DESK_TEST_REPORT"])
    proc = subprocess.Popen(desk_command(), env=desk_env, text=True, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        wait_for(lambda: report_path.exists() or proc.poll() is not None, 30, "the table to fill")
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        report = json.loads(report_path.read_text())
        assert report["title"] == TITLE
        assert report["accounts"] == sorted(DEMO_ACCOUNTS)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=10)
