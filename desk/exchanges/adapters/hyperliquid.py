"""Hyperliquid perpetuals, read by wallet address through the public ``POST /info``.

No key is needed. One ``clearinghouseState`` call gives positions and the cross account.
Maintenance margin is half the initial margin at max leverage: one tier with
MMR = 1/(2 × maxLeverage) and no maintenance amount (risk-math.md §6). Isolated margin
excludes uPnL: ``marginUsed − unrealizedPnl``. ``liquidationPx`` null → None.
"""

from __future__ import annotations

from typing import Any

from desk.domain.model import Account, MarginMode, Position, Reported, Tier
from desk.exchanges.adapters.base import UNBOUNDED_NOTIONAL, ReadResult
from desk.exchanges.adapters.common import (
    ShapeError,
    TierCache,
    market_facts,
    num,
    price_or_none,
    required_positive,
    side_of,
)
from desk.exchanges.base import ErrorKind, VenueError
from desk.exchanges.config import ReaderConfig


class HyperliquidAdapter:
    venue = "hyperliquid"
    market_types: tuple[str, ...] = ("swap",)

    def configure(self, exchange: Any, cfg: ReaderConfig) -> None:
        exchange.options["fetchMarkets"] = dict(exchange.options.get("fetchMarkets") or {},
                                                types=list(self.market_types))

    async def read(self, ex: Any, cfg: ReaderConfig, tiers: TierCache, now: float) -> ReadResult:
        if not cfg.wallet_address:
            raise VenueError(ErrorKind.CONFIG, f"{cfg.name} (hyperliquid): no wallet address set; "
                             f"add it with `desk accounts add {cfg.name} --venue hyperliquid "
                             f"--wallet-address 0x…`")
        state = await ex.public_post_info({"type": "clearinghouseState", "user": cfg.wallet_address})
        if not isinstance(state, dict) or not isinstance(state.get("assetPositions"), list) \
                or not isinstance(state.get("crossMarginSummary"), dict):
            raise ShapeError(f"{cfg.name}: the clearinghouseState answer lacks positions or the "
                             f"cross margin summary")
        parsed = [ex.parse_position(item) for item in state["assetPositions"]]
        open_rows = [p for p in parsed if (num(p.get("contracts")) or 0.0) > 0]
        cross_value = num(state["crossMarginSummary"].get("accountValue"))
        cross_mm = num(state.get("crossMaintenanceMarginUsed"))
        if cross_value is None or cross_mm is None:
            raise ShapeError(f"{cfg.name}: the cross margin summary lacks accountValue or "
                             f"crossMaintenanceMarginUsed")
        if not open_rows and cross_mm > 0:
            raise ShapeError(f"{cfg.name}: no positions listed while the account uses maintenance "
                             f"margin {cross_mm:g}; the answer is incomplete")
        positions = tuple(_position(ex, cfg, p, now) for p in open_rows)
        cross_upnl = sum(num(p["info"]["position"].get("unrealizedPnl")) or 0.0
                         for p, pos in zip(open_rows, positions, strict=True)
                         if pos.margin_mode is MarginMode.CROSS)
        wallets = {"USDC": cross_value - cross_upnl}
        reported = {}
        if cross_value > 0:
            reported["USDC"] = Reported(margin_ratio=cross_mm / cross_value)
        account = Account(name=cfg.name, venue=self.venue, wallets=wallets, positions=positions,
                          reported=reported, data_time=now)
        return ReadResult(account, {"clearinghouseState": state})


def _position(ex: Any, cfg: ReaderConfig, p: dict[str, Any], now: float) -> Position:
    symbol = p.get("symbol") or "?"
    where = f"{cfg.name} {symbol}"
    info = (p.get("info") or {}).get("position") or {}
    facts = market_facts(ex.markets, symbol, where)
    lev = info.get("leverage") or {}
    mode = MarginMode.ISOLATED if lev.get("type") == "isolated" else MarginMode.CROSS
    contracts = required_positive(abs(num(info.get("szi")) or 0.0), "position size", where)
    value = required_positive(info.get("positionValue"), "position value", where)
    margin = None
    if mode is MarginMode.ISOLATED:
        used, upnl = num(info.get("marginUsed")), num(info.get("unrealizedPnl"))
        if used is None or upnl is None:
            raise ShapeError(f"{where}: isolated position without marginUsed/unrealizedPnl")
        margin = used - upnl
    max_leverage = num(info.get("maxLeverage")) or num(
        (ex.markets[symbol].get("info") or {}).get("maxLeverage"))
    if not max_leverage or max_leverage <= 0:
        raise ShapeError(f"{where}: no max leverage, so no maintenance rate")
    tier = Tier(notional_floor=0.0, notional_cap=UNBOUNDED_NOTIONAL, mmr=1.0 / (2.0 * max_leverage),
                maintenance_amount=0.0, max_leverage=max_leverage)
    return Position(
        symbol=symbol, settle=facts.settle, kind=facts.kind, contracts=contracts,
        side=side_of(p.get("side"), where),
        entry_price=required_positive(info.get("entryPx"), "entry price", where),
        mark_price=value / contracts, margin_mode=mode, contract_size=facts.contract_size,
        isolated_margin=margin, leverage=num(lev.get("value")), tiers=(tier,),
        taker_fee=facts.taker_fee,
        reported=Reported(liquidation_price=price_or_none(info.get("liquidationPx"))),
        tick_size=facts.tick_size, mark_time=now,
    )
