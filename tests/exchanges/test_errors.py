"""Every failure becomes a VenueError of the right kind with a message a person can act on.

Driven through ccxt against the fake exchange, so the mapping is tested on the real wire.
"""

from __future__ import annotations

import json

import pytest

from desk.exchanges import ErrorKind, VenueError
from tests.exchanges.conftest import HL_ADDRESS, read_many, read_once
from tests.fake_exchange import Fault


def _fails(cfg, secrets_) -> VenueError:
    with pytest.raises(VenueError) as info:
        read_once(cfg, secrets_)
    error = info.value
    text = str(error)
    for value in secrets_.values():
        assert value not in text  # never a key or secret in a message
    return error


def test_revoked_key_is_auth(fake, keys, make_config):
    fake.revoke(keys.api_key)
    error = _fails(make_config("binanceusdm"), keys.as_secrets())
    assert error.kind is ErrorKind.AUTH and not error.retryable
    assert "rejected the API key" in str(error) and "desk accounts add main" in str(error)


def test_wrong_secret_is_auth_naming_the_signature(fake, keys, make_config):
    secrets_ = dict(keys.as_secrets(), secret="test-secret-wrong")
    error = _fails(make_config("binanceusdm"), secrets_)
    assert error.kind is ErrorKind.AUTH and "signature" in str(error)


def test_clock_skew_is_absorbed_by_time_synchronisation(fake, keys, make_config):
    fake.clock_offset_ms = 45_000  # far outside Binance's 5 s recvWindow... for an unsynchronised client
    snap = read_once(make_config("binanceusdm"), keys.as_secrets())
    assert snap.account.positions


def test_clock_jump_after_sync_resynchronises_and_retries(fake, keys, make_config):
    def jump(i: int) -> None:
        if i == 1:
            fake.clock_offset_ms = -60_000
    first, second = read_many(make_config("binanceusdm"), keys.as_secrets(), 2, between=jump)
    assert first.account.positions and second.account.positions
    rejected = [r for r in fake.requests if r.path == "/fapi/v3/positionRisk"]
    assert len(rejected) == 3  # ok, rejected with -1021, retried after the resync
    assert fake.paths().count("GET /fapi/v1/time") == 2


def test_clock_skew_that_persists_is_clock_skew(fake, keys, make_config):
    fake.inject(Fault("status", path="/fapi/v3/positionRisk", status=400, body=json.dumps(
        {"code": -1021, "msg": "Timestamp for this request is outside of the recvWindow."})))
    error = _fails(make_config("binanceusdm"), keys.as_secrets())
    assert error.kind is ErrorKind.CLOCK_SKEW and "clock" in str(error)


@pytest.mark.parametrize(("fault", "kind"), [
    (Fault("status", status=429, body='{"code":-1003,"msg":"Too many requests; current limit is 2400."}'),
     ErrorKind.RATE_LIMIT),
    (Fault("status", status=418, body='{"code":-1003,"msg":"Way too many requests; IP banned."}'),
     ErrorKind.RATE_LIMIT),
    (Fault("html", status=502), ErrorKind.EXCHANGE_DOWN),
    (Fault("html", status=403, body="<html><body>Request blocked (WAF)</body></html>"),
     ErrorKind.EXCHANGE_DOWN),
    (Fault("status", status=503,
           body='{"code":-1001,"msg":"Internal error; unable to process your request."}'),
     ErrorKind.EXCHANGE_DOWN),
    (Fault("delay", seconds=1.6), ErrorKind.NETWORK),
    (Fault("non_json"), ErrorKind.BAD_RESPONSE),
    (Fault("empty"), ErrorKind.BAD_RESPONSE),
])
def test_positions_endpoint_faults(fake, keys, make_config, fault, kind):
    fault.path = "/fapi/v3/positionRisk"
    fake.inject(fault)
    cfg = make_config("binanceusdm", options={"timeout_ms": 1000, "rate_limit_ms": 1})
    error = _fails(cfg, keys.as_secrets())
    assert error.kind is kind, str(error)
    if kind is ErrorKind.RATE_LIMIT:
        assert error.retry_after and error.retry_after > 0


def test_non_json_200_is_never_read_as_flat(fake, keys, make_config):
    """ccxt turns a non-JSON 200 into `[]` positions; desk must refuse it on every endpoint."""
    for path in ("/fapi/v3/positionRisk", "/fapi/v3/account", "/fapi/v1/leverageBracket",
                 "/fapi/v1/exchangeInfo"):
        fake.clear_faults()
        fake.inject(Fault("non_json", path=path, body="OK"))
        error = _fails(make_config("binanceusdm", markets_cache_dir=None), keys.as_secrets())
        assert error.kind is ErrorKind.BAD_RESPONSE, path
        assert "not JSON" in str(error) or "unreadable" in str(error)


def test_empty_position_list_contradicted_by_account_is_bad_response(fake, keys, make_config):
    fake.state["binance"]["positionRisk"] = []  # partial data: the account still shows margin in use
    error = _fails(make_config("binanceusdm"), keys.as_secrets())
    assert error.kind is ErrorKind.BAD_RESPONSE and "incomplete" in str(error)


def test_truly_flat_account_reads_as_flat(fake, keys, make_config):
    state = fake.state["binance"]
    state["positionRisk"] = []
    state["account"]["positions"] = []
    state["account"]["totalMaintMargin"] = "0.00000000"
    for asset in state["account"]["assets"]:
        asset["maintMargin"] = "0.00000000"
    snap = read_once(make_config("binanceusdm"), keys.as_secrets())
    assert snap.account.positions == ()
    assert snap.account.wallets["USDT"] == pytest.approx(1535443.01)


def test_position_row_missing_mark_is_bad_response(fake, keys, make_config):
    del fake.state["binance"]["positionRisk"][0]["markPrice"]
    error = _fails(make_config("binanceusdm"), keys.as_secrets())
    assert error.kind is ErrorKind.BAD_RESPONSE and "mark price" in str(error)


def test_connection_refused_is_network(keys, tmp_path):
    from desk.exchanges import ReaderConfig

    cfg = ReaderConfig("main", "binanceusdm", api_url="http://127.0.0.1:9", markets_cache_dir=None,
                       options={"timeout_ms": 2000})
    error = _fails(cfg, keys.as_secrets())
    assert error.kind in (ErrorKind.NETWORK, ErrorKind.EXCHANGE_DOWN) and error.retryable


def test_dropped_connection_is_retryable(fake, keys, make_config):
    fake.inject(Fault("drop", path="/fapi/v3/account"))
    error = _fails(make_config("binanceusdm"), keys.as_secrets())
    assert error.retryable


def test_bybit_revoked_key_is_auth(fake, keys, make_config):
    fake.revoke(keys.api_key)
    assert _fails(make_config("bybit"), keys.as_secrets()).kind is ErrorKind.AUTH


def test_bybit_bad_signature_is_auth(fake, keys, make_config):
    error = _fails(make_config("bybit"), dict(keys.as_secrets(), secret="test-secret-wrong"))
    assert error.kind is ErrorKind.AUTH


def test_bybit_key_without_read_permission_is_permission(fake, keys, make_config):
    fake.keys[keys.api_key].can_read = False
    error = _fails(make_config("bybit"), keys.as_secrets())
    assert error.kind is ErrorKind.PERMISSION and "read access" in str(error)


def test_bybit_non_json_positions_is_bad_response(fake, keys, make_config):
    fake.inject(Fault("non_json", path="/v5/position/list"))
    assert _fails(make_config("bybit"), keys.as_secrets()).kind is ErrorKind.BAD_RESPONSE


def test_hyperliquid_html_page_is_exchange_down(fake, make_config):
    fake.inject(Fault("html", path="/info", status=502, times=None))
    cfg = make_config("hyperliquid", wallet_address=HL_ADDRESS, markets_cache_dir=None)
    assert _fails(cfg, {}).kind is ErrorKind.EXCHANGE_DOWN


def test_hyperliquid_without_wallet_address_is_config(fake, make_config):
    error = _fails(make_config("hyperliquid"), {})
    assert error.kind is ErrorKind.CONFIG and "--wallet-address" in str(error)


def test_missing_secret_is_config_before_any_request(fake, make_config):
    with pytest.raises(VenueError) as info:
        from desk.exchanges import open_reader

        open_reader(make_config("okx"), {"apiKey": "test-key", "secret": "test-secret"})
    assert info.value.kind is ErrorKind.CONFIG and "password" in str(info.value)
    assert fake.requests == []


def test_unknown_venue_is_config():
    from desk.exchanges import ReaderConfig, open_reader

    with pytest.raises(VenueError) as info:
        open_reader(ReaderConfig("x", "binanse"), {})
    assert info.value.kind is ErrorKind.CONFIG and "binanse" in str(info.value)
