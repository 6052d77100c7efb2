"""The monitor compiles its accounts into a plan cache of its own (desk.domain.engine.PlanCache): what
else the process computes (a what-if edit, the demo venue, a chart) cannot replace its live plans."""

from __future__ import annotations

import dataclasses
import functools

from desk.domain.engine import DEFAULT_PLANS, clear_compiled_cache, compute_risk
from desk.domain.model import Portfolio
from desk.services.monitor import default_compute
from tests.support.risk import BTCUSDT_TIERS, account, pos


def test_the_monitors_compute_keeps_its_plans_apart_from_the_shared_cache() -> None:
    live = account("binanceusdm", pos("BTC/USDT:USDT", contracts=2.0, entry=60_000, mark=59_000,
                                      tiers=BTCUSDT_TIERS), USDT=40_000.0)
    clear_compiled_cache()
    compute = default_compute()
    assert isinstance(compute, functools.partial)
    plans = compute.keywords["plans"]
    report = compute(Portfolio((live,)), target=0.5)
    assert not DEFAULT_PLANS.holds(live.name, live.venue)  # compiled in the monitor's own cache
    assert (plans.hits, plans.compiles) == (0, 1)
    # an edited copy of the account computed elsewhere lands in the shared cache only ...
    edited = dataclasses.replace(live, wallets={"USDT": 90_000.0})
    compute_risk(Portfolio((edited,)))
    assert DEFAULT_PLANS.holds(live.name, live.venue)
    # ... and the monitor's figures are still the live account's, equal to a cold computation
    again = compute(Portfolio((live,)), target=0.5)
    assert (plans.hits, plans.compiles) == (1, 1)  # served from the monitor's plan, not compiled again
    clear_compiled_cache()
    assert again == report == compute_risk(Portfolio((live,)), target=0.5)
    # two monitors do not share one cache either
    other = default_compute()
    assert isinstance(other, functools.partial) and other.keywords["plans"] is not plans
