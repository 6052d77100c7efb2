"""Builders for risk-engine tests: short positions/accounts with the defaults a test does not care about."""

from __future__ import annotations

import math
from typing import Any

from desk.domain.model import Account, Kind, Leg, MarginMode, Portfolio, Position, Side, Tier


def pos(symbol: str = "BTC/USDT:USDT", *, contracts: float, entry: float, mark: float | None = None,
        side: str = "long", mode: str = "cross", kind: str | None = None, mmr: float | None = None,
        cum: float | None = 0.0, tiers: tuple[Tier, ...] | None = None, margin: float | None = None,
        leg: str = "both", contract_size: float = 1.0, taker: float | None = None,
        leverage: float | None = None, **extra: Any) -> Position:
    settle = symbol.partition(":")[2] or "USDT"
    if kind is None:
        kind = "inverse" if symbol.split("/")[0] == settle else "linear"
    if tiers is None:
        tiers = (Tier(0.0, math.inf, mmr or 0.0, cum),) if mmr is not None else ()
    return Position(
        symbol=symbol, settle=settle, kind=Kind(kind), contracts=contracts, side=Side(side),
        entry_price=entry, mark_price=entry if mark is None else mark, margin_mode=MarginMode(mode),
        contract_size=contract_size, leg=Leg(leg), isolated_margin=margin, leverage=leverage, tiers=tiers,
        taker_fee=taker, **extra,
    )


def account(venue: str, *positions: Position, name: str = "acc", **wallets: float) -> Account:
    return Account(name, venue, wallets, tuple(positions))


def portfolio(*accounts: Account) -> Portfolio:
    return Portfolio(tuple(accounts))


BTCUSDT_TIERS = (  # Binance BTCUSDT brackets quoted in its FAQ (portfolio-format.md)
    Tier(0, 50_000, 0.004, 0, 125),
    Tier(50_000, 250_000, 0.005, None, 100),
    Tier(250_000, 1_000_000, 0.01, None, 50),
    Tier(1_000_000, 10_000_000, 0.025, None, 20),
)
