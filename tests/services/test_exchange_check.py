"""Ours vs the exchange's liquidation price, compared once per account read at that read's marks.

The scripted exchange reports liquidation prices computed (by desk's engine, rounded to the tick
as venues display them) at the marks of its read — what a venue does (risk-math.md §7.7). Marks
streamed afterwards move desk's live cross figures away from that report without anything being
wrong; a report off by 10 ticks at the same inputs is a real disagreement.
"""

from __future__ import annotations

import time
from dataclasses import replace

import pytest

from desk.domain.engine import compute_risk
from desk.domain.model import Account, Position, Reported
from desk.services.alerts_config import AlertConfig
from desk.services.alerts_engine import AlertEngine
from desk.services.bus import EventBus
from desk.services.monitor import Monitor, MonitorConfig
from desk.services.snapshot import MonitorSnapshot
from tests.support.monitor import Recorder, ScriptedReader, position

BTC, ETH = "BTC/USDT:USDT", "ETH/USDT:USDT"
TICK = 0.1
FAST = MonitorConfig(live_seconds=2.0, stale_seconds=10.0, reconcile_seconds=60.0, poll_seconds=60.0,
                     backoff_initial=0.05, backoff_max=0.2)


def as_the_exchange_reports(account: Account, off_by_ticks: float = 0.0) -> Account:
    """The account with liquidation prices computed at its own marks, rounded to the tick."""
    risk = compute_risk_for(account)
    positions = []
    for p in account.positions:
        liq = risk[p.symbol]
        reported = None if liq is None else round(liq / TICK) * TICK + off_by_ticks * TICK
        positions.append(replace(p, reported=Reported(liquidation_price=reported)))
    return replace(account, positions=tuple(positions))


def compute_risk_for(account: Account) -> dict[str, float | None]:
    from desk.domain.model import Portfolio

    report = compute_risk(Portfolio(accounts=(account,)))
    return {p.symbol: p.liquidation_price for p in report.positions()}


def cross_book() -> tuple[Position, ...]:
    return (replace(position(BTC, contracts=1.0, mark=60_000.0, entry=60_000.0), tick_size=TICK),
            replace(position(ETH, contracts=20.0, mark=3_000.0, entry=3_000.0), tick_size=TICK))


@pytest.fixture
def run_monitor():
    made: list[Monitor] = []

    def start(reader: ScriptedReader) -> tuple[Monitor, Recorder]:
        bus, events = EventBus(), Recorder()
        bus.subscribe(events)
        monitor = Monitor([reader], bus, config=FAST)
        made.append(monitor)
        monitor.start()
        return monitor, events

    yield start
    for m in made:
        assert m.stop(5)


def check_of(snap: MonitorSnapshot, symbol: str):  # type: ignore[no-untyped-def]
    state = snap.positions.get(("main", symbol, "both", "cross"))
    return state.exchange_check if state else None


def live_liq(snap: MonitorSnapshot, symbol: str) -> float | None:
    return next(p.liquidation_price for p in snap.report.positions() if p.symbol == symbol)


def test_streamed_marks_do_not_make_cross_figures_disagree(run_monitor) -> None:  # type: ignore[no-untyped-def]
    reader = ScriptedReader("main", wallet=12_000.0)
    reader.account = as_the_exchange_reports(replace(reader.account, positions=cross_book()))
    _monitor, events = run_monitor(reader)
    first = events.wait_snapshot(lambda s: check_of(s, BTC) is not None and reader.marks_subscribed)
    check = check_of(first, BTC)
    assert not check.disagrees and check.gap_ticks < 1
    assert check.theirs == reader.account.positions[0].reported.liquidation_price
    # ETH falls 5 %: the pool loses 3,000 USDT, so BTC's cross liquidation price rises by ~3,000
    reader.push_marks({ETH: 2_850.0})
    moved = events.wait_snapshot(lambda s: s.report.positions()[1].mark_price == 2_850.0, what="new mark")
    assert abs(live_liq(moved, BTC) - check.theirs) / TICK > 1_000  # far apart live …
    assert check_of(moved, BTC) == check  # … but compared at the read's marks: still agreeing
    engine = AlertEngine(AlertConfig(), clock=time.time)
    engine.evaluate(first)
    assert [e.alert.rule for e in engine.evaluate(moved) if e.alert.rule == "disagree"] == []


def test_a_real_disagreement_at_the_same_inputs_is_flagged_and_alerted(run_monitor) -> None:  # type: ignore[no-untyped-def]
    reader = ScriptedReader("main", wallet=12_000.0)
    reader.account = as_the_exchange_reports(replace(reader.account, positions=cross_book()), off_by_ticks=10)
    _monitor, events = run_monitor(reader)
    snap = events.wait_snapshot(lambda s: check_of(s, BTC) is not None)
    check = check_of(snap, BTC)
    assert check.disagrees and check.gap_ticks == pytest.approx(10, abs=0.5)
    assert check.ours_at_read == pytest.approx(compute_risk_for(reader.account)[BTC])
    engine = AlertEngine(AlertConfig(), clock=time.time)
    engine.evaluate(replace(snap, positions={}))  # the start-up summary, from a quiet state
    alerts = [e.alert for e in engine.evaluate(snap) if e.alert.rule == "disagree"]
    assert {a.symbol for a in alerts} == {BTC, ETH}
    btc = next(a for a in alerts if a.symbol == BTC)
    assert f"{check.gap_ticks:,.1f} ticks (tolerance 2 ticks)" in btc.body
    assert btc.value == check.ours_at_read and btc.threshold == check.theirs


def test_tolerance_follows_the_alert_settings(run_monitor) -> None:  # type: ignore[no-untyped-def]
    reader = ScriptedReader("main", wallet=12_000.0)
    reader.account = as_the_exchange_reports(replace(reader.account, positions=cross_book()), off_by_ticks=10)
    bus, events = EventBus(), Recorder()
    bus.subscribe(events)
    from desk.domain.compare import Tolerance

    monitor = Monitor([reader], bus, config=FAST, tolerance_for=lambda account, symbol: Tolerance(ticks=20))
    monitor.start()
    try:
        snap = events.wait_snapshot(lambda s: check_of(s, BTC) is not None)
        assert not check_of(snap, BTC).disagrees and check_of(snap, BTC).tolerance == "20 ticks"
    finally:
        assert monitor.stop(5)


def test_a_stream_resizing_the_position_drops_the_old_comparison(run_monitor) -> None:  # type: ignore[no-untyped-def]
    reader = ScriptedReader("main", wallet=12_000.0, streams_positions=True)
    reader.account = as_the_exchange_reports(replace(reader.account, positions=cross_book()))
    _monitor, events = run_monitor(reader)
    events.wait_snapshot(lambda s: check_of(s, BTC) is not None and reader._account_queues)
    bigger = replace(reader.account.positions[0], contracts=2.0, reported=Reported())
    reader.push_account(bigger)
    snap = events.wait_snapshot(lambda s: s.report.positions()[0].contracts == 2.0, what="resize")
    assert check_of(snap, BTC) is None and check_of(snap, ETH) is not None


def test_a_pooled_position_is_compared_in_the_venues_convention(run_monitor) -> None:  # type: ignore[no-untyped-def]
    """A Bybit UTA BTC long backed by BTC collateral: desk's own liquidation price moves the collateral
    with the mark (wrong-way), the venue's holds it at its index; the check compares the venue's
    figure with desk's in the venue's convention, so the two conventions are no "disagreement"."""
    from desk.exchanges.demo import demo_portfolio

    uta = next(a for a in demo_portfolio("calm", seed=7).accounts if a.name == "demo-bybit-uta")
    (btc,) = [p for p in uta.positions if p.symbol == BTC]
    reader = ScriptedReader("main", wallet=0.0)
    reader.account = replace(uta, name="main")
    _monitor, events = run_monitor(reader)
    snap = events.wait_snapshot(lambda s: check_of(s, BTC) is not None)
    risk = next(p for p in snap.report.positions() if p.symbol == BTC)
    # the two conventions differ by far more than the tolerance …
    assert risk.liquidation_price_symbol_only is not None
    assert abs(risk.liquidation_price - risk.liquidation_price_symbol_only) / TICK > 100
    # … and the venue's figure is checked against desk's in its own convention: they agree
    check = check_of(snap, BTC)
    assert check.theirs == btc.reported.liquidation_price
    assert not check.disagrees, check


def test_a_reads_notes_reach_the_account_state_and_go_with_the_next_read(run_monitor) -> None:  # type: ignore[no-untyped-def]
    reader = ScriptedReader("main", wallet=12_000.0)
    reader.account = as_the_exchange_reports(replace(reader.account, positions=cross_book()))
    reader.warnings = ("main: Binance refused this key on the spot wallet; its spot balances stay unknown",)
    monitor, events = run_monitor(reader)
    noted = events.wait_snapshot(lambda s: s.account_state("main") is not None
                                 and s.account_state("main").notes == reader.warnings, what="the note")
    assert noted.account_state("main").status.value in ("live", "delayed")  # a note is no failure
    reader.warnings = ()
    monitor.call(lambda: monitor._runs["main"].wake.set())  # the next read
    events.wait_snapshot(lambda s: s.account_state("main").notes == (), what="the note gone")
