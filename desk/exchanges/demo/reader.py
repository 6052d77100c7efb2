"""The demo venue's reader: the :class:`~desk.exchanges.base.VenueReader` of one demo account.

It behaves like a streaming venue: ``watch_marks`` yields the marks every ``stream_interval``
seconds of wall time while they change (silent while the feed is lost), ``watch_account`` yields
a fresh snapshot after funding or a liquidation, ``snapshot`` is the REST read. Scripted venue
errors (scenario ``exchange-errors``) are raised as :class:`VenueError` from the calls they name.
Everything runs on the caller's event loop; cancellation interrupts the waits.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from desk.exchanges.base import AccountSnapshot, ErrorKind, MarkUpdate, VenueError
from desk.exchanges.demo.market import DemoMarket


class DemoReader:
    """Read-only access to one demo account of a shared :class:`DemoMarket`."""

    demo = True

    def __init__(self, market: DemoMarket, account_name: str) -> None:
        self.market = market
        self.account_name = account_name
        self.venue = market.venue_of(account_name)
        self._closed = False

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
        return self.market.account_snapshot(self.account_name)

    async def watch_marks(self, symbols: tuple[str, ...] = ()) -> AsyncIterator[MarkUpdate]:
        listed = self.market.symbols(self.account_name)
        wanted = tuple(s for s in symbols if s in listed) if symbols else listed
        last: float | None = None
        while not self._closed:
            self._enter("marks")
            view = self.market.mark_view(self.account_name)
            if view.sim_time != last:
                last = view.sim_time
                yield MarkUpdate({s: view.marks[s] for s in wanted}, view.observed_at)
            await asyncio.sleep(self.market.stream_interval)

    async def watch_account(self) -> AsyncIterator[AccountSnapshot]:
        seen = self.market.revision(self.account_name)
        while not self._closed:
            self._enter("account")
            revision = self.market.revision(self.account_name)
            if revision != seen:
                seen = revision
                yield self.market.account_snapshot(self.account_name)
            await asyncio.sleep(self.market.stream_interval)

    async def close(self) -> None:
        self._closed = True
