"""The fallback chain, the user's channel choices, sound and console output."""

from __future__ import annotations

import io
import os
import stat
from pathlib import Path

import pytest

from desk.domain.alerts import Alert, AlertLevel
from desk.notify.base import DeliveryChain, Notifier, NotifyError
from desk.notify.console import ConsoleNotifier, format_alert
from desk.notify.sound import SoundNotifier

CRIT = Alert(at=1_800_000_000.0, rule="stale", level=AlertLevel.CRITICAL, title="Cannot monitor main",
             body="line one\nline two", account="main")
WARN = Alert(at=1_800_000_000.0, rule="distance", level=AlertLevel.WARNING, title="near", body="b")


class Channel:
    """A scripted channel for the chain's own logic (the real channels have their own tests)."""

    def __init__(self, channel: str, *, up: bool = True, fail: Exception | None = None):
        self.channel, self.up, self.fail = channel, up, fail
        self.sent: list[Alert] = []

    def available(self) -> bool:
        return self.up

    def send(self, alert: Alert) -> str:
        if self.fail:
            raise self.fail
        self.sent.append(alert)
        return f"{self.channel} ok"


def test_channels_satisfy_the_protocol() -> None:
    assert isinstance(Channel("x"), Notifier)
    assert isinstance(ConsoleNotifier(), Notifier)
    assert isinstance(SoundNotifier(), Notifier)


def test_primary_channels_fall_back_in_order_and_stop_at_the_first_delivery() -> None:
    dbus = Channel("dbus", fail=NotifyError("Notify refused"))
    tray, spare = Channel("tray"), Channel("spare")
    webhook = Channel("webhook", fail=RuntimeError("boom"))
    attempts = DeliveryChain([dbus, tray, spare], [webhook]).deliver(CRIT)
    assert [(a.channel, a.delivered, a.detail) for a in attempts] == [
        ("dbus", False, "Notify refused"),
        ("tray", True, "tray ok"),
        ("webhook", False, "RuntimeError: boom"),
    ]
    assert tray.sent == [CRIT] and spare.sent == []


def test_an_unavailable_channel_is_logged_and_skipped() -> None:
    attempts = DeliveryChain([Channel("dbus", up=False), Channel("tray")]).deliver(WARN)
    assert [(a.channel, a.delivered) for a in attempts] == [("dbus", False), ("tray", True)]


def _player(tmp_path: Path, exit_code: int = 0) -> tuple[str, Path]:
    record = tmp_path / "played.txt"
    script = tmp_path / "player"
    script.write_text(f"#!/bin/sh\necho \"$@\" >> {record}\necho 'no sound card' >&2\nexit {exit_code}\n")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return str(script), record


def test_sound_plays_for_critical_only(tmp_path: Path) -> None:
    player, record = _player(tmp_path)
    sound_file = tmp_path / "alarm.oga"
    sound_file.write_bytes(b"OggS")
    sound = SoundNotifier(player=player, sound_file=str(sound_file))
    attempts = DeliveryChain(extras=[sound]).deliver(CRIT)
    assert [(a.channel, a.delivered, a.detail) for a in attempts] == [("sound", True, "player alarm.oga")]
    assert record.read_text().strip() == str(sound_file)
    assert DeliveryChain(extras=[sound]).deliver(WARN) == []


def test_sound_failure_is_reported(tmp_path: Path) -> None:
    player, _ = _player(tmp_path, exit_code=3)
    sound = SoundNotifier(player=player, sound_file=os.devnull)
    with pytest.raises(NotifyError, match="player exited 3: no sound card"):
        sound.send(CRIT)


def test_terminal_bell_when_no_player(tmp_path: Path) -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    tty = Tty()
    sound = SoundNotifier(players=(), sounds=(), bell_stream=tty)
    assert sound.available() and sound.send(CRIT) == "terminal bell" and tty.getvalue() == "\a"
    assert not SoundNotifier(players=(), sounds=(), bell_stream=io.StringIO()).available()


def test_console_prints_a_readable_block() -> None:
    out = io.StringIO()
    assert ConsoleNotifier(out).send(CRIT) == "printed"
    lines = out.getvalue().splitlines()
    assert "ALERT CRITICAL Cannot monitor main" in lines[0]
    assert lines[1:] == ["    line one", "    line two"]
    assert "(muted: snoozed)" in format_alert(WARN, muted="snoozed")
