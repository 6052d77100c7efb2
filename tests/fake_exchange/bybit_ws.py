"""Bybit v5 public WebSocket ticker streams for the fake exchange.

Install next to the REST module: ``FakeExchange(venues=("bybit", "bybit_ws"))``. The wire
format is Bybit's (bybit-exchange.github.io/docs/v5/websocket/public/ticker), at the paths
ccxt.pro 4.5.90 uses once its URLs point at the fake (``wss://stream.bybit.com/v5/public/
linear`` → ``/v5/public/linear``; inverse → ``/v5/public/inverse``):

* the client sends ``{"op": "subscribe", "req_id": …, "args": ["tickers.BTCUSDT", …]}``; the
  server acknowledges ``{"success": true, "ret_msg": "", "conn_id": …, "req_id": …, "op":
  "subscribe"}`` (a topic of the other category fails: ``success`` false, as Bybit answers an
  inverse symbol on the linear socket), then sends one ``"type": "snapshot"`` message with every
  ticker field per topic and, every ``interval`` seconds, ``"type": "delta"`` messages carrying
  only what changed (here ``markPrice``/``indexPrice``), as Bybit does for derivatives;
* ``{"op": "ping"}`` is answered with ``"ret_msg": "pong"``.

The private stream ``/v5/private`` (bybit-exchange.github.io/docs/v5/ws/connect, "Authentication";
docs/v5/websocket/private/position and …/private/order), where ccxt.pro's watch_positions and
watch_orders go for a unified or contract account:

* ``{"op": "auth", "args": [api key, expires ms, hex HMAC-SHA256(secret, "GET/realtime" +
  expires)]}`` → ``{"success": true, "ret_msg": "", "op": "auth", "conn_id": …}``; a wrong key or
  signature, or an expired ``expires``, → ``"success": false`` with the request echoed;
* ``{"op": "subscribe", "req_id": …, "args": ["position"]}`` / ``["order"]`` (after auth only) →
  the same acknowledgement with ``"op": "subscribe"``; a topic in ``refuse_topics`` is refused
  (``"success": false``, ``"ret_msg": "error:…"``) as Bybit refuses a topic it will not serve;
* pushes ``{"id", "topic": "order" | "position", "creationTime", "data": [rows]}`` — ``order``
  rows are ``/v5/order/realtime`` rows plus ``category``; sent by the test (``order_update``).

Test controls: ``set_mark(server, "BTCUSDT", price)``, ``silence(server)``, ``drop(server)``
(closes every socket; clients see the connection end) — the same shape as binance_ws.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import uuid
from typing import Any

from aiohttp import WSMsgType, web

from tests.fake_exchange import ws_faults
from tests.fake_exchange.server import FakeExchange

CATEGORIES = ("linear", "inverse")


def _state(server: FakeExchange) -> dict[str, Any]:
    return server.state["bybit_ws"]  # type: ignore[no-any-return]


def _category_of(symbol_id: str) -> str:
    return "linear" if symbol_id.endswith(("USDT", "PERP", "USDC")) else "inverse"


def install(server: FakeExchange) -> None:
    marks: dict[str, float] = {}
    rest = server.state.get("bybit") or {}
    for name in ("uta", "classic"):
        for p in (rest.get(name) or {}).get("positions") or []:
            marks.setdefault(p["symbol"], float(p["markPrice"]))
    server.state["bybit_ws"] = {
        "marks": marks,  # symbol id -> mark price
        "interval": 1.0,
        "silent": False,
        "sockets": set(),
        "subscribe_messages": [],  # (category, message) for assertions
        "connections": {c: 0 for c in CATEGORIES},
        "loop": None,
        # the private stream
        "private_sockets": set(),
        "private_topics": {},  # socket -> subscribed topics
        "private_messages": [],  # every message received on it, for assertions
        "refuse_topics": set(),  # private topics refused at subscription
    }
    state = _state(server)

    def ticker(symbol: str, price: float) -> dict[str, Any]:
        text = f"{price:.2f}"
        return {"symbol": symbol, "tickDirection": "PlusTick", "price24hPcnt": "0.01", "lastPrice": text,
                "prevPrice24h": text, "highPrice24h": text, "lowPrice24h": text, "prevPrice1h": text,
                "markPrice": text, "indexPrice": text, "openInterest": "1000", "openInterestValue": "1",
                "turnover24h": "1", "volume24h": "1", "nextFundingTime": "1700000000000",
                "fundingRate": "0.0001", "bid1Price": text, "bid1Size": "1", "ask1Price": text,
                "ask1Size": "1"}

    def public(category: str) -> Any:
        async def handler(request: web.Request) -> web.StreamResponse:
            ws = web.WebSocketResponse(autoping=True, heartbeat=None)
            await ws.prepare(request)
            state["loop"] = asyncio.get_running_loop()
            state["connections"][category] += 1
            state["sockets"].add(ws)
            conn_id = str(uuid.uuid4())
            topics: set[str] = set()
            pusher = asyncio.get_running_loop().create_task(_push(server, ws, topics))
            try:
                async for msg in ws:
                    if msg.type != WSMsgType.TEXT:
                        continue
                    body = json.loads(msg.data)
                    op, req_id = body.get("op"), body.get("req_id")
                    if op == "ping":
                        await ws.send_str(json.dumps({"success": True, "ret_msg": "pong", "conn_id": conn_id,
                                                      "req_id": req_id, "op": "ping"}))
                        continue
                    if op not in ("subscribe", "unsubscribe"):
                        await ws.send_str(json.dumps({"success": False, "ret_msg": "error:invalid op",
                                                      "conn_id": conn_id, "request": body}))
                        continue
                    args = [a for a in body.get("args") or [] if isinstance(a, str)]
                    state["subscribe_messages"].append((category, body))
                    wrong = [a for a in args if not a.startswith("tickers.")
                             or _category_of(a.split(".", 1)[1]) != category]
                    if wrong:
                        await ws.send_str(json.dumps({"success": False,
                                                      "ret_msg": f"Invalid symbol :[{wrong[0]}]",
                                                      "conn_id": conn_id, "req_id": req_id, "op": op}))
                        continue
                    await ws.send_str(json.dumps({"success": True, "ret_msg": "", "conn_id": conn_id,
                                                  "req_id": req_id, "op": op}))
                    if op == "unsubscribe":
                        topics.difference_update(args)
                        continue
                    for topic in args:
                        if topic in topics:
                            continue
                        topics.add(topic)
                        symbol = topic.split(".", 1)[1]
                        price = state["marks"].get(symbol)
                        if price is not None:
                            await ws.send_str(json.dumps({"topic": topic, "type": "snapshot",
                                                          "data": ticker(symbol, price), "cs": 1,
                                                          "ts": server.now_ms()}))
            finally:
                pusher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await pusher
                state["sockets"].discard(ws)
            return ws
        return handler

    for category in CATEGORIES:
        server.app.router.add_get(f"/v5/public/{category}", public(category))

    async def private(request: web.Request) -> web.StreamResponse:
        return await _private(server, request)

    server.app.router.add_get("/v5/private", private)


def _authorised(server: FakeExchange, args: Any) -> bool:
    if not isinstance(args, list) or len(args) != 3:
        return False
    key = server.keys.get(str(args[0]))
    if key is None or key.revoked or not key.can_read:
        return False
    expires = str(args[1])
    if not expires.isdigit() or int(expires) < server.now_ms():
        return False
    expected = hmac.new(key.secret.encode(), f"GET/realtime{expires}".encode(), hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, str(args[2]))


async def _private(server: FakeExchange, request: web.Request) -> web.StreamResponse:
    state = _state(server)
    ws = web.WebSocketResponse(autoping=True, heartbeat=None)
    await ws.prepare(request)
    state["loop"] = asyncio.get_running_loop()
    conn_id = str(uuid.uuid4())
    authed = False
    topics: set[str] = set()
    state["private_sockets"].add(ws)
    state["private_topics"][ws] = topics
    try:
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                continue
            body = json.loads(msg.data)
            state["private_messages"].append(body)
            op, req_id = body.get("op"), body.get("req_id")
            answer: dict[str, Any] = {"success": True, "ret_msg": "", "op": op, "conn_id": conn_id}
            if req_id is not None:
                answer["req_id"] = req_id
            if op == "ping":
                answer["ret_msg"] = "pong"
            elif op == "auth":
                authed = _authorised(server, body.get("args"))
                if not authed:
                    answer.update(success=False, ret_msg="error:USVC1111", request=body)
            elif op in ("subscribe", "unsubscribe"):
                args = [a for a in body.get("args") or [] if isinstance(a, str)]
                refused = [a for a in args if a in state["refuse_topics"]]
                if not authed:
                    answer.update(success=False, ret_msg="Request not authorized")
                elif refused:
                    answer.update(success=False, ret_msg=f"error:handler not found,topic:{refused[0]}")
                elif op == "subscribe":
                    topics.update(args)
                else:
                    topics.difference_update(args)
            else:
                answer.update(success=False, ret_msg="error:invalid op", request=body)
            with contextlib.suppress(ConnectionError, RuntimeError):
                await ws.send_str(json.dumps(answer))
    finally:
        state["private_sockets"].discard(ws)
        state["private_topics"].pop(ws, None)
    return ws


def subscribed_private(server: FakeExchange) -> set[str]:
    """The private topics some open socket is subscribed to."""
    return {t for topics in list(_state(server)["private_topics"].values()) for t in topics}


def order_update(server: FakeExchange, rows: list[dict[str, Any]], category: str = "linear") -> int:
    """Push an ``order`` message (``/v5/order/realtime`` rows plus ``category``) to every private
    socket subscribed to it; returns how many received it."""
    data = [dict(row, category=category) for row in rows]
    return _push_private(server, "order", data)


def _push_private(server: FakeExchange, topic: str, data: list[dict[str, Any]]) -> int:
    state = _state(server)
    message = {"id": uuid.uuid4().hex, "topic": topic, "creationTime": server.now_ms(), "data": data}

    async def send() -> int:
        sockets = [ws for ws, topics in list(state["private_topics"].items()) if topic in topics]
        for ws in sockets:
            await ws.send_str(json.dumps(message))
        return len(sockets)
    return int(ws_faults.run_on_loop(state, send()))


async def _push(server: FakeExchange, ws: web.WebSocketResponse, topics: set[str]) -> None:
    state = _state(server)
    sequence = 1
    while not ws.closed:
        await asyncio.sleep(state["interval"])
        if state["silent"]:
            continue
        for topic in sorted(topics):
            symbol = topic.split(".", 1)[1]
            price = state["marks"].get(symbol)
            if price is None:
                continue
            sequence += 1
            delta = {"topic": topic, "type": "delta", "cs": sequence, "ts": server.now_ms(),
                     "data": {"symbol": symbol, "markPrice": f"{price:.2f}", "indexPrice": f"{price:.2f}"}}
            with contextlib.suppress(ConnectionError, RuntimeError):
                await ws.send_str(json.dumps(delta))


def set_mark(server: FakeExchange, symbol_id: str, price: float) -> None:
    _state(server)["marks"][symbol_id] = float(price)


def silence(server: FakeExchange, silent: bool = True) -> None:
    """Keep every stream connected but send nothing (a WebSocket gone quiet)."""
    ws_faults.silence(_state(server), silent)


def drop(server: FakeExchange) -> int:
    """Close every socket, public and private; returns how many were closed."""
    return ws_faults.drop(_state(server), "sockets", "private_sockets")
