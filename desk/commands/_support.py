"""Helpers shared by the subcommands: internal-error reporting."""

from __future__ import annotations

import os
import sys
import traceback
from datetime import UTC, datetime


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
