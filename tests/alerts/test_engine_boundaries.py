"""Alert rules at their edges, under a fake clock: a value exactly at a threshold, the cooldown a
critical leaves over the warning, "cannot monitor" when only the REST data is old, a pool alert
in a multi-currency account, and the cooldown of "position gone"."""

from __future__ import annotations

from dataclasses import replace

import pytest

from desk.domain.alerts import AlertLevel
from desk.services.alerts_config import Thresholds
from tests.alerts.factory import pool, position, snapshot
from tests.alerts.test_engine import MIN, feed, levels, make

W, C = AlertLevel.WARNING, AlertLevel.CRITICAL
TH = Thresholds()  # distance 10 % / 5 %, margin ratio 0.5 / 0.8, stale 30 s


@pytest.mark.parametrize(("distance", "level"), [(TH.distance_warning, W), (TH.distance_critical, C)])
def test_a_distance_exactly_at_its_threshold_alerts(distance: float, level: AlertLevel) -> None:
    engine, clock = make()
    assert levels(feed(engine, clock, position(distance=distance))) == [("distance", level)]


@pytest.mark.parametrize(("ratio", "level"), [(TH.margin_ratio_warning, W), (TH.margin_ratio_critical, C)])
def test_a_margin_ratio_exactly_at_its_threshold_alerts(ratio: float, level: AlertLevel) -> None:
    engine, clock = make()
    out = feed(engine, clock, position(margin_ratio=ratio, distance=None))
    assert levels(out) == [("margin_ratio", level)]
    engine, clock = make()
    out = feed(engine, clock, position(mode="cross", distance=None), pools={"main": (pool("USDT", ratio),)})
    assert levels(out) == [("pool_margin_ratio", level)]


def test_a_critical_covers_the_warning_for_its_cooldown() -> None:
    engine, clock = make()
    assert levels(feed(engine, clock, position(distance=0.04))) == [("distance", C)]
    # recovered: said once (the "recovered" event), nothing else
    assert [e.alert.rule for e in feed(engine, clock, position(distance=0.2), advance=MIN)] == ["recovered"]
    # back in the warning band two minutes after the critical: old news, held back
    assert feed(engine, clock, position(distance=0.09), advance=MIN) == []
    assert feed(engine, clock, position(distance=0.09), advance=20 * MIN) == []
    # the critical's cooldown over (30 min after it) and still in the warning band: delivered now
    assert levels(feed(engine, clock, position(distance=0.09), advance=8 * MIN)) == [("distance", W)]


def test_cannot_monitor_when_positions_are_old_even_though_marks_are_fresh() -> None:
    engine, clock = make()
    clock.advance(40)
    snap = snapshot(clock.now, [position()], data_time=clock.now - 31)  # REST last answered 31 s ago
    snap = replace(snap, accounts=tuple(replace(s, oldest_mark_time=clock.now) for s in snap.accounts))
    out = engine.evaluate(snap)
    assert levels(out) == [("stale", C)]
    assert "31 s old" in out[0].alert.title


def test_a_pool_alert_lists_only_the_positions_of_its_own_settle_currency() -> None:
    engine, clock = make()
    usdt = position(mode="cross", distance=None)
    coin = position("BTC/USD:BTC", mode="cross", distance=None, settle="BTC")
    out = feed(engine, clock, usdt, coin, pools={"main": (pool("USDT", 0.85), pool("BTC", 0.1))})
    assert levels(out) == [("pool_margin_ratio", C)]
    body = out[0].alert.body
    assert "1 position(s): BTC/USDT:USDT." in body
    assert "BTC/USD:BTC" not in body


def test_position_gone_alerts_once_per_cooldown() -> None:
    engine, clock = make()
    feed(engine, clock, position(distance=0.04))
    assert levels(feed(engine, clock)) == [("gone", C)]
    # reopened and critical again (its critical alert is in cooldown), then gone again 10 min later
    assert feed(engine, clock, position(distance=0.04), advance=5 * MIN) == []
    assert feed(engine, clock, advance=5 * MIN) == []
    # after the cooldown the same story is news again
    feed(engine, clock, position(distance=0.04), advance=25 * MIN)
    assert ("gone", C) in levels(feed(engine, clock, advance=MIN))


def test_the_ours_vs_theirs_tolerance_has_one_default() -> None:
    from desk.domain.compare import DEFAULT_RELATIVE, DEFAULT_TICKS, Tolerance
    from desk.store.settings import option

    assert Tolerance() == Tolerance(DEFAULT_TICKS, DEFAULT_RELATIVE)
    assert (TH.disagree_ticks, TH.disagree_relative) == (DEFAULT_TICKS, DEFAULT_RELATIVE)
    # the settings store declares its own default for the key (desk.store may not be imported by
    # the domain): it must say the same
    assert option("alerts.disagree_ticks").default == DEFAULT_TICKS
