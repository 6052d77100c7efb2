"""The shared composition: monitor + bus + history writer + extensions, from settings or the demo."""

from __future__ import annotations

import threading

import pytest

from desk.exchanges.demo import DEMO_ACCOUNTS
from desk.services.monitor import MonitorConfig
from desk.services.runtime import HistoryRecorder, NoAccountsError, Runtime
from desk.services.snapshot import DataStatus, HistoryStatus, MonitorSnapshot, StatusChange
from desk.store.history import History
from desk.store.settings import AccountConfig, Settings
from tests.support.monitor import ManualClock, Recorder, ScriptedReader, position

HANG_GUARD = 60.0  # seconds: waits below only ever reach it when something hangs
FAST = MonitorConfig(live_seconds=0.5, stale_seconds=2.0, reconcile_seconds=0.5, poll_seconds=0.2,
                     backoff_initial=0.05, backoff_max=0.2)


def test_history_is_written_from_its_own_thread_with_the_real_engine(tmp_path):
    history = History(tmp_path / "h.sqlite3", sample_seconds=1)
    reader = ScriptedReader("main", (position(),), streams_marks=False)
    runtime = Runtime([reader], config=FAST, history=history, owns_history=False)
    events = Recorder()
    runtime.attach(events, MonitorSnapshot)
    writer_threads: list[str] = []
    record = history.record

    def spy(report, at):
        writer_threads.append(threading.current_thread().name)
        return record(report, at)

    history.record = spy  # type: ignore[method-assign]
    with runtime:
        events.wait_snapshot(lambda s: s.report.accounts, what="a report")
        events.wait_for(lambda: runtime.history_recorder.written >= 1, what="a history sample")
    assert set(writer_threads) == {"desk-history"}
    samples = history.samples(account="main")
    assert samples, "no risk sample stored"
    history.close()


def test_a_slow_history_never_holds_up_the_monitor():
    class StuckHistory:
        """A history whose writes hang until the test lets them go."""

        def __init__(self):
            self.calls = 0
            self.writing = threading.Event()
            self.release = threading.Event()

        def record(self, report, at):
            self.calls += 1
            self.writing.set()
            self.release.wait(HANG_GUARD)
            return True

    reader = ScriptedReader("main", (position(),), streams_marks=True)
    stuck = StuckHistory()
    runtime = Runtime([reader], config=FAST, history=stuck)
    events = Recorder()
    runtime.attach(events, MonitorSnapshot)
    with runtime:
        events.wait_for(lambda: reader.marks_subscribed and events.snapshots, HANG_GUARD, "subscribed")
        assert stuck.writing.wait(HANG_GUARD), "the history was never written"
        # the writer is stuck inside a write: every mark is still recomputed and published
        for i in range(20):
            reader.push_marks({"BTC/USDT:USDT": 60_000.0 + i})
        events.wait_snapshot(lambda s: s.report.positions()[0].mark_price == 60_019.0, HANG_GUARD,
                             "the last mark published while the history hangs")
        assert stuck.calls == 1
        stuck.release.set()
        events.wait_for(lambda: runtime.history_recorder.written >= 2, HANG_GUARD, "the writer catching up")
    assert stuck.calls < 20  # the writer coalesced to the newest pending report


def test_attach_and_extensions_follow_the_runtime_life():
    order: list[str] = []

    class Extension:
        def __init__(self, name):
            self.name = name

        def start(self, runtime):
            assert isinstance(runtime, Runtime)
            order.append(f"start {self.name}")

        def stop(self):
            order.append(f"stop {self.name}")

    runtime = Runtime([ScriptedReader("main", (position(),), streams_marks=False)], config=FAST)
    runtime.add_extension(Extension("a"))
    changes = Recorder()
    runtime.attach(changes, StatusChange)
    runtime.start()
    runtime.add_extension(Extension("b"))  # added while running: started at once
    changes.wait_for(lambda: changes.changes, what="first status")
    assert runtime.stop(5)
    assert order == ["start a", "start b", "stop b", "stop a"]
    n = len(changes.events)
    runtime.bus.publish(StatusChange(at=0, account="x", old=None, new=DataStatus.LIVE, reason=None))
    assert len(changes.events) == n  # unsubscribed on stop


def test_no_configured_account_is_reported():
    with pytest.raises(NoAccountsError, match="no exchange account is configured"):
        Runtime.from_settings(Settings.load(), history=False)


def test_unknown_account_name_lists_the_known_ones():
    settings = Settings.load()
    settings.put_account(AccountConfig(name="main", venue="binanceusdm"))
    with pytest.raises(NoAccountsError, match=r"no account named 'other' \(configured: main\)"):
        Runtime.from_settings(settings, accounts=["other"], history=False)


def test_account_without_keys_is_shown_in_error_not_dropped():
    settings = Settings.load()
    settings.put_account(AccountConfig(name="main", venue="binanceusdm", api_url="http://127.0.0.1:9"))
    runtime = Runtime.from_settings(settings, history=False, config=FAST, secrets_for=lambda account: {})
    events = Recorder()
    runtime.attach(events)
    with runtime:
        snap = events.wait_snapshot(lambda s: s.account_state("main").status is DataStatus.ERROR)
    state = snap.account_state("main")
    assert state.stopped
    assert "missing apiKey, secret" in state.reason and "desk accounts add main" in state.reason


def test_demo_runtime_runs_every_demo_account_live_and_stops_cleanly():
    runtime = Runtime.for_demo("calm", seed=7, speed=5, config=FAST, history=False)
    events = Recorder()
    runtime.attach(events)
    assert runtime.demo
    runtime.start()
    try:
        # every account of the demo catalog (five since the whole book added demo-bybit-hedge)
        snap = events.wait_snapshot(
            lambda s: {a.name for a in s.accounts} == set(DEMO_ACCOUNTS)
            and all(a.status is DataStatus.LIVE for a in s.accounts)
            and {a.name for a in s.report.accounts} == set(DEMO_ACCOUNTS),
            timeout=10, what="all demo accounts live")
    finally:
        assert runtime.stop(10)
    assert all(a.demo for a in snap.accounts)
    assert not runtime.monitor.running


def test_history_recorder_close_drains_the_last_report():
    got: list[float] = []

    class Store:
        def record(self, report, at):
            got.append(at)
            return True

    recorder = HistoryRecorder(Store())
    from desk.domain.model import Portfolio
    from desk.domain.report import AccountRisk, RiskReport

    report = RiskReport(accounts=(AccountRisk("a", "v", "generic", True, (), (), None),))
    recorder(MonitorSnapshot(seq=1, at=42.0, portfolio=Portfolio(), report=report, accounts=()))
    recorder.close()
    assert got == [42.0]


def test_account_changes_take_effect_without_a_restart():
    """Add, edit and remove accounts in the settings while the runtime runs (fake Binance, real ccxt)."""
    import secrets as pysecrets

    from desk.store import secrets
    from tests.fake_exchange import FakeExchange

    def keys() -> dict[str, str]:
        return {"apiKey": "test-key-" + pysecrets.token_hex(8),
                "secret": "test-secret-" + pysecrets.token_hex(16)}

    server = FakeExchange(("binance",))
    with server.running():
        settings = Settings.load()
        for name in ("main", "second"):
            k = keys()
            server.add_key(k["apiKey"], k["secret"])
            secrets.put_account(name, k)
        settings.put_account(AccountConfig(name="main", venue="binanceusdm", api_url=server.url))
        settings.save()
        runtime = Runtime.from_settings(settings, history=False, config=FAST)
        events = Recorder()
        runtime.attach(events)

        def state(snap, name):
            return snap.account_state(name)

        with runtime:
            events.wait_snapshot(lambda s: state(s, "main") and state(s, "main").status is DataStatus.LIVE,
                                 HANG_GUARD, "main live")
            # add
            settings.put_account(AccountConfig(name="second", venue="binanceusdm", api_url=server.url))
            settings.save()
            # the caller (the GUI) does not wait: with the monitor's loop held, the call still
            # returns, the work pending
            gate = threading.Event()

            async def hold_the_loop():
                gate.wait(HANG_GUARD)

            held = runtime.monitor.submit(hold_the_loop())
            future = runtime.apply_account_changes(["second"])
            assert not future.done()
            gate.set()
            held.result(HANG_GUARD)
            assert future.result(HANG_GUARD) == {"second": "added"}
            snap = events.wait_snapshot(
                lambda s: state(s, "second") and state(s, "second").status is DataStatus.LIVE
                and any(a.name == "second" and a.positions for a in s.report.accounts),
                HANG_GUARD, "second live")
            assert runtime.account_names == ("main", "second")
            # remove
            settings.remove_account("main")
            settings.save()
            assert runtime.apply_account_changes(["main"]).result(HANG_GUARD) == {"main": "removed"}
            snap = events.wait_snapshot(lambda s: state(s, "main") is None, HANG_GUARD, "main gone")
            assert [a.name for a in snap.report.accounts] == ["second"]
            assert runtime.account_names == ("second",)
            # edit: a URL where nothing listens; the old figures are not shown as the new account's
            settings.put_account(AccountConfig(name="second", venue="binanceusdm", api_url="http://127.0.0.1:9"))
            settings.save()
            assert runtime.apply_account_changes(["second"]).result(HANG_GUARD) == {"second": "restarted"}
            snap = events.wait_snapshot(
                lambda s: state(s, "second") and state(s, "second").status is not DataStatus.LIVE
                and not s.report.accounts, HANG_GUARD, "second reconfigured")
            # unknown names are left alone
            assert runtime.apply_account_changes(["nobody"]).result(HANG_GUARD) == {"nobody": "unchanged"}


def test_the_missing_history_is_announced_on_the_runtimes_clock():
    clock = ManualClock()
    runtime = Runtime([ScriptedReader("main", (position(),), clock=clock)], config=FAST, clock=clock)
    runtime.history_problem = "history not being recorded: disk full"
    events = Recorder()
    runtime.attach(events, HistoryStatus)
    with runtime:
        (status,) = events.wait_for(lambda: [e for e in events.events if isinstance(e, HistoryStatus)],
                                    HANG_GUARD, "the history's status")
    assert status.at == clock() and not status.recording
