"""Masking secrets in any text that may reach a file: logs, exception messages, crash reports.

Two layers, because neither alone is enough:

* **Registered values.** Whoever handles a real secret (the keyring facade, the settings for a
  webhook URL) calls :func:`register_secret`; that exact value (and its URL-encoded form) is then
  masked wherever it appears, whatever surrounds it.
* **Patterns** for what venues put on the wire and ccxt echoes in errors and verbose logs:
  ``signature=…`` query parameters, API-key / sign / passphrase headers (``X-MBX-APIKEY``,
  ``X-BAPI-*``, ``OK-ACCESS-*``, ``KC-API-*``, ``ACCESS-*``, Gate's ``KEY``/``SIGN``), listen keys,
  ``"secret": "…"`` in dict reprs and JSON, ``Authorization`` values, Ethereum private keys
  (``0x`` + 64 hex) and other long random-looking tokens.

Over-masking a harmless hash in a log line is an acceptable price; a leaked key is not.
"""

from __future__ import annotations

import logging
import re
import threading
from urllib.parse import quote, quote_plus

MASK = "***"

# Values shorter than this are not registered: masking "a" or "1" everywhere would shred logs,
# and no venue issues credentials that short.
MIN_SECRET_LENGTH = 6

_lock = threading.Lock()
_secrets: set[str] = set()
_secret_pattern: re.Pattern[str] | None = None

# Names whose value is a credential, as query parameters, headers, dict/JSON keys or kwargs.
_NAMES = (
    r"x-mbx-apikey|x-bapi-[a-z0-9-]+|ok-access-[a-z0-9-]+|kc-api-[a-z0-9-]+|access-(?:key|sign|passphrase)"
    r"|api[-_]?key|apikey|api[-_]?secret|secret(?:[-_]?key)?|private[-_]?key|privatekey"
    r"|signature|listen[-_]?key|listenkey|passphrase|password|passwd"
    r"|access[-_]?token|refresh[-_]?token|auth[-_]?token|token|authorization|x-api-key"
)
_NAMED_VALUE = re.compile(
    r"(?P<name>(?<![A-Za-z0-9])(?:" + _NAMES + r"))"
    r"(?P<sep>['\"]?\s*[:=]\s*['\"]?)"
    r"(?P<scheme>(?:Bearer|Basic|Token)\s+)?"
    r"(?P<value>[^\s'\"&,;}\])]+)",
    re.IGNORECASE,
)
# Gate signs with headers literally named KEY and SIGN (upper case: a plain "key=" stays readable).
_GATE_HEADERS = re.compile(r"(?P<name>(?<![A-Za-z0-9_-])(?:KEY|SIGN))(?P<sep>['\"]?\s*[:=]\s*['\"]?)"
                           r"(?P<value>[^\s'\"&,;}\])]+)")
# Ethereum-style private keys (and any other 64-hex secret such as an HMAC-SHA256 signature).
_HEX64 = re.compile(r"(?<![0-9A-Za-z])(?:0x)?[0-9a-fA-F]{64}(?![0-9A-Za-z])")
# Long random-looking tokens: API keys and secrets of most venues (32+ chars mixing letters and digits).
_LONG_TOKEN = re.compile(r"(?<![A-Za-z0-9_\-+/=])(?=[A-Za-z0-9_\-+/=]*[0-9])(?=[A-Za-z0-9_\-+/=]*[A-Za-z])"
                         r"[A-Za-z0-9_\-+=]{32,}")


def register_secret(value: str | None) -> None:
    """Mask ``value`` (and its URL-encoded forms) in everything :func:`redact` sees from now on."""
    global _secret_pattern
    if not value or len(value) < MIN_SECRET_LENGTH:
        return
    forms = {value, quote(value, safe=""), quote_plus(value, safe="")}
    with _lock:
        before = len(_secrets)
        _secrets.update(f for f in forms if len(f) >= MIN_SECRET_LENGTH)
        if len(_secrets) != before:
            # Longest first, so a secret containing another is masked whole.
            ordered = sorted(_secrets, key=len, reverse=True)
            _secret_pattern = re.compile("|".join(re.escape(s) for s in ordered))


def forget_secrets() -> None:
    """Drop every registered value (for tests)."""
    global _secret_pattern
    with _lock:
        _secrets.clear()
        _secret_pattern = None


def _mask_named(match: re.Match[str]) -> str:
    scheme = match.groupdict().get("scheme") or ""
    return f"{match.group('name')}{match.group('sep')}{scheme}{MASK}"


def redact(text: str) -> str:
    """``text`` with every registered secret and every credential-looking value replaced by ***."""
    if not text:
        return text
    pattern = _secret_pattern
    if pattern is not None:
        text = pattern.sub(MASK, text)
    text = _NAMED_VALUE.sub(_mask_named, text)
    text = _GATE_HEADERS.sub(_mask_named, text)
    text = _HEX64.sub(MASK, text)
    return _LONG_TOKEN.sub(MASK, text)


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
    """A formatter whose whole output goes through :func:`redact` (belt and braces with the filter)."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))
