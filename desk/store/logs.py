"""Logging to a rotating file in the log dir, with every record redacted before it is written.

``setup_logging()`` is called once by whatever runs desk (the dashboard, ``desk watch``); calling
it again replaces desk's handlers instead of stacking them. Warnings from libraries are routed
into the log too (``logging.captureWarnings``), so they pass through the same redaction.
"""

from __future__ import annotations

import contextlib
import logging
import logging.handlers
import os
import threading
from pathlib import Path

from desk.store.paths import desk_paths
from desk.store.redact import RedactingFilter, RedactingFormatter

LOG_FILE_NAME = "desk.log"
FORMAT = "%(asctime)s %(levelname)-7s %(threadName)s %(name)s: %(message)s"
_MARK = "_desk_handler"  # set on handlers we installed, so a second setup replaces them

LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}


def log_file() -> Path:
    return desk_paths().log_dir / LOG_FILE_NAME


def _level_number(level: str | int) -> int:
    if isinstance(level, int):
        return level
    try:
        return LEVELS[level.lower()]
    except KeyError:
        raise ValueError(f"log level {level!r} is not one of {', '.join(LEVELS)}") from None


def setup_logging(level: str | int | None = None, *, console: bool = False,
                  max_megabytes: float | None = None, backups: int | None = None) -> Path:
    """Log to ``desk.log`` in the log dir (rotating), optionally also to stderr; returns the file.

    ``None`` arguments come from the settings (``logs.level``, ``logs.max_megabytes``,
    ``logs.backups``). Settings problems found while loading are logged as warnings.
    """
    problems: list[str] = []
    if level is None or max_megabytes is None or backups is None:
        from desk.store.settings import Settings

        settings = Settings.load()
        problems = settings.problems
        level = level if level is not None else settings.get("logs.level")
        max_megabytes = max_megabytes if max_megabytes is not None else settings.get("logs.max_megabytes")
        backups = backups if backups is not None else settings.get("logs.backups")
    assert level is not None and max_megabytes is not None and backups is not None
    number = _level_number(level)

    path = desk_paths().ensure().log_dir / LOG_FILE_NAME
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, _MARK, False):
            root.removeHandler(handler)
            handler.close()

    file_handler = logging.handlers.RotatingFileHandler(
        path, maxBytes=max(1, int(max_megabytes * 1024 * 1024)), backupCount=int(backups), encoding="utf-8",
        delay=False)
    with contextlib.suppress(OSError):
        os.chmod(path, 0o600)  # logs describe positions and balances: the owner's business only
    handlers: list[logging.Handler] = [file_handler]
    if console:
        handlers.append(logging.StreamHandler())
    for handler in handlers:
        handler.addFilter(RedactingFilter())
        handler.setFormatter(RedactingFormatter(FORMAT))
        handler.setLevel(number)
        setattr(handler, _MARK, True)
        root.addHandler(handler)
    root.setLevel(min(number, root.level) if root.level != logging.NOTSET else number)
    logging.captureWarnings(True)
    # ccxt and urllib3 are chatty at debug level and may echo request details; keep them at info.
    for noisy in ("ccxt", "urllib3", "asyncio", "aiohttp"):
        logging.getLogger(noisy).setLevel(max(number, logging.INFO))
    _install_thread_hook()
    log = logging.getLogger("desk")
    for problem in problems:
        log.warning("settings: %s", problem)
    return path


def _install_thread_hook() -> None:
    """An exception that ends a worker thread goes to the (redacted) log, not only to stderr."""
    if getattr(threading.excepthook, _MARK, False):
        return
    previous = threading.excepthook

    def hook(args: threading.ExceptHookArgs) -> None:
        if args.exc_type is SystemExit:
            return
        name = args.thread.name if args.thread is not None else "?"
        logging.getLogger("desk").critical(
            "uncaught exception in thread %s", name,
            exc_info=(args.exc_type, args.exc_value, args.exc_traceback))  # type: ignore[arg-type]
        if previous is not threading.__excepthook__:
            previous(args)

    setattr(hook, _MARK, True)
    threading.excepthook = hook
