"""Binance USDⓈ-M (fapi, linear) and COIN-M (dapi, inverse).

Where ccxt misleads (ccxt-notes.md §3, §10):
* cross ``collateral`` is back-computed from the liquidation price — unused; the pool is the
  asset's ``crossWalletBalance`` and the account's own ``maintMargin``/``marginBalance``;
* ``leverage`` is None with positionRisk v3 — derived from ``notional / positionInitialMargin``;
* ``liquidationPrice`` "0" means "cannot be liquidated" → None;
* tiers: ccxt keeps ``cum`` (maintenance amount) only in ``info``.
A successful call returning no positions is cross-checked against the account's maintenance
margin and its ``positions`` list, so a broken answer is never read as "flat".
"""

from __future__ import annotations

from typing import Any

from desk.domain.model import Account, AccountMargin, Collateral, Leg, MarginMode, Position, Reported
from desk.domain.unified import collateral_underlying
from desk.exchanges.adapters.base import ReadResult
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
    tiers_from_ccxt,
)
from desk.exchanges.adapters.orders import adl_rank
from desk.exchanges.config import ReaderConfig

_LEGS = {"BOTH": Leg.BOTH, "LONG": Leg.LONG, "SHORT": Leg.SHORT}


class BinanceAdapter:
    market_types: tuple[str, ...]

    def __init__(self, venue: str):
        self.venue = venue
        self.market_types = ("linear",) if venue == "binanceusdm" else ("inverse",)
        self._multi_assets: tuple[bool, float] | None = None  # (flag, when read)

    def configure(self, exchange: Any, cfg: ReaderConfig) -> None:
        exchange.options["fetchCurrencies"] = False  # private sapi call; futures keys may lack it
        exchange.options["fetchMargins"] = False
        exchange.options["fetchMarkets"] = {"types": list(self.market_types)}

    async def read(self, ex: Any, cfg: ReaderConfig, tiers: TierCache, now: float) -> ReadResult:
        rows = await ex.fetch_positions()
        balance = await ex.fetch_balance()
        info = balance.get("info")
        if not isinstance(info, dict) or not isinstance(info.get("assets"), list):
            raise ShapeError(f"{cfg.name}: the futures account answer has no asset list")
        open_rows = [p for p in rows if (num(p.get("contracts")) or 0.0) > 0]
        _cross_check(cfg.name, open_rows, info)

        symbols = [p["symbol"] for p in open_rows]
        raw_tiers: dict[str, Any] = {}
        missing = tiers.missing(symbols, now)
        if missing:
            fetched = await ex.fetch_leverage_tiers(missing)
            for symbol in missing:
                rows_for = fetched.get(symbol)
                if not rows_for:
                    raise ShapeError(f"{cfg.name}: the venue sent no maintenance brackets for {symbol}")
                raw_tiers[symbol] = [strip_info(r) for r in rows_for]
                tiers.put(symbol, tiers_from_ccxt(rows_for, "cum", f"{cfg.name} {symbol}"), now)

        positions = tuple(self._position(ex, cfg, p, tiers, now) for p in open_rows)
        wallets: dict[str, float] = {}
        reported: dict[str, Reported] = {}
        for asset in info["assets"]:
            code = asset.get("asset")
            wallet = num(asset.get("crossWalletBalance"))
            if not code or wallet is None:
                continue
            if wallet != 0 or any(p.settle == code for p in positions):
                wallets[code] = wallet
            maint, balance_ = num(asset.get("maintMargin")), num(asset.get("marginBalance"))
            if maint is not None and balance_ and balance_ > 0 and maint > 0:
                reported[code] = Reported(margin_ratio=maint / balance_)
        margin = None
        raw = {"positions": [strip_info(p) for p in rows], "account": info, "tiers": raw_tiers}
        funded = {a.get("asset") for a in info["assets"] if num(a.get("crossWalletBalance"))}
        funded |= {p.settle for p in positions if p.margin_mode is MarginMode.CROSS}
        # Only an account with more than one funded or settling asset can pool differently from one
        # pool per asset, so only then is Binance asked (the flag weighs 30, ~1.5 s of ccxt's rate
        # limiter): a single-asset account reads as fast as before.
        if self.venue == "binanceusdm" and len(funded) > 1 and await self._is_multi_assets(ex, cfg, now):
            index_rows = await ex.fapipublic_get_assetindex()
            raw["assetIndex"] = index_rows
            margin = multi_assets_margin(cfg.name, info, index_rows, positions)
            reported = {}  # per-asset ratios mean nothing when the pool is the whole account
        account = Account(name=cfg.name, venue=self.venue, wallets=wallets, positions=positions,
                          reported=reported, data_time=now, margin=margin)
        return ReadResult(account, raw)

    async def _is_multi_assets(self, ex: Any, cfg: ReaderConfig, now: float) -> bool:
        """Multi-Assets mode, from Binance's own flag (GET /fapi/v1/multiAssetsMargin, weight 30;
        the v3 account answer does not carry it, unified-margin.md §1). Read again every
        :data:`MODE_REFRESH_SECONDS`: a trader switches modes rarely, and only while flat."""
        if self._multi_assets is None or now - self._multi_assets[1] >= MODE_REFRESH_SECONDS:
            answer = await ex.fapiprivate_get_multiassetsmargin()
            flag = answer.get("multiAssetsMargin") if isinstance(answer, dict) else None
            if not isinstance(flag, bool):
                raise ShapeError(f"{cfg.name}: the venue did not say whether the account is in Multi-Assets "
                                 f"mode (multiAssetsMargin: {flag!r})")
            self._multi_assets = (flag, now)
        return self._multi_assets[0]

    def _position(self, ex: Any, cfg: ReaderConfig, p: dict[str, Any], tiers: TierCache,
                  now: float) -> Position:
        symbol = p.get("symbol") or "?"
        where = f"{cfg.name} {symbol}"
        info = p.get("info") or {}
        facts = market_facts(ex.markets, symbol, where)
        margin_type = info.get("marginType")
        if margin_type is None:  # v3 dropped marginType: an isolated position has its own wallet
            margin_type = "isolated" if (num(info.get("isolatedWallet")) or 0.0) != 0 else "cross"
        mode = margin_mode_of(margin_type, where)
        isolated = None
        if mode is MarginMode.ISOLATED:
            isolated = num(info.get("isolatedWallet"))
            if isolated is None or isolated < 0:
                raise ShapeError(f"{where}: isolated position without isolatedWallet")
        return Position(
            symbol=symbol, settle=facts.settle, kind=facts.kind,
            contracts=required_positive(p.get("contracts"), "position size", where),
            side=side_of(p.get("side"), where),
            entry_price=required_positive(info.get("entryPrice"), "entry price", where),
            mark_price=required_positive(info.get("markPrice"), "mark price", where),
            margin_mode=mode, contract_size=facts.contract_size,
            leg=_LEGS.get(str(info.get("positionSide", "BOTH")).upper(), Leg.BOTH),
            isolated_margin=isolated, leverage=_leverage(info), tiers=tiers.get(symbol, now) or (),
            taker_fee=facts.taker_fee,
            reported=Reported(liquidation_price=price_or_none(info.get("liquidationPrice"))),
            tick_size=facts.tick_size, lot_size=facts.lot_size, mark_time=now,
            adl_rank=adl_rank(info.get("adl")),  # positionRisk v3 "adl": 0–4
        )


#: how often the Multi-Assets flag is read again (seconds)
MODE_REFRESH_SECONDS = 300.0


def multi_assets_margin(name: str, info: dict[str, Any], index_rows: Any,
                        positions: tuple[Position, ...]) -> AccountMargin:
    """The account's one USD pool in Multi-Assets mode (unified-margin.md §1, §7).

    Each asset's cross wallet (``crossWalletBalance``: without isolated margin) at its asset
    index with Binance's bid/ask buffers; an asset without an index row is an error, never
    valued at 1. The venue's own ratio is ``totalMaintMargin / totalMarginBalance`` (USD).
    """
    if not isinstance(index_rows, list):
        raise ShapeError(f"{name}: the asset index answer is not a list")
    rows = {str(r.get("symbol")): r for r in index_rows if isinstance(r, dict)}
    settles = {p.settle for p in positions if p.margin_mode is MarginMode.CROSS}
    collateral: list[Collateral] = []
    for asset in info.get("assets") or []:
        code = asset.get("asset")
        wallet = num(asset.get("crossWalletBalance"))
        if not code or wallet is None or (wallet == 0 and code not in settles):
            continue
        row = rows.get(f"{code}USD")
        price = num(row.get("index")) if row else None
        if row is None or price is None or price <= 0:
            raise ShapeError(f"{name}: Binance sent no asset index for {code}USD; desk cannot value the "
                             f"{code} collateral")
        collateral.append(Collateral(
            code, wallet, price, bid_buffer=num(row.get("bidBuffer")) or 0.0,
            ask_buffer=num(row.get("askBuffer")) or 0.0, underlying=collateral_underlying(code)))
    missing = settles - {c.asset for c in collateral}
    if missing:
        raise ShapeError(f"{name}: positions settle in {', '.join(sorted(missing))}, which the account does "
                         "not list as an asset")
    maint, balance = num(info.get("totalMaintMargin")), num(info.get("totalMarginBalance"))
    ratio = maint / balance if maint is not None and balance and balance > 0 else None
    return AccountMargin(mode="binance multi-assets", valuation="USD", collateral=tuple(collateral),
                         venue_margin_ratio=ratio)


def _leverage(info: dict[str, Any]) -> float | None:
    explicit = num(info.get("leverage"))
    if explicit and explicit > 0:
        return explicit
    notional = num(info.get("notional"))
    initial = num(info.get("positionInitialMargin"))
    if notional and initial and initial > 0:
        return round(abs(notional) / initial, 6)
    return None


def _cross_check(name: str, open_rows: list[dict[str, Any]], account: dict[str, Any]) -> None:
    """An empty position list is believed only if the account agrees it holds none."""
    if open_rows:
        return
    held = [r for r in account.get("positions") or [] if (num(r.get("positionAmt")) or 0.0) != 0]
    maint = num(account.get("totalMaintMargin")) or sum(
        num(a.get("maintMargin")) or 0.0 for a in account.get("assets") or [])
    if held or maint > 0:
        raise ShapeError(f"{name}: the venue listed no positions while the account reports "
                         f"{len(held)} open position(s) and maintenance margin {maint:g}; "
                         f"the position answer is incomplete")
