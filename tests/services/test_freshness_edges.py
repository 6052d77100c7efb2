"""A mark stream that has gone quiet: named as the cause while the marks are merely delayed, and
not counted as a healthy stream — so the monitor polls REST at ``poll_seconds`` instead of waiting
the long reconcile interval of working streams."""

from __future__ import annotations

import random

from desk.domain.model import Account
from desk.services.freshness import FeedState, Thresholds, evaluate
from desk.services.monitor import MonitorConfig, _AccountRun
from desk.services.snapshot import DataStatus
from tests.support.monitor import ScriptedReader, position

T0 = 1_700_000_000.0
TH = Thresholds(live_seconds=5, stale_seconds=30)
OPEN = FeedState(supported=True, open=True)


def test_a_mark_stream_silent_between_the_thresholds_is_named_as_the_cause() -> None:
    quiet = FeedState(supported=True, open=True, last_message=T0)
    acct = Account("main", "binanceusdm", {"USDT": 1000.0}, (position(mark_time=T0),), data_time=T0 + 10)
    v = evaluate(T0 + 10, account=acct, thresholds=TH, expected_interval=2, waiting_since=T0,
                 marks_feed=quiet, account_feed=FeedState(supported=False))
    assert v.status is DataStatus.DELAYED
    assert v.reason == "no mark price for BTC/USDT:USDT for 10 s — mark stream silent for 10 s"
    btc = v.positions[("main", "BTC/USDT:USDT", "both", "cross")]
    assert btc.reason == "no mark price for 10 s — mark stream silent for 10 s"


def test_a_stream_is_healthy_only_while_it_delivered_within_the_limit() -> None:
    feed = FeedState(supported=True, open=True, last_message=T0)
    assert feed.healthy(T0 + 5, within=5)
    assert not feed.healthy(T0 + 5.01, within=5)
    assert feed.healthy(T0 + 3600, within=None)  # a user-data stream may rightly stay quiet
    assert not OPEN.healthy(T0, within=5)  # never delivered
    assert not FeedState(supported=True, open=True, last_message=T0, error="reset").healthy(T0, within=5)
    assert not FeedState(supported=True, open=False, last_message=T0).healthy(T0, within=5)


def test_a_silent_mark_stream_hands_over_to_polling() -> None:
    config = MonitorConfig(live_seconds=5, stale_seconds=30, reconcile_seconds=60, poll_seconds=2)
    reader = ScriptedReader("main", (position(),), streams_positions=True)
    run = _AccountRun(reader, config, T0, random.Random(7))
    run.base = reader.account
    run.account_feed = FeedState(supported=True, open=True, last_message=T0)
    run.marks_feed = FeedState(supported=True, open=True, last_message=T0)
    assert run.streams_healthy(T0 + 4)  # marks within live_seconds: REST only reconciles
    assert not run.streams_healthy(T0 + 6)  # silent for 6 s: poll REST for the marks
