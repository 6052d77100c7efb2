"""The demo flash-crash scenario, driven step by step: warning, critical, then "gone" (liquidated).

The simulated market is advanced explicitly (no sleeps, no wall clock): every 10 simulated
seconds the monitor's view — the demo venue's portfolio, risk from the one engine, account data
ages — is published on the event bus as a snapshot, as the monitor does.
"""

from __future__ import annotations

from pathlib import Path

from desk.domain.alerts import AlertLevel
from desk.exchanges.demo import DemoMarket
from desk.exchanges.demo.market import compute_risk
from desk.services.alerts import AlertConfig, AlertService
from desk.services.bus import EventBus
from desk.services.snapshot import AccountState, DataStatus, MonitorSnapshot
from desk.store.history import History

EPOCH = 1_800_000_000.0
SOL = "demo-bybit-isolated/SOL/USDT:USDT/both"


def snapshot_of(market: DemoMarket, seq: int) -> MonitorSnapshot:
    portfolio = market.portfolio()
    now = market.epoch_at(market.sim_time)
    states = tuple(
        AccountState(a.name, a.venue, DataStatus.LIVE, data_time=a.data_time or now, demo=True)
        for a in portfolio.accounts
    )
    return MonitorSnapshot(seq, now, portfolio, compute_risk(portfolio), states)


def test_flash_crash_warns_escalates_and_reports_the_liquidation_once(tmp_path: Path) -> None:
    market = DemoMarket("flash-crash", seed=7, clock=lambda: 0.0, epoch=EPOCH)
    market.advance_to(20 * 60)  # the slide started at minute 10; nothing is near liquidation yet
    bus = EventBus()
    history = History(tmp_path / "history.sqlite")
    config = AlertConfig()
    service = AlertService(bus, config, alert_log=history,
                           clock=lambda: market.epoch_at(market.sim_time)).start(ticker=False)
    try:
        seq = 0
        while market.sim_time < 38 * 60:
            seq += 1
            bus.publish(snapshot_of(market, seq))
            service.tick()
            market.step(10)
        assert service.wait_idle(10)
        rows = history.alerts()
    finally:
        service.stop()
        history.close()

    assert rows, "the flash crash raised no alert at all"
    assert rows[0].alert.rule != "summary"  # calm at the start: no restart summary
    sol = [(r.alert.rule, r.alert.level) for r in rows if r.alert.subject == SOL and not r.alert.repeat]
    assert sol == [
        ("distance", AlertLevel.WARNING),
        ("distance", AlertLevel.CRITICAL),
        ("gone", AlertLevel.CRITICAL),
    ]
    (liquidation,) = [e for e in market.events if e.kind == "liquidation" and e.symbol == "SOL/USDT:USDT"]
    critical, *reminders, gone = (r.alert for r in rows
                                  if (r.alert.subject, r.alert.level) == (SOL, AlertLevel.CRITICAL))
    # nobody acknowledged the critical alert: it was repeated 2 and 5 minutes after it fired (the
    # alerts.repeat_critical_minutes schedule) while the position stayed critical
    due = [after for after in (120.0, 300.0, 600.0) if critical.at + after < gone.at]
    assert [(r.repeat, r.at - critical.at) for r in reminders] == [(n + 1, a) for n, a in enumerate(due)]
    assert reminders and all(r.rule == "distance" and "Still critical after" in r.title for r in reminders)
    # the critical alert came before the venue liquidated; "gone" at the first snapshot after it
    assert critical.at < liquidation.at <= gone.at <= liquidation.at + 10
    assert "probably liquidated" in gone.title

    # no duplicate inside the cooldown (reminders apart): one alert per subject, rule and level per 30 min
    seen: dict[tuple[str, str, AlertLevel], float] = {}
    for r in [r for r in rows if not r.alert.repeat]:
        key = (r.alert.subject, r.alert.rule, r.alert.level)
        assert key not in seen or r.alert.at - seen[key] >= config.cooldown_seconds, f"duplicate {key}"
        seen[key] = r.alert.at
    # every alert was logged with what happened to it (no channel configured here)
    assert all(r.deliveries for r in rows)
