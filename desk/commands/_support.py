"""Helpers shared by the subcommands: internal-error reporting."""

from __future__ import annotations

import sys
import traceback
from datetime import UTC, datetime


def report_internal_error(exc: BaseException) -> None:
    """Tell the user briefly; keep the traceback in a crash file in the log dir, not on screen."""
    where = "the log directory"
    try:
        from desk.store.paths import desk_paths

        log_dir = desk_paths().ensure().log_dir
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        crash = log_dir / f"crash-{stamp}.txt"
        text = "".join(traceback.format_exception(exc))
        try:
            from desk.store.redact import redact

            text = redact(text)
        except ImportError:
            pass
        crash.write_text(text, encoding="utf-8")
        where = str(crash)
    except Exception:  # reporting must never raise
        pass
    print(
        f"desk: internal error: {type(exc).__name__}: {exc}\n"
        f"desk: details were written to {where}; please attach them to a bug report.",
        file=sys.stderr,
    )
