"""Rate limits: desk waits as long as the venue asks (Retry-After, Binance's ban end, Bybit's
reset time), else a default by status — never a fixed guess."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from email.utils import format_datetime

import pytest

from desk.exchanges import ErrorKind, VenueError
from desk.exchanges.errors import RATE_LIMIT_DEFAULTS, retry_after_of
from tests.exchanges.conftest import read_once
from tests.fake_exchange import Fault


def _rate_limited(cfg, secrets_) -> VenueError:
    with pytest.raises(VenueError) as info:
        read_once(cfg, secrets_)
    assert info.value.kind is ErrorKind.RATE_LIMIT and info.value.retryable, str(info.value)
    return info.value


def test_binance_weight_limit_429_waits_until_the_minute_the_header_names(fake, keys, make_config):
    # the venue's clock set 20 s into its minute, so the read does not straddle the next minute (whose
    # weight starts afresh); the wait is compared with the Retry-After the venue sent
    fake.clock_offset_ms = (20_000 - fake.now_ms()) % 60_000
    fake.state["binance"]["weight_limit"] = 0  # the first request fits, the next one is over
    error = _rate_limited(make_config("binanceusdm"), keys.as_secrets())
    sent = fake.state["binance"]["retry_after_sent"]
    assert 30 <= sent <= 40  # sent in the venue's minute, seconds 20–30
    assert error.retry_after == pytest.approx(sent, abs=1.5)
    assert "rate limit" in str(error) and "waits" in str(error)


def test_binance_ip_ban_418_waits_until_the_ban_ends(fake, keys, make_config):
    fake.state["binance"]["banned_until"] = fake.now_ms() + 300_000
    error = _rate_limited(make_config("binanceusdm"), keys.as_secrets())
    assert error.retry_after == pytest.approx(300, abs=1.5)
    assert "banned" in str(error) and "5 min" in str(error)


def test_ban_end_in_the_message_counts_without_a_header_and_on_the_venue_clock(fake, keys, make_config):
    fake.clock_offset_ms = 20_000  # the venue's clock runs 20 s ahead; desk syncs to it first
    until = fake.now_ms() + 600_000
    fake.inject(Fault("status", path="/fapi/v3/positionRisk", status=418, body=json.dumps(
        {"code": -1003, "msg": f"Way too much request weight used; IP banned until {until}."})))
    error = _rate_limited(make_config("binanceusdm"), keys.as_secrets())
    assert error.retry_after == pytest.approx(600, abs=2)


def test_the_longest_wait_the_venue_names_wins(fake, keys, make_config):
    until = fake.now_ms() + 900_000
    fake.inject(Fault("status", path="/fapi/v3/positionRisk", status=418, headers={"Retry-After": "120"},
                      body=json.dumps({"code": -1003, "msg": f"IP banned until {until}."})))
    assert _rate_limited(make_config("binanceusdm"), keys.as_secrets()).retry_after == \
        pytest.approx(900, abs=2)


@pytest.mark.parametrize("status", [429, 418])
def test_without_a_named_wait_the_default_depends_on_the_status(fake, keys, make_config, status):
    fake.inject(Fault("status", path="/fapi/v3/positionRisk", status=status,
                      body='{"code":-1003,"msg":"Too many requests."}'))
    error = _rate_limited(make_config("binanceusdm"), keys.as_secrets())
    assert error.retry_after == RATE_LIMIT_DEFAULTS[status]
    assert RATE_LIMIT_DEFAULTS[429] < RATE_LIMIT_DEFAULTS[418]


def test_bybit_10006_waits_until_the_reset_timestamp(fake, keys, make_config):
    fake.state["bybit"]["limited_until"] = fake.now_ms() + 45_000
    error = _rate_limited(make_config("bybit"), keys.as_secrets())
    assert error.retry_after == pytest.approx(45, abs=1.5)


def test_okx_bare_429_is_a_rate_limit_with_its_retry_after(fake, keys, make_config):
    # ccxt maps OKX's HTTP 429 without a JSON code to ExchangeNotAvailable; the status decides
    fake.inject(Fault("status", path="/api/v5/account/positions", status=429, body="",
                      content_type="text/plain", headers={"Retry-After": "4"}))
    assert _rate_limited(make_config("okx"), keys.okx()).retry_after == 4


def test_retry_after_as_http_date_is_relative_to_the_answer_date():
    sent = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
    headers = {"Date": format_datetime(sent, usegmt=True),
               "Retry-After": format_datetime(sent.replace(minute=2), usegmt=True)}
    assert retry_after_of(429, headers, "") == 120


def test_bybit_reset_timestamp_and_nonsense_values():
    now = 1_700_000_000_000
    assert retry_after_of(200, {"X-Bapi-Limit-Reset-Timestamp": str(now + 2500)}, "", now) == 2.5
    assert retry_after_of(429, {"Retry-After": "soon"}, "", now) == RATE_LIMIT_DEFAULTS[429]
    assert retry_after_of(418, {"Retry-After": "-5"}, "", now) == RATE_LIMIT_DEFAULTS[418]
    assert retry_after_of(429, {"Retry-After": "0.2"}, "", now) == 1.0  # never a busy loop
    assert retry_after_of(418, {}, f"IP banned until {now + 10**12}", now) == 3 * 86_400  # capped
