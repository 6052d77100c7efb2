"""Read-only by construction: no mutating call passes the guard or reaches the server."""

from __future__ import annotations

import asyncio
import re

import pytest

from desk.exchanges import ReaderConfig
from desk.exchanges.adapters import adapter_for
from desk.exchanges.guard import READ_METHODS, ReadOnlyExchange, ReadOnlyViolation, check_request
from desk.exchanges.reader import build_exchange

MUTATING = re.compile(
    r"^(create|cancel|edit|withdraw|transfer|add_margin|reduce_margin|set_|borrow|repay|close_position|"
    r"close_all|modify|redeem|subscribe|sign_in|upgrade|enable_|approve|claim)")


# Local setters that make no request and change nothing on the venue (ccxt's in-memory market list).
LOCAL_ONLY = {"set_markets"}


def _mutating_unified_methods() -> list[str]:
    import ccxt.async_support

    names = [n for n in dir(ccxt.async_support.Exchange) if not n.startswith("_") and MUTATING.match(n)
             and callable(getattr(ccxt.async_support.Exchange, n)) and n not in LOCAL_ONLY]
    assert len(names) > 60  # create_*, cancel_*, edit_*, withdraw, transfer, set_* … (sanity)
    return names


def test_allow_list_contains_no_mutating_name():
    assert not [n for n in READ_METHODS if MUTATING.match(n) and n not in LOCAL_ONLY]


@pytest.mark.parametrize("venue", ["binanceusdm", "bybit", "okx", "hyperliquid", "gate"])
def test_every_mutating_unified_method_is_refused_by_the_proxy(venue):
    cfg = ReaderConfig("main", venue, wallet_address="0x" + "5e11" * 10)
    secrets_ = {"apiKey": "test-key", "secret": "test-secret", "password": "test-pass"}
    guarded = ReadOnlyExchange(build_exchange(cfg, secrets_, adapter_for(venue)))
    for name in _mutating_unified_methods():
        with pytest.raises(ReadOnlyViolation, match=name):
            getattr(guarded, name)
    for name in ("request", "fetch", "fetch2", "sign", "privatePostV5OrderCreate", "fapiPrivatePostOrder",
                 "sapi_post_capital_withdraw_apply", "apiKey_set"):
        with pytest.raises(ReadOnlyViolation):
            getattr(guarded, name)
    with pytest.raises(ReadOnlyViolation):
        guarded.options = {}


WRITES = [
    ("create_order", ("BTC/USDT:USDT", "market", "buy", 0.01)),
    ("cancel_order", ("123", "BTC/USDT:USDT")),
    ("cancel_all_orders", ("BTC/USDT:USDT",)),
    ("edit_order", ("123", "BTC/USDT:USDT", "limit", "buy", 0.01, 30000)),
    ("set_leverage", (5, "BTC/USDT:USDT")),
    ("set_margin_mode", ("isolated", "BTC/USDT:USDT")),
    ("set_position_mode", (True,)),
    ("add_margin", ("BTC/USDT:USDT", 10)),
    ("reduce_margin", ("BTC/USDT:USDT", 10)),
    ("transfer", ("USDT", 10, "future", "spot")),
    ("withdraw", ("USDT", 10, "TXaddressFAKE")),
    ("close_position", ("BTC/USDT:USDT",)),
]


@pytest.mark.parametrize("venue", ["binanceusdm", "bybit"])
def test_writes_on_the_raw_instance_never_reach_the_server(fake, keys, make_config, venue):
    """Even code that bypasses the proxy cannot send a write: the transport refuses it."""
    raw = build_exchange(make_config(venue), keys.as_secrets(), adapter_for(venue))

    async def attempt() -> list[str]:
        refused = []
        try:
            await raw.load_markets()
            for name, args in WRITES:
                try:
                    await getattr(raw, name)(*args)
                except ReadOnlyViolation:
                    refused.append(name)
                except Exception:  # ccxt may refuse earlier (unsupported call); still no request
                    pass
        finally:
            await raw.close()
        return refused

    refused = asyncio.run(asyncio.wait_for(attempt(), timeout=30))
    assert {"create_order", "cancel_order", "set_leverage", "set_margin_mode"} <= set(refused)
    assert [str(r) for r in fake.requests if r.method != "GET"] == []
    writes = re.compile(r"order|leverage|margin|withdraw|transfer|position/set", re.IGNORECASE)
    assert not [r for r in fake.requests if writes.search(r.path) and r.path != "/fapi/v1/leverageBracket"]


@pytest.mark.parametrize(("venue", "method", "url", "allowed"), [
    ("binanceusdm", "GET", "http://h/fapi/v3/positionRisk", True),
    ("binanceusdm", "POST", "http://h/fapi/v1/listenKey", True),
    ("binanceusdm", "PUT", "http://h/fapi/v1/listenKey", True),
    ("binanceusdm", "POST", "http://h/fapi/v1/order", False),
    ("binanceusdm", "POST", "http://h/fapi/v1/leverage", False),
    ("binanceusdm", "POST", "http://h/sapi/v1/capital/withdraw/apply", False),
    ("binanceusdm", "DELETE", "http://h/fapi/v1/allOpenOrders", False),
    ("bybit", "POST", "http://h/v5/order/create", False),
    ("bybit", "POST", "http://h/v5/position/set-leverage", False),
    ("bybit", "POST", "http://h/fapi/v1/listenKey", False),
    ("hyperliquid", "POST", "http://h/info", True),
    ("hyperliquid", "POST", "http://h/exchange", False),
])
def test_transport_check(venue, method, url, allowed):
    if allowed:
        check_request(venue, method, url)
    else:
        with pytest.raises(ReadOnlyViolation):
            check_request(venue, method, url)
