"""The scalar risk path: plain Python, one position at a time — the tests' oracle.

:mod:`desk.domain.engine` computes the same figures vectorised over positions; the tests assert
the two agree. Everything here follows risk-math.md; the one equation behind every venue is

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
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from desk.domain.model import Account, Kind, MarginMode, Portfolio, Position
from desk.domain.report import AccountRisk, PoolRisk, PositionRisk, RiskReport
from desk.domain.rules import MMBasis, ResolvedTier, VenueRules, rules_for, tier_index

#: shocks are searched within ±SHOCK_LIMIT (a 99 % move); beyond it prices are meaningless.
SHOCK_LIMIT = 0.99
_SHOCK_GRID = 99  # grid steps per direction before bisection (1 % apart)


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
    return pnl_sign(p) * (value_at(p, price) - value_at(p, p.entry_price))


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


# ---------------------------------------------------------------------------- account level


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


def unit_shock_to_liquidation(unit: Unit, rules: VenueRules) -> float | None:
    """Smallest signed uniform move of all marks at which the unit's ratio reaches 1.0.

    Searched in both directions out to ±99 % on a 1 % grid, then bisected to machine precision.
    Signed: −0.12 = every mark 12 % lower. 0.0 when already at or past 1.0.
    """
    if not unit.positions:
        return None
    if unit_slack(unit, rules, 0.0) <= 0.0:
        return 0.0
    best: float | None = None
    for direction in (-1.0, 1.0):
        prev = 0.0
        for k in range(1, _SHOCK_GRID + 1):
            s = direction * SHOCK_LIMIT * k / _SHOCK_GRID
            if unit_slack(unit, rules, s) <= 0.0:
                lo, hi = prev, s  # slack > 0 at lo, ≤ 0 at hi
                for _ in range(200):
                    mid = (lo + hi) / 2.0
                    if mid in (lo, hi):
                        break
                    if unit_slack(unit, rules, mid) <= 0.0:
                        hi = mid
                    else:
                        lo = mid
                if best is None or abs(hi) < abs(best):
                    best = hi
                break
            prev = s
    return best


def shock_to_liquidation(account: Account) -> float | None:
    """Smallest signed uniform move of all marks at which any margin unit of the account reaches 1.0.

    Isolated positions count as units of their own. ``None`` when nothing within ±99 % does.
    """
    rules = rules_for(account.venue)
    best: float | None = None
    for unit in margin_units(account):
        s = unit_shock_to_liquidation(unit, rules)
        if s is not None and (best is None or abs(s) < abs(best)):
            best = s
    return best


def _group_by_symbol(positions: Iterable[Position]) -> dict[str, list[Position]]:
    groups: dict[str, list[Position]] = {}
    for p in positions:
        groups.setdefault(p.symbol, []).append(p)
    return groups


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


@dataclass(frozen=True, slots=True)
class PositionFigures:
    """Per-position numbers of the scalar path, before they are dressed as a PositionRisk."""

    position: Position
    notional: float
    unrealized_pnl: float
    maintenance_margin: float
    margin_ratio: float
    liquidation_price: float | None
    bankruptcy_price: float | None


@dataclass(frozen=True, slots=True)
class PoolFigures:
    settle: str
    wallet_balance: float
    unrealized_pnl: float
    margin_balance: float
    maintenance_margin: float
    margin_ratio: float


def account_figures(account: Account) -> tuple[list[PoolFigures], list[PositionFigures]]:
    """Pools and positions of one account (positions in the account's order)."""
    rules = rules_for(account.venue)
    pools: list[PoolFigures] = []
    figures: dict[int, PositionFigures] = {}
    for unit in margin_units(account):
        marks = [p.mark_price for p in unit.positions]
        pnl, balance, mm = unit_state(unit, rules, marks)
        ratio = margin_ratio(mm, balance)
        if not unit.isolated:
            pools.append(PoolFigures(unit.settle, unit.balance, pnl, balance, mm, ratio))
        for symbol_legs in _group_by_symbol(unit.positions).values():
            liq = symbol_liquidation_price(unit, symbol_legs, rules)
            bk = symbol_liquidation_price(unit, symbol_legs, rules, bankruptcy=True)
            for p in symbol_legs:
                figures[id(p)] = PositionFigures(
                    p,
                    value_at(p, p.mark_price),
                    pnl_at(p, p.mark_price),
                    maintenance_at(p, rules, p.mark_price),
                    ratio,
                    liq,
                    bk,
                )
    return pools, [figures[id(p)] for p in account.positions]


def compute_risk_scalar(
    portfolio: Portfolio, *, target: float | None = None, target_distance: float | None = None
) -> RiskReport:
    """The whole report on the scalar path (the oracle of :func:`desk.domain.engine.compute_risk`)."""
    from desk.domain.assemble import assemble_account

    if any(a.pooled for a in portfolio.accounts):
        from desk.domain.engine import _with_pooled

        return _with_pooled(portfolio, target, target_distance,
                            lambda p: compute_risk_scalar(p, target=target, target_distance=target_distance),
                            scalar=True)
    accounts: list[AccountRisk] = []
    for account in portfolio.accounts:
        pools, positions = account_figures(account)
        accounts.append(
            assemble_account(account, pools, positions, shock_to_liquidation(account), target=target,
                             target_distance=target_distance)
        )
    return RiskReport(accounts=tuple(accounts), as_of=portfolio.as_of)


__all__ = [
    "SHOCK_LIMIT",
    "AccountRisk",
    "PoolFigures",
    "PoolRisk",
    "PositionFigures",
    "PositionRisk",
    "account_figures",
    "compute_risk_scalar",
    "maintenance_at",
    "margin_ratio",
    "pnl_at",
    "shock_to_liquidation",
    "solve_price",
    "value_at",
]
