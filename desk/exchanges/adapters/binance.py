"""Binance USDⓈ-M (fapi, linear) and COIN-M (dapi, inverse).

Where ccxt misleads (ccxt-notes.md §3, §10):
* cross ``collateral`` is back-computed from the liquidation price — unused; the pool is the
  asset's ``crossWalletBalance`` and the account's own ``maintMargin``/``marginBalance``;
* ``leverage`` is None with positionRisk v3 — derived from ``notional / positionInitialMargin``;
* ``liquidationPrice`` "0" means "cannot be liquidated" → None;
* tiers: ccxt keeps ``cum`` (maintenance amount) only in ``info``.
A successful call returning no positions is cross-checked against the account's maintenance
margin and its ``positions`` list, so a broken answer is never read as "flat".

Portfolio Margin (the unified account served by ``/papi``, unified-margin.md §2, §7) is asked,
never guessed: ``GET /papi/v1/account`` answers a Portfolio Margin account and refuses any other
key with 401 ``-2015`` (ccxt ``AuthenticationError``). A refusal only counts as "not Portfolio
Margin" once the classic futures read succeeds with the same key — Portfolio Margin keys are
refused there (both refusals are reported behaviour, not Binance documentation). Any other answer
leaves the mode unknown, and desk says so instead of reading the account per currency.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import ccxt

from desk.domain.book import DOLLARS
from desk.domain.model import (
    Account,
    AccountMargin,
    Collateral,
    Kind,
    Leg,
    MarginMode,
    Position,
    Reported,
    SpotBalance,
)
from desk.domain.unified import collateral_underlying, pool_state_scalar
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
    spot_from_wallet,
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
        self._portfolio: tuple[bool, float] | None = None  # (Portfolio Margin?, when confirmed)
        self._collateral_rates: tuple[dict[str, float], float] | None = None  # (rates, when read)
        # the spot wallet: (its balances, or None while the key may not read it; when read)
        self._spot: tuple[tuple[SpotBalance, ...] | None, float] | None = None
        self._spot_refusal: str | None = None  # why the spot wallet is unknown, while it is
        # the symbols whose funding interval Binance adjusted (market id → hours; when read)
        self._funding_info: tuple[dict[str, float], float] | None = None
        # the last adlQuantile answer: (rows, when read, read on the Portfolio Margin route?)
        self._adl: tuple[Any, float, bool] | None = None

    def configure(self, exchange: Any, cfg: ReaderConfig) -> None:
        exchange.options["fetchCurrencies"] = False  # private sapi call; futures keys may lack it
        exchange.options["fetchMargins"] = False
        exchange.options["fetchMarkets"] = {"types": list(self.market_types)}

    async def read(self, ex: Any, cfg: ReaderConfig, tiers: TierCache, now: float) -> ReadResult:
        known = self._portfolio
        ask = known is None or known[0] or now - known[1] >= MODE_REFRESH_SECONDS
        unknown: str | None = None
        if ask:
            answer, unknown = await self._portfolio_account(ex, cfg)
            if answer is not None:
                self._portfolio = (True, now)
                return await self._read_portfolio(ex, cfg, tiers, now, answer)
        try:
            result = await self._read_futures(ex, cfg, tiers, now)
        except ccxt.AuthenticationError as exc:
            if not ask:  # not asked this time: the account may have moved to Portfolio Margin since
                answer, unknown = await self._portfolio_account(ex, cfg)
                if answer is not None:
                    self._portfolio = (True, now)
                    return await self._read_portfolio(ex, cfg, tiers, now, answer)
            self._portfolio = None
            raise ccxt.AuthenticationError(
                f"Binance refused this key on the futures API ({exc}) and did not answer it on the "
                f"Portfolio Margin API either ({unknown or 'refused'})") from exc
        result = await self._with_spot(ex, cfg, result, now)
        if unknown is not None:
            # neither an account nor the refusal a classic key meets: the mode is unknown, and desk
            # says so rather than reading the account per currency (asked again next read)
            self._portfolio = None
            return ReadResult(dataclasses.replace(result.account, reported={}, margin=AccountMargin(
                mode=f"{PORTFOLIO_MARGIN_MODE} unknown", cannot_recompute=(
                    f"desk cannot tell whether this is a Portfolio Margin account: Binance answered "
                    f"the Portfolio Margin account read with {unknown}"))), result.raw, result.warnings)
        if ask:
            self._portfolio = (False, now)
        return result

    async def _with_spot(self, ex: Any, cfg: ReaderConfig, result: ReadResult, now: float) -> ReadResult:
        """``result`` with the spot wallet's coins (``GET /api/v3/account``, weight 20, the same key).

        The spot wallet is not the futures wallet: its coins are no margin, only legs of the book
        (a coin bought on spot against a perpetual short). Balances move rarely, so the wallet is read
        at most every :data:`SPOT_REFRESH_SECONDS`. A key Binance refuses there (401 ``-2015``: no
        permission, or an IP rule of the spot API) leaves the spot wallet unknown, which is not a
        failed read of the account, and desk says so once.
        """
        warnings = list(result.warnings)
        if self._spot is None or now - self._spot[1] >= SPOT_REFRESH_SECONDS:
            try:
                try:
                    answer = await ex.private_get_account({"omitZeroBalances": "true"})
                finally:
                    # ccxt marks the key as proven after any spot-API answer and from then on reads
                    # Binance's -2015 as a temporary ban (DDoSProtection): a key revoked later would be
                    # retried as rate-limited instead of stopping as rejected
                    ex.options["hasAlreadyAuthenticatedSuccessfully"] = False
            except (ccxt.AuthenticationError, ccxt.PermissionDenied) as exc:
                self._spot = (None, now)
                self._spot_refusal = (f"{cfg.name}: Binance refused this key on the spot wallet "
                                      f"({str(exc)[:160]}); its spot balances stay unknown and count "
                                      "as no hedge leg")
            else:
                spot, unpriced = await _spot_balances(ex, cfg, answer, result.account.positions)
                if unpriced:
                    warnings.append(f"{cfg.name}: no USD price for {', '.join(unpriced)} in the spot "
                                    "wallet (no perpetual on it); left out of the spot balances")
                self._spot = (spot, now)
        known = self._spot[0]
        if known is None and self._spot_refusal:
            # on every read while it lasts (the card shows it); the reader logs it once
            warnings.append(self._spot_refusal)
        raw = dict(result.raw, spot_wallet="unknown: Binance refused the key there" if known is None
                   else [dataclasses.asdict(b) for b in known])
        return ReadResult(dataclasses.replace(result.account, spot=known or ()), raw, warnings)

    async def _portfolio_account(self, ex: Any,
                                 cfg: ReaderConfig) -> tuple[dict[str, Any] | None, str | None]:
        """(the ``/papi/v1/account`` answer, None) for a Portfolio Margin account; (None, None) when
        Binance refuses the key there (401 -2015: not Portfolio Margin, or the key may not read
        it); (None, what Binance said) for any other answer. Network and rate-limit failures
        propagate: they say nothing about the mode."""
        try:
            answer = await ex.papi_get_account()
        except ccxt.AuthenticationError:
            return None, None
        except (ccxt.NetworkError, ccxt.OperationFailed):
            raise
        except ccxt.ExchangeError as exc:
            return None, f"an error ({str(exc)[:200]})"
        if isinstance(answer, dict) and num(answer.get("uniMMR")) is not None \
                and num(answer.get("accountMaintMargin")) is not None:
            return answer, None
        shown = sorted(answer)[:8] if isinstance(answer, dict) else type(answer).__name__
        return None, f"an answer without uniMMR and accountMaintMargin ({shown})"

    async def _read_futures(self, ex: Any, cfg: ReaderConfig, tiers: TierCache, now: float) -> ReadResult:
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
        positions, funding_raw, warnings = await self._funding(ex, cfg, positions, now)
        positions, adl_rows, adl_warnings = await self._with_adl(ex, positions, now, portfolio=False)
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
        raw = {"positions": [strip_info(p) for p in rows], "account": info, "tiers": raw_tiers,
               **funding_raw, "adlQuantile": adl_rows}
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
        return ReadResult(account, raw, [*warnings, *adl_warnings])

    async def _read_portfolio(self, ex: Any, cfg: ReaderConfig, tiers: TierCache, now: float,
                              account: dict[str, Any]) -> ReadResult:
        """A Portfolio Margin account: one USD pool of UM, CM and cross-margin assets (§2).

        Positions of this account's family (UM for binanceusdm, CM for binancecoinm) come through
        ccxt's Portfolio Margin routes, with their brackets from ``/papi/v1/{um,cm}/leverageBracket``;
        the other family is read raw, only to make sure it holds nothing desk would leave out.
        """
        linear = self.venue == "binanceusdm"
        family = {"portfolioMargin": True, "subType": "linear" if linear else "inverse"}
        balances = await ex.papi_get_balance()
        if not isinstance(balances, list):
            raise ShapeError(f"{cfg.name}: the Portfolio Margin balance answer is not a list")
        rows = await ex.fetch_positions(None, dict(family))
        other = await (ex.papi_get_cm_positionrisk() if linear else ex.papi_get_um_positionrisk())
        open_rows = [p for p in rows if (num(p.get("contracts")) or 0.0) > 0]
        if not open_rows and any(num(b.get("umUnrealizedPNL" if linear else "cmUnrealizedPNL"))
                                 for b in balances):
            raise ShapeError(f"{cfg.name}: the venue listed no positions while the Portfolio Margin balance "
                             "carries unrealized PnL; the position answer is incomplete")
        symbols = [p["symbol"] for p in open_rows]
        raw_tiers: dict[str, Any] = {}
        missing = tiers.missing(symbols, now)
        if missing:
            fetched = await ex.fetch_leverage_tiers(missing, dict(family))
            for symbol in missing:
                rows_for = fetched.get(symbol)
                if not rows_for:
                    raise ShapeError(f"{cfg.name}: the venue sent no maintenance brackets for {symbol}")
                raw_tiers[symbol] = [strip_info(r) for r in rows_for]
                tiers.put(symbol, tiers_from_ccxt(rows_for, "cum", f"{cfg.name} {symbol}"), now)
        positions = tuple(self._position(ex, cfg, p, tiers, now) for p in open_rows)
        positions, funding_raw, warnings = await self._funding(ex, cfg, positions, now)
        positions, adl_rows, adl_warnings = await self._with_adl(ex, positions, now, portfolio=True)
        foreign = sorted(str(r.get("symbol")) for r in other or []
                         if isinstance(r, dict) and (num(r.get("positionAmt")) or 0.0) != 0)
        rates = await self._rates(ex, cfg, now)
        wanted = sorted(_pool_assets(balances, positions))
        index_rows = await self._index_prices(ex, wanted)
        margin = portfolio_margin(cfg.name, account, balances, rates, index_rows, positions,
                                  foreign, "COIN-M" if linear else "USDⓈ-M", self.venue)
        wallets = {c.asset: c.amount for c in margin.collateral}
        spot = portfolio_spot(margin, positions)
        raw = {"positions": [strip_info(p) for p in rows], "portfolio_account": account,
               "portfolio_balance": balances, "other_positions": other, "tiers": raw_tiers,
               "collateral_rates": rates, "asset_index_prices": index_rows, **funding_raw,
               "adlQuantile": adl_rows}
        result = Account(name=cfg.name, venue=self.venue, wallets=wallets, positions=positions,
                         data_time=now, margin=margin, spot=spot)
        return ReadResult(result, raw, [*warnings, *adl_warnings])

    async def _funding(self, ex: Any, cfg: ReaderConfig, positions: tuple[Position, ...],
                       now: float) -> tuple[tuple[Position, ...], dict[str, Any], list[str]]:
        """``positions`` with their funding rate, next funding time and interval; the raw answers;
        what could not be read. An interval Binance did not give (its funding info unread) stays
        None: desk does not assume the default then."""
        premium = await self._premium_index(ex, positions)
        intervals, why = await self._funding_intervals(ex, positions, now)
        raw: dict[str, Any] = {"premiumIndex": premium,
                               "fundingInfo": intervals if intervals is not None else f"unknown: {why}"}
        warnings = [] if why is None else [
            f"{cfg.name}: Binance's funding info could not be read ({why}); the funding intervals "
            "stay unknown"]
        return with_funding(positions, premium, ex.markets, intervals), raw, warnings

    async def _funding_intervals(self, ex: Any, positions: tuple[Position, ...],
                                 now: float) -> tuple[dict[str, float] | None, str | None]:
        """(market id → funding interval in hours of the symbols Binance adjusted, None) from
        ``GET /fapi/v1/fundingInfo`` (``/dapi`` for COIN-M; public, weight 0, 500 per 5 min per IP),
        read again every :data:`FUNDING_INFO_REFRESH_SECONDS`; (None, why) when it could not be read.
        No request while flat."""
        if not positions:
            return {}, None
        cached = self._funding_info
        if cached is not None and now - cached[1] < FUNDING_INFO_REFRESH_SECONDS:
            return cached[0], None
        read = ex.fapipublic_get_fundinginfo if self.venue == "binanceusdm" else ex.dapipublic_get_fundinginfo
        try:
            answer = await read()
        except (ccxt.OperationFailed, ccxt.ExchangeError) as exc:
            return None, str(exc)[:160]
        if not isinstance(answer, list):
            return None, f"an answer that is not a list ({type(answer).__name__})"
        intervals: dict[str, float] = {}
        for row in answer:
            hours = num(row.get("fundingIntervalHours")) if isinstance(row, dict) else None
            if hours is not None and hours > 0 and row.get("symbol"):
                intervals[str(row["symbol"])] = hours
        self._funding_info = (intervals, now)
        return intervals, None

    async def _with_adl(self, ex: Any, positions: tuple[Position, ...], now: float, *,
                        portfolio: bool) -> tuple[tuple[Position, ...], Any, list[str]]:
        """The positions with Binance's ADL quantile per side (GET /fapi|/dapi/v1/adlQuantile, on
        Portfolio Margin /papi/v1/{um,cm}/adlQuantile; weight 5): read again every
        :data:`ADL_REFRESH_SECONDS`, as often as Binance updates it. A refusal leaves the ranks
        unknown (None) and says so; it never fails the account read."""
        if not positions:
            return positions, None, []
        cached = self._adl
        if cached is None or now - cached[1] >= ADL_REFRESH_SECONDS or cached[2] != portfolio:
            linear = self.venue == "binanceusdm"
            try:
                if portfolio:
                    rows = await (ex.papi_get_um_adlquantile() if linear else ex.papi_get_cm_adlquantile())
                else:
                    rows = await (ex.fapiprivate_get_adlquantile() if linear
                                  else ex.dapiprivate_get_adlquantile())
            except (ccxt.AuthenticationError, ccxt.DDoSProtection):
                raise  # a refused key or the rate limit: the whole read's business
            except (ccxt.ExchangeError, ccxt.OperationFailed) as exc:
                self._adl = None
                return positions, None, [f"ADL rank unknown: Binance refused the adlQuantile read ({exc})"]
            cached = self._adl = (rows, now, portfolio)
        ranks = adl_quantiles(cached[0])
        markets = ex.markets
        ids = {p.symbol: str((markets.get(p.symbol) or {}).get("id")) for p in positions}
        return tuple(dataclasses.replace(p, adl_rank=ranks.get((ids[p.symbol], _ADL_SIDES[p.leg])))
                     for p in positions), cached[0], []

    async def _premium_index(self, ex: Any, positions: tuple[Position, ...]) -> list[Any]:
        """The premium index rows (funding rate, next funding time) of the symbols held: one public
        read per account read, weight 1 for one symbol, 10 for all; none while flat."""
        ids = sorted({ex.markets[p.symbol]["id"] for p in positions})
        if not ids:
            return []
        linear = self.venue == "binanceusdm"
        read = ex.fapipublic_get_premiumindex if linear else ex.dapipublic_get_premiumindex
        answer = await read({"symbol": ids[0]}) if len(ids) == 1 else await read()
        return answer if isinstance(answer, list) else [answer]

    async def _rates(self, ex: Any, cfg: ReaderConfig, now: float) -> dict[str, float]:
        """Collateral rate per asset (``GET /sapi/v1/portfolio/collateralRate``, weight 50), read again
        every :data:`MODE_REFRESH_SECONDS`: Binance changes them by announcement, not by the minute."""
        cached = self._collateral_rates
        if cached is None or now - cached[1] >= MODE_REFRESH_SECONDS:
            answer = await ex.sapi_get_portfolio_collateralrate()
            if not isinstance(answer, list):
                raise ShapeError(f"{cfg.name}: the collateral rate answer is not a list")
            rates = {}
            for row in answer:
                rate = num(row.get("collateralRate")) if isinstance(row, dict) else None
                if rate is not None and 0 <= rate <= 1 and row.get("asset"):
                    rates[str(row["asset"])] = rate
            cached = self._collateral_rates = (rates, now)
        return cached[0]

    @staticmethod
    async def _index_prices(ex: Any, assets: list[str]) -> list[Any]:
        """``GET /sapi/v1/portfolio/asset-index-price``: per asset (weight 1 each) for a few assets,
        all at once (weight 50) beyond :data:`_INDEX_PER_ASSET_MAX`."""
        if len(assets) > _INDEX_PER_ASSET_MAX:
            answer = await ex.sapi_get_portfolio_asset_index_price()
            return answer if isinstance(answer, list) else [answer]
        rows: list[Any] = []
        for asset in assets:
            answer = await ex.sapi_get_portfolio_asset_index_price({"asset": asset})
            rows += answer if isinstance(answer, list) else [answer]
        return rows

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
            # the rank comes from adlQuantile (_with_adl): positionRisk's "adl" has no documented range
        )


#: how often the Multi-Assets flag, the Portfolio Margin answer of a classic account and the
#: Portfolio Margin collateral rates are read again (seconds)
MODE_REFRESH_SECONDS = 300.0
#: how often the spot wallet beside a futures account is read again (seconds; spot balances move rarely)
SPOT_REFRESH_SECONDS = 60.0
#: how often the funding intervals (``/fundingInfo``) are read again (seconds): Binance changes a
#: symbol's interval by announcement
FUNDING_INFO_REFRESH_SECONDS = 300.0
#: the interval of a perpetual ``/fundingInfo`` does not list: Binance's default, "funding payments
#: occur every 8 hours at 00:00, 08:00 and 16:00 UTC" unless adjusted (Binance's funding-rate FAQ;
#: ``/fundingInfo`` "only returns symbols whose FundingRateCap/Floor/fundingIntervalHours was adjusted")
DEFAULT_FUNDING_HOURS = 8.0
#: how often the ADL quantiles are read again (seconds): Binance "Values update every 30s"
#: (Position ADL Quantile Estimation, USDⓈ-M and COIN-M)
ADL_REFRESH_SECONDS = 30.0
_ADL_SIDES = {Leg.BOTH: "BOTH", Leg.LONG: "LONG", Leg.SHORT: "SHORT"}
#: desk's name for the mode; the account status Binance reports follows it
PORTFOLIO_MARGIN_MODE = "binance portfolio margin"
#: k of unified-margin.md §6.3: Binance liquidates a Portfolio Margin account at uniMMR ≤ 1.05 (§2),
#: i.e. when 1.05·MM ≥ adjusted equity
PORTFOLIO_MARGIN_THRESHOLD = 1.05
#: beyond this gap between Binance's accountMaintMargin and the sum of the positions' bracket
#: margins, desk's model of the account does not hold (scenario margin, margin loans)
_MM_GAP_CANNOT_RECOMPUTE = 0.02
_INDEX_PER_ASSET_MAX = 10


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


def _balance_amounts(row: dict[str, Any]) -> tuple[float, float]:
    """(wallet, borrowed) of one ``/papi/v1/balance`` row: the wallet is ``totalWalletBalance``
    (cross margin free + locked + UM wallet + CM wallet, as Binance documents it); the borrowed
    amount is the cross-margin loan with its interest (the MarginLoan of §2's E_a)."""
    wallet = num(row.get("totalWalletBalance"))
    if wallet is None:
        wallet = sum(num(row.get(k)) or 0.0 for k in ("crossMarginFree", "crossMarginLocked",
                                                       "umWalletBalance", "cmWalletBalance"))
    borrowed = (num(row.get("crossMarginBorrowed")) or 0.0) + (num(row.get("crossMarginInterest")) or 0.0)
    return wallet, borrowed


def _pool_assets(balances: list[Any], positions: tuple[Position, ...]) -> set[str]:
    assets = {p.settle for p in positions}
    for row in balances:
        if isinstance(row, dict) and row.get("asset"):
            wallet, borrowed = _balance_amounts(row)
            if wallet != 0 or borrowed != 0:
                assets.add(str(row["asset"]))
    return assets


def portfolio_margin(name: str, account: dict[str, Any], balances: list[Any], rates: dict[str, float],
                     index_rows: list[Any], positions: tuple[Position, ...], foreign: Sequence[str] = (),
                     foreign_family: str = "COIN-M", venue: str = "binanceusdm") -> AccountMargin:
    """A Portfolio Margin account as desk's one USD pool (unified-margin.md §2, §6).

    Binance's ratio, ``uniMMR = adjusted equity ÷ maintenance margin``, grows with safety and
    liquidates at 1.05 (§2). desk's ratio is ``1.05 × MM ÷ MB`` (§6.3: 1.0 = liquidation on every
    venue), so ``desk = 1.05 ÷ uniMMR``; uniMMR is kept as the venue's figure, inverted.

    Each asset of ``/papi/v1/balance`` is one collateral asset: wallet ``totalWalletBalance``,
    borrowed the cross-margin loan and interest, price its Portfolio Margin asset index
    (``/sapi/v1/portfolio/asset-index-price``; an asset without one is an error, never valued at
    1), and positive equity counted at its collateral rate (``/sapi/v1/portfolio/collateralRate``);
    negative equity counts in full, at the index (§2: ``min(E·p·rate, E·p)``). Position MM is the
    bracket formula at the mark, converted at the settle asset's index.

    desk does not recompute (and shows uniMMR alone, saying why) when the account holds positions
    of the family it does not read, or when Binance's ``accountMaintMargin`` is not the sum of the
    positions' bracket margins: Portfolio Margin Pro's scenario margin (SPAN) or margin loans.
    """
    prices: dict[str, float] = {}
    for row in index_rows:
        price = num(row.get("assetIndexPrice")) if isinstance(row, dict) else None
        if price is not None and price > 0 and row.get("asset"):
            prices[str(row["asset"])] = price
    amounts: dict[str, tuple[float, float]] = {}
    for row in balances:
        if isinstance(row, dict) and row.get("asset"):
            amounts[str(row["asset"])] = _balance_amounts(row)
    settles = {p.settle for p in positions}
    collateral: list[Collateral] = []
    for asset in sorted(_pool_assets(balances, positions)):
        wallet, borrowed = amounts.get(asset, (0.0, 0.0))
        if asset not in prices:
            raise ShapeError(f"{name}: Binance sent no Portfolio Margin index price for {asset}; desk cannot "
                             f"value the {asset} collateral")
        if asset not in rates:
            raise ShapeError(f"{name}: Binance sent no collateral rate for {asset}; desk cannot value the "
                             f"{asset} collateral")
        collateral.append(Collateral(asset, wallet, prices[asset], rate=rates[asset], borrowed=borrowed,
                                     underlying=collateral_underlying(asset)))
    missing = settles - {c.asset for c in collateral}
    if missing:  # _pool_assets includes every settle asset; kept as a guard for callers
        raise ShapeError(f"{name}: positions settle in {', '.join(sorted(missing))}, outside the pool")
    status = str(account.get("accountStatus") or "not reported")
    uni = num(account.get("uniMMR"))
    margin = AccountMargin(mode=f"{PORTFOLIO_MARGIN_MODE} (status {status})",
                           threshold=PORTFOLIO_MARGIN_THRESHOLD, valuation="USD",
                           collateral=tuple(collateral),
                           venue_margin_ratio=uni if uni is not None and uni > 0 else None,
                           venue_ratio_inverted=True)
    why: list[str] = []
    if foreign:
        why.append(f"the account also holds {foreign_family} positions ({', '.join(foreign[:5])}), "
                   f"which desk does not read for an account added as {venue}")
    theirs = num(account.get("accountMaintMargin"))
    if not foreign and theirs is not None:
        probe = Account(name, venue, positions=positions, margin=margin)
        cross = [p for p in positions if p.margin_mode is MarginMode.CROSS]
        ours = pool_state_scalar(probe, [p.mark_price for p in cross], prices).maintenance
        if abs(ours - theirs) > _MM_GAP_CANNOT_RECOMPUTE * max(abs(theirs), 1e-9):
            why.append(f"Binance's maintenance margin {theirs:.2f} USD is not the sum of the positions' "
                       f"bracket margins ({ours:.2f} USD): Portfolio Margin Pro's scenario margin or margin "
                       "loans, which desk does not model")
    if why:
        margin = dataclasses.replace(margin, cannot_recompute="; ".join(why))
    return margin


def portfolio_spot(margin: AccountMargin, positions: Sequence[Position]) -> tuple[SpotBalance, ...]:
    """The coins a Portfolio Margin account holds, as the book's spot legs (issue 21): the pool's
    collateral, each at its own net amount (``/papi/v1/balance`` wallet less the cross-margin loan
    and its interest) and its Portfolio Margin index — the rule of the other unified wallets
    (:func:`~desk.exchanges.adapters.common.spot_from_wallet`: no dollars, no coin positions settle
    in, only coins held). They stay the pool's collateral; the book counts their move once."""
    rows = [{"asset": c.asset, "net": c.amount - c.borrowed, "usd": (c.amount - c.borrowed) * c.price}
            for c in margin.collateral]
    spot, _ = spot_from_wallet(rows, positions, coin="asset", amount="net", equity="net", usd="usd")
    return spot


def with_funding(positions: tuple[Position, ...], premium: list[Any], markets: Any,
                 intervals: Mapping[str, float] | None = None) -> tuple[Position, ...]:
    """``positions`` with the funding rate (``lastFundingRate``: the rate of the payment due at
    ``nextFundingTime``, ms) of their premium index row; a delivery contract's row carries neither
    (``""`` and 0) and keeps None. The interval is not in the row: it is ``intervals``' (the symbols
    ``/fundingInfo`` lists), else :data:`DEFAULT_FUNDING_HOURS`; None while ``intervals`` is unknown."""
    rows = {str(r.get("symbol")): r for r in premium if isinstance(r, dict)}
    out = []
    for p in positions:
        market_id = str(markets[p.symbol]["id"])
        row = rows.get(market_id) or {}
        rate = num(row.get("lastFundingRate"))
        due = num(row.get("nextFundingTime"))
        hours = None if intervals is None else intervals.get(market_id, DEFAULT_FUNDING_HOURS)
        out.append(dataclasses.replace(
            p, funding_rate=rate, next_funding_time=due / 1000.0 if due else None,
            funding_interval_hours=hours) if rate is not None else p)
    return tuple(out)


def adl_quantiles(rows: Any) -> dict[tuple[str, str], int]:
    """(symbol id, side) → quantile from an adlQuantile answer: ``[{"symbol": "BTCUSDT",
    "adlQuantile": {"LONG": 1, "SHORT": 2, "BOTH": 0}}]``. A symbol held cross in hedge mode carries
    "HEDGE" (only a sign, its value ignored) and one value shared by LONG and SHORT."""
    out: dict[tuple[str, str], int] = {}
    for row in rows if isinstance(rows, list) else []:
        quantiles = row.get("adlQuantile") if isinstance(row, dict) else None
        if not isinstance(quantiles, dict) or not row.get("symbol"):
            continue
        for side in ("LONG", "SHORT", "BOTH"):
            rank = adl_rank(quantiles.get(side))
            if rank is not None:
                out[(str(row["symbol"]), side)] = rank
    return out


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


async def _spot_balances(ex: Any, cfg: ReaderConfig, answer: Any,
                         positions: Sequence[Position]) -> tuple[tuple[SpotBalance, ...], list[str]]:
    """The spot wallet's coins (free + locked) with a USD price; dollars are no hedge leg. A coin is
    priced by a mark the read already has (a USDT/USDC-quoted position, or a COIN-M one, whose mark is
    USD per coin), else by the venue's own perpetual on it (``fetch_mark_price``, one public read); a
    coin with neither is named, not guessed."""
    rows = answer.get("balances") if isinstance(answer, dict) else None
    if not isinstance(rows, list):
        raise ShapeError(f"{cfg.name}: the spot account answer has no balances list")
    marks: dict[str, float] = {}
    for p in positions:
        base, _, rest = p.symbol.partition("/")
        if p.kind is Kind.INVERSE or rest.split(":")[0].upper() in DOLLARS:
            marks.setdefault(base, p.mark_price)
    out: list[SpotBalance] = []
    unpriced: list[str] = []
    for row in rows:
        asset = str(row.get("asset") or "") if isinstance(row, dict) else ""
        amount = (num(row.get("free")) or 0.0) + (num(row.get("locked")) or 0.0) if asset else 0.0
        if amount <= 0 or asset.upper() in DOLLARS:
            continue
        price = marks.get(asset)
        if price is None:
            price = await _perp_mark(ex, asset)
        if price is None:
            unpriced.append(asset)
            continue
        out.append(SpotBalance(asset, amount, price))
    return tuple(out), unpriced


async def _perp_mark(ex: Any, asset: str) -> float | None:
    """The mark of the venue's USD perpetual on ``asset`` (USDⓈ-M: ASSET/USDT; COIN-M: ASSET/USD)."""
    for symbol in (f"{asset}/USDT:USDT", f"{asset}/USD:{asset}"):
        if symbol in (ex.markets or {}):
            ticker = await ex.fetch_mark_price(symbol)
            price = price_or_none((ticker or {}).get("markPrice"))
            if price is not None:
                return price
    return None
