"""An oracle for the risk engine that shares no code with it.

Nothing here comes from ``desk.domain`` except the input data types (:mod:`desk.domain.model`).
The venue rules are written out again from design/risk-math.md, tiers are looked up by this
module's own scan, and every price is found by brute force: the equation behind every venue,

    margin balance(P) = maintenance margin(P)                               (risk-math.md §1.1)

is evaluated on a fine logarithmic grid of prices around the mark, every sign change is refined
by bisection, and the root nearest the mark is the answer. No closed form, no tier walk, no
Newton step — so a mistake in the engine's algebra cannot hide behind the same mistake here.

What "the liquidation price" means is the engine's documented definition (§1.1, §7.6, §7.7): the
mark of that symbol at which its margin unit (a cross pool per settle currency, or one isolated
position) reaches ratio 1.0, every other position of the unit held at its mark; the legs of one
symbol in one unit (Binance cross hedge mode) move together. The shock to liquidation is the
smallest uniform move of every mark (within ±99 %) at which a unit's balance − MM reaches 0.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass

import numpy as np

from desk.domain.model import Account, Kind, MarginMode, Position, Side, Tier

#: prices are searched from mark × 1e-6 to mark × 1e6, 2e-4 apart in log (about 0.02 %)
PRICE_DECADES = 6.0
PRICE_STEP = 2e-4
#: shocks are searched out to ±99 %, 1e-4 apart
SHOCK_LIMIT = 0.99
SHOCK_STEP = 1e-4


@dataclass(frozen=True)
class VenueRules:
    """risk-math.md, venue by venue, in three switches."""

    mm_on_entry_value: bool = False  # Bybit §3.1: MM = entry value × MMR − deduction
    fee_in_maintenance: bool = False  # OKX §4 "(MMR + fee)"; Bybit §3.2 fee to close
    fee_at_bankruptcy: bool = False  # Bybit §3.3: the bankruptcy price keeps the fee to close
    mmr_from_max_leverage: bool = False  # Hyperliquid §6: MMR = 1 / (2 × max leverage)


BINANCE = VenueRules()  # §1 (USDⓈ-M), §2 (COIN-M): MM at the price, tier of the notional there
VENUES = {
    "binance": BINANCE,
    "binanceusdm": BINANCE,
    "binancecoinm": BINANCE,
    "bybit": VenueRules(mm_on_entry_value=True, fee_in_maintenance=True, fee_at_bankruptcy=True),
    "okx": VenueRules(fee_in_maintenance=True),  # §4: (MMR + taker fee) at the liquidation price
    "gate": VenueRules(fee_in_maintenance=True),  # §5: the same shape as OKX
    "gateio": VenueRules(fee_in_maintenance=True),
    "hyperliquid": VenueRules(mmr_from_max_leverage=True),  # §6: like Binance with cum 0
}


def venue_rules(venue: str) -> VenueRules:
    """Any other venue: maintenance margin at the price, tiered, no fee (desk's generic rules)."""
    return VENUES.get(venue.strip().lower(), BINANCE)


@dataclass(frozen=True)
class Bracket:
    floor: float
    cap: float
    mmr: float
    amount: float  # Binance cum / Bybit MM deduction


def brackets(tiers: tuple[Tier, ...], rules: VenueRules = BINANCE) -> list[Bracket]:
    """The tier table with every amount filled in (§0: cum_n = cum_{n−1} + floor_n × (MMR_n − MMR_{n−1}))."""
    if not tiers:
        return [Bracket(0.0, math.inf, 0.0, 0.0)]
    out: list[Bracket] = []
    for i, t in enumerate(tiers):
        floor = 0.0 if i == 0 else t.notional_floor
        cap = math.inf if i == len(tiers) - 1 else t.notional_cap
        mmr = 0.5 / t.max_leverage if rules.mmr_from_max_leverage and t.max_leverage else t.mmr
        if t.maintenance_amount is not None:
            amount = t.maintenance_amount
        elif i == 0:
            amount = 0.0
        else:
            amount = out[-1].amount + floor * (mmr - out[-1].mmr)
        out.append(Bracket(floor, cap, mmr, amount))
    return out


def lookup(table: list[Bracket], notional: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(MMR, amount) of the first bracket whose cap lies above the notional (floor ≤ n < cap)."""
    mmr = np.full(notional.shape, table[-1].mmr)
    amount = np.full(notional.shape, table[-1].amount)
    for b in reversed(table[:-1]):
        below = notional < b.cap
        mmr = np.where(below, b.mmr, mmr)
        amount = np.where(below, b.amount, amount)
    return mmr, amount


def size(p: Position) -> float:
    return p.contracts * p.contract_size


def value(p: Position, price: np.ndarray) -> np.ndarray:
    """§0 / §2 / §7.5: linear Q·P in quote; inverse N·CS/P in coin."""
    return size(p) * price if p.kind is Kind.LINEAR else size(p) / price


def pnl(p: Position, price: np.ndarray) -> np.ndarray:
    """Linear s·Q·(P − EP); inverse s·N·CS·(1/EP − 1/P)."""
    s = 1.0 if p.side is Side.LONG else -1.0
    if p.kind is Kind.LINEAR:
        return s * size(p) * (price - p.entry_price)
    # 1/EP − 1/P written over one denominator: near the entry the two reciprocals' rounding would be
    # all that is left of their difference, while P − EP is exact there
    return s * size(p) * (price - p.entry_price) / (p.entry_price * price)


def maintenance(p: Position, rules: VenueRules, price: np.ndarray) -> np.ndarray:
    here = value(p, price)
    basis = value(p, np.full(here.shape, p.entry_price)) if rules.mm_on_entry_value else here
    mmr, amount = lookup(brackets(p.tiers, rules), basis)
    fee = (p.taker_fee or 0.0) if rules.fee_in_maintenance else 0.0
    return basis * mmr - amount + fee * here


def reserve(p: Position, rules: VenueRules, price: np.ndarray) -> np.ndarray:
    fee = (p.taker_fee or 0.0) if rules.fee_at_bankruptcy else 0.0
    return fee * value(p, price)


@dataclass(frozen=True)
class Unit:
    balance: float
    positions: tuple[Position, ...]


def units(account: Account) -> list[Unit]:
    """One cross pool per settle currency, and every isolated position on its own."""
    pools: dict[str, list[Position]] = {}
    out: list[Unit] = []
    for p in account.positions:
        if p.margin_mode is MarginMode.CROSS:
            pools.setdefault(p.settle, []).append(p)
        else:
            out.append(Unit(float(p.isolated_margin or 0.0), (p,)))
    return [Unit(account.wallet(settle), tuple(ps)) for settle, ps in pools.items()] + out


def unit_of(account: Account, position: Position) -> Unit:
    return next(u for u in units(account) if any(q is position for q in u.positions))


def _at(x: float) -> np.ndarray:
    return np.array([x])


def _nearest_root(f, mark: float) -> float | None:
    """Every sign change of ``f`` on the price grid, bisected; the root nearest ``mark``."""
    half = int(PRICE_DECADES * math.log(10) / PRICE_STEP)
    grid = mark * np.exp(np.arange(-half, half + 1) * PRICE_STEP)
    positive = f(grid) > 0
    changes = np.flatnonzero(positive[:-1] != positive[1:])
    roots = []
    for i in changes.tolist():
        lo, hi = float(grid[i]), float(grid[i + 1])
        lo_positive = bool(positive[i])
        for _ in range(200):
            mid = (lo + hi) / 2
            if mid in (lo, hi):
                break
            if bool(f(_at(mid))[0] > 0) == lo_positive:
                lo = mid
            else:
                hi = mid
        roots.append((lo + hi) / 2)
    if not roots:
        return None
    return min(roots, key=lambda x: abs(x - mark))


def _symbol_slack(account: Account, position: Position, *, bankruptcy: bool):
    rules = venue_rules(account.venue)
    unit = unit_of(account, position)
    legs = [p for p in unit.positions if p.symbol == position.symbol]
    others = [p for p in unit.positions if p.symbol != position.symbol]
    held = unit.balance
    for o in others:
        mark = _at(o.mark_price)
        cost = reserve(o, rules, mark) if bankruptcy else maintenance(o, rules, mark)
        held += float((pnl(o, mark) - cost)[0])

    def slack(price: np.ndarray) -> np.ndarray:
        total = np.full(price.shape, held)
        for p in legs:
            cost = reserve(p, rules, price) if bankruptcy else maintenance(p, rules, price)
            total = total + pnl(p, price) - cost
        return total

    return slack


def liquidation_price(account: Account, position: Position) -> float | None:
    return _nearest_root(_symbol_slack(account, position, bankruptcy=False), position.mark_price)


def bankruptcy_price(account: Account, position: Position) -> float | None:
    return _nearest_root(_symbol_slack(account, position, bankruptcy=True), position.mark_price)


def unit_ratio(account: Account, unit: Unit) -> float:
    rules = venue_rules(account.venue)
    equity = unit.balance + sum(float(pnl(p, _at(p.mark_price))[0]) for p in unit.positions)
    mm = sum(float(maintenance(p, rules, _at(p.mark_price))[0]) for p in unit.positions)
    return mm / equity if equity > 0 else math.inf


def unit_ratio_tolerance(unit: Unit) -> float:
    """The relative error a margin ratio of ``unit`` may carry from rounding alone: its equity is a
    sum of terms (balance, each PnL) that may nearly cancel, and each is known to a few ulps of its
    own size, so the error of MM ÷ equity is about eps × Σ|term| ÷ |equity| (inf at zero equity)."""
    terms = [unit.balance, *(float(pnl(p, _at(p.mark_price))[0]) for p in unit.positions)]
    equity = sum(terms)
    scale = sum(abs(t) for t in terms)
    return math.inf if equity == 0 else 16 * sys.float_info.epsilon * scale / abs(equity)


def unit_shock(account: Account, unit: Unit) -> float | None:
    rules = venue_rules(account.venue)

    def slack(shock: np.ndarray) -> np.ndarray:
        total = np.full(shock.shape, unit.balance)
        for p in unit.positions:
            price = p.mark_price * (1.0 + shock)
            total = total + pnl(p, price) - maintenance(p, rules, price)
        return total

    if slack(_at(0.0))[0] <= 0:
        return 0.0
    steps = round(SHOCK_LIMIT / SHOCK_STEP)
    found = []
    for direction in (-1.0, 1.0):
        grid = direction * SHOCK_LIMIT * np.arange(0, steps + 1) / steps
        gone = np.flatnonzero(slack(grid) <= 0)
        if not len(gone):
            continue
        k = int(gone[0])
        lo, hi = float(grid[k - 1]), float(grid[k])  # slack > 0 at lo, ≤ 0 at hi
        for _ in range(200):
            mid = (lo + hi) / 2
            if mid in (lo, hi):
                break
            if slack(_at(mid))[0] <= 0:
                hi = mid
            else:
                lo = mid
        found.append(hi)
    return min(found, key=abs) if found else None


def account_shock(account: Account) -> float | None:
    shocks = [s for u in units(account) if (s := unit_shock(account, u)) is not None]
    return min(shocks, key=abs) if shocks else None


@dataclass(frozen=True)
class PositionFigures:
    notional: float
    unrealized_pnl: float
    maintenance_margin: float
    margin_ratio: float
    liquidation_price: float | None
    bankruptcy_price: float | None


def position_figures(account: Account, position: Position) -> PositionFigures:
    rules = venue_rules(account.venue)
    mark = _at(position.mark_price)
    return PositionFigures(
        float(value(position, mark)[0]),
        float(pnl(position, mark)[0]),
        float(maintenance(position, rules, mark)[0]),
        unit_ratio(account, unit_of(account, position)),
        liquidation_price(account, position),
        bankruptcy_price(account, position),
    )


def price_in_range(price: float, mark: float) -> bool:
    """Whether the oracle's price grid reaches ``price`` (it searches mark × 10^±6)."""
    return mark * 10 ** -PRICE_DECADES < price < mark * 10 ** PRICE_DECADES


# one price at a time, for tests that check a single figure
def value_at(p: Position, price: float) -> float:
    return float(value(p, _at(price))[0])


def pnl_at(p: Position, price: float) -> float:
    return float(pnl(p, _at(price))[0])


def maintenance_at(p: Position, rules: VenueRules, price: float) -> float:
    return float(maintenance(p, rules, _at(price))[0])


def bracket_at(p: Position, rules: VenueRules, notional: float) -> Bracket:
    """The bracket with floor ≤ notional < cap, by a plain scan."""
    return next(b for b in brackets(p.tiers, rules) if notional < b.cap)
