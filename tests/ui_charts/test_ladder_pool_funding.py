"""The ladder's side panel for a cross position shows its pool under the funding of every cross
position in it (issue 17), each paying on its own interval: the pool's ratio and this position's
liquidation after 1 / 8 / 24 h, and when funding alone liquidates the pool — checked against the
stepped simulation of tests/support/funding_sim.py, on what the panel paints."""

from __future__ import annotations

import dataclasses

import pytest
from pytestqt.qtbot import QtBot

from desk.domain.engine import compute_risk
from desk.domain.model import AccountMargin, Collateral, Portfolio
from desk.ui import formatting as fmt
from desk.ui.charts.ladder import LadderWidget
from tests.support.funding_sim import HOUR, at, first_liquidation, simulate
from tests.support.ui_charts import CROSS, VICTIM, position_risk

# the hedge-mode pool of demo-binance-usdm with schedules of 1 h (both BTC legs), 4 h (ETH) and 8 h (SOL)
SCHEDULE = {"BTC/USDT:USDT": (0.004, 600.0, 1.0), "ETH/USDT:USDT": (0.003, 2 * HOUR, 4.0),
            "SOL/USDT:USDT": (-0.002, 5 * HOUR, 8.0)}


def mixed(crash: Portfolio, **override: tuple[float, float, float] | None) -> Portfolio:
    schedule = {**SCHEDULE, **override}
    accounts = []
    for acc in crash.accounts:
        if acc.name == CROSS[0]:
            assert acc.data_time is not None
            positions = []
            for p in acc.positions:
                rate, after, hours = schedule[p.symbol] or (None, None, None)
                positions.append(dataclasses.replace(
                    p, funding_rate=rate, funding_interval_hours=hours,
                    next_funding_time=None if after is None else acc.data_time + after))
            acc = dataclasses.replace(acc, positions=tuple(positions))
        accounts.append(acc)
    return dataclasses.replace(crash, accounts=tuple(accounts))


@pytest.fixture
def ladder(qtbot: QtBot) -> LadderWidget:
    widget = LadderWidget()
    qtbot.addWidget(widget)
    widget.resize(1100, 520)
    widget.show()
    return widget


def test_a_cross_position_paints_its_pool_after_1_8_24_hours_and_the_time_funding_liquidates_it(
        ladder: LadderWidget, crash: Portfolio) -> None:
    portfolio = mixed(crash)
    acc = portfolio.account(CROSS[0])
    risk = position_risk(compute_risk(portfolio), *CROSS)
    ladder.show_position(portfolio, risk)
    origin = acc.data_time  # the schedule counts from when the account was read
    history = simulate(acc, "USDT", origin, origin + 60 * 24 * HOUR)
    ratios, prices = [], []
    for hours in (1, 8, 24):
        want = at(history, origin + hours * HOUR)
        ratios.append(fmt.margin_ratio(want["ratio"]))
        prices.append(next(fmt.price(x, risk.tick_size) for symbol, leg, x in want["liquidation"]
                           if (symbol, leg) == CROSS[1:]))
    when = first_liquidation(history)
    assert when is not None
    alone = f"{fmt.hours((when - origin) / HOUR)} · {fmt.utc_datetime(when)}"
    assert ladder.displayed["pool_funding_ratio"] == " / ".join(ratios)
    assert ladder.displayed["pool_funding_after"] == " / ".join(prices)
    assert ladder.displayed["pool_funding_alone"] == alone
    assert "pool_funding_unknown" not in ladder.displayed
    painted = ladder.side.text()
    for text in ("pool ratio after 1 / 8 / 24 h", " / ".join(ratios),
                 "liq. after 1 / 8 / 24 h (pool)", " / ".join(prices),
                 "pool funding alone liquidates", alone):
        assert text in painted


def test_unknown_funding_is_named_and_isolated_or_pooled_positions_get_no_pool_rows(
        ladder: LadderWidget, crash: Portfolio) -> None:
    portfolio = mixed(crash, **{"SOL/USDT:USDT": None})
    ladder.show_position(portfolio, position_risk(compute_risk(portfolio), *CROSS))
    assert ladder.displayed["pool_funding_unknown"] == "SOL/USDT:USDT"
    assert "funding unknown (counted as none)" in ladder.side.text()
    ladder.show_position(portfolio, position_risk(compute_risk(portfolio), *VICTIM))  # isolated
    assert ladder.pool_funding is None and "pool_funding_ratio" not in ladder.displayed
    assert "pool ratio" not in ladder.side.text()
    usdt = Collateral("USDT", portfolio.account(CROSS[0]).wallet("USDT"), 1.0)
    pooled = dataclasses.replace(portfolio, accounts=tuple(
        dataclasses.replace(a, margin=AccountMargin(mode="binance multi-assets", collateral=(usdt,)))
        if a.name == CROSS[0] else a for a in portfolio.accounts))
    ladder.show_position(pooled, position_risk(compute_risk(pooled), *CROSS))
    assert ladder.pool_funding is None and "pool ratio" not in ladder.side.text()
