"""Text that reaches a person: secrets masked, control characters escaped, length capped.

This is the one place desk makes outside text safe to show — an exchange's error body, an
exception's message, a name from a portfolio file or a venue. :func:`for_user` does all three
steps and is what every entry point uses before printing, painting a status line or a dialog,
or sending a notification; :func:`quoted` shows a short prefix of an offending value in an
error message. Standard library only, so every layer (exchanges, store, notify, ui) can use it.

Masking has two layers, because neither alone is enough:

* **Registered values.** Whoever handles a real secret (the keyring facade, the settings for a
  webhook URL) calls :func:`register_secret`; that exact value (and its URL-encoded form) is then
  masked wherever it appears, whatever surrounds it.
* **Patterns** for what venues put on the wire and ccxt echoes in errors and verbose logs:
  ``signature=…`` query parameters, API-key / sign / passphrase headers (``X-MBX-APIKEY``,
  ``X-BAPI-*``, ``OK-ACCESS-*``, ``KC-API-*``, ``ACCESS-*``, Gate's ``KEY``/``SIGN``), listen keys,
  ``"secret": "…"`` in dict reprs and JSON, ``Authorization`` values, Ethereum private keys
  (``0x`` + 64 hex) and other long random-looking tokens.

Over-masking a harmless hash in a message is an acceptable price; a leaked key is not.
"""

from __future__ import annotations

import html
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


# --- for people: one line, no control characters, bounded --------------------------------------

# C0 controls, DEL, C1 controls, and the Unicode format characters that reorder or hide text
# (bidi overrides and isolates, zero-width joiners), which can disguise what a line says.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]")
_CONTROL_BUT_NEWLINE = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e"
                                  "\u2066-\u2069\ufeff]")
_HTML = re.compile(r"<\s*(?:!doctype|html|head|body|title|h1|center|hr|div|p|br)\b", re.IGNORECASE)
_TAG = re.compile(r"<[^>]{0,500}>")
_SCRIPT = re.compile(r"<(script|style)\b.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
_SPACES = re.compile(r"\s+")

# A message longer than this is cut (an exchange's whole error page is not a message).
MESSAGE_LIMIT = 300
# An offending value quoted in an error message shows at most this many characters.
VALUE_LIMIT = 40


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group(0))
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def escape_controls(text: str, *, keep_newlines: bool = False) -> str:
    """``text`` with every control character written as a visible escape (``\\x1b``, ``\\u202e``)."""
    return (_CONTROL_BUT_NEWLINE if keep_newlines else _CONTROL).sub(_escape, text)


def _unhtml(text: str) -> str:
    """An HTML error page (a proxy's 502, a CDN's block page) reduced to its words."""
    if not _HTML.search(text):
        return text
    text = _SCRIPT.sub(" ", text)
    return html.unescape(_TAG.sub(" ", text))


def shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: max(0, limit - 1)].rstrip() + "…"


def for_user(text: object, *, limit: int | None = MESSAGE_LIMIT, multiline: bool = False) -> str:
    """Outside text made safe to show a person: secrets masked, HTML reduced to its words,
    whitespace runs collapsed to one line (unless ``multiline``), control characters escaped,
    and at most ``limit`` characters (None: no cap, for tables whose cells are already bounded)."""
    value = redact(_unhtml(str(text)))
    if multiline:
        value = escape_controls(value.replace("\r\n", "\n"), keep_newlines=True)
    else:
        value = escape_controls(_SPACES.sub(" ", value).strip())
    return value if limit is None else shorten(value, limit)


def quoted(value: object, limit: int = VALUE_LIMIT) -> str:
    """A short, safe, quoted prefix of an offending value for an error message: ``'abc…'``."""
    text = escape_controls(redact(str(value)))
    return "'" + shorten(text, limit).replace("'", "\\'") + "'"


def masked_url(url: str | None) -> str:
    """A channel URL as a person may see it: the scheme and a host name, the rest ``***`` — the path
    and query may hold a token, and some services put the token where a host would be
    (``tgram://BOTTOKEN/…``, ``discord://ID/TOKEN``): a "host" without a dot is masked too."""
    if not url:
        return "no URL in the keyring"
    import urllib.parse

    try:
        parts = urllib.parse.urlsplit(url)
        host = parts.hostname or ""
    except ValueError:
        return "***"
    shown = host if "." in host or host == "localhost" else "***"
    return f"{parts.scheme}://{shown}/***"
