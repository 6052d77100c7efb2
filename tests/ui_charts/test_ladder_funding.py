"""The ladder's side panel shows the selected position's funding (issue 17): the current rate, the
time to the next payment and the liquidation price after 1, 3 and 24 payments at that rate."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest
from pytestqt.qtbot import QtBot

from desk.domain.engine import compute_risk
from desk.domain.model import Portfolio
from desk.domain.scalar import compute_risk_scalar
from desk.domain.whatif import find_position
from desk.ui import formatting as fmt
from desk.ui.charts.ladder import LadderWidget
from tests.support.ui_charts import VICTIM, position_risk


@pytest.fixture
def ladder(qtbot: QtBot) -> LadderWidget:
    widget = LadderWidget()
    qtbot.addWidget(widget)
    widget.resize(900, 420)
    widget.show()
    return widget


def test_side_panel_paints_the_rate_the_next_payment_and_the_drift(ladder: LadderWidget,
                                                                  crash: Portfolio) -> None:
    risk = position_risk(compute_risk(crash), *VICTIM)
    p = find_position(crash, *VICTIM)
    assert p.funding_rate is not None and p.next_funding_time is not None  # the demo gives both
    ladder.clock = lambda: p.next_funding_time - 2 * 3600 - 5 * 60  # 2 h 5 min before the payment
    ladder.show_position(crash, risk)

    # independently: one payment = side × rate × contracts × size × mark, taken from the isolated
    # margin; the scalar oracle on the position alone with n payments less margin
    payment = p.side.sign * p.funding_rate * p.contracts * p.contract_size * p.mark_price
    account = crash.account(VICTIM[0])
    after = []
    for n in (1, 3, 24):
        moved = dataclasses.replace(p, isolated_margin=p.isolated_margin - n * payment)
        report = compute_risk_scalar(Portfolio((dataclasses.replace(account, positions=(moved,)),)))
        after.append(fmt.price(report.accounts[0].positions[0].liquidation_price, p.tick_size))
    rate = f"{p.funding_rate * 100:+.4f} % per {p.funding_interval_hours:g} h"
    clock = f"{datetime.fromtimestamp(p.next_funding_time, UTC):%H:%M} UTC · in 2 h 5 min"
    assert ladder.displayed["funding_rate"] == rate
    assert ladder.displayed["next_funding"] == clock
    assert ladder.displayed["funding_after"] == " / ".join(after)
    painted = ladder.side.text()
    for text in (rate, clock, " / ".join(after), "liquidation after 1 / 3 / 24 payments"):
        assert text in painted


def test_no_rate_no_funding_rows(ladder: LadderWidget, crash: Portfolio) -> None:
    risk = dataclasses.replace(position_risk(compute_risk(crash), *VICTIM), funding_rate=None)
    ladder.show_position(crash, risk)
    assert "funding_rate" not in ladder.displayed and "funding" not in ladder.side.text()
    assert ladder.funding is None


def test_the_drift_follows_a_new_position_or_rate_at_once(ladder: LadderWidget, crash: Portfolio) -> None:
    risk = position_risk(compute_risk(crash), *VICTIM)
    ladder.show_position(crash, risk)
    first = ladder.funding
    assert first is not None and first.rate == risk.funding_rate
    doubled = dataclasses.replace(risk, funding_rate=2 * risk.funding_rate)
    ladder.show_position(crash, doubled)  # within FUNDING_EVERY_SECONDS: a new rate is computed anyway
    assert ladder.funding is not None and ladder.funding.rate == 2 * risk.funding_rate
    assert ladder.funding.payment == pytest.approx(2 * first.payment, rel=1e-12)
