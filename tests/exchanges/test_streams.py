"""ccxt.pro streams of the Binance reader against the fake exchange's WebSocket endpoints."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from desk.exchanges import ReaderConfig, open_reader
from tests.exchanges.conftest import Keys
from tests.fake_exchange import FakeExchange, binance_ws


@pytest.fixture
def ws_fake(keys: Keys) -> Iterator[FakeExchange]:
    server = FakeExchange(venues=("binance", "binance_ws"))
    server.add_key(keys.api_key, keys.secret)
    server.state["binance_ws"]["interval"] = 0.05
    with server.running() as running:
        yield running


def _reader(server: FakeExchange, keys: Keys):
    return open_reader(ReaderConfig("main", "binanceusdm", api_url=server.url, markets_cache_dir=None,
                                    account_refresh_seconds=0.1,
                                    options={"timeout_ms": 2000}), keys.as_secrets())


def test_watch_marks_follows_the_mark_price_stream(ws_fake, keys):
    reader = _reader(ws_fake, keys)
    assert reader.streams_marks and reader.streams_positions

    async def go() -> list[float]:
        seen: list[float] = []
        stream = reader.watch_marks(("BTC/USDT:USDT", "ETH/USDT:USDT"))
        try:
            async for update in stream:
                assert update.observed_at > 0
                btc = update.marks.get("BTC/USDT:USDT")
                if btc is not None:
                    seen.append(btc)
                    if len(seen) == 2:
                        binance_ws.set_mark(ws_fake, "BTCUSDT", 33_000.0)
                    if btc == 33_000.0:
                        return seen
        finally:
            await stream.aclose()
            await reader.close()
        return seen

    seen = asyncio.run(asyncio.wait_for(go(), timeout=20))
    assert seen[0] == pytest.approx(31967.27) and seen[-1] == 33_000.0
    subscribed = ws_fake.state["binance_ws"]["subscribe_messages"]
    assert any("btcusdt@markPrice@1s" in str(m) for m in subscribed)


def test_watch_account_rereads_by_rest_on_each_position_event(ws_fake, keys):
    reader = _reader(ws_fake, keys)

    async def push_when_connected() -> None:
        # the position grows on the venue, then the user-data stream says so
        ws_fake.state["binance"]["positionRisk"][1]["positionAmt"] = "110.000"
        await asyncio.to_thread(binance_ws.wait_until,
                                lambda: ws_fake.state["binance_ws"]["user_sockets"], 10, "user stream")
        await asyncio.sleep(0.2)
        await asyncio.to_thread(binance_ws.account_update, ws_fake, [
            {"s": "BTCUSDT", "pa": "110.000", "ep": "32481.98", "up": "0", "mt": "cross", "iw": "0",
             "ps": "BOTH"}])

    async def go() -> list:
        snaps = []
        pusher = None
        stream = reader.watch_account()
        try:
            async for snap in stream:
                snaps.append(snap)
                if len(snaps) == 1:
                    pusher = asyncio.create_task(push_when_connected())
                if len(snaps) == 2:
                    await pusher
                    return snaps
        finally:
            await stream.aclose()
            await reader.close()
        return snaps

    first, second = asyncio.run(asyncio.wait_for(go(), timeout=20))
    btc = {p.symbol: p for p in second.account.positions}["BTC/USDT:USDT"]
    assert btc.contracts == 110 and btc.mark_price == pytest.approx(31967.27)  # REST truth, mark kept
    assert btc.reported.liquidation_price == 26316.89
    assert len(first.account.positions) == 2
