"""What every venue adapter offers the reader."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from desk.domain.model import Account
from desk.exchanges.adapters.common import TierCache
from desk.exchanges.config import ReaderConfig

# Tier cap for venues that publish a single rate without an upper bound: far beyond any position,
# finite so it survives JSON.
UNBOUNDED_NOTIONAL = 1e15


# One mark stream: each call waits for the next update and returns the marks it carried, by ccxt
# symbol. An adapter with a ``mark_watchers(ex, symbols) -> list[MarkWatcher]`` method replaces
# the reader's default streams (ccxt's watch_mark_prices, or watch_tickers' ``markPrice``).
MarkWatcher = Callable[[], Awaitable[Mapping[str, float]]]


@dataclass
class ReadResult:
    account: Account
    raw: dict[str, Any] = field(default_factory=dict)
    # what the read could not learn without failing (e.g. spot balances the key may not read)
    warnings: list[str] = field(default_factory=list)


class Adapter(Protocol):
    venue: str
    market_types: tuple[str, ...]  # what load_markets should fetch (ccxt fetchMarkets types)

    def configure(self, exchange: Any, cfg: ReaderConfig) -> None:
        """Set venue options on the raw ccxt instance before the first request."""

    async def read(self, ex: Any, cfg: ReaderConfig, tiers: TierCache, now: float) -> ReadResult:
        """One REST read of the account through the read-only guard ``ex``."""
