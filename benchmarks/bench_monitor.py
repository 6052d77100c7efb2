"""Monitor speed: update-to-snapshot latency under load, and CPU when idle-ish.

    .venv/bin/python -m benchmarks.bench_monitor [--seconds 30] [--cpu-seconds 25]

1. 500 positions over 10 accounts, 20 mark updates per second in total: the delay from a mark
   update arriving (the reader yields it on the monitor's loop) to the recomputed snapshot being
   published on the bus — p50, p99, max. Target: p99 <= 20 ms.
2. 50 positions (5 accounts) at 1 mark update per second: CPU used by the monitor thread and by
   the whole process, as a share of one core. Target: <= 2 %.

Readers are in-process (no network) so the figures are the monitor's own: merge, the real risk
engine (desk.domain.engine.compute_risk) on the affected account, status evaluation, snapshot
assembly and publication.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import resource
import statistics
import sys
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import replace

from desk.domain.model import Account, Kind, MarginMode, Position, Reported, Side, Tier
from desk.exchanges.base import AccountSnapshot, MarkUpdate
from desk.services.bus import EventBus
from desk.services.monitor import Monitor, MonitorConfig
from desk.services.snapshot import MonitorSnapshot

TIERS = (
    Tier(0.0, 50_000.0, 0.004, 0.0, 125.0),
    Tier(50_000.0, 250_000.0, 0.005, 50.0, 100.0),
    Tier(250_000.0, 1_000_000.0, 0.01, 1_300.0, 50.0),
    Tier(1_000_000.0, 1e12, 0.025, 16_300.0, 20.0),
)


def make_account(name: str, n_positions: int, rng: random.Random) -> Account:
    positions = []
    for i in range(n_positions):
        mark = rng.uniform(1, 70_000)
        side = Side.LONG if i % 2 == 0 else Side.SHORT
        isolated = i % 5 == 0
        contracts = rng.uniform(1, 50) * 1_000 / mark
        positions.append(Position(
            symbol=f"S{i}/USDT:USDT", settle="USDT", kind=Kind.LINEAR, contracts=contracts, side=side,
            entry_price=mark * rng.uniform(0.95, 1.05), mark_price=mark,
            margin_mode=MarginMode.ISOLATED if isolated else MarginMode.CROSS,
            isolated_margin=contracts * mark / 10 if isolated else None, leverage=10.0, tiers=TIERS,
            reported=Reported(), mark_time=time.time(),
        ))
    return Account(name=name, venue="binanceusdm", wallets={"USDT": 30_000.0 * n_positions / 50},
                   positions=tuple(positions), data_time=time.time())


class BenchReader:
    """A streaming reader whose marks arrive on a fixed schedule (``rate`` updates per second)."""

    streams_marks = True
    streams_positions = False

    def __init__(self, account: Account, rate: float, offset: float, arrivals: dict, lock: threading.Lock):
        self.account_name = account.name
        self.venue = account.venue
        self.account = account
        self.rate = rate
        self.offset = offset
        self.arrivals = arrivals  # (account, symbol, price) -> perf_counter at arrival
        self.lock = lock
        self.rng = random.Random(account.name)
        self.marks = {p.symbol: p.mark_price for p in account.positions}
        self.running = True

    async def snapshot(self) -> AccountSnapshot:
        now = time.time()
        # the venue's REST answer carries the same (latest) marks as its stream
        account = replace(self.account, data_time=now,
                          positions=tuple(replace(p, mark_price=self.marks[p.symbol], mark_time=now)
                                          for p in self.account.positions))
        return AccountSnapshot(account=account, observed_at=now, request_weight=10)

    async def watch_marks(self, symbols: tuple[str, ...]) -> AsyncIterator[MarkUpdate]:
        period = 1.0 / self.rate
        next_at = time.monotonic() + self.offset
        marks = self.marks
        while self.running:
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
            next_at += period
            symbol = self.rng.choice(symbols)
            marks[symbol] = round(marks[symbol] * (1 + self.rng.gauss(0, 0.0005)), 6)
            with self.lock:
                self.arrivals[(self.account_name, symbol, marks[symbol])] = (time.perf_counter(),
                                                                              time.thread_time())
            yield MarkUpdate({symbol: marks[symbol]}, time.time())

    async def watch_account(self) -> AsyncIterator[AccountSnapshot]:  # pragma: no cover - not streamed
        raise NotImplementedError
        yield

    async def close(self) -> None:
        self.running = False


def latency_run(seconds: float, accounts: int = 10, per_account: int = 50, rate: float = 20.0) -> None:
    rng = random.Random(1)
    arrivals: dict[tuple[str, str, float], float] = {}
    lock = threading.Lock()
    readers = [BenchReader(make_account(f"acct{i}", per_account, rng), rate / accounts,
                           offset=i / rate, arrivals=arrivals, lock=lock) for i in range(accounts)]
    delays: list[float] = []
    on_cpu: list[float] = []
    snapshots = [0]

    def on_snapshot(snap: object) -> None:
        received = time.perf_counter()
        received_cpu = time.thread_time()  # the monitor thread: the reader yields on it too
        assert isinstance(snap, MonitorSnapshot)
        snapshots[0] += 1
        with lock:
            pending = list(arrivals.items())
        if not pending:
            return
        wanted = {key[0] for key, _ in pending}
        marks = {(p.account, p.symbol): p.mark_price for a in snap.report.accounts if a.name in wanted
                 for p in a.positions}
        done = []
        for key, (t, cpu) in pending:
            if marks.get((key[0], key[1])) == key[2]:
                delays.append(received - t)
                on_cpu.append(received_cpu - cpu)
                done.append(key)
        with lock:
            for key in done:
                arrivals.pop(key, None)

    bus = EventBus()
    bus.subscribe(on_snapshot, MonitorSnapshot)
    monitor = Monitor(readers, bus, config=MonitorConfig())
    monitor.start()
    time.sleep(2.0)  # first REST reads, streams subscribed, first full computes
    delays.clear()
    on_cpu.clear()
    time.sleep(seconds)
    monitor.stop(10)
    total = accounts * per_account
    if not delays:
        print("latency: no update measured", file=sys.stderr)
        return
    delays.sort()
    p50 = statistics.median(delays) * 1000
    p99 = delays[min(len(delays) - 1, int(len(delays) * 0.99))] * 1000
    print(f"latency: {total} positions over {accounts} accounts, {rate:g} mark updates/s, {seconds:g} s, "
          f"{len(delays)} updates measured, {snapshots[0]} snapshots published")
    print(f"  update -> recomputed snapshot published: p50 {p50:.2f} ms, p99 {p99:.2f} ms, "
          f"max {delays[-1] * 1000:.2f} ms  (target p99 <= 20 ms: {'ok' if p99 <= 20 else 'MISSED'})")
    on_cpu.sort()
    print(f"  of which the monitor thread was on the CPU: p50 {statistics.median(on_cpu) * 1000:.2f} ms, "
          f"p99 {on_cpu[min(len(on_cpu) - 1, int(len(on_cpu) * 0.99))] * 1000:.2f} ms "
          f"(the rest is waiting for a core)")


def scheduler_noise(seconds: float = 3.0, work_ms: float = 1.0) -> None:
    """The machine's own tail: wall time of a fixed ~1 ms CPU job, repeated (other load shows here)."""
    walls = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        t, c = time.perf_counter(), time.thread_time()
        while time.thread_time() - c < work_ms / 1000:
            pass
        walls.append(time.perf_counter() - t)
        time.sleep(0.01)
    walls.sort()
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"machine: a {work_ms:g} ms CPU job takes p50 {statistics.median(walls) * 1000:.2f} ms, "
          f"p99 {walls[int(len(walls) * 0.99)] * 1000:.2f} ms of wall time; load average {load}")


def cpu_run(seconds: float, accounts: int = 5, per_account: int = 10, rate: float = 1.0) -> None:
    rng = random.Random(2)
    arrivals: dict[tuple[str, str, float], float] = {}
    lock = threading.Lock()
    readers = [BenchReader(make_account(f"acct{i}", per_account, rng), rate / accounts,
                           offset=i / rate, arrivals=arrivals, lock=lock) for i in range(accounts)]
    bus = EventBus()
    monitor = Monitor(readers, bus, config=MonitorConfig())
    monitor.start()
    time.sleep(2.0)

    def thread_cpu() -> float:
        usage = resource.getrusage(resource.RUSAGE_THREAD)
        return usage.ru_utime + usage.ru_stime

    thread_before = monitor.call(thread_cpu)
    process_before = time.process_time()
    wall_before = time.monotonic()
    time.sleep(seconds)
    thread_after = monitor.call(thread_cpu)
    process_after = time.process_time()
    wall = time.monotonic() - wall_before
    monitor.stop(10)
    print(f"cpu: {accounts * per_account} positions over {accounts} accounts, {rate:g} mark update/s, "
          f"{wall:.1f} s (ticks every second, REST reconcile every 10 s)")
    share = (thread_after - thread_before) / wall * 100
    process_share = (process_after - process_before) / wall * 100
    verdict = "ok" if share <= 2 else "MISSED"
    print(f"  monitor thread: {share:.2f} % of a core; whole process: {process_share:.2f} %  "
          f"(target <= 2 %: {verdict})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="latency run length")
    parser.add_argument("--cpu-seconds", type=float, default=25.0, help="CPU run length")
    args = parser.parse_args()
    scheduler_noise()
    latency_run(args.seconds)
    cpu_run(args.cpu_seconds)


if __name__ == "__main__":
    main()
