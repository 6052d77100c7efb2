"""The demo readers behave like streaming venue readers on an asyncio loop: they stream marks,
push account changes, raise the scripted errors, go silent on a lost feed, honour cancellation
and close cleanly."""

from __future__ import annotations

import asyncio

import pytest

from desk.exchanges.base import ErrorKind, MarkUpdate, VenueError, VenueReader
from desk.exchanges.demo import DemoReader, open_demo_readers
from tests.support.demo import ManualClock, manual_market

INTERVAL = 0.005  # wall seconds between stream polls in these tests
HANG_GUARD = 60.0  # seconds; waits end on their condition, only a hang reaches this


def _reader(scenario: str, account: str, clock: ManualClock, speed: float = 1.0) -> DemoReader:
    market = manual_market(scenario, seed=7, clock=clock, speed=speed, stream_interval=INTERVAL)
    return DemoReader(market, account)


def test_open_demo_readers_share_one_market():
    readers = open_demo_readers("squeeze", seed=5, speed=30.0)
    assert [r.account_name for r in readers] == [
        "demo-binance-usdm", "demo-bybit-isolated", "demo-binance-coinm", "demo-hyperliquid",
        "demo-bybit-hedge", "demo-bybit-uta", "demo-binance-multi"]
    assert all(isinstance(r, VenueReader) and r.streams_marks and r.streams_positions for r in readers)
    markets = {id(r.market) for r in readers}  # type: ignore[attr-defined]
    assert len(markets) == 1
    market = readers[0].market  # type: ignore[attr-defined]
    assert (market.scenario, market.seed, market.speed) == ("squeeze", 5, 30.0)
    # Without a seed the market picks one and says which, so a run can be repeated.
    unseeded = open_demo_readers()[0].market  # type: ignore[attr-defined]
    assert isinstance(unseeded.seed, int)


def test_snapshot_advances_with_the_clock():
    clock = ManualClock()
    reader = _reader("calm", "demo-bybit-isolated", clock, speed=60.0)

    async def run():
        first = await reader.snapshot()
        clock.advance(2.0)  # 2 s of wall time at speed 60 = 120 simulated seconds
        second = await reader.snapshot()
        await reader.close()
        return first, second

    first, second = asyncio.run(run())
    assert reader.market.sim_time == 120
    assert second.observed_at - first.observed_at == pytest.approx(2.0)
    assert first.account.name == "demo-bybit-isolated" and first.account.venue == "bybit"
    assert {p.symbol for p in first.account.positions} == {"SOL/USDT:USDT", "ETH/USDT:USDT", "BTC/USDT:USDT"}
    assert first.account.positions[0].mark_price != second.account.positions[0].mark_price


def test_watch_marks_streams_changes_and_goes_silent_when_the_feed_is_lost():
    clock = ManualClock()
    reader = _reader("feed-loss", "demo-hyperliquid", clock)

    async def run():
        stream = reader.watch_marks(("ETH/USDC:USDC", "BTC/USDC:USDC", "NOPE/USDC:USDC"))
        updates: list[MarkUpdate] = [await anext(stream)]
        for _ in range(3):
            clock.advance(1.0)
            updates.append(await asyncio.wait_for(anext(stream), timeout=HANG_GUARD))
        clock.now += 30.0  # into the lost feed (30–330 s)
        # The marks that arrived before the loss (t = 29 s) are delivered, then nothing.
        last_before = await asyncio.wait_for(anext(stream), timeout=HANG_GUARD)
        assert last_before.observed_at == reader.market.epoch_at(29)
        pending = asyncio.ensure_future(anext(stream))
        for _ in range(5):
            clock.advance(1.0)
            await asyncio.sleep(INTERVAL * 4)
        assert not pending.done()  # silent while the feed is lost, though time goes on
        silent_at = reader.market.sim_time
        clock.now += 300.0  # the feed is back
        updates.append(await asyncio.wait_for(pending, timeout=HANG_GUARD))
        await stream.aclose()
        await reader.close()
        return updates, silent_at

    updates, silent_at = asyncio.run(run())
    assert silent_at > 30
    assert all(set(u.marks) == {"ETH/USDC:USDC", "BTC/USDC:USDC"} for u in updates)
    times = [u.observed_at for u in updates]
    assert times == sorted(times) and len(set(times)) == len(times)
    assert updates[1].marks != updates[0].marks
    assert updates[-1].observed_at == reader.market.epoch_at(reader.market.sim_time)


def test_watch_account_yields_after_funding_and_liquidation():
    clock = ManualClock()
    reader = _reader("flash-crash", "demo-bybit-isolated", clock)

    async def run():
        stream = reader.watch_account()
        task = asyncio.ensure_future(anext(stream))
        await asyncio.sleep(INTERVAL * 4)
        assert not task.done()  # nothing changed yet
        clock.now += 300.0  # funding at 300 s
        funded = await asyncio.wait_for(task, timeout=HANG_GUARD)
        clock.now += 2400.0  # through the crash: the SOL long is liquidated
        liquidated = await asyncio.wait_for(anext(stream), timeout=HANG_GUARD)
        await stream.aclose()
        return funded, liquidated

    funded, liquidated = asyncio.run(run())
    assert len(funded.account.positions) == 3
    # the stream says the SOL long closed (size 0, as Binance's ACCOUNT_UPDATE does), so a reader
    # folding updates onto what it holds drops it at once
    assert [p.contracts for p in liquidated.account.positions if p.symbol == "SOL/USDT:USDT"] == [0.0]
    assert len([p for p in liquidated.account.positions if p.contracts > 0]) == 2
    assert any(e.kind == "liquidation" for e in reader.market.events)


def test_scripted_errors_reach_the_caller_as_venue_errors():
    clock = ManualClock()
    reader = _reader("exchange-errors", "demo-binance-usdm", clock)

    async def run():
        await reader.snapshot()
        clock.now += 35.0
        with pytest.raises(VenueError) as snap_err:
            await reader.snapshot()
        with pytest.raises(VenueError) as stream_err:
            await anext(reader.watch_marks(()))
        clock.now += 15.0  # the window is over: reads work again
        snap = await reader.snapshot()
        return snap_err.value, stream_err.value, snap

    snap_err, stream_err, snap = asyncio.run(run())
    assert snap_err.kind is ErrorKind.NETWORK and snap_err.retryable
    assert stream_err.kind is ErrorKind.NETWORK
    assert snap.account.name == "demo-binance-usdm"


def test_streams_honour_cancellation_and_close():
    clock = ManualClock()
    reader = _reader("calm", "demo-binance-coinm", clock)

    async def consume(stream):
        async for _ in stream:
            pass

    async def run():
        marks = asyncio.ensure_future(consume(reader.watch_marks(())))
        account = asyncio.ensure_future(consume(reader.watch_account()))
        await asyncio.sleep(INTERVAL * 5)
        marks.cancel()
        with pytest.raises(asyncio.CancelledError):
            await marks
        # close() ends the remaining stream by itself, and later reads are refused.
        await reader.close()
        await asyncio.wait_for(account, timeout=HANG_GUARD)
        with pytest.raises(VenueError) as err:
            await reader.snapshot()
        return err.value

    err = asyncio.run(run())
    assert "closed" in str(err)


def test_a_liquidation_reaches_the_account_stream_before_the_marks_after_it():
    clock = ManualClock()
    reader = _reader("flash-crash", "demo-bybit-isolated", clock)
    # The account stream polls only once a minute by itself: what brings the liquidation to it
    # in time is the mark stream handing over when it notices the account changed.
    reader.account_poll = 60.0
    reader.market.advance_to(2000)  # the SOL long is critical; the venue liquidates it at ~2100 s
    clock.now += 2000.0
    log: list[tuple[str, float, bool]] = []

    async def marks():
        async for update in reader.watch_marks(("SOL/USDT:USDT",)):
            log.append(("marks", update.observed_at, True))

    async def account():
        async for snap in reader.watch_account():
            log.append(("account", snap.observed_at,
                        any(p.symbol == "SOL/USDT:USDT" and p.contracts > 0 for p in snap.account.positions)))

    async def run():
        tasks = [asyncio.ensure_future(marks()), asyncio.ensure_future(account())]
        await asyncio.sleep(INTERVAL * 3)
        clock.now += 400.0  # one big jump through the liquidation
        async with asyncio.timeout(HANG_GUARD):  # until both streams told of it, however slowly
            while not (any(kind == "account" for kind, _, _ in log) and log[-1][0] == "marks"):
                await asyncio.sleep(INTERVAL)
        await reader.close()
        await asyncio.wait_for(asyncio.gather(*tasks), timeout=HANG_GUARD)

    asyncio.run(run())
    (liquidation,) = [e for e in reader.market.events if e.kind == "liquidation"]
    first_after = next(i for i, (kind, at, _) in enumerate(log) if kind == "marks" and at >= liquidation.at)
    gone = next(i for i, (kind, _, has_sol) in enumerate(log) if kind == "account" and not has_sol)
    assert gone < first_after, log
