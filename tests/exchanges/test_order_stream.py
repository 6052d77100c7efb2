"""Order pushes on the venue's private stream prompt the account's REST read (issue 17).

A stop placed, moved or cancelled on the exchange arrives as an order event (Binance
ORDER_TRADE_UPDATE / ALGO_UPDATE on the listen-key stream, Bybit's private ``order`` topic);
``watch_account`` answers it with the same coalesced REST read a position event gets, so the
next snapshot carries the orders and the position's protection verdict follows — before any
poll. Everything runs through the real reader (ccxt.pro, the read-only guard) against the fake
exchange's WebSocket servers; every wait is on a condition.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

from desk.domain.engine import compute_risk
from desk.domain.model import Portfolio
from desk.domain.protection import OrderKind, Verdict
from desk.exchanges import AccountSnapshot, ErrorKind, ReaderConfig, VenueError, open_reader
from desk.exchanges.guard import READ_METHODS, ReadOnlyViolation
from desk.exchanges.reader import CcxtReader
from tests.exchanges.conftest import HL_ADDRESS, Keys, run
from tests.fake_exchange import FakeExchange, binance_ws, bybit_ws, okx_ws

BTC = "BTC/USDT:USDT"


def _verdict(snap: AccountSnapshot, symbol: str = BTC) -> Verdict:
    positions = compute_risk(Portfolio((snap.account,))).accounts[0].positions
    (risk,) = [p for p in positions if p.symbol == symbol]
    assert risk.protection is not None  # the orders were read
    return risk.protection.verdict


def _stops(snap: AccountSnapshot, symbol: str = BTC) -> list[Any]:
    return [o for o in snap.account.orders or () if o.symbol == symbol and o.kind is OrderKind.STOP]


async def _until(predicate: Callable[[], bool], what: str) -> None:
    while not predicate():  # the test's outer timeout is the hang guard
        await asyncio.sleep(0.02)
    assert predicate(), what


def test_watch_orders_is_a_read_and_writes_stay_refused() -> None:
    assert "watch_orders" in READ_METHODS
    assert not {m for m in READ_METHODS if m.startswith(("create", "cancel", "edit"))}


# ---------------------------------------------------------------------------- Binance USDⓈ-M


@pytest.fixture
def binance(keys: Keys) -> Iterator[FakeExchange]:
    server = FakeExchange(venues=("binance", "binance_ws"))
    server.add_key(keys.api_key, keys.secret)
    state = server.state["binance"]
    # BTC starts with nothing closing it: no trailing stop, no conditional stop or take-profit
    state["openOrders"] = [o for o in state["openOrders"] if o["symbol"] != "BTCUSDT"]
    state["openAlgoOrders"] = [o for o in state["openAlgoOrders"] if o["symbol"] != "BTCUSDT"]
    with server.running() as running:
        yield running


def _binance_reader(server: FakeExchange, keys: Keys, refresh: float = 0.05) -> CcxtReader:
    return open_reader(ReaderConfig("main", "binanceusdm", api_url=server.url, markets_cache_dir=None,
                                    account_refresh_seconds=refresh,
                                    options={"timeout_ms": 3000, "rate_limit_ms": 1}), keys.as_secrets())


def _algo_stop(algo_id: int, trigger: str, quantity: str, whole: bool = False) -> dict[str, Any]:
    """A conditional stop-market selling BTCUSDT, as /fapi/v1/openAlgoOrders lists it."""
    return {"algoId": algo_id, "clientAlgoId": f"desk-fake-{algo_id}", "algoType": "CONDITIONAL",
            "orderType": "STOP_MARKET", "symbol": "BTCUSDT", "side": "SELL", "positionSide": "BOTH",
            "timeInForce": "GTC", "quantity": "0" if whole else quantity, "algoStatus": "NEW",
            "triggerPrice": trigger, "price": "0", "icebergQuantity": None,
            "selfTradePreventionMode": "EXPIRE_MAKER", "workingType": "MARK_PRICE", "priceMatch": "NONE",
            "closePosition": whole, "priceProtect": True, "reduceOnly": not whole,
            "createTime": 1764806400000, "updateTime": 1764806400000, "triggerTime": 0, "goodTillDate": 0}


def _reads(server: FakeExchange) -> int:
    return server.paths().count("GET /fapi/v3/positionRisk")


def test_binance_algo_stop_pushed_flips_unprotected_to_protected(binance: FakeExchange, keys: Keys) -> None:
    reader = _binance_reader(binance, keys)
    assert reader.streams_positions and reader.streams_orders
    algo = binance.state["binance"]["openAlgoOrders"]

    async def go() -> tuple[AccountSnapshot, AccountSnapshot, list[AccountSnapshot], int]:
        stream: AsyncIterator[AccountSnapshot] = reader.watch_account()
        try:
            first = await anext(stream)  # the position stream's opening snapshot prompts a read
            await _until(lambda: binance.state["binance_ws"]["user_sockets"], "the user stream")
            reads = _reads(binance)
            # the stop is placed on the exchange: REST lists it, then the stream says so
            algo.append(_algo_stop(4400001, "28000.00", "0", whole=True))
            assert await asyncio.to_thread(binance_ws.algo_update, binance, algo[-1]) == 1
            second = await anext(stream)
            after_place = _reads(binance) - reads
            # the stop is moved beyond the liquidation price (26316.89), then cancelled
            moved = dict(algo[-1], triggerPrice="26000.00")
            algo[-1] = moved
            await asyncio.to_thread(binance_ws.algo_update, binance, moved)
            third = await anext(stream)
            algo.pop()
            await asyncio.to_thread(binance_ws.algo_update, binance, moved, "CANCELED")
            fourth = await anext(stream)
            return first, second, [third, fourth], after_place
        finally:
            await stream.aclose()  # type: ignore[attr-defined]
            await reader.close()

    first, second, (moved, cancelled), after_place = run(go())
    assert _stops(first) == [] and _verdict(first) is Verdict.UNPROTECTED
    (stop,) = _stops(second)
    assert (stop.trigger_price, stop.contracts, stop.source) == (28_000, None, "conditional")
    assert _verdict(second) is Verdict.PROTECTED
    assert after_place == 1  # one REST read answered the push
    assert [s.trigger_price for s in _stops(moved)] == [26_000]
    assert _verdict(moved) is Verdict.BEYOND_LIQUIDATION
    assert _stops(cancelled) == [] and _verdict(cancelled) is Verdict.UNPROTECTED
    # each answer is a full REST read: the venue's liquidation price is there, not a stream's None
    btc = {p.symbol: p for p in second.account.positions}[BTC]
    assert btc.reported.liquidation_price == 26316.89


def test_binance_plain_stop_order_update_prompts_the_read(binance: FakeExchange, keys: Keys) -> None:
    reader = _binance_reader(binance, keys)
    plain = binance.state["binance"]["openOrders"]
    row = {"orderId": 8389765519081239001, "symbol": "BTCUSDT", "status": "NEW",
           "clientOrderId": "web_sl_btc", "price": "0", "avgPrice": "0", "origQty": "109.488",
           "executedQty": "0", "cumQuote": "0",
           "timeInForce": "GTC", "type": "STOP_MARKET", "reduceOnly": True, "closePosition": False,
           "side": "SELL", "positionSide": "BOTH", "stopPrice": "29000.00", "workingType": "MARK_PRICE",
           "priceProtect": False, "origType": "STOP_MARKET", "priceMatch": "NONE",
           "selfTradePreventionMode": "EXPIRE_MAKER", "goodTillDate": 0, "time": 1764806400000,
           "updateTime": 1764806400000}

    async def go() -> tuple[AccountSnapshot, AccountSnapshot]:
        stream: AsyncIterator[AccountSnapshot] = reader.watch_account()
        try:
            first = await anext(stream)
            await _until(lambda: binance.state["binance_ws"]["user_sockets"], "the user stream")
            plain.append(row)
            assert await asyncio.to_thread(binance_ws.order_update, binance, row) == 1
            return first, await anext(stream)
        finally:
            await stream.aclose()  # type: ignore[attr-defined]
            await reader.close()

    first, second = run(go())
    assert _verdict(first) is Verdict.UNPROTECTED
    (stop,) = _stops(second)
    assert (stop.trigger_price, stop.contracts, stop.source) == (29_000, 109.488, "order")
    assert _verdict(second) is Verdict.PROTECTED


def test_binance_burst_of_order_pushes_is_one_read(binance: FakeExchange, keys: Keys) -> None:
    """Ten stops placed one after the other (a ladder of 10 × 10.9488 BTC) while the consumer is
    busy with the previous snapshot: one REST read answers them all."""
    reader = _binance_reader(binance, keys)
    algo = binance.state["binance"]["openAlgoOrders"]
    ladder = [_algo_stop(4500000 + i, f"{29_900 - 100 * i}.00", "10.9488") for i in range(10)]

    async def go() -> tuple[AccountSnapshot, AccountSnapshot, int, int]:
        stream: AsyncIterator[AccountSnapshot] = reader.watch_account()
        try:
            first = await anext(stream)
            await _until(lambda: binance.state["binance_ws"]["user_sockets"], "the user stream")
            reads = _reads(binance)
            for row in ladder:
                algo.append(row)
                await asyncio.to_thread(binance_ws.algo_update, binance, row)
            # all ten reached ccxt's order cache before the next snapshot is asked for
            await _until(lambda: len(reader._raw.orders or ()) == len(ladder), "ten order events")
            second = await anext(stream)
            return first, second, reads, _reads(binance)
        finally:
            await stream.aclose()  # type: ignore[attr-defined]
            await reader.close()

    first, second, before, after = run(go())
    assert _verdict(first) is Verdict.UNPROTECTED
    assert after - before == 1  # ten pushes, one read
    assert sorted(s.trigger_price for s in _stops(second)) == sorted(float(r["triggerPrice"]) for r in ladder)
    assert _verdict(second) is Verdict.PROTECTED  # 10 × 10.9488 = the whole 109.488


def test_an_order_stream_error_ends_the_iteration_and_says_which_stream(
        binance: FakeExchange, keys: Keys, monkeypatch: pytest.MonkeyPatch) -> None:
    """A watch_orders failure is raised as a classified VenueError naming the order stream — never
    swallowed while the position stream goes on."""
    import ccxt

    reader = _binance_reader(binance, keys)
    raw = reader._raw

    async def refused(*args: Any, **kwargs: Any) -> Any:
        raise ccxt.NetworkError("binanceusdm user data stream closed")

    monkeypatch.setattr(raw, "watch_orders", refused)

    async def go() -> VenueError:
        stream: AsyncIterator[AccountSnapshot] = reader.watch_account()
        try:
            with pytest.raises(VenueError) as info:
                while True:
                    await anext(stream)
            return info.value
        finally:
            await stream.aclose()  # type: ignore[attr-defined]
            await reader.close()

    error = run(go())
    assert error.kind is ErrorKind.NETWORK and error.retryable
    assert "main (binanceusdm)" in str(error) and "the order stream" in str(error)


def test_the_guard_still_refuses_order_placing_calls(binance: FakeExchange, keys: Keys) -> None:
    reader = _binance_reader(binance, keys)
    try:
        for name in ("create_order", "cancel_order", "edit_order", "create_orders", "cancel_all_orders"):
            with pytest.raises(ReadOnlyViolation):
                getattr(reader.exchange, name)
    finally:
        run(reader.close())


# ---------------------------------------------------------------------------- Bybit v5 private


@pytest.fixture
def bybit(keys: Keys) -> Iterator[FakeExchange]:
    server = FakeExchange(venues=("bybit", "bybit_ws"))
    server.add_key(keys.api_key, keys.secret)
    with server.running() as running:
        yield running


def _bybit_reader(server: FakeExchange, keys: Keys) -> CcxtReader:
    return open_reader(ReaderConfig("main", "bybit", api_url=server.url, markets_cache_dir=None,
                                    account_refresh_seconds=0.05,
                                    options={"timeout_ms": 3000, "rate_limit_ms": 1}), keys.as_secrets())


def test_bybit_private_order_push_flips_unprotected_to_protected(bybit: FakeExchange, keys: Keys) -> None:
    orders = bybit.state["bybit"]["orders"]["uta"]
    (stop_row,) = [o for o in orders if o["symbol"] == "BTCUSDT" and o["stopOrderType"] == "StopLoss"]
    (position,) = [p for p in bybit.state["bybit"]["uta"]["positions"] if p["symbol"] == "BTCUSDT"]
    level = position["stopLoss"]
    # BTC starts unprotected: a full-mode stop-loss is both an order and the position's stopLoss
    orders.remove(stop_row)
    position["stopLoss"] = ""
    reader = _bybit_reader(bybit, keys)
    assert reader.streams_positions and reader.streams_orders

    async def go() -> tuple[AccountSnapshot, AccountSnapshot]:
        stream: AsyncIterator[AccountSnapshot] = reader.watch_account()
        try:
            first = await anext(stream)
            await _until(lambda: "order" in bybit_ws.subscribed_private(bybit), "the order topic")
            orders.append(stop_row)
            position["stopLoss"] = level
            assert await asyncio.to_thread(bybit_ws.order_update, bybit, [copy.deepcopy(stop_row)]) == 1
            return first, await anext(stream)
        finally:
            await stream.aclose()  # type: ignore[attr-defined]
            await reader.close()

    first, second = run(go())
    assert _verdict(first) is Verdict.UNPROTECTED
    (stop,) = _stops(second)
    assert stop.trigger_price == 58_000 and stop.contracts is None  # full-mode TP/SL: qty 0
    assert _verdict(second) is Verdict.PROTECTED
    # authenticated once, then one subscription per topic, as ccxt sends them
    sent = bybit.state["bybit_ws"]["private_messages"]
    assert [m["op"] for m in sent if m["op"] == "auth"] == ["auth"]
    assert sorted(a for m in sent if m["op"] == "subscribe" for a in m["args"]) == ["order", "position"]


def test_bybit_order_topic_refused_is_reported_not_swallowed(bybit: FakeExchange, keys: Keys) -> None:
    bybit.state["bybit_ws"]["refuse_topics"].add("order")
    reader = _bybit_reader(bybit, keys)

    async def go() -> tuple[list[AccountSnapshot], VenueError]:
        snaps: list[AccountSnapshot] = []
        stream: AsyncIterator[AccountSnapshot] = reader.watch_account()
        try:
            with pytest.raises(VenueError) as info:
                while True:
                    snaps.append(await anext(stream))
            return snaps, info.value
        finally:
            await stream.aclose()  # type: ignore[attr-defined]
            await reader.close()

    _snaps, error = run(go())
    assert "the order stream" in str(error) and "main (bybit)" in str(error)
    assert "handler not found" in str(error)  # Bybit's own answer, kept for the user
    # retryable: the monitor marks the account stream down, polls (orders included) and reopens it
    assert error.kind is ErrorKind.BAD_RESPONSE and error.retryable


def test_hyperliquid_order_pushes_alone_do_not_make_the_account_streaming() -> None:
    """ccxt follows Hyperliquid's orderUpdates, but an order stream sees no liquidation, ADL,
    funding or transfer: counted as streaming, the account would be read at the reconcile
    interval instead of polled. So it stays polled, orders and all, and watch_account says why."""
    reader = open_reader(ReaderConfig("main", "hyperliquid", wallet_address=HL_ADDRESS,
                                      markets_cache_dir=None), {})
    try:
        assert reader._raw.has["watchOrders"] and reader._raw.has["watchPositions"]
        assert not reader.streams_positions and not reader.streams_orders

        async def first() -> AccountSnapshot:
            return await anext(reader.watch_account())

        with pytest.raises(VenueError) as info:
            run(first())
        assert info.value.kind is ErrorKind.CONFIG and "no position stream" in str(info.value)
    finally:
        run(reader.close())


# ---------------------------------------------------------------------------- OKX v5 private/business


@pytest.fixture
def okx(keys: Keys) -> Iterator[FakeExchange]:
    server = FakeExchange(venues=("okx", "okx_ws"))
    server.add_key(keys.api_key, keys.secret)
    server.state["okx"]["passphrases"][keys.api_key] = keys.passphrase
    with server.running() as running:
        yield running


def test_okx_algo_order_push_on_the_business_socket_flips_the_verdict(okx: FakeExchange, keys: Keys) -> None:
    """OKX's stops are algo orders, pushed on "orders-algo" (business socket), not on "orders"."""
    algo = okx.state["okx"]["orders_algo_pending"]
    (stop_row,) = [o for o in algo if o["instId"] == "BTC-USDT-SWAP" and o["ordType"] == "conditional"]
    algo.remove(stop_row)  # the linear BTC swap starts unprotected
    reader = open_reader(ReaderConfig("main", "okx", api_url=okx.url, markets_cache_dir=None,
                                      account_refresh_seconds=0.05,
                                      options={"timeout_ms": 3000, "rate_limit_ms": 1}), keys.okx())
    assert reader.streams_positions and reader.streams_orders

    async def go() -> tuple[AccountSnapshot, AccountSnapshot]:
        stream: AsyncIterator[AccountSnapshot] = reader.watch_account()
        try:
            first = await anext(stream)  # OKX pushes the positions snapshot on subscription
            await _until(lambda: {"positions", "orders", "orders-algo"} <= okx_ws.subscribed(okx),
                         "the three channels")
            algo.append(stop_row)
            assert await asyncio.to_thread(okx_ws.order_update, okx, "orders-algo", [stop_row]) == 1
            return first, await anext(stream)
        finally:
            await stream.aclose()  # type: ignore[attr-defined]
            await reader.close()

    first, second = run(go())
    assert _verdict(first) is Verdict.UNPROTECTED
    (stop,) = _stops(second)
    assert (stop.trigger_price, stop.contracts, stop.source) == (55_000, None, "algo")  # closeFraction 1
    assert _verdict(second) is Verdict.PROTECTED
    # logged in on both sockets; orders on the private one, algo orders on the business one
    sent = okx.state["okx_ws"]["messages"]
    assert sorted(access for access, m in sent if m["op"] == "login") == ["business", "private"]
    assert sorted((access, arg["channel"]) for access, m in sent if m["op"] == "subscribe"
                  for arg in m["args"]) == [("business", "orders-algo"), ("private", "orders"),
                                            ("private", "positions")]
