"""Read-only by construction: two independent locks between desk and an exchange's write API.

1. :class:`ReadOnlyExchange` wraps a ccxt instance and exposes only an allow-list of read
   methods and data attributes. Anything else — create_*, cancel_*, edit_*, withdraw, transfer,
   add/reduce margin, set_leverage/margin mode/position mode, and every method ccxt adds in
   future — raises :class:`ReadOnlyViolation` before any code of ccxt runs.
2. :func:`check_request` runs inside the ccxt instance's transport (see ``reader.py``) for every
   HTTP request, so even code holding the raw instance cannot send a write: only ``GET``
   requests pass, plus the few non-GET endpoints that only read (Binance listen keys for the
   user-data stream, Hyperliquid's ``POST /info``).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

# Unified read methods the readers and `desk accounts test` use. Kept short on purpose.
READ_METHODS = frozenset({
    "load_markets", "set_markets", "load_time_difference", "fetch_time", "fetch_status",
    "fetch_positions", "fetch_position", "fetch_positions_risk", "fetch_balance",
    "fetch_leverage_tiers", "fetch_market_leverage_tiers", "fetch_mark_price", "fetch_mark_prices",
    "fetch_ticker", "fetch_tickers", "fetch_funding_rate", "fetch_funding_rates",
    "fetch_leverages", "fetch_margin_modes", "fetch_margin_mode", "fetch_leverage",
    "watch_mark_price", "watch_mark_prices", "watch_ticker", "watch_tickers", "watch_positions",
    "watch_balance", "fetch_open_orders", "close", "market", "safe_market", "check_required_credentials",
    # order pushes as prompts for the REST read (issue 17): Binance's rides the listen-key stream
    # (POST/PUT /listenKey, already allowed below), Bybit's and OKX's log in on the socket,
    # Hyperliquid's is a public subscription — no new REST endpoint
    "watch_orders",
    "milliseconds", "seconds",
    # raw read endpoints (signed GETs) used for key checks and raw payloads
    "sapi_get_account_apirestrictions", "fapiprivate_get_apitradingstatus",
    "private_get_v5_user_query_api", "private_get_v5_account_info",
    "fapiprivatev3_get_account", "fapiprivatev3_get_positionrisk", "dapiprivate_get_account",
    "private_get_account_config", "public_post_info",
    # the Binance spot wallet beside a futures account (GET /api/v3/account, signed)
    "private_get_account",
    # account mode and collateral prices (unified-margin.md §1, §7)
    "fapiprivate_get_multiassetsmargin", "fapipublic_get_assetindex",
    # Binance's ADL quantile per position side (issue 17), classic and Portfolio Margin routes
    "fapiprivate_get_adlquantile", "dapiprivate_get_adlquantile", "papi_get_um_adlquantile",
    "papi_get_cm_adlquantile",
    # funding rate and next funding time (issue 17): Binance's premium index, Bybit's tickers
    "fapipublic_get_premiumindex", "dapipublic_get_premiumindex", "public_get_v5_market_tickers",
    "fapipublic_get_fundinginfo", "dapipublic_get_fundinginfo",  # Binance's adjusted funding intervals
    "public_get_v5_spot_margin_trade_collateral", "private_get_v5_account_fee_rate",
    # Binance Portfolio Margin (unified-margin.md §2, §7): account, balance, the other family's
    # positions, collateral rates and asset index prices — all signed GETs
    "papi_get_account", "papi_get_balance", "papi_get_um_positionrisk", "papi_get_cm_positionrisk",
    "sapi_get_portfolio_collateralrate", "sapi_get_portfolio_asset_index_price",
    # pure parsers (no I/O)
    "parse_position",
})

READ_ATTRIBUTES = frozenset({
    "id", "name", "has", "options", "markets", "markets_by_id", "symbols", "urls", "timeout",
    "rateLimit", "version", "requiredCredentials", "last_response_headers", "apiKey", "walletAddress",
})


class ReadOnlyViolation(RuntimeError):
    """Something asked the exchange layer to do more than read. It is a bug, never user input."""


class ReadOnlyExchange:
    """Proxy over a ccxt exchange that forwards allow-listed reads only."""

    __slots__ = ("_exchange",)

    def __init__(self, exchange: Any) -> None:
        object.__setattr__(self, "_exchange", exchange)

    def __getattr__(self, name: str) -> Any:
        if name in READ_METHODS or name in READ_ATTRIBUTES:
            return getattr(self._exchange, name)
        raise ReadOnlyViolation(
            f"desk is read-only: {name!r} is not an allowed read call on {self._exchange.id}")

    def __setattr__(self, name: str, value: Any) -> None:
        raise ReadOnlyViolation(f"desk is read-only: cannot set {name!r} through the guard")

    def __dir__(self) -> list[str]:
        return sorted(READ_METHODS | READ_ATTRIBUTES)


# Non-GET requests that only read: (venue family, HTTP method, path suffix).
_NON_GET_READS = (
    ("binance", "POST", "/listenKey"),  # user-data stream key: creates no order, moves nothing
    ("binance", "PUT", "/listenKey"),
    ("binance", "DELETE", "/listenKey"),
    ("hyperliquid", "POST", "/info"),  # every Hyperliquid read is POST /info; writes go to /exchange
)


def check_request(venue: str, method: str, url: str, body: Any = None) -> None:
    """Refuse any HTTP request that could change the account. Called for every request."""
    method = method.upper()
    if method == "GET":
        return
    path = urlsplit(url).path
    family = "binance" if venue.startswith("binance") else venue
    for fam, verb, suffix in _NON_GET_READS:
        if fam == family and verb == method and path.endswith(suffix):
            return
    raise ReadOnlyViolation(f"desk is read-only: refused {method} {path} on {venue}")
