"""Fault controls shared by the fake exchange's WebSocket streams (Binance, Bybit, Hyperliquid).

Each stream keeps its state in ``server.state[<name>]`` with at least ``loop`` (the server's event
loop, set when a client connects), ``silent`` and the open sockets under the given keys.
"""

from __future__ import annotations

import asyncio
from typing import Any


def run_on_loop(state: dict[str, Any], coro: Any, timeout: float = 5.0) -> Any:
    """Run ``coro`` on the server's loop from a test thread and return its result."""
    loop = state["loop"]
    if loop is None:
        coro.close()
        raise RuntimeError("no WebSocket client has connected yet")
    return asyncio.run_coroutine_threadsafe(coro, loop).result(timeout)


def silence(state: dict[str, Any], silent: bool = True) -> None:
    """Keep every stream connected but send nothing (a WebSocket gone quiet)."""
    state["silent"] = silent


def drop(state: dict[str, Any], *socket_keys: str) -> int:
    """Close every socket held under ``socket_keys``; returns how many were closed."""
    async def close_all() -> int:
        sockets = [ws for key in socket_keys for ws in list(state[key])]
        for ws in sockets:
            await ws.close(code=1001, message=b"fault: dropped")
        return len(sockets)
    return int(run_on_loop(state, close_all()))

