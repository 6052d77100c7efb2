"""The dashboard's distance goal reaches the pooled accounts: the demo runtime, built from the
settings as the dashboard builds it, passes alerts.distance_warning to the engine, and the demo's
Bybit UTA long (22 % from liquidation in calm) gets its pooled fixes once the warning is 25 %."""

from __future__ import annotations

from desk.services.monitor import MonitorConfig
from desk.services.runtime import Runtime
from desk.store.settings import Settings
from tests.support.monitor import Recorder

FAST = MonitorConfig(live_seconds=0.5, stale_seconds=2.0, reconcile_seconds=0.5, poll_seconds=0.2,
                     backoff_initial=0.05, backoff_max=0.2)


def _uta(snap):  # type: ignore[no-untyped-def]
    return next((p for p in snap.report.positions() if p.account == "demo-bybit-uta"), None)


def test_the_demo_runtime_passes_the_distance_warning_to_the_pooled_accounts(desk_home) -> None:
    settings = Settings.load()
    settings.update({"alerts.distance_warning": 0.25})
    runtime = Runtime.for_demo("calm", seed=7, speed=5, config=FAST, history=False, settings=settings)
    events = Recorder()
    runtime.attach(events)
    runtime.start()
    try:
        snap = events.wait_snapshot(lambda s: (p := _uta(s)) is not None and bool(p.suggestions),
                                    timeout=20, what="the UTA long's pooled fixes")
    finally:
        assert runtime.stop(10)
    uta = _uta(snap)
    assert uta.distance_to_liquidation < 0.25
    fixes = {s.currency or s.action: s for s in uta.suggestions}
    assert fixes.keys() == {"USDT", "BTC", "reduce_size"}
    assert all(s.reaches_target and s.target_distance == 0.25 and s.moves_with == "BTC"
               for s in fixes.values())
    assert all(s.target_margin_ratio == settings.get("risk.target_margin_ratio") for s in fixes.values())
