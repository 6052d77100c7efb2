"""Turn ccxt's exceptions into :class:`VenueError` with a message a trader understands.

Messages never include request URLs with query strings or headers (they may carry key
material): only the venue, the account and what to do. The exchange's own words are quoted
through :func:`desk.sanitize.for_user`: a key echoed back in an error body is masked, an HTML
error page is reduced to one line, control characters are escaped and the quote is capped.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from email.utils import parsedate_to_datetime

from desk.exchanges.base import ErrorKind, VenueError
from desk.sanitize import for_user

_SIGNATURE_HINT = re.compile(r"signature|sign!|sign error|invalid sign", re.IGNORECASE)
_QUERY = re.compile(r"\?\S*")


def _detail(exc: BaseException) -> str:
    """The exchange's own words, without URLs' query strings (signatures, keys), safe to show."""
    return for_user(_QUERY.sub("", str(exc).strip()), limit=300)


# How long to stay away when the venue names no time (seconds). 429 is "slow down"; 418 is
# Binance's IP ban (2 minutes at the least, growing for repeat offenders); Bybit answers 403
# "access too frequent" to an IP over its limit and lifts the ban after 10 minutes.
RATE_LIMIT_DEFAULTS: Mapping[int, float] = {429: 10.0, 418: 120.0, 403: 600.0}
RATE_LIMIT_DEFAULT = 10.0
# Binance bans last up to 3 days; anything beyond is a misread, not an instruction.
MAX_RETRY_AFTER = 3 * 86_400.0
_BANNED_UNTIL = re.compile(r"banned until (\d{12,})", re.IGNORECASE)


def retry_after_of(status: int | None, headers: Mapping[str, str] | None, message: str,
                   server_now_ms: float | None = None) -> float:
    """Seconds to wait after a rate-limit answer, as the venue asks.

    In order of trust: the ``Retry-After`` header (seconds or an HTTP date, RFC 9110 §10.2.3;
    Binance sends it with 429 and 418), Binance's ``"IP banned until <ms>"`` in the message,
    Bybit's ``X-Bapi-Limit-Reset-Timestamp`` (ms); several present → the longest. Otherwise the
    default for the status. ``server_now_ms`` is the venue's clock (timestamps in the answer are
    the venue's), defaulting to this computer's.
    """
    now_ms = time.time() * 1000 if server_now_ms is None else server_now_ms
    lowered = {str(k).lower(): str(v) for k, v in (headers or {}).items()}
    waits: list[float] = []
    value = lowered.get("retry-after", "").strip()
    if value:
        try:
            waits.append(float(value))
        except ValueError:
            try:
                when = parsedate_to_datetime(value).timestamp()
                sent = lowered.get("date")
                base = parsedate_to_datetime(sent).timestamp() if sent else time.time()
                waits.append(when - base)
            except (TypeError, ValueError, IndexError, OverflowError):
                pass
    if match := _BANNED_UNTIL.search(message):
        waits.append((int(match.group(1)) - now_ms) / 1000)
    reset = lowered.get("x-bapi-limit-reset-timestamp", "").strip()
    if reset.isdigit():
        waits.append((int(reset) - now_ms) / 1000)
    waits = [w for w in waits if w == w and w > 0]  # past times and NaN say nothing
    if waits:
        return min(max(max(waits), 1.0), MAX_RETRY_AFTER)
    return RATE_LIMIT_DEFAULTS.get(status or 0, RATE_LIMIT_DEFAULT)


def _wait_text(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def classify(exc: BaseException, account: str, venue: str) -> VenueError:
    """Map any exception raised while reading ``account`` to a VenueError."""
    if isinstance(exc, VenueError):
        return exc
    import ccxt

    where = f"{account} ({venue})"
    detail = _detail(exc)
    if isinstance(exc, ccxt.PermissionDenied):
        return VenueError(ErrorKind.PERMISSION,
                          f"{where}: the API key is not allowed to read this data — enable read "
                          f"access (futures/derivatives) for the key on the exchange. [{detail}]")
    if isinstance(exc, ccxt.AuthenticationError):
        if _SIGNATURE_HINT.search(detail):
            return VenueError(ErrorKind.AUTH,
                              f"{where}: the exchange rejected the request signature — the API "
                              f"secret is wrong. Re-enter it with `desk accounts add {account} "
                              f"--venue {venue}`. [{detail}]")
        return VenueError(ErrorKind.AUTH,
                          f"{where}: the exchange rejected the API key (invalid, revoked, expired, or "
                          f"not allowed from this IP). Check it on the exchange, then re-enter it "
                          f"with `desk accounts add {account} --venue {venue}`. [{detail}]")
    if isinstance(exc, ccxt.InvalidNonce):
        return VenueError(ErrorKind.CLOCK_SKEW,
                          f"{where}: the exchange says this computer's clock is off (request "
                          f"timestamp outside its window). desk re-synchronises with the exchange "
                          f"time and retries; if it persists, enable time synchronisation (NTP). "
                          f"[{detail}]")
    # The reader's transport stamps rate-limit answers with the wait the venue asked for and
    # with the HTTP status (OKX's bare 429 reaches here as ExchangeNotAvailable).
    status = getattr(exc, "desk_http_status", None)
    if isinstance(exc, ccxt.RateLimitExceeded | ccxt.DDoSProtection) or status in (418, 429):
        wait = getattr(exc, "desk_retry_after", None)
        if not isinstance(wait, int | float) or wait <= 0:
            wait = RATE_LIMIT_DEFAULTS.get(status or 0, RATE_LIMIT_DEFAULT)
        banned = status == 418 or "banned" in detail.lower()
        what = "rate limit hit and this IP is banned for a while" if banned else "rate limit hit"
        return VenueError(ErrorKind.RATE_LIMIT,
                          f"{where}: {what} — desk waits {_wait_text(wait)} as the exchange asks, "
                          f"then retries; if it repeats, poll less often or close other tools using "
                          f"this key/IP. [{detail}]", retry_after=float(wait))
    if isinstance(exc, ccxt.RequestTimeout):
        return VenueError(ErrorKind.NETWORK,
                          f"{where}: the exchange did not answer in time — retrying. [{detail}]")
    if isinstance(exc, ccxt.BadResponse):  # includes NullResponse
        return VenueError(ErrorKind.BAD_RESPONSE,
                          f"{where}: the exchange sent an unreadable or empty answer — not treating "
                          f"it as data; retrying. [{detail}]")
    if isinstance(exc, ccxt.OnMaintenance | ccxt.ExchangeNotAvailable):
        return VenueError(ErrorKind.EXCHANGE_DOWN,
                          f"{where}: the exchange is unavailable (maintenance, outage or an error "
                          f"page) — retrying. [{detail}]")
    if isinstance(exc, ccxt.NetworkError):
        return VenueError(ErrorKind.NETWORK,
                          f"{where}: cannot reach the exchange (network) — retrying. [{detail}]")
    if isinstance(exc, ccxt.OperationFailed):
        return VenueError(ErrorKind.EXCHANGE_DOWN,
                          f"{where}: the exchange failed to process the request — retrying. [{detail}]")
    if isinstance(exc, ccxt.NotSupported):
        return VenueError(ErrorKind.CONFIG, f"{where}: not supported by the venue: {detail}")
    if isinstance(exc, ccxt.ExchangeError):
        return VenueError(ErrorKind.BAD_RESPONSE,
                          f"{where}: the exchange returned an error: {detail}")
    if isinstance(exc, ValueError | TypeError | KeyError | IndexError | ZeroDivisionError):
        return VenueError(ErrorKind.BAD_RESPONSE,
                          f"{where}: the exchange's answer did not have the expected shape "
                          f"({type(exc).__name__}: {detail}) — not treating it as data.")
    return VenueError(ErrorKind.NETWORK, f"{where}: {type(exc).__name__}: {detail}")
