"""The live monitor: one asyncio loop on a worker thread keeps every account's data fresh.

Per account (one :class:`~desk.exchanges.base.VenueReader`, i.e. one ccxt instance and its rate
limiter):

* a REST read (``snapshot()``) every ``reconcile_seconds`` while the streams deliver, every
  ``poll_seconds`` when the venue has no streams or they are down (the polling fallback);
* the mark stream (``watch_marks``) and the user-data stream (``watch_account``) where the
  reader has them. Stream updates are folded onto the last REST read (:mod:`desk.services.merge`):
  ccxt's Binance watch_positions drops mark and liquidation after its first update and is known
  to stall (ccxt-notes.md §10.1–3), so REST stays the reference;
* retryable failures back off with jitter (honouring a server's retry-after); authentication and
  permission failures stop that account and say so until it is restarted.

Every change recomputes the risk of the affected account only (``desk.domain.engine``), and an
immutable :class:`MonitorSnapshot` goes out on the :class:`EventBus`; every account status change
also goes out as a :class:`StatusChange`. A timer re-evaluates data ages at least every second so
that silence turns a number stale even when nothing arrives (ARCHITECTURE.md rules 1 and 5).

Bus subscribers run on the monitor's thread: they must be quick (hand heavy work to a thread of
their own, as the history recorder in :mod:`desk.services.runtime` does).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import random
import threading
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, TypeVar

from desk.domain.compare import Tolerance, liquidation_gap
from desk.domain.model import Account, Portfolio, PositionKey
from desk.domain.report import AccountRisk, RiskReport
from desk.exchanges.base import AccountSnapshot, ErrorKind, MarkUpdate, VenueError, VenueReader
from desk.sanitize import for_user
from desk.services.backoff import Backoff
from desk.services.bus import EventBus
from desk.services.freshness import FeedState, Thresholds, evaluate
from desk.services.merge import (
    apply_marks,
    changed_positions,
    marks_of_read,
    merge_full_read,
    merge_stream_update,
)
from desk.services.rates import PerMinute
from desk.services.snapshot import (
    AccountState,
    DataStatus,
    ExchangeCheck,
    MonitorSnapshot,
    PositionState,
    StatusChange,
)

log = logging.getLogger(__name__)

T = TypeVar("T")
Compute = Callable[..., RiskReport]  # compute_risk(portfolio, *, target=None) -> RiskReport
ToleranceFor = Callable[[str, str], Tolerance]  # (account, symbol) -> ours-vs-theirs tolerance


@dataclass(frozen=True, slots=True)
class MonitorConfig:
    live_seconds: float = 5.0
    stale_seconds: float = 30.0
    reconcile_seconds: float = 10.0  # REST read while the streams deliver
    poll_seconds: float = 2.0  # REST read without (working) streams
    request_timeout: float = 30.0  # a read that hangs longer counts as a network failure
    backoff_initial: float = 1.0
    backoff_max: float = 60.0
    quick_reconcile_seconds: float = 1.0  # REST soon after a stream reports a changed position
    close_timeout: float = 5.0  # per reader, when stopping

    def __post_init__(self) -> None:
        Thresholds(self.live_seconds, self.stale_seconds)  # validates
        for name in ("reconcile_seconds", "poll_seconds", "request_timeout", "backoff_initial",
                     "backoff_max"):
            if getattr(self, name) <= 0:
                raise ValueError(f"monitor.{name} must be positive")

    @property
    def thresholds(self) -> Thresholds:
        return Thresholds(self.live_seconds, self.stale_seconds)

    @property
    def tick_seconds(self) -> float:
        """How often ages are re-evaluated: at least every second, finer for short thresholds."""
        return min(1.0, self.live_seconds / 3)

    @property
    def silence_seconds(self) -> float:
        """A mark stream quiet this long is torn down and reconnected (a silent WebSocket)."""
        return self.stale_seconds


def default_compute() -> Compute:
    """The engine with a plan cache of the monitor's own: nothing else computed in the process (a
    what-if, the demo venue, a chart) can replace the live accounts' compiled plans."""
    import functools

    from desk.domain.engine import PlanCache, compute_risk

    compute: Compute = functools.partial(compute_risk, plans=PlanCache())
    return compute


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _as_venue_error(exc: BaseException, what: str) -> VenueError:
    if isinstance(exc, VenueError):
        return exc
    if isinstance(exc, TimeoutError):
        return VenueError(ErrorKind.NETWORK, f"no answer from the exchange ({what} timed out)")
    # A reader bug or an unmapped library error: keep monitoring, say what happened.
    return VenueError(ErrorKind.BAD_RESPONSE,
                      f"unexpected error in {what}: {type(exc).__name__}: {for_user(exc)}")


class _AccountRun:
    """Everything the monitor knows about one account. Touched only on the loop thread."""

    def __init__(self, reader: VenueReader, config: MonitorConfig, started_at: float,
                 rng: random.Random):
        self.reader = reader
        self.name = reader.account_name
        self.venue = reader.venue
        self.demo = bool(getattr(reader, "demo", False)) or reader.venue.startswith("demo")
        self.config = config
        self.rng = rng
        self.waiting_since = started_at
        self.base: Account | None = None  # last REST read with stream updates folded in
        self.marks: dict[str, tuple[float, float]] = {}  # streamed marks: symbol -> (price, at)
        self.merged: Account | None = None
        self.risk: AccountRisk | None = None
        self.risk_error: str | None = None
        self.rest_error: VenueError | None = None
        self.rest_retry_at: float | None = None
        self.rest_pending_since: float | None = None  # a REST read is in flight since then
        self.fatal: VenueError | None = None
        self.marks_feed = FeedState(supported=bool(reader.streams_marks))
        self.account_feed = FeedState(supported=bool(reader.streams_positions))
        self.weight = PerMinute()
        self.messages = PerMinute()
        self.state: AccountState | None = None
        self.positions: dict[PositionKey, PositionState] = {}
        self.checks: dict[PositionKey, ExchangeCheck] = {}  # at the last read
        self.notes: tuple[str, ...] = ()  # the last REST read's warnings (AccountState.notes)
        self.tasks: set[asyncio.Task[None]] = set()
        self.marks_task: asyncio.Task[None] | None = None
        self.wake = asyncio.Event()  # wakes the REST loop early (changed position, restart)
        self.needs_compute = False

    def symbols(self) -> tuple[str, ...]:
        if self.base is None:
            return ()
        return tuple(sorted({p.symbol for p in self.base.positions}))

    def streams_healthy(self, now: float) -> bool:
        live = self.config.live_seconds
        marks_ok = self.marks_feed.healthy(now, within=live) or (self.base is not None and not self.symbols())
        return marks_ok and self.account_feed.healthy(now, within=None)

    def expected_interval(self, now: float) -> float:
        if self.account_feed.healthy(now, within=None):
            return self.config.reconcile_seconds
        return self.config.poll_seconds


class Monitor:
    """Watches accounts on a worker thread and publishes snapshots and status changes.

    ``start()`` / ``stop(timeout)`` own the thread; ``latest()`` is safe from any thread;
    ``submit(coro)`` runs a coroutine on the monitor's loop (e.g. the UI's "test account").
    """

    def __init__(self, readers: Sequence[VenueReader], bus: EventBus, *,
                 config: MonitorConfig | None = None, target: float | None = None,
                 compute: Compute | None = None, clock: Callable[[], float] = time.time,
                 rng: random.Random | None = None, tolerance_for: ToleranceFor | None = None,
                 target_distance: float | None = None):
        names = [r.account_name for r in readers]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"account names must be unique; repeated: {', '.join(duplicates)}")
        self._readers = list(readers)
        self.bus = bus
        self.config = config or MonitorConfig()
        self.target = target
        # suggestions also aim back to this distance from liquidation (the distance warning)
        self.target_distance = target_distance
        self._compute = compute
        self.clock = clock
        # ours vs the exchange's: the tolerance per position (the alert settings'
        # disagree_ticks); replace it when the settings change, it is read at each account read
        self.tolerance_for: ToleranceFor = tolerance_for or (lambda account, symbol: Tolerance())
        self._rng = rng or random.Random()
        self._latest: MonitorSnapshot | None = None
        self._seq = 0
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._main_task: asyncio.Task[None] | None = None
        self._ready = threading.Event()
        self._runs: dict[str, _AccountRun] = {}
        self._dirty: set[str] = set()
        self._flush_pending = False
        self._stopping = False

    # ----------------------------------------------------------------- thread side API

    @property
    def account_names(self) -> tuple[str, ...]:
        return tuple(r.account_name for r in list(self._readers))

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def latest(self) -> MonitorSnapshot | None:
        """The newest snapshot published (None before the first)."""
        return self._latest

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("the monitor was already started")
        if self._compute is None:
            self._compute = default_compute()
        self._thread = threading.Thread(target=self._thread_main, name="desk-monitor", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the monitor loop did not start")

    def stop(self, timeout: float = 10.0) -> bool:
        """Cancel every task, close every reader (ccxt sessions) and join the thread.

        Returns True when everything finished within ``timeout`` seconds.
        """
        thread, loop = self._thread, self._loop
        if thread is None or loop is None:
            return True
        if thread.is_alive():
            with contextlib.suppress(RuntimeError):  # loop already closed
                loop.call_soon_threadsafe(self._request_stop)
        thread.join(timeout)
        return not thread.is_alive()

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Run ``coro`` on the monitor's loop; the returned future is safe to wait on elsewhere."""
        if self._loop is None or not self.running:
            coro.close()
            raise RuntimeError("the monitor is not running")
        return asyncio.run_coroutine_threadsafe(coro, self._loop)

    def call(self, fn: Callable[[], T], timeout: float = 10.0) -> T:
        """Run a plain function on the loop thread and return its result (for tests and tools)."""
        async def run() -> T:
            return fn()
        return self.submit(run()).result(timeout)

    def restart_account(self, name: str, reader: VenueReader | None = None, *,
                        forget_data: bool = False) -> concurrent.futures.Future[None]:
        """Resume an account stopped by an authentication error (optionally with a new reader).

        ``forget_data``: the account was reconfigured (venue, keys, URL): drop what the old
        configuration read instead of showing it until the first new read.
        """
        return self.submit(self._restart_account(name, reader, forget_data))

    def add_account(self, reader: VenueReader) -> concurrent.futures.Future[None]:
        """Start watching one more account (the accounts dialog added it); a name already
        watched is restarted with the new reader instead."""
        return self.submit(self._add_account(reader))

    def remove_account(self, name: str) -> concurrent.futures.Future[None]:
        """Stop watching an account (removed or disabled): its tasks end, its exchange session
        closes and it leaves the next snapshot."""
        return self.submit(self._remove_account(name))

    # ----------------------------------------------------------------- loop side

    def _thread_main(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        try:
            self._main_task = loop.create_task(self._main())
            loop.call_soon(self._ready.set)
            with contextlib.suppress(asyncio.CancelledError):
                loop.run_until_complete(self._main_task)
            # tasks created through submit() that are still pending
            pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
            for t in pending:
                t.cancel()
            if pending:
                loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
        finally:
            asyncio.set_event_loop(None)
            loop.close()
            self._ready.set()

    def _request_stop(self) -> None:
        self._stopping = True
        if self._main_task is not None:
            self._main_task.cancel()

    async def _main(self) -> None:
        now = self.clock()
        for reader in self._readers:
            run = _AccountRun(reader, self.config, now, self._rng)
            self._runs[run.name] = run
            self._start_account(run)
        self._schedule_flush(*self._runs)  # a first snapshot: every account "connecting"
        try:
            while True:
                await asyncio.sleep(self.config.tick_seconds)
                self._tick()
        finally:
            await self._shutdown()

    async def _shutdown(self) -> None:
        tasks = [t for run in self._runs.values() for t in run.tasks]
        for t in tasks:
            t.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        closes = [self._close_reader(run.reader) for run in self._runs.values()]
        if closes:
            await asyncio.gather(*closes, return_exceptions=True)

    async def _close_reader(self, reader: VenueReader) -> None:
        try:
            async with asyncio.timeout(self.config.close_timeout):
                await reader.close()
        except Exception:
            log.warning("closing the reader of %s failed", reader.account_name, exc_info=True)

    def _spawn(self, run: _AccountRun, coro: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(coro, name=f"{run.name}:{name}")
        run.tasks.add(task)
        task.add_done_callback(run.tasks.discard)
        task.add_done_callback(self._log_crash)
        return task

    @staticmethod
    def _log_crash(task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error("monitor task %s crashed", task.get_name(), exc_info=task.exception())

    def _start_account(self, run: _AccountRun) -> None:
        self._spawn(run, self._rest_loop(run), "rest")

    async def _add_account(self, reader: VenueReader) -> None:
        name = reader.account_name
        if name in self._runs:
            await self._restart_account(name, reader, True)
            return
        run = _AccountRun(reader, self.config, self.clock(), self._rng)
        self._runs[name] = run
        self._readers.append(reader)
        self._start_account(run)
        self._schedule_flush(name)

    async def _remove_account(self, name: str) -> None:
        run = self._runs.pop(name, None)
        if run is None:
            return
        self._readers = [r for r in self._readers if r.account_name != name]
        tasks = list(run.tasks)
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self._close_reader(run.reader)
        self._dirty.discard(name)
        self._publish(self.clock(), [])

    async def _restart_account(self, name: str, reader: VenueReader | None,
                               forget_data: bool = False) -> None:
        run = self._runs[name]
        tasks = list(run.tasks)
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if reader is not None and reader is not run.reader:
            await self._close_reader(run.reader)
            self._readers = [reader if r is run.reader else r for r in self._readers]
            run.reader = reader
            run.venue = reader.venue  # the name is the key; the venue may have been reconfigured
            run.demo = bool(getattr(reader, "demo", False)) or reader.venue.startswith("demo")
        if forget_data:
            run.base = run.merged = run.risk = None
            run.marks, run.checks, run.positions = {}, {}, {}
            run.risk_error = None
        run.marks_feed = FeedState(supported=bool(run.reader.streams_marks))
        run.account_feed = FeedState(supported=bool(run.reader.streams_positions))
        run.fatal = None
        run.rest_error = None
        run.rest_retry_at = None
        run.waiting_since = self.clock()
        run.marks_task = None
        self._start_account(run)
        self._schedule_flush(name)

    # --- REST: the reference read, and the polling fallback

    async def _rest_loop(self, run: _AccountRun) -> None:
        backoff = Backoff(self.config.backoff_initial, self.config.backoff_max, rng=run.rng)
        streams_started = False
        while True:
            run.wake.clear()
            run.rest_pending_since = self.clock()
            try:
                # asyncio.timeout, not wait_for: 3.11's wait_for can swallow a cancellation
                async with asyncio.timeout(self.config.request_timeout):
                    snap = await run.reader.snapshot()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                run.rest_pending_since = None
                error = _as_venue_error(exc, "the REST read")
                if not isinstance(exc, VenueError):
                    log.warning("%s: %s", run.name, error, exc_info=exc)
                if self._fail(run, error):
                    return
                delay = backoff.next_delay(error.retry_after)
                run.rest_error = error
                run.rest_retry_at = self.clock() + delay
                self._schedule_flush(run.name)
                await asyncio.sleep(delay)
                continue
            run.rest_pending_since = None
            backoff.reset()
            self._apply_rest(run, snap)
            if not streams_started:
                streams_started = True
                self._start_streams(run)
            interval = (self.config.reconcile_seconds if run.streams_healthy(self.clock())
                        else self.config.poll_seconds)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(interval):
                    await run.wake.wait()

    def _fail(self, run: _AccountRun, error: VenueError) -> bool:
        """Record a failure; True when it is fatal (the account stops until restarted)."""
        if error.retryable:
            return False
        run.fatal = error
        log.warning("%s: stopped: %s", run.name, error)
        current = asyncio.current_task()
        for t in list(run.tasks):
            if t is not current:
                t.cancel()
        self._schedule_flush(run.name)
        return True

    def _apply_rest(self, run: _AccountRun, snap: AccountSnapshot) -> None:
        previous_symbols = run.symbols()
        run.base = merge_full_read(run.base, snap.account, snap.observed_at)
        run.rest_error = None
        run.rest_retry_at = None
        run.weight.add(self.clock(), snap.request_weight)
        symbols = run.symbols()
        run.marks = {s: m for s, m in run.marks.items() if s in symbols}
        if symbols != previous_symbols and run.marks_task is not None:
            self._restart_marks(run)
        run.checks = self._exchange_checks(run, snap)
        run.notes = tuple(dict.fromkeys(snap.warnings))
        run.needs_compute = True
        self._schedule_flush(run.name)

    def _exchange_checks(self, run: _AccountRun,
                         snap: AccountSnapshot) -> dict[PositionKey, ExchangeCheck]:
        """Ours vs the exchange's liquidation price, both at this read's inputs (risk-math.md §7.7).

        The exchange's figures and the marks they were computed at arrive together in a REST
        read; desk's are computed here from exactly those marks (not the newer streamed ones), so
        a cross position's figures are comparable however far the marks have moved since.
        """
        assert run.base is not None and self._compute is not None
        if not any(p.reported.liquidation_price is not None for p in run.base.positions):
            return {}
        at_read = marks_of_read(run.base, snap.account)
        try:
            report = self._compute(Portfolio(accounts=(at_read,)), target=self.target)
        except Exception:  # the live computation reports the error; no comparison this time
            log.warning("%s: computing the figures at the read failed", run.name, exc_info=True)
            return {}
        checks: dict[PositionKey, ExchangeCheck] = {}
        for risk in report.positions():
            try:
                tolerance = self.tolerance_for(run.name, risk.symbol)
            except Exception:
                log.warning("%s: tolerance for %s unavailable", run.name, risk.symbol, exc_info=True)
                tolerance = Tolerance()
            # a pooled position is compared in the venue's convention (collateral held at its
            # index: liquidation_price_symbol_only); desk's own figure moves the collateral too
            ours = (risk.liquidation_price_symbol_only if risk.liquidation_price_symbol_only is not None
                    else risk.liquidation_price)
            gap = liquidation_gap(ours, risk.reported_liquidation_price, risk.tick_size, tolerance)
            if gap is None:
                continue
            checks[risk.key] = ExchangeCheck(
                observed_at=at_read.data_time if at_read.data_time is not None else snap.observed_at,
                ours_at_read=gap.ours, theirs=gap.theirs, gap_ticks=gap.ticks,
                gap_relative=gap.relative, disagrees=gap.disagrees, tolerance=gap.tolerance,
                tick_size=risk.tick_size)
        return checks

    # --- streams

    def _start_streams(self, run: _AccountRun) -> None:
        if run.marks_feed.supported:
            self._restart_marks(run)
        if run.account_feed.supported:
            self._spawn(run, self._account_stream(run), "account-stream")

    def _restart_marks(self, run: _AccountRun) -> None:
        if run.marks_task is not None:
            run.marks_task.cancel()
        run.marks_task = self._spawn(run, self._marks_stream(run), "marks-stream")

    async def _marks_stream(self, run: _AccountRun) -> None:
        symbols = run.symbols()
        if not symbols:
            return  # restarted when the first position appears
        await self._follow(run, "marks", lambda: run.reader.watch_marks(symbols),
                           self._on_marks, silence=self.config.silence_seconds)

    async def _account_stream(self, run: _AccountRun) -> None:
        await self._follow(run, "account", run.reader.watch_account, self._on_account, silence=None)

    async def _follow(self, run: _AccountRun, which: str, open_stream: Callable[[], AsyncIterator[Any]],
                      handle: Callable[[_AccountRun, Any], None], silence: float | None) -> None:
        """Consume a stream for ever: reconnect with backoff on failure or prolonged silence."""
        backoff = Backoff(self.config.backoff_initial, self.config.backoff_max, rng=run.rng)
        while True:
            stream = open_stream()
            self._set_feed(run, which, open=True)
            try:
                while True:
                    async with asyncio.timeout(silence):
                        item = await anext(stream)
                    backoff.reset()
                    self._set_feed(run, which, last_message=self.clock(), error=None)
                    run.messages.add(self.clock())
                    handle(run, item)
            except asyncio.CancelledError:
                raise
            except StopAsyncIteration:
                error = VenueError(ErrorKind.NETWORK, f"the {which} stream ended")
            except TimeoutError:
                error = VenueError(ErrorKind.NETWORK, f"silent for {silence:g} s — reconnecting")
            except Exception as exc:
                error = _as_venue_error(exc, f"the {which} stream")
            finally:
                with contextlib.suppress(Exception):
                    await stream.aclose()  # type: ignore[attr-defined]
            if error.kind in (ErrorKind.AUTH, ErrorKind.PERMISSION):
                self._fail(run, error)
                return
            if not error.retryable:  # e.g. the venue has no such stream after all: poll instead
                log.warning("%s: %s stream disabled: %s", run.name, which, error)
                self._set_feed(run, which, supported=False, open=False, error=None)
                self._schedule_flush(run.name)
                run.wake.set()
                return
            self._set_feed(run, which, error=str(error), open=False)
            self._schedule_flush(run.name)
            run.wake.set()  # fall back to polling at once
            await asyncio.sleep(backoff.next_delay(error.retry_after))

    def _set_feed(self, run: _AccountRun, which: str, **changes: Any) -> None:
        if which == "marks":
            run.marks_feed = replace(run.marks_feed, **changes)
        else:
            run.account_feed = replace(run.account_feed, **changes)

    def _on_marks(self, run: _AccountRun, update: MarkUpdate) -> None:
        for symbol, price in update.marks.items():
            run.marks[symbol] = (float(price), update.observed_at)
        run.needs_compute = True
        self._schedule_flush(run.name)

    def _on_account(self, run: _AccountRun, snap: AccountSnapshot) -> None:
        run.weight.add(self.clock(), snap.request_weight)
        if run.base is None:
            run.base = merge_full_read(None, snap.account, snap.observed_at)
        else:
            merged = merge_stream_update(run.base, snap.account, snap.observed_at)
            changed = changed_positions(run.base, merged)
            for key in changed:  # the last read's comparison no longer describes it
                run.checks.pop(key, None)
            previous_symbols = run.symbols()
            run.base = merged
            if changed:
                # refresh the exchange's own liquidation figures soon (the stream lacks them)
                asyncio.get_running_loop().call_later(self.config.quick_reconcile_seconds, run.wake.set)
            if run.symbols() != previous_symbols and run.marks_feed.supported:
                self._restart_marks(run)
        run.needs_compute = True
        self._schedule_flush(run.name)

    # --- recompute and publish

    def _schedule_flush(self, *names: str) -> None:
        self._dirty.update(names)
        if not self._flush_pending:
            self._flush_pending = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_pending = False
        if self._stopping:
            return
        names, self._dirty = self._dirty, set()
        now = self.clock()
        changes: list[StatusChange] = []
        for name in names:
            run = self._runs.get(name)
            if run is None:  # removed meanwhile
                continue
            if run.needs_compute:
                self._recompute(run)
            change = self._evaluate(run, now)
            if change is not None:
                changes.append(change)
        self._publish(now, changes)

    def _recompute(self, run: _AccountRun) -> None:
        run.needs_compute = False
        if run.base is None:
            return
        run.merged = apply_marks(run.base, run.marks)
        assert self._compute is not None
        try:
            goal = {} if self.target_distance is None else {"target_distance": self.target_distance}
            report = self._compute(Portfolio(accounts=(run.merged,)), target=self.target, **goal)
            run.risk = report.accounts[0]
            run.risk_error = None
        except Exception as exc:  # keep the last numbers on view, marked in error
            log.exception("%s: risk computation failed", run.name)
            run.risk_error = f"{type(exc).__name__}: {for_user(exc)}"

    def _evaluate(self, run: _AccountRun, now: float) -> StatusChange | None:
        verdict = evaluate(
            now, account=run.merged, thresholds=self.config.thresholds,
            expected_interval=run.expected_interval(now), waiting_since=run.waiting_since,
            marks_feed=run.marks_feed, account_feed=run.account_feed, rest_error=run.rest_error,
            rest_retry_at=run.rest_retry_at, rest_pending_since=run.rest_pending_since,
            fatal=run.fatal, risk_error=run.risk_error,
        )
        old = run.state
        run.state = AccountState(
            name=run.name, venue=run.venue, status=verdict.status, reason=verdict.reason,
            data_time=run.merged.data_time if run.merged else None,
            oldest_mark_time=verdict.oldest_mark_time, demo=run.demo,
            request_weight_per_min=run.weight.total(now),
            streaming=run.marks_feed.healthy(now, self.config.live_seconds)
            or run.account_feed.healthy(now, None),
            stream_messages_per_min=run.messages.total(now),
            stopped=run.fatal is not None,
            read_interval=run.expected_interval(now),
            notes=run.notes,
        )
        run.positions = {
            key: replace(st, exchange_check=run.checks[key]) if key in run.checks else st
            for key, st in verdict.positions.items()
        }
        if old is None or old.status is not verdict.status:
            return StatusChange(at=now, account=run.name, old=old.status if old else None,
                                new=verdict.status, reason=verdict.reason)
        return None

    def _tick(self) -> None:
        """Re-evaluate ages: republish when any account or position changed status."""
        now = self.clock()
        changes: list[StatusChange] = []
        moved = False
        for run in self._runs.values():
            before = {k: v.status for k, v in run.positions.items()}
            change = self._evaluate(run, now)
            if change is not None:
                changes.append(change)
                moved = True
            elif {k: v.status for k, v in run.positions.items()} != before:
                moved = True
        if moved:
            self._publish(now, changes)

    def _publish(self, now: float, changes: list[StatusChange]) -> None:
        runs = list(self._runs.values())
        self._seq += 1
        positions: dict[PositionKey, PositionState] = {}
        for run in runs:
            positions.update(run.positions)
        accounts = tuple(run.state for run in runs if run.state is not None)
        portfolio = Portfolio(accounts=tuple(r.merged for r in runs if r.merged is not None), as_of=_iso(now))
        report = RiskReport(accounts=tuple(r.risk for r in runs if r.risk is not None), as_of=_iso(now))
        snapshot = MonitorSnapshot(seq=self._seq, at=now, portfolio=portfolio, report=report,
                                   accounts=accounts, positions=MappingProxyType(positions))
        self._latest = snapshot
        for change in changes:
            log.info("%s: %s -> %s (%s)", change.account, change.old, change.new, change.reason or "")
            self.bus.publish(change)
        self.bus.publish(snapshot)


def monitor_config_from_settings(settings: object | None) -> MonitorConfig:
    """MonitorConfig from the settings' ``monitor.*`` keys where they exist (defaults otherwise)."""
    values: dict[str, float] = {}
    if settings is not None:
        for key in ("live_seconds", "stale_seconds", "reconcile_seconds", "poll_seconds"):
            value = _setting(settings, f"monitor.{key}")
            if value is not None:
                values[key] = float(value)
    return MonitorConfig(**values)


def tolerance_from_settings(settings: object | None) -> ToleranceFor:
    """Ours-vs-theirs tolerance per position from the alert settings (``alerts.disagree_ticks``,
    per account or position overrides); the defaults when the settings cannot be read."""
    from desk.services.alerts_config import AlertConfig

    if settings is None:
        return lambda account, symbol: Tolerance()
    try:
        config = AlertConfig.from_settings(settings)
    except Exception:  # bad alert settings are reported where they are applied
        log.warning("alert settings unreadable; ours-vs-theirs uses the default tolerance", exc_info=True)
        return lambda account, symbol: Tolerance()

    def tolerance_for(account: str, symbol: str) -> Tolerance:
        th = config.thresholds_for(account, symbol)
        return Tolerance(ticks=th.disagree_ticks, relative=th.disagree_relative)

    return tolerance_for


def _setting(settings: object, key: str) -> Any:
    getter = getattr(settings, "get", None)
    if callable(getter):
        with contextlib.suppress(Exception):
            return getter(key)
    node: Any = settings
    for part in key.split("."):
        node = node.get(part) if isinstance(node, dict) else getattr(node, part, None)
        if node is None:
            return None
    return node


__all__ = ["DataStatus", "Monitor", "MonitorConfig", "monitor_config_from_settings",
           "tolerance_from_settings"]
