"""A private D-Bus session, a real notification server (dunst) and dbus-monitor, for tests.

Use the fixtures from a conftest: ``from tests.support.dbus import dbus_session,
notification_server, notify_monitor  # noqa: F401``.

* ``dbus_session`` — a ``dbus-daemon`` of our own (no service activation, so nothing starts
  behind the test's back); ``DBUS_SESSION_BUS_ADDRESS`` points at it for the test.
* ``notification_server`` — dunst on that bus (needs an X display: pytest-xvfb provides one).
* ``notify_monitor`` — dbus-monitor capturing every ``Notify`` call and the server's replies.

The binaries are installed by the bootstrap; a missing one fails with a clear message.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:dir={dir}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"""


def require(binary: str) -> str:
    path = shutil.which(binary)
    if path is None:
        pytest.fail(f"{binary} is not installed; run packaging/bootstrap.sh (it installs dbus and dunst)")
    return path


def wait_for(predicate: Callable[[], bool], timeout: float, what: str, interval: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout:g} s waiting for {what}")


def _stop(proc: subprocess.Popen[str] | subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


@dataclass
class PrivateBus:
    address: str
    process: subprocess.Popen[str]

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["DBUS_SESSION_BUS_ADDRESS"] = self.address
        return env

    def name_has_owner(self, name: str) -> bool:
        from jeepney.bus_messages import message_bus
        from jeepney.io.blocking import open_dbus_connection

        with open_dbus_connection(bus=self.address) as conn:
            reply = conn.send_and_get_reply(message_bus.NameHasOwner(name), timeout=2)
            return bool(reply.body[0])


def start_private_bus(directory: Path) -> PrivateBus:
    daemon = require("dbus-daemon")
    directory.mkdir(parents=True, exist_ok=True)
    config = directory / "bus.conf"
    config.write_text(BUS_CONFIG.format(dir=directory))
    proc = subprocess.Popen(
        [daemon, f"--config-file={config}", "--nofork", "--print-address=1"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    assert proc.stdout is not None
    address = proc.stdout.readline().strip()  # printed once the bus is listening
    if not address:
        _stop(proc)
        pytest.fail("dbus-daemon did not print its address")
    return PrivateBus(address, proc)


@pytest.fixture
def dbus_session(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[PrivateBus]:
    bus = start_private_bus(tmp_path_factory.mktemp("dbus"))
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", bus.address)
    try:
        yield bus
    finally:
        _stop(bus.process)


@dataclass
class Dunst:
    bus: PrivateBus
    process: subprocess.Popen[bytes]

    def ctl(self, *args: str) -> str:
        done = subprocess.run(
            [require("dunstctl"), *args], env=self.bus.env(), capture_output=True, text=True, timeout=10,
            check=False,
        )
        if done.returncode != 0:
            pytest.fail(f"dunstctl {' '.join(args)} failed: {done.stderr.strip()}")
        return done.stdout.strip()

    def count_displayed(self) -> int:
        return int(self.ctl("count", "displayed"))

    def history(self) -> list[dict[str, object]]:
        """Closed notifications, newest first (dunstctl history), as plain dicts of values."""
        raw = json.loads(self.ctl("history"))
        return [{k: v.get("data") for k, v in n.items()} for n in raw["data"][0]]


@contextlib.contextmanager
def dunst_on(bus: PrivateBus, directory: Path, extra: str = "") -> Iterator[Dunst]:
    """Run dunst on ``bus`` until the block ends (needs an X display); ``extra``: more [global]
    lines for its configuration (e.g. the ``dmenu`` that picks from a notification's actions)."""
    if not os.environ.get("DISPLAY"):
        pytest.fail("dunst needs an X display: run pytest with pytest-xvfb (DISPLAY unset) or under xvfb-run")
    config = directory / "dunstrc"
    config.write_text("[global]\n    sticky_history = yes\n    history_length = 50\n" + extra)
    proc = subprocess.Popen(
        [require("dunst"), "-config", str(config)], env=bus.env(),
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    try:
        name = "org.freedesktop.Notifications"
        started = lambda: proc.poll() is not None or bus.name_has_owner(name)  # noqa: E731
        wait_for(started, 10, f"dunst to own {name}")
        if proc.poll() is not None:
            err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
            pytest.fail(f"dunst exited with {proc.returncode}: {err.strip()}")
        yield Dunst(bus, proc)
    finally:
        _stop(proc)
        if proc.stderr:
            proc.stderr.close()


@pytest.fixture
def notification_server(dbus_session: PrivateBus, tmp_path: Path) -> Iterator[Dunst]:
    with dunst_on(dbus_session, tmp_path) as dunst:
        yield dunst


@dataclass
class NotifyMonitor:
    path: Path

    def text(self) -> str:
        return self.path.read_text(errors="replace")

    def wait_for(self, needle: str, timeout: float = 5.0) -> str:
        wait_for(lambda: needle in self.text(), timeout, f"{needle!r} in the dbus-monitor capture")
        return self.text()


@pytest.fixture
def notify_monitor(dbus_session: PrivateBus, tmp_path: Path) -> Iterator[NotifyMonitor]:
    log = tmp_path / "dbus-monitor.log"
    out = log.open("w")
    proc = subprocess.Popen(
        [require("dbus-monitor"), "--address", dbus_session.address,
         "type=method_call,interface=org.freedesktop.Notifications,member=Notify",
         "type=method_return,sender=org.freedesktop.Notifications"],
        stdout=out, stderr=subprocess.STDOUT,
    )
    try:
        # dbus-monitor prints the NameLost signal the bus sends when it becomes a monitor (its
        # match rules installed at the same moment): from then on nothing sent is missed
        wait_for(lambda: proc.poll() is not None or "member=NameLost" in log.read_text(), 60,
                 "dbus-monitor to become a monitor")
        if proc.poll() is not None:
            pytest.fail(f"dbus-monitor exited: {log.read_text()}")
        yield NotifyMonitor(log)
    finally:
        _stop(proc)
        out.close()
