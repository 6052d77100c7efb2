"""Dress computed figures as report objects: warnings, venue ratio, suggestions; and route the
accounts whose venue pools collateral to :mod:`desk.domain.unified`.

Shared by the vectorised engine and the scalar oracle so both produce identical reports from
identical numbers.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from desk.domain.building import builder_for
from desk.domain.compare import liquidation_gap
from desk.domain.model import Account, Kind, MarginMode, Portfolio, Position
from desk.domain.protection import assess, orders_by_symbol
from desk.domain.report import (
    AccountRisk,
    PoolFigures,
    PoolRisk,
    PositionFigures,
    PositionRisk,
    RiskReport,
    Suggestion,
    read_notes,
)
from desk.domain.rules import VenueRules, rules_for
from desk.domain.suggest import Goal, add_margin, position_suggestions, reduce_pool
from desk.domain.unified import compute_pooled


def venue_margin_ratio(rules: VenueRules, ratio: float | None) -> float | None:
    """The venue's own figure: OKX's is equity ÷ (MM + fee), the reciprocal of ours (§4, §7.8)."""
    if ratio is None:
        return None
    if rules.inverted_ratio:
        if ratio == 0.0:
            return math.inf
        return 0.0 if math.isinf(ratio) else 1.0 / ratio
    return ratio


def _label(p: Position) -> str:
    return f"{p.symbol} ({p.leg.value})" if p.leg.value != "both" else p.symbol


@dataclass(frozen=True, slots=True)
class PositionColumns:
    """The figures of one account's positions, one list per figure, in the account's position order.

    The engine hands its arrays over in this shape (no per-position figure object); the scalar
    oracle's :class:`PositionFigures` convert with :meth:`of`.
    """

    notional: Sequence[float]
    unrealized_pnl: Sequence[float]
    maintenance_margin: Sequence[float]
    margin_ratio: Sequence[float]
    liquidation_price: Sequence[float | None]
    bankruptcy_price: Sequence[float | None]

    @classmethod
    def of(cls, figures: Sequence[PositionFigures]) -> PositionColumns:
        return cls(
            [f.notional for f in figures],
            [f.unrealized_pnl for f in figures],
            [f.maintenance_margin for f in figures],
            [f.margin_ratio for f in figures],
            [f.liquidation_price for f in figures],
            [f.bankruptcy_price for f in figures],
        )


def account_warnings(
    account: Account, rules: VenueRules, liquidation_prices: Sequence[float | None]
) -> list[str]:
    """Warnings about ``account``; ``liquidation_prices`` are desk's, in the account's position order."""
    warnings: list[str] = read_notes(account)
    if rules.generic:
        warnings.append(
            f'venue "{account.venue}" has no specific margin rules in desk; the generic rule '
            "(maintenance margin at the mark price, tiered with maintenance amount) was used"
        )
    isolated = MarginMode.ISOLATED
    for p, ours in zip(account.positions, liquidation_prices, strict=True):
        if p.margin_mode is isolated and p.isolated_margin is None:
            warnings.append(f"{_label(p)}: isolated position without its isolated margin; taken as 0")
        if not p.tiers:
            warnings.append(f"{_label(p)}: no maintenance tiers or rate given; its maintenance margin is "
                            "taken as 0, so its liquidation figures are optimistic")
        reported = p.reported.liquidation_price
        if reported is None:
            continue
        if ours is not None:
            # the one rule for "ours and theirs disagree" (desk.domain.compare), as the alerts use it
            gap = liquidation_gap(ours, reported, p.tick_size)
            if gap is not None and gap.disagrees:
                warnings.append(f"{_label(p)}: the exchange's liquidation price {reported:.8g} differs from "
                                f"desk's {ours:.8g} by {abs(reported - ours):.6g} "
                                f"(more than {gap.tolerance})")
        else:
            warnings.append(f"{_label(p)}: the exchange reports a liquidation price {reported:.8g}; "
                            "desk finds none reachable")
    return warnings


def _worse(ratio: float, target: float | None) -> bool:
    return target is not None and ratio > target


#: a report of 10,000 positions makes 10,000 of these: by a builder (desk.domain.building)
_build_risk = builder_for(PositionRisk)


def assemble_account(
    account: Account,
    pools: Sequence[PoolFigures],
    positions: Sequence[PositionFigures] | PositionColumns,
    shock: float | None,
    *,
    target: float | None = None,
    target_distance: float | None = None,
) -> AccountRisk:
    """The account's report: ``positions`` carry the figures of ``account.positions``, in order.

    Suggestions where a position is worse than the goal: margin ratio above ``target`` or distance
    to liquidation below ``target_distance`` (either may be None: no such goal).
    """
    columns = positions if isinstance(positions, PositionColumns) else PositionColumns.of(positions)
    rules = rules_for(account.venue)
    cross_by_settle: dict[str, list[Position]] = {}
    goal = None if target is None and target_distance is None else \
        Goal(math.inf if target is None else target, target_distance)
    if goal is not None:  # only suggestions need the cross positions by pool
        for p in account.positions:
            if p.margin_mode is MarginMode.CROSS:
                cross_by_settle.setdefault(p.settle, []).append(p)

    pool_risks: list[PoolRisk] = []
    for pool in pools:
        suggestions: tuple[Suggestion, ...] = ()
        if target is not None and _worse(pool.margin_ratio, target):
            suggestions = (
                add_margin(pool.maintenance_margin, pool.margin_balance, target, pool.settle),
                reduce_pool(cross_by_settle.get(pool.settle, []), rules, pool.margin_balance, target),
            )
        pool_risks.append(PoolRisk(
            settle=pool.settle,
            wallet_balance=pool.wallet_balance,
            unrealized_pnl=pool.unrealized_pnl,
            margin_balance=pool.margin_balance,
            maintenance_margin=pool.maintenance_margin,
            margin_ratio=pool.margin_ratio,
            venue_margin_ratio=venue_margin_ratio(rules, pool.margin_ratio),
            suggestions=suggestions,
        ))

    return AccountRisk(
        name=account.name,
        venue=account.venue,
        rules=rules.name,
        generic_rules=rules.generic,
        pools=tuple(pool_risks),
        positions=_position_risks(account, columns, rules, goal, cross_by_settle),
        shock_to_liquidation=shock,
        warnings=tuple(account_warnings(account, rules, columns.liquidation_price)),
    )


def _position_risks(account: Account, columns: PositionColumns, rules: VenueRules, goal: Goal | None,
                    cross_by_settle: dict[str, list[Position]]) -> tuple[PositionRisk, ...]:
    """The account's positions dressed, one builder call each (10,000 for a large book, so what is
    the same for the whole account is read once, and no helper is called per position)."""
    risks: list[PositionRisk] = []
    append = risks.append
    name, venue = account.name, account.venue
    inverted = rules.inverted_ratio
    orders = orders_by_symbol(account.orders)
    cross, linear, isfinite = MarginMode.CROSS, Kind.LINEAR, math.isfinite
    for p, notional, pnl, mm, ratio, liq, bk in zip(
        account.positions, columns.notional, columns.unrealized_pnl, columns.maintenance_margin,
        columns.margin_ratio, columns.liquidation_price, columns.bankruptcy_price, strict=True,
    ):
        mark = p.mark_price
        distance = None if liq is None else abs(mark - liq) / mark
        held = None if p.margin_mode is cross else float(p.isolated_margin or 0.0)  # isolated: its margin
        suggestions: tuple[Suggestion, ...] = ()
        if goal is not None and goal.unmet_by(ratio, distance):
            if held is None:
                suggestions = position_suggestions(p, cross_by_settle[p.settle], account.wallet(p.settle),
                                                   rules, goal)
            else:
                suggestions = position_suggestions(p, (p,), held, rules, goal)
        # The position's margin and its return on margin, as the exchanges' position panels show
        # them. Initial margin at entry = entry notional ÷ leverage (linear: contracts × size × entry,
        # in quote; inverse: contracts × size ÷ entry, in coin). The margin shown is the isolated
        # margin for an isolated position, the initial margin for a cross one; ROI = uPnL ÷ initial
        # margin (÷ the isolated margin when the leverage is unknown).
        leverage, entry = p.leverage, p.entry_price
        initial = None
        if leverage is not None and isfinite(leverage) and leverage > 0 and entry > 0:
            quantity = p.base_quantity
            initial = abs(quantity * entry if p.kind is linear else quantity / entry) / leverage
        base = held if initial is None else initial
        reported = p.reported
        # every field by position, in field order (tests/domain/test_assemble.py checks each field's
        # source): passed by keyword, the last eleven made each call ~40 % slower
        append(_build_risk(
            name, p.symbol, p.leg._value_, p.side._value_, p.margin_mode._value_, p.settle, p.kind._value_,
            p.contracts, entry, mark, leverage, notional, pnl, mm,
            ratio, liq, bk, distance,
            reported.liquidation_price, reported.bankruptcy_price, p.tick_size, suggestions,
            venue_margin_ratio(rules, ratio) if inverted else ratio,
            held,
            initial if held is None else held,  # position_margin
            None if base is None or not base > 0 else pnl / base,  # roi
            None, None,  # liquidation_price_symbol_only, liquidation_direction: pooled accounts only
            None if orders is None else assess(p, orders.get(p.symbol, ()), liq, bk, venue),
            p.adl_rank, p.funding_rate, p.next_funding_time, p.funding_interval_hours,
            None,  # funding_drift: on demand only
            p.realized_pnl,
        ))
    return tuple(risks)


def with_pooled_accounts(portfolio: Portfolio, target: float | None, target_distance: float | None,
                         plain: Callable[[Portfolio], RiskReport], *, scalar: bool) -> RiskReport:
    """Accounts whose venue pools collateral go through :mod:`desk.domain.unified` (its scalar path
    when ``scalar``); the rest through ``plain`` together; the report keeps the portfolio's account
    order. One routing for the engine and the scalar oracle."""
    rest = Portfolio(tuple(a for a in portfolio.accounts if not a.pooled), portfolio.as_of)
    by_name = {a.name: a for a in plain(rest).accounts} if rest.accounts else {}
    accounts = tuple(compute_pooled(a, plain, target=target, target_distance=target_distance,
                                    scalar=scalar) if a.pooled else by_name[a.name]
                     for a in portfolio.accounts)
    return RiskReport(accounts=accounts, as_of=portfolio.as_of)
