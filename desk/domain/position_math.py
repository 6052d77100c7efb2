"""The math of one position and of one margin unit, in plain Python: value, PnL, tier, maintenance
margin, the liquidation and bankruptcy price of one symbol's legs, and a unit's shock to liquidation.

Production code uses it where a figure concerns one position or one unit (the engine's fallbacks
for pools whose legs or tables it cannot solve in closed form — a single-position unit's segment
walk is vectorised in the engine, with this module's operations in the same order — the
suggestions, the pooled-margin module, what-if edits, the exchange adapters); the vectorised engine
(:mod:`desk.domain.engine`) computes the same figures over every position at once. The
whole-account scalar oracle the tests compare the engine with is :mod:`desk.domain.scalar`, built on
this module; nothing in production imports the oracle.

Everything here follows risk-math.md; the one equation behind every venue is

    margin balance(P) = maintenance margin(P)                       (§1.1, §2, §3, §4, §5, §6)

with the venue switches of :mod:`desk.domain.rules`. Written in the *value* ``v`` of a position
(linear: ``Q × P`` in quote; inverse: ``N × CS / P`` in coin, §7.5), every term is linear in
``u`` (linear: ``u = P``; inverse: ``u = 1/P``) once the tiers are fixed:

    PnL  = σ × (v(u) − v(EP))            σ = +side for linear, −side for inverse
    MM   = (MMR + fee) × v(u) − cum      MM at the price (Binance, OKX, Gate, Hyperliquid)
    MM   = MMR × v(EP) − cum + fee × v(u)  MM on the entry value (Bybit §3.1)

so each tier segment has a closed-form root (the §1.1 compact formula generalised), and the
venue's tier is the one whose segment contains its root (§1.2: "the tier at the liquidation
price").
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

from desk.domain.model import Account, Kind, MarginMode, Position
from desk.domain.rules import MMBasis, ResolvedTier, VenueRules, tier_index

#: shocks are searched within ±SHOCK_LIMIT (a 99 % move); beyond it prices are meaningless.
SHOCK_LIMIT = 0.99


# ---------------------------------------------------------------------------- single position


def quantity(p: Position) -> float:
    """Linear: base units; inverse: quote value of the position (contracts × contract size)."""
    return p.contracts * p.contract_size


def notional_value(kind: Kind, contracts: float, contract_size: float, price: float) -> float:
    """Notional in the settle currency at ``price``: linear ``Q × P`` in quote, inverse
    ``N × CS / P`` in coin (§0, §2, §7.5)."""
    q = contracts * contract_size
    return q * price if kind is Kind.LINEAR else q / price


def value_at(p: Position, price: float) -> float:
    """The position's notional in its settle currency at ``price`` (§0, §2, §7.5)."""
    return notional_value(p.kind, p.contracts, p.contract_size, price)


def pnl_sign(p: Position) -> int:
    """σ: PnL = σ × (v(P) − v(EP)). Inverse value falls as price rises, so the sign flips."""
    return p.side.sign if p.kind is Kind.LINEAR else -p.side.sign


def pnl_at(p: Position, price: float) -> float:
    """Unrealized PnL at ``price`` in the settle currency (linear: Q·ΔP; inverse: N·CS·(1/EP − 1/P))."""
    if p.kind is Kind.LINEAR:  # Q × (P − EP): exact near the entry, where Q·P − Q·EP is not
        return pnl_sign(p) * quantity(p) * (price - p.entry_price)
    # N·CS × (EP − P) ÷ (P·EP): the same, where N·CS/P − N·CS/EP keeps only the ulps of N·CS/P
    return pnl_sign(p) * quantity(p) * (p.entry_price - price) / (price * p.entry_price)


def fee_rate(p: Position, rules: VenueRules) -> float:
    return (p.taker_fee or 0.0) if rules.fee_in_mm else 0.0


def bankruptcy_fee_rate(p: Position, rules: VenueRules) -> float:
    return (p.taker_fee or 0.0) if rules.fee_in_bankruptcy else 0.0


def tier_at(p: Position, rules: VenueRules, price: float) -> ResolvedTier:
    """The tier the venue applies at ``price``: by the notional there, or by entry value (Bybit)."""
    tiers = rules.resolve(p.tiers)
    basis = value_at(p, price) if rules.mm_basis is MMBasis.PRICE else value_at(p, p.entry_price)
    return tiers[tier_index(tiers, basis)]


def maintenance_at(p: Position, rules: VenueRules, price: float) -> float:
    """Maintenance margin (incl. the venue's closing-fee reserve) at ``price`` (§0, §3.1, §4, §5)."""
    tier = tier_at(p, rules, price)
    v = value_at(p, price)
    basis = v if rules.mm_basis is MMBasis.PRICE else value_at(p, p.entry_price)
    return basis * tier.mmr - tier.cum + fee_rate(p, rules) * v


def bankruptcy_reserve_at(p: Position, rules: VenueRules, price: float) -> float:
    """What must remain at the bankruptcy price: 0, or Bybit's fee to close (§3.2, §3.3)."""
    return bankruptcy_fee_rate(p, rules) * value_at(p, price)


def margin_ratio(maintenance: float, margin_balance: float) -> float:
    """Desk's one scale: MM ÷ margin balance (1.0 = liquidation); ``inf`` once the balance is gone."""
    if margin_balance <= 0.0:
        return math.inf
    return maintenance / margin_balance


# ---------------------------------------------------------------------------- price solving


def _segment_terms(
    legs: Sequence[Position], rules: VenueRules, u_mid: float, *, bankruptcy: bool
) -> tuple[float, float]:
    """``(A, B)`` with Σ_legs (PnL − MM) = A + B·u on the tier segment containing ``u_mid``."""
    a = b = 0.0
    for p in legs:
        q = quantity(p)
        sigma = pnl_sign(p)
        v_entry = value_at(p, p.entry_price)
        if bankruptcy:
            mmr, cum, fee, on_entry = 0.0, 0.0, bankruptcy_fee_rate(p, rules), False
        else:
            tiers = rules.resolve(p.tiers)
            on_entry = rules.mm_basis is MMBasis.ENTRY
            tier = tiers[tier_index(tiers, v_entry if on_entry else q * u_mid)]
            mmr, cum, fee = tier.mmr, tier.cum, fee_rate(p, rules)
        if on_entry:
            b += q * (sigma - fee)
            a += -sigma * v_entry - mmr * v_entry + cum
        else:
            b += q * (sigma - mmr - fee)
            a += -sigma * v_entry + cum
    return a, b


def solve_price(
    legs: Sequence[Position], rules: VenueRules, base: float, mark: float, *, bankruptcy: bool = False
) -> float | None:
    """The mark price of ``legs``' symbol at which ``base + Σ(PnL − MM) = 0``; ``None`` if none.

    ``legs`` share one symbol and move together (one position, or Binance's cross hedge legs,
    which share one liquidation price, §1.1 / §7.6). ``base`` is the rest of the margin balance
    minus the rest of the maintenance margin, held fixed (isolated: the isolated wallet; cross:
    wallet + other positions' PnL − their MM at their marks, §1.1 "TMM1, UPNL1"). With
    ``bankruptcy`` the maintenance margin is 0 (§1.3) or Bybit's fee to close (§3.3).

    Tier segments are cut at every tier floor (in ``u``), each solved in closed form and kept only
    if its root lies inside it (§1.2). Where maintenance amounts are inconsistent and the function
    jumps across zero at a boundary, the boundary is the answer. Of several roots, the one nearest
    the mark.
    """
    kind = legs[0].kind
    cuts = {0.0}
    if not bankruptcy and rules.mm_basis is MMBasis.PRICE:
        for p in legs:
            q = quantity(p)
            for tier in rules.resolve(p.tiers)[1:]:
                cuts.add(tier.floor / q)
    bounds = sorted(cuts)
    bounds.append(math.inf)
    roots: list[float] = []
    previous_at_hi: float | None = None
    for lo, hi in itertools.pairwise(bounds):
        mid = (lo + hi) / 2.0 if math.isfinite(hi) else (lo * 2.0 if lo > 0 else 1.0)
        a, b = _segment_terms(legs, rules, mid, bankruptcy=bankruptcy)
        a += base
        if lo > 0 and previous_at_hi is not None:
            at_lo = a + b * lo
            if (previous_at_hi > 0) != (at_lo > 0) and previous_at_hi != 0 and at_lo != 0:
                roots.append(lo)  # a jump across zero at a tier boundary
        if b != 0.0:
            u = -a / b
            if u > 0 and math.isfinite(u) and lo * (1 - 1e-12) <= u <= hi * (1 + 1e-12):
                roots.append(u)
        previous_at_hi = a + b * hi if math.isfinite(hi) else None
    prices = [u if kind is Kind.LINEAR else 1.0 / u for u in roots]
    prices = [x for x in prices if x > 0 and math.isfinite(x)]
    if not prices:
        return None
    return min(prices, key=lambda x: abs(x - mark))



# ---------------------------------------------------------------------------- margin units


@dataclass(frozen=True, slots=True)
class Unit:
    """One margin unit that can be liquidated: a cross pool, or one isolated position."""

    settle: str
    positions: tuple[Position, ...]
    balance: float  # wallet (cross) or isolated wallet (isolated), excluding unrealized PnL
    isolated: bool


def margin_units(account: Account) -> list[Unit]:
    """Cross pools (per settle currency) first, then every isolated position on its own."""
    settles: dict[str, list[Position]] = {}
    for cur, amount in account.wallets.items():
        if amount != 0:
            settles.setdefault(cur, [])
    for p in account.positions:
        if p.margin_mode is MarginMode.CROSS:
            settles.setdefault(p.settle, []).append(p)
    units = [Unit(s, tuple(ps), account.wallet(s), False) for s, ps in settles.items()]
    for p in account.positions:
        if p.margin_mode is MarginMode.ISOLATED:
            units.append(Unit(p.settle, (p,), float(p.isolated_margin or 0.0), True))
    return units


def unit_state(unit: Unit, rules: VenueRules, prices: Sequence[float]) -> tuple[float, float, float]:
    """(unrealized PnL, margin balance, maintenance margin) of a unit at the given mark prices."""
    pnl = sum((pnl_at(p, x) for p, x in zip(unit.positions, prices, strict=True)), 0.0)
    mm = sum((maintenance_at(p, rules, x) for p, x in zip(unit.positions, prices, strict=True)), 0.0)
    return pnl, unit.balance + pnl, mm


def unit_slack(unit: Unit, rules: VenueRules, shock: float) -> float:
    """Margin balance − MM after every mark moves by ``shock`` (≤ 0: ratio ≥ 1, liquidated)."""
    _, balance, mm = unit_state(unit, rules, [p.mark_price * (1.0 + shock) for p in unit.positions])
    return balance - mm


def _shock_breaks(p: Position, rules: VenueRules) -> list[float]:
    """The shocks at which the position's notional crosses a tier floor (where its MM changes formula)."""
    if rules.mm_basis is not MMBasis.PRICE:
        return []  # tiers by entry value (Bybit §3.1): fixed whatever the price
    v0 = value_at(p, p.mark_price)
    # linear: v0 × (1 + s) = floor; inverse: v0 ÷ (1 + s) = floor
    return [tier.floor / v0 - 1.0 if p.kind is Kind.LINEAR else v0 / tier.floor - 1.0
            for tier in rules.resolve(p.tiers)[1:] if tier.floor > 0]


def _shock_terms(p: Position, rules: VenueRules, shock: float) -> tuple[float, float, float]:
    """``(L0, L1, K)`` with the position's PnL − MM = L0 + L1·s + K / (1 + s) on the tier segment
    containing ``shock``: a linear value moves as ``v0 × (1 + s)``, an inverse one as ``v0 ÷ (1 + s)``."""
    entry_basis = rules.mm_basis is MMBasis.ENTRY
    v0 = value_at(p, p.mark_price)
    v_entry = value_at(p, p.entry_price)
    sigma = pnl_sign(p)
    tiers = rules.resolve(p.tiers)
    moving = v0 * (1.0 + shock) if p.kind is Kind.LINEAR else v0 / (1.0 + shock)
    tier = tiers[tier_index(tiers, v_entry if entry_basis else moving)]
    # the part proportional to the value, and the fixed part
    rate = sigma - fee_rate(p, rules) - (0.0 if entry_basis else tier.mmr)
    fixed = -sigma * v_entry + tier.cum - (tier.mmr * v_entry if entry_basis else 0.0)
    if p.kind is Kind.LINEAR:
        return fixed + rate * v0, rate * v0, 0.0
    return fixed, 0.0, rate * v0


def _segment_roots(l0: float, l1: float, k: float) -> list[float]:
    """Shocks ``s > −1`` with L0 + L1·s + K/(1 + s) = 0, i.e. L1·s² + (L0 + L1)·s + (L0 + K) = 0."""
    a, b, c = l1, l0 + l1, l0 + k
    if a == 0.0:
        return [-c / b] if b != 0.0 else []
    disc = b * b - 4.0 * a * c
    if disc < 0.0:
        return []
    # the stable form: the small root as c / q keeps its digits when b² ≫ 4ac
    q = -0.5 * (b + math.copysign(math.sqrt(disc), b))
    roots = [q / a]
    if q != 0.0:
        roots.append(c / q)
    return [r for r in roots if r > -1.0 and math.isfinite(r)]


def unit_shock_to_liquidation(unit: Unit, rules: VenueRules) -> float | None:
    """Smallest signed uniform move of all marks at which the unit's ratio reaches 1.0.

    Exact, segment by segment: the shocks where any notional crosses a tier floor cut ±99 % into
    segments on which the slack (balance − MM) has a closed form (:func:`_shock_terms`); walking
    outwards from 0, the answer is the first segment that starts at slack ≤ 0 (MM jumping up at a
    floor) or holds a root. Neither a grid nor a bisection: with inconsistent maintenance amounts
    MM can jump *down* at a floor, so the slack can cross zero, recover and cross again within any
    grid step — a bracket there would find the later root. Signed: −0.12 = every mark 12 % lower.
    0.0 when already at or past 1.0.
    """
    if not unit.positions:
        return None
    if unit_slack(unit, rules, 0.0) <= 0.0:
        return 0.0
    breaks = [(shock, i) for i, p in enumerate(unit.positions) for shock in _shock_breaks(p, rules)]
    best: float | None = None
    for direction in (-1.0, 1.0):
        crossing: dict[float, list[int]] = {}  # |shock| of a floor → the positions crossing it there
        for shock, i in breaks:
            if shock * direction > 0 and abs(shock) < SHOCK_LIMIT:
                crossing.setdefault(abs(shock), []).append(i)
        edges = [0.0, *sorted(crossing), SHOCK_LIMIT]
        terms = [_shock_terms(p, rules, direction * edges[1] / 2.0) for p in unit.positions]
        for near, far in itertools.pairwise(edges):
            mid = direction * (near + far) / 2.0
            for i in crossing.get(near, ()):  # only the positions crossing a floor change formula
                terms[i] = _shock_terms(unit.positions[i], rules, mid)
            l0 = unit.balance + math.fsum(t[0] for t in terms)
            l1 = math.fsum(t[1] for t in terms)
            k = math.fsum(t[2] for t in terms)
            start = direction * near
            if near > 0 and l0 + l1 * start + k / (1.0 + start) <= 0.0:
                found: float | None = start  # the slack jumps to ≤ 0 at this floor
            else:
                inside = (r for r in _segment_roots(l0, l1, k)
                          if near * (1 - 1e-12) <= r * direction <= far * (1 + 1e-12))
                found = min(inside, key=abs, default=None)
            if found is not None:
                found = direction * min(abs(found), SHOCK_LIMIT)
                if best is None or abs(found) < abs(best):
                    best = found
                break
    return best


def symbol_liquidation_price(
    unit: Unit, symbol_legs: Sequence[Position], rules: VenueRules, *, bankruptcy: bool = False
) -> float | None:
    """The liquidation (or bankruptcy) price of one symbol's legs in ``unit``, the unit's other
    positions held at their marks (§1.1 "TMM1, UPNL1")."""
    others = [p for p in unit.positions if p.symbol != symbol_legs[0].symbol]
    base = unit.balance + sum(pnl_at(o, o.mark_price) for o in others)
    if bankruptcy:
        base -= sum(bankruptcy_reserve_at(o, rules, o.mark_price) for o in others)
    else:
        base -= sum(maintenance_at(o, rules, o.mark_price) for o in others)
    return solve_price(symbol_legs, rules, base, symbol_legs[0].mark_price, bankruptcy=bankruptcy)


__all__ = [
    "SHOCK_LIMIT",
    "Unit",
    "bankruptcy_fee_rate",
    "bankruptcy_reserve_at",
    "fee_rate",
    "maintenance_at",
    "margin_ratio",
    "margin_units",
    "notional_value",
    "pnl_at",
    "pnl_sign",
    "quantity",
    "solve_price",
    "symbol_liquidation_price",
    "tier_at",
    "unit_shock_to_liquidation",
    "unit_slack",
    "unit_state",
    "value_at",
]
