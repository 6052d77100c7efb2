"""An optional alert sound (off by default): a system player with a freedesktop sound, or the
terminal bell when no player or sound file exists."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from desk.domain.alerts import Alert, AlertLevel
from desk.notify.base import NotifyError

PLAYERS = ("paplay", "pw-play", "aplay")
SOUNDS = (
    "/usr/share/sounds/freedesktop/stereo/alarm-clock-elapsed.oga",
    "/usr/share/sounds/freedesktop/stereo/dialog-warning.oga",
    "/usr/share/sounds/freedesktop/stereo/bell.oga",
    "/usr/share/sounds/alsa/Front_Center.wav",
)

_RANK = {AlertLevel.INFO: 0, AlertLevel.WARNING: 1, AlertLevel.CRITICAL: 2}


class SoundNotifier:
    channel = "sound"

    def __init__(
        self,
        *,
        min_level: AlertLevel = AlertLevel.CRITICAL,
        player: str | None = None,
        sound_file: str | None = None,
        bell_stream: TextIO | None = None,
        timeout: float = 10.0,
        players: Sequence[str] = PLAYERS,
        sounds: Sequence[str] = SOUNDS,
    ):
        self.min_level = min_level
        self.player = player or next((p for p in (shutil.which(n) for n in players) if p), None)
        self.sound_file = sound_file or next((s for s in sounds if Path(s).is_file()), None)
        if self.player and Path(self.player).name == "aplay" and self.sound_file and \
                not self.sound_file.endswith(".wav"):
            self.sound_file = None  # aplay cannot play Ogg
        self.bell_stream = bell_stream if bell_stream is not None else sys.stderr
        self.timeout = timeout

    def accepts(self, alert: Alert) -> bool:
        return _RANK[alert.level] >= _RANK[self.min_level]

    def available(self) -> bool:
        if self.player and self.sound_file:
            return True
        isatty = getattr(self.bell_stream, "isatty", None)
        return bool(isatty and isatty())

    def send(self, alert: Alert) -> str:
        if self.player and self.sound_file:
            try:
                done = subprocess.run(
                    [self.player, self.sound_file], capture_output=True, timeout=self.timeout, check=False
                )
            except (OSError, subprocess.TimeoutExpired) as exc:
                raise NotifyError(f"{Path(self.player).name} failed: {exc}") from None
            if done.returncode != 0:
                err = done.stderr.decode(errors="replace").strip().splitlines()
                last = err[-1] if err else ""
                raise NotifyError(f"{Path(self.player).name} exited {done.returncode}: {last}")
            return f"{Path(self.player).name} {Path(self.sound_file).name}"
        self.bell_stream.write("\a")
        self.bell_stream.flush()
        return "terminal bell"
