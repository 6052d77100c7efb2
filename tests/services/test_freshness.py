"""Data age rules (freshness.evaluate) under explicit clock values — ARCHITECTURE.md rule 5."""

from __future__ import annotations

import pytest

from desk.domain.model import Account
from desk.exchanges.base import ErrorKind, VenueError
from desk.services.freshness import FeedState, Thresholds, age_status, evaluate, read_cycle_missed
from desk.services.snapshot import DataStatus
from tests.support.monitor import position

T0 = 1_700_000_000.0
TH = Thresholds(live_seconds=5, stale_seconds=30)
MARKS_UP = FeedState(supported=True, last_message=T0)
NO_STREAM = FeedState(supported=False)


def account(*positions, data_time=T0):
    return Account(name="main", venue="binanceusdm", wallets={"USDT": 1000.0}, positions=positions,
                   data_time=data_time)


def test_age_boundaries():
    assert age_status(0, TH) is DataStatus.LIVE
    assert age_status(5, TH) is DataStatus.LIVE
    assert age_status(5.01, TH) is DataStatus.DELAYED
    assert age_status(30, TH) is DataStatus.DELAYED
    assert age_status(30.01, TH) is DataStatus.STALE


def test_thresholds_must_be_ordered():
    with pytest.raises(ValueError, match="live_seconds < stale_seconds"):
        Thresholds(live_seconds=30, stale_seconds=5)


def test_fresh_inputs_are_live_without_a_reason():
    v = evaluate(T0 + 1, account=account(position(mark_time=T0)), thresholds=TH, expected_interval=2,
                 waiting_since=T0, marks_feed=MARKS_UP, account_feed=NO_STREAM)
    assert v.status is DataStatus.LIVE and v.reason is None
    assert v.positions[("main", "BTC/USDT:USDT", "both", "cross")].status is DataStatus.LIVE


def test_a_stale_mark_is_never_fresh_and_says_why():
    acct = account(position(mark_time=T0), position("ETH/USDT:USDT", mark_time=T0 + 42), data_time=T0 + 40)
    error = VenueError(ErrorKind.EXCHANGE_DOWN, "exchange returned HTTP 503")
    v = evaluate(T0 + 42, account=acct, thresholds=TH, expected_interval=2, waiting_since=T0,
                 marks_feed=MARKS_UP, account_feed=NO_STREAM, rest_error=error)
    btc = v.positions[("main", "BTC/USDT:USDT", "both", "cross")]
    assert btc.status is DataStatus.STALE
    assert btc.reason.startswith("no mark price for 42 s — mark stream silent for 42 s")
    assert "REST failing: exchange returned HTTP 503" in btc.reason
    assert v.positions[("main", "ETH/USDT:USDT", "both", "cross")].status is DataStatus.LIVE
    assert v.status is DataStatus.STALE
    assert "no mark price for BTC/USDT:USDT for 42 s" in v.reason
    assert v.oldest_mark_time == T0


def test_delayed_between_the_thresholds():
    v = evaluate(T0 + 6, account=account(position(mark_time=T0), data_time=T0 + 6), thresholds=TH,
                 expected_interval=2, waiting_since=T0, marks_feed=MARKS_UP, account_feed=NO_STREAM)
    assert v.status is DataStatus.DELAYED
    assert v.positions[("main", "BTC/USDT:USDT", "both", "cross")].status is DataStatus.DELAYED


def test_positions_and_balances_age_by_lateness_beyond_their_refresh_interval():
    acct = account(position(mark_time=T0 + 14), data_time=T0)
    kwargs = dict(account=acct, thresholds=TH, waiting_since=T0, marks_feed=MARKS_UP, account_feed=NO_STREAM)
    # confirmed every 10 s while a user-data stream is up: 14 s old is 4 s late -> live
    assert evaluate(T0 + 14, expected_interval=10, **kwargs).status is DataStatus.LIVE
    # polled every 2 s: 14 s old is 12 s late -> delayed, and every position with it
    v = evaluate(T0 + 14, expected_interval=2, **kwargs)
    assert v.status is DataStatus.DELAYED
    assert "positions and balances last confirmed 14 s ago" in v.reason
    assert v.positions[("main", "BTC/USDT:USDT", "both", "cross")].status is DataStatus.DELAYED
    assert evaluate(T0 + 40, expected_interval=2, **kwargs).status is DataStatus.STALE


def test_authentication_failure_is_an_error_and_keeps_positions_in_view():
    error = VenueError(ErrorKind.AUTH, "API key rejected (HTTP 401, code -2015)")
    v = evaluate(T0 + 1, account=account(position(mark_time=T0)), thresholds=TH, expected_interval=2,
                 waiting_since=T0, marks_feed=MARKS_UP, account_feed=NO_STREAM, fatal=error)
    assert v.status is DataStatus.ERROR
    assert "rejected the API key" in v.reason and "stopped" in v.reason
    (state,) = v.positions.values()
    assert state.status is DataStatus.ERROR and state.reason == v.reason


def test_before_any_data():
    kwargs = dict(account=None, thresholds=TH, expected_interval=2, waiting_since=T0,
                  marks_feed=MARKS_UP, account_feed=NO_STREAM)
    connecting = evaluate(T0 + 3, **kwargs)
    assert connecting.status is DataStatus.DELAYED and "connecting" in connecting.reason
    assert evaluate(T0 + 31, **kwargs).status is DataStatus.STALE
    failing = evaluate(T0 + 3, rest_error=VenueError(ErrorKind.NETWORK, "connection refused"),
                       rest_retry_at=T0 + 5, **kwargs)
    assert failing.status is DataStatus.ERROR
    assert failing.reason == "cannot read the account — REST failing: connection refused (retry in 2.0 s)"


def test_a_stream_that_is_down_is_named_in_the_reason():
    down = FeedState(supported=True, last_message=T0, error="connection reset")
    v = evaluate(T0 + 8, account=account(position(mark_time=T0), data_time=T0 + 8), thresholds=TH,
                 expected_interval=2, waiting_since=T0, marks_feed=down, account_feed=NO_STREAM)
    assert v.reason == "no mark price for BTC/USDT:USDT for 8.0 s — mark stream down (connection reset)"


@pytest.mark.parametrize(("age", "interval", "missed"), [
    (8.0, 10.0, False),  # between two reads
    (15.0, 10.0, False),  # the next read is 5 s late: within the live margin, as for balances
    (15.1, 10.0, True),  # a read cycle missed
    (7.5, 2.0, True),  # polling every 2 s: late sooner
    (500.0, None, False),  # the interval is unknown: nothing to judge it against
])
def test_the_exchange_figure_missed_a_read_cycle(age, interval, missed) -> None:
    assert read_cycle_missed(1_000.0 - age, interval, 1_000.0) is missed
