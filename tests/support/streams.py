"""A shared scenario for the mark streams of the exchange readers: the socket drops, the stream
fails with a classified error, and a stream opened again (as the monitor does after backing off)
delivers marks."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from desk.exchanges import VenueError


def drop_then_reopen(reader, symbols: tuple[str, ...], again: str,  # type: ignore[no-untyped-def]
                     drop: Callable[[], int]) -> tuple[VenueError, float]:
    """Open ``reader.watch_marks(symbols)``, drop the server's sockets with ``drop()`` (which must
    close exactly one), return the error the stream ended with and the first mark of ``again``
    from a new stream."""

    async def go() -> tuple[VenueError, float]:
        stream = reader.watch_marks(symbols)
        try:
            await anext(stream)
            assert await asyncio.to_thread(drop) == 1
            with pytest.raises(VenueError) as info:
                for _ in range(100):  # updates already queued may still arrive before the close
                    await anext(stream)
        finally:
            await stream.aclose()
        reopened = reader.watch_marks((again,))
        try:
            update = await anext(reopened)
        finally:
            await reopened.aclose()
            await reader.close()
        return info.value, update.marks[again]

    return asyncio.run(asyncio.wait_for(go(), timeout=15))
