"""`desk watch --json-lines` follows a stop placed on the exchange through the order stream (issue 17).

A Binance USDⓈ-M account is added with `desk accounts add` and watched as a subprocess against the
fake exchange with its WebSocket streams. REST polling and reconciling are both set to an hour,
so within the test only a stream can prompt a REST read: the BTC position starts with nothing
closing it (unprotected); a stop is placed on the exchange (listed by REST, then pushed as an
ALGO_UPDATE on the user-data stream) and the next printed snapshot shows it protected, the
account still streaming. Every wait is on a condition, with a generous hang guard.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.exchanges.test_watch_pooled import HANG_GUARD, Desk, Ticks, account_of, stop
from tests.fake_exchange import FakeExchange, binance_ws
from tests.services.test_watch import Watch
from tests.support.file_keyring import BACKEND as FILE_KEYRING

pytestmark = pytest.mark.integration

BTC = "BTC/USDT:USDT"


@pytest.fixture
def streaming_desk(subprocess_env: dict[str, str], tmp_path: Path) -> Iterator[Desk]:
    api_key = "test-key-" + secrets.token_hex(8)
    secret = "test-secret-" + secrets.token_hex(16)
    env = dict(subprocess_env, PYTHON_KEYRING_BACKEND=FILE_KEYRING,
               DESK_TEST_KEYRING=str(tmp_path / "keyring.json"))
    server = FakeExchange(("binance", "binance_ws"))
    server.add_key(api_key, secret)
    server.state["binance_ws"]["interval"] = 0.2  # marks keep the account live
    state = server.state["binance"]
    state["openOrders"] = [o for o in state["openOrders"] if o["symbol"] != "BTCUSDT"]
    state["openAlgoOrders"] = [o for o in state["openAlgoOrders"] if o["symbol"] != "BTCUSDT"]
    with server.running() as running:
        yield Desk(running, env, api_key, secret, "")


def _btc(tick: dict[str, Any]) -> dict[str, Any]:
    (row,) = [p for p in account_of(tick)["positions"] if p["symbol"] == BTC]
    return row  # type: ignore[no-any-return]


def test_a_stop_pushed_on_the_order_stream_flips_the_verdict_in_the_next_line(streaming_desk: Desk) -> None:
    desk = streaming_desk
    keys = f"{desk.api_key}\n{desk.secret}\n"
    done = desk.run("accounts", "add", "bn", "--venue", "binanceusdm", "--api-url", desk.fake.url,
                    "--secrets-from-stdin", stdin=keys)
    assert done.returncode == 0, done.stderr
    for key in ("monitor.poll_seconds", "monitor.reconcile_seconds"):  # no timed REST read in the test
        done = desk.run("config", "set", key, "3600")
        assert done.returncode == 0, done.stderr
    algo = desk.fake.state["binance"]["openAlgoOrders"]
    stop_row = {"algoId": 4600001, "clientAlgoId": "desk-fake-4600001", "algoType": "CONDITIONAL",
                "orderType": "STOP_MARKET", "symbol": "BTCUSDT", "side": "SELL", "positionSide": "BOTH",
                "timeInForce": "GTC", "quantity": "0", "algoStatus": "NEW", "triggerPrice": "28000.00",
                "price": "0", "icebergQuantity": None, "selfTradePreventionMode": "EXPIRE_MAKER",
                "workingType": "MARK_PRICE", "priceMatch": "NONE", "closePosition": True,
                "priceProtect": True, "reduceOnly": False, "createTime": 1764806400000,
                "updateTime": 1764806400000, "triggerTime": 0, "goodTillDate": 0}

    watch = Watch(desk.env, "--json-lines")
    try:
        ticks = Ticks(watch)
        # streaming: the user-data stream is open and has answered its opening snapshot
        first = ticks.next_tick(lambda tick: tick["accounts"][0]["streaming"]
                                and _btc(tick)["protection"] is not None)
        # the stream's opening read is over (its orders read per symbol, BTC's before ETH's), so
        # the stop below can only reach desk through the push: two account reads, the monitor's
        # first and the stream's opening one, have each read both symbols' conditional orders
        binance_ws.wait_until(lambda: desk.fake.paths().count("GET /fapi/v1/openAlgoOrders") >= 4,
                              HANG_GUARD, "the stream's opening read")
        reads_before = desk.fake.paths().count("GET /fapi/v3/positionRisk")
        algo.append(stop_row)
        assert binance_ws.algo_update(desk.fake, stop_row) == 1
        flipped = ticks.next_tick(lambda tick: _btc(tick)["protection"]["verdict"] != "unprotected")
        reads_after = desk.fake.paths().count("GET /fapi/v3/positionRisk")
    finally:
        stop(watch)

    before = _btc(first)["protection"]
    assert before["verdict"] == "unprotected" and before["stops"] == []
    after = _btc(flipped)["protection"]
    assert after["verdict"] == "protected" and after["stop_price"] == 28_000
    assert after["coverage"] == 1.0
    assert flipped["accounts"][0]["streaming"] is True
    assert reads_after - reads_before == 1  # the push's read, nothing timed
