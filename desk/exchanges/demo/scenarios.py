"""The scripted scenarios of the demo venue: price drifts, a lost feed, injected venue errors.

All times are simulated seconds since the market opened. A scenario adds a scripted drift to
the random walk (a cumulative log move, piecewise linear in time) on the BTC factor, which every
asset follows with its beta, and optionally on single assets. The random walk stays on top, so
every seed gives a different path with the same story:

* ``flash-crash``: BTC slides 5 % (log) from 10 to 30 min, then falls another 10 % within
  10 min, then recovers 4 % by 60 min. SOL (beta 1.5) falls about 20 %: the Bybit isolated SOL
  long (6x) goes through warning and critical and is liquidated during the fall.
* ``squeeze``: BTC rises 3 % from 10 to 30 min and 5 % more by 40 min; ETH rises another 8 %
  on its own in that last leg: the Bybit isolated ETH short (6x) is squeezed into liquidation.
* ``feed-loss``: calm marks, but from 30 s to 330 s (simulated) no mark reaches the Hyperliquid
  account: its mark time stops and its mark stream goes silent; then the feed comes back.
* ``exchange-errors``: calm marks; reads fail in scripted windows, repeating every 360 s (see
  :data:`ERROR_WINDOWS`). AUTH is not injected: it stops polling for good.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from desk.exchanges.base import ErrorKind

SCENARIOS: Mapping[str, str] = MappingProxyType({
    "calm": "a quiet market: correlated random walks, funding every 8 h (Hyperliquid hourly)",
    "flash-crash": "BTC slides then falls ~14 % in 10 min from minute 10: a Bybit SOL long is liquidated",
    "squeeze": "BTC and ETH rip higher from minute 10: a Bybit ETH short is squeezed into liquidation",
    "feed-loss": "calm, but the Hyperliquid account's mark feed stops from 30 s to 330 s, then returns",
    "exchange-errors": "calm, with scripted network, rate-limit, exchange-down and bad-response failures",
})

DEFAULT_SCENARIO = "calm"

# (time, cumulative log move) knots; linear in between, flat after the last one.
Path = tuple[tuple[float, float], ...]


@dataclass(frozen=True, slots=True)
class ErrorWindow:
    """Calls of one account that fail with ``kind`` while ``start ≤ t mod period < end``."""

    account: str
    start: float
    end: float
    kind: ErrorKind
    calls: frozenset[str]  # "snapshot", "marks", "account"
    message: str


ERROR_PERIOD = 360.0
_ALL_CALLS = frozenset({"snapshot", "marks", "account"})

ERROR_WINDOWS: tuple[ErrorWindow, ...] = (
    ErrorWindow("demo-binance-usdm", 30, 45, ErrorKind.NETWORK, _ALL_CALLS,
                "connection timed out (simulated)"),
    ErrorWindow("demo-bybit-isolated", 90, 150, ErrorKind.RATE_LIMIT, frozenset({"snapshot"}),
                "HTTP 429 Too Many Requests (simulated)"),
    ErrorWindow("demo-binance-coinm", 180, 240, ErrorKind.EXCHANGE_DOWN, _ALL_CALLS,
                "HTTP 503 Service Unavailable: system maintenance (simulated)"),
    ErrorWindow("demo-hyperliquid", 270, 300, ErrorKind.BAD_RESPONSE, frozenset({"snapshot"}),
                "empty response body (simulated)"),
    ErrorWindow("demo-binance-usdm", 320, 325, ErrorKind.RATE_LIMIT, frozenset({"snapshot"}),
                "HTTP 418 I'm a teapot: IP banned for too many requests (simulated)"),
)


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    description: str
    btc_path: Path = ()
    asset_paths: Mapping[str, Path] = field(default_factory=dict)
    feed_loss: tuple[tuple[str, float, float], ...] = ()  # (account, start, end)
    errors: tuple[ErrorWindow, ...] = ()
    error_period: float = ERROR_PERIOD


def _scenario(name: str, **kwargs: object) -> Scenario:
    return Scenario(name, SCENARIOS[name], **kwargs)  # type: ignore[arg-type]


_BUILT: dict[str, Scenario] = {
    "calm": _scenario("calm"),
    "flash-crash": _scenario(
        "flash-crash",
        btc_path=((600.0, 0.0), (1800.0, -0.05), (2400.0, -0.15), (3600.0, -0.11)),
    ),
    "squeeze": _scenario(
        "squeeze",
        btc_path=((600.0, 0.0), (1800.0, 0.03), (2400.0, 0.08), (3600.0, 0.06)),
        asset_paths={"ETH": ((1800.0, 0.0), (2400.0, 0.08))},
    ),
    "feed-loss": _scenario("feed-loss", feed_loss=(("demo-hyperliquid", 30.0, 330.0),)),
    "exchange-errors": _scenario("exchange-errors", errors=ERROR_WINDOWS),
}


def get_scenario(name: str) -> Scenario:
    """The scenario called ``name``; ``ValueError`` naming the choices otherwise."""
    try:
        return _BUILT[name]
    except KeyError:
        choices = ", ".join(SCENARIOS)
        raise ValueError(f"unknown demo scenario {name!r}; choose one of: {choices}") from None


def path_value(path: Path, t: float) -> float:
    """The cumulative scripted log move at time ``t``: 0 before the first knot (whose value is 0),
    linear between knots, flat after the last one."""
    if not path or t <= path[0][0]:
        return 0.0
    for (t0, v0), (t1, v1) in itertools.pairwise(path):
        if t <= t1:
            return v0 + (v1 - v0) * (t - t0) / (t1 - t0)
    return path[-1][1]
