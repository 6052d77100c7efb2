"""Helpers shared by the subcommands: internal-error reporting, safe messages on stderr, settings
warnings."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import traceback
from datetime import UTC, datetime
from typing import Any

from desk.sanitize import for_user

_told: set[str] = set()  # settings problems already printed by this command
# A settings problem names the file, the key, the value and the rule: said whole, not cut short.
SETTINGS_PROBLEM_LIMIT = 2000

log = logging.getLogger("desk")


class UserError(Exception):
    """Bad input from the user: the message names the thing and the fix. Exit code 2.

    Declared here, beside the commands that raise it, so that they never import the CLI that
    runs them (desk.cli imports the commands, not the other way round)."""


def warn(message: object, *, limit: int | None = None) -> None:
    """``desk: warning: …`` on stderr, made safe (secrets masked, controls escaped, one line,
    capped at ``limit`` or the usual message length), and in desk.log."""
    log.warning("%s", message)
    shown = for_user(message) if limit is None else for_user(message, limit=limit)
    print(f"desk: warning: {shown}", file=sys.stderr)


def report_internal_error(exc: BaseException) -> None:
    """Tell the user in one line; the traceback goes to desk.log (redacted), never the screen.

    When the log could not be started, the traceback goes to a crash file in the log folder
    instead (redacted too).
    """
    where = _log_it(exc) or _crash_file(exc) or "nowhere (the log folder is not writable)"
    print(f"desk: internal error ({type(exc).__name__}: {for_user(exc, limit=120)}) — this is a bug in "
          f"desk; the details are in {where}, please attach them to a bug report.", file=sys.stderr)


def _log_it(exc: BaseException) -> str | None:
    try:
        from desk.store.logs import is_active, log_file

        if not is_active():
            return None
        log.error("internal error", exc_info=exc)
        return str(log_file())
    except Exception:  # reporting must never raise
        return None


def _crash_file(exc: BaseException) -> str | None:
    with contextlib.suppress(Exception):
        from desk.sanitize import redact
        from desk.store.paths import desk_paths

        log_dir = desk_paths().ensure().log_dir
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
        crash = log_dir / f"crash-{stamp}.txt"
        fd = os.open(crash, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(redact("".join(traceback.format_exception(exc))))
        return str(crash)
    return None


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
                warn(f"settings: {problem}", limit=SETTINGS_PROBLEM_LIMIT)
    except Exception:  # the command itself meets the same failure and reports it (without a traceback)
        return settings
    return settings
