"""Bybit mark prices through ccxt.pro's watch_tickers against the fake v5 public WebSocket."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from desk.exchanges import ErrorKind, ReaderConfig, open_reader
from tests.exchanges.conftest import Keys
from tests.fake_exchange import FakeExchange, bybit_ws
from tests.support.streams import drop_then_reopen

LINEAR_BTC, LINEAR_ETH, INVERSE_BTC = "BTC/USDT:USDT", "ETH/USDT:USDT", "BTC/USD:BTC"


@pytest.fixture
def ws_fake(keys: Keys) -> Iterator[FakeExchange]:
    server = FakeExchange(venues=("bybit", "bybit_ws"))
    server.add_key(keys.api_key, keys.secret)
    server.state["bybit_ws"]["interval"] = 0.05
    with server.running() as running:
        yield running


def _reader(server: FakeExchange, keys: Keys):
    return open_reader(ReaderConfig("main", "bybit", api_url=server.url, markets_cache_dir=None,
                                    options={"timeout_ms": 2000, "rate_limit_ms": 1}), keys.as_secrets())


def test_marks_stream_per_category_snapshot_then_deltas(ws_fake, keys):
    reader = _reader(ws_fake, keys)
    assert reader.streams_marks

    async def go() -> dict[str, list[float]]:
        seen: dict[str, list[float]] = {}
        moved = False
        stream = reader.watch_marks((LINEAR_BTC, LINEAR_ETH, INVERSE_BTC))
        try:
            async for update in stream:
                assert update.observed_at > 0
                for symbol, mark in update.marks.items():
                    seen.setdefault(symbol, []).append(mark)
                if not moved and len(seen) == 3:
                    bybit_ws.set_mark(ws_fake, "BTCUSDT", 63_000.0)  # only deltas carry it from now
                    moved = True
                if 63_000.0 in seen.get(LINEAR_BTC, []):
                    return seen
        finally:
            await stream.aclose()
            await reader.close()
        return seen

    seen = asyncio.run(asyncio.wait_for(go(), timeout=15))
    assert set(seen) == {LINEAR_BTC, LINEAR_ETH, INVERSE_BTC}
    assert seen[LINEAR_BTC][0] == 62_000 and seen[LINEAR_BTC][-1] == 63_000
    assert set(seen[LINEAR_ETH]) == {2950} and set(seen[INVERSE_BTC]) == {8100}
    # one socket per category, each subscribed only to its own symbols (Bybit refuses the others)
    subs = {(category, tuple(sorted(body["args"]))) for category, body in
            ws_fake.state["bybit_ws"]["subscribe_messages"]}
    assert subs == {("linear", ("tickers.BTCUSDT", "tickers.ETHUSDT")), ("inverse", ("tickers.BTCUSD",))}
    assert all(body["op"] == "subscribe" for _, body in ws_fake.state["bybit_ws"]["subscribe_messages"])


def test_dropped_socket_raises_a_retryable_network_error_and_a_new_stream_reconnects(ws_fake, keys):
    reader = _reader(ws_fake, keys)

    error, mark = drop_then_reopen(reader, (LINEAR_BTC,), LINEAR_BTC, lambda: bybit_ws.drop(ws_fake))
    assert error.kind is ErrorKind.NETWORK and error.retryable
    assert "main (bybit)" in str(error)
    assert mark == 62_000
    assert ws_fake.state["bybit_ws"]["connections"]["linear"] == 2
