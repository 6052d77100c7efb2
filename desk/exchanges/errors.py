"""Turn ccxt's exceptions into :class:`VenueError` with a message a trader understands.

Messages never include request URLs with query strings or headers (they may carry key
material): only the venue, the account and what to do.
"""

from __future__ import annotations

import re

from desk.exchanges.base import ErrorKind, VenueError

_SIGNATURE_HINT = re.compile(r"signature|sign!|sign error|invalid sign", re.IGNORECASE)
_QUERY = re.compile(r"\?\S*")


def _detail(exc: BaseException) -> str:
    """The exchange's own words, without URLs' query strings (signatures, keys)."""
    text = str(exc).strip()
    text = _QUERY.sub("", text)
    return text[:300]


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
    if isinstance(exc, ccxt.RateLimitExceeded | ccxt.DDoSProtection):
        return VenueError(ErrorKind.RATE_LIMIT,
                          f"{where}: rate limit hit (HTTP 429/418) — desk is backing off; if it "
                          f"repeats, poll less often or close other tools using this key/IP. "
                          f"[{detail}]", retry_after=30.0)
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
