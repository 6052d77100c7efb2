"""Logging to a rotating file in the log dir, with every record redacted before it is written.

``setup_logging()`` is called once by the ``desk`` command (:func:`desk.cli.main`) before any
subcommand or the dashboard runs; calling it again replaces desk's handlers instead of stacking
them. Warnings from libraries are routed into the log too (``logging.captureWarnings``), so they
pass through the same redaction, and so are exceptions nobody caught — in a worker thread or in a
Qt slot (``sys.excepthook``) — with their traceback, never on the user's terminal.
"""

from __future__ import annotations

import contextlib
import logging
import logging.handlers
import os
import sys
import threading
from pathlib import Path
from typing import Any

from desk.sanitize import for_user
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
    ``logs.backups``), read without side effects (see :func:`_log_settings`).
    """
    if level is None or max_megabytes is None or backups is None:
        configured = _log_settings()
        level = level if level is not None else configured["level"]
        max_megabytes = max_megabytes if max_megabytes is not None else configured["max_megabytes"]
        backups = backups if backups is not None else configured["backups"]
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
    _install_excepthook(path)
    return path


def _log_settings() -> dict[str, Any]:
    """The three ``logs.*`` settings, read-only: the file is parsed but never moved, migrated or
    written, and a value that is missing or invalid gives the option's default. The log starts
    before the command loads the settings properly (``Settings.load``), and that load is what
    tells the user about a damaged file — it must still find it as it was."""
    from desk.store.settings import OPTIONS_BY_KEY
    from desk.store.settings_reader import MAX_BYTES, read_document
    from desk.userfile import read_regular

    values = {key: OPTIONS_BY_KEY[f"logs.{key}"].default for key in ("level", "max_megabytes", "backups")}
    try:  # the settings' own reader: it never raises, and a FIFO or a device is never read
        table = read_document(read_regular(desk_paths().settings_file, MAX_BYTES)).doc.get("logs", {})
    except OSError:
        return values
    if not isinstance(table, dict):
        return values
    for key in values:
        if key in table:
            with contextlib.suppress(Exception):  # the declared rule decides; a bad value is the default
                values[key] = OPTIONS_BY_KEY[f"logs.{key}"].validate(table[key])
    return values


def is_active() -> bool:
    """Whether :func:`setup_logging` has installed desk's log file in this process."""
    return any(getattr(h, _MARK, False) for h in logging.getLogger().handlers)


def _install_excepthook(path: Path) -> None:
    """An exception nobody caught (e.g. raised in a Qt slot, which Qt reports through
    ``sys.excepthook``) is logged with its traceback; the terminal gets one line."""
    if getattr(sys.excepthook, _MARK, False):
        return

    def hook(exc_type: type[BaseException], exc: BaseException, tb: object) -> None:
        if issubclass(exc_type, KeyboardInterrupt):
            return
        logging.getLogger("desk").critical("uncaught exception", exc_info=(exc_type, exc, tb))  # type: ignore[arg-type]
        with contextlib.suppress(Exception):
            print(f"desk: internal error ({exc_type.__name__}: {for_user(exc, limit=120)}); "
                  f"details in {path}", file=sys.stderr)

    setattr(hook, _MARK, True)
    sys.excepthook = hook


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
