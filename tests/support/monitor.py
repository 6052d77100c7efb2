"""Test doubles for the monitor: a scripted VenueReader, a manual clock, an event recorder.

The scripted reader implements desk.exchanges.base.VenueReader without any network: the test
thread sets the account, pushes marks and stream updates, and injects failures; the monitor's
loop thread consumes them. Only for unit tests of the monitor's logic — the integration tests
drive real ccxt readers against the fake exchange server.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from typing import Any

from desk.domain.model import Account, Kind, MarginMode, Portfolio, Position, Reported, Side, Tier
from desk.domain.report import AccountRisk, PositionRisk, RiskReport
from desk.exchanges.base import AccountSnapshot, MarkUpdate, VenueError
from desk.services.snapshot import MonitorSnapshot, StatusChange

_END = object()


class ManualClock:
    def __init__(self, start: float = 1_700_000_000.0):
        self.now = start
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self.now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.now += seconds


def position(symbol: str = "BTC/USDT:USDT", *, contracts: float = 1.0, mark: float = 60_000.0,
             mark_time: float | None = None, side: Side = Side.LONG, entry: float = 58_000.0,
             liq: float | None = 50_000.0) -> Position:
    return Position(
        symbol=symbol, settle="USDT", kind=Kind.LINEAR, contracts=contracts, side=side,
        entry_price=entry, mark_price=mark, margin_mode=MarginMode.CROSS, leverage=10.0,
        tiers=(Tier(0.0, 1e9, 0.004, 0.0, 125.0),), reported=Reported(liquidation_price=liq),
        mark_time=mark_time,
    )


class ScriptedReader:
    """A VenueReader whose data and failures the test controls from its own thread."""

    def __init__(self, name: str, positions: tuple[Position, ...] = (), *, venue: str = "binanceusdm",
                 streams_marks: bool = True, streams_positions: bool = False,
                 clock: Callable[[], float] = time.time, wallet: float = 10_000.0, weight: float = 10.0):
        self.account_name = name
        self.venue = venue
        self._streams_marks = streams_marks
        self._streams_positions = streams_positions
        self.clock = clock
        self.account = Account(name=name, venue=venue, wallets={"USDT": wallet}, positions=positions)
        self.weight = weight
        self.rest_error: VenueError | None = None
        self.rest_delay = 0.0
        self.snapshot_calls: list[float] = []
        self.mark_subscriptions: list[tuple[str, ...]] = []
        self.account_subscriptions = 0
        self.warnings: tuple[str, ...] = ()  # what each REST read says it could not give
        self.closed = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._mark_queues: list[asyncio.Queue[Any]] = []
        self._account_queues: list[asyncio.Queue[Any]] = []
        self._lock = threading.Lock()

    @property
    def streams_marks(self) -> bool:
        return self._streams_marks

    @property
    def streams_positions(self) -> bool:
        return self._streams_positions

    # --- driven by the monitor (loop thread)

    async def snapshot(self) -> AccountSnapshot:
        self._loop = asyncio.get_running_loop()
        self.snapshot_calls.append(time.monotonic())
        if self.rest_delay:
            await asyncio.sleep(self.rest_delay)
        if self.rest_error is not None:
            raise self.rest_error
        now = self.clock()
        with self._lock:
            account = self.account
        stamped = tuple(p if p.mark_time is not None else replace(p, mark_time=now)
                        for p in account.positions)
        return AccountSnapshot(account=replace(account, positions=stamped, data_time=now), observed_at=now,
                               request_weight=self.weight, warnings=self.warnings)

    async def watch_marks(self, symbols: tuple[str, ...]) -> AsyncIterator[MarkUpdate]:
        self._loop = asyncio.get_running_loop()
        self.mark_subscriptions.append(symbols)
        queue: asyncio.Queue[Any] = asyncio.Queue()
        self._mark_queues.append(queue)
        try:
            while True:
                item = await queue.get()
                if item is _END:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            self._mark_queues.remove(queue)

    async def watch_account(self) -> AsyncIterator[AccountSnapshot]:
        self._loop = asyncio.get_running_loop()
        self.account_subscriptions += 1
        queue: asyncio.Queue[Any] = asyncio.Queue()
        self._account_queues.append(queue)
        try:
            while True:
                item = await queue.get()
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            self._account_queues.remove(queue)

    async def close(self) -> None:
        self.closed = True

    # --- driven by the test (any thread)

    def set_positions(self, *positions: Position) -> None:
        with self._lock:
            self.account = replace(self.account, positions=positions)

    def _put(self, queues: list[asyncio.Queue[Any]], item: Any) -> None:
        loop = self._loop
        assert loop is not None, "the monitor has not called this reader yet"
        for q in list(queues):
            loop.call_soon_threadsafe(q.put_nowait, item)

    def push_marks(self, marks: dict[str, float], observed_at: float | None = None) -> None:
        self._put(self._mark_queues, MarkUpdate(marks=marks, observed_at=observed_at or self.clock()))

    def break_marks(self, error: BaseException) -> None:
        self._put(self._mark_queues, error)

    def push_account(self, *positions: Position, observed_at: float | None = None,
                     wallets: dict[str, float] | None = None) -> None:
        at = observed_at or self.clock()
        account = Account(name=self.account_name, venue=self.venue, wallets=wallets or {},
                          positions=positions, data_time=at)
        self._put(self._account_queues, AccountSnapshot(account=account, observed_at=at))

    @property
    def marks_subscribed(self) -> bool:
        return bool(self._mark_queues)


def stub_compute(portfolio: Portfolio, *, target: float | None = None) -> RiskReport:
    """Carries the inputs through into report rows; risk figures are not this double's business."""
    accounts = []
    for account in portfolio.accounts:
        rows = tuple(
            PositionRisk(
                account=account.name, symbol=p.symbol, leg=p.leg.value, side=p.side.value,
                margin_mode=p.margin_mode.value, settle=p.settle, kind=p.kind.value, contracts=p.contracts,
                entry_price=p.entry_price, mark_price=p.mark_price, leverage=p.leverage,
                notional=p.contracts * p.contract_size * p.mark_price, unrealized_pnl=0.0,
                maintenance_margin=0.0, margin_ratio=None, liquidation_price=None, bankruptcy_price=None,
                distance_to_liquidation=None, reported_liquidation_price=p.reported.liquidation_price,
            )
            for p in account.positions
        )
        accounts.append(AccountRisk(name=account.name, venue=account.venue, rules="stub", generic_rules=True,
                                    pools=(), positions=rows, shock_to_liquidation=None))
    return RiskReport(accounts=tuple(accounts))


class Recorder:
    """Collects bus events (thread-safe) and waits for conditions with a deadline."""

    def __init__(self) -> None:
        self.events: list[object] = []
        self._cond = threading.Condition()

    def __call__(self, event: object) -> None:
        with self._cond:
            self.events.append(event)
            self._cond.notify_all()

    @property
    def snapshots(self) -> list[MonitorSnapshot]:
        with self._cond:
            return [e for e in self.events if isinstance(e, MonitorSnapshot)]

    @property
    def changes(self) -> list[StatusChange]:
        with self._cond:
            return [e for e in self.events if isinstance(e, StatusChange)]

    def wait_for(self, predicate: Callable[[], Any], timeout: float = 5.0, what: str = "condition") -> Any:
        deadline = time.monotonic() + timeout
        while True:
            # evaluated without the lock: a predicate may ask the monitor's thread (monitor.call),
            # which publishes its events under this lock — holding it here deadlocked the two
            result = predicate()
            if result:
                return result
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"timed out after {timeout} s waiting for {what}")
            with self._cond:
                self._cond.wait(min(left, 0.05))

    def wait_snapshot(self, predicate: Callable[[MonitorSnapshot], bool], timeout: float = 5.0,
                      what: str = "snapshot") -> MonitorSnapshot:
        def check() -> MonitorSnapshot | None:
            for s in reversed([e for e in self.events if isinstance(e, MonitorSnapshot)]):
                if predicate(s):
                    return s
            return None
        return self.wait_for(check, timeout, what)  # type: ignore[no-any-return]
