"""Closing the window: to the tray when a tray host exists, else ask and quit. Each case runs in
its own process on the test X display, because Qt remembers whether a tray exists."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from desk.ui.levels import Level
from desk.ui.tray import draw_status_pixmap

PROBE = Path(__file__).with_name("tray_probe.py")
ROOT = Path(__file__).resolve().parents[2]


def probe(env: dict[str, str], answer: str = "no") -> dict[str, object]:
    env = {**env, "PYTHONPATH": str(ROOT)}
    env.pop("QT_QPA_PLATFORM", None)  # the real X display (xcb)
    done = subprocess.run([sys.executable, str(PROBE), answer], env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def tray_seen(env: dict[str, str]) -> bool:
    """Whether a fresh Qt process on this display finds a system tray (as the probe will)."""
    env = {**env, "PYTHONPATH": str(ROOT)}
    env.pop("QT_QPA_PLATFORM", None)
    check = ("from PySide6.QtWidgets import QApplication, QSystemTrayIcon; app = QApplication([]); "
             "print(QSystemTrayIcon.isSystemTrayAvailable())")
    done = subprocess.run([sys.executable, "-c", check], env=env, capture_output=True, text=True, timeout=60)
    return done.stdout.strip().endswith("True")


@pytest.fixture
def x_env(subprocess_env: dict[str, str]) -> dict[str, str]:
    if not os.environ.get("DISPLAY"):
        pytest.fail("no X display: run under pytest-xvfb (DISPLAY unset) or xvfb-run")
    return subprocess_env


@pytest.fixture
def tray_host(x_env: dict[str, str]) -> Iterator[None]:
    if shutil.which("trayer") is None:
        pytest.fail("trayer is not installed (apt-get install trayer): it provides the tray host")
    proc = subprocess.Popen(["trayer", "--edge", "bottom", "--align", "right"], env=x_env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        # ready when Qt itself sees a tray host (trayer owns the tray selection), not after a pause
        deadline = time.monotonic() + 60  # a hang guard only
        while not tray_seen(x_env):
            assert proc.poll() is None, "trayer exited"
            assert time.monotonic() < deadline, "trayer never became the tray host"
        yield
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.mark.integration
def test_without_a_tray_closing_asks_and_no_keeps_the_window(x_env) -> None:  # type: ignore[no-untyped-def]
    result = probe(x_env, "no")
    assert result["tray_available"] is False
    assert len(result["asked"]) == 1 and "Quit desk?" in result["asked"][0]  # type: ignore[arg-type,index]
    assert result["quit"] is False
    assert result["window_visible_after_close"] is True


@pytest.mark.integration
def test_without_a_tray_closing_asks_and_yes_quits(x_env) -> None:  # type: ignore[no-untyped-def]
    result = probe(x_env, "yes")
    assert result["tray_available"] is False
    assert result["quit"] is True


@pytest.mark.integration
def test_with_a_tray_closing_hides_to_the_tray(x_env, tray_host) -> None:  # type: ignore[no-untyped-def]
    result = probe(x_env)
    assert result["tray_available"] is True
    assert result["tray_icon_visible"] is True
    assert result["asked"] == []
    assert result["quit"] is False
    assert result["window_visible_after_close"] is False


def test_drawn_status_icons_differ_per_level(qtbot) -> None:  # type: ignore[no-untyped-def]
    images = {level: draw_status_pixmap(level, 32).toImage() for level in (*Level, None)}
    distinct = {bytes(img.constBits()) for img in images.values()}  # type: ignore[call-overload]
    assert len(distinct) == len(images)


def test_tray_notifier_hands_alerts_to_the_gui_thread(qtbot) -> None:  # type: ignore[no-untyped-def]
    import threading

    from desk.domain.alerts import Alert, AlertLevel
    from desk.notify.base import Notifier
    from desk.ui.tray import Tray, TrayNotifier

    tray = Tray()
    notifier = TrayNotifier(tray)
    assert isinstance(notifier, Notifier)  # the alerts helper's protocol
    alert = Alert(at=0.0, rule="distance", level=AlertLevel.CRITICAL, title="SOL 2 % from liquidation",
                  body="demo-bybit-isolated")
    if not tray.available:  # bare X display: the chain must move on to the next channel
        assert notifier.available() is False
        with pytest.raises(RuntimeError):
            notifier.send(alert)
    notifier.set_available(True)
    details: list[str] = []
    worker = threading.Thread(target=lambda: details.append(notifier.send(alert)))
    worker.start()
    worker.join(5)
    assert details == ["balloon"]  # returned at once, on the delivery thread
    qtbot.waitUntil(lambda: notifier.shown == [("SOL 2 % from liquidation", "demo-bybit-isolated")],
                    timeout=2000)
