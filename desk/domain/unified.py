"""Account-wide margin pools: several collateral assets, positions of several settle currencies.

Implements unified-margin.md §6 for the modes where the venue pools collateral (§0: Binance
USDⓈ-M Multi-Assets §1, Bybit UTA cross §3, OKX multi-currency §4 acctLv 3, Hyperliquid
standard per DEX §5). One pool per account, valued in its unit (USD):

    E_a(x) = amount_a − borrowed_a + Σ_{i settled in a} PnL_i(x)                      (§6.2)
    v_a(E) = haircut(E)·price_a·(1 − bid_buffer_a)   if E ≥ 0   (flat rate or progressive tiers)
             E·price_a·(1 + ask_buffer_a)            if E < 0   (Binance askRate; 100 % elsewhere)
    MB     = Σ_a v_a(E_a)        MM = Σ_i MM_i·price_settle·(1 + ask_buffer_settle)
    TE     = Σ_a E_a·price_a     (no haircut: the bankruptcy equation, §6.5)
    margin_ratio = k·MM / MB     (§6.3; 1.0 = liquidation on every venue)

Every scenario is "a factor φ applied to some prices": the liquidation price of a symbol moves
that symbol's marks (variant A, the venue's convention, §6.4) or every price of the same
underlying, collateral included (variant B, wrong-way risk, desk's figure); the shock to
liquidation moves every mark and every non-stable collateral price (§6.6). The root of
F(φ) = MB − k·MM is bracketed on a geometric grid and bisected to machine precision, so tier
changes (§1.2), the bid/ask branch of a negative wallet (§1, §6.4) and collateral tiers are all
taken where they fall.

Two evaluators of the same equations: :class:`_Compiled` (numpy, every scenario and grid point
at once — the engine's path) and :func:`pool_state_scalar` (plain Python, one scenario at a time
— the tests' oracle).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from desk.domain.model import Account, Collateral, Kind, MarginMode, Portfolio, Position
from desk.domain.position_math import SHOCK_LIMIT, pnl_at, tier_at, value_at
from desk.domain.protection import assess, orders_by_symbol
from desk.domain.report import AccountRisk, CollateralRisk, PoolRisk, PositionRisk, Suggestion, read_notes
from desk.domain.rules import MMBasis, VenueRules, rules_for
from desk.domain.suggest import Goal

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

#: assets a shock does not move (unified-margin.md §6.6); any other collateral follows its own coin
STABLECOINS = frozenset({"USD", "USDT", "USDC", "FDUSD", "BFUSD", "USDE", "USDT0", "USDH", "DAI", "TUSD",
                         "BUSD", "USDP", "PYUSD"})


def collateral_underlying(asset: str) -> str | None:
    """The coin a collateral asset follows: None for a stablecoin, else the asset itself."""
    return None if asset.upper() in STABLECOINS else asset


#: modes whose per-position MM follows Bybit's UTA cross rule (§3 "Per-position MM (cross)")
BYBIT_UTA_MODES = frozenset({"bybit uta cross"})
#: how far the liquidation search looks: price factors in (1e-6, 1000) of the mark (§6.4 step 2)
_GRID_STEP = 1.04  # two roots closer than 4 % of the price would be missed (F dips and recovers)
_DOWN_STEPS = 353  # 1.04**-353 ≈ 1e-6
_UP_STEPS = 177  # 1.04**177 ≈ 1000
_BISECT = 80


def underlying_of(symbol: str) -> str:
    """The base coin of a ccxt symbol: "BTC/USDT:USDT" → "BTC"."""
    return symbol.split(":")[0].split("/")[0]


def cross_positions(account: Account) -> tuple[Position, ...]:
    return tuple(p for p in account.positions if p.margin_mode is MarginMode.CROSS)


def _mm_terms(p: Position, rules: VenueRules, mode: str) -> tuple[float, float]:
    """(fee rate on the value at the price, constant fee) of the position's maintenance margin.

    Bybit UTA cross reserves the fee to close on the entry value, ``PV·(1 ∓ 1/L)·taker`` (§3,
    reproduced to 1e-6 on a recorded position); other venues keep their single-asset rule.
    """
    taker = p.taker_fee or 0.0
    if mode in BYBIT_UTA_MODES:
        lev = p.leverage or 0.0
        share = 1.0 - p.side.sign / lev if lev > 0 else 1.0
        return 0.0, value_at(p, p.entry_price) * share * taker
    return (taker if rules.fee_in_mm else 0.0), 0.0


# ---------------------------------------------------------------------------- scalar oracle


def haircut_value(c: Collateral, equity: float, price: float) -> float:
    """v_a(E) of §6.2 at ``price`` (the asset's index in this scenario)."""
    if equity < 0:
        return equity * price * (1.0 + c.ask_buffer)
    if c.tiers:
        basis = equity if c.tier_unit == "coin" else equity * price
        counted = 0.0
        for t in c.tiers:
            counted += t.rate * min(max(basis - t.floor, 0.0), t.cap - t.floor)
        value = counted * price if c.tier_unit == "coin" else counted
    else:
        value = c.rate * equity * price
    return value * (1.0 - c.bid_buffer)


@dataclass(frozen=True, slots=True)
class PoolState:
    """One pool at one set of prices (§6.2)."""

    equity: dict[str, float]  # E_a per asset
    value: dict[str, float]  # v_a per asset
    margin_balance: float
    maintenance: float  # in the pool's unit, converted at the ask side
    total_equity: float
    position_mm: tuple[float, ...]  # per cross position, in its settle asset

    def ratio(self, k: float) -> float:
        return math.inf if self.margin_balance <= 0 else k * self.maintenance / self.margin_balance


def pool_state_scalar(account: Account, marks: Sequence[float], prices: Mapping[str, float]) -> PoolState:
    """The pool of ``account`` with its cross positions at ``marks`` and its assets at ``prices``."""
    assert account.margin is not None
    rules = rules_for(account.venue)
    mode = account.margin.mode
    equity = {c.asset: c.amount - c.borrowed for c in account.margin.collateral}
    mm_by_asset = dict.fromkeys(equity, 0.0)
    position_mm = []
    for p, x in zip(cross_positions(account), marks, strict=True):
        if p.settle not in equity:
            raise ValueError(f'{p.symbol} settles in {p.settle}, which is not a collateral asset of '
                             f'account "{account.name}"')
        equity[p.settle] += pnl_at(p, x)
        tier = tier_at(p, rules, x)
        basis = value_at(p, x) if rules.mm_basis is MMBasis.PRICE else value_at(p, p.entry_price)
        fee_rate, fee_const = _mm_terms(p, rules, mode)
        mm = basis * tier.mmr - tier.cum + fee_rate * value_at(p, x) + fee_const
        position_mm.append(mm)
        mm_by_asset[p.settle] += mm
    value = {}
    mb = maintenance = te = 0.0
    for c in account.margin.collateral:
        price = prices[c.asset]
        value[c.asset] = haircut_value(c, equity[c.asset], price)
        mb += value[c.asset]
        maintenance += mm_by_asset[c.asset] * price * (1.0 + c.ask_buffer)
        te += equity[c.asset] * price
    return PoolState(equity, value, mb, maintenance, te, tuple(position_mm))


@dataclass(frozen=True, slots=True)
class Move:
    """A scenario family: the factor φ multiplies the marks of ``positions`` and the prices of ``assets``."""

    positions: tuple[bool, ...]
    assets: tuple[bool, ...]
    pivot: float  # the price φ = 1 stands for (the symbol's mark; 1.0 for a shock)


def liquidation_move(account: Account, symbol: str, *, wrong_way: bool) -> Move:
    """§6.4: variant A (``wrong_way=False``) moves the symbol's legs, and the coin an inverse leg
    settles in (its PnL is in that coin); variant B also every position and collateral asset
    of the same underlying."""
    assert account.margin is not None
    legs = cross_positions(account)
    base = underlying_of(symbol)
    pivot = next(p.mark_price for p in legs if p.symbol == symbol)
    inverse_settles = {p.settle for p in legs if p.symbol == symbol and p.kind is Kind.INVERSE}
    positions = tuple(p.symbol == symbol or (wrong_way and underlying_of(p.symbol) == base) for p in legs)
    assets = tuple(c.asset in inverse_settles or (wrong_way and c.underlying == base)
                   for c in account.margin.collateral)
    return Move(positions, assets, pivot)


def shock_move(account: Account) -> Move:
    """§6.6: every mark and every non-stable collateral price (``underlying`` set) moves."""
    assert account.margin is not None
    return Move(tuple(True for _ in cross_positions(account)),
                tuple(c.underlying is not None for c in account.margin.collateral), 1.0)


def _scenario(account: Account, move: Move, phi: float) -> tuple[list[float], dict[str, float]]:
    assert account.margin is not None
    marks = [p.mark_price * (phi if m else 1.0) for p, m in zip(cross_positions(account), move.positions,
                                                                   strict=True)]
    prices = {c.asset: c.price * (phi if m else 1.0) for c, m in zip(account.margin.collateral, move.assets,
                                                                    strict=True)}
    return marks, prices


def slack_scalar(account: Account, move: Move, phi: float, *, bankruptcy: bool = False) -> float:
    """F(φ) = MB − k·MM (or TE for the bankruptcy price) of the scenario, on the scalar path."""
    assert account.margin is not None
    marks, prices = _scenario(account, move, phi)
    state = pool_state_scalar(account, marks, prices)
    if bankruptcy:
        return state.total_equity
    return state.margin_balance - account.margin.threshold * state.maintenance


def _grids(shock: bool) -> tuple[list[float], list[float]]:
    if shock:
        steps = [SHOCK_LIMIT * k / 99 for k in range(1, 100)]
        return [1.0 - s for s in steps], [1.0 + s for s in steps]
    return ([_GRID_STEP ** -k for k in range(1, _DOWN_STEPS + 1)],
            [_GRID_STEP ** k for k in range(1, _UP_STEPS + 1)])


def _bisect(f: Callable[[float], float], lo: float, hi: float, bad_at_hi: bool) -> float:
    """The crossing between ``lo`` (one side) and ``hi`` (the other): the first φ on ``hi``'s side."""
    for _ in range(_BISECT):
        mid = (lo + hi) / 2.0
        if mid in (lo, hi):
            break
        if (f(mid) <= 0.0) == bad_at_hi:
            hi = mid
        else:
            lo = mid
    return hi


def solve_factor_scalar(f: Callable[[float], float], *, shock: bool = False) -> float | None:
    """The φ nearest 1 where F changes side (§6.4 steps 1–3), on the scalar path; ``None``: none.

    For a shock already at or past liquidation (F(1) ≤ 0) the answer is 1 (no move needed).
    """
    bad_now = f(1.0) <= 0.0
    if shock and bad_now:
        return 1.0
    best: float | None = None
    for grid in _grids(shock):
        prev = 1.0
        for phi in grid:
            if (f(phi) <= 0.0) != bad_now:
                root = _bisect(f, prev, phi, not bad_now)
                if best is None or abs(root - 1.0) < abs(best - 1.0):
                    best = root
                break
            prev = phi
    return best


# ---------------------------------------------------------------------------- vectorised path


@dataclass(frozen=True, slots=True)
class _Compiled:
    """One pooled account as arrays: cross positions (n) and collateral assets (m)."""

    k: float
    q: FloatArray
    inverse: BoolArray
    sigma: FloatArray
    v_entry: FloatArray
    mark: FloatArray
    entry_basis: BoolArray
    fee_rate: FloatArray
    fee_const: FloatArray
    floors: FloatArray  # (n, T) padded with +inf
    rates: FloatArray
    cums: FloatArray
    settle: FloatArray  # (n, m) one-hot
    base: FloatArray  # (m,) amount − borrowed
    price: FloatArray
    rate: FloatArray
    tiered: BoolArray
    tier_value_unit: BoolArray
    t_floor: FloatArray  # (m, K)
    t_width: FloatArray
    t_rate: FloatArray
    bid: FloatArray
    ask: FloatArray


def compile_pool(account: Account) -> _Compiled:
    assert account.margin is not None
    rules = rules_for(account.venue)
    mode = account.margin.mode
    legs = cross_positions(account)
    assets = account.margin.collateral
    index = {c.asset: i for i, c in enumerate(assets)}
    n, m = len(legs), len(assets)
    for p in legs:
        if p.settle not in index:
            raise ValueError(f'{p.symbol} settles in {p.settle}, which is not a collateral asset of '
                             f'account "{account.name}"')
    tables = [rules.resolve(p.tiers) for p in legs]
    width = max((len(t) for t in tables), default=1)
    floors = np.full((n, width), np.inf)
    rates = np.zeros((n, width))
    cums = np.zeros((n, width))
    for i, table in enumerate(tables):
        floors[i, :len(table)] = [t.floor for t in table]
        rates[i, :len(table)] = [t.mmr for t in table]
        cums[i, :len(table)] = [t.cum for t in table]
    settle = np.zeros((n, m))
    for i, p in enumerate(legs):
        settle[i, index[p.settle]] = 1.0
    terms = [_mm_terms(p, rules, mode) for p in legs]
    kwidth = max((len(c.tiers) for c in assets), default=1) or 1
    t_floor = np.zeros((m, kwidth))
    t_width = np.zeros((m, kwidth))
    t_rate = np.zeros((m, kwidth))
    for a, c in enumerate(assets):
        for j, t in enumerate(c.tiers):
            t_floor[a, j], t_width[a, j], t_rate[a, j] = t.floor, t.cap - t.floor, t.rate
    q = np.array([p.contracts * p.contract_size for p in legs], dtype=np.float64)
    inverse = np.array([p.kind is Kind.INVERSE for p in legs], dtype=bool)
    side = np.array([p.side.sign for p in legs], dtype=np.float64)
    entry = np.array([p.entry_price for p in legs], dtype=np.float64)
    return _Compiled(
        k=account.margin.threshold,
        q=q, inverse=inverse, sigma=np.where(inverse, -side, side),
        v_entry=np.where(inverse, q / entry, q * entry) if n else np.zeros(0),
        mark=np.array([p.mark_price for p in legs], dtype=np.float64),
        entry_basis=np.full(n, rules.mm_basis is MMBasis.ENTRY),
        fee_rate=np.array([t[0] for t in terms], dtype=np.float64),
        fee_const=np.array([t[1] for t in terms], dtype=np.float64),
        floors=floors, rates=rates, cums=cums, settle=settle,
        base=np.array([c.amount - c.borrowed for c in assets], dtype=np.float64),
        price=np.array([c.price for c in assets], dtype=np.float64),
        rate=np.array([c.rate for c in assets], dtype=np.float64),
        tiered=np.array([bool(c.tiers) for c in assets], dtype=bool),
        tier_value_unit=np.array([c.tier_unit == "value" for c in assets], dtype=bool),
        t_floor=t_floor, t_width=t_width, t_rate=t_rate,
        bid=np.array([c.bid_buffer for c in assets], dtype=np.float64),
        ask=np.array([c.ask_buffer for c in assets], dtype=np.float64),
    )


@dataclass(frozen=True, slots=True)
class _Batch:
    equity: FloatArray  # (..., m)
    value: FloatArray  # (..., m)
    margin_balance: FloatArray  # (...)
    maintenance: FloatArray
    total_equity: FloatArray
    position_mm: FloatArray  # (..., n)


def _evaluate(c: _Compiled, marks: FloatArray, prices: FloatArray) -> _Batch:
    """The pool at many price sets at once: ``marks`` (..., n), ``prices`` (..., m)."""
    value = np.where(c.inverse, c.q / marks, c.q * marks)
    pnl = c.sigma * (value - c.v_entry)
    basis = np.where(c.entry_basis, c.v_entry, value)
    if c.floors.shape[1] > 1:
        idx = np.count_nonzero(c.floors[:, 1:] <= basis[..., None], axis=-1)
    else:
        idx = np.zeros(basis.shape, dtype=np.intp)
    rate = np.take_along_axis(np.broadcast_to(c.rates, basis.shape + c.rates.shape[-1:]), idx[..., None],
                              axis=-1)[..., 0]
    cum = np.take_along_axis(np.broadcast_to(c.cums, basis.shape + c.cums.shape[-1:]), idx[..., None],
                             axis=-1)[..., 0]
    mm = basis * rate - cum + c.fee_rate * value + c.fee_const
    equity = c.base + pnl @ c.settle
    mm_asset = mm @ c.settle
    flat = c.rate * equity * prices
    tier_basis = np.where(c.tier_value_unit, equity * prices, equity)
    counted = np.sum(c.t_rate * np.clip(tier_basis[..., None] - c.t_floor, 0.0, c.t_width), axis=-1)
    tiered = np.where(c.tier_value_unit, counted, counted * prices)
    positive = np.where(c.tiered, tiered, flat) * (1.0 - c.bid)
    negative = equity * prices * (1.0 + c.ask)
    asset_value = np.where(equity < 0, negative, positive)
    return _Batch(equity, asset_value, asset_value.sum(axis=-1),
                  (mm_asset * prices * (1.0 + c.ask)).sum(axis=-1), (equity * prices).sum(axis=-1), mm)


def _slack(c: _Compiled, pos_masks: BoolArray, asset_masks: BoolArray, phi: FloatArray,
           bankruptcy: BoolArray) -> FloatArray:
    """F per (problem, grid point): ``phi`` is (J, B), masks (J, n) and (J, m)."""
    marks = c.mark * np.where(pos_masks[:, None, :], phi[..., None], 1.0)
    prices = c.price * np.where(asset_masks[:, None, :], phi[..., None], 1.0)
    b = _evaluate(c, marks, prices)
    return np.where(bankruptcy[:, None], b.total_equity, b.margin_balance - c.k * b.maintenance)


def solve_factors(c: _Compiled, moves: Sequence[Move], bankruptcy: Sequence[bool],
                  shock: Sequence[bool]) -> list[float | None]:
    """:func:`solve_factor_scalar` for many problems at once: one grid evaluation, then a
    bisection of every bracket together."""
    if not moves:
        return []
    pos = np.array([m.positions for m in moves], dtype=bool).reshape(len(moves), -1)
    ast = np.array([m.assets for m in moves], dtype=bool).reshape(len(moves), -1)
    bk = np.asarray(bankruptcy, dtype=bool)
    is_shock = np.asarray(shock, dtype=bool)
    results: list[float | None] = [None] * len(moves)
    now = _slack(c, pos, ast, np.ones((len(moves), 1)), bk)[:, 0] <= 0.0
    brackets: list[tuple[int, float, float, bool]] = []  # problem, lo, hi, bad at hi
    for flag in (False, True):
        which = np.flatnonzero(is_shock == flag)
        if not len(which):
            continue
        for grid in _grids(flag):
            g = np.asarray(grid)
            values = _slack(c, pos[which], ast[which], np.broadcast_to(g, (len(which), len(g))), bk[which])
            crossed = (values <= 0.0) != now[which][:, None]
            for row, j in enumerate(which.tolist()):
                if flag and now[j]:
                    results[j] = 1.0
                    continue
                hits = np.flatnonzero(crossed[row])
                if len(hits):
                    h = int(hits[0])
                    brackets.append((j, 1.0 if h == 0 else float(g[h - 1]), float(g[h]), not bool(now[j])))
    if brackets:
        idx = np.array([b[0] for b in brackets], dtype=np.intp)
        lo = np.array([b[1] for b in brackets])
        hi = np.array([b[2] for b in brackets])
        bad_hi = np.array([b[3] for b in brackets], dtype=bool)
        for _ in range(_BISECT):
            mid = (lo + hi) / 2.0
            if np.all((mid == lo) | (mid == hi)):
                break
            f = _slack(c, pos[idx], ast[idx], mid[:, None], bk[idx])[:, 0]
            to_hi = (f <= 0.0) == bad_hi
            hi = np.where(to_hi, mid, hi)
            lo = np.where(to_hi, lo, mid)
        for j, root in zip(idx.tolist(), hi.tolist(), strict=True):
            best = results[j]
            if best is None or abs(root - 1.0) < abs(best - 1.0):
                results[j] = root
    return results


# ---------------------------------------------------------------------------- figures


@dataclass(frozen=True, slots=True)
class PooledFigures:
    """Everything desk reports for one pooled account (before dressing)."""

    state: PoolState
    ratio: float
    liquidation: dict[str, float | None]  # variant B, per symbol
    liquidation_symbol_only: dict[str, float | None]  # variant A
    bankruptcy: dict[str, float | None]  # variant B (§6.5)
    shock: float | None


def _symbols(account: Account) -> list[str]:
    return list(dict.fromkeys(p.symbol for p in cross_positions(account)))


def _problems(account: Account) -> tuple[list[str], list[Move], list[bool], list[bool]]:
    keys: list[str] = []
    moves: list[Move] = []
    bk: list[bool] = []
    shocks: list[bool] = []
    for symbol in _symbols(account):
        for key, wrong_way, bankrupt in (("B", True, False), ("A", False, False), ("K", True, True)):
            keys.append(f"{key}:{symbol}")
            moves.append(liquidation_move(account, symbol, wrong_way=wrong_way))
            bk.append(bankrupt)
            shocks.append(False)
    if cross_positions(account):
        keys.append("shock")
        moves.append(shock_move(account))
        bk.append(False)
        shocks.append(True)
    return keys, moves, bk, shocks


def _figures(account: Account, factors: Sequence[float | None], keys: Sequence[str], moves: Sequence[Move],
             state: PoolState) -> PooledFigures:
    assert account.margin is not None
    found = {key: (None if phi is None else phi * move.pivot) for key, phi, move in
             zip(keys, factors, moves, strict=True)}
    shock = found.pop("shock", None)
    return PooledFigures(
        state=state,
        ratio=state.ratio(account.margin.threshold),
        liquidation={s: found[f"B:{s}"] for s in _symbols(account)},
        liquidation_symbol_only={s: found[f"A:{s}"] for s in _symbols(account)},
        bankruptcy={s: found[f"K:{s}"] for s in _symbols(account)},
        shock=None if shock is None else shock - 1.0,
    )


def pooled_figures(account: Account) -> PooledFigures:
    """The pooled account's figures on the vectorised path."""
    assert account.margin is not None
    c = compile_pool(account)
    b = _evaluate(c, c.mark[None, :], c.price[None, :])
    assets = [a.asset for a in account.margin.collateral]
    state = PoolState(dict(zip(assets, b.equity[0].tolist(), strict=True)),
                      dict(zip(assets, b.value[0].tolist(), strict=True)),
                      float(b.margin_balance[0]), float(b.maintenance[0]), float(b.total_equity[0]),
                      tuple(b.position_mm[0].tolist()))
    keys, moves, bk, shocks = _problems(account)
    return _figures(account, solve_factors(c, moves, bk, shocks), keys, moves, state)


def pooled_figures_scalar(account: Account) -> PooledFigures:
    """:func:`pooled_figures` on the scalar path (the oracle)."""
    assert account.margin is not None
    legs = cross_positions(account)
    state = pool_state_scalar(account, [p.mark_price for p in legs],
                              {c.asset: c.price for c in account.margin.collateral})
    keys, moves, bk, shocks = _problems(account)
    factors: list[float | None] = []
    for move, bankrupt, shock in zip(moves, bk, shocks, strict=True):
        def slack(phi: float, mv: Move = move, b: bool = bankrupt) -> float:
            return slack_scalar(account, mv, phi, bankruptcy=b)

        factors.append(solve_factor_scalar(slack, shock=shock))
    return _figures(account, factors, keys, moves, state)


# ---------------------------------------------------------------------------- report


def desk_ratio_from_venue(account: Account) -> float | None:
    """The venue's own ratio on desk's scale, for modes desk cannot recompute (§6.3).

    Venues whose figure grows with safety (OKX mgnRatio, Binance uniMMR) are inverted: desk = k ÷
    venue; the others (Bybit accountMMRate, Binance MM÷MB, Hyperliquid PMR) scale: desk = k × venue.
    """
    m = account.margin
    if m is None or m.venue_margin_ratio is None:
        return None
    if m.venue_ratio_inverted:
        return math.inf if m.venue_margin_ratio <= 0 else m.threshold / m.venue_margin_ratio
    return m.threshold * m.venue_margin_ratio


def add_collateral(maintenance: float, balance: float, target: float, c: Collateral, k: float) -> Suggestion:
    """The amount of asset ``c`` that brings k·MM ÷ MB to ``target``, its haircut applied (§6.2).

    Adding ``x`` raises MB by v_c(E + x) − v_c(E); for a flat or buffered asset that is linear in x,
    for tiers it is found by bisection (v_c is non-decreasing).
    """
    need = k * maintenance / target - balance
    if need <= 0:
        return Suggestion("add_margin", True, amount=0.0, currency=c.asset)
    current = haircut_value(c, c.amount - c.borrowed, c.price)

    def gained(x: float) -> float:
        return haircut_value(c, c.amount - c.borrowed + x, c.price) - current

    hi = need / max(c.price, 1e-300)
    for _ in range(200):
        if gained(hi) >= need:
            break
        hi *= 2.0
    else:
        return Suggestion("add_margin", False, currency=c.asset,
                          reason=f"{c.asset} counts for too little as collateral")
    lo = 0.0
    for _ in range(200):
        mid = (lo + hi) / 2.0
        if mid in (lo, hi):
            break
        if gained(mid) >= need:
            hi = mid
        else:
            lo = mid
    return Suggestion("add_margin", True, amount=hi, currency=c.asset)


def reduce_pooled(account: Account, target: float) -> Suggestion:
    """Close the same fraction of every cross position of the pool, at the marks, to bring
    k·MM ÷ MB to ``target``. Closing at the mark realises PnL into the settle asset's wallet, so
    each asset's equity — and the margin balance — stay; only the maintenance margin falls."""
    import dataclasses

    margin = account.margin
    assert margin is not None
    legs = cross_positions(account)
    prices = {c.asset: c.price for c in margin.collateral}
    state = pool_state_scalar(account, [p.mark_price for p in legs], prices)
    if state.margin_balance <= 0.0:
        return Suggestion("reduce_size", False, reason="the pool's margin balance is not positive; closing "
                          "positions at the mark cannot restore it — add collateral")

    def ratio_after(fraction: float) -> float:
        keep = 1.0 - fraction
        if keep <= 0:
            return 0.0
        smaller = tuple(dataclasses.replace(p, contracts=p.contracts * keep)
                        if p.margin_mode is MarginMode.CROSS else p for p in account.positions)
        after = pool_state_scalar(dataclasses.replace(account, positions=smaller),
                                  [p.mark_price for p in legs], prices)
        # realised PnL stays in the wallets: the balance is the one before closing
        return margin.threshold * after.maintenance / state.margin_balance

    lo, hi = 0.0, 1.0
    for _ in range(200):
        mid = (lo + hi) / 2.0
        if mid in (lo, hi):
            break
        if ratio_after(mid) <= target:
            hi = mid
        else:
            lo = mid
    return Suggestion("reduce_size", True, fraction=hi)


# ---------------------------------------------------------------------------- the distance goal
#
# A cross position of the pool nearer its liquidation than the user's goal (``desk risk
# --target-distance``, the dashboard's alerts.distance_warning) gets the least fix of each kind:
# collateral added to the pool — in a stablecoin of the pool, and in each crypto coin the pool
# holds, its haircut applied — and the size to close. "Liquidation" is desk's figure, variant B of
# §6.4: everything of the position's coin in the pool moves with the price, same-coin collateral
# included (wrong-way risk); the rest of the pool stays at its marks.
#
# F(φ) = MB − k·MM never falls when collateral is added (v_a of §6.2 is non-decreasing in E_a at
# every price), so the least amount is where F at the goal point — the mark moved by the goal
# distance, towards liquidation — is zero: the liquidation then lands on the goal. The amount is
# found by bisection on the pool's own slack (:func:`slack_scalar`) to the last bit, then checked
# by the pool's own solver (the code that gives the reported liquidation price), on the path the
# report is computed on; where F dips between the goal points (a root the two points cannot see),
# the bisection runs again on the solver itself.

_DOUBLINGS = 200  # 2**200: no amount a venue could hold is further from the first guess


def _with_collateral(account: Account, asset: str, extra: float) -> Account:
    """``account`` with ``extra`` more of ``asset`` in the pool's wallet."""
    margin = account.margin
    assert margin is not None
    collateral = tuple(dataclasses.replace(c, amount=c.amount + extra) if c.asset == asset else c
                       for c in margin.collateral)
    return dataclasses.replace(account, margin=dataclasses.replace(margin, collateral=collateral))


def _with_closed(account: Account, position: Position, closed: float) -> Account:
    """``account`` after closing ``closed`` contracts of ``position`` at its mark. The realised PnL
    moves from the position into its settle asset's wallet: that asset's equity is unchanged at the
    marks, and no longer moves with the price for the part closed."""
    realised = pnl_at(position, position.mark_price) * closed / position.contracts
    positions = tuple(dataclasses.replace(p, contracts=p.contracts - closed) if p is position else p
                      for p in account.positions)
    return dataclasses.replace(_with_collateral(account, position.settle, realised), positions=positions)


def _at_marks(account: Account) -> PoolState:
    assert account.margin is not None
    return pool_state_scalar(account, [p.mark_price for p in cross_positions(account)],
                             {c.asset: c.price for c in account.margin.collateral})


def _goal_slack(account: Account, symbol: str, goal: Goal) -> float:
    """How far the pool is inside the goal (pool's unit; > 0: met at the goal points): the least of
    F at the marks, F at the mark ∓ the goal distance (variant B) and, with a ratio goal,
    goal·MB − k·MM at the marks. Non-decreasing in collateral added; continuous."""
    assert account.margin is not None
    k = account.margin.threshold
    state = _at_marks(account)
    slack = state.margin_balance - k * state.maintenance
    if math.isfinite(goal.margin_ratio):
        slack = min(slack, goal.margin_ratio * state.margin_balance - k * state.maintenance)
    if goal.distance:
        move = liquidation_move(account, symbol, wrong_way=True)
        slack = min(slack, *(slack_scalar(account, move, phi) for phi in (1.0 - goal.distance,
                                                                         1.0 + goal.distance)))
    return slack


def _meets(account: Account, symbol: str, goal: Goal) -> bool:
    return _goal_slack(account, symbol, goal) > 0.0


def solved_distance(account: Account, symbol: str, *, scalar: bool = False) -> float | None:
    """|φ − 1| of ``symbol``'s liquidation price (variant B) by the pool's solver — the one that
    gives the report's figure, on the vectorised path or (``scalar``) the oracle's; None: no
    liquidation within the solver's range."""
    move = liquidation_move(account, symbol, wrong_way=True)
    if scalar:
        phi = solve_factor_scalar(lambda x: slack_scalar(account, move, x))
    else:
        phi = solve_factors(compile_pool(account), [move], [False], [False])[0]
    return None if phi is None else abs(phi - 1.0)


def _far(account: Account, symbol: str, goal: Goal, scalar: bool) -> bool:
    if goal.distance is None:
        return True
    got = solved_distance(account, symbol, scalar=scalar)
    return got is None or got >= goal.distance * (1.0 - 1e-12)  # the root is the goal point, to rounding


def _least(ok: Callable[[float], bool], start: float, most: float = math.inf) -> float | None:
    """The smallest x > 0 with ok(x), ``ok`` monotone (false below, true above), to the last bit:
    doubled from ``start`` (at most ``most``) until ok, then bisected. None: not reached."""
    lo, hi = 0.0, min(start, most)
    for _ in range(_DOUBLINGS):
        if ok(hi):
            break
        if hi >= most:
            return None
        lo, hi = hi, min(hi * 2.0, most)
    else:
        return None
    while True:
        mid = (lo + hi) / 2.0
        if mid <= lo or mid >= hi:
            return hi
        if ok(mid):
            hi = mid
        else:
            lo = mid


def _least_root(g: Callable[[float], float], start: float, most: float = math.inf) -> float | None:
    """The smallest x > 0 with g(x) > 0, ``g`` continuous and non-decreasing with g(0) ≤ 0, to the
    last bit: doubled from ``start`` (at most ``most``) to a bracket, then false position with the
    Illinois halving (g is piecewise linear, so it closes in a few steps where bisection takes ~55),
    a bisection wherever a step fails to halve the bracket."""
    lo, g_lo = 0.0, g(0.0)
    hi = min(start, most)
    for _ in range(_DOUBLINGS):
        g_hi = g(hi)
        if g_hi > 0.0:
            break
        if hi >= most:
            return None
        lo, g_lo, hi = hi, g_hi, min(hi * 2.0, most)
    else:
        return None
    kept = 0  # +1: the last step moved hi, −1: lo
    while True:
        width = hi - lo
        x = (lo * g_hi - hi * g_lo) / (g_hi - g_lo)
        if not lo < x < hi:
            x = (lo + hi) / 2.0
            if x <= lo or x >= hi:
                return hi
        g_x = g(x)
        if g_x > 0.0:
            hi, g_hi = x, g_x
            if kept == 1:
                g_lo /= 2.0
            kept = 1
        else:
            lo, g_lo = x, g_x
            if kept == -1:
                g_hi /= 2.0
            kept = -1
        if hi - lo > width / 2.0:  # false position crawling along one end: halve instead
            mid = (lo + hi) / 2.0
            if mid <= lo or mid >= hi:
                return hi
            g_mid = g(mid)
            if g_mid > 0.0:
                hi, g_hi = mid, g_mid
            else:
                lo, g_lo = mid, g_mid


def _least_fix(apply: Callable[[float], Account], symbol: str, goal: Goal, scalar: bool, start: float,
               most: float = math.inf) -> float | None:
    """The least x for which ``apply(x)`` meets ``goal``: exact on the goal points, confirmed (or,
    where F dips between them, found) by the solver."""
    def slack(x: float) -> float:
        return _goal_slack(apply(x), symbol, goal)

    def solved(x: float) -> bool:
        fixed = apply(x)
        return _meets(fixed, symbol, goal) and _far(fixed, symbol, goal, scalar)

    x = None if slack(0.0) > 0.0 else _least_root(slack, start, most)
    if x is not None and _far(apply(x), symbol, goal, scalar):
        return x
    return _least(solved, start if x is None else x, most)


def _goal_suggestion(goal: Goal, action: str, reaches: bool, moves_with: str | None, **kw: object
                     ) -> Suggestion:
    ratio = goal.margin_ratio if math.isfinite(goal.margin_ratio) else None
    return Suggestion(action, reaches, target_margin_ratio=ratio, target_distance=goal.distance,
                      moves_with=moves_with, **kw)  # type: ignore[arg-type]


def _shortfall(account: Account, symbol: str, goal: Goal) -> float:
    """How much F misses the goal by at its worst goal point (pool's unit): a first guess."""
    assert account.margin is not None
    move = liquidation_move(account, symbol, wrong_way=True)
    d = goal.distance or 0.0
    worst = min(slack_scalar(account, move, phi) for phi in (1.0, 1.0 - d, 1.0 + d))
    return max(-worst, 0.0)


def distance_suggestions(account: Account, position: Position, goal: Goal, *, scalar: bool = False
                         ) -> tuple[Suggestion, ...]:
    """The least fixes that bring ``position``'s liquidation price (desk's variant B of §6.4: the
    pool's same-coin collateral and positions move with it, the rest held at their marks) at
    least ``goal.distance`` from its mark, and the pool's ratio to ``goal.margin_ratio``:

    * ``add_margin`` in a stablecoin of the pool (the position's settle asset if it is one), then
      in each crypto coin the pool holds — the amount the pool must hold more of, its haircut
      (§6.2) applied at the price the goal point gives it; ``haircut`` says the share not counted;
    * ``reduce_size``: the contracts of this position to close at the mark.

    Amounts and sizes are exact (the liquidation lands on the goal; any less misses it); ``step``
    is the rounding a person is shown (rounded up, see :func:`desk.domain.suggest.suggestion_text`).
    ``moves_with`` names the coin that moves with the price when that differs from the venue's
    convention (collateral held at its index, variant A)."""
    from desk.domain.suggest import amount_step, lot_step

    margin = account.margin
    assert margin is not None and position.margin_mode is MarginMode.CROSS
    symbol = position.symbol
    coin = underlying_of(symbol)
    same = (liquidation_move(account, symbol, wrong_way=True)
            == liquidation_move(account, symbol, wrong_way=False))
    moves_with = None if same else coin
    state = _at_marks(account)
    need = max(_shortfall(account, symbol, goal), state.maintenance, 1e-9)  # a first guess
    stables = [c for c in margin.collateral if c.underlying is None]
    unit = next((c for c in stables if c.asset == position.settle), stables[0] if stables else None)
    assets = ([unit] if unit is not None else []) + [c for c in margin.collateral
                                                     if c.underlying is not None and c.amount > 0]
    out: list[Suggestion] = []
    for c in assets:
        def added(extra: float, asset: str = c.asset) -> Account:
            return _with_collateral(account, asset, extra)

        x = _least_fix(added, symbol, goal, scalar, need / c.price)
        if x is None:
            out.append(_goal_suggestion(goal, "add_margin", False, moves_with, currency=c.asset,
                                        reason=f"no amount of {c.asset} reaches it: the pool counts "
                                        "too little of it as collateral"))
            continue
        equity = c.amount - c.borrowed
        counted = haircut_value(c, equity + x, c.price) - haircut_value(c, equity, c.price)
        out.append(_goal_suggestion(goal, "add_margin", True, moves_with, amount=x, currency=c.asset,
                                    step=amount_step(x), haircut=1.0 - counted / (x * c.price)))
    if state.margin_balance <= 0.0:
        out.append(_goal_suggestion(goal, "reduce_size", False, moves_with,
                                    reason="the pool's margin balance is not positive; closing "
                                    "positions at the mark cannot restore it — add collateral"))
        return tuple(out)
    f = _least_fix(lambda share: _with_closed(account, position, share * position.contracts), symbol, goal,
                   scalar, 1.0, 1.0)
    if f is None:
        rest = _at_marks(_with_closed(account, position, position.contracts))
        ratio = rest.ratio(margin.threshold)
        why = (f"leaves the pool at margin ratio {ratio:.4g}" if ratio > goal.margin_ratio else
               f"leaves the rest of the pool liquidated within {(goal.distance or 0) * 100:g} % of "
               "the mark" + (f" (its {coin} collateral moves with the price)" if moves_with else ""))
        out.append(_goal_suggestion(goal, "reduce_size", False, moves_with,
                                    reason=f"even closing the whole position {why}"))
    else:
        out.append(_goal_suggestion(goal, "reduce_size", True, moves_with, contracts=f * position.contracts,
                                    fraction=f, step=lot_step(position)))
    return tuple(out)


def assemble_pooled(account: Account, figures: PooledFigures | None, isolated: AccountRisk | None,
                    *, target: float | None = None, target_distance: float | None = None,
                    scalar: bool = False) -> AccountRisk:
    """The pooled account's report. ``isolated`` holds the figures of its isolated positions,
    computed by the single-asset engine (their margin is outside the pool, §6.1).

    ``target`` (a margin ratio) gives the pool its suggestions where its ratio is worse;
    ``target_distance`` (a fraction of the mark) gives each cross position whose liquidation price
    (desk's, variant B of §6.4) is nearer than that, or whose pool is past liquidation, the least
    fixes of :func:`distance_suggestions` — reaching ``target`` too — found on the path ``scalar``
    names."""
    from desk.domain.compare import DEFAULT_RELATIVE, liquidation_gap

    margin = account.margin
    assert margin is not None
    rules = rules_for(account.venue)
    warnings: list[str] = [*read_notes(account), *(isolated.warnings if isolated else ())]
    iso_by_key = {(p.symbol, p.leg): p for p in (isolated.positions if isolated else ())}
    positions: list[PositionRisk] = []
    collateral: tuple[CollateralRisk, ...] = ()
    suggestions: tuple[Suggestion, ...] = ()
    if figures is None:
        ratio = desk_ratio_from_venue(account)
        why = margin.cannot_recompute or "unknown mode"
        warnings.append(f'{margin.mode or "this account mode"}: desk cannot recompute it ({why}); the '
                        "margin ratio shown is the venue's own, and no liquidation price is computed")
        pool = PoolRisk(margin.valuation, 0.0, 0.0, math.nan, math.nan, ratio, margin.venue_margin_ratio,
                        pool="account", mode=margin.mode, threshold=margin.threshold,
                        collateral=tuple(CollateralRisk(c.asset, c.amount, c.amount - c.borrowed, c.price,
                                                        math.nan, math.nan) for c in margin.collateral),
                        cannot_recompute=why)
    else:
        state = figures.state
        ratio = figures.ratio
        collateral = tuple(
            CollateralRisk(c.asset, c.amount, state.equity[c.asset], c.price, state.value[c.asset],
                           (1.0 - state.value[c.asset] / (state.equity[c.asset] * c.price))
                           if state.equity[c.asset] > 0 else 0.0)
            for c in margin.collateral)
        if target is not None and ratio > target:
            stables = [c for c in margin.collateral if c.underlying is None] or list(margin.collateral)
            suggestions = (*(add_collateral(state.maintenance, state.margin_balance, target, c,
                                            margin.threshold) for c in stables[:1]),
                           reduce_pooled(account, target))
        wallet = sum(c.amount * c.price for c in margin.collateral)
        pool = PoolRisk(margin.valuation, wallet, state.total_equity - wallet, state.margin_balance,
                        state.maintenance, ratio, margin.venue_margin_ratio, suggestions, pool="account",
                        mode=margin.mode, threshold=margin.threshold, total_equity=state.total_equity,
                        collateral=collateral)
    goal = None if target_distance is None else Goal(math.inf if target is None else target, target_distance)
    cross_index = 0
    orders = orders_by_symbol(account.orders)  # stops against liquidation (issue 17); None: not read
    for p in account.positions:
        if p.margin_mode is not MarginMode.CROSS:
            positions.append(iso_by_key[(p.symbol, p.leg.value)])
            continue
        mark = p.mark_price
        if figures is None:
            mm = math.nan
            liq = liq_a = bk = None
        else:
            mm = figures.state.position_mm[cross_index]
            liq = figures.liquidation[p.symbol]
            liq_a = figures.liquidation_symbol_only[p.symbol]
            bk = figures.bankruptcy[p.symbol]
        cross_index += 1
        direction = None if liq is None else ("down" if liq < mark else "up")
        distance = None if liq is None else abs(mark - liq) / mark
        fixes: tuple[Suggestion, ...] = ()
        # the distance decides (a ratio above ``target`` alone is the pool's, answered above); the
        # fixes then reach both goals
        if goal is not None and goal.distance is not None and figures is not None and (
                figures.ratio >= 1.0 or (distance is not None and distance < goal.distance)):
            fixes = distance_suggestions(account, p, goal, scalar=scalar)
        positions.append(PositionRisk(
            account.name, p.symbol, p.leg.value, p.side.value, p.margin_mode.value, p.settle, p.kind.value,
            p.contracts, p.entry_price, mark, p.leverage, value_at(p, mark), pnl_at(p, mark), mm, ratio,
            liq, bk, distance,
            p.reported.liquidation_price, p.reported.bankruptcy_price, p.tick_size, fixes,
            margin.venue_margin_ratio, liquidation_price_symbol_only=liq_a, liquidation_direction=direction,
            protection=(None if orders is None
                        else assess(p, orders.get(p.symbol, ()), liq, bk, account.venue)),
            adl_rank=p.adl_rank, funding_rate=p.funding_rate, next_funding_time=p.next_funding_time,
            funding_interval_hours=p.funding_interval_hours, realized_pnl=p.realized_pnl))
        label = p.symbol if p.leg.value == "both" else f"{p.symbol} ({p.leg.value})"
        if not p.tiers:
            warnings.append(f"{label}: no maintenance tiers or rate given; its maintenance margin is "
                            "taken as 0, so its liquidation figures are optimistic")
        reported = p.reported.liquidation_price
        if reported is not None and liq_a is not None:  # the venue's convention is variant A (§6.4)
            gap = liquidation_gap(liq_a, reported, p.tick_size)  # the one rule (desk.domain.compare)
            if gap is not None and gap.disagrees:
                warnings.append(f"{label}: the exchange's liquidation price {reported:.8g} differs from "
                                f"desk's {liq_a:.8g} (collateral at its index) by "
                                f"{abs(reported - liq_a):.6g} (more than {gap.tolerance})")
        if liq is not None and liq_a is not None:
            tick = p.tick_size or DEFAULT_RELATIVE * liq_a
            if abs(liq - liq_a) > tick:
                warnings.append(f"{label}: collateral in {underlying_of(p.symbol)} moves with this position; "
                                f"liquidation at {liq:.8g} with it, {liq_a:.8g} with collateral held at its "
                                "index (the venue's convention)")
    if figures is not None and margin.venue_margin_ratio is not None:
        if margin.venue_ratio_inverted:
            ours_native = margin.threshold / figures.ratio if figures.ratio > 0 else math.inf
        else:
            ours_native = figures.ratio / margin.threshold
        theirs = margin.venue_margin_ratio
        if math.isfinite(ours_native) and theirs > 0 and abs(ours_native - theirs) > 0.005 * theirs:
            warnings.append(f"pool ratio: desk's {ours_native:.6g} differs from the venue's {theirs:.6g} "
                            "by more than 0.5 %")
    pools = (pool,) + (isolated.pools if isolated else ())
    shock = figures.shock if figures is not None else None
    if isolated is not None and isolated.shock_to_liquidation is not None and (
            shock is None or abs(isolated.shock_to_liquidation) < abs(shock)):
        shock = isolated.shock_to_liquidation
    return AccountRisk(account.name, account.venue, rules.name, rules.generic, pools, tuple(positions), shock,
                       tuple(warnings))


def compute_pooled(account: Account, plain: Callable[[Portfolio], object], *, target: float | None,
                   target_distance: float | None = None, scalar: bool = False) -> AccountRisk:
    """One pooled account: the pool by this module, isolated positions by ``plain`` (the
    single-asset engine, called with a portfolio holding only them)."""
    import dataclasses

    assert account.margin is not None
    iso = tuple(p for p in account.positions if p.margin_mode is MarginMode.ISOLATED)
    isolated = None
    if iso:
        alone = Account(account.name, account.venue, {}, iso, {}, account.data_time, orders=account.orders)
        report = plain(Portfolio((alone,)))
        isolated = report.accounts[0]  # type: ignore[attr-defined]
        isolated = dataclasses.replace(isolated, pools=())
    if account.margin.cannot_recompute is not None:
        return assemble_pooled(account, None, isolated, target=target, target_distance=target_distance)
    figures = pooled_figures_scalar(account) if scalar else pooled_figures(account)
    return assemble_pooled(account, figures, isolated, target=target, target_distance=target_distance,
                           scalar=scalar)


__all__ = [
    "Move",
    "PoolState",
    "PooledFigures",
    "add_collateral",
    "compute_pooled",
    "distance_suggestions",
    "haircut_value",
    "liquidation_move",
    "pool_state_scalar",
    "pooled_figures",
    "pooled_figures_scalar",
    "shock_move",
    "slack_scalar",
    "solve_factor_scalar",
    "solved_distance",
    "underlying_of",
]
