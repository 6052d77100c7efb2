"""ccxt loads a REST positions snapshot in a background task inside watch_positions. When that
read fails (a timeout), the watch must fail with a VenueError — not wait for ever — and asyncio
must have nothing left to complain about ("Future exception was never retrieved")."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import Iterator

import pytest

from desk.exchanges import ErrorKind, ReaderConfig, VenueError, open_reader
from tests.exchanges.conftest import Keys
from tests.fake_exchange import FakeExchange, Fault


@pytest.fixture
def ws_fake(keys: Keys) -> Iterator[FakeExchange]:
    server = FakeExchange(venues=("binance", "binance_ws"))
    server.add_key(keys.api_key, keys.secret)
    with server.running() as running:
        yield running


def test_snapshot_timeout_inside_watch_positions_fails_the_stream_cleanly(ws_fake, keys, caplog):
    reader = open_reader(ReaderConfig("main", "binanceusdm", api_url=ws_fake.url, markets_cache_dir=None,
                                      account_refresh_seconds=0.05,
                                      options={"timeout_ms": 400, "rate_limit_ms": 1}), keys.as_secrets())
    unhandled: list[dict] = []

    async def go() -> tuple[VenueError, int]:
        asyncio.get_running_loop().set_exception_handler(lambda loop, ctx: unhandled.append(ctx))
        ws_fake.inject(Fault("delay", path="/fapi/v3/positionRisk", seconds=1.0, times=1))
        try:
            stream = reader.watch_account()
            with pytest.raises(VenueError) as info:
                async with asyncio.timeout(5):  # before the fix: waited for ever
                    await anext(stream)
            await stream.aclose()
            # the fault is gone: a reopened stream loads the snapshot again and reads the account
            stream = reader.watch_account()
            async with asyncio.timeout(5):
                snap = await anext(stream)
            await stream.aclose()
            return info.value, len(snap.account.positions)
        finally:
            await reader.close()
            gc.collect()
            await asyncio.sleep(0)

    with caplog.at_level(logging.DEBUG, logger="asyncio"):
        error, positions = asyncio.run(asyncio.wait_for(go(), timeout=20))
        gc.collect()
    assert error.kind is ErrorKind.NETWORK and "in time" in str(error)
    assert positions == 2
    assert ws_fake.paths().count("GET /fapi/v3/positionRisk") >= 3  # timed out, reloaded, read
    assert not [c for c in unhandled if "never retrieved" in str(c.get("message"))], unhandled
    assert "never retrieved" not in caplog.text
