"""Helpers shared by the subcommands: internal-error reporting, settings warnings."""

from __future__ import annotations

import os
import sys
import traceback
from datetime import UTC, datetime
from typing import Any

_told: set[str] = set()  # settings problems already printed by this command


def _redact(text: str) -> str:
    try:
        from desk.store.redact import redact
    except ImportError:  # pragma: no cover - the store is part of desk
        return text
    return redact(text)


def report_internal_error(exc: BaseException) -> None:
    """Tell the user briefly; keep the traceback in a crash file in the log dir, not on screen.

    Both the crash file and the line on screen are redacted: an exception message may carry a
    URL with a signature or a key echoed by a venue.
    """
    where = "the log directory"
    try:
        from desk.store.paths import desk_paths

        log_dir = desk_paths().ensure().log_dir
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
        crash = log_dir / f"crash-{stamp}.txt"
        text = _redact("".join(traceback.format_exception(exc)))
        fd = os.open(crash, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        where = str(crash)
    except Exception:  # reporting must never raise
        pass
    try:
        import logging

        logging.getLogger("desk").error("internal error, details in %s", where)
    except Exception:
        pass
    print(
        f"desk: internal error: {type(exc).__name__}: {_redact(str(exc))}\n"
        f"desk: details were written to {where}; please attach them to a bug report.",
        file=sys.stderr,
    )


def warn_about_settings(settings: Any = None, *, new_command: bool = False) -> Any:
    """Print what is wrong with the settings file (each bad key, value and why) to stderr, each
    line once per command; returns the settings (loaded when not given), or None if unreadable."""
    if new_command:
        _told.clear()
    try:
        if settings is None:
            from desk.store.settings import Settings

            settings = Settings.load()
        for problem in settings.problems:
            if problem not in _told:
                _told.add(problem)
                print(f"desk: warning: settings: {_redact(problem)}", file=sys.stderr)
    except Exception:  # the command itself meets the same failure and reports it (without a traceback)
        return settings
    return settings
