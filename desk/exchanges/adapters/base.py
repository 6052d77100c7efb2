"""What every venue adapter offers the reader."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from desk.domain.model import Account
from desk.exchanges.adapters.common import TierCache
from desk.exchanges.config import ReaderConfig

# Tier cap for venues that publish a single rate without an upper bound: far beyond any position,
# finite so it survives JSON.
UNBOUNDED_NOTIONAL = 1e15


@dataclass
class ReadResult:
    account: Account
    raw: dict[str, Any] = field(default_factory=dict)


class Adapter(Protocol):
    venue: str
    market_types: tuple[str, ...]  # what load_markets should fetch (ccxt fetchMarkets types)

    def configure(self, exchange: Any, cfg: ReaderConfig) -> None:
        """Set venue options on the raw ccxt instance before the first request."""

    async def read(self, ex: Any, cfg: ReaderConfig, tiers: TierCache, now: float) -> ReadResult:
        """One REST read of the account through the read-only guard ``ex``."""
