"""How to open one account's reader: the venue, where to reach it, which secrets it needs.

``ReaderConfig`` is the exchange layer's own view of an account; the composition root builds it
from the settings file (desk.exchanges may not import desk.store).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from desk.exchanges.base import ErrorKind, VenueError

# Venues with a dedicated adapter. Any other ccxt id with fetchPositions gets the generic one.
KNOWN_VENUES: tuple[str, ...] = ("binanceusdm", "binancecoinm", "bybit", "okx", "hyperliquid")

# What each venue needs to read an account (ccxt credential names). Hyperliquid reads are
# public POST /info calls keyed by the wallet address, so a read-only dashboard needs no key.
_SECRETS: Mapping[str, tuple[str, ...]] = MappingProxyType({
    "binanceusdm": ("apiKey", "secret"),
    "binancecoinm": ("apiKey", "secret"),
    "bybit": ("apiKey", "secret"),
    "okx": ("apiKey", "secret", "password"),
    "hyperliquid": (),
})

# How a person would name each credential when asked for it.
SECRET_LABELS: Mapping[str, str] = MappingProxyType({
    "apiKey": "API key",
    "secret": "API secret",
    "password": "API passphrase",
    "uid": "user id",
    "privateKey": "private key",
    "walletAddress": "wallet address",
    "token": "token",
    "login": "login",
    "accountId": "account id",
})

# Credentials never needed for reading, even when ccxt lists them as required for trading.
_TRADING_ONLY = frozenset({"privateKey", "walletAddress"})


@dataclass(frozen=True)
class ReaderConfig:
    name: str
    venue: str
    api_url: str | None = None  # replaces scheme+host of every REST base URL (and ws:// for streams)
    sandbox: bool = False  # the venue's testnet
    demo_trading: bool = False  # the venue's demo-trading environment (Binance, Bybit)
    wallet_address: str | None = None  # Hyperliquid: the account to read
    markets_cache_dir: Path | None = None
    markets_max_age_hours: float = 24.0  # also the refresh age of maintenance tiers (cached beside)
    # watch_account: the REST read each streamed change triggers happens at most once per this
    # many seconds (changes in between are folded into one read), and backs off on failure.
    account_refresh_seconds: float = 2.0
    # ccxt options for the venue, plus desk's own: "timeout_ms" (per request, default 10 000) and
    # "rate_limit_ms" (ccxt's spacing between requests of cost 1; default: the venue's).
    options: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    def __post_init__(self) -> None:
        if self.sandbox and self.demo_trading:
            raise VenueError(ErrorKind.CONFIG,
                             f"account {self.name!r}: choose either testnet or demo trading, not both")


def required_secrets(venue: str) -> tuple[str, ...]:
    """The credential fields (ccxt names) needed to read an account on ``venue``."""
    if venue in _SECRETS:
        return _SECRETS[venue]
    check_venue(venue)
    import ccxt

    required = getattr(ccxt, venue)().requiredCredentials
    return tuple(k for k, needed in required.items() if needed and k not in _TRADING_ONLY)


def check_venue(venue: str) -> None:
    """Raise a CONFIG error unless ccxt knows ``venue`` and can read positions there."""
    import ccxt

    if venue not in ccxt.exchanges:
        near = [v for v in ccxt.exchanges if venue.lower()[:4] in v][:5]
        hint = f" Did you mean one of: {', '.join(near)}?" if near else ""
        raise VenueError(ErrorKind.CONFIG,
                         f"unknown venue {venue!r}: not an exchange id ccxt {ccxt.__version__} knows."
                         f"{hint} Derivatives venues with a dedicated adapter: {', '.join(KNOWN_VENUES)}.")
    if venue in _SECRETS:
        return
    cls = getattr(ccxt, venue)
    if not cls().has.get("fetchPositions"):
        raise VenueError(ErrorKind.CONFIG,
                         f"venue {venue!r} cannot report positions through ccxt (no fetchPositions); "
                         f"desk cannot monitor it.")
