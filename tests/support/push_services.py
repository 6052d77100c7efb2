"""Loopback HTTP servers that answer like ntfy, Gotify, Matrix and a JSON webhook, for Apprise.

``push_server`` starts one ``ThreadingHTTPServer`` on 127.0.0.1 (port chosen by the OS) that
records every request (method, path, headers, JSON body) and answers in the shape of the service
the path belongs to:

* ntfy — ``POST /`` with a JSON body naming the topic → ``{"id", "event": "message", "topic"}``;
* Gotify — ``POST /message`` with ``X-Gotify-Key`` → ``{"id", "appid", "message"}``;
* Matrix — ``POST /_matrix/client/v3/login`` → an access token; ``POST …/join/{alias}`` → a room id;
  ``PUT …/rooms/{room}/send/m.room.message/{txn}`` → an event id (the bearer token is checked);
* JSON webhook — ``POST`` anything else → ``{"ok": true}``.

``fail_with(status)`` makes the next requests fail with that HTTP status; ``hang()`` holds every
request until ``release()`` (a dead service), so a test can prove a slow channel delays nobody.
URLs for Apprise: ``.ntfy_url(topic)``, ``.gotify_url(token)``, ``.matrix_url(room)``, ``.json_url(path)``.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote

import pytest

MATRIX_TOKEN = "syt_loopback_access_token"
MATRIX_ROOM = "!room1:localhost"


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)


class PushServer:
    def __init__(self) -> None:
        self.requests: list[Request] = []
        self.arrived = threading.Condition()
        self.status: int | None = None  # a forced failure status
        self._release = threading.Event()
        self._release.set()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                req = Request(self.command, self.path, dict(self.headers), self.rfile.read(length))
                with server.arrived:
                    server.requests.append(req)
                    server.arrived.notify_all()
                server._release.wait(30)
                status, doc = server.answer(req)
                data = json.dumps(doc).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_POST = do_PUT = do_GET = _handle

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    # -- answers in each service's shape --------------------------------------------------------

    def answer(self, req: Request) -> tuple[int, dict[str, Any]]:
        if self.status is not None:
            return self.status, {"error": "forced failure", "code": self.status}
        path = unquote(req.path)
        if path.startswith("/_matrix/client/v3/login"):
            return 200, {"access_token": MATRIX_TOKEN, "user_id": "@desk:localhost",
                          "home_server": "localhost"}
        if path.startswith("/_matrix/"):
            if req.headers.get("Authorization") != f"Bearer {MATRIX_TOKEN}":
                return 401, {"errcode": "M_UNKNOWN_TOKEN", "error": "Unknown access token"}
            if "/join/" in path:
                return 200, {"room_id": MATRIX_ROOM}
            if "/send/m.room.message/" in path:
                return 200, {"event_id": "$event1"}
            return 404, {"errcode": "M_UNRECOGNIZED"}
        if path.startswith("/message"):
            if not req.headers.get("X-Gotify-Key"):
                return 401, {"error": "Unauthorized", "errorCode": 401}
            return 200, {"id": len(self.requests), "appid": 1, "message": req.json.get("message")}
        if path == "/" and req.method == "POST":
            return 200, {"id": "ntfy1", "event": "message", "topic": req.json.get("topic")}
        return 200, {"ok": True}

    # -- control ------------------------------------------------------------------------------------

    def fail_with(self, status: int) -> None:
        self.status = status

    def hang(self) -> None:
        self._release.clear()

    def release(self) -> None:
        self._release.set()

    def wait_for(self, predicate: Callable[[list[Request]], bool], timeout: float = 10.0,
                 what: str = "requests") -> list[Request]:
        with self.arrived:
            if not self.arrived.wait_for(lambda: predicate(self.requests), timeout):
                got = [(r.method, r.path) for r in self.requests]
                pytest.fail(f"timed out waiting for {what}; got {got}")
            return list(self.requests)

    # -- Apprise URLs -------------------------------------------------------------------------------

    def ntfy_url(self, topic: str = "desk-alerts") -> str:
        return f"ntfy://127.0.0.1:{self.port}/{topic}"

    def gotify_url(self, token: str = "AppTokenLoopback1") -> str:
        return f"gotify://127.0.0.1:{self.port}/{token}"

    def matrix_url(self, room: str = "alerts") -> str:
        return f"matrix://desk:matrix-password-1@127.0.0.1:{self.port}/#{room}?discovery=no"

    def json_url(self, path: str = "hook/desk") -> str:
        return f"json://127.0.0.1:{self.port}/{path}"

    def of(self, path_prefix: str) -> list[Request]:
        return [r for r in self.requests if unquote(r.path).startswith(path_prefix)]


@pytest.fixture
def push_server() -> Iterator[PushServer]:
    server = PushServer()
    server._thread.start()
    try:
        yield server
    finally:
        server.release()
        server.httpd.shutdown()
        server.httpd.server_close()


def another_push_server() -> PushServer:
    """A second server (started); the caller shuts it down (``stop_push_server``)."""
    server = PushServer()
    server._thread.start()
    return server


def stop_push_server(server: PushServer) -> None:
    server.release()
    server.httpd.shutdown()
    server.httpd.server_close()
