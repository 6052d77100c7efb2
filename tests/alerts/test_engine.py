"""The alert rule engine under a fake clock: every rule and every hygiene rule."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest

from desk.domain.alerts import AlertLevel
from desk.services.alerts_config import AlertConfig, QuietHours, Thresholds
from desk.services.alerts_engine import AlertEngine, Emission, level_for
from desk.services.snapshot import DataStatus
from tests.alerts.factory import T0, FakeClock, exchange_check, pool, position, snapshot

W, C, INFO = AlertLevel.WARNING, AlertLevel.CRITICAL, AlertLevel.INFO
MIN = 60.0


def make(config: AlertConfig | None = None, *, start_calm: bool = True) -> tuple[AlertEngine, FakeClock]:
    clock = FakeClock()
    engine = AlertEngine(config or AlertConfig(), clock)
    if start_calm:  # get past the restart summary with nothing wrong
        assert engine.evaluate(snapshot(clock.now, [position()])) == []
    return engine, clock


def feed(engine: AlertEngine, clock: FakeClock, *positions, advance: float = 1.0, **kw) -> list[Emission]:
    clock.advance(advance)
    return engine.evaluate(snapshot(clock.now, list(positions), **kw))


def levels(out: list[Emission]) -> list[tuple[str, AlertLevel]]:
    return [(e.alert.rule, e.alert.level) for e in out]


# ---------------------------------------------------------------- rules


def test_distance_warning_then_critical() -> None:
    engine, clock = make()
    assert feed(engine, clock, position(distance=0.11)) == []
    out = feed(engine, clock, position(distance=0.095))
    assert levels(out) == [("distance", W)]
    alert = out[0].alert
    assert (alert.account, alert.symbol, alert.leg) == ("main", "BTC/USDT:USDT", "both")
    assert alert.value == pytest.approx(0.095) and alert.threshold == pytest.approx(0.10)
    assert "9.50 %" in alert.title and out[0].deliver
    out = feed(engine, clock, position(distance=0.049))
    assert levels(out) == [("distance", C)]
    # staying critical does not repeat
    assert feed(engine, clock, position(distance=0.03)) == []


def test_margin_ratio_rule_for_isolated_positions_only() -> None:
    engine, clock = make()
    out = feed(engine, clock, position(margin_ratio=0.55, distance=None))
    assert levels(out) == [("margin_ratio", W)]
    assert levels(feed(engine, clock, position(margin_ratio=0.81, distance=None))) == [("margin_ratio", C)]
    # a cross position's margin ratio is its pool's: the pool rule speaks for it, not each position
    engine, clock = make()
    assert feed(engine, clock, position(margin_ratio=0.9, distance=None, mode="cross")) == []


def test_pool_margin_ratio_for_cross_pools() -> None:
    engine, clock = make()
    cross = position(mode="cross", distance=None)
    out = feed(engine, clock, cross, pools={"main": (pool("USDT", 0.85),)})
    assert levels(out) == [("pool_margin_ratio", C)]
    assert out[0].alert.symbol == "USDT pool" and "85.00 %" in out[0].alert.title
    # a pool with no cross position in it (only isolated ones) is not alerted on
    engine, clock = make()
    assert feed(engine, clock, position(distance=None), pools={"main": (pool("USDT", 0.85),)}) == []


def test_a_position_past_its_liquidation_price_is_critical_whatever_its_distance() -> None:
    """|mark − liq| ÷ mark grows again once the mark is beyond the liquidation price; an isolated
    position whose margin balance is gone has ratio ∞. Neither may hide the most critical state."""
    engine, clock = make()
    out = feed(engine, clock, position(distance=0.20, margin_ratio=math.inf))
    assert levels(out) == [("distance", C)]  # the ratio rule shares the position's cooldown
    past = next(e.alert for e in out if e.alert.rule == "distance")
    assert "PAST LIQUIDATION" in past.title and "margin ratio ≥ 100 %" in past.body
    # a signed distance (the mark is 20 % beyond the liquidation price), never a positive one
    assert "distance -20.00 %" in past.body
    assert past.value == pytest.approx(-0.20) and past.threshold == 0.0
    # cross: the position's ratio is its pool's; an exhausted pool alerts too
    engine, clock = make()
    cross = position(mode="cross", distance=0.25, margin_ratio=math.inf)
    out = feed(engine, clock, cross, pools={"main": (pool("USDT", math.inf),)})
    assert ("distance", C) in levels(out) and ("pool_margin_ratio", C) in levels(out)
    # just past 1.0 with a large distance: still critical
    engine, clock = make()
    out = feed(engine, clock, position(mode="cross", distance=0.15, margin_ratio=1.02))
    assert levels(out) == [("distance", C)]


def test_cannot_monitor_fires_from_tick_without_new_snapshots() -> None:
    engine, clock = make()
    assert feed(engine, clock, position()) == []  # data observed now
    data_time = clock.now
    clock.advance(29)
    assert engine.tick() == []
    clock.advance(1)
    out = engine.tick()
    assert levels(out) == [("stale", C)]
    assert out[0].alert.account == "main" and "30 s old" in out[0].alert.title and out[0].deliver
    # fires once, not every tick
    clock.advance(5)
    assert engine.tick() == []
    # fresh data re-arms it, and the recovery is announced; a new outage after the cooldown alerts again
    back = feed(engine, clock, position(), advance=1)
    assert levels(back) == [("recovered", INFO)] and back[0].deliver
    assert back[0].alert.clears == "stale" and back[0].alert.account == "main"
    assert back[0].alert.condition == out[0].alert.condition == ("stale", "main", None, None)
    assert "monitoring resumed" in back[0].alert.title and "Cannot monitor main" in back[0].alert.body
    clock.advance(31 * MIN)
    assert levels(engine.tick()) == [("stale", C)]
    assert data_time < clock.now


def test_recovery_is_announced_once_per_announced_condition_and_never_muted() -> None:
    engine, clock = make()
    out = feed(engine, clock, position(distance=0.04))
    assert levels(out) == [("distance", C)]
    engine.snooze(clock.now + 3600)
    back = feed(engine, clock, position(distance=0.30))
    assert levels(back) == [("recovered", INFO)] and back[0].deliver  # snoozed, yet it takes back a critical
    assert back[0].alert.condition == out[0].alert.condition
    assert feed(engine, clock, position(distance=0.30)) == []  # once
    # a pool's ratio: same rule, its own condition
    cross = position(mode="cross")
    out = feed(engine, clock, cross, pools={"main": (pool(ratio=0.9),)})
    assert levels(out) == [("pool_margin_ratio", C)]
    back = feed(engine, clock, cross, pools={"main": (pool(ratio=0.1),)})
    assert levels(back) == [("recovered", INFO)]
    assert back[0].alert.condition == ("pool_margin_ratio", "main", "USDT pool", None)


def test_no_recovery_for_a_condition_that_was_never_announced() -> None:
    engine, clock = make()
    feed(engine, clock, position(distance=0.09))
    assert levels(feed(engine, clock, position(distance=0.2), advance=MIN)) == [("recovered", INFO)]
    assert feed(engine, clock, position(distance=0.09), advance=MIN) == []  # held by the cooldown
    assert feed(engine, clock, position(distance=0.2), advance=MIN) == []  # its recovery is no news


def test_cannot_monitor_needs_open_positions() -> None:
    engine, clock = make()
    feed(engine, clock)  # an account with no positions
    clock.advance(120)
    assert engine.tick() == []


def test_numbers_disagree_reads_the_monitors_comparison_at_the_account_read() -> None:
    engine, clock = make()
    p = position(liq=40_000.0, reported_liq=40_000.3, tick=0.1)
    agree = {p.key: exchange_check(40_000.0, 40_000.2, 0.1)}
    assert feed(engine, clock, p, checks=agree) == []  # 2 ticks: within the tolerance
    out = feed(engine, clock, p, checks={p.key: exchange_check(40_000.0, 40_000.3, 0.1)})
    assert levels(out) == [("disagree", W)]
    # at the symbol's tick (0.1), as the table shows them
    assert "the exchange reports 40,000.3; desk computes 40,000.0 from" in out[0].alert.body
    assert "3.0 ticks (tolerance 2 ticks)" in out[0].alert.body


def test_live_figures_apart_do_not_disagree_when_they_agreed_at_the_read() -> None:
    # A cross position's live liquidation price moves with every streamed mark; the exchange's is
    # from the last read. Only the comparison at the read's inputs counts.
    engine, clock = make()
    cross = position(mode="cross", liq=40_000.0, reported_liq=40_400.0, tick=0.1)
    assert feed(engine, clock, cross, checks={cross.key: exchange_check(40_400.1, 40_400.0, 0.1)}) == []
    # and the other way round: live figures equal, the read disagreed by 10 ticks
    engine, clock = make()
    same = position(mode="cross", liq=40_000.0, reported_liq=40_000.0, tick=0.1)
    out = feed(engine, clock, same, checks={same.key: exchange_check(39_999.0, 40_000.0, 0.1)})
    assert levels(out) == [("disagree", W)]


def test_no_comparison_yet_keeps_the_disagree_state() -> None:
    engine, clock = make()
    p = position(liq=40_000.0, reported_liq=40_050.0, tick=0.1)
    assert levels(feed(engine, clock, p, checks={p.key: exchange_check(40_000.0, 40_050.0, 0.1)})) == [
        ("disagree", W)]
    clock.advance(3600)  # past the cooldown: a reset state would fire again
    assert feed(engine, clock, p) == []  # a stream changed it, no new read yet: state kept
    assert levels(feed(engine, clock, p, checks={p.key: exchange_check(40_000.0, 40_050.0, 0.1)})) == []


def test_position_gone_while_critical_is_probably_liquidated() -> None:
    engine, clock = make()
    feed(engine, clock, position(distance=0.04))
    out = feed(engine, clock)  # the account is live and the position is not there any more
    assert levels(out) == [("gone", C)]
    assert "liquidated" in out[0].alert.title


def test_position_gone_after_only_a_warning_is_a_close_not_a_liquidation() -> None:
    engine, clock = make()
    feed(engine, clock, position(distance=0.08))
    assert feed(engine, clock) == []


def test_position_missing_because_the_read_failed_is_not_gone_until_a_good_read() -> None:
    engine, clock = make()
    feed(engine, clock, position(distance=0.04))
    assert feed(engine, clock, status=DataStatus.ERROR) == []
    assert feed(engine, clock, status=DataStatus.STALE) == []
    # the next good read still lacks it: now it is gone (the liquidation happened during the outage)
    assert levels(feed(engine, clock)) == [("gone", C)]
    assert feed(engine, clock) == []  # said once


def test_gone_soon_after_bouncing_back_to_warning_is_still_probably_liquidated() -> None:
    engine, clock = make()
    feed(engine, clock, position(distance=0.04))
    feed(engine, clock, position(distance=0.07))  # bounced into the warning band
    assert levels(feed(engine, clock)) == [("gone", C)]
    # ... but not when the critical moment is long past
    engine, clock = make()
    feed(engine, clock, position(distance=0.04))
    feed(engine, clock, position(distance=0.07), advance=16 * MIN)
    assert feed(engine, clock) == []


def test_a_critical_position_that_recovered_then_closed_is_not_gone() -> None:
    engine, clock = make()
    feed(engine, clock, position(distance=0.04))
    feed(engine, clock, position(distance=0.30))
    assert feed(engine, clock) == []


# ---------------------------------------------------------------- hygiene


def test_hysteresis_rearms_only_past_the_margin() -> None:
    engine, clock = make()
    assert levels(feed(engine, clock, position(distance=0.09))) == [("distance", W)]
    # wobble around the threshold, long after the cooldown: no new alert (not re-armed: below 11 %)
    for d in (0.105, 0.099, 0.109, 0.09):
        assert feed(engine, clock, position(distance=d), advance=40 * MIN) == []
    # recover past 11 % → re-armed (and the recovery is announced); crossing again alerts again
    assert levels(feed(engine, clock, position(distance=0.111), advance=40 * MIN)) == [("recovered", INFO)]
    assert levels(feed(engine, clock, position(distance=0.09), advance=1)) == [("distance", W)]


def test_cooldown_holds_a_repeat_and_delivers_it_when_over_if_still_true() -> None:
    engine, clock = make()
    assert levels(feed(engine, clock, position(distance=0.09))) == [("distance", W)]
    assert levels(feed(engine, clock, position(distance=0.2), advance=MIN)) == [("recovered", INFO)]
    assert feed(engine, clock, position(distance=0.09), advance=MIN) == []  # within cooldown: held
    assert feed(engine, clock, position(distance=0.09), advance=10 * MIN) == []
    out = feed(engine, clock, position(distance=0.09), advance=20 * MIN)  # 30 min after the first
    assert levels(out) == [("distance", W)]
    assert out[0].alert.at == clock.now


def test_cooldown_drops_a_held_alert_that_recovered() -> None:
    engine, clock = make()
    feed(engine, clock, position(distance=0.09))
    feed(engine, clock, position(distance=0.2), advance=MIN)
    feed(engine, clock, position(distance=0.09), advance=MIN)
    feed(engine, clock, position(distance=0.2), advance=MIN)
    assert feed(engine, clock, position(distance=0.2), advance=40 * MIN) == []


def test_cooldown_is_per_position() -> None:
    engine, clock = make()
    a, b = "BTC/USDT:USDT", "ETH/USDT:USDT"
    assert len(feed(engine, clock, position(a, distance=0.09), position(b, distance=0.3))) == 1
    out = feed(engine, clock, position(a, distance=0.09), position(b, distance=0.09))
    assert [e.alert.symbol for e in out] == [b]


def test_risk_rules_share_one_cooldown_per_position() -> None:
    engine, clock = make()
    assert levels(feed(engine, clock, position(distance=0.09, margin_ratio=0.1))) == [("distance", W)]
    # the margin ratio rule reaching warning minutes later is the same news about the same position
    assert feed(engine, clock, position(distance=0.09, margin_ratio=0.6), advance=MIN) == []


def test_escalation_to_critical_fires_at_once_inside_the_warning_cooldown() -> None:
    engine, clock = make()
    assert levels(feed(engine, clock, position(distance=0.09))) == [("distance", W)]
    assert levels(feed(engine, clock, position(distance=0.045), advance=MIN)) == [("distance", C)]


def test_critical_has_its_own_cooldown() -> None:
    engine, clock = make()
    feed(engine, clock, position(distance=0.04))
    feed(engine, clock, position(distance=0.2), advance=MIN)
    assert feed(engine, clock, position(distance=0.04), advance=MIN) == []
    assert levels(feed(engine, clock, position(distance=0.04), advance=30 * MIN)) == [("distance", C)]


def test_digest_when_many_fire_together() -> None:
    engine, clock = make(AlertConfig(digest_threshold=2))
    syms = ["BTC/USDT:USDT", "ETH/USDT:USDT", "SOL/USDT:USDT"]
    out = feed(engine, clock, *(position(s, distance=0.09) for s in syms[:2]))
    assert levels(out) == [("distance", W), ("distance", W)]
    engine, clock = make(AlertConfig(digest_threshold=2))
    out = feed(engine, clock, position(syms[0], distance=0.09), position(syms[1], distance=0.04),
               position(syms[2], distance=0.09))
    assert levels(out) == [("digest", C)]
    assert all(s in out[0].alert.body for s in syms)
    assert out[0].alert.title == "3 alerts (1 critical)"


def test_snooze_mutes_warnings_but_not_critical_and_summarises_at_the_end() -> None:
    engine, clock = make()
    engine.snooze(clock.now + 20)
    out = feed(engine, clock, position(distance=0.09))
    assert levels(out) == [("distance", W)] and out[0].muted == "snoozed"
    out = feed(engine, clock, position(distance=0.04))
    assert levels(out) == [("distance", C)] and out[0].deliver
    clock.advance(17)
    assert engine.tick() == []  # still snoozed
    clock.advance(1)
    out = engine.tick()  # the snooze ends without a new snapshot
    assert levels(out) == [("summary", C)] and out[0].deliver
    assert "mute ended" in out[0].alert.title


def test_snooze_one_subject() -> None:
    engine, clock = make()
    engine.snooze(clock.now + 60 * MIN, subject="main/BTC/USDT:USDT/both")
    out = feed(engine, clock, position(distance=0.09), position("ETH/USDT:USDT", distance=0.09))
    delivered = [(e.alert.symbol, e.deliver) for e in out]
    assert delivered == [("BTC/USDT:USDT", False), ("ETH/USDT:USDT", True)]


def test_quiet_hours_mute_warnings_with_critical_override() -> None:
    night = datetime(2027, 1, 5, 2, 0, tzinfo=UTC).timestamp()
    config = AlertConfig(quiet_hours=QuietHours.parse("23:00-07:00"), tz=UTC)
    clock = FakeClock(night)
    engine = AlertEngine(config, clock)
    engine.evaluate(snapshot(clock.now, [position()]))
    out = feed(engine, clock, position(distance=0.09))
    assert out[0].muted == "quiet hours 23:00-07:00"
    out = feed(engine, clock, position(distance=0.04))
    assert out[0].deliver
    noon = datetime(2027, 1, 5, 12, 0, tzinfo=UTC).timestamp()
    assert not QuietHours.parse("23:00-07:00").contains(noon, UTC)  # type: ignore[union-attr]


def test_restart_gives_one_summary_instead_of_a_burst() -> None:
    engine, clock = make(start_calm=False)
    syms = ["BTC/USDT:USDT", "ETH/USDT:USDT", "SOL/USDT:USDT"]
    held = [position(s, distance=d) for s, d in zip(syms, (0.09, 0.04, 0.3), strict=True)]
    out = engine.evaluate(snapshot(clock.now, held))
    assert levels(out) == [("summary", C)]
    assert "2 risk condition(s)" in out[0].alert.title
    assert syms[0] in out[0].alert.body and syms[1] in out[0].alert.body and syms[2] not in out[0].alert.body
    # and the state it summarised does not fire again
    assert feed(engine, clock, position(syms[0], distance=0.09), position(syms[1], distance=0.04)) == []


def test_restart_with_nothing_wrong_says_nothing() -> None:
    engine, clock = make(start_calm=False)
    assert engine.evaluate(snapshot(clock.now, [position()])) == []


def test_disabled_engine_is_silent() -> None:
    engine, clock = make(AlertConfig(enabled=False), start_calm=False)
    assert engine.evaluate(snapshot(clock.now, [position(distance=0.01)])) == []


# ---------------------------------------------------------------- config


def test_overrides_per_account_and_position() -> None:
    config = AlertConfig(overrides={
        "main": {"alerts.distance_warning": 0.2},
        "main/ETH/USDT:USDT": {"distance_warning": 0.3, "distance_critical": 0.15},
    })
    assert config.thresholds_for("main", "BTC/USDT:USDT").distance_warning == 0.2
    assert config.thresholds_for("main", "ETH/USDT:USDT").distance_critical == 0.15
    assert config.thresholds_for("other").distance_warning == 0.10
    engine, clock = make(config)
    out = feed(engine, clock, position(distance=0.18), position("ETH/USDT:USDT", distance=0.14))
    assert levels(out) == [("distance", W), ("distance", C)]


class FakeSettings:
    def __init__(self, values: dict[str, object], overrides: dict[str, dict[str, object]]):
        self.values, self._overrides = values, overrides

    def get(self, key: str) -> object:
        return self.values[key]

    def overrides(self, scope: str) -> dict[str, object]:
        return self._overrides.get(scope, {})


def test_config_from_settings() -> None:
    settings = FakeSettings(
        {"alerts.enabled": True, "alerts.distance_warning": 0.12, "alerts.cooldown_minutes": 10,
         "alerts.rearm_margin": 0.05,
         "alerts.quiet_hours": "22:30-06:00", "alerts.repeat_critical_minutes": "1,3,20",
         "alerts.digest_threshold": 5},
        {"acct": {"alerts.margin_ratio_warning": 0.4}},
    )
    config = AlertConfig.from_settings(settings)
    assert config.thresholds.distance_warning == 0.12
    assert config.cooldown_seconds == 600 and config.digest_threshold == 5 and config.rearm_margin == 0.05
    assert str(config.quiet_hours) == "22:30-06:00" and config.repeat_schedule == (60.0, 180.0, 1200.0)
    assert config.thresholds_for("acct").margin_ratio_warning == 0.4
    assert config.thresholds_for("other").margin_ratio_warning == 0.5


@pytest.mark.parametrize("bad", ["25:00-07:00", "23:00", "07:00-07:00", "x"])
def test_quiet_hours_bad_input_says_what_is_expected(bad: str) -> None:
    with pytest.raises(ValueError, match=r"alerts\.quiet_hours"):
        QuietHours.parse(bad)


def test_thresholds_in_the_wrong_order_are_refused() -> None:
    with pytest.raises(ValueError, match=r"distance_critical .* must be below"):
        AlertConfig(thresholds=Thresholds(distance_warning=0.05, distance_critical=0.10))


def test_level_for_hysteresis_table() -> None:
    kw = {"higher_is_worse": True, "rearm": 0.1}
    assert level_for(0.79, None, 0.5, 0.8, **kw) is W
    assert level_for(0.75, C, 0.5, 0.8, **kw) is C  # not below 0.72 yet
    assert level_for(0.71, C, 0.5, 0.8, **kw) is W
    assert level_for(0.46, W, 0.5, 0.8, **kw) is W
    assert level_for(0.44, W, 0.5, 0.8, **kw) is None
    assert level_for(T0, None, None, None, **kw) is None


def test_config_from_the_real_settings_store(tmp_path) -> None:
    from desk.store.settings import Settings

    settings = Settings.load(tmp_path / "settings.toml")
    settings.set("alerts.distance_warning", 0.2)
    settings.set("alerts.quiet_hours", "23:00-07:00")
    settings.set_override("main", "alerts.distance_critical", 0.1)
    settings.set_override("main/ETH/USDT:USDT", "alerts.stale_seconds", 90)
    config = AlertConfig.from_settings(settings)
    assert config.thresholds.distance_warning == 0.2
    assert str(config.quiet_hours) == "23:00-07:00"
    assert config.thresholds_for("main").distance_critical == 0.1
    assert config.thresholds_for("main", "ETH/USDT:USDT").stale_seconds == 90
    assert config.thresholds_for("main", "BTC/USDT:USDT").stale_seconds == 30
    defaults = AlertConfig.from_settings(Settings.load(tmp_path / "other.toml"))
    assert defaults.rearm_margin == AlertConfig().rearm_margin
    assert defaults.digest_threshold == AlertConfig().digest_threshold


def test_a_critical_position_with_a_whole_stop_that_is_gone_names_the_stop() -> None:
    from dataclasses import replace

    from desk.domain.model import Kind, MarginMode, Position, Side
    from desk.domain.protection import Order, OrderKind, OrderSide, Verdict, assess

    engine, clock = make()
    held = Position(symbol="BTC/USDT:USDT", settle="USDT", kind=Kind.LINEAR, contracts=1.0, side=Side.LONG,
                    entry_price=60_000.0, mark_price=58_000.0, margin_mode=MarginMode.ISOLATED,
                    isolated_margin=6_000.0)
    stop = Order("BTC/USDT:USDT", OrderKind.STOP, OrderSide.SELL, None, trigger_price=57_000.0,
                 reduce_only=True)
    protection = assess(held, (stop,), liquidation_price=54_300.0, bankruptcy_price=54_000.0, venue="bybit")
    assert protection.verdict is Verdict.PROTECTED  # 57,000 lies between the liquidation and the mark
    feed(engine, clock, replace(position(distance=0.04), protection=protection))
    out = feed(engine, clock)
    assert levels(out) == [("gone", C)]
    assert out[0].alert.title == "BTC/USDT:USDT long is gone — closed by its stop or liquidated"
    assert "stop at 57,000" in out[0].alert.body and "most likely it filled" in out[0].alert.body
