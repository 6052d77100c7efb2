"""The monitor's loop with scripted readers: recompute on change, data age, failures, clean stop."""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from collections.abc import Iterator
from dataclasses import replace

import pytest

from desk.exchanges.base import ErrorKind, VenueError
from desk.services.bus import EventBus
from desk.services.monitor import Monitor, MonitorConfig
from desk.services.snapshot import DataStatus, MonitorSnapshot
from tests.support.monitor import ManualClock, Recorder, ScriptedReader, position, stub_compute

FAST = MonitorConfig(live_seconds=0.3, stale_seconds=1.0, reconcile_seconds=0.5, poll_seconds=0.2,
                     backoff_initial=0.05, backoff_max=0.2, quick_reconcile_seconds=0.05)
BTC, ETH = "BTC/USDT:USDT", "ETH/USDT:USDT"
# waits below are hang guards only: a condition met late on a loaded machine still passes;
# data ages on an injected ManualClock where a test is about ages, never on the wall clock
HANG_GUARD = 60.0


class Harness:
    def __init__(self, *readers: ScriptedReader, config: MonitorConfig = FAST, clock=time.time, compute=None):
        self.bus = EventBus()
        self.events = Recorder()
        self.bus.subscribe(self.events)
        self.calls: list[tuple[str, ...]] = []

        def counting(portfolio, *, target=None):
            self.calls.append(tuple(a.name for a in portfolio.accounts))
            return (compute or stub_compute)(portfolio, target=target)

        self.monitor = Monitor(list(readers), self.bus, config=config, compute=counting, clock=clock)

    def snapshot(self, predicate, what="snapshot", timeout=HANG_GUARD) -> MonitorSnapshot:
        return self.events.wait_snapshot(predicate, timeout, what)


@pytest.fixture
def harness_factory() -> Iterator:
    made: list[Harness] = []

    def make(*readers, **kw) -> Harness:
        h = Harness(*readers, **kw)
        made.append(h)
        h.monitor.start()
        return h

    yield make
    for h in made:
        assert h.monitor.stop(HANG_GUARD), "monitor thread did not stop"


def account_tasks(monitor: Monitor, name: str) -> list[str]:
    """The names of an account's running tasks (call on the monitor's loop)."""
    return sorted(t.get_name() for t in monitor._runs[name].tasks if not t.done())


def status_of(snap: MonitorSnapshot, account: str, symbol: str = BTC) -> DataStatus:
    return snap.positions[(account, symbol, "both", "cross")].status


def report_mark(snap: MonitorSnapshot, symbol: str = BTC) -> float | None:
    return next((p.mark_price for p in snap.report.positions() if p.symbol == symbol), None)


def test_publishes_live_snapshots_and_recomputes_on_each_mark(harness_factory):
    clock = ManualClock()
    reader = ScriptedReader("main", (position(BTC), position(ETH, mark=3000.0)), clock=clock)
    h = harness_factory(reader, clock=clock)
    first = h.snapshot(lambda s: s.report.accounts and reader.marks_subscribed, "first report")
    assert first.account_state("main").status is DataStatus.LIVE
    # no account stream: REST reads at the polling interval, as the table's "Liq. exchange" age
    # is judged against
    assert first.account_state("main").read_interval == FAST.poll_seconds
    assert reader.mark_subscriptions == [(BTC, ETH)]
    clock.advance(0.25)
    reader.push_marks({BTC: 61_234.5})
    snap = h.snapshot(lambda s: report_mark(s) == 61_234.5, "streamed mark in the report")
    assert snap.portfolio.account("main").positions[0].mark_time == clock()  # stamped when it arrived
    assert report_mark(snap, ETH) == 3000.0
    assert h.monitor.latest().seq >= snap.seq
    assert h.events.changes[0].old is None  # the first status of an account is announced too


def test_recomputes_only_the_account_that_changed(harness_factory):
    a, b = ScriptedReader("a", (position(BTC),)), ScriptedReader("b", (position(BTC),))
    h = harness_factory(a, b)
    h.snapshot(lambda s: len(s.report.accounts) == 2 and a.marks_subscribed and b.marks_subscribed)
    h.calls.clear()
    for i in range(5):
        a.push_marks({BTC: 60_000.0 + i})
    snap = h.snapshot(lambda s: report_mark(s) == 60_004.0)
    assert h.calls and set(h.calls) == {("a",)}
    assert [acc.name for acc in snap.report.accounts] == ["a", "b"]


def test_silent_mark_stream_turns_positions_delayed_then_stale_and_back(harness_factory):
    clock = ManualClock()
    reader = ScriptedReader("main", (position(BTC),), clock=clock, streams_positions=True)
    config = replace(FAST, reconcile_seconds=1000.0, poll_seconds=1000.0, stale_seconds=20.0,
                     live_seconds=5.0, backoff_initial=1000.0, backoff_max=1000.0)
    h = harness_factory(reader, config=config, clock=clock)
    h.snapshot(lambda s: s.report.accounts and reader.marks_subscribed and reader.account_subscriptions)
    reader.push_marks({BTC: 60_100.0})
    h.snapshot(lambda s: report_mark(s) == 60_100.0)
    clock.advance(6)  # nothing arrives: the timer alone must age the data
    delayed = h.snapshot(lambda s: status_of(s, "main") is DataStatus.DELAYED, "delayed")
    assert delayed.positions[("main", BTC, "both", "cross")].reason.startswith("no mark price for 6.0 s")
    clock.advance(15)
    stale = h.snapshot(lambda s: status_of(s, "main") is DataStatus.STALE, "stale")
    assert stale.account_state("main").status is DataStatus.STALE
    assert "mark stream silent" in stale.account_state("main").reason
    assert [(c.old, c.new) for c in h.events.changes][-2:] == [
        (DataStatus.LIVE, DataStatus.DELAYED), (DataStatus.DELAYED, DataStatus.STALE)]
    # the stale position keeps its last values in the portfolio and the report
    assert report_mark(stale) == 60_100.0
    reader.push_marks({BTC: 60_200.0})
    back = h.snapshot(lambda s: status_of(s, "main") is DataStatus.LIVE and report_mark(s) == 60_200.0)
    assert back.account_state("main").reason is None
    assert h.events.changes[-1].new is DataStatus.LIVE


def test_retryable_rest_failure_backs_off_honours_retry_after_and_recovers(harness_factory):
    reader = ScriptedReader("main", (position(BTC),), streams_marks=False)
    h = harness_factory(reader)
    h.snapshot(lambda s: s.report.accounts)
    reader.rest_error = VenueError(ErrorKind.RATE_LIMIT, "rate limited (HTTP 429)", retry_after=0.6)
    failing = h.snapshot(lambda s: s.account_state("main").status is DataStatus.STALE, "stale")
    assert "REST failing: rate limited (HTTP 429)" in failing.account_state("main").reason
    assert report_mark(failing) == 60_000.0  # still in view
    calls = list(reader.snapshot_calls)
    gaps = [b - a for a, b in itertools.pairwise(calls[1:])]  # between failing attempts
    assert gaps and min(gaps) >= 0.55  # retry_after honoured between failing attempts
    reader.rest_error = None
    h.snapshot(lambda s: s.account_state("main").status is DataStatus.LIVE, "recovered")


def test_failing_reads_turn_stale_once_the_clock_passes_the_threshold_and_not_before(harness_factory):
    clock = ManualClock()
    reader = ScriptedReader("main", (position(BTC),), streams_marks=False, clock=clock)
    h = harness_factory(reader, clock=clock)
    h.snapshot(lambda s: s.account_state("main").status is DataStatus.LIVE, "live")
    reader.rest_error = VenueError(ErrorKind.NETWORK, "connection reset by peer")
    failed = len(reader.snapshot_calls)
    h.events.wait_for(lambda: len(reader.snapshot_calls) >= failed + 2, HANG_GUARD, "failing reads")
    clock.advance(FAST.stale_seconds - 0.05)  # the last good data is now just inside the threshold
    before = h.snapshot(lambda s: s.at == clock(), "a verdict at the new time")
    assert before.account_state("main").status is DataStatus.DELAYED
    assert "REST failing: connection reset by peer" in before.account_state("main").reason
    clock.advance(0.1)  # and now just past it
    after = h.snapshot(lambda s: s.at == clock(), "a verdict past the threshold")
    assert after.account_state("main").status is DataStatus.STALE
    assert status_of(after, "main") is DataStatus.STALE
    assert "REST failing: connection reset by peer" in after.account_state("main").reason
    assert report_mark(after) == 60_000.0  # still in view
    reader.rest_error = None
    h.snapshot(lambda s: s.account_state("main").status is DataStatus.LIVE, "recovered")


def test_authentication_failure_stops_polling_keeps_positions_and_restart_resumes(harness_factory):
    reader = ScriptedReader("main", (position(BTC),), streams_marks=False)
    h = harness_factory(reader)
    h.snapshot(lambda s: s.report.accounts)
    reader.rest_error = VenueError(ErrorKind.AUTH, "API key rejected (HTTP 401)")
    err = h.snapshot(lambda s: s.account_state("main").status is DataStatus.ERROR, "error")
    state = err.account_state("main")
    assert state.stopped and "API key rejected" in state.reason
    assert status_of(err, "main") is DataStatus.ERROR
    assert report_mark(err) == 60_000.0
    # no more requests: the stopped account has no task left that could poll
    assert h.events.wait_for(lambda: not h.monitor.call(lambda: account_tasks(h.monitor, "main")),
                             HANG_GUARD, "the stopped account's tasks to end")
    reader.rest_error = None
    h.monitor.restart_account("main").result(2)
    resumed = h.snapshot(lambda s: s.account_state("main").status is DataStatus.LIVE, "resumed")
    assert not resumed.account_state("main").stopped


def test_streamed_account_update_keeps_mark_and_liquidation_from_rest(harness_factory):
    reader = ScriptedReader("main", (position(BTC, liq=50_000.0),), streams_positions=True,
                            streams_marks=False)
    config = replace(FAST, reconcile_seconds=1000.0)
    h = harness_factory(reader, config=config)
    h.snapshot(lambda s: s.report.accounts and reader.account_subscriptions)
    # the ccxt Binance stream: same exposure, mark and liquidation missing
    reader.push_account(replace(position(BTC, mark=0.0, liq=None), tiers=()))
    snap = h.snapshot(lambda s: s.account_state("main").streaming, "stream message seen")
    (row,) = snap.report.positions()
    assert row.mark_price == 60_000.0 and row.reported_liquidation_price == 50_000.0
    assert snap.portfolio.account("main").positions[0].tiers  # tiers kept


def test_resized_position_on_stream_triggers_a_quick_reconcile(harness_factory):
    reader = ScriptedReader("main", (position(BTC, liq=50_000.0),), streams_positions=True,
                            streams_marks=False)
    h = harness_factory(reader, config=replace(FAST, reconcile_seconds=1000.0, poll_seconds=1000.0))
    h.snapshot(lambda s: s.report.accounts and reader.account_subscriptions)
    calls = len(reader.snapshot_calls)
    reader.set_positions(position(BTC, contracts=2, liq=52_000.0))
    reader.push_account(position(BTC, contracts=2, mark=0.0, liq=None))
    snap = h.snapshot(lambda s: s.report.positions()[0].reported_liquidation_price == 52_000.0, "reconciled")
    assert len(reader.snapshot_calls) == calls + 1
    assert snap.report.positions()[0].contracts == 2


def test_polling_fallback_without_streams(harness_factory):
    # the data ages on a clock that stands still: LIVE below is the monitor's verdict, not the
    # machine's speed; reconcile_seconds far away, so repeated reads can only be the polling
    clock = ManualClock()
    reader = ScriptedReader("main", (position(BTC),), streams_marks=False, clock=clock)
    h = harness_factory(reader, clock=clock, config=replace(FAST, reconcile_seconds=1000.0))
    h.snapshot(lambda s: s.report.accounts)
    h.events.wait_for(lambda: len(reader.snapshot_calls) >= 6, HANG_GUARD, "six polls")
    calls = list(reader.snapshot_calls)
    snap = h.snapshot(lambda s: s.account_state("main").request_weight_per_min >= 10.0 * len(calls),
                      "the polls counted")
    gaps = [b - a for a, b in itertools.pairwise(calls)]
    assert min(gaps) >= 0.18  # every poll_seconds (0.2 s), never faster
    assert snap.account_state("main").status is DataStatus.LIVE
    # the clock stands still, so the per-minute window holds every read published so far
    weight = snap.account_state("main").request_weight_per_min
    assert 10.0 * len(calls) <= weight <= 10.0 * len(reader.snapshot_calls)


def test_reconcile_runs_beside_healthy_streams(harness_factory):
    # the streams stay healthy on a clock that stands still (one mark is "just now" for ever)
    # and are never torn down as silent (silence_seconds follows stale_seconds), so how fast
    # the machine delivers marks cannot switch the monitor back to polling
    clock = ManualClock()
    reader = ScriptedReader("main", (position(BTC),), streams_positions=True, clock=clock)
    h = harness_factory(reader, clock=clock, config=replace(FAST, stale_seconds=1000.0))
    h.snapshot(lambda s: s.report.accounts and reader.marks_subscribed and reader.account_subscriptions)
    reader.push_marks({BTC: 60_000.0})
    h.snapshot(lambda s: s.account_state("main").streaming, "streams healthy")
    before = len(reader.snapshot_calls)
    h.events.wait_for(lambda: len(reader.snapshot_calls) >= before + 4, HANG_GUARD, "four reconcile reads")
    calls = reader.snapshot_calls[before:]
    gaps = [b - a for a, b in itertools.pairwise(calls)]
    # every reconcile_seconds (0.5 s), not the 0.2 s polling rate
    assert gaps and min(gaps) >= 0.45, gaps


def test_mark_stream_failure_reconnects_and_polls_meanwhile(harness_factory):
    reader = ScriptedReader("main", (position(BTC),))
    h = harness_factory(reader)
    h.snapshot(lambda s: reader.marks_subscribed and s.report.accounts)
    reader.break_marks(VenueError(ErrorKind.NETWORK, "connection reset by peer"))
    down = h.snapshot(lambda s: not s.account_state("main").streaming and len(reader.mark_subscriptions) >= 1)
    assert down is not None
    h.events.wait_for(lambda: len(reader.mark_subscriptions) >= 2, what="resubscribe")
    reader.push_marks({BTC: 60_500.0})
    h.snapshot(lambda s: report_mark(s) == 60_500.0 and s.account_state("main").streaming)


def test_new_position_resubscribes_marks_for_its_symbol(harness_factory):
    reader = ScriptedReader("main", (position(BTC),))
    h = harness_factory(reader)
    h.snapshot(lambda s: reader.marks_subscribed)
    reader.set_positions(position(BTC), position(ETH, mark=3000.0))
    h.events.wait_for(lambda: (BTC, ETH) in reader.mark_subscriptions, what="resubscription")
    reader.push_marks({ETH: 3100.0})
    h.snapshot(lambda s: any(p.symbol == ETH and p.mark_price == 3100.0 for p in s.report.positions()))


def test_silent_mark_stream_is_torn_down_and_reopened(harness_factory):
    reader = ScriptedReader("main", (position(BTC),))
    h = harness_factory(reader, config=replace(FAST, reconcile_seconds=1000.0))
    h.snapshot(lambda s: reader.marks_subscribed)
    # no mark message for stale_seconds (1 s): the monitor must re-subscribe on its own
    h.events.wait_for(lambda: len(reader.mark_subscriptions) >= 2, timeout=HANG_GUARD,
                      what="reconnect after silence")


def test_risk_failure_marks_the_account_in_error_and_keeps_the_last_numbers(harness_factory):
    reader = ScriptedReader("main", (position(BTC),))
    broken = {"on": False}

    def compute(portfolio, *, target=None):
        if broken["on"]:
            raise ValueError("tier table has a gap")
        return stub_compute(portfolio, target=target)

    h = harness_factory(reader, compute=compute)
    h.snapshot(lambda s: reader.marks_subscribed and s.report.accounts)
    broken["on"] = True
    reader.push_marks({BTC: 59_000.0})
    snap = h.snapshot(lambda s: s.account_state("main").status is DataStatus.ERROR)
    assert "risk could not be computed: ValueError: tier table has a gap" in snap.account_state("main").reason
    assert report_mark(snap) == 60_000.0  # the last computed report stays on view, marked error


def test_submit_runs_on_the_monitor_thread_and_stop_closes_everything():
    reader = ScriptedReader("main", (position(BTC),))
    bus = EventBus()
    events = Recorder()
    bus.subscribe(events)
    monitor = Monitor([reader], bus, config=FAST, compute=stub_compute)
    monitor.start()

    async def where():
        await asyncio.sleep(0)
        return threading.current_thread().name

    assert monitor.submit(where()).result(HANG_GUARD) == "desk-monitor"
    # stop with every kind of task running: the REST loop and the open mark stream
    events.wait_snapshot(lambda s: s.report.accounts and reader.marks_subscribed, HANG_GUARD, "subscribed")
    assert monitor.stop(HANG_GUARD)
    assert reader.closed
    assert not monitor.running
    assert not any(t.name == "desk-monitor" for t in threading.enumerate())
    with pytest.raises(RuntimeError):
        monitor.submit(where())


def test_duplicate_account_names_are_refused():
    with pytest.raises(ValueError, match="repeated: a"):
        Monitor([ScriptedReader("a"), ScriptedReader("a")], EventBus(), compute=stub_compute)


def test_a_stream_the_venue_refuses_falls_back_to_polling_not_to_error(harness_factory):
    reader = ScriptedReader("main", (position(BTC),))
    h = harness_factory(reader)
    h.snapshot(lambda s: reader.marks_subscribed and s.report.accounts)
    reader.break_marks(VenueError(ErrorKind.CONFIG, "binanceusdm has no mark stream"))
    calls = len(reader.snapshot_calls)
    h.events.wait_for(lambda: len(reader.snapshot_calls) >= calls + 3, HANG_GUARD, "polling instead")
    snap = h.monitor.latest()
    assert snap.account_state("main").status is DataStatus.LIVE and not snap.account_state("main").stopped
    assert len(reader.mark_subscriptions) == 1  # not re-subscribed


def test_a_stream_rejecting_the_key_stops_the_account(harness_factory):
    reader = ScriptedReader("main", (position(BTC),))
    h = harness_factory(reader)
    h.snapshot(lambda s: reader.marks_subscribed and s.report.accounts)
    reader.break_marks(VenueError(ErrorKind.AUTH, "listen key rejected"))
    snap = h.snapshot(lambda s: s.account_state("main").status is DataStatus.ERROR)
    assert snap.account_state("main").stopped and "listen key rejected" in snap.account_state("main").reason
