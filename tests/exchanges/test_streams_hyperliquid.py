"""Hyperliquid mark prices through ccxt.pro (activeAssetCtx per coin) against the fake /ws."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from desk.exchanges import ErrorKind, ReaderConfig, open_reader
from tests.exchanges.conftest import HL_ADDRESS
from tests.fake_exchange import FakeExchange, hyperliquid_ws
from tests.support.streams import drop_then_reopen

BTC, ETH = "BTC/USDC:USDC", "ETH/USDC:USDC"


@pytest.fixture
def ws_fake() -> Iterator[FakeExchange]:
    server = FakeExchange(venues=("hyperliquid", "hyperliquid_ws"))
    server.state["hyperliquid_ws"]["interval"] = 0.05
    with server.running() as running:
        yield running


def _reader(server: FakeExchange):
    return open_reader(ReaderConfig("main", "hyperliquid", api_url=server.url, markets_cache_dir=None,
                                    wallet_address=HL_ADDRESS,
                                    options={"timeout_ms": 2000, "rate_limit_ms": 1}), {})


def test_marks_are_the_asset_context_mark_not_the_mid(ws_fake):
    # mid and mark differ: the stream must report the mark
    ws_fake.state["hyperliquid_ws"]["contexts"]["BTC"]["midPx"] = "61990.0"
    reader = _reader(ws_fake)
    assert reader.streams_marks

    async def go() -> dict[str, list[float]]:
        seen: dict[str, list[float]] = {}
        moved = False
        stream = reader.watch_marks((BTC, ETH))
        try:
            async for update in stream:
                for symbol, mark in update.marks.items():
                    seen.setdefault(symbol, []).append(mark)
                if not moved and len(seen) == 2:
                    hyperliquid_ws.set_mark(ws_fake, "BTC", 63_000.0)
                    moved = True
                if 63_000.0 in seen.get(BTC, []):
                    return seen
        finally:
            await stream.aclose()
            await reader.close()
        return seen

    seen = asyncio.run(asyncio.wait_for(go(), timeout=15))
    assert set(seen) == {BTC, ETH}
    assert seen[BTC][0] == 62_000 and 61_990 not in seen[BTC] and seen[BTC][-1] == 63_000
    assert set(seen[ETH]) == {3100}
    subs = ws_fake.state["hyperliquid_ws"]["subscriptions"]
    assert sorted(s["coin"] for s in subs) == ["BTC", "ETH"]
    assert all(s["type"] == "activeAssetCtx" for s in subs)  # never allMids (mids, not marks)


def test_dropped_socket_raises_a_retryable_network_error_and_a_new_stream_reconnects(ws_fake):
    reader = _reader(ws_fake)

    error, mark = drop_then_reopen(reader, (BTC, ETH), BTC, lambda: hyperliquid_ws.drop(ws_fake))
    assert error.kind is ErrorKind.NETWORK and error.retryable
    assert "main (hyperliquid)" in str(error)
    assert mark == 62_000
