"""OKX v5 private WebSocket channels for the fake exchange: positions, orders and algo orders.

Install next to the REST module: ``FakeExchange(venues=("okx", "okx_ws"))``. The wire format is
OKX's (okx.com/docs-v5, "WebSocket → Login", "Trading account → Positions channel", "Order book
trading → Order channel", "Algo trading → Algo orders channel"), at the paths ccxt.pro 4.5.90
uses once its URL points at the fake (``wss://ws.okx.com:8443/ws/v5`` → ``/ws/v5/private``; the
algo orders channel lives on ``/ws/v5/business``):

* ``{"op": "login", "args": [{"apiKey", "passphrase", "timestamp" (seconds), "sign":
  base64 HMAC-SHA256(secret, timestamp + "GET" + "/users/self/verify")}]}`` →
  ``{"event": "login", "code": "0", "msg": "", "connId": …}``; anything wrong →
  ``{"event": "error", "code": "60009", "msg": "Login failed.", "connId": …}``;
* ``{"op": "subscribe", "args": [{"channel": "positions" | "orders" | "orders-algo", "instType":
  "ANY"}]}`` (after login) → ``{"event": "subscribe", "arg": {…}, "connId": …}``; ``positions``
  then pushes its snapshot at once (the REST module's rows), as OKX does;
* pushes ``{"arg": {"channel", "uid", "instType"}, "data": [rows]}``: ``orders`` rows are
  ``/trade/orders-pending`` rows, ``orders-algo`` rows ``/trade/orders-algo-pending`` rows, sent
  by the test (``order_update``);
* the text ``ping`` is answered with ``pong``.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import time
import uuid
from typing import Any

from aiohttp import WSMsgType, web

from tests.fake_exchange import ws_faults
from tests.fake_exchange.server import FakeExchange

UID = "44705892343619584"
_CHANNELS = {"private": ("positions", "orders"), "business": ("orders-algo",)}


def _state(server: FakeExchange) -> dict[str, Any]:
    return server.state["okx_ws"]  # type: ignore[no-any-return]


def install(server: FakeExchange) -> None:
    server.state["okx_ws"] = {
        "silent": False,
        "sockets": set(),
        "topics": {},  # socket -> subscribed channels
        "messages": [],  # (path, message) received, for assertions
        "loop": None,
    }
    for access in _CHANNELS:
        server.app.router.add_get(f"/ws/v5/{access}", _handler(server, access))


def _logged_in(server: FakeExchange, args: Any) -> bool:
    if not isinstance(args, list) or len(args) != 1 or not isinstance(args[0], dict):
        return False
    arg = args[0]
    key = server.keys.get(str(arg.get("apiKey")))
    if key is None or key.revoked or not key.can_read:
        return False
    if server.state["okx"]["passphrases"].get(key.key) != arg.get("passphrase"):
        return False
    stamp = str(arg.get("timestamp"))
    if not stamp.isdigit() or abs(int(stamp) - server.now_ms() / 1000) > 30:
        return False
    digest = hmac.new(key.secret.encode(), f"{stamp}GET/users/self/verify".encode(), hashlib.sha256).digest()
    return hmac.compare_digest(base64.b64encode(digest).decode(), str(arg.get("sign")))


def _handler(server: FakeExchange, access: str) -> Any:
    async def handler(request: web.Request) -> web.StreamResponse:
        state = _state(server)
        ws = web.WebSocketResponse(autoping=True, heartbeat=None)
        await ws.prepare(request)
        state["loop"] = asyncio.get_running_loop()
        conn_id = uuid.uuid4().hex[:8]
        logged_in = False
        channels: set[str] = set()
        state["sockets"].add(ws)
        state["topics"][ws] = channels
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                if msg.data == "ping":
                    await ws.send_str("pong")
                    continue
                body = json.loads(msg.data)
                state["messages"].append((access, body))
                op = body.get("op")
                answers: list[dict[str, Any]] = []
                if op == "login":
                    logged_in = _logged_in(server, body.get("args"))
                    answers.append({"event": "login", "code": "0", "msg": "", "connId": conn_id} if logged_in
                                   else {"event": "error", "code": "60009", "msg": "Login failed.",
                                         "connId": conn_id})
                elif op == "subscribe" and not logged_in:
                    answers.append({"event": "error", "code": "60011", "msg": "Please log in",
                                    "connId": conn_id})
                elif op == "subscribe":
                    for arg in body.get("args") or []:
                        channel = arg.get("channel")
                        if channel not in _CHANNELS[access]:
                            answers.append({"event": "error", "code": "60018",
                                            "msg": f"Wrong URL or channel:{channel},instType:"
                                                   f"{arg.get('instType')} doesn't exist. Please use the "
                                                   f"correct URL, channel and parameters referring to "
                                                   f"API document.", "connId": conn_id})
                            continue
                        channels.add(channel)
                        answers.append({"event": "subscribe", "arg": arg, "connId": conn_id})
                        if channel == "positions":
                            answers.append(_push_message(server, "positions",
                                                         server.state["okx"]["positions"]))
                else:
                    answers.append({"event": "error", "code": "60012",
                                    "msg": f"Illegal request: {msg.data}", "connId": conn_id})
                for answer in answers:
                    with contextlib.suppress(ConnectionError, RuntimeError):
                        await ws.send_str(json.dumps(answer))
        finally:
            state["sockets"].discard(ws)
            state["topics"].pop(ws, None)
        return ws
    return handler


def _push_message(server: FakeExchange, channel: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    arg = {"channel": channel, "uid": UID, "instType": "ANY"}
    if channel == "positions":
        return {"arg": arg, "eventType": "snapshot", "curPage": 1, "lastPage": True, "data": rows}
    return {"arg": arg, "data": rows}


def subscribed(server: FakeExchange) -> set[str]:
    """The channels some open socket is subscribed to."""
    return {c for channels in list(_state(server)["topics"].values()) for c in channels}


def order_update(server: FakeExchange, channel: str, rows: list[dict[str, Any]], state: str = "live") -> int:
    """Push ``rows`` (REST rows of the channel's kind) with ``state`` (live, canceled, effective…)
    on ``channel`` ("orders" or "orders-algo") to every socket subscribed; returns how many."""
    now = str(int(time.time() * 1000))
    data = [dict(row, state=state, uTime=now) for row in rows]
    message = _push_message(server, channel, data)
    st = _state(server)

    async def send() -> int:
        sockets = [ws for ws, channels in list(st["topics"].items()) if channel in channels]
        for ws in sockets:
            await ws.send_str(json.dumps(message))
        return len(sockets)
    return int(ws_faults.run_on_loop(st, send()))


def drop(server: FakeExchange) -> int:
    """Close every socket; returns how many were closed."""
    return ws_faults.drop(_state(server), "sockets")
