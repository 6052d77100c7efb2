"""Bybit v5: Unified Trading Account (UTA) and classic accounts.

Where ccxt misleads (ccxt-notes.md §10.6): on UTA ``marginMode`` is always None — the mode is
the account's (``/v5/account/info`` ``marginMode``) except UTA 1.0 inverse, which keeps the
position's ``tradeMode``; ``liqPrice``/``bustPrice`` are "" on UTA cross → None. Isolated
margin is the position margin ``positionBalance`` (it already holds the close-fee reserve,
risk-math.md §3.2). Tiers are the symbol's risk limits with ``mmDeduction``.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from desk.domain.model import (
    Account,
    AccountMargin,
    Collateral,
    CollateralTier,
    Kind,
    Leg,
    MarginMode,
    Position,
    Reported,
    Side,
    SpotBalance,
)
from desk.domain.unified import collateral_underlying
from desk.exchanges.adapters.base import ReadResult
from desk.exchanges.adapters.common import (
    ShapeError,
    TierCache,
    market_facts,
    num,
    price_or_none,
    required_positive,
    spot_from_wallet,
    strip_info,
    tiers_from_ccxt,
)
from desk.exchanges.adapters.orders import adl_rank
from desk.exchanges.config import ReaderConfig

_UTA_STATUSES = {3, 4, 5, 6}  # 1 = classic; 3/4 = UTA 1.0 (pro); 5/6 = UTA 2.0 (pro)
_LEGS = {0: Leg.BOTH, 1: Leg.LONG, 2: Leg.SHORT}
_PAGE = 200


#: how long the public tiered collateral ratios are kept (seconds): Bybit changes them by announcement
COLLATERAL_REFRESH_SECONDS = 3600.0


class BybitAdapter:
    venue = "bybit"
    market_types: tuple[str, ...] = ("linear", "inverse")

    def __init__(self) -> None:
        self._collateral_tiers: tuple[dict[str, tuple[CollateralTier, ...]], float] | None = None
        self._fees: tuple[dict[str, float], float] | None = None

    def configure(self, exchange: Any, cfg: ReaderConfig) -> None:
        exchange.has["fetchCurrencies"] = False  # private coin list; not needed to read positions
        exchange.options["fetchMarkets"] = {"types": list(self.market_types)}

    async def read(self, ex: Any, cfg: ReaderConfig, tiers: TierCache, now: float) -> ReadResult:
        account_info = await ex.private_get_v5_account_info()
        result = account_info.get("result") if isinstance(account_info, dict) else None
        if not isinstance(result, dict) or "unifiedMarginStatus" not in result:
            raise ShapeError(f"{cfg.name}: the account-info answer has no unifiedMarginStatus")
        status = int(num(result.get("unifiedMarginStatus")) or 1)
        unified = status in _UTA_STATUSES
        account_mode = str(result.get("marginMode") or "")
        # Tell ccxt what we just read, so fetch_balance picks UNIFIED/CONTRACT without asking again.
        ex.options["enableUnifiedMargin"] = False
        ex.options["enableUnifiedAccount"] = unified
        ex.options["unifiedMarginStatus"] = status

        queries: list[dict[str, Any]] = [{"settleCoin": "USDT"}, {"subType": "inverse"}]
        if unified:
            queries.insert(1, {"settleCoin": "USDC"})
        rows: list[dict[str, Any]] = []
        for params in queries:
            page = await ex.fetch_positions(None, dict(params))
            if len(page) >= _PAGE:
                page = await ex.fetch_positions(None, dict(params, paginate=True))
            rows.extend(page)
        balance = await ex.fetch_balance({"type": "swap", "subType": "linear"})
        wallet = _wallet_entry(cfg.name, balance)
        open_rows = [p for p in rows if (num(p.get("contracts")) or 0.0) > 0]
        _cross_check(cfg.name, open_rows, wallet)

        raw_tiers: dict[str, Any] = {}
        for symbol in tiers.missing([p["symbol"] for p in open_rows], now):
            fetched = await ex.fetch_market_leverage_tiers(symbol)
            if not fetched:
                raise ShapeError(f"{cfg.name}: the venue sent no risk limits for {symbol}")
            raw_tiers[symbol] = [strip_info(r) for r in fetched]
            tiers.put(symbol, tiers_from_ccxt(fetched, "mmDeduction", f"{cfg.name} {symbol}"), now)

        positions = tuple(
            _position(ex, cfg, p, tiers, now, status, account_mode) for p in open_rows)
        tickers = await _tickers(ex, positions)
        positions = with_funding(positions, tickers, ex.markets)
        spot, warnings = uta_spot(wallet, positions) if unified else ((), [])
        # ``wallets`` are the settle pools' balances; a UTA coin that is a spot leg is not one (no position
        # settles in it): listed here too, the engine would make it a pool of its own and the whole book
        # would count its move twice (as that pool and as the spot leg).
        spot_coins = {b.asset for b in spot}
        wallets: dict[str, float] = {}
        for coin in wallet.get("coin") or []:
            code, amount = coin.get("coin"), num(coin.get("walletBalance"))
            if code in spot_coins:
                continue
            if code and amount is not None and (amount != 0 or any(p.settle == code for p in positions)):
                wallets[code] = amount
        reported: dict[str, Reported] = {}
        account_mm_rate = num(wallet.get("accountMMRate"))
        if unified and account_mm_rate is not None:
            # UTA cross margin is one pool for the whole account: its rate applies to every settle coin.
            for code in {*wallets, *(p.settle for p in positions)}:
                reported[code] = Reported(margin_ratio=account_mm_rate)
        raw = {"account_info": result, "positions": [strip_info(p) for p in rows], "wallet": wallet,
               "tiers": raw_tiers, "unified": unified, "tickers": tickers}
        margin = None
        if unified and account_mode in ("REGULAR_MARGIN", "PORTFOLIO_MARGIN"):
            portfolio = account_mode == "PORTFOLIO_MARGIN"
            ratios = {} if portfolio else await self._tiers(ex, cfg, now)
            if not portfolio and positions:
                positions = await self._with_own_fees(ex, cfg, positions, now)
            margin = uta_margin(cfg.name, wallet, positions, ratios, portfolio=portfolio)
            reported = {}  # the one pool's figure is the account's (margin.venue_margin_ratio)
        account = Account(name=cfg.name, venue=self.venue, wallets=wallets, positions=positions,
                          reported=reported, data_time=now, margin=margin, spot=spot)
        return ReadResult(account, raw, [f"{cfg.name}: {w}" for w in warnings])

    async def _with_own_fees(self, ex: Any, cfg: ReaderConfig, positions: tuple[Position, ...],
                             now: float) -> tuple[Position, ...]:
        """The account's own taker rate per symbol (GET /v5/account/fee-rate): UTA cross reserves the
        fee to close in each position's maintenance margin (unified-margin.md §3), and ccxt's market
        default (0.06 %) is not the account's rate."""
        if self._fees is None or now - self._fees[1] >= COLLATERAL_REFRESH_SECONDS:
            rates: dict[str, float] = {}
            for category in ("linear", "inverse"):
                answer = await ex.private_get_v5_account_fee_rate({"category": category})
                try:
                    rows = answer["result"]["list"]
                except (TypeError, KeyError):
                    raise ShapeError(f"{cfg.name}: the fee-rate answer has no list") from None
                for row in rows or []:
                    rate = num(row.get("takerFeeRate"))
                    if row.get("symbol") and rate is not None:
                        rates[str(row["symbol"])] = rate
            self._fees = (rates, now)
        rates = self._fees[0]
        out = []
        for p in positions:
            market_id = (ex.markets.get(p.symbol) or {}).get("id")
            rate = rates.get(str(market_id))
            out.append(p if rate is None else dataclasses.replace(p, taker_fee=rate))
        return tuple(out)

    async def _tiers(self, ex: Any, cfg: ReaderConfig, now: float) -> dict[str, tuple[CollateralTier, ...]]:
        """Bybit's public tiered collateral ratios of every coin (GET /v5/spot-margin-trade/collateral,
        unified-margin.md §3 "Collateral tiers"), kept :data:`COLLATERAL_REFRESH_SECONDS`."""
        if self._collateral_tiers is None or now - self._collateral_tiers[1] >= COLLATERAL_REFRESH_SECONDS:
            answer = await ex.public_get_v5_spot_margin_trade_collateral()
            self._collateral_tiers = (collateral_tiers(cfg.name, answer), now)
        return self._collateral_tiers[0]


def _wallet_entry(name: str, balance: dict[str, Any]) -> dict[str, Any]:
    info = balance.get("info")
    try:
        entry = info["result"]["list"][0]  # type: ignore[index]
    except (TypeError, KeyError, IndexError):
        raise ShapeError(f"{name}: the wallet-balance answer has no account entry") from None
    if not isinstance(entry, dict):
        raise ShapeError(f"{name}: the wallet-balance account entry is not an object")
    return entry


def _cross_check(name: str, open_rows: list[dict[str, Any]], wallet: dict[str, Any]) -> None:
    """An empty position list is believed only if the wallet agrees no margin is held for one.

    Per coin, ``totalPositionMM`` is the positions' maintenance margin. On a unified account
    ``totalMaintenanceMargin`` (USD) is the whole account's — positions, and also spot-margin
    borrowing, so it is only evidence while no coin is borrowed.
    """
    if open_rows:
        return
    position_mm = sum(num(c.get("totalPositionMM")) or 0.0 for c in wallet.get("coin") or [])
    if position_mm > 0:
        raise ShapeError(f"{name}: the venue listed no positions while the wallet holds position "
                         f"maintenance margin {position_mm:g}; the position answer is incomplete")
    account_mm = num(wallet.get("totalMaintenanceMargin")) or 0.0
    borrowing = any((num(c.get("borrowAmount")) or 0.0) > 0 for c in wallet.get("coin") or [])
    if account_mm > 0 and not borrowing:
        raise ShapeError(f"{name}: the venue listed no positions while the account's maintenance "
                         f"margin is {account_mm:g} USD; the position answer is incomplete")


def _position(ex: Any, cfg: ReaderConfig, p: dict[str, Any], tiers: TierCache, now: float,
              status: int, account_mode: str) -> Position:
    symbol = p.get("symbol") or "?"
    where = f"{cfg.name} {symbol}"
    info = p.get("info") or {}
    facts = market_facts(ex.markets, symbol, where)
    side_raw = info.get("side")
    if side_raw not in ("Buy", "Sell"):
        raise ShapeError(f"{where}: position side is {side_raw!r}, expected Buy or Sell")
    uses_trade_mode = status not in _UTA_STATUSES or (status in (3, 4) and facts.kind is Kind.INVERSE)
    if uses_trade_mode:
        isolated = str(info.get("tradeMode")) == "1"
    else:
        isolated = account_mode == "ISOLATED_MARGIN"
    mode = MarginMode.ISOLATED if isolated else MarginMode.CROSS
    margin = None
    if isolated:
        margin = num(info.get("positionBalance"))
        if margin is None:
            margin = num(info.get("positionIM"))
        if margin is None or margin < 0:
            raise ShapeError(f"{where}: isolated position without position margin")
    return Position(
        symbol=symbol, settle=facts.settle, kind=facts.kind,
        contracts=required_positive(info.get("size"), "position size", where),
        side=Side.LONG if side_raw == "Buy" else Side.SHORT,
        entry_price=required_positive(info.get("avgPrice"), "entry price", where),
        mark_price=required_positive(info.get("markPrice"), "mark price", where),
        margin_mode=mode, contract_size=facts.contract_size,
        leg=_LEGS.get(int(num(info.get("positionIdx")) or 0), Leg.BOTH),
        isolated_margin=margin, leverage=num(info.get("leverage")) or None,
        tiers=tiers.get(symbol, now) or (), taker_fee=facts.taker_fee,
        reported=Reported(liquidation_price=price_or_none(info.get("liqPrice")),
                          bankruptcy_price=price_or_none(info.get("bustPrice"))),
        tick_size=facts.tick_size, lot_size=facts.lot_size, mark_time=now,
        adl_rank=adl_rank(info.get("adlRankIndicator")),  # 0 = not ranked, 1–5 (desk.domain.adl)
        realized_pnl=num(info.get("curRealisedPnl")),  # "realised PnL for the current holding position"
    )


async def _tickers(ex: Any, positions: tuple[Position, ...]) -> list[Any]:
    """The ``/v5/market/tickers`` rows (funding rate, next funding time) of the symbols held: one
    public read per category held (the symbol's own row when it is the only one); none while flat."""
    by_category: dict[str, set[str]] = {}
    for p in positions:
        category = "inverse" if p.kind is Kind.INVERSE else "linear"
        by_category.setdefault(category, set()).add(str(ex.markets[p.symbol]["id"]))
    rows: list[Any] = []
    for category, ids in sorted(by_category.items()):
        params = {"category": category}
        if len(ids) == 1:
            params["symbol"] = next(iter(ids))
        answer = await ex.public_get_v5_market_tickers(params)
        found = (answer.get("result") or {}).get("list") if isinstance(answer, dict) else None
        rows += found if isinstance(found, list) else []
    return rows


def with_funding(positions: tuple[Position, ...], tickers: list[Any],
                 markets: Any) -> tuple[Position, ...]:
    """``positions`` with their ticker's ``fundingRate`` and ``nextFundingTime`` (ms), and the
    instrument's ``fundingInterval`` (minutes, from the markets already loaded); a dated future's
    ticker carries no rate and keeps None."""
    rows = {str(r.get("symbol")): r for r in tickers if isinstance(r, dict)}
    out = []
    for p in positions:
        market = markets[p.symbol]
        row = rows.get(str(market["id"])) or {}
        rate = num(row.get("fundingRate"))
        if rate is None:
            out.append(p)
            continue
        due = num(row.get("nextFundingTime"))
        minutes = num((market.get("info") or {}).get("fundingInterval"))
        out.append(dataclasses.replace(
            p, funding_rate=rate, next_funding_time=due / 1000.0 if due else None,
            funding_interval_hours=minutes / 60.0 if minutes else None))
    return tuple(out)


def collateral_tiers(name: str, answer: Any) -> dict[str, tuple[CollateralTier, ...]]:
    """``{coin: tiers}`` from the tiered collateral ratio answer; ``maxQty ""`` is open-ended, bounds
    are in coin units, each slice counted at its own ratio (progressive, unified-margin.md §3)."""
    try:
        rows = answer["result"]["list"]
    except (TypeError, KeyError):
        raise ShapeError(f"{name}: the collateral-ratio answer has no list") from None
    out: dict[str, tuple[CollateralTier, ...]] = {}
    for row in rows or []:
        coin = row.get("currency") if isinstance(row, dict) else None
        tiers = []
        for t in (row.get("collateralRatioList") or []) if coin else []:
            floor, ratio = num(t.get("minQty")), num(t.get("collateralRatio"))
            cap = num(t.get("maxQty")) if t.get("maxQty") not in ("", None) else float("inf")
            if floor is None or ratio is None or cap is None or not 0 <= ratio <= 1 or cap <= floor:
                raise ShapeError(f"{name}: malformed collateral ratio tier for {coin}: {t!r}")
            tiers.append(CollateralTier(floor, cap, ratio))
        if coin and tiers:
            out[str(coin)] = tuple(sorted(tiers, key=lambda t: t.floor))
    return out


def uta_margin(name: str, wallet: dict[str, Any], positions: tuple[Position, ...],
               ratios: dict[str, tuple[CollateralTier, ...]], *, portfolio: bool) -> AccountMargin:
    """The Unified Trading Account's one USD pool (unified-margin.md §3).

    Counted coins are those with ``marginCollateral`` and ``collateralSwitch`` both on; each at
    its USD index ``usdValue / equity`` with Bybit's tiered collateral value ratio. Portfolio
    margin is named, not recomputed: its maintenance margin comes from Bybit's scenario engine.
    """
    settles = {p.settle for p in positions if p.margin_mode is MarginMode.CROSS}
    collateral: list[Collateral] = []
    for coin in wallet.get("coin") or []:
        code = coin.get("coin")
        counted = _flag(coin.get("marginCollateral")) and _flag(coin.get("collateralSwitch"))
        equity, usd = num(coin.get("equity")), num(coin.get("usdValue"))
        amount = num(coin.get("walletBalance"))
        if not code or amount is None or not (counted or code in settles):
            continue
        if not equity or usd is None:
            if code in settles:
                raise ShapeError(f"{name}: positions settle in {code}, but the wallet gives no USD value "
                                 "for it; desk cannot value them")
            continue
        price = usd / equity
        if price <= 0:
            raise ShapeError(f"{name}: {code} has a non-positive USD index ({usd}/{equity})")
        tiers: tuple[CollateralTier, ...] = ()
        rate = 1.0
        if not counted:
            rate = 0.0  # held, and settling positions, but switched off as collateral
        elif not portfolio:
            if code not in ratios:
                raise ShapeError(f"{name}: Bybit published no collateral ratio for {code}")
            tiers = ratios[code]
        borrowed = num(coin.get("spotBorrow")) or 0.0
        collateral.append(Collateral(code, amount, price, rate, tiers, "coin", borrowed=borrowed,
                                     underlying=collateral_underlying(code)))
    ratio = num(wallet.get("accountMMRate"))
    if portfolio:
        why = "maintenance margin comes from Bybit's scenario engine, which is not published per position"
        return AccountMargin(mode="bybit uta portfolio margin", collateral=tuple(collateral),
                             venue_margin_ratio=ratio, cannot_recompute=why)
    return AccountMargin(mode="bybit uta cross", collateral=tuple(collateral), venue_margin_ratio=ratio)


def uta_spot(wallet: dict[str, Any],
             positions: tuple[Position, ...]) -> tuple[tuple[SpotBalance, ...], list[str]]:
    """The unified wallet's coins as spot holdings (the wallet-balance answer already read).

    On a Unified Trading Account there is no separate spot wallet: a coin bought on spot sits in the
    unified wallet, where it is *also* collateral of the one margin pool (:func:`uta_margin`). The two
    roles feed different figures and neither is counted twice: as collateral it is part of the pool's
    equity (the engine's margin ratio and liquidation prices); as a spot leg it is exposure of the
    whole book (``desk.domain.book``: exposure, perp-against-spot hedges, the book's P&L). The book's
    P&L adds each margin pool's change (a pool per coin of ``wallets``) and each spot leg's, so a spot
    coin is kept out of ``wallets`` by the caller. Dollars are not a hedge leg, nor is a coin positions
    settle in (inverse margin: it is that pool's balance).
    Each coin is valued at Bybit's USD index for it, ``usdValue / equity`` (as the pool values it); a
    coin without one is left out and named in the warnings returned with the balances.
    """
    spot, unvalued = spot_from_wallet(wallet.get("coin") or [], positions, coin="coin",
                                      amount="walletBalance", equity="equity", usd="usdValue")
    warnings = [f"Bybit gives no USD value for {', '.join(unvalued)} in the unified wallet; left out of "
                "the spot balances"] if unvalued else []
    return spot, warnings


def _flag(value: Any) -> bool:
    return value is True or str(value).lower() == "true"
