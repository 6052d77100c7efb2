"""Funding drift: where funding payments move a position's liquidation price (issue 17).

Funding is paid from the margin that backs the position — an isolated position's own margin, or
the wallet of a cross position's settle currency (risk-math.md §7.2: Bybit example 3, 200 USDT of
funding deducted from a 1 BTC isolated long moves its liquidation price from 19,700 to 19,900). So
without any trade the liquidation price drifts toward the mark while the position pays, and away
while it earns.

One payment at the current rate is ``side × rate × value at the mark`` (longs pay a positive rate;
value in the settle currency: quote for linear, coin for inverse contracts). The liquidation prices
after ``n`` payments are the engine's, on the account with that much less margin; the number of
payments until funding alone liquidates the position holds the mark where it is.

A single-asset cross pool (one per settle currency) pays the funding of all its cross positions
from its wallet, each on its own schedule: ``next_funding_time + k × interval`` (Bybit 4 h / 8 h,
Hyperliquid 1 h, Binance 4 h or 8 h). :func:`pool_funding_drift` steps the wallet down at those
discrete times — rates and marks held — and gives the pool after the payments due within 1, 8 and
24 hours, and the first payment time at which its ratio reaches 1.0: exact on the schedule, solved
through its period (the least common multiple of the intervals), not a continuous approximation.
An account-wide pool (``account.pooled``) pays funding from collateral coins, which this does not
model: it gets no drift rather than a wrong one.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from datetime import datetime

from desk.domain.engine import PlanCache, compute_risk
from desk.domain.model import Account, Kind, MarginMode, Portfolio, Position
from desk.domain.position_math import Unit, margin_ratio, unit_state
from desk.domain.report import (
    FundingDrift,
    FundingPayer,
    PoolFundingDrift,
    PoolFundingStep,
    PositionRisk,
    RiskReport,
    at_or_past_liquidation,
)
from desk.domain.rules import rules_for

__all__ = ["DEFAULT_COUNTS", "DEFAULT_HORIZONS_HOURS", "FundingDrift", "PoolFundingDrift", "funding_drift",
           "funding_origin", "funding_payment", "pool_funding_drift", "position_funding_drift",
           "with_funding_drift"]

#: the payments the drift is shown after (issue 17: the next 1, 3 and 24 funding payments)
DEFAULT_COUNTS = (1, 3, 24)
#: a pool's drift is shown after the payments due within these hours (its positions' intervals differ)
DEFAULT_HORIZONS_HOURS = (1.0, 8.0, 24.0)
#: the payment times one period of a pool's schedule may hold before the time to liquidation is
#: left unsolved (venues' intervals of 1, 2, 4 and 8 h give a period of 8 h: a dozen payments)
_MAX_PERIOD_PAYMENTS = 200_000
#: the plans of the accounts after n payments (less margin), apart from the live ones they would
#: otherwise replace in the shared cache (desk.domain.engine.PlanCache)
_PLANS = PlanCache(64)


def funding_payment(position: Position, rate: float) -> float:
    """One funding payment by ``position`` at ``rate``, in its settle currency (> 0: it pays)."""
    if position.kind is Kind.INVERSE:
        value = position.contracts * position.contract_size / position.mark_price
    else:
        value = position.contracts * position.contract_size * position.mark_price
    return position.side.sign * rate * value


def _find(account: Account, symbol: str, leg: str, margin_mode: str | None) -> int:
    """The position's index; ``margin_mode`` tells apart an instrument held cross and isolated."""
    for i, p in enumerate(account.positions):
        if p.symbol == symbol and p.leg.value == leg and margin_mode in (None, p.margin_mode.value):
            return i
    raise KeyError((account.name, symbol, leg, margin_mode))


def _paid(account: Account, index: int, amount: float) -> Account:
    """``account`` after ``amount`` of funding left the margin behind position ``index``."""
    p = account.positions[index]
    if p.margin_mode is MarginMode.ISOLATED:
        moved = dataclasses.replace(p, isolated_margin=float(p.isolated_margin or 0.0) - amount)
        positions = (*account.positions[:index], moved, *account.positions[index + 1:])
        return dataclasses.replace(account, positions=positions)
    wallets = dict(account.wallets)
    wallets[p.settle] = wallets.get(p.settle, 0.0) - amount
    return dataclasses.replace(account, wallets=wallets)


def funding_drift(account: Account, symbol: str, leg: str, rate: float,
                  counts: Sequence[int] = DEFAULT_COUNTS, *, margin_mode: str | None = None) -> FundingDrift:
    """The drift of the liquidation price of ``account``'s position (``symbol``, ``leg``, and
    ``margin_mode`` where the instrument is held both ways) under funding at ``rate`` per interval,
    holding every mark where it is."""
    index = _find(account, symbol, leg, margin_mode)
    position = account.positions[index]
    if position.margin_mode is MarginMode.ISOLATED:  # its own margin only: the rest does not matter
        account, index = dataclasses.replace(account, positions=(position,)), 0
    payment = funding_payment(position, rate)
    after: list[tuple[int, float | None]] = []
    for n in counts:
        report = compute_risk(Portfolio((_paid(account, index, n * payment),)), plans=_PLANS)
        after.append((n, report.accounts[0].positions[index].liquidation_price))
    to_liquidation = None
    if payment > 0:
        now = compute_risk(Portfolio((account,)), plans=_PLANS).accounts[0]
        if position.margin_mode is MarginMode.ISOLATED:
            r = now.positions[index]
            slack = float(position.isolated_margin or 0.0) + r.unrealized_pnl - r.maintenance_margin
        else:
            pools = [p for p in now.pools if p.settle == position.settle]
            if not pools:
                raise ValueError(f"{account.name}: no {position.settle} pool behind {symbol} "
                                 "to pay funding from")
            slack = pools[0].margin_balance - pools[0].maintenance_margin
        to_liquidation = max(slack, 0.0) / payment
    return FundingDrift(rate, payment, tuple(after), to_liquidation)


def position_funding_drift(account: Account, risk: PositionRisk) -> FundingDrift | None:
    """The drift of ``risk``'s position at the venue's current rate; None without a rate, and None
    on an account whose venue pools collateral: its funding is paid from the pool's collateral
    coins, which :func:`_paid` (a settle-currency wallet) does not model — no figure rather than a
    wrong one."""
    if risk.funding_rate is None or account.pooled:
        return None
    return funding_drift(account, risk.symbol, risk.leg, risk.funding_rate, margin_mode=risk.margin_mode)


def with_funding_drift(portfolio: Portfolio, report: RiskReport, now: float | None = None) -> RiskReport:
    """``report`` with the drift at the current rate on every position that has one, and on every
    single-asset cross pool holding one: for the on-demand surfaces (``desk risk``), never the live
    tick — it runs the engine per position and per horizon. A pool's schedule counts from
    :func:`funding_origin` (``now``: the caller's clock, where the file says nothing)."""
    by_name = {a.name: a for a in portfolio.accounts}
    accounts = []
    for account_risk in report.accounts:
        account = by_name.get(account_risk.name)
        positions = tuple(
            p if account is None or p.funding_rate is None
            else dataclasses.replace(p, funding_drift=position_funding_drift(account, p))
            for p in account_risk.positions)
        pools = account_risk.pools
        origin = None if account is None else funding_origin(account, portfolio, now)
        if account is not None and origin is not None and not account.pooled:
            pools = tuple(
                dataclasses.replace(pool, funding_drift=pool_funding_drift(account, pool.settle, origin))
                if pool.pool == "settle" else pool
                for pool in pools)
        accounts.append(dataclasses.replace(account_risk, positions=positions, pools=pools))
    return dataclasses.replace(report, accounts=tuple(accounts))


# ---------------------------------------------------------------------------- a cross pool's funding


def funding_origin(account: Account, portfolio: Portfolio | None = None,
                   now: float | None = None) -> float | None:
    """The time a pool's funding schedule counts from: when the account's wallet was observed
    (``data_time``), else the file's ``as_of``, else ``now``; None when none is known."""
    if account.data_time is not None:
        return float(account.data_time)
    if portfolio is not None and portfolio.as_of:
        try:
            return datetime.fromisoformat(portfolio.as_of.replace("Z", "+00:00")).timestamp()
        except ValueError:
            pass  # an as_of desk cannot read: the caller's clock instead
    return now


def _schedule(position: Position, origin: float) -> tuple[float, float] | None:
    """(the first payment at or after ``origin``, the interval), epoch seconds; None when the rate,
    the next payment or the interval is unknown. Payments before ``origin`` are in the wallet read
    then; an interval is a whole number of seconds (every venue's is whole hours)."""
    if position.funding_rate is None or position.next_funding_time is None:
        return None
    if not position.funding_interval_hours or position.funding_interval_hours <= 0:
        return None
    interval = float(round(position.funding_interval_hours * 3600.0))
    first = float(position.next_funding_time)
    if first < origin:  # a stale next time: the payments since are in the wallet already
        first += math.ceil((origin - first) / interval) * interval
    return first, interval


def _count_by(first: float, interval: float, end: float) -> int:
    """Payments at ``first + k × interval`` (k ≥ 0) no later than ``end``."""
    return 0 if end < first else math.floor((end - first) / interval) + 1


def pool_funding_drift(account: Account, settle: str, origin: float,
                       horizons: Sequence[float] = DEFAULT_HORIZONS_HOURS) -> PoolFundingDrift | None:
    """Funding's effect on ``account``'s single-asset cross pool of ``settle``: each cross position
    pays ``funding_payment`` at its current rate at ``next_funding_time + k × interval``; the pool
    after the payments due within each horizon (hours after ``origin``, inclusive), and the first
    payment time at which its ratio reaches 1.0. Marks held. A cross position with no rate, next
    time or interval pays nothing here and is named in ``unknown``. None on an account-wide pool,
    or when no cross position of the pool has a known schedule."""
    if account.pooled:
        return None
    members = tuple(p for p in account.positions
                    if p.margin_mode is MarginMode.CROSS and p.settle == settle)
    payers: list[FundingPayer] = []
    unknown: list[Position] = []
    for p in members:
        schedule = _schedule(p, origin)
        if schedule is None or p.funding_rate is None:
            unknown.append(p)
            continue
        payers.append(FundingPayer(p.symbol, p.leg.value, p.funding_rate, schedule[1] / 3600.0, schedule[0],
                                   funding_payment(p, p.funding_rate)))
    if not payers:  # (the positions without a rate are named only beside those with one)
        return None
    # the pool alone: its wallet and its cross positions (isolated ones pay from their own margin)
    pool = dataclasses.replace(account, wallets={settle: account.wallet(settle)}, positions=members)
    wallet = pool.wallet(settle)
    steps = []
    for hours in horizons:
        end = origin + hours * 3600.0
        paid = math.fsum(_count_by(f.first_payment, f.interval_hours * 3600.0, end) * f.payment
                         for f in payers)
        after = dataclasses.replace(pool, wallets={settle: wallet - paid})
        risk = compute_risk(Portfolio((after,)), plans=_PLANS).accounts[0]
        ratio = next(x.margin_ratio for x in risk.pools if x.settle == settle)
        steps.append(PoolFundingStep(hours, paid, wallet - paid, ratio,
                                     tuple((r.symbol, r.leg, r.liquidation_price) for r in risk.positions)))
    when, note = _time_to_liquidation(pool, settle, payers, origin)
    return PoolFundingDrift(settle, origin, tuple(payers), tuple((p.symbol, p.leg.value) for p in unknown),
                            tuple(steps), when, note)


def _time_to_liquidation(pool: Account, settle: str, payers: Sequence[FundingPayer],
                         origin: float) -> tuple[float | None, str | None]:
    """The first payment time at which the pool's ratio reaches 1.0, funding alone, marks held.

    With the marks held, the pool's unrealized PnL and maintenance margin stay what
    :func:`~desk.domain.position_math.unit_state` gives now; only the wallet moves, down by each
    payment at its time. From ``start`` (once every position's schedule has begun) the schedule
    repeats every period ``L`` (the least common multiple of the intervals), the wallet falling by
    the same net ``D`` each period, so every payment time is ``τ + m·L`` for a payment time ``τ`` of
    the first period: the payments up to the end of the first period are applied one time at a
    time, and for each ``τ`` the first ``m`` at which the ratio reaches 1.0 is solved (``D > 0``;
    never when ``D ≤ 0``)."""
    members = pool.positions
    wallet = pool.wallet(settle)
    pnl, _, maintenance = unit_state(Unit(settle, members, wallet, False), rules_for(pool.venue),
                                     [p.mark_price for p in members])

    def liquidated(paid: float) -> bool:
        return at_or_past_liquidation(margin_ratio(maintenance, (wallet - paid) + pnl))

    if liquidated(0.0):
        return origin, None
    intervals = [round(f.interval_hours * 3600.0) for f in payers]
    period = math.lcm(*intervals)
    per_period = [period // i for i in intervals]
    if sum(per_period) > _MAX_PERIOD_PAYMENTS:
        return None, "the positions' funding intervals repeat too seldom to solve exactly"
    net = math.fsum(n * f.payment for n, f in zip(per_period, payers, strict=True))
    # every schedule has begun by `start`: from there on, one more period is one more `net`, and
    # every later payment time lies a whole number of periods after one in [start, start + period)
    start = max(origin, *(f.first_payment for f in payers))
    end = start + period
    if sum(_count_by(f.first_payment, i, end) for f, i in zip(payers, intervals, strict=True)) \
            > _MAX_PERIOD_PAYMENTS:
        return None, "the first payments lie too far ahead to solve exactly"
    due = sorted((f.first_payment + k * i, f.payment) for f, i in zip(payers, intervals, strict=True)
                 for k in range(_count_by(f.first_payment, i, end)) if f.first_payment + k * i < end)
    first_period: list[tuple[float, float]] = []  # (τ, paid by then)
    paid = 0.0
    for k, (t, amount) in enumerate(due):
        paid += amount  # the wallet steps down payment by payment, as the venue books them
        if k + 1 < len(due) and due[k + 1][0] == t:
            continue  # the pool is judged once every payment due at t is in
        if liquidated(paid):
            return t, None
        if t >= start:
            first_period.append((t, paid))
    if net <= 0.0:
        return None, None  # each period leaves the wallet no lower: the first one was the worst
    best: float | None = None
    for t, paid in first_period:
        # (wallet − paid − m·net) + pnl ≤ maintenance: ratio 1.0 (maintenance ≥ 0)
        m = max(1, math.ceil(((wallet - paid) + pnl - maintenance) / net))
        # the float solution checked against the ratio itself, a period either way
        while m > 1 and liquidated(paid + (m - 1) * net):
            m -= 1
        while not liquidated(paid + m * net):
            m += 1
        when = t + m * period
        if best is None or when < best:
            best = when
    return best, None
