"""The interface every venue reader offers the monitor: read calls only.

A reader turns one account's venue data into the domain model. The monitor (desk.services)
drives it from one asyncio loop; the demo venue implements the same interface, so everything
downstream is exercised the same way with or without a real exchange.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable

from desk.domain.model import Account


class ErrorKind(StrEnum):
    AUTH = "auth"  # key invalid or revoked: stop polling, surface to the user
    PERMISSION = "permission"  # key lacks read permission for this data
    NETWORK = "network"  # timeout, connection refused, DNS: retry with backoff
    RATE_LIMIT = "rate_limit"  # 429 / 418: back off harder
    EXCHANGE_DOWN = "exchange_down"  # 5xx, maintenance, HTML error pages
    BAD_RESPONSE = "bad_response"  # malformed or empty body; never read as "no positions"
    CLOCK_SKEW = "clock_skew"  # timestamp outside recvWindow
    CONFIG = "config"  # unknown venue, missing keys, bad URL


RETRYABLE = frozenset(
    {ErrorKind.NETWORK, ErrorKind.RATE_LIMIT, ErrorKind.EXCHANGE_DOWN, ErrorKind.BAD_RESPONSE,
     ErrorKind.CLOCK_SKEW}
)


class VenueError(Exception):
    """A failure reading an account, classified so the monitor and the user can act on it.

    The message is for a person: it says what went wrong and what to do. It never contains
    a secret.
    """

    def __init__(self, kind: ErrorKind, message: str, *, retry_after: float | None = None):
        super().__init__(message)
        self.kind = kind
        self.retry_after = retry_after

    @property
    def retryable(self) -> bool:
        return self.kind in RETRYABLE


@dataclass(frozen=True, slots=True)
class MarkUpdate:
    """Mark prices observed at ``observed_at`` (epoch seconds), by ccxt symbol."""

    marks: Mapping[str, float]
    observed_at: float


@dataclass(frozen=True, slots=True)
class AccountSnapshot:
    """One full REST read of an account: positions, balances, tiers and marks."""

    account: Account  # positions with tiers, marks (mark_time set), wallets, reported figures
    observed_at: float
    raw: Mapping[str, Any] = field(default_factory=dict)  # venue payloads, for diagnostics
    request_weight: float = 0.0  # venue request weight used by this read
    # what this read could not learn, for a person (the read itself succeeded)
    warnings: tuple[str, ...] = ()


@runtime_checkable
class VenueReader(Protocol):
    """Read-only access to one account. Every method may raise :class:`VenueError`."""

    account_name: str
    venue: str

    @property
    def streams_marks(self) -> bool: ...

    @property
    def streams_positions(self) -> bool: ...

    async def snapshot(self) -> AccountSnapshot:
        """Positions, balances, tiers and marks by REST (the reconciliation read)."""
        ...

    def watch_marks(self, symbols: tuple[str, ...]) -> AsyncIterator[MarkUpdate]:
        """Mark-price updates as they stream; only when ``streams_marks``."""
        ...

    def watch_account(self) -> AsyncIterator[AccountSnapshot]:
        """A fresh REST snapshot each time a position or (where ``streams_orders``) an order changes
        on the venue's private stream; only when ``streams_positions``.

        Streams drop fields (ccxt's Binance watch_positions loses mark and liquidation after its
        first update), so a push is only a prompt: the read that answers it is the truth.
        """
        ...

    async def close(self) -> None: ...
