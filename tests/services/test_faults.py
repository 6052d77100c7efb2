"""Fault injection: the monitor over a real ccxt.pro reader against the fake Binance USDⓈ-M server.

For every fault: the monitor keeps running, marks the data stale (or error) with a reason a
person understands within the configured threshold, recovers by itself when the fault clears,
and never loses a position from view. Short thresholds keep the file fast.
"""

from __future__ import annotations

import copy
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass

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
# stale after at most: one reconcile interval + stale_seconds + a tick; plus slack for a loaded machine
STALE_WITHIN = CONFIG.reconcile_seconds + CONFIG.stale_seconds + 1.5
RECOVER_WITHIN = 4.0
SYMBOLS = {"ETH/USDT:USDT", "BTC/USDT:USDT"}
ACCOUNT = "main"


@dataclass
class Session:
    server: FakeExchange
    key: str
    monitor: Monitor
    events: Recorder
    reader: object

    def snapshot(self, predicate, timeout: float, what: str) -> MonitorSnapshot:
        return self.events.wait_snapshot(predicate, timeout, what)

    def state(self, snap: MonitorSnapshot):
        return snap.account_state(ACCOUNT)

    def wait_live(self, timeout: float = RECOVER_WITHIN) -> MonitorSnapshot:
        def live(s: MonitorSnapshot) -> bool:
            return (self.state(s).status is DataStatus.LIVE and len(s.report.positions()) == 2
                    and all(p.status is DataStatus.LIVE for p in s.positions.values()))

        return self.snapshot(live, timeout, "live")

    def requests_since(self, mark: int, path: str) -> int:
        return sum(1 for r in self.server.requests[mark:] if r.path == path)


def in_view(snap: MonitorSnapshot) -> bool:
    """Both positions still on the portfolio and in the report, with their last values."""
    portfolio = {p.symbol for a in snap.portfolio.accounts for p in a.positions}
    report = {p.symbol for p in snap.report.positions()}
    return portfolio == SYMBOLS and report == SYMBOLS and len(snap.positions) == 2


@pytest.fixture
def session() -> Iterator[Session]:
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
        monitor = Monitor([reader], bus, config=CONFIG)
        monitor.start()
        s = Session(server, key, monitor, events, reader)
        try:
            first = s.wait_live(timeout=10)
            assert in_view(first)
            s.snapshot(lambda snap: s.state(snap).streaming, 5, "streams up")
            yield s
        finally:
            assert monitor.stop(10), "the monitor did not stop"
        exchange = reader._raw  # type: ignore[attr-defined]
        assert exchange.session is None or exchange.session.closed, "ccxt HTTP session left open"
        assert not exchange.clients, "ccxt WebSocket clients left open"
        binance_ws.wait_until(lambda: not server.state["binance_ws"]["market_sockets"], 5, "sockets closed")


def test_streams_update_marks_and_weight_is_counted(session):
    binance_ws.set_mark(session.server, "BTCUSDT", 33_000.0)
    snap = session.snapshot(lambda s: session.state(s).status is DataStatus.LIVE
                            and any(p.symbol == "BTC/USDT:USDT" and p.mark_price == 33_000.0
                                    for p in s.report.positions()), 3, "streamed mark, live")
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
    session.server.inject(copy.deepcopy(fault))
    snap = session.snapshot(lambda s: session.state(s).status is DataStatus.STALE
                            and words in (session.state(s).reason or ""), STALE_WITHIN, "stale with reason")
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
    del rows[0]["markPrice"]  # a row without its mark price
    snap = session.snapshot(lambda s: session.state(s).status is DataStatus.STALE, STALE_WITHIN, "stale")
    assert "mark price is missing" in session.state(snap).reason
    assert in_view(snap)
    session.server.state["binance"]["positionRisk"] = good
    session.wait_live()


@pytest.mark.parametrize("status", [429, 418])
def test_rate_limit_backs_off_for_retry_after_and_recovers(session, status):
    session.server.inject(Fault("status", path="/fapi/v3/*", status=status,
                                body='{"code":-1003,"msg":"Too many requests; current limit exceeded."}'))
    snap = session.snapshot(lambda s: session.state(s).status is DataStatus.STALE, STALE_WITHIN, "stale")
    reason = session.state(snap).reason
    assert "rate limit hit" in reason and "retry in" in reason, reason
    assert in_view(snap)
    # the reader asks for a pause (retry_after); the REST loop must not hammer the exchange
    mark = len(session.server.requests)
    time.sleep(1.5)
    assert session.requests_since(mark, "/fapi/v3/positionRisk") == 0
    session.server.clear_faults()
    # the user-data stream brings the account back (each update triggers a fresh read)
    binance_ws.account_update(session.server, [{"s": "BTCUSDT", "pa": "109.488", "ep": "32481.98", "up": "0",
                                                "mt": "cross", "iw": "0", "ps": "BOTH"}])
    session.wait_live()


def test_revoked_key_stops_the_account_keeps_positions_and_resumes_after_restart(session):
    session.server.revoke(session.key)
    snap = session.snapshot(lambda s: session.state(s).status is DataStatus.ERROR, STALE_WITHIN, "error")
    state = session.state(snap)
    assert state.stopped and "rejected the API key" in state.reason and "desk accounts add" in state.reason
    assert all(p.status is DataStatus.ERROR for p in snap.positions.values())
    assert in_view(snap)
    mark = len(session.server.requests)
    time.sleep(1.0)
    assert session.requests_since(mark, "/fapi/v3/positionRisk") == 0, "an account with a bad key is polled"
    assert session.state(session.monitor.latest()).status is DataStatus.ERROR
    session.server.keys[session.key].revoked = False
    session.monitor.restart_account(ACCOUNT).result(5)
    session.wait_live()


def test_clock_skew_is_absorbed(session):
    skewed_at = time.time()
    session.server.clock_offset_ms = -20_000  # the exchange's clock is 20 s behind ours
    snap = session.snapshot(lambda s: (session.state(s).data_time or 0) > skewed_at + 0.5
                            and session.state(s).status is DataStatus.LIVE, RECOVER_WITHIN,
                            "fresh data despite the skew")
    assert in_view(snap)


def test_dropped_websocket_reconnects(session):
    before = session.server.state["binance_ws"]["market_connections"]
    assert binance_ws.drop(session.server) >= 1
    binance_ws.wait_until(lambda: session.server.state["binance_ws"]["market_connections"] > before, 8,
                          "the mark stream reconnecting")
    binance_ws.set_mark(session.server, "ETHUSDT", 1_400.0)
    snap = session.snapshot(lambda s: any(p.symbol == "ETH/USDT:USDT" and p.mark_price == 1_400.0
                                          for p in s.report.positions()), RECOVER_WITHIN, "streamed mark")
    assert in_view(snap)


def test_websocket_refused_falls_back_to_polling_without_going_stale(session):
    session.server.inject(Fault("status", path="/market/ws*", status=503, body="unavailable",
                                content_type="text/plain"))
    binance_ws.drop(session.server)
    snap = session.snapshot(lambda s: session.state(s).streaming is False or "mark stream down"
                            in (session.state(s).reason or ""), RECOVER_WITHIN, "mark stream down")
    # REST polling keeps the marks fresh: nothing may turn stale while the stream is refused
    deadline = time.monotonic() + 1.5
    while time.monotonic() < deadline:
        snap = session.monitor.latest()
        assert session.state(snap).status is not DataStatus.STALE, session.state(snap).reason
        time.sleep(0.05)
    assert in_view(snap)
    session.server.clear_faults()
    binance_ws.set_mark(session.server, "ETHUSDT", 1_401.0)
    session.snapshot(lambda s: any(p.mark_price == 1_401.0 for p in s.report.positions()),
                     RECOVER_WITHIN + 4, "the mark stream back")


def test_silent_websocket_with_failing_rest_goes_stale_with_both_causes(session):
    binance_ws.silence(session.server)
    session.server.inject(Fault("status", path="/fapi/v3/*", status=503,
                                body='{"code":-1001,"msg":"Internal error; unable to process."}'))

    def marks_stale(s: MonitorSnapshot) -> bool:
        return session.state(s).status is DataStatus.STALE and all(
            p.status is DataStatus.STALE and (p.reason or "").startswith("no mark price for")
            for p in s.positions.values())

    snap = session.snapshot(marks_stale, STALE_WITHIN, "stale marks")
    reason = session.state(snap).reason
    assert "no mark price for" in reason and "mark stream" in reason and "silent" in reason, reason
    assert "REST failing" in reason, reason
    assert in_view(snap)
    binance_ws.silence(session.server, False)
    session.server.clear_faults()
    session.wait_live(timeout=RECOVER_WITHIN + 2)


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
                                        and in_view(s), 10, "live through the runtime")
        finally:
            assert runtime.stop(10)
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
            stopped = events.wait_snapshot(lambda s: s.account_state(ACCOUNT).status is DataStatus.ERROR, 5,
                                           "error: no keys")
            assert "missing apiKey, secret" in stopped.account_state(ACCOUNT).reason
            assert not server.requests  # nothing was sent without keys
            secret_store.put_account(ACCOUNT, {"apiKey": key, "secret": secret})
            runtime.restart_account(ACCOUNT).result(10)
            live = events.wait_snapshot(lambda s: s.account_state(ACCOUNT).status is DataStatus.LIVE
                                        and in_view(s), 10, "live after the keys were added")
        finally:
            assert runtime.stop(10)
        assert not live.account_state(ACCOUNT).stopped
