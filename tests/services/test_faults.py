"""Fault injection: the monitor over a real ccxt.pro reader against the fake Binance USDⓈ-M server.

For every fault: the monitor keeps running, marks the data stale (or error) with a reason a
person understands, never before the configured threshold, recovers by itself when the fault
clears, and never loses a position from view. Short thresholds keep the file fast.

Real ccxt and real time here, so no wait is an assertion on speed: each wait is a hang guard,
and "turns stale only after the threshold" is checked on the ages the monitor itself stamped
on every stale snapshot (a loaded machine only makes things later, never earlier). That the
verdict follows as soon as the clock passes the threshold is proven on a driven clock in
test_monitor.py and test_freshness.py.
"""

from __future__ import annotations

import contextlib
import copy
import re
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace

import pytest

from desk.exchanges import ReaderConfig, open_reader
from desk.services.bus import EventBus
from desk.services.monitor import Monitor, MonitorConfig
from desk.services.snapshot import DataStatus, MonitorSnapshot
from tests.fake_exchange import FakeExchange, Fault, binance_ws
from tests.support.monitor import Recorder

pytestmark = pytest.mark.integration

CONFIG = MonitorConfig(live_seconds=0.3, stale_seconds=0.8, reconcile_seconds=0.4, poll_seconds=0.25,
                       request_timeout=3.0, backoff_initial=0.1, backoff_max=0.4, quick_reconcile_seconds=0.1)
HANG_GUARD = 60.0  # seconds: only ever reached when something hangs
SYMBOLS = {"ETH/USDT:USDT", "BTC/USDT:USDT"}
ACCOUNT = "main"


@dataclass
class Session:
    server: FakeExchange
    key: str
    monitor: Monitor
    events: Recorder
    reader: object
    start: int = 0  # snapshots before this index are history: waits do not look at them

    def begin(self) -> int:
        """From here on, waits only see snapshots published after this call."""
        self.start = len(self.events.snapshots)
        return self.start

    def snapshot(self, predicate, what: str, timeout: float = HANG_GUARD) -> MonitorSnapshot:
        def newest_match() -> MonitorSnapshot | None:
            return next((s for s in reversed(self.events.snapshots[self.start:]) if predicate(s)), None)
        return self.events.wait_for(newest_match, timeout, what)  # type: ignore[no-any-return]

    def since(self, index: int) -> list[MonitorSnapshot]:
        return self.events.snapshots[index:]

    def account_tasks(self) -> list[str]:
        """The account's running tasks, read on the monitor's loop."""
        run = self.monitor._runs[ACCOUNT]
        return self.monitor.call(lambda: sorted(t.get_name() for t in run.tasks if not t.done()))

    def marks_streamed(self) -> bool:
        run = self.monitor._runs[ACCOUNT]
        return self.monitor.call(lambda: run.marks_feed.last_message is not None)

    def marks_down(self) -> bool:
        """The mark stream is failing (while the data stays LIVE, no reason says so)."""
        run = self.monitor._runs[ACCOUNT]
        return self.monitor.call(lambda: run.marks_feed.error is not None)

    def state(self, snap: MonitorSnapshot):
        return snap.account_state(ACCOUNT)

    def wait_live(self, timeout: float = HANG_GUARD) -> MonitorSnapshot:
        def live(s: MonitorSnapshot) -> bool:
            return (self.state(s).status is DataStatus.LIVE and len(s.report.positions()) == 2
                    and all(p.status is DataStatus.LIVE for p in s.positions.values()))

        return self.snapshot(live, "live", timeout)

    def requests_since(self, mark: int, path: str) -> int:
        return sum(1 for r in self.server.requests[mark:] if r.path == path)


def stale_only_past_threshold(snaps: list[MonitorSnapshot], config: MonitorConfig = CONFIG) -> None:
    """Every STALE verdict among ``snaps`` is backed by an age beyond ``stale_seconds``: a mark
    older than that, or positions late by more than that beyond the shortest read interval."""
    shortest = min(config.poll_seconds, config.reconcile_seconds)
    for snap in snaps:
        state = snap.account_state(ACCOUNT)
        if state is None or state.status is not DataStatus.STALE:
            continue
        ages = []
        if state.oldest_mark_time is not None:
            ages.append(snap.at - state.oldest_mark_time)
        if state.data_time is not None:
            ages.append(snap.at - state.data_time - shortest)
        assert ages and max(ages) > config.stale_seconds, (snap.at, state)


def in_view(snap: MonitorSnapshot) -> bool:
    """Both positions still on the portfolio and in the report, with their last values."""
    portfolio = {p.symbol for a in snap.portfolio.accounts for p in a.positions}
    report = {p.symbol for p in snap.report.positions()}
    return portfolio == SYMBOLS and report == SYMBOLS and len(snap.positions) == 2


@contextlib.contextmanager
def open_session(config: MonitorConfig = CONFIG) -> Iterator[Session]:
    server = FakeExchange(venues=("binance", "binance_ws"))
    key, secret = "test-key-" + secrets.token_hex(6), secrets.token_hex(16)
    server.add_key(key, secret)
    server.state["binance_ws"]["interval"] = 0.1
    with server.running():
        reader = open_reader(ReaderConfig(name=ACCOUNT, venue="binanceusdm", api_url=server.url,
                                          options={"timeout_ms": 1000}),
                             {"apiKey": key, "secret": secret})
        bus = EventBus()
        events = Recorder()
        bus.subscribe(events)
        monitor = Monitor([reader], bus, config=config)
        monitor.start()
        s = Session(server, key, monitor, events, reader)
        try:
            first = s.wait_live()
            assert in_view(first)
            s.snapshot(lambda snap: s.state(snap).streaming, "streams up")
            # the mark stream has delivered: the faults below start from a working stream
            binance_ws.wait_until(s.marks_streamed, HANG_GUARD, "a streamed mark")
            s.begin()
            yield s
        finally:
            assert monitor.stop(HANG_GUARD), "the monitor did not stop"
        exchange = reader._raw  # type: ignore[attr-defined]
        assert exchange.session is None or exchange.session.closed, "ccxt HTTP session left open"
        assert not exchange.clients, "ccxt WebSocket clients left open"
        binance_ws.wait_until(lambda: not server.state["binance_ws"]["market_sockets"], HANG_GUARD,
                              "sockets closed")


@pytest.fixture
def session() -> Iterator[Session]:
    with open_session() as s:
        yield s


def test_streams_update_marks_and_weight_is_counted(session):
    binance_ws.set_mark(session.server, "BTCUSDT", 33_000.0)
    snap = session.snapshot(lambda s: session.state(s).status is DataStatus.LIVE
                            and any(p.symbol == "BTC/USDT:USDT" and p.mark_price == 33_000.0
                                    for p in s.report.positions()), "streamed mark, live")
    state = session.state(snap)
    assert state.streaming
    assert state.request_weight_per_min > 0
    assert state.stream_messages_per_min > 0


REST_FAULTS = {
    "timeout": (Fault("delay", path="/fapi/v3/*", seconds=2.0), "did not answer in time"),
    "http-503": (Fault("status", path="/fapi/v3/*", status=503,
                       body='{"code":-1001,"msg":"Internal error; unable to process your request."}'),
                 "failed to process the request"),
    "html-502": (Fault("html", path="/fapi/v3/*", status=502), "unavailable"),
    "empty-200": (Fault("empty", path="/fapi/v3/*"), "unreadable or empty answer"),
    "non-json-200": (Fault("non_json", path="/fapi/v3/*"), "unreadable or empty answer"),
}


@pytest.mark.parametrize("name", list(REST_FAULTS))
def test_rest_fault_turns_stale_with_reason_then_recovers(session, name):
    fault, words = REST_FAULTS[name]
    first = session.begin()
    session.server.inject(copy.deepcopy(fault))
    snap = session.snapshot(lambda s: session.state(s).status is DataStatus.STALE
                            and words in (session.state(s).reason or ""), "stale with reason")
    stale_only_past_threshold(session.since(first))
    reason = session.state(snap).reason
    assert "REST failing" in reason or "REST read unanswered" in reason, reason
    assert "positions and balances last confirmed" in reason
    assert all(p.status is DataStatus.STALE for p in snap.positions.values())
    assert in_view(snap)
    assert session.monitor.running
    session.server.clear_faults()
    assert in_view(session.wait_live())


def test_partial_data_is_refused_and_the_position_kept(session):
    rows = session.server.state["binance"]["positionRisk"]
    good = copy.deepcopy(rows)
    first = session.begin()
    del rows[0]["markPrice"]  # a row without its mark price
    snap = session.snapshot(lambda s: session.state(s).status is DataStatus.STALE, "stale")
    stale_only_past_threshold(session.since(first))
    assert "mark price is missing" in session.state(snap).reason
    assert in_view(snap)
    session.server.state["binance"]["positionRisk"] = good
    session.wait_live()


@pytest.mark.parametrize("status", [429, 418])
def test_rate_limit_backs_off_for_retry_after_and_recovers(session, status):
    first = session.begin()
    # Binance sends Retry-After with both; a ban's is usually minutes, kept short here (without one,
    # desk stays away 2 min after a 418: test_rate_limits.py)
    session.server.inject(Fault("status", path="/fapi/v3/*", status=status, headers={"Retry-After": "8"},
                                body='{"code":-1003,"msg":"Too many requests; current limit exceeded."}'))
    mark = len(session.server.requests)
    snap = session.snapshot(lambda s: session.state(s).status is DataStatus.STALE, "stale")
    stale_only_past_threshold(session.since(first))
    reason = session.state(snap).reason
    assert "rate limit hit" in reason and "retry in" in reason, reason
    assert in_view(snap)
    # the reader asks for a pause (retry_after, 10 s and more) and the REST loop waits for it,
    # not for its own backoff (at most backoff_max): the next read is scheduled that far out
    retry = re.search(r"retry in ([0-9.]+) s", reason)
    assert retry and float(retry.group(1)) > CONFIG.backoff_max + 1, reason
    # so the exchange is not hammered: between the refusal and the stale verdict (stale_seconds
    # later) the plain backoff would have asked 4 times or more; here the monitor's read and at
    # most the reader's account-stream follow-up asked
    assert session.requests_since(mark, "/fapi/v3/positionRisk") <= 2
    session.server.clear_faults()
    # the user-data stream brings the account back (each update triggers a fresh read)
    binance_ws.account_update(session.server, [{"s": "BTCUSDT", "pa": "109.488", "ep": "32481.98", "up": "0",
                                                "mt": "cross", "iw": "0", "ps": "BOTH"}])
    session.wait_live()


def test_revoked_key_stops_the_account_keeps_positions_and_resumes_after_restart(session):
    session.server.revoke(session.key)
    snap = session.snapshot(lambda s: session.state(s).status is DataStatus.ERROR, "error")
    state = session.state(snap)
    assert state.stopped and "rejected the API key" in state.reason and "desk accounts add" in state.reason
    assert all(p.status is DataStatus.ERROR for p in snap.positions.values())
    assert in_view(snap)
    # an account with a bad key is not polled: it has no task left that could read
    binance_ws.wait_until(lambda: not session.account_tasks(), HANG_GUARD, "the account's tasks to end")
    assert session.state(session.monitor.latest()).status is DataStatus.ERROR
    session.server.keys[session.key].revoked = False
    session.monitor.restart_account(ACCOUNT).result(HANG_GUARD)
    session.wait_live()


def test_clock_skew_is_absorbed(session):
    skewed_at = time.time()
    session.server.clock_offset_ms = -20_000  # the exchange's clock is 20 s behind ours
    snap = session.snapshot(lambda s: (session.state(s).data_time or 0) > skewed_at + 0.5
                            and session.state(s).status is DataStatus.LIVE,
                            "fresh data despite the skew")
    assert in_view(snap)


def test_dropped_websocket_reconnects(session):
    before = session.server.state["binance_ws"]["market_connections"]
    assert binance_ws.drop(session.server) >= 1
    binance_ws.wait_until(lambda: session.server.state["binance_ws"]["market_connections"] > before,
                          HANG_GUARD, "the mark stream reconnecting")
    binance_ws.set_mark(session.server, "ETHUSDT", 1_400.0)
    snap = session.snapshot(lambda s: any(p.symbol == "ETH/USDT:USDT" and p.mark_price == 1_400.0
                                          for p in s.report.positions()), "streamed mark")
    assert in_view(snap)


# Polling instead of the stream: reads every poll_seconds, never at the reconcile interval (far
# away here), and stale_seconds so long that only a hung machine, not a busy one, reaches it.
POLLING = replace(CONFIG, live_seconds=10.0, stale_seconds=30.0, reconcile_seconds=1000.0)


def test_websocket_refused_falls_back_to_polling_without_going_stale():
    with open_session(POLLING) as session:
        session.server.inject(Fault("status", path="/market/ws*", status=503, body="unavailable",
                                    content_type="text/plain"))
        binance_ws.drop(session.server)
        binance_ws.wait_until(session.marks_down, HANG_GUARD, "the mark stream down")
        first = session.begin()
        mark = len(session.server.requests)
        # the marks now come from REST: a new mark price arrives by polling, again and again
        for price in (1_390.0, 1_391.0, 1_392.0):
            rows = session.server.state["binance"]["positionRisk"]
            eth = next(r for r in rows if r["symbol"] == "ETHUSDT")
            eth["markPrice"] = str(price)
            session.snapshot(lambda s, price=price: any(p.symbol == "ETH/USDT:USDT" and p.mark_price == price
                                                        for p in s.report.positions()), "a polled mark")
        assert session.requests_since(mark, "/fapi/v3/positionRisk") >= 3
        polled = session.since(first)
        assert polled and all(session.state(s).status is not DataStatus.STALE for s in polled), [
            session.state(s).reason for s in polled]
        assert all(in_view(s) for s in polled)
        session.server.clear_faults()
        binance_ws.set_mark(session.server, "ETHUSDT", 1_401.0)
        session.snapshot(lambda s: any(p.mark_price == 1_401.0 for p in s.report.positions()),
                         "the mark stream back")


def test_silent_websocket_with_failing_rest_goes_stale_with_both_causes(session):
    first = session.begin()
    binance_ws.silence(session.server)
    session.server.inject(Fault("status", path="/fapi/v3/*", status=503,
                                body='{"code":-1001,"msg":"Internal error; unable to process."}'))

    def marks_stale(s: MonitorSnapshot) -> bool:
        return session.state(s).status is DataStatus.STALE and all(
            p.status is DataStatus.STALE and (p.reason or "").startswith("no mark price for")
            for p in s.positions.values())

    snap = session.snapshot(marks_stale, "stale marks")
    stale_only_past_threshold(session.since(first))
    reason = session.state(snap).reason
    assert "no mark price for" in reason and "mark stream" in reason and "silent" in reason, reason
    assert "REST failing" in reason, reason
    assert in_view(snap)
    binance_ws.silence(session.server, False)
    session.server.clear_faults()
    session.wait_live()


def test_configured_account_with_keyring_secrets_runs_live_through_the_runtime():
    from desk.services.runtime import Runtime
    from desk.store import secrets as secret_store
    from desk.store.settings import AccountConfig, Settings

    server = FakeExchange(venues=("binance", "binance_ws"))
    key, secret = "test-key-" + secrets.token_hex(6), secrets.token_hex(16)
    server.add_key(key, secret)
    with server.running():
        settings = Settings.load()
        settings.put_account(AccountConfig(name=ACCOUNT, venue="binanceusdm", api_url=server.url))
        secret_store.put_account(ACCOUNT, {"apiKey": key, "secret": secret})
        runtime = Runtime.from_settings(settings, history=False, config=CONFIG)
        events = Recorder()
        runtime.attach(events)
        runtime.start()
        try:
            snap = events.wait_snapshot(lambda s: s.account_state(ACCOUNT).status is DataStatus.LIVE
                                        and in_view(s), HANG_GUARD, "live through the runtime")
        finally:
            assert runtime.stop(HANG_GUARD)
        assert not snap.account_state(ACCOUNT).demo
        signed = [r for r in server.requests if r.path == "/fapi/v3/positionRisk"]
        assert signed and all(r.headers.get("X-MBX-APIKEY") == key for r in signed)


def test_account_stopped_for_missing_keys_resumes_after_they_are_added():
    from desk.services.runtime import Runtime
    from desk.store import secrets as secret_store
    from desk.store.settings import AccountConfig, Settings

    server = FakeExchange(venues=("binance", "binance_ws"))
    key, secret = "test-key-" + secrets.token_hex(6), secrets.token_hex(16)
    server.add_key(key, secret)
    with server.running():
        settings = Settings.load()
        settings.put_account(AccountConfig(name=ACCOUNT, venue="binanceusdm", api_url=server.url))
        settings.save()
        runtime = Runtime.from_settings(settings, history=False, config=CONFIG)
        events = Recorder()
        runtime.attach(events)
        runtime.start()
        try:
            stopped = events.wait_snapshot(lambda s: s.account_state(ACCOUNT).status is DataStatus.ERROR,
                                           HANG_GUARD, "error: no keys")
            assert "missing apiKey, secret" in stopped.account_state(ACCOUNT).reason
            assert not server.requests  # nothing was sent without keys
            secret_store.put_account(ACCOUNT, {"apiKey": key, "secret": secret})
            runtime.restart_account(ACCOUNT).result(HANG_GUARD)
            live = events.wait_snapshot(lambda s: s.account_state(ACCOUNT).status is DataStatus.LIVE
                                        and in_view(s), HANG_GUARD, "live after the keys were added")
        finally:
            assert runtime.stop(HANG_GUARD)
        assert not live.account_state(ACCOUNT).stopped
