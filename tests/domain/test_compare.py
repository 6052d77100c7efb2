"""Ours vs the exchange's liquidation price: the gap in ticks (relative without a tick size)."""

from __future__ import annotations

import math

import pytest

from desk.domain.compare import Tolerance, liquidation_gap


@pytest.mark.parametrize(("theirs", "ticks", "disagrees"), [
    (54_300.2, 2.0, False),  # exactly the 2-tick tolerance
    (54_300.3, 3.0, True),
    (54_299.6, 4.0, True),
    (54_300.0, 0.0, False),
])
def test_gap_in_ticks(theirs: float, ticks: float, disagrees: bool) -> None:
    gap = liquidation_gap(54_300.0, theirs, 0.1)
    assert gap is not None
    assert gap.ticks == pytest.approx(ticks)
    assert gap.disagrees is disagrees
    assert gap.tolerance == "2 ticks"
    assert gap.relative == pytest.approx(abs(54_300.0 - theirs) / theirs)


def test_relative_fallback_without_a_tick_size() -> None:
    # 0.1 % of 40,000 = 40
    close = liquidation_gap(40_000.0, 40_030.0, None)
    far = liquidation_gap(40_000.0, 40_050.0, 0.0)
    assert close is not None and far is not None
    assert close.ticks is None and not close.disagrees
    assert far.disagrees and far.tolerance == "0.1 %"


def test_tolerance_is_configurable() -> None:
    gap = liquidation_gap(54_300.0, 54_300.4, 0.1, Tolerance(ticks=5))
    assert gap is not None and not gap.disagrees


def test_nothing_to_compare_without_the_exchanges_figure() -> None:
    assert liquidation_gap(54_300.0, None, 0.1) is None
    assert liquidation_gap(54_300.0, math.nan, 0.1) is None


def test_exchange_finds_a_liquidation_desk_does_not() -> None:
    gap = liquidation_gap(None, 1_500.0, 0.01)
    assert gap is not None and gap.disagrees and gap.ours is None and gap.ticks is None


@pytest.mark.parametrize(("tick", "offset_of_ours", "warned"), [
    (0.1, 0.2, False),  # 2 ticks: within the tolerance the alerts use
    (0.1, 0.3, True),  # 3 ticks
    (None, 0.0008, False),  # no tick size: 0.08 % (the report flagged it at 0.05 % before)
    (None, 0.0012, True),  # 0.12 % > 0.1 %
])
def test_the_report_warns_where_the_alerts_say_ours_and_theirs_disagree(tick, offset_of_ours, warned) -> None:
    """One rule for "desk's and the venue's liquidation price disagree": the report's warning and
    the alerts' comparison (liquidation_gap with the default tolerance) say the same."""
    import dataclasses

    from desk.domain.engine import compute_risk
    from desk.domain.model import Portfolio, Reported
    from tests.support.risk import account, pos

    plain = pos(contracts=1, entry=60_000, mark=59_000, mmr=0.005)
    ours = compute_risk(Portfolio((account("binanceusdm", dataclasses.replace(plain, tick_size=tick)),)))
    liq = ours.accounts[0].positions[0].liquidation_price
    assert liq is not None
    theirs = liq + offset_of_ours if tick else liq * (1 + offset_of_ours)
    reported = dataclasses.replace(plain, tick_size=tick, reported=Reported(theirs))
    report = compute_risk(Portfolio((account("binanceusdm", reported),)))
    warnings = [w for w in report.accounts[0].warnings if "differs from desk's" in w]
    assert bool(warnings) is warned, warnings
    gap = liquidation_gap(liq, theirs, tick)
    assert gap is not None and gap.disagrees is warned
