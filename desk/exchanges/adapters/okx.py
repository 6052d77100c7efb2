"""OKX v5 swaps and futures.

OKX's ``mgnRatio`` points the other way from desk's scale (adjusted equity ÷ maintenance
margin: higher is safer, 1.0 = liquidation; risk-math.md §4) and ccxt's position
``marginRatio`` is neither — desk keeps OKX's own figure in ``reported.margin_ratio`` (the
venue's sense, for "venue_margin_ratio") and never feeds it to the engine. OKX tiers are in
contracts, not notional: the position gets one tier at its current effective rate,
``mmr`` (an amount) ÷ notional in the settle currency. ``liqPx`` "" → None.
"""

from __future__ import annotations

from typing import Any

from desk.domain.model import Account, Kind, Leg, MarginMode, Position, Reported, Tier
from desk.exchanges.adapters.base import UNBOUNDED_NOTIONAL, ReadResult
from desk.exchanges.adapters.common import (
    ShapeError,
    TierCache,
    margin_mode_of,
    market_facts,
    num,
    price_or_none,
    required_positive,
    side_of,
    strip_info,
)
from desk.exchanges.config import ReaderConfig

_LEGS = {"net": Leg.BOTH, "long": Leg.LONG, "short": Leg.SHORT}


class OkxAdapter:
    venue = "okx"
    market_types: tuple[str, ...] = ("swap", "future")

    def configure(self, exchange: Any, cfg: ReaderConfig) -> None:
        exchange.has["fetchCurrencies"] = False
        exchange.options["fetchMarkets"] = {"types": list(self.market_types)}

    async def read(self, ex: Any, cfg: ReaderConfig, tiers: TierCache, now: float) -> ReadResult:
        rows = await ex.fetch_positions()
        balance = await ex.fetch_balance()
        try:
            detail = balance["info"]["data"][0]
        except (TypeError, KeyError, IndexError):
            raise ShapeError(f"{cfg.name}: the balance answer has no account entry") from None
        open_rows = [p for p in rows if (num(p.get("contracts")) or 0.0) > 0
                     and (ex.markets.get(p.get("symbol")) or {}).get("contract")]
        if not open_rows and (num(detail.get("mmr")) or 0.0) > 0:
            raise ShapeError(f"{cfg.name}: no positions listed while the account holds maintenance "
                             f"margin {detail.get('mmr')}; the answer is incomplete")
        positions = tuple(_position(ex, cfg, p, now) for p in open_rows)
        wallets: dict[str, float] = {}
        reported: dict[str, Reported] = {}
        for item in detail.get("details") or []:
            code, cash = item.get("ccy"), num(item.get("cashBal"))
            if code and cash is not None and (cash != 0 or any(p.settle == code for p in positions)):
                wallets[code] = cash
                ratio = num(item.get("mgnRatio"))
                if ratio is not None:
                    reported[code] = Reported(margin_ratio=ratio)  # OKX's sense: higher is safer
        account = Account(name=cfg.name, venue=self.venue, wallets=wallets, positions=positions,
                          reported=reported, data_time=now)
        return ReadResult(account, {"positions": [strip_info(p) for p in rows], "balance": detail})


def _position(ex: Any, cfg: ReaderConfig, p: dict[str, Any], now: float) -> Position:
    symbol = p.get("symbol") or "?"
    where = f"{cfg.name} {symbol}"
    info = p.get("info") or {}
    facts = market_facts(ex.markets, symbol, where)
    mode = margin_mode_of(info.get("mgnMode"), where)
    contracts = required_positive(abs(num(info.get("pos")) or 0.0), "position size", where)
    mark = required_positive(info.get("markPx"), "mark price", where)
    margin = None
    if mode is MarginMode.ISOLATED:
        margin = num(info.get("margin"))
        if margin is None or margin < 0:
            raise ShapeError(f"{where}: isolated position without margin")
    quantity = contracts * facts.contract_size
    notional = quantity * mark if facts.kind is Kind.LINEAR else quantity / mark
    maint = num(info.get("mmr"))
    tiers: tuple[Tier, ...] = ()
    if maint is not None and maint >= 0 and notional > 0:
        tiers = (Tier(0.0, UNBOUNDED_NOTIONAL, maint / notional, 0.0),)
    return Position(
        symbol=symbol, settle=facts.settle, kind=facts.kind, contracts=contracts,
        side=side_of(p.get("side"), where),
        entry_price=required_positive(info.get("avgPx"), "entry price", where),
        mark_price=mark, margin_mode=mode, contract_size=facts.contract_size,
        leg=_LEGS.get(str(info.get("posSide") or "net"), Leg.BOTH), isolated_margin=margin,
        leverage=num(info.get("lever")), tiers=tiers, taker_fee=facts.taker_fee,
        reported=Reported(liquidation_price=price_or_none(info.get("liqPx")),
                          margin_ratio=num(info.get("mgnRatio"))),
        tick_size=facts.tick_size, mark_time=now,
    )
