"""Critical reminders until acknowledged, and per-channel routing — pure logic under a fake clock."""

from __future__ import annotations

from datetime import UTC, datetime

from desk.domain.alerts import Alert, AlertLevel
from desk.services.alert_channels import Route
from desk.services.alerts_config import AlertConfig, QuietHours
from desk.services.alerts_engine import AlertEngine
from tests.alerts.factory import FakeClock, position, snapshot

KEY = ("distance", "main", "BTC/USDT:USDT", "both")


def critical_engine(
        schedule: tuple[float, ...] = (120.0, 300.0, 600.0, 900.0)) -> tuple[AlertEngine, FakeClock]:
    clock = FakeClock()
    engine = AlertEngine(AlertConfig(repeat_schedule=schedule), clock)
    engine.evaluate(snapshot(clock(), [position(distance=0.30)]))
    clock.advance(10)
    (first,) = engine.evaluate(snapshot(clock(), [position(distance=0.03)]))
    assert first.alert.level is AlertLevel.CRITICAL and first.alert.repeat == 0
    return engine, clock


def run(engine: AlertEngine, clock: FakeClock, minutes: float,
        distance: float = 0.03) -> list[tuple[float, int]]:
    """Evaluate every 10 s for ``minutes``; (minutes since start, reminder number) of each reminder."""
    start = clock()
    out = []
    for _ in range(int(minutes * 6)):
        clock.advance(10)
        for e in engine.evaluate(snapshot(clock(), [position(distance=distance)])) + engine.tick():
            if e.alert.repeat:
                out.append((round((clock() - start) / 60, 2), e.alert.repeat))
    return out


def test_critical_repeats_at_2_5_10_then_every_15_minutes() -> None:
    engine, clock = critical_engine()
    assert run(engine, clock, 56) == [(2, 1), (5, 2), (10, 3), (25, 4), (40, 5), (55, 6)]


def test_a_reminder_carries_the_current_numbers_and_says_how_to_stop_it() -> None:
    engine, clock = critical_engine()
    clock.advance(120)
    (reminder,) = [e.alert for e in engine.evaluate(snapshot(clock(), [position(distance=0.02)]))]
    assert reminder.title == "Still critical after 2 min: BTC/USDT:USDT long: 2.00 % from liquidation"
    assert reminder.condition == KEY and "desk alerts ack" in reminder.body
    assert reminder.level is AlertLevel.CRITICAL


def test_acknowledging_stops_the_reminders_until_it_recovers_and_turns_critical_again() -> None:
    engine, clock = critical_engine()
    assert run(engine, clock, 3) == [(2, 1)]
    assert [a.condition for a in engine.acknowledge(KEY)] == [KEY]
    assert engine.acknowledge(KEY) == []  # already acknowledged
    assert run(engine, clock, 60) == []
    recovered = run(engine, clock, 1, distance=0.30)
    assert recovered == []
    clock.advance(10)
    again = engine.evaluate(snapshot(clock(), [position(distance=0.03)]))
    # an hour on, past the cooldown: a new critical alert, and its reminders start anew
    assert [(e.alert.level, e.alert.repeat) for e in again] == [(AlertLevel.CRITICAL, 0)]
    assert run(engine, clock, 11) == [(2, 1), (5, 2), (10, 3)]


def test_recovery_and_falling_back_to_warning_end_the_reminders() -> None:
    engine, clock = critical_engine()
    assert run(engine, clock, 2.5) == [(2, 1)]
    clock.advance(10)
    emitted = engine.evaluate(snapshot(clock(), [position(distance=0.08)]))  # back in the warning band
    assert not any(e.alert.repeat for e in emitted)
    assert run(engine, clock, 30, distance=0.08) == []
    assert engine.repeating() == []


def test_acknowledge_all_and_no_schedule() -> None:
    engine, clock = critical_engine()
    assert [a.condition for a in engine.acknowledge(None)] == [KEY]
    assert run(engine, clock, 20) == []
    engine, clock = critical_engine(schedule=())
    assert run(engine, clock, 60) == []


def alert(level: AlertLevel, at: float = 0.0, rule: str = "distance", symbol: str = "BTC") -> Alert:
    return Alert(at=at, rule=rule, level=level, title=f"{symbol} {level.value}", body="", account="main",
                 symbol=symbol, leg="both")


def at_utc(hour: int, minute: int = 0) -> float:
    return datetime(2027, 1, 5, hour, minute, tzinfo=UTC).timestamp()


def test_route_minimum_level_and_quiet_hours_with_critical_override() -> None:
    night = QuietHours.parse("23:00-07:00")
    phone = Route("phone", min_level=AlertLevel.CRITICAL, quiet_hours=night, tz=UTC)
    assert phone.admit(alert(AlertLevel.WARNING), at_utc(12)) == (False, None)  # below its level: not logged
    assert phone.admit(alert(AlertLevel.CRITICAL), at_utc(3)) == (True, None)  # critical breaks quiet hours
    strict = Route("strict", quiet_hours=night, critical_overrides_quiet=False, tz=UTC)
    quiet = (False, "quiet hours 23:00-07:00 on this channel")
    assert strict.admit(alert(AlertLevel.CRITICAL), at_utc(3)) == quiet
    assert strict.admit(alert(AlertLevel.WARNING), at_utc(22, 59)) == (True, None)
    assert strict.admit(alert(AlertLevel.CRITICAL), at_utc(7)) == (True, None)


def test_recovered_goes_once_and_only_to_a_channel_that_got_the_alert() -> None:
    phone = Route("phone", min_level=AlertLevel.CRITICAL)
    chat = Route("chat", min_level=AlertLevel.WARNING)
    warning = alert(AlertLevel.WARNING)
    recovered = Alert(at=1, rule="recovered", level=AlertLevel.INFO, title="Recovered", body="",
                      account="main", symbol="BTC", leg="both", clears="distance")
    assert phone.admit(warning, 0) == (False, None) and chat.admit(warning, 0) == (True, None)
    assert phone.admit(recovered, 1) == (False, None)
    assert chat.admit(recovered, 1) == (True, None)
    assert chat.admit(recovered, 2) == (False, None)  # once


def test_a_burst_is_held_and_sent_as_one_digest_at_the_end_of_the_window() -> None:
    route = Route("chat", digest_after=2, digest_seconds=600.0)
    sent = [route.admit(alert(AlertLevel.WARNING, symbol=f"S{i}"), 10.0 * i) for i in range(5)]
    assert sent[:2] == [(True, None), (True, None)]
    assert sent[2:] == [(False, "held for this channel's digest")] * 3
    for i in range(2, 5):
        route.hold(i, alert(AlertLevel.WARNING, symbol=f"S{i}"))
    assert route.admit(alert(AlertLevel.CRITICAL, symbol="X"), 50.0) == (True, None)  # never held
    assert route.due_digest(20.0 + 599) is None
    ids, digest = route.due_digest(20.0 + 600) or ((), None)
    assert ids == (2, 3, 4) and digest is not None
    assert digest.title == "3 alerts held during a burst" and digest.body.splitlines() == [
        "[warning] S2 warning", "[warning] S3 warning", "[warning] S4 warning"]
    assert route.admit(alert(AlertLevel.WARNING, symbol="later"), 20.0 + 601) == (True, None)
