"""Masking secrets in log records: the logging side of :mod:`desk.sanitize`.

The masking itself (registered secrets and credential patterns) lives in :mod:`desk.sanitize`,
the one place desk makes outside text safe, so the exchange layer and the notifiers can use it
too; it is re-exported here for the store and its callers. Log lines also get their control
characters escaped (a name with a terminal escape must not rewrite a terminal that ``tail``s
the log), newlines kept so tracebacks stay readable.
"""

from __future__ import annotations

import logging

from desk.sanitize import MASK, MIN_SECRET_LENGTH, escape_controls, forget_secrets, redact, register_secret

__all__ = ["MASK", "MIN_SECRET_LENGTH", "RedactingFilter", "RedactingFormatter", "forget_secrets", "redact",
           "register_secret"]


class RedactingFilter(logging.Filter):
    """A handler filter that redacts the message, its args, the traceback and the stack info.

    Attach it to handlers (logger filters do not see records propagated from child loggers).
    The record is rewritten in place so every later formatter only sees the redacted text.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception as exc:  # a bad format string must not hide the record
            message = f"{record.msg!r} (unformattable args: {exc})"
        record.msg = redact(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        # The traceback is kept only as redacted text: a formatter must not re-render the original.
        record.exc_info = None
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


class RedactingFormatter(logging.Formatter):
    """A formatter whose whole output is redacted (belt and braces with the filter), control
    characters escaped."""

    def format(self, record: logging.LogRecord) -> str:
        return escape_controls(redact(super().format(record)), keep_newlines=True)
