"""An independent stepped simulation of funding paid from a single-asset cross pool (issue 17): each
payment applied to the wallet in time order, the pool recomputed by the scalar oracle at each payment
time. The domain's drift (desk.domain.funding.pool_funding_drift) is checked against it."""

from __future__ import annotations

import dataclasses

from desk.domain.model import Account, Kind, MarginMode, Portfolio
from desk.domain.scalar import compute_risk_scalar

HOUR = 3600.0


def simulate(acc: Account, settle: str, origin: float, until: float) -> list[tuple[float, dict]]:
    """The pool at the origin and after each payment time up to ``until``: (time, figures), in order.
    A payment here: side × rate × contracts × size × mark (linear; ÷ mark for inverse); the first at
    next_funding_time rolled forward past the origin, then one every interval."""
    events: list[tuple[float, float]] = []
    for p in acc.positions:
        if p.margin_mode is not MarginMode.CROSS or p.settle != settle or p.funding_rate is None:
            continue
        if p.next_funding_time is None or p.funding_interval_hours is None:
            continue
        q = p.contracts * p.contract_size
        value = q / p.mark_price if p.kind is Kind.INVERSE else q * p.mark_price
        amount = p.side.sign * p.funding_rate * value
        t = p.next_funding_time
        while t < origin:
            t += p.funding_interval_hours * HOUR
        while t <= until:
            events.append((t, amount))
            t += p.funding_interval_hours * HOUR
    events.sort(key=lambda e: e[0])

    def figures(state: Account) -> dict:
        risk = compute_risk_scalar(Portfolio((state,))).accounts[0]
        pool = next(x for x in risk.pools if x.settle == settle)
        cross = [(r.symbol, r.leg, r.liquidation_price) for r in risk.positions
                 if r.margin_mode == "cross" and r.settle == settle]
        return {"ratio": pool.margin_ratio, "wallet": pool.wallet_balance, "liquidation": cross}

    seen = [(origin, figures(acc))]
    state = acc
    i = 0
    while i < len(events):
        t = events[i][0]
        while i < len(events) and events[i][0] == t:  # every payment due at t, one at a time
            wallets = dict(state.wallets)
            wallets[settle] -= events[i][1]
            state = dataclasses.replace(state, wallets=wallets)
            i += 1
        seen.append((t, figures(state)))
    return seen


def at(history: list[tuple[float, dict]], when: float) -> dict:
    return [f for t, f in history if t <= when][-1]


def first_liquidation(history: list[tuple[float, dict]]) -> float | None:
    return next((t for t, f in history if f["ratio"] >= 1.0), None)
