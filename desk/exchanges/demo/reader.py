"""The demo venue's reader: the :class:`~desk.exchanges.base.VenueReader` of one demo account.

It behaves like a streaming venue: ``watch_marks`` yields the marks every ``stream_interval``
seconds of wall time while they change (silent while the feed is lost), ``watch_account`` yields
a fresh snapshot after funding or a liquidation, ``snapshot`` is the REST read. Scripted venue
errors (scenario ``exchange-errors``) are raised as :class:`VenueError` from the calls they name.
Everything runs on the caller's event loop; cancellation interrupts the waits.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator

from desk.domain.model import Position, PositionKey
from desk.exchanges.base import AccountSnapshot, ErrorKind, MarkUpdate, VenueError
from desk.exchanges.demo.market import DemoMarket


class DemoReader:
    """Read-only access to one demo account of a shared :class:`DemoMarket`."""

    demo = True

    def __init__(self, market: DemoMarket, account_name: str, *, account_poll: float | None = None) -> None:
        self.market = market
        # Wall seconds between account-stream polls when nothing wakes it earlier (the mark
        # stream wakes it as soon as the account changed).
        self.account_poll = market.stream_interval if account_poll is None else account_poll
        self.account_name = account_name
        self.venue = market.venue_of(account_name)
        self._closed = False
        # The account revision the caller has been given (by snapshot or the account stream).
        self._published = market.revision(account_name)
        self._account_watchers = 0
        self._wake = asyncio.Event()
        self._held: dict[PositionKey, Position] = {}  # the positions last given to the caller

    def __repr__(self) -> str:
        return f"DemoReader({self.account_name!r}, venue={self.venue!r}, scenario={self.market.scenario!r})"

    @property
    def streams_marks(self) -> bool:
        return True

    @property
    def streams_positions(self) -> bool:
        return True

    def _enter(self, call: str) -> None:
        if self._closed:
            raise VenueError(ErrorKind.CONFIG, f"{self.account_name}: the demo reader is closed")
        self.market.sync()
        error = self.market.failure(self.account_name, call)
        if error is not None:
            raise error

    async def snapshot(self) -> AccountSnapshot:
        self._enter("snapshot")
        self._published = self.market.revision(self.account_name)
        return self._remember(self.market.account_snapshot(self.account_name))

    def _remember(self, snapshot: AccountSnapshot) -> AccountSnapshot:
        self._held = {PositionKey.of(self.account_name, p): p for p in snapshot.account.positions}
        return snapshot

    def _stream_update(self) -> AccountSnapshot:
        """The account as its stream pushes it: like Binance's ACCOUNT_UPDATE, a position that
        closed since the last update (liquidated, or by its stop) comes with size 0, so a reader
        that folds updates onto what it holds drops it at once."""
        snapshot = self.market.account_snapshot(self.account_name)
        open_now = {PositionKey.of(self.account_name, p) for p in snapshot.account.positions}
        closed = tuple(dataclasses.replace(p, contracts=0.0) for key, p in self._held.items()
                       if key not in open_now)
        self._remember(snapshot)
        if not closed:
            return snapshot
        account = dataclasses.replace(snapshot.account, positions=snapshot.account.positions + closed)
        return dataclasses.replace(snapshot, account=account)

    async def _let_account_stream_go_first(self) -> None:
        """A liquidation and the marks after it arrive in that order, as on a venue's streams.

        When the market moved past a change of this account (a liquidation, funding) that the
        account stream has not delivered yet, wake that stream and give it a moment first, so a
        consumer never sees post-liquidation marks on a position the venue has already closed.
        """
        if not self._account_watchers:
            return
        for _ in range(_HANDOVER_TRIES):
            if self.market.revision(self.account_name) == self._published or self._closed:
                return
            self._wake.set()
            await asyncio.sleep(_HANDOVER_PAUSE)

    async def watch_marks(self, symbols: tuple[str, ...] = ()) -> AsyncIterator[MarkUpdate]:
        listed = self.market.symbols(self.account_name)
        wanted = tuple(s for s in symbols if s in listed) if symbols else listed
        last: float | None = None
        while not self._closed:
            self._enter("marks")
            await self._let_account_stream_go_first()
            view = self.market.mark_view(self.account_name)
            if view.sim_time != last:
                last = view.sim_time
                yield MarkUpdate({s: view.marks[s] for s in wanted}, view.observed_at)
            await asyncio.sleep(self.market.stream_interval)

    async def watch_account(self) -> AsyncIterator[AccountSnapshot]:
        self._account_watchers += 1
        try:
            while not self._closed:
                self._enter("account")
                revision = self.market.revision(self.account_name)
                if revision != self._published:
                    snapshot = self._stream_update()
                    self._published = revision
                    yield snapshot
                    continue
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=self.account_poll)
        finally:
            self._account_watchers -= 1

    async def close(self) -> None:
        self._closed = True
        self._wake.set()


_HANDOVER_TRIES = 20
_HANDOVER_PAUSE = 0.005  # wall seconds; at most 0.1 s in all, then the marks go anyway
