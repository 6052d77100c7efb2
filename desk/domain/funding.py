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
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from desk.domain.engine import PlanCache, compute_risk
from desk.domain.model import Account, Kind, MarginMode, Portfolio, Position
from desk.domain.report import FundingDrift, PositionRisk, RiskReport

__all__ = ["DEFAULT_COUNTS", "FundingDrift", "funding_drift", "funding_payment", "position_funding_drift",
           "with_funding_drift"]

#: the payments the drift is shown after (issue 17: the next 1, 3 and 24 funding payments)
DEFAULT_COUNTS = (1, 3, 24)
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


def _find(account: Account, symbol: str, leg: str) -> int:
    for i, p in enumerate(account.positions):
        if p.symbol == symbol and p.leg.value == leg:
            return i
    raise KeyError((account.name, symbol, leg))


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
                  counts: Sequence[int] = DEFAULT_COUNTS) -> FundingDrift:
    """The drift of the liquidation price of ``account``'s position (``symbol``, ``leg``) under
    funding at ``rate`` per interval, holding every mark where it is."""
    index = _find(account, symbol, leg)
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
    return funding_drift(account, risk.symbol, risk.leg, risk.funding_rate)


def with_funding_drift(portfolio: Portfolio, report: RiskReport) -> RiskReport:
    """``report`` with the drift at the current rate on every position that has one: for the
    on-demand surfaces (``desk risk``), never the live tick — it runs the engine per position."""
    by_name = {a.name: a for a in portfolio.accounts}
    accounts = []
    for account_risk in report.accounts:
        account = by_name.get(account_risk.name)
        positions = tuple(
            p if account is None or p.funding_rate is None
            else dataclasses.replace(p, funding_drift=position_funding_drift(account, p))
            for p in account_risk.positions)
        accounts.append(dataclasses.replace(account_risk, positions=positions))
    return dataclasses.replace(report, accounts=tuple(accounts))
