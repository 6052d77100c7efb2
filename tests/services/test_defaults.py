"""One default per number: what the settings store offers for ``monitor.*`` and ``alerts.*`` is what
the services use when no settings are given (the demo, ``desk watch`` without a config, tests).

They are declared twice (desk.services may not depend on the store's option table for its own
dataclass defaults), so this test holds them together."""

from __future__ import annotations

import pytest

from desk.domain.model import Account
from desk.services.alerts_config import AlertConfig, Thresholds
from desk.services.freshness import FeedState, evaluate
from desk.services.monitor import MonitorConfig, monitor_config_from_settings
from desk.services.snapshot import DataStatus
from desk.store.settings import option
from tests.support.monitor import position

MONITOR = ("live_seconds", "stale_seconds", "reconcile_seconds", "poll_seconds")
THRESHOLDS = ("distance_warning", "distance_critical", "margin_ratio_warning", "margin_ratio_critical",
              "stale_seconds", "disagree_ticks")


@pytest.mark.parametrize("name", MONITOR)
def test_monitor_defaults_agree_with_the_settings_defaults(name: str) -> None:
    assert getattr(MonitorConfig(), name) == option(f"monitor.{name}").default


@pytest.mark.parametrize("name", THRESHOLDS)
def test_alert_threshold_defaults_agree_with_the_settings_defaults(name: str) -> None:
    assert getattr(Thresholds(), name) == option(f"alerts.{name}").default


def test_alert_defaults_agree_with_the_settings_defaults() -> None:
    config = AlertConfig()
    assert config.enabled == option("alerts.enabled").default
    assert config.rearm_margin == option("alerts.rearm_margin").default
    assert config.cooldown_seconds == option("alerts.cooldown_minutes").default * 60
    assert config.digest_threshold == option("alerts.digest_threshold").default
    assert config.sound == option("alerts.sound").default
    assert config.desktop == option("alerts.desktop").default


def test_a_polling_only_account_read_at_the_default_interval_stays_live() -> None:
    # No streams: every mark comes with a REST read, every poll_seconds. Allowing 1 s for the read
    # itself, the marks must still count as live just before the next one lands — otherwise the
    # account flickers "delayed" on every poll.
    config = monitor_config_from_settings(None)
    t0 = 1_700_000_000.0
    now = t0 + config.poll_seconds + 1.0
    acct = Account("main", "binanceusdm", {"USDT": 1_000.0}, (position(mark_time=t0),), data_time=t0)
    verdict = evaluate(now, account=acct, thresholds=config.thresholds, expected_interval=config.poll_seconds,
                       waiting_since=t0, marks_feed=FeedState(supported=False),
                       account_feed=FeedState(supported=False))
    assert verdict.status is DataStatus.LIVE, verdict.reason
    assert option("monitor.poll_seconds").default == config.poll_seconds
