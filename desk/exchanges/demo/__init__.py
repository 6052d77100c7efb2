"""The demo venue: a simulated market and demo accounts behind the ordinary reader interface.

No network, no keys. One :class:`DemoMarket` holds accounts shaped like real ones —
``demo-binance-usdm`` (Binance USDⓈ-M cross, hedge mode), ``demo-bybit-isolated`` (Bybit
isolated), ``demo-binance-coinm`` (Binance COIN-M inverse, cross), ``demo-hyperliquid``
(Hyperliquid cross), ``demo-bybit-hedge`` (the whole book's hedge), and two that pool collateral:
``demo-bybit-uta`` (Bybit UTA cross) and ``demo-binance-multi`` (Binance Multi-Assets) — whose
readers plug into the monitor like any venue's. Scenarios
(:data:`SCENARIOS`) script what happens; a seed makes it repeatable.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from desk.exchanges.demo.catalog import ACCOUNTS
from desk.exchanges.demo.scenarios import DEFAULT_SCENARIO, SCENARIOS

if TYPE_CHECKING:
    from desk.domain.model import Portfolio
    from desk.exchanges.base import VenueReader
    from desk.exchanges.demo.market import DemoEvent, DemoMarket, MarkView
    from desk.exchanges.demo.reader import DemoReader

# The market (numpy) and the reader (asyncio) load on first use: `desk risk` reads the catalog's
# betas through this package and needs neither (issue 18).
_LAZY = {"DemoEvent": "market", "DemoMarket": "market", "MarkView": "market", "DemoReader": "reader"}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)


DEMO_ACCOUNTS: tuple[str, ...] = tuple(a.name for a in ACCOUNTS)


def open_demo_readers(
    scenario: str = DEFAULT_SCENARIO,
    *,
    seed: int | None = None,
    speed: float = 1.0,
    clock: Callable[[], float] | None = None,
) -> list[VenueReader]:
    """One reader per demo account, all sharing one new :class:`DemoMarket` (``reader.market``)."""
    from desk.exchanges.demo.market import DemoMarket
    from desk.exchanges.demo.reader import DemoReader

    market = DemoMarket(scenario, seed=seed, speed=speed, clock=clock or time.monotonic)
    return [DemoReader(market, name) for name in market.account_names]


#: the latest ``--at`` of ``desk snapshot --demo``: the market is stepped second by second up to it
MAX_DEMO_SECONDS = 86_400.0


def demo_portfolio(scenario: str = DEFAULT_SCENARIO, *, seed: int | None = None,
                   at_seconds: float = 0.0) -> Portfolio:
    """The demo accounts after ``at_seconds`` simulated seconds (``desk snapshot --demo``)."""
    if not 0 <= at_seconds <= MAX_DEMO_SECONDS:  # NaN fails too; beyond a day the steps take minutes
        raise ValueError(f"demo time must be between 0 and {MAX_DEMO_SECONDS:,.0f} seconds (one simulated "
                         f"day), got {at_seconds!r}")
    from desk.exchanges.demo.market import DemoMarket

    market = DemoMarket(scenario, seed=seed, clock=lambda: 0.0)
    market.advance_to(at_seconds)
    return market.portfolio()


__all__ = [
    "DEMO_ACCOUNTS",
    "SCENARIOS",
    "DemoEvent",
    "DemoMarket",
    "DemoReader",
    "MarkView",
    "demo_portfolio",
    "open_demo_readers",
]
