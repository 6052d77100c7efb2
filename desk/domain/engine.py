"""The risk engine: every figure of :mod:`desk.domain.report` for a whole portfolio, vectorised.

One engine for every caller (ARCHITECTURE rule 2). The formulas are those of
:mod:`desk.domain.scalar` (risk-math.md §0–§8, written as one linear equation per tier segment);
this module evaluates them with numpy over all positions at once so a whole portfolio recomputes
on every tick. The scalar module stays as the tests' oracle; the tests assert both agree.

Hot path: :func:`compute_arrays` returns plain arrays (no per-position Python objects);
:func:`compute_risk` dresses them as the report dataclasses.

What is vectorised and what is not:

* value, PnL, tier lookup, maintenance margin, pool sums, ratios — all positions at once;
* liquidation price of every single-leg position (isolated, or the only leg of its symbol in a
  cross pool): every tier's closed-form root at once, keeping the self-consistent one (§1.2);
  hedge-mode cross legs sharing one price (§1.1, §7.6) go through the scalar solver — there are few;
* bankruptcy prices: closed form per symbol group (no tiers at 0 % margin, §1.3, §3.3);
* shock to liquidation: Newton's method from the far end of the ±99 % range on every unit at once.
  Where the unit's slack (balance − MM) is concave in the shock — linear contracts, long inverse
  contracts, tiers with continuous maintenance amounts (§0) — that converges monotonically to the
  first crossing; other units (short inverse legs, inconsistent maintenance amounts) use the
  scalar grid search.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from desk.domain.assemble import assemble_account
from desk.domain.model import Account, Kind, MarginMode, Portfolio, Position
from desk.domain.report import AccountRisk, RiskReport
from desk.domain.rules import MMBasis, ResolvedTier, VenueRules, rules_for
from desk.domain.scalar import (
    SHOCK_LIMIT,
    PoolFigures,
    PositionFigures,
    Unit,
    solve_price,
    unit_shock_to_liquidation,
)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]
BoolArray = npt.NDArray[np.bool_]

_NEWTON_STEPS = 80


@dataclass(frozen=True, slots=True)
class RiskArrays:
    """The engine's figures as arrays. Positions in portfolio order (account by account); units are
    the cross pools (per settle, in the scalar order) then the isolated positions of each account.
    ``nan`` in a price means "none"; ``inf`` in a ratio means the margin balance is gone."""

    # per position
    notional: FloatArray
    unrealized_pnl: FloatArray
    maintenance_margin: FloatArray
    margin_ratio: FloatArray
    liquidation_price: FloatArray
    bankruptcy_price: FloatArray
    position_unit: IntArray
    # per unit
    unit_account: IntArray
    unit_isolated: BoolArray
    unit_settle: tuple[str, ...]
    unit_balance: FloatArray
    unit_pnl: FloatArray
    unit_maintenance: FloatArray
    unit_ratio: FloatArray
    unit_shock: FloatArray  # signed, nan = none within ±99 %
    # per account
    account_shock: FloatArray  # signed, nan = none within ±99 %


@dataclass(slots=True)
class _Flat:
    positions: list[Position]
    units: list[Unit]
    unit_rules: list[VenueRules]
    unit_account: IntArray
    unit_isolated: BoolArray
    unit_balance: FloatArray
    unit_of: IntArray
    group_of: IntArray
    n_groups: int
    q: FloatArray
    inverse: BoolArray
    sigma: FloatArray
    entry: FloatArray
    mark: FloatArray
    v_entry: FloatArray
    entry_basis: BoolArray
    fee: FloatArray
    fee_bk: FloatArray
    floors: FloatArray  # (n, T), padded with +inf
    rates: FloatArray
    cums: FloatArray
    convex: BoolArray  # tier table gives MM continuous and convex in the notional (§0)
    row_offset: IntArray  # i × tiers width, to index the flattened tier arrays


def _table_is_convex(tiers: Sequence[ResolvedTier]) -> bool:
    for prev, cur in itertools.pairwise(tiers):
        if cur.mmr < prev.mmr:
            return False
        left = prev.mmr * cur.floor - prev.cum
        right = cur.mmr * cur.floor - cur.cum
        if abs(left - right) > 1e-9 * max(1.0, abs(right)):
            return False
    return True


def _flatten(portfolio: Portfolio) -> _Flat:
    positions: list[Position] = []
    units: list[Unit] = []
    unit_rules: list[VenueRules] = []
    unit_account: list[int] = []
    unit_balance: list[float] = []
    unit_isolated: list[bool] = []
    unit_of: list[int] = []
    group_of: list[int] = []
    rule_entry: list[bool] = []
    fee_mm: list[float] = []
    fee_bk: list[float] = []
    table_of: list[int] = []
    tables: list[tuple[ResolvedTier, ...]] = []
    table_ids: dict[tuple[int, bool], int] = {}
    keep_alive: list[object] = []
    n_groups = 0
    for ai, acc in enumerate(portfolio.accounts):
        rules = rules_for(acc.venue)
        on_entry = rules.mm_basis is MMBasis.ENTRY
        pools: dict[str, list[Position]] = {}
        for cur, amount in acc.wallets.items():
            if amount != 0:
                pools.setdefault(cur, [])
        isolated: list[Position] = []
        for p in acc.positions:
            if p.margin_mode is MarginMode.CROSS:
                pools.setdefault(p.settle, []).append(p)
            else:
                isolated.append(p)
        members = [(settle, ps, acc.wallet(settle), False) for settle, ps in pools.items()]
        members += [(p.settle, [p], float(p.isolated_margin or 0.0), True) for p in isolated]
        for settle, ps, balance, is_iso in members:
            uid = len(units)
            units.append(Unit(settle, tuple(ps), balance, is_iso))
            unit_rules.append(rules)
            unit_account.append(ai)
            unit_balance.append(balance)
            unit_isolated.append(is_iso)
            groups: dict[str, int] = {}
            for p in ps:
                gid = groups.get(p.symbol)
                if gid is None:
                    gid = groups[p.symbol] = n_groups
                    n_groups += 1
                positions.append(p)
                unit_of.append(uid)
                group_of.append(gid)
                rule_entry.append(on_entry)
                taker = p.taker_fee or 0.0
                fee_mm.append(taker if rules.fee_in_mm else 0.0)
                fee_bk.append(taker if rules.fee_in_bankruptcy else 0.0)
                key = (id(p.tiers), rules.mmr_from_max_leverage)
                tid = table_ids.get(key)
                if tid is None:
                    tid = table_ids[key] = len(tables)
                    tables.append(rules.resolve(p.tiers))
                    keep_alive.append(p.tiers)  # ids stay unique while we hold the tuples
                table_of.append(tid)
    n = len(positions)
    width = max((len(t) for t in tables), default=1)
    tab_floor = np.full((max(len(tables), 1), width), np.inf)
    tab_rate = np.zeros_like(tab_floor)
    tab_cum = np.zeros_like(tab_floor)
    tab_convex = np.ones(max(len(tables), 1), dtype=bool)
    for k, table in enumerate(tables):
        tab_floor[k, : len(table)] = [t.floor for t in table]
        tab_rate[k, : len(table)] = [t.mmr for t in table]
        tab_cum[k, : len(table)] = [t.cum for t in table]
        tab_convex[k] = _table_is_convex(table)
    tix = np.asarray(table_of, dtype=np.intp)
    contracts = np.fromiter((p.contracts for p in positions), np.float64, n)
    size = np.fromiter((p.contract_size for p in positions), np.float64, n)
    entry = np.fromiter((p.entry_price for p in positions), np.float64, n)
    mark = np.fromiter((p.mark_price for p in positions), np.float64, n)
    inverse = np.fromiter((p.kind is Kind.INVERSE for p in positions), np.bool_, n)
    side = np.fromiter((p.side.sign for p in positions), np.float64, n)
    q = contracts * size
    return _Flat(
        positions=positions,
        units=units,
        unit_rules=unit_rules,
        unit_account=np.asarray(unit_account, dtype=np.intp),
        unit_isolated=np.asarray(unit_isolated, dtype=bool),
        unit_balance=np.asarray(unit_balance, dtype=np.float64),
        unit_of=np.asarray(unit_of, dtype=np.intp),
        group_of=np.asarray(group_of, dtype=np.intp),
        n_groups=n_groups,
        q=q,
        inverse=inverse,
        sigma=np.where(inverse, -side, side),
        entry=entry,
        mark=mark,
        v_entry=np.where(inverse, q / entry, q * entry),
        entry_basis=np.asarray(rule_entry, dtype=bool),
        fee=np.asarray(fee_mm, dtype=np.float64),
        fee_bk=np.asarray(fee_bk, dtype=np.float64),
        floors=tab_floor[tix],
        rates=tab_rate[tix],
        cums=tab_cum[tix],
        convex=tab_convex[tix],
        row_offset=np.arange(n, dtype=np.intp) * width,
    )


def _sum(index: IntArray, weights: FloatArray, length: int) -> FloatArray:
    """Sum ``weights`` into ``length`` bins by ``index`` (numpy's bincount, typed as floats)."""
    return np.asarray(np.bincount(index, weights=weights, minlength=length), dtype=np.float64)


def _value(f: _Flat, price: FloatArray) -> FloatArray:
    return np.where(f.inverse, f.q / price, f.q * price)


def _tier(f: _Flat, basis: FloatArray) -> tuple[FloatArray, FloatArray]:
    """(MMR, cum) of the tier with floor ≤ basis (basis shaped like the positions, any leading dims)."""
    width = f.floors.shape[1]
    if width == 1:
        return np.broadcast_to(f.rates[:, 0], basis.shape), np.broadcast_to(f.cums[:, 0], basis.shape)
    idx = np.count_nonzero(f.floors[:, 1:] <= basis[..., None], axis=-1)
    flat = f.row_offset + idx
    return f.rates.ravel()[flat], f.cums.ravel()[flat]


def _maintenance(f: _Flat, value: FloatArray) -> tuple[FloatArray, FloatArray]:
    """(MM, d MM / d value) at the given values: §0 at the price, or on the entry value (Bybit)."""
    basis = np.where(f.entry_basis, f.v_entry, value)
    rate, cum = _tier(f, basis)
    mm = basis * rate - cum + f.fee * value
    slope = np.where(f.entry_basis, 0.0, rate) + f.fee
    return mm, slope


def _liquidation_single(f: _Flat, base: FloatArray, rows: IntArray) -> FloatArray:
    """Closed-form liquidation price of single-leg groups (``rows``), every tier at once (§1.1, §1.2)."""
    q = f.q[rows][:, None]
    sigma = f.sigma[rows][:, None]
    ve = f.v_entry[rows][:, None]
    fee = f.fee[rows][:, None]
    b0 = base[rows][:, None]
    floors = f.floors[rows]
    rates = f.rates[rows]
    cums = f.cums[rows]
    caps = np.concatenate([floors[:, 1:], np.full((len(rows), 1), np.inf)], axis=1)
    on_entry = f.entry_basis[rows]
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        # price basis: Σ = (−σ·ve + cum) + q·(σ − m − fee)·u, one line per tier segment
        a = -sigma * ve + cums
        b = q * (sigma - rates - fee)
        x = -(b0 + a) / b
        v = q * x
        ok = (x > 0) & np.isfinite(x) & (v >= floors * (1 - 1e-12)) & (v <= caps * (1 + 1e-12))
        ok &= np.isfinite(floors)
        # jumps across zero at a boundary (maintenance amounts inconsistent with §0)
        xb = floors[:, 1:] / q
        left = b0 + a[:, :-1] + b[:, :-1] * xb
        right = b0 + a[:, 1:] + b[:, 1:] * xb
        jump = np.isfinite(floors[:, 1:]) & ((left > 0) != (right > 0)) & (left != 0) & (right != 0)
        cand = np.concatenate([np.where(ok, x, np.nan), np.where(jump, xb, np.nan)], axis=1)
        # entry basis (Bybit): one segment, the entry tier
        rate_e, cum_e = _tier_rows(f, rows, f.v_entry[rows])
        xe = -(base[rows] - f.sigma[rows] * f.v_entry[rows] - rate_e * f.v_entry[rows] + cum_e) / (
            f.q[rows] * (f.sigma[rows] - f.fee[rows])
        )
        xe = np.where((xe > 0) & np.isfinite(xe), xe, np.nan)
        cand[on_entry] = np.nan
        cand[on_entry, 0] = xe[on_entry]
        price = np.where(f.inverse[rows][:, None], 1.0 / cand, cand)
        price = np.where((price > 0) & np.isfinite(price), price, np.nan)
        gap = np.abs(price - f.mark[rows][:, None])
    gap = np.where(np.isnan(gap), np.inf, gap)
    best = np.argmin(gap, axis=1)
    chosen = price[np.arange(len(rows)), best]
    return np.where(np.isinf(gap[np.arange(len(rows)), best]), np.nan, chosen)


def _tier_rows(f: _Flat, rows: IntArray, basis: FloatArray) -> tuple[FloatArray, FloatArray]:
    idx = (f.floors[rows] <= basis[:, None]).sum(axis=1) - 1
    np.maximum(idx, 0, out=idx)
    r = np.arange(len(rows))
    return f.rates[rows][r, idx], f.cums[rows][r, idx]


def _shock(f: _Flat, slack0: FloatArray) -> FloatArray:
    """Signed smallest uniform shock per unit at which slack = balance − MM reaches 0 (nan: none)."""
    n_units = len(f.units)
    counts = np.bincount(f.unit_of, minlength=n_units)
    shock = np.full(n_units, np.nan)
    shock[(slack0 <= 0) & (counts > 0)] = 0.0
    concave_pos = f.convex & ~(f.inverse & (f.sigma > 0))
    concave = _sum(f.unit_of, (~concave_pos).astype(np.float64), n_units) == 0
    todo = (slack0 > 0) & (counts > 0)
    fallback = np.flatnonzero(todo & ~concave)
    newton = todo & concave
    best = np.full(n_units, np.nan)
    if newton.any():
        ends = np.array([-SHOCK_LIMIT, SHOCK_LIMIT])
        s = np.broadcast_to(ends[:, None], (2, n_units)).copy()
        slack, _ = _slack(f, s)
        found = (slack <= 0) & newton[None, :]
        active = found.copy()
        for _ in range(_NEWTON_STEPS):
            if not active.any():
                break
            slack, dslack = _slack(f, s)
            with np.errstate(divide="ignore", invalid="ignore"):
                step = np.where(active & (dslack != 0), slack / dslack, 0.0)
            new = s - step
            new = np.clip(new, -SHOCK_LIMIT, SHOCK_LIMIT)
            moved = np.abs(new - s) > 4e-16 * np.maximum(1.0, np.abs(s))
            s = np.where(active, new, s)
            active &= moved & (slack != 0)
        # guard: Newton from the far end stays on the liquidated side; if rounding put it across, step back
        slack, _ = _slack(f, s)
        s = np.where(found & (slack > 0), np.nextafter(s, np.sign(s) * 2.0), s)
        down = np.where(found[0], s[0], np.nan)
        up = np.where(found[1], s[1], np.nan)
        pick_up = ~np.isnan(up) & (np.isnan(down) | (np.abs(up) < np.abs(down)))
        best = np.where(pick_up, up, down)
        shock = np.where(newton, best, shock)
    for u in fallback.tolist():
        value = unit_shock_to_liquidation(f.units[u], f.unit_rules[u])
        shock[u] = np.nan if value is None else value
    return shock


def _slack(f: _Flat, shocks: FloatArray) -> tuple[FloatArray, FloatArray]:
    """balance − MM per unit and its derivative in the shock, for each row of ``shocks`` (rows × units)."""
    s = shocks[:, f.unit_of]
    price = f.mark * (1.0 + s)
    value = _value(f, price)
    dvalue = np.where(f.inverse, -value / (1.0 + s), f.q * f.mark)
    mm, mm_slope = _maintenance(f, value)
    pnl = f.sigma * (value - f.v_entry)
    contribution = pnl - mm
    dcontribution = (f.sigma - mm_slope) * dvalue
    n_units = len(f.units)
    rows = shocks.shape[0]
    flat_index = (np.arange(rows)[:, None] * n_units + f.unit_of[None, :]).ravel()
    total = _sum(flat_index, contribution.ravel(), rows * n_units)
    dtotal = _sum(flat_index, dcontribution.ravel(), rows * n_units)
    return total.reshape(rows, n_units) + f.unit_balance[None, :], dtotal.reshape(rows, n_units)


def unit_ratios_at(f: _Flat, factors: FloatArray) -> FloatArray:
    """Margin ratio of every unit when each mark is multiplied by ``factors`` (rows × positions)."""
    price = f.mark * factors
    value = _value(f, price)
    mm, _ = _maintenance(f, value)
    pnl = f.sigma * (value - f.v_entry)
    n_units = len(f.units)
    rows = factors.shape[0]
    flat_index = (np.arange(rows)[:, None] * n_units + f.unit_of[None, :]).ravel()
    equity = _sum(flat_index, pnl.ravel(), rows * n_units).reshape(rows, n_units) + f.unit_balance[None, :]
    total_mm = _sum(flat_index, mm.ravel(), rows * n_units).reshape(rows, n_units)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(equity > 0, total_mm / equity, np.inf)


def flatten_account(account: Account) -> _Flat:
    return _flatten(Portfolio((account,)))


def _arrays(f: _Flat) -> RiskArrays:
    n_units = len(f.units)
    value = _value(f, f.mark)
    mm, _ = _maintenance(f, value)
    pnl = f.sigma * (value - f.v_entry)
    unit_pnl = _sum(f.unit_of, pnl, n_units)
    unit_mm = _sum(f.unit_of, mm, n_units)
    unit_equity = f.unit_balance + unit_pnl
    with np.errstate(divide="ignore", invalid="ignore"):
        unit_ratio = np.where(unit_equity > 0, unit_mm / unit_equity, np.inf)

    # per symbol group: the rest of its unit held at the marks (§1.1 TMM1, UPNL1)
    group_pnl = _sum(f.group_of, pnl, f.n_groups)
    group_mm = _sum(f.group_of, mm, f.n_groups)
    group_size = np.bincount(f.group_of, minlength=f.n_groups)
    group_unit = np.zeros(f.n_groups, dtype=np.intp)
    group_unit[f.group_of] = f.unit_of
    rest_pnl = unit_pnl[group_unit] - group_pnl
    base_g = f.unit_balance[group_unit] + rest_pnl - (unit_mm[group_unit] - group_mm)
    base = base_g[f.group_of]

    liquidation = np.full(len(f.positions), np.nan)
    single = np.flatnonzero(group_size[f.group_of] == 1)
    if len(single):
        liquidation[single] = _liquidation_single(f, base, single)
    multi_groups = np.flatnonzero(group_size > 1)
    if len(multi_groups):
        members: dict[int, list[int]] = {}
        for i in np.flatnonzero(group_size[f.group_of] > 1).tolist():
            members.setdefault(int(f.group_of[i]), []).append(i)
        for g, rows in members.items():
            legs = [f.positions[i] for i in rows]
            rules = f.unit_rules[int(group_unit[g])]
            lp = solve_price(legs, rules, float(base_g[g]), legs[0].mark_price)
            liquidation[rows] = np.nan if lp is None else lp

    # bankruptcy: 0 % margin (or Bybit's fee to close), one closed form per group (§1.3, §3.3)
    reserve = f.fee_bk * value
    unit_reserve = _sum(f.unit_of, reserve, n_units)
    group_reserve = _sum(f.group_of, reserve, f.n_groups)
    a_g = _sum(f.group_of, -f.sigma * f.v_entry, f.n_groups)
    b_g = _sum(f.group_of, f.q * (f.sigma - f.fee_bk), f.n_groups)
    base_bk = (f.unit_balance[group_unit] + (unit_pnl[group_unit] - group_pnl)
               - (unit_reserve[group_unit] - group_reserve))
    group_inverse = np.zeros(f.n_groups, dtype=bool)
    group_inverse[f.group_of] = f.inverse
    with np.errstate(divide="ignore", invalid="ignore"):
        x = -(base_bk + a_g) / b_g
        x = np.where((x > 0) & np.isfinite(x), x, np.nan)
        bk_g = np.where(group_inverse, 1.0 / x, x)
    bk_g = np.where(np.isfinite(bk_g) & (bk_g > 0), bk_g, np.nan)

    unit_shock = _shock(f, unit_equity - unit_mm)
    n_accounts = int(f.unit_account.max()) + 1 if n_units else 0
    account_shock = np.full(n_accounts, np.nan)
    for u, s in enumerate(unit_shock.tolist()):
        a = int(f.unit_account[u])
        if s == s and (account_shock[a] != account_shock[a] or abs(s) < abs(account_shock[a])):
            account_shock[a] = s
    return RiskArrays(
        notional=value,
        unrealized_pnl=pnl,
        maintenance_margin=mm,
        margin_ratio=unit_ratio[f.unit_of],
        liquidation_price=liquidation,
        bankruptcy_price=bk_g[f.group_of],
        position_unit=f.unit_of,
        unit_account=f.unit_account,
        unit_isolated=f.unit_isolated,
        unit_settle=tuple(u.settle for u in f.units),
        unit_balance=f.unit_balance,
        unit_pnl=unit_pnl,
        unit_maintenance=unit_mm,
        unit_ratio=unit_ratio,
        unit_shock=unit_shock,
        account_shock=account_shock,
    )


def compute_arrays(portfolio: Portfolio) -> RiskArrays:
    """All figures of ``portfolio`` as arrays — the per-tick hot path (no per-position objects)."""
    return _arrays(_flatten(portfolio))


def _none(x: float) -> float | None:
    return None if x != x else x


def compute_risk(portfolio: Portfolio, *, target: float | None = None) -> RiskReport:
    """Risk for every account, pool and position; suggestions where the ratio is worse than ``target``.

    ``target`` is a margin ratio on desk's scale (MM ÷ margin balance, 1.0 = liquidation).
    """
    if target is not None and not target > 0:
        raise ValueError(f"target margin ratio must be > 0, got {target}")
    f = _flatten(portfolio)
    arr = _arrays(f)
    notional = arr.notional.tolist()
    pnl = arr.unrealized_pnl.tolist()
    mm = arr.maintenance_margin.tolist()
    ratio = arr.margin_ratio.tolist()
    liq = arr.liquidation_price.tolist()
    bk = arr.bankruptcy_price.tolist()
    unit_pnl = arr.unit_pnl.tolist()
    unit_mm = arr.unit_maintenance.tolist()
    unit_ratio = arr.unit_ratio.tolist()
    per_account_pools: list[list[PoolFigures]] = [[] for _ in portfolio.accounts]
    for u, unit in enumerate(f.units):
        if not unit.isolated:
            balance = unit.balance + unit_pnl[u]
            per_account_pools[int(f.unit_account[u])].append(
                PoolFigures(unit.settle, unit.balance, unit_pnl[u], balance, unit_mm[u], unit_ratio[u]))
    figures: dict[int, PositionFigures] = {}
    for i, p in enumerate(f.positions):
        figures[id(p)] = PositionFigures(p, notional[i], pnl[i], mm[i], ratio[i], _none(liq[i]), _none(bk[i]))
    accounts: list[AccountRisk] = []
    for ai, account in enumerate(portfolio.accounts):
        shock = _none(float(arr.account_shock[ai])) if len(arr.account_shock) > ai else None
        accounts.append(assemble_account(
            account, per_account_pools[ai], [figures[id(p)] for p in account.positions], shock, target=target
        ))
    return RiskReport(accounts=tuple(accounts), as_of=portfolio.as_of)


def shock_to_liquidation(account: Account) -> float | None:
    """Smallest signed uniform move of all marks (−0.12 = every mark 12 % lower) at which a cross
    pool or an isolated position of ``account`` reaches margin ratio 1.0; ``None`` within ±99 %."""
    arr = compute_arrays(Portfolio((account,)))
    return _none(float(arr.account_shock[0])) if len(arr.account_shock) else None
