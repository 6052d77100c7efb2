"""Hyperliquid WebSocket subscriptions for the fake exchange: asset contexts and mids.

Install next to the REST module: ``FakeExchange(venues=("hyperliquid", "hyperliquid_ws"))``
(not together with binance_ws, which also serves ``/ws``). The wire format is Hyperliquid's
(hyperliquid.gitbook.io, "WebSocket → Subscriptions"), at the path ccxt.pro 4.5.90 uses once
its URL points at the fake (``wss://api.hyperliquid.xyz/ws`` → ``/ws``):

* ``{"method": "subscribe", "subscription": {"type": "activeAssetCtx", "coin": "BTC"}}`` — what
  ccxt's ``watch_ticker`` sends — is acknowledged with ``{"channel": "subscriptionResponse",
  "data": {"method": "subscribe", "subscription": …}}``; then ``{"channel": "activeAssetCtx",
  "data": {"coin": "BTC", "ctx": {markPx, midPx, oraclePx, funding, openInterest, …}}}`` comes
  right away and every ``interval`` seconds;
* ``{"type": "allMids"}`` (ccxt's ``watch_tickers``) pushes ``{"channel": "allMids", "data":
  {"mids": {coin: mid}}}`` — mids, not marks;
* ``{"method": "ping"}`` → ``{"channel": "pong"}``; anything else → ``{"channel": "error",
  "data": "Error parsing JSON into valid websocket request: …"}``.

Prices start from the REST module's ``metaAndAssetCtxs``. Test controls: ``set_mark(server,
"BTC", price)`` (moves mark and mid), ``silence(server)``, ``drop(server)``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

from aiohttp import WSMsgType, web

from tests.fake_exchange import ws_faults
from tests.fake_exchange.server import FakeExchange


def _state(server: FakeExchange) -> dict[str, Any]:
    return server.state["hyperliquid_ws"]  # type: ignore[no-any-return]


def install(server: FakeExchange) -> None:
    contexts: dict[str, dict[str, Any]] = {}
    rest = (server.state.get("hyperliquid") or {}).get("metaAndAssetCtxs")
    if rest:
        meta, ctxs = rest
        for asset, ctx in zip(meta["universe"], ctxs, strict=True):
            contexts[asset["name"]] = dict(ctx)
    server.state["hyperliquid_ws"] = {
        "contexts": contexts,  # coin -> asset context (markPx, midPx, …)
        "interval": 1.0,
        "silent": False,
        "sockets": set(),
        "subscriptions": [],  # every subscription received, for assertions
        "loop": None,
    }
    state = _state(server)

    async def handler(request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(autoping=True, heartbeat=None)
        await ws.prepare(request)
        state["loop"] = asyncio.get_running_loop()
        state["sockets"].add(ws)
        subscribed: list[dict[str, Any]] = []
        pusher = asyncio.get_running_loop().create_task(_push(server, ws, subscribed))
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                try:
                    body = json.loads(msg.data)
                except ValueError:
                    body = None
                method = body.get("method") if isinstance(body, dict) else None
                if method == "ping":
                    await ws.send_str(json.dumps({"channel": "pong"}))
                    continue
                sub = body.get("subscription") if isinstance(body, dict) else None
                if method not in ("subscribe", "unsubscribe") or not _valid(sub, state):
                    await ws.send_str(json.dumps({
                        "channel": "error",
                        "data": f"Error parsing JSON into valid websocket request: {msg.data}"}))
                    continue
                await ws.send_str(json.dumps({"channel": "subscriptionResponse",
                                              "data": {"method": method, "subscription": sub}}))
                if method == "unsubscribe":
                    with contextlib.suppress(ValueError):
                        subscribed.remove(sub)
                    continue
                state["subscriptions"].append(sub)
                if sub not in subscribed:
                    subscribed.append(sub)
                    with contextlib.suppress(ConnectionError, RuntimeError):
                        await ws.send_str(json.dumps(_message(state, sub)))
        finally:
            pusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pusher
            state["sockets"].discard(ws)
        return ws

    server.app.router.add_get("/ws", handler)


def _valid(sub: Any, state: dict[str, Any]) -> bool:
    if not isinstance(sub, dict):
        return False
    if sub.get("type") == "allMids":
        return True
    return sub.get("type") == "activeAssetCtx" and sub.get("coin") in state["contexts"]


def _message(state: dict[str, Any], sub: dict[str, Any]) -> dict[str, Any]:
    if sub["type"] == "allMids":
        mids = {coin: ctx["midPx"] for coin, ctx in state["contexts"].items()}
        return {"channel": "allMids", "data": {"mids": mids}}
    return {"channel": "activeAssetCtx", "data": {"coin": sub["coin"], "ctx": state["contexts"][sub["coin"]]}}


async def _push(server: FakeExchange, ws: web.WebSocketResponse, subscribed: list[dict[str, Any]]) -> None:
    state = _state(server)
    while not ws.closed:
        await asyncio.sleep(state["interval"])
        if state["silent"]:
            continue
        for sub in list(subscribed):
            with contextlib.suppress(ConnectionError, RuntimeError):
                await ws.send_str(json.dumps(_message(state, sub)))


def set_mark(server: FakeExchange, coin: str, price: float) -> None:
    ctx = _state(server)["contexts"][coin]
    ctx["markPx"] = ctx["midPx"] = ctx["oraclePx"] = f"{price:.1f}"


def silence(server: FakeExchange, silent: bool = True) -> None:
    """Keep every stream connected but send nothing (a WebSocket gone quiet)."""
    ws_faults.silence(_state(server), silent)


def drop(server: FakeExchange) -> int:
    """Close every socket; returns how many were closed."""
    return ws_faults.drop(_state(server), "sockets")
