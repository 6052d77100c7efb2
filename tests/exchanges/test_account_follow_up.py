"""watch_account answers streamed changes with REST reads — coalesced, spaced, and backed off
when REST fails, so a busy stream never hammers a failing endpoint."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest

from desk.exchanges import ErrorKind, ReaderConfig, VenueError, open_reader
from tests.exchanges.conftest import Keys, run
from tests.fake_exchange import FakeExchange, Fault, binance_ws

UPDATE = [{"s": "BTCUSDT", "pa": "110.000", "ep": "32481.98", "up": "0", "mt": "cross", "iw": "0",
           "ps": "BOTH"}]


@pytest.fixture
def ws_fake(keys: Keys) -> Iterator[FakeExchange]:
    server = FakeExchange(venues=("binance", "binance_ws"))
    server.add_key(keys.api_key, keys.secret)
    with server.running() as running:
        yield running


def _position_reads(server: FakeExchange) -> int:
    return server.paths().count("GET /fapi/v3/positionRisk")


def test_a_busy_stream_while_rest_fails_backs_off_and_recovers(ws_fake, keys):
    reader = open_reader(ReaderConfig("main", "binanceusdm", api_url=ws_fake.url, markets_cache_dir=None,
                                      account_refresh_seconds=0.2,
                                      options={"timeout_ms": 2000, "rate_limit_ms": 1}), keys.as_secrets())
    errors: list[VenueError] = []
    snaps: list = []
    counts: dict[str, int] = {}

    async def push_updates(seconds: float) -> None:
        await asyncio.to_thread(binance_ws.wait_until,
                                lambda: ws_fake.state["binance_ws"]["user_sockets"], 5, "user stream")
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:  # 20 updates a second
            await asyncio.to_thread(binance_ws.account_update, ws_fake, UPDATE)
            await asyncio.sleep(0.05)

    async def consume_like_the_monitor(stop: asyncio.Event) -> None:
        while not stop.is_set():
            stream = reader.watch_account()
            try:
                async for snap in stream:
                    snaps.append(snap)
                    if stop.is_set():
                        return
            except VenueError as error:
                errors.append(error)
                await asyncio.sleep(0.05)  # a monitor with a short backoff of its own
            finally:
                await stream.aclose()

    async def go() -> None:
        stop = asyncio.Event()
        consumer = asyncio.create_task(consume_like_the_monitor(stop))
        try:
            async with asyncio.timeout(5):
                while not snaps:
                    await asyncio.sleep(0.02)
            ws_fake.inject(Fault("status", path="/fapi/v3/positionRisk", status=503,
                                 body='{"code":-1001,"msg":"Internal error."}'))
            counts["before"] = _position_reads(ws_fake)
            await push_updates(1.5)
            counts["failing"] = _position_reads(ws_fake) - counts["before"]
            counts["snaps_while_failing"] = len(snaps)
            ws_fake.clear_faults()
            pusher = asyncio.create_task(push_updates(3.0))
            async with asyncio.timeout(4):
                while len(snaps) == counts["snaps_while_failing"]:
                    await asyncio.sleep(0.02)
            pusher.cancel()
            stop.set()
        finally:
            consumer.cancel()
            await asyncio.gather(consumer, return_exceptions=True)
            await reader.close()

    run(go())
    # 30 updates arrived while REST failed; reads at ~0.2, 0.6 and 1.4 s (spacing doubling from 0.2 s)
    assert 1 <= counts["failing"] <= 4, counts
    assert errors and all(e.kind is ErrorKind.EXCHANGE_DOWN for e in errors)
    assert len(errors) == counts["failing"]  # each failed read surfaced, none swallowed
    assert snaps[-1].account.positions  # recovered by itself once REST answered again


def test_concurrent_snapshots_share_one_read(fake, keys, make_config):
    async def go():
        reader = open_reader(make_config("binanceusdm"), keys.as_secrets())
        try:
            return await asyncio.gather(reader.snapshot(), reader.snapshot())
        finally:
            await reader.close()

    first, second = run(go())
    assert fake.paths().count("GET /fapi/v3/positionRisk") == 1
    assert first.account == second.account
    assert first.request_weight > 0 and second.request_weight == 0  # the weight is counted once
