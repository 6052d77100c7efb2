"""The book's stress grid (:func:`desk.domain.engine.unit_state_moved`) against the independent oracle.

The grid sums positions that stay in one tier per unit and driver (issue 18: 10,000 positions over
101 shocks); positions whose notional crosses a floor on the way are evaluated row by row. Both
must give each unit's margin balance and maintenance margin at every shock as the oracle does
(tests/domain/oracle.py shares no code with the engine), for uniform and per-coin (beta) moves.
"""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from desk.domain.book import SHOCKS
from desk.domain.engine import compile_portfolio, unit_state_at, unit_state_moved
from desk.domain.model import Portfolio
from desk.domain.scenario import stress_drivers, stress_factors
from tests.domain import oracle
from tests.domain.test_oracle import portfolios

betas = st.one_of(st.none(), st.fixed_dictionaries(
    {}, optional={c: st.sampled_from([0.0, 0.5, 1.0, 1.3, 2.5]) for c in ("BTC", "ETH", "SOL")}))


def _oracle_grid(portfolio: Portfolio, f: object, shocks: np.ndarray, beta: dict[str, float] | None):
    """(margin balance, maintenance, the size of the terms summed) per (shock, unit), by the oracle."""
    n_units = f.n_units  # type: ignore[attr-defined]
    equity = np.zeros((len(shocks), n_units))
    mm = np.zeros((len(shocks), n_units))
    scale = np.zeros((len(shocks), n_units))
    for u, unit in enumerate(f.units):  # type: ignore[attr-defined]
        account = portfolio.accounts[int(f.unit_account[u])]  # type: ignore[attr-defined]
        rules = oracle.venue_rules(account.venue)
        mine = {id(p) for p in unit.positions}
        (match,) = [o for o in oracle.units(account) if {id(p) for p in o.positions} == mine]
        equity[:, u] = match.balance
        scale[:, u] = abs(match.balance)
        for p in unit.positions:
            b = 1.0 if beta is None else beta.get(p.symbol.split("/")[0], 1.0)
            price = p.mark_price * np.maximum(1.0 + shocks * b, 1e-3)
            gain = oracle.pnl(p, price)
            margin = oracle.maintenance(p, rules, price)
            equity[:, u] += gain
            mm[:, u] += margin
            scale[:, u] += np.abs(gain) + np.abs(margin) + oracle.value(p, price)
    return equity, mm, scale


@given(portfolios, betas)
@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_the_book_stress_grid_agrees_with_the_oracle_at_every_shock(portfolio: Portfolio, beta) -> None:
    f = compile_portfolio(portfolio)
    driver, factors = stress_drivers(f.positions, SHOCKS, beta)
    equity, mm = unit_state_moved(f, driver, factors)
    want_equity, want_mm, scale = _oracle_grid(portfolio, f, SHOCKS, beta)
    tolerance = 1e-9 * np.maximum(scale, 1e-9)
    assert np.all(np.abs(equity - want_equity) <= tolerance), np.max(np.abs(equity - want_equity) / tolerance)
    assert np.all(np.abs(mm - want_mm) <= tolerance), np.max(np.abs(mm - want_mm) / tolerance)
    # and the row-by-row evaluation every other caller uses gives the same grid
    row_equity, row_mm = unit_state_at(f, stress_factors(f.positions, SHOCKS, beta))
    assert np.all(np.abs(row_equity - equity) <= tolerance)
    assert np.all(np.abs(row_mm - mm) <= tolerance)


def test_one_driver_per_distinct_beta_and_factors_never_below_a_thousandth() -> None:
    from desk.formats import load_portfolio

    portfolio = load_portfolio("docs/examples/multi-venue.json")
    positions = [p for a in portfolio.accounts for p in a.positions]
    beta = {"BTC": 1.0, "ETH": 1.3, "SOL": 40.0}
    driver, factors = stress_drivers(positions, SHOCKS, beta)
    coins = sorted({p.symbol.split("/")[0] for p in positions})
    assert factors.shape == (len(SHOCKS), len({beta.get(c, 1.0) for c in coins}))
    for p, d in zip(positions, driver.tolist(), strict=True):
        b = beta.get(p.symbol.split("/")[0], 1.0)
        assert np.array_equal(factors[:, d], np.maximum(1.0 + SHOCKS * b, 1e-3))
    if "SOL" in coins:
        assert factors.min() == 1e-3
