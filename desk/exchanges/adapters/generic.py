"""Any other ccxt venue with fetchPositions: unified fields only, every assumption recorded.

Unified semantics vary by venue (ccxt-notes.md §3, §8): margin mode may be missing (then
cross is assumed and noted in ``raw['assumptions']``), isolated margin comes from
``positionMargin`` or ``collateral − unrealizedPnl``, the only tier is ccxt's
``maintenanceMarginPercentage``, and the wallet is ccxt's ``total`` for the settle currency.
"""

from __future__ import annotations

from typing import Any

from desk.domain.model import Account, Leg, MarginMode, Position, Reported, Tier
from desk.exchanges.adapters.base import UNBOUNDED_NOTIONAL, ReadResult
from desk.exchanges.adapters.common import (
    ShapeError,
    TierCache,
    leg_of_hedged,
    margin_mode_of,
    market_facts,
    num,
    price_or_none,
    required_positive,
    side_of,
    strip_info,
)
from desk.exchanges.config import ReaderConfig


class GenericAdapter:
    market_types: tuple[str, ...] = ("swap", "future")

    def __init__(self, venue: str):
        self.venue = venue

    def configure(self, exchange: Any, cfg: ReaderConfig) -> None:
        exchange.has["fetchCurrencies"] = False

    async def read(self, ex: Any, cfg: ReaderConfig, tiers: TierCache, now: float) -> ReadResult:
        rows = await ex.fetch_positions()
        balance = await ex.fetch_balance()
        assumptions: list[str] = []
        open_rows = [p for p in rows if (num(p.get("contracts")) or 0.0) > 0]
        positions = tuple(_position(ex, cfg, p, now, assumptions) for p in open_rows)
        totals = balance.get("total") or {}
        wallets = {code: float(v) for code, v in totals.items()
                   if num(v) is not None and (num(v) != 0 or any(p.settle == code for p in positions))}
        for p in positions:
            if p.settle not in wallets:
                raise ShapeError(f"{cfg.name}: no balance reported in {p.settle}, the settle currency "
                                 f"of {p.symbol}")
        if positions:
            assumptions.append("wallet = ccxt balance total (may include unrealized PnL on this venue)")
        account = Account(name=cfg.name, venue=self.venue, wallets=wallets, positions=positions,
                          data_time=now)
        raw = {"positions": [strip_info(p) for p in rows], "balance": balance.get("info"),
               "assumptions": assumptions}
        return ReadResult(account, raw)


def _position(ex: Any, cfg: ReaderConfig, p: dict[str, Any], now: float,
              assumptions: list[str]) -> Position:
    symbol = p.get("symbol") or "?"
    where = f"{cfg.name} {symbol}"
    facts = market_facts(ex.markets, symbol, where)
    mode_raw = p.get("marginMode")
    if mode_raw is None:
        mode_raw = "isolated" if p.get("isolated") else "cross"
        assumptions.append(f"{symbol}: venue gave no margin mode; assumed {mode_raw}")
    mode = margin_mode_of(mode_raw, where)
    margin = None
    if mode is MarginMode.ISOLATED:
        margin = num(p.get("positionMargin"))
        if margin is None:
            collateral, upnl = num(p.get("collateral")), num(p.get("unrealizedPnl"))
            if collateral is None:
                raise ShapeError(f"{where}: isolated position without margin or collateral")
            margin = collateral - (upnl or 0.0)
    side = side_of(p.get("side"), where)
    mmr = num(p.get("maintenanceMarginPercentage"))
    tiers = (Tier(0.0, UNBOUNDED_NOTIONAL, mmr, 0.0),) if mmr is not None and mmr >= 0 else ()
    if not tiers:
        assumptions.append(f"{symbol}: venue gave no maintenance rate")
    return Position(
        symbol=symbol, settle=facts.settle, kind=facts.kind,
        contracts=required_positive(p.get("contracts"), "position size", where), side=side,
        entry_price=required_positive(p.get("entryPrice"), "entry price", where),
        mark_price=required_positive(p.get("markPrice"), "mark price", where), margin_mode=mode,
        contract_size=facts.contract_size,
        leg=leg_of_hedged(bool(p.get("hedged")), side) if p.get("hedged") else Leg.BOTH,
        isolated_margin=margin, leverage=num(p.get("leverage")), tiers=tiers,
        taker_fee=facts.taker_fee,
        reported=Reported(liquidation_price=price_or_none(p.get("liquidationPrice"))),
        tick_size=facts.tick_size, lot_size=facts.lot_size, mark_time=now,
    )
