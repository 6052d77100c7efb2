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
                got = [(r.method, r.path, r.body[:160]) for r in self.requests]
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


# --- services at fixed hosts (Telegram, Discord, Slack, Pushover) ------------------------------------
# Apprise sends these to their public hosts only. To exercise the real plugins without leaving the
# machine, requests is pointed at a loopback HTTPS proxy (HTTPS_PROXY) that answers CONNECT itself:
# it terminates TLS with a self-signed certificate (the channel URL says verify=no) and answers as
# the service's API does. Nothing reaches the network.

FIXED_HOST_ANSWERS: dict[str, Callable[[Request], tuple[int, Any]]] = {
    "api.telegram.org": lambda r: (200, {"ok": True, "result": {"message_id": 7, "chat": {
        "id": int(r.json["chat_id"]), "type": "private"}, "date": 0, "text": r.json.get("text", "")}}),
    "discord.com": lambda r: (204, None),
    "hooks.slack.com": lambda r: (200, "ok"),
    "api.pushover.net": lambda r: (200, {"status": 1, "request": "loopback-request-id"}),
}


@dataclass
class HostRequest:
    host: str
    request: Request


class TlsInterceptor:
    def __init__(self, workdir: Any) -> None:
        import socketserver
        import ssl
        import subprocess

        cert, key = workdir / "cert.pem", workdir / "key.pem"
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
                        "/CN=loopback", "-keyout", str(key), "-out", str(cert)],
                       check=True, capture_output=True, timeout=60)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        self.requests: list[HostRequest] = []
        self.arrived = threading.Condition()
        interceptor = self

        class Api(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"
            host = ""

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                req = Request(self.command, self.path, dict(self.headers), self.rfile.read(length))
                with interceptor.arrived:
                    interceptor.requests.append(HostRequest(self.host, req))
                    interceptor.arrived.notify_all()
                status, doc = FIXED_HOST_ANSWERS[self.host](req)
                text = doc if isinstance(doc, str) else json.dumps(doc)
                data = b"" if doc is None else text.encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/plain" if isinstance(doc, str) else "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_POST = do_GET = _handle

            def log_message(self, *args: object) -> None:
                pass

        class Proxy(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                line = self.rfile.readline().decode("latin-1")
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass
                method, target, _ = line.split(" ", 2)
                host = target.rsplit(":", 1)[0]
                if method != "CONNECT" or host not in FIXED_HOST_ANSWERS:
                    self.wfile.write(b"HTTP/1.1 403 Forbidden\r\n\r\n")
                    return
                self.wfile.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
                self.wfile.flush()
                tls = context.wrap_socket(self.connection, server_side=True)
                handler = type("HostApi", (Api,), {"host": host})
                handler(tls, self.client_address, self.server)

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

        self.server = Server(("127.0.0.1", 0), Proxy)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def wait_for(self, count: int, timeout: float = 20.0) -> list[HostRequest]:
        with self.arrived:
            if not self.arrived.wait_for(lambda: len(self.requests) >= count, timeout):
                pytest.fail(f"timed out waiting for {count} requests; got {[r.host for r in self.requests]}")
            return list(self.requests)


@pytest.fixture
def tls_interceptor(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[TlsInterceptor]:
    """Requests for the fixed-host services go to the loopback interceptor (in this process)."""
    interceptor = TlsInterceptor(tmp_path)
    for var in ("HTTPS_PROXY", "https_proxy"):
        monkeypatch.setenv(var, f"http://127.0.0.1:{interceptor.port}")
    for var in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(var, raising=False)
    try:
        yield interceptor
    finally:
        interceptor.stop()


class SmtpServer:
    """A loopback SMTP server (EHLO, AUTH accepted, MAIL, RCPT, DATA): e-mail channels through
    Apprise's mailto:// plugin. ``.messages`` holds (authenticated, recipients, raw message)."""

    def __init__(self) -> None:
        import socketserver

        self.messages: list[tuple[bool, list[str], bytes]] = []
        self.arrived = threading.Condition()
        smtp = self

        class Session(socketserver.StreamRequestHandler):
            def say(self, text: str) -> None:
                self.wfile.write(text.encode() + b"\r\n")
                self.wfile.flush()

            def handle(self) -> None:
                self.say("220 loopback ESMTP")
                authenticated, recipients, data = False, [], None
                while line := self.rfile.readline():
                    if data is not None:
                        if line.rstrip(b"\r\n") == b".":
                            with smtp.arrived:
                                smtp.messages.append((authenticated, recipients, b"".join(data)))
                                smtp.arrived.notify_all()
                            data = None
                            self.say("250 OK queued")
                        else:
                            data.append(line)
                        continue
                    command = line.decode().strip().upper()
                    if command.startswith("EHLO"):
                        self.say("250-loopback")
                        self.say("250 AUTH PLAIN LOGIN")
                    elif command.startswith("AUTH"):
                        authenticated = True
                        self.say("235 Authentication successful")
                    elif command.startswith("RCPT TO:"):
                        recipients.append(line.decode().strip()[8:].strip("<> "))
                        self.say("250 OK")
                    elif command.startswith("DATA"):
                        data = []
                        self.say("354 End data with <CR><LF>.<CR><LF>")
                    elif command.startswith("QUIT"):
                        self.say("221 Bye")
                        return
                    else:
                        self.say("250 OK")

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True

        self.server = Server(("127.0.0.1", 0), Session)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, to: str = "trader@example.org") -> str:
        return (f"mailto://desk:mail-password-1@127.0.0.1:{self.port}?to={to}&from=desk@example.org"
                "&mode=insecure")

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
