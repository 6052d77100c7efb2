"""OKX v5 swaps and futures.

OKX's ``mgnRatio`` points the other way from desk's scale (adjusted equity ÷ maintenance
margin: higher is safer, 1.0 = liquidation; risk-math.md §4) and ccxt's position
``marginRatio`` is neither — desk keeps OKX's own figure in ``reported.margin_ratio`` (the
venue's sense, for "venue_margin_ratio") and never feeds it to the engine. ``liqPx`` "" → None.

Tiers (risk-math.md §0, §4): ``GET /api/v5/public/position-tiers`` (instType, tdMode of the
position, instFamily) gives ``minSz``/``maxSz`` in **contracts** for swaps and futures (OKX's
tier tables say "Max. amount (Cont)") and a rate ``mmr`` per tier; OKX applies the tier's rate
to the whole position with no maintenance amount, and picks the tier by the position's
*size*. Size does not move with the price, so the tier OKX applies to a held position is the
same at every price — including at the liquidation price the engine solves for. desk's engine
picks tiers by *notional* (contracts × ctVal × price for linear, ÷ price for inverse), which
does move with the price; any table of notional boundaries would let the engine's tier walk
change tier where OKX does not. So the position gets the one tier its size sits in, as a
single notional tier from 0 without a cap (maintenance amount 0): the engine then applies
exactly OKX's rate at every price. The full table — in contracts and converted to notional at
the current mark — is kept in ``raw['tiers']`` for diagnostics. Consequence: a what-if that
changes the size keeps the held tier's rate. Each position's rate is cross-checked against the
maintenance amount OKX reports for it (``mmr``) and a disagreement is recorded in
``raw['tier_checks']`` (it would mean the size unit is not contracts). When OKX sends no tiers
for an instrument, the position falls back to its effective rate (``mmr`` ÷ notional), noted
in ``raw['tier_fallbacks']``.

Funding (issue 17): ``GET /api/v5/public/funding-rate?instId=…`` (public) for each perpetual swap
held, one request per symbol, kept :data:`FUNDING_REFRESH_SECONDS`. OKX's ``fundingRate`` is the
rate of the settlement at ``fundingTime`` (the next payment); the interval is ``nextFundingTime −
fundingTime`` (OKX: "users should focus on the difference between fundingTime and nextFundingTime
to determine the funding fee interval", since some swaps pay every 1–6 h instead of 8). Dated
futures pay no funding and are not asked.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from desk.domain.model import (
    Account,
    AccountMargin,
    Collateral,
    Leg,
    MarginMode,
    Position,
    Reported,
    SpotBalance,
    Tier,
)
from desk.domain.position_math import notional_value
from desk.domain.unified import collateral_underlying
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
    spot_from_wallet,
    strip_info,
)
from desk.exchanges.adapters.orders import adl_rank
from desk.exchanges.config import ReaderConfig

_LEGS = {"net": Leg.BOTH, "long": Leg.LONG, "short": Leg.SHORT}


#: how often the account mode (acctLv) is read again, seconds
MODE_REFRESH_SECONDS = 300.0
#: how long a swap's funding rate is kept before it is asked again, seconds (the rate is a forecast
#: that moves; OKX allows 10 requests per 2 s per instrument)
FUNDING_REFRESH_SECONDS = 60.0
_MODES = {"1": "okx spot mode", "2": "okx spot and futures", "3": "okx multi-currency",
          "4": "okx portfolio margin"}


class OkxAdapter:
    venue = "okx"
    market_types: tuple[str, ...] = ("swap", "future")

    def __init__(self) -> None:
        self._level: tuple[str, float] | None = None  # (acctLv, when read)
        self._funding: dict[str, tuple[dict[str, Any], float]] = {}  # symbol → (funding-rate row, when read)

    async def _account_level(self, ex: Any, cfg: ReaderConfig, now: float) -> str:
        """The account mode from OKX itself (GET /api/v5/account/config ``acctLv``, unified-margin.md
        §4, §7); read again every :data:`MODE_REFRESH_SECONDS`."""
        if self._level is None or now - self._level[1] >= MODE_REFRESH_SECONDS:
            answer = await ex.private_get_account_config()
            try:
                level = str(answer["data"][0]["acctLv"])
            except (TypeError, KeyError, IndexError):
                raise ShapeError(f"{cfg.name}: the account-config answer has no acctLv") from None
            if level not in _MODES:
                raise ShapeError(f"{cfg.name}: unknown OKX account mode acctLv {level!r}")
            self._level = (level, now)
        return self._level[0]

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
        _cross_check(cfg.name, rows, open_rows, detail)
        raw_tiers = await _load_tiers(ex, cfg, open_rows, tiers, now)
        notes = _TierNotes()
        positions = tuple(_position(ex, cfg, p, tiers, now, notes) for p in open_rows)
        funding = await self._funding_rows(ex, positions, now)
        positions = with_funding(positions, funding)
        level = await self._account_level(ex, cfg, now)
        # from acctLv 2 the trading account holds spot coins too (spot mode, 1, holds no derivatives)
        spot, unvalued = trading_account_spot(detail, positions) if level != "1" else ((), [])
        spot_coins = {b.asset for b in spot}  # legs of the book, not settle pools (see trading_account_spot)
        wallets: dict[str, float] = {}
        reported: dict[str, Reported] = {}
        for item in detail.get("details") or []:
            code, cash = item.get("ccy"), num(item.get("cashBal"))
            if code in spot_coins:
                continue
            if code and cash is not None and (cash != 0 or any(p.settle == code for p in positions)):
                wallets[code] = cash
                ratio = num(item.get("mgnRatio"))
                if ratio is not None:
                    reported[code] = Reported(margin_ratio=ratio)  # OKX's sense: higher is safer
        margin = None
        if level in ("3", "4"):
            margin = multi_currency_margin(cfg.name, detail, positions, portfolio=level == "4")
            reported = {}  # per-currency figures are empty in these modes: the account's ratio counts
        account = Account(name=cfg.name, venue=self.venue, wallets=wallets, positions=positions,
                          reported=reported, data_time=now, margin=margin, spot=spot)
        raw: dict[str, Any] = {"positions": [strip_info(p) for p in rows], "balance": detail,
                               "tiers": raw_tiers, "held_tiers": notes.held, "acctLv": level,
                               "funding": funding}
        if notes.checks:
            raw["tier_checks"] = notes.checks
        if notes.fallbacks:
            raw["tier_fallbacks"] = notes.fallbacks
        warnings = [f"{cfg.name}: OKX gives no USD value for {', '.join(unvalued)} in the trading account; "
                    "left out of the spot balances"] if unvalued else []
        return ReadResult(account, raw, warnings)


    async def _funding_rows(self, ex: Any, positions: tuple[Position, ...],
                            now: float) -> dict[str, dict[str, Any]]:
        """The funding-rate row of each perpetual swap held, by symbol: asked once per symbol every
        :data:`FUNDING_REFRESH_SECONDS`; none for dated futures."""
        rows: dict[str, dict[str, Any]] = {}
        for symbol in sorted({p.symbol for p in positions if (ex.markets.get(p.symbol) or {}).get("swap")}):
            cached = self._funding.get(symbol)
            if cached is None or now - cached[1] >= FUNDING_REFRESH_SECONDS:
                answer = await ex.fetch_funding_rate(symbol)
                info = (answer or {}).get("info") if isinstance(answer, dict) else None
                cached = (dict(info) if isinstance(info, dict) else {}, now)
                self._funding[symbol] = cached
            rows[symbol] = cached[0]
        return rows


def with_funding(positions: tuple[Position, ...],
                 rows: Mapping[str, Mapping[str, Any]]) -> tuple[Position, ...]:
    """``positions`` with their swap's ``fundingRate``, next payment at ``fundingTime`` (ms) and the
    interval ``nextFundingTime − fundingTime``; a position without a row (a dated future) keeps None."""
    out = []
    for p in positions:
        row = rows.get(p.symbol) or {}
        rate = num(row.get("fundingRate"))
        if rate is None:
            out.append(p)
            continue
        due, after = num(row.get("fundingTime")), num(row.get("nextFundingTime"))
        hours = (after - due) / 3_600_000.0 if due and after and after > due else None
        out.append(dataclasses.replace(p, funding_rate=rate, next_funding_time=due / 1000.0 if due else None,
                                       funding_interval_hours=hours))
    return tuple(out)


def trading_account_spot(detail: dict[str, Any],
                         positions: tuple[Position, ...]) -> tuple[tuple[SpotBalance, ...], list[str]]:
    """The trading account's coins as spot holdings (the balance answer already read, acctLv ≥ 2).

    OKX keeps spot coins in the same trading account as the derivatives. In multi-currency and
    portfolio margin (acctLv 3, 4) such a coin is also collateral of the account's one pool
    (:func:`multi_currency_margin`): that is the pool's equity, a different figure from the whole
    book's exposure, hedges and P&L (``desk.domain.book``), where it is a spot leg. The book's P&L adds
    each settle pool's change (a pool per coin of ``wallets``) and each spot leg's, so the caller keeps
    a spot coin out of ``wallets``. Dollars are no hedge leg; a coin positions settle in (coin-margined
    contracts) is that pool's balance, not a leg. Valued at OKX's USD index ``eqUsd / eq``.
    """
    return spot_from_wallet(detail.get("details") or [], positions, coin="ccy", amount="cashBal",
                            equity="eq", usd="eqUsd")


def multi_currency_margin(name: str, detail: dict[str, Any], positions: tuple[Position, ...], *,
                          portfolio: bool) -> AccountMargin:
    """OKX multi-currency margin (acctLv 3) as one USD pool; portfolio margin (4) named only.

    Each currency's cash balance (``cashBal``: without UPL) at its USD index ``eqUsd / eq``, with
    the discount OKX applies to it now, ``disEq / eqUsd`` (unified-margin.md §4: on a recorded
    balance ``disEq = eqUsd × discountRate``). OKX's progressive discount tiers beyond the current
    holding are not applied (their unit is unverified, §8). The venue's figure is the account's
    ``mgnRatio`` (adjusted equity ÷ (MM + fees), higher is safer).
    """
    settles = {p.settle for p in positions if p.margin_mode is MarginMode.CROSS}
    collateral: list[Collateral] = []
    for item in detail.get("details") or []:
        code, cash = item.get("ccy"), num(item.get("cashBal"))
        equity, usd, discounted = num(item.get("eq")), num(item.get("eqUsd")), num(item.get("disEq"))
        if not code or cash is None:
            continue
        if not equity or usd is None:
            if code in settles:
                raise ShapeError(f"{name}: positions settle in {code}, but the balance gives no USD value "
                                 "for it; desk cannot value them")
            continue
        price = usd / equity
        rate = 1.0 if discounted is None or usd <= 0 else discounted / usd
        if price <= 0 or not 0 <= rate <= 1.0 + 1e-9:
            raise ShapeError(f"{name}: {code} has an impossible USD value or discount ({usd}, {discounted})")
        # a borrowed currency shows as a negative cash balance: counted in full (unified-margin.md §4)
        collateral.append(Collateral(code, cash, price, min(rate, 1.0),
                                     underlying=collateral_underlying(code)))
    ratio = num(detail.get("mgnRatio"))
    if portfolio:
        why = "maintenance margin comes from OKX's risk units (scenario-based), not published per position"
        return AccountMargin(mode="okx portfolio margin", collateral=tuple(collateral),
                             venue_margin_ratio=ratio, venue_ratio_inverted=True, cannot_recompute=why)
    return AccountMargin(mode="okx multi-currency", collateral=tuple(collateral), venue_margin_ratio=ratio,
                         venue_ratio_inverted=True)


def _cross_check(name: str, rows: list[dict[str, Any]], open_rows: list[dict[str, Any]],
                 detail: dict[str, Any]) -> None:
    """An empty position list is believed only if the balance holds no maintenance margin.

    OKX reports it account-wide (``mmr``, USD, multi-currency and portfolio margin) or per
    currency (``details[].mmr``, single-currency margin, cross positions). Any other listed
    position with a size (spot margin, options) can explain it, so then nothing is concluded.
    """
    if open_rows or any((num(p.get("contracts")) or 0.0) > 0 for p in rows):
        return
    held = [("the account", num(detail.get("mmr")) or 0.0)]
    held += [(str(d.get("ccy")), num(d.get("mmr")) or 0.0) for d in detail.get("details") or []
             if isinstance(d, dict)]
    for where, amount in held:
        if amount > 0:
            raise ShapeError(f"{name}: no positions listed while {where} holds maintenance margin "
                             f"{amount:g}; the position answer is incomplete")


@dataclass
class _TierNotes:
    """Diagnostics of the tier mapping, per symbol, for ``AccountSnapshot.raw``."""

    held: dict[str, Any] = field(default_factory=dict)
    checks: dict[str, str] = field(default_factory=dict)
    fallbacks: dict[str, str] = field(default_factory=dict)


# OKX's reported maintenance amount and the tier's rate × notional may differ by rounding and by
# the mark moving between the two answers; beyond this they disagree on the tier itself.
_TIER_CHECK_TOLERANCE = 0.05


def _size_key(symbol: str, mode: str) -> str:
    return f"okx-size-tiers:{symbol}:{mode}"


def _mode_of(p: dict[str, Any]) -> str:
    mode = (p.get("info") or {}).get("mgnMode")
    return mode if mode in ("cross", "isolated") else "cross"


async def _load_tiers(ex: Any, cfg: ReaderConfig, open_rows: list[dict[str, Any]], tiers: TierCache,
                      now: float) -> dict[str, Any]:
    """Fetch the size tiers (in contracts) of every held instrument whose cached table expired.

    Cached per (symbol, margin mode) in ``tiers`` with its refresh age; the cached ``Tier``
    holds contract bounds, converted per position in :func:`_held_tier`.
    """
    raw: dict[str, Any] = {}
    wanted = sorted({(p["symbol"], _mode_of(p)) for p in open_rows})
    for symbol, mode in wanted:
        key = _size_key(symbol, mode)
        if tiers.get(key, now) is not None:
            continue
        fetched = await ex.fetch_market_leverage_tiers(symbol, {"marginMode": mode})
        tiers.put(key, _size_tiers(fetched or [], f"{cfg.name} {symbol}"), now)
        raw[f"{symbol} {mode}"] = [strip_info(r) for r in fetched or []]
    return raw


def _size_tiers(rows: list[dict[str, Any]], where: str) -> tuple[Tier, ...]:
    """OKX tier rows → Tiers whose floor/cap are in CONTRACTS (only inside this module)."""
    out = []
    for row in rows:
        info = row.get("info") or {}
        low, high, mmr = num(info.get("minSz")), num(info.get("maxSz")), num(info.get("mmr"))
        if low is None or high is None or mmr is None or mmr < 0 or high <= low:
            raise ShapeError(f"{where}: malformed position tier {info!r}")
        out.append(Tier(notional_floor=low, notional_cap=high, mmr=mmr, maintenance_amount=0.0,
                        max_leverage=num(info.get("maxLever"))))
    out.sort(key=lambda t: t.notional_floor)
    return tuple(out)


def held_tier_index(size_tiers: tuple[Tier, ...], contracts: float) -> int:
    """The tier OKX applies to ``contracts``: the first whose cap (maxSz) reaches the size.

    OKX's bounds are inclusive and consecutive tiers start one lot above the previous cap, so
    a fractional size between two tiers belongs to the upper one; beyond the last cap (OKX
    refuses such positions) the last tier applies.
    """
    for i, tier in enumerate(size_tiers):
        if contracts <= tier.notional_cap:
            return i
    return len(size_tiers) - 1


def _position(ex: Any, cfg: ReaderConfig, p: dict[str, Any], tiers_cache: TierCache, now: float,
              notes: _TierNotes) -> Position:
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
    notional = notional_value(facts.kind, contracts, facts.contract_size, mark)
    maint = num(info.get("mmr"))
    tiers: tuple[Tier, ...] = ()
    size_tiers = tiers_cache.get(_size_key(symbol, mode.value), now) or ()
    if size_tiers:
        index = held_tier_index(size_tiers, contracts)
        held = size_tiers[index]
        tiers = (Tier(0.0, UNBOUNDED_NOTIONAL, held.mmr, 0.0, held.max_leverage),)
        per_contract = notional / contracts  # settle-currency notional of one contract at the mark
        notes.held[symbol] = {
            "tier": index + 1, "contracts": contracts, "mmr": held.mmr,
            "table_at_mark": [{"tier": i + 1, "min_contracts": t.notional_floor,
                               "max_contracts": t.notional_cap,
                               "min_notional": t.notional_floor * per_contract,
                               "max_notional": t.notional_cap * per_contract, "mmr": t.mmr}
                              for i, t in enumerate(size_tiers)],
        }
        if maint is not None and maint > 0:
            expected = held.mmr * notional
            if abs(expected - maint) > _TIER_CHECK_TOLERANCE * maint:
                notes.checks[symbol] = (f"tier {index + 1} rate {held.mmr:g} × notional {notional:g} = "
                                        f"{expected:g}, but OKX reports maintenance {maint:g}")
    elif maint is not None and maint >= 0 and notional > 0:
        tiers = (Tier(0.0, UNBOUNDED_NOTIONAL, maint / notional, 0.0),)
        notes.fallbacks[symbol] = "OKX sent no position tiers; effective rate = mmr ÷ notional"
    return Position(
        symbol=symbol, settle=facts.settle, kind=facts.kind, contracts=contracts,
        side=side_of(p.get("side"), where),
        entry_price=required_positive(info.get("avgPx"), "entry price", where),
        mark_price=mark, margin_mode=mode, contract_size=facts.contract_size,
        leg=_LEGS.get(str(info.get("posSide") or "net"), Leg.BOTH), isolated_margin=margin,
        leverage=num(info.get("lever")), tiers=tiers, taker_fee=facts.taker_fee,
        reported=Reported(liquidation_price=price_or_none(info.get("liqPx")),
                          margin_ratio=num(info.get("mgnRatio"))),
        tick_size=facts.tick_size, lot_size=facts.lot_size, mark_time=now,
        adl_rank=adl_rank(info.get("adl")),  # 1–5
    )
