"""The whole-account scalar oracle: plain Python, one account and one position at a time — the tests'
independent path for :func:`desk.domain.engine.compute_risk`.

Built on the single-position math of :mod:`desk.domain.position_math` and the report assembly the
engine shares (:mod:`desk.domain.assemble`), but on none of the engine's arrays: the tests assert the
two agree. Nothing in production imports this module (the import-linter layers contract keeps it on
top of desk.domain, and a forbidden contract keeps the rest of desk off it).
"""

from __future__ import annotations

from collections.abc import Iterable

from desk.domain.assemble import assemble_account, with_pooled_accounts
from desk.domain.model import Account, Portfolio, Position
from desk.domain.position_math import (
    maintenance_at,
    margin_ratio,
    margin_units,
    pnl_at,
    symbol_liquidation_price,
    unit_shock_to_liquidation,
    unit_state,
    value_at,
)
from desk.domain.report import AccountRisk, PoolFigures, PositionFigures, RiskReport
from desk.domain.rules import rules_for


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
    if any(a.pooled for a in portfolio.accounts):
        return with_pooled_accounts(
            portfolio, target, target_distance,
            lambda p: compute_risk_scalar(p, target=target, target_distance=target_distance), scalar=True)
    accounts: list[AccountRisk] = []
    for account in portfolio.accounts:
        pools, positions = account_figures(account)
        accounts.append(
            assemble_account(account, pools, positions, shock_to_liquidation(account), target=target,
                             target_distance=target_distance)
        )
    return RiskReport(accounts=tuple(accounts), as_of=portfolio.as_of)
