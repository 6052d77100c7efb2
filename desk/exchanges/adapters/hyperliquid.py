"""Hyperliquid perpetuals, read by wallet address through the public ``POST /info``.

No key is needed. One ``clearinghouseState`` call gives positions and the cross account.
Isolated margin excludes uPnL: ``marginUsed − unrealizedPnl``. ``liquidationPx`` null → None.

Tiers (risk-math.md §0, §6): ``meta`` lists ``marginTables`` as ``[id, {description,
marginTiers: [{lowerBound, maxLeverage}]}]`` and each asset names its table by
``marginTableId``. Each tier's maintenance rate is half the initial margin at its max leverage,
MMR = 1/(2 × maxLeverage), from ``lowerBound`` (USDC notional) on; the maintenance amounts
follow the recurrence of §0 (Hyperliquid's "maintenance deduction"), so maintenance margin is
continuous across tiers. An asset whose table is not listed (Hyperliquid leaves the flat tables,
ids below 50, out of ``meta``) or that names none gets one tier from its ``maxLeverage``.
Tables are read once per refresh age (``TierCache``), with one ``meta`` request for all symbols.

Funding (issue 17): ``metaAndAssetCtxs`` gives each asset's current ``funding`` rate. Hyperliquid pays
it every hour, on the hour (trading/funding: "The funding rate on Hyperliquid is paid every hour";
``predictedFundings`` lists ``HlPerp`` ``nextFundingTime`` on whole hours), so the interval is 1 h and
the next payment is the next top of the hour. One request per read while positions are held.

Spot balances (issue 21): ``spotClearinghouseState`` lists the wallet's tokens (``coin``, ``token``
index, ``total`` including ``hold``). Each coin held that is no dollar is a spot leg of the book, valued
at the ``markPx`` (else ``midPx``) of its spot pair against USDC in ``spotMetaAndAssetCtxs``. A coin
keeps its own name: Hyperliquid names wrapped tokens (UBTC, UETH) without saying which coin they
follow, so desk does not map them to a perpetual (ccxt's ``spotCurrencyMapping`` is its own table
and a "Unit …" name heuristic, not the venue's word) and says so. Read every
:data:`SPOT_REFRESH_SECONDS`; a failed spot read leaves the spot legs unknown, said in the read's
warnings, and never stops the perpetuals' read.

Marks stream from ccxt.pro's ``watch_ticker`` (the ``activeAssetCtx`` channel, one per coin):
its ``markPx`` is only in the ticker's ``info`` — ``watch_tickers`` subscribes to ``allMids``,
which carries mid prices, not marks, so desk never uses it for marks.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any

import ccxt

from desk.domain.book import DOLLARS
from desk.domain.model import Account, AccountMargin, MarginMode, Position, Reported, SpotBalance, Tier
from desk.domain.unified import STABLECOINS
from desk.exchanges.adapters.base import UNBOUNDED_NOTIONAL, MarkWatcher, ReadResult
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

#: how often the account mode is read again, seconds
MODE_REFRESH_SECONDS = 300.0
#: how often the spot balances are read again (seconds; balances move rarely)
SPOT_REFRESH_SECONDS = 60.0
#: Hyperliquid pays funding every hour (trading/funding)
FUNDING_INTERVAL_HOURS = 1.0
#: modes whose margin desk cannot recompute from the perp state (unified-margin.md §5)
_OPAQUE_MODES = {
    "unifiedAccount": ("hyperliquid unified account",
                       "balances live in the spot clearinghouse, shared across DEXs, and the liquidation "
                       "threshold is not published"),
    "portfolioMargin": ("hyperliquid portfolio margin",
                        "the portfolio margin ratio counts spot HYPE/BTC with borrowing caps desk does not "
                        "read yet"),
}


class HyperliquidAdapter:
    venue = "hyperliquid"
    market_types: tuple[str, ...] = ("swap",)

    def __init__(self) -> None:
        # the spot balances: (balances, or None while unknown; what the read said; when read)
        self._spot: tuple[tuple[SpotBalance, ...] | None, tuple[str, ...], float] | None = None

    def configure(self, exchange: Any, cfg: ReaderConfig) -> None:
        exchange.options["fetchMarkets"] = dict(exchange.options.get("fetchMarkets") or {},
                                                types=list(self.market_types))

    async def _abstraction(self, ex: Any, cfg: ReaderConfig, now: float) -> str:
        """The account's mode (POST /info ``userAbstraction``, unified-margin.md §5, §7), read again
        every :data:`MODE_REFRESH_SECONDS`."""
        cached = getattr(self, "_mode", None)
        if cached is None or now - cached[1] >= MODE_REFRESH_SECONDS:
            answer = await ex.public_post_info({"type": "userAbstraction", "user": cfg.wallet_address})
            if not isinstance(answer, str) or not answer:
                raise ShapeError(f"{cfg.name}: the userAbstraction answer is not a mode name ({answer!r})")
            cached = (answer, now)
            self._mode = cached
        return str(cached[0])

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
        raw_meta = await _load_tiers(ex, [p["symbol"] for p in open_rows], tiers, now)
        positions = tuple(_position(ex, cfg, p, tiers, now) for p in open_rows)
        warnings: list[str] = []
        contexts: Any = None
        if positions:
            contexts = await ex.public_post_info({"type": "metaAndAssetCtxs"})
            positions, missing = with_funding(positions, contexts, ex.markets, now)
            if missing:
                warnings.append(f"{cfg.name}: Hyperliquid's asset contexts give no funding rate for "
                                f"{', '.join(missing)}; their funding is unknown")
        cross_upnl = sum(num(p["info"]["position"].get("unrealizedPnl")) or 0.0
                         for p, pos in zip(open_rows, positions, strict=True)
                         if pos.margin_mode is MarginMode.CROSS)
        wallets = {"USDC": cross_value - cross_upnl}
        reported = {}
        if cross_value > 0:
            reported["USDC"] = Reported(margin_ratio=cross_mm / cross_value)
        mode = await self._abstraction(ex, cfg, now)
        margin = None
        if mode in _OPAQUE_MODES:
            title, why = _OPAQUE_MODES[mode]
            margin = AccountMargin(mode=title, cannot_recompute=why)
            reported = {}  # the perp state's figures are not the account's under these modes
        spot, spot_raw, spot_warnings = await self._spot_balances(ex, cfg, now)
        account = Account(name=cfg.name, venue=self.venue, wallets=wallets, positions=positions,
                          reported=reported, data_time=now, margin=margin, spot=spot)
        raw: dict[str, Any] = {"clearinghouseState": state, "userAbstraction": mode, "spot": spot_raw}
        if raw_meta is not None:
            raw["marginTables"] = raw_meta
        if contexts is not None:
            raw["assetCtxs"] = _held_contexts(contexts, positions, ex.markets)
        return ReadResult(account, raw, warnings + spot_warnings)

    async def _spot_balances(self, ex: Any, cfg: ReaderConfig,
                             now: float) -> tuple[tuple[SpotBalance, ...], Any, list[str]]:
        """The spot coins as legs (read every :data:`SPOT_REFRESH_SECONDS`), what raw keeps of them,
        and what the read could not give. A failed read (the venue refused, timed out or answered
        in another shape) leaves them unknown until the next attempt, and says so on every read."""
        if self._spot is None or now - self._spot[2] >= SPOT_REFRESH_SECONDS:
            try:
                state = await ex.public_post_info({"type": "spotClearinghouseState",
                                                   "user": cfg.wallet_address})
                rows = state.get("balances") if isinstance(state, dict) else None
                if not isinstance(rows, list):
                    raise ShapeError("the spotClearinghouseState answer has no balances list")
                held = [r for r in rows if isinstance(r, dict) and _is_leg(r)]
                contexts = await ex.public_post_info({"type": "spotMetaAndAssetCtxs"}) if held else None
                balances, notes = spot_legs(held, contexts, ex.markets)
                self._spot = (balances, tuple(f"{cfg.name}: {w}" for w in notes), now)
            except (ccxt.BaseError, ValueError, TypeError, KeyError, AttributeError) as exc:
                # whatever the spot answer was, the perpetuals' read stands; the reason is said
                self._spot = (None, (f"{cfg.name}: Hyperliquid's spot balances could not be read "
                                     f"({type(exc).__name__}: {str(exc)[:160]}); they stay unknown and "
                                     "count as no hedge leg",), now)
        known, said, _ = self._spot
        raw = "unknown: the spot read failed" if known is None else [dataclasses.asdict(b) for b in known]
        return known or (), raw, list(said)

    def mark_watchers(self, ex: Any, symbols: tuple[str, ...]) -> list[MarkWatcher]:
        """One ``activeAssetCtx`` subscription per coin; each update gives that coin's mark."""
        def watcher(symbol: str) -> MarkWatcher:
            async def next_mark() -> dict[str, float]:
                ticker = await ex.watch_ticker(symbol)
                mark = num(((ticker or {}).get("info") or {}).get("markPx"))
                return {symbol: mark} if mark is not None and mark > 0 else {}
            return next_mark
        return [watcher(s) for s in symbols]


def _is_leg(row: Mapping[str, Any]) -> bool:
    """A held coin that is no dollar (USDC is the account's cash, stablecoins count as dollars)."""
    coin = str(row.get("coin") or "").upper()
    held = num(row.get("total"))
    return bool(coin) and held is not None and held > 0 and coin not in DOLLARS and coin not in STABLECOINS


def spot_legs(rows: Sequence[Mapping[str, Any]], contexts: Any,
              markets: Mapping[str, Any]) -> tuple[tuple[SpotBalance, ...], list[str]]:
    """The held coins of ``spotClearinghouseState`` (already filtered by :func:`_is_leg`) as spot
    legs priced in USDC by ``spotMetaAndAssetCtxs``, and what could not be done for some of them.

    A coin's price is its pair with USDC (``universe[].tokens == [coin's token index, USDC's]``; the
    pair is named "PURR/USDC" or "@107"): ``markPx``, else ``midPx``. Its context is the one whose
    ``coin`` names the pair, else the one at the pair's place in the list. A coin with no perpetual of
    its name keeps its name, and the warning says it hedges no perpetual.
    """
    shaped = isinstance(contexts, list) and len(contexts) == 2 and isinstance(contexts[0], dict)
    meta: Mapping[str, Any] = contexts[0] if shaped else {}
    ctxs = contexts[1] if shaped and isinstance(contexts[1], list) else []
    tokens = [t for t in meta.get("tokens") or [] if isinstance(t, dict)]
    pairs = [u for u in meta.get("universe") or [] if isinstance(u, dict)]
    by_name = {str(t.get("name")): t.get("index") for t in tokens}
    usdc = by_name.get("USDC")
    by_coin = {c.get("coin"): c for c in ctxs if isinstance(c, dict) and c.get("coin") is not None}
    prices: dict[Any, float] = {}
    for place, pair in enumerate(pairs):
        base_quote = pair.get("tokens")
        if usdc is None or not isinstance(base_quote, list) or len(base_quote) != 2 or base_quote[1] != usdc:
            continue
        ctx = by_coin.get(pair.get("name"))
        if ctx is None and not by_coin and place < len(ctxs) and isinstance(ctxs[place], dict):
            ctx = ctxs[place]
        price = price_or_none((ctx or {}).get("markPx")) or price_or_none((ctx or {}).get("midPx"))
        if price is not None:
            prices[base_quote[0]] = price
    out: list[SpotBalance] = []
    unpriced: list[str] = []
    unmatched: list[str] = []
    for row in rows:
        coin = str(row["coin"])
        token = row.get("token") if row.get("token") is not None else by_name.get(coin)
        price = prices.get(token)
        if price is None:
            unpriced.append(coin)
            continue
        out.append(SpotBalance(coin, float(num(row.get("total")) or 0.0), price))
        if f"{coin}/USDC:USDC" not in markets:
            unmatched.append(coin)
    said = []
    if unpriced:
        said.append(f"no USDC spot price for {', '.join(unpriced)} on Hyperliquid; left out of the spot "
                    "balances")
    if unmatched:
        said.append(f"Hyperliquid spot {', '.join(unmatched)}: no perpetual of that name, and the venue does "
                    "not say which coin a token wraps; kept under its own name, so it hedges no perpetual "
                    "in the book")
    return tuple(out), said


def next_top_of_hour(now: float) -> float:
    """The next whole hour after ``now`` (seconds since the epoch, UTC)."""
    return (math.floor(now / 3600.0) + 1.0) * 3600.0


def _contexts_by_coin(contexts: Any) -> dict[str, Mapping[str, Any]]:
    """``metaAndAssetCtxs`` → {coin: its context}: the contexts follow the universe's order."""
    if not (isinstance(contexts, list) and len(contexts) == 2 and isinstance(contexts[0], dict)
            and isinstance(contexts[1], list)):
        return {}
    universe = contexts[0].get("universe") or []
    return {str(asset.get("name")): ctx for asset, ctx in zip(universe, contexts[1], strict=False)
            if isinstance(asset, dict) and isinstance(ctx, dict)}


def _coin_of(markets: Mapping[str, Any], symbol: str) -> str:
    return str(((markets.get(symbol) or {}).get("info") or {}).get("name") or symbol.split("/")[0])


def with_funding(positions: tuple[Position, ...], contexts: Any, markets: Mapping[str, Any],
                 now: float) -> tuple[tuple[Position, ...], list[str]]:
    """``positions`` with their asset's ``funding`` (the hourly rate), an interval of 1 h and the next
    top of the hour as the next payment; and the coins whose context gives no rate."""
    by_coin = _contexts_by_coin(contexts)
    out: list[Position] = []
    missing: list[str] = []
    for p in positions:
        coin = _coin_of(markets, p.symbol)
        rate = num((by_coin.get(coin) or {}).get("funding"))
        if rate is None:
            missing.append(coin)
            out.append(p)
            continue
        out.append(dataclasses.replace(p, funding_rate=rate, funding_interval_hours=FUNDING_INTERVAL_HOURS,
                                       next_funding_time=next_top_of_hour(now)))
    return tuple(out), missing


def _held_contexts(contexts: Any, positions: tuple[Position, ...], markets: Mapping[str, Any]) -> Any:
    by_coin = _contexts_by_coin(contexts)
    return {c: by_coin.get(c) for c in sorted({_coin_of(markets, p.symbol) for p in positions})}


async def _load_tiers(ex: Any, symbols: list[str], tiers: TierCache, now: float) -> Any:
    """Refresh the margin tables of ``symbols`` whose cached tiers expired; returns the raw tables."""
    missing = tiers.missing(symbols, now)
    if not missing:
        return None
    meta = await ex.public_post_info({"type": "meta"})
    if not isinstance(meta, dict) or not isinstance(meta.get("universe"), list):
        raise ShapeError("the meta answer has no universe")
    tables: dict[int, list[Any]] = {}
    for entry in meta.get("marginTables") or []:
        if isinstance(entry, list) and len(entry) == 2 and isinstance(entry[1], dict):
            table_id = num(entry[0])
            if table_id is not None:
                tables[int(table_id)] = entry[1].get("marginTiers") or []
    assets = {a.get("name"): a for a in meta["universe"] if isinstance(a, dict)}
    for symbol in missing:
        market = ex.markets.get(symbol) or {}
        info = market.get("info") or {}
        asset = assets.get(info.get("name")) or info
        table_id = num(asset.get("marginTableId"))
        rows = tables.get(int(table_id)) if table_id is not None else None
        where = f"hyperliquid {symbol}"
        if rows:
            tiers.put(symbol, tiers_from_margin_table(rows, where), now)
        else:
            max_leverage = num(asset.get("maxLeverage"))
            if max_leverage is not None and max_leverage > 0:
                tiers.put(symbol, (_flat_tier(max_leverage),), now)
    return meta.get("marginTables")


def _flat_tier(max_leverage: float) -> Tier:
    return Tier(notional_floor=0.0, notional_cap=UNBOUNDED_NOTIONAL, mmr=1.0 / (2.0 * max_leverage),
                maintenance_amount=0.0, max_leverage=max_leverage)


def tiers_from_margin_table(rows: list[Any], where: str) -> tuple[Tier, ...]:
    """``marginTiers`` → Tiers: MMR = 1/(2 × maxLeverage), amounts by the recurrence (§0, §6)."""
    bounds = []
    for row in rows:
        low = num(row.get("lowerBound")) if isinstance(row, dict) else None
        lev = num(row.get("maxLeverage")) if isinstance(row, dict) else None
        if low is None or low < 0 or lev is None or lev <= 0:
            raise ShapeError(f"{where}: malformed margin tier {row!r}")
        bounds.append((low, lev))
    bounds.sort()
    if bounds[0][0] != 0:
        raise ShapeError(f"{where}: the margin table does not start at notional 0 ({bounds[0][0]:g})")
    out: list[Tier] = []
    prev_mmr, amount = 0.0, 0.0
    for i, (low, lev) in enumerate(bounds):
        mmr = 1.0 / (2.0 * lev)
        amount = 0.0 if i == 0 else amount + low * (mmr - prev_mmr)
        cap = bounds[i + 1][0] if i + 1 < len(bounds) else UNBOUNDED_NOTIONAL
        if cap <= low:
            raise ShapeError(f"{where}: margin tiers overlap at notional {low:g}")
        out.append(Tier(notional_floor=low, notional_cap=cap, mmr=mmr, maintenance_amount=amount,
                        max_leverage=lev))
        prev_mmr = mmr
    return tuple(out)


def _position(ex: Any, cfg: ReaderConfig, p: dict[str, Any], tiers: TierCache, now: float) -> Position:
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
    table = tiers.get(symbol, now)
    if not table:
        max_leverage = num(info.get("maxLeverage")) or num(
            (ex.markets[symbol].get("info") or {}).get("maxLeverage"))
        if not max_leverage or max_leverage <= 0:
            raise ShapeError(f"{where}: no max leverage, so no maintenance rate")
        table = (_flat_tier(max_leverage),)
    return Position(
        symbol=symbol, settle=facts.settle, kind=facts.kind, contracts=contracts,
        side=side_of(p.get("side"), where),
        entry_price=required_positive(info.get("entryPx"), "entry price", where),
        mark_price=value / contracts, margin_mode=mode, contract_size=facts.contract_size,
        isolated_margin=margin, leverage=num(lev.get("value")), tiers=table,
        taker_fee=facts.taker_fee,
        reported=Reported(liquidation_price=price_or_none(info.get("liquidationPx"))),
        tick_size=facts.tick_size, lot_size=facts.lot_size, mark_time=now,
    )
