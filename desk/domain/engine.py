"""The risk engine: every figure of :mod:`desk.domain.report` for a whole portfolio.

One engine for every caller (ARCHITECTURE rule 2). The formulas are those of
:mod:`desk.domain.scalar` (risk-math.md §0–§8); this module evaluates them.
"""

from __future__ import annotations

from desk.domain.model import Account, Portfolio
from desk.domain.report import RiskReport
from desk.domain.scalar import compute_risk_scalar
from desk.domain.scalar import shock_to_liquidation as _shock_scalar


def compute_risk(portfolio: Portfolio, *, target: float | None = None) -> RiskReport:
    """Risk for every account, pool and position; suggestions where the ratio is worse than ``target``."""
    if target is not None and not target > 0:
        raise ValueError(f"target margin ratio must be > 0, got {target}")
    return compute_risk_scalar(portfolio, target=target)


def shock_to_liquidation(account: Account) -> float | None:
    """Smallest signed uniform move of all marks (−0.12 = every mark 12 % lower) at which a cross
    pool or an isolated position of ``account`` reaches margin ratio 1.0; ``None`` within ±99 %."""
    return _shock_scalar(account)
