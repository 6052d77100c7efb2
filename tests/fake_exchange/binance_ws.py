"""Binance USDⓈ-M WebSocket streams for the fake exchange: mark prices and the user-data stream.

Install next to the REST module: ``FakeExchange(venues=("binance", "binance_ws"))``. The wire
format is Binance's (developers.binance.com, USDⓈ-M "Websocket Market Streams" and "User Data
Streams"), at the paths ccxt.pro 4.5.90 uses once its URLs point at the fake (ccxt-notes.md §5):

* market streams ``/market/ws/<n>`` (also ``/ws/<n>``): the client sends
  ``{"method": "SUBSCRIBE", "params": ["btcusdt@markPrice@1s"], "id": 1}``, the server answers
  ``{"result": null, "id": 1}`` and then pushes ``markPriceUpdate`` events for each subscribed
  symbol every ``interval`` seconds (Binance: 1 s; tests shorten it);
* the user-data stream ``/private/ws?listenKey=<key>`` (also ``/ws/<key>``): the listen key must
  come from ``POST /fapi/v1/listenKey``; ``ACCOUNT_UPDATE`` (positions, balances),
  ``ORDER_TRADE_UPDATE`` (plain orders) and ``ALGO_UPDATE`` (conditional orders of the Algo
  Service) events are pushed by the test, in the shapes of Binance's "Event: Balance and Position
  Update", "Event: Order Update" and "Event: Algo Order Update".

Faults for the streams (on top of the HTTP faults of server.py, which also apply to the
WebSocket handshake): ``silence(server)`` keeps connections open but sends nothing,
``drop(server)`` closes every connection (clients must reconnect), ``set_mark(server, ...)``
moves the price.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from typing import Any

from aiohttp import WSMsgType, web

from tests.fake_exchange import ws_faults
from tests.fake_exchange.server import FakeExchange


def _state(server: FakeExchange) -> dict[str, Any]:
    return server.state["binance_ws"]  # type: ignore[no-any-return]


def install(server: FakeExchange) -> None:
    marks: dict[str, float] = {}
    premium = server.state.get("binance", {}).get("premiumIndex")
    for row in premium or []:
        marks[row["symbol"]] = float(row["markPrice"])
    server.state["binance_ws"] = {
        "marks": marks,  # symbol id (BTCUSDT) -> mark price
        "interval": 1.0,
        "silent": False,
        "market_sockets": set(),
        "user_sockets": set(),
        "subscribe_messages": [],  # every SUBSCRIBE received, for assertions
        "market_connections": 0,
        "user_connections": 0,
        "loop": None,
    }
    state = _state(server)

    async def market(request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(autoping=True, heartbeat=None)
        await ws.prepare(request)
        state["loop"] = asyncio.get_running_loop()
        state["market_connections"] += 1
        state["market_sockets"].add(ws)
        streams: set[str] = set()
        pusher = asyncio.get_running_loop().create_task(_push_marks(server, ws, streams))
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                request_msg = json.loads(msg.data)
                method, params = request_msg.get("method"), request_msg.get("params") or []
                if method == "SUBSCRIBE":
                    state["subscribe_messages"].append(list(params))
                    streams.update(params)
                elif method == "UNSUBSCRIBE":
                    streams.difference_update(params)
                await ws.send_str(json.dumps({"result": None, "id": request_msg.get("id")}))
        finally:
            pusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pusher
            state["market_sockets"].discard(ws)
        return ws

    async def user(request: web.Request) -> web.StreamResponse:
        key = request.query.get("listenKey") or request.match_info.get("tail", "")
        if key not in server.state["binance"]["listen_keys"]:
            return web.json_response({"code": -1125, "msg": "This listenKey does not exist."}, status=400)
        ws = web.WebSocketResponse(autoping=True, heartbeat=None)
        await ws.prepare(request)
        state["loop"] = asyncio.get_running_loop()
        state["user_connections"] += 1
        state["user_sockets"].add(ws)
        try:
            async for _ in ws:
                pass
        finally:
            state["user_sockets"].discard(ws)
        return ws

    r = server.app.router
    for prefix in ("/market/ws", "/ws", "/public/ws"):
        r.add_get(prefix, market)
        r.add_get(prefix + "/{tail:[^/]*}", market)
    r.add_get("/private/ws", user)
    r.add_get("/private/ws/{tail:[^/]*}", user)


async def _push_marks(server: FakeExchange, ws: web.WebSocketResponse, streams: set[str]) -> None:
    state = _state(server)
    while not ws.closed:
        await asyncio.sleep(state["interval"])
        if state["silent"] or not streams:
            continue
        now = server.now_ms()
        for stream in sorted(streams):
            symbol = stream.split("@", 1)[0].upper()
            price = state["marks"].get(symbol)
            if price is None or not stream.endswith(("@markPrice", "@markPrice@1s")):
                continue
            event = {"e": "markPriceUpdate", "E": now, "s": symbol, "p": f"{price:.8f}",
                     "i": f"{price:.8f}", "P": f"{price:.8f}", "r": "0.00010000",
                     "T": (now // 28_800_000 + 1) * 28_800_000}
            with contextlib.suppress(ConnectionError, RuntimeError):
                await ws.send_str(json.dumps(event))


def _run(server: FakeExchange, coro: Any, timeout: float = 5.0) -> Any:
    return ws_faults.run_on_loop(_state(server), coro, timeout)


def set_mark(server: FakeExchange, symbol_id: str, price: float) -> None:
    _state(server)["marks"][symbol_id] = float(price)


def silence(server: FakeExchange, silent: bool = True) -> None:
    """Keep every stream connected but send nothing (a WebSocket gone quiet)."""
    ws_faults.silence(_state(server), silent)


def drop(server: FakeExchange) -> int:
    """Close every WebSocket connection; returns how many were closed."""
    return ws_faults.drop(_state(server), "market_sockets", "user_sockets")


def account_update(server: FakeExchange, positions: list[dict[str, Any]],
                   balances: list[dict[str, Any]] | None = None) -> int:
    """Push an ``ACCOUNT_UPDATE`` to every user-data stream; returns how many received it.

    ``positions``: Binance's short keys — ``s`` symbol, ``pa`` amount, ``ep`` entry, ``up``
    unrealized PnL, ``mt`` margin type, ``iw`` isolated wallet, ``ps`` position side.
    """
    now = server.now_ms()
    return _push_user(server, {"e": "ACCOUNT_UPDATE", "E": now, "T": now,
                               "a": {"m": "ORDER", "B": balances or [], "P": positions}})


def order_update(server: FakeExchange, row: dict[str, Any], execution: str = "NEW") -> int:
    """Push an ``ORDER_TRADE_UPDATE`` for a plain order given as its ``/fapi/v1/openOrders`` row;
    ``execution``: NEW, CANCELED, AMENDMENT, TRADE, EXPIRED (the order status follows it)."""
    now = server.now_ms()
    status = {"AMENDMENT": "NEW", "TRADE": "PARTIALLY_FILLED"}.get(execution, execution)
    stop = row.get("stopPrice") or "0"
    o = {"s": row["symbol"], "c": row.get("clientOrderId", ""), "S": row["side"], "o": row["type"],
         "f": row.get("timeInForce", "GTC"), "q": row["origQty"], "p": row.get("price", "0"),
         "ap": row.get("avgPrice", "0"), "sp": stop, "x": execution, "X": status, "i": row["orderId"],
         "l": "0", "z": row.get("executedQty", "0"), "L": "0", "T": now, "t": 0, "b": "0", "a": "0",
         "m": False, "R": bool(row.get("reduceOnly")), "wt": row.get("workingType", "CONTRACT_PRICE"),
         "ot": row.get("origType", row["type"]), "ps": row.get("positionSide", "BOTH"),
         "cp": bool(row.get("closePosition")), "rp": "0", "pP": bool(row.get("priceProtect")),
         "si": 0, "ss": 0, "V": row.get("selfTradePreventionMode", "EXPIRE_MAKER"),
         "pm": row.get("priceMatch", "NONE"), "gtd": row.get("goodTillDate", 0)}
    if row.get("type") == "TRAILING_STOP_MARKET":
        o.update(AP=row.get("activatePrice", "0"), cr=row.get("priceRate", "0"))
    return _push_user(server, {"e": "ORDER_TRADE_UPDATE", "E": now, "T": now, "o": o})


def algo_update(server: FakeExchange, row: dict[str, Any], status: str = "NEW") -> int:
    """Push an ``ALGO_UPDATE`` for a conditional order given as its ``/fapi/v1/openAlgoOrders`` row;
    ``status``: NEW, CANCELED, TRIGGERING, TRIGGERED, FINISHED, REJECTED, EXPIRED."""
    now = server.now_ms()
    o = {"caid": row.get("clientAlgoId", ""), "aid": row["algoId"], "at": row.get("algoType", "CONDITIONAL"),
         "o": row["orderType"], "s": row["symbol"], "S": row["side"], "ps": row.get("positionSide", "BOTH"),
         "f": row.get("timeInForce", "GTC"), "q": row.get("quantity", "0"), "X": status, "ai": "",
         "ap": "0.00000", "aq": "0.00000", "act": "0", "tp": row.get("triggerPrice", "0"),
         "p": row.get("price", "0"), "V": row.get("selfTradePreventionMode", "EXPIRE_MAKER"),
         "wt": row.get("workingType", "CONTRACT_PRICE"), "pm": row.get("priceMatch", "NONE"),
         "cp": bool(row.get("closePosition")), "pP": bool(row.get("priceProtect")),
         "R": bool(row.get("reduceOnly")), "tt": 0, "gtd": row.get("goodTillDate", 0)}
    return _push_user(server, {"e": "ALGO_UPDATE", "T": now, "E": now, "o": o})


def _push_user(server: FakeExchange, event: dict[str, Any]) -> int:
    """Send ``event`` on every user-data stream; returns how many received it."""
    async def send() -> int:
        sockets = list(_state(server)["user_sockets"])
        for ws in sockets:
            await ws.send_str(json.dumps(event))
        return len(sockets)
    return int(_run(server, send()))


def wait_until(predicate: Any, timeout: float = 5.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)
