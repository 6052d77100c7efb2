"""The cyclic garbage collector paused over a burst of allocation that makes no reference cycles.

Reading a 10,000-position file, computing its report and writing it make some hundreds of
thousands of objects and no cycle: the collector, woken every 700 allocations, would walk them
again and again for nothing (a tenth of `desk risk`'s CPU on such a file). Standard library only,
so that every layer may use it.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """The cyclic collector off meanwhile, and after as it was before (reference counting still
    frees every object as usual; only cycles wait for the collector's next run)."""
    was_on = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_on:
            gc.enable()
