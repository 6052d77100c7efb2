"""A fake exchange on 127.0.0.1 speaking the venues' real REST wire protocol.

One ``aiohttp.web.Application`` serves Binance USDⓈ-M/COIN-M, Bybit v5 and Hyperliquid
paths side by side (they do not collide), so one server can stand in for every venue. Each
venue module checks signatures and headers the way the venue does and answers from recorded
payloads (``payloads/*.json``, loaded into ``server.state``, which tests may edit).

Fault injection (``server.inject(Fault(...))``) happens in a middleware, before the venue
handler, so it works for routes other modules add later (e.g. WebSocket endpoints):
delay/timeout, any HTTP status with any body (429/418, 5xx, HTML pages), empty 200 bodies,
non-JSON 200 bodies, dropped connections, and an error body that echoes the request's headers
(API key included), as some venues and proxies do. Auth revocation is ``server.revoke(api_key)``;
clock skew is ``server.clock_offset_ms``.

Start from sync tests with ``with FakeExchange().running() as server:`` (a thread with its own
loop) or from async code with ``await server.start()`` / ``await server.stop()``.
"""

from __future__ import annotations

import asyncio
import copy
import fnmatch
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

PAYLOADS = Path(__file__).resolve().parent / "payloads"


@dataclass
class Fault:
    """A misbehaviour for requests whose path matches ``path`` (fnmatch pattern).

    kind: "delay" (sleep ``seconds`` then answer normally), "status" (answer ``status`` with
    ``body`` and ``content_type``), "html" (an HTML error page with ``status``), "empty"
    (200, no body), "non_json" (200, a text body), "drop" (close the connection),
    "echo_headers" (answer ``status`` with the JSON object ``body`` — by default Binance's
    -2015 "Invalid API-key" — plus every request header under ``"request_headers"``).
    ``times``: how many requests it applies to (None = until cleared).
    """

    kind: str
    path: str = "*"
    method: str | None = None
    status: int = 200
    body: str = ""
    content_type: str = "application/json"
    seconds: float = 0.0
    times: int | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def matches(self, request: web.Request) -> bool:
        if self.method and request.method != self.method.upper():
            return False
        return fnmatch.fnmatchcase(request.path, self.path)


@dataclass
class ApiKey:
    key: str
    secret: str
    revoked: bool = False
    can_read: bool = True
    can_trade: bool = False
    can_withdraw: bool = False
    ip_restricted: bool = False


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: str

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


def load_payload(name: str) -> Any:
    return json.loads((PAYLOADS / name).read_text(encoding="utf-8"))


class FakeExchange:
    def __init__(self, venues: tuple[str, ...] = ("binance", "bybit", "hyperliquid")) -> None:
        self.keys: dict[str, ApiKey] = {}
        self.faults: list[Fault] = []
        self.requests: list[RecordedRequest] = []
        self.clock_offset_ms = 0  # the server's clock minus real time
        self.state: dict[str, Any] = {}
        self.app = web.Application(middlewares=[self._record, self._inject_faults])
        self._lock = threading.Lock()
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.port = 0
        for venue in venues:
            module = __import__(f"tests.fake_exchange.{venue}", fromlist=["install"])
            module.install(self)

    # -- configuration --------------------------------------------------------------------
    def add_key(self, key: str, secret: str, **flags: bool) -> ApiKey:
        api_key = ApiKey(key, secret, **flags)
        self.keys[key] = api_key
        return api_key

    def revoke(self, key: str) -> None:
        self.keys[key].revoked = True

    def inject(self, fault: Fault) -> Fault:
        with self._lock:
            self.faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        with self._lock:
            self.faults.clear()

    def now_ms(self) -> int:
        return int(time.time() * 1000) + self.clock_offset_ms

    def paths(self, prefix: str = "") -> list[str]:
        """Recorded request paths (method and path), optionally only those starting with prefix."""
        return [str(r) for r in self.requests if r.path.startswith(prefix)]

    @property
    def url(self) -> str:
        if not self.port:
            raise RuntimeError("the fake exchange is not running")
        return f"http://127.0.0.1:{self.port}"

    # -- middlewares ----------------------------------------------------------------------
    @web.middleware
    async def _record(self, request: web.Request, handler: Any) -> web.StreamResponse:
        body = await request.text() if request.can_read_body else ""
        self.requests.append(RecordedRequest(request.method, request.path, dict(request.query),
                                             dict(request.headers), body))
        return await handler(request)

    def _take_fault(self, request: web.Request) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.matches(request):
                    if fault.times is not None:
                        fault.times -= 1
                        if fault.times <= 0:
                            self.faults.remove(fault)
                    return fault
        return None

    @web.middleware
    async def _inject_faults(self, request: web.Request, handler: Any) -> web.StreamResponse:
        fault = self._take_fault(request)
        if fault is None:
            return await handler(request)
        if fault.kind == "delay":
            await asyncio.sleep(fault.seconds)
            return await handler(request)
        if fault.kind == "status":
            return web.Response(status=fault.status, text=fault.body, content_type=fault.content_type,
                                headers=fault.headers)
        if fault.kind == "html":
            page = fault.body or ("<html><head><title>502 Bad Gateway</title></head><body><center>"
                                  "<h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body></html>")
            return web.Response(status=fault.status, text=page, content_type="text/html")
        if fault.kind == "empty":
            return web.Response(status=200, body=b"", content_type=fault.content_type)
        if fault.kind == "non_json":
            return web.Response(status=200, text=fault.body or "<html><body>OK</body></html>",
                                content_type="text/html")
        if fault.kind == "echo_headers":
            doc = json.loads(fault.body) if fault.body else {
                "code": -2015, "msg": "Invalid API-key, IP, or permissions for action"}
            doc["request_headers"] = dict(request.headers)
            return json_response(doc, status=fault.status)
        if fault.kind == "drop":
            transport = request.transport
            if transport is not None:
                transport.close()
            raise ConnectionResetError("fault: connection dropped")
        raise ValueError(f"unknown fault kind {fault.kind!r}")

    # -- lifecycle --------------------------------------------------------------------------
    async def start(self) -> FakeExchange:
        self._runner = web.AppRunner(self.app, handle_signals=False, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port or 0)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @contextmanager
    def running(self, timeout: float = 10.0) -> Iterator[FakeExchange]:
        """Serve from a background thread with its own event loop (for sync tests)."""
        started = threading.Event()
        errors: list[BaseException] = []
        loop = asyncio.new_event_loop()
        self._loop = loop

        def serve() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self.start())
            except BaseException as exc:  # surfaced to the test below
                errors.append(exc)
                started.set()
                return
            started.set()
            loop.run_forever()
            loop.run_until_complete(self.stop())
            loop.close()

        self._thread = threading.Thread(target=serve, name="fake-exchange", daemon=True)
        self._thread.start()
        if not started.wait(timeout) or errors:
            raise RuntimeError(f"fake exchange failed to start: {errors}")
        try:
            yield self
        finally:
            loop.call_soon_threadsafe(loop.stop)
            self._thread.join(timeout)

    def fresh_state(self, name: str) -> Any:
        """A deep copy of a recorded payload, for a venue module's state."""
        return copy.deepcopy(load_payload(name))


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(status=status, text=json.dumps(data), content_type="application/json",
                        headers=headers)
