"""Alerts as lines on a terminal (``desk watch``)."""

from __future__ import annotations

import sys
import threading
from datetime import datetime
from typing import TextIO

from desk.domain.alerts import Alert
from desk.sanitize import for_user


def format_alert(alert: Alert, *, muted: str | None = None) -> str:
    when = datetime.fromtimestamp(alert.at).astimezone().strftime("%Y-%m-%d %H:%M:%S")
    tag = f" (muted: {muted})" if muted else ""
    # Names in an alert come from settings, portfolio files and venues: shown escaped, never raw.
    lines = [f"{when} ALERT {alert.level.value.upper()} {for_user(alert.title, limit=None)}"
             f"{for_user(tag, limit=None)}"]
    lines += [f"    {for_user(line, limit=None)}" for line in alert.body.splitlines() if line.strip()]
    return "\n".join(lines)


class ConsoleNotifier:
    channel = "console"

    def __init__(self, stream: TextIO | None = None):
        self.stream = stream
        self._lock = threading.Lock()

    def available(self) -> bool:
        return True

    def send(self, alert: Alert) -> str:
        stream = self.stream or sys.stdout
        with self._lock:
            print(format_alert(alert), file=stream, flush=True)
        return "printed"
