"""The webhook delivered to a real HTTP server on 127.0.0.1; failures land in the alert log."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from desk.domain.alerts import Alert, AlertLevel, DeliveryAttempt
from desk.notify.base import DeliveryChain, DeliveryWorker, NotifyError
from desk.notify.webhook import WebhookNotifier, alert_document

ALERT = Alert(
    at=1_800_000_000.0, rule="distance", level=AlertLevel.CRITICAL,
    title="BTC/USDT:USDT long: 4.2 % from liquidation — act now",
    body="main: mark 58,000 · liquidation 55,600",
    account="main", symbol="BTC/USDT:USDT", leg="both", value=0.042, threshold=0.05,
)


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    port: int
    requests: list[Received] = field(default_factory=list)
    status: int = 200
    delay: float = 0.0

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver(port=0)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            state.requests.append(Received(self.path, dict(self.headers.items()), body))
            time.sleep(state.delay)
            self.send_response(state.status)
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


class MemoryLog:
    """The alert log interface of desk.store.history.History, in memory."""

    def __init__(self) -> None:
        self.alerts: list[Alert] = []
        self.deliveries: list[tuple[int, DeliveryAttempt]] = []

    def record_alert(self, alert: Alert) -> int:
        self.alerts.append(alert)
        return len(self.alerts)

    def record_delivery(self, alert_id: int, attempt: DeliveryAttempt) -> None:
        self.deliveries.append((alert_id, attempt))


def test_generic_webhook_posts_a_json_document(receiver: Receiver) -> None:
    detail = WebhookNotifier(receiver.url()).send(ALERT)
    assert detail == "HTTP 200"
    (req,) = receiver.requests
    assert req.path == "/hook" and req.headers["Content-Type"] == "application/json"
    doc = json.loads(req.body)
    assert doc["title"] == ALERT.title and doc["level"] == "critical" and doc["rule"] == "distance"
    assert doc["subject"] == "main/BTC/USDT:USDT/both" and doc["value"] == 0.042
    assert doc["at"] == "2027-01-15T08:00:00Z" and doc["source"] == "desk"


def test_a_margin_ratio_of_infinity_is_plain_json_null(receiver: Receiver) -> None:
    """Past liquidation the margin ratio is ∞ (no margin balance left): the document stays JSON
    (`desk watch --json-lines` once crashed on it in the demo flash crash)."""
    past = Alert(at=ALERT.at, rule="distance", level=AlertLevel.CRITICAL, title="SOL long: at or past its "
                 "liquidation price", body="margin ratio ∞", account="main", symbol="SOL/USDT:USDT",
                 value=float("inf"), threshold=1.0)
    assert alert_document(past)["value"] is None
    json.dumps(alert_document(past), allow_nan=False)
    assert WebhookNotifier(receiver.url()).send(past) == "HTTP 200"
    (req,) = receiver.requests
    doc = json.loads(req.body)
    assert doc["value"] is None and doc["threshold"] == 1.0


def test_ntfy_webhook_sends_text_with_title_priority_and_tags(receiver: Receiver) -> None:
    notifier = WebhookNotifier("ntfy+" + receiver.url("/desk-alerts"))
    assert notifier.ntfy
    assert notifier.send(ALERT) == "HTTP 200 (ntfy)"
    (req,) = receiver.requests
    assert req.path == "/desk-alerts"
    assert req.body.decode() == ALERT.body
    assert req.headers["Priority"] == "5"
    assert req.headers["Tags"] == "rotating_light,desk,distance"
    # the title has a non-latin-1 dash: sent as an RFC 2047 encoded word, which ntfy decodes
    import base64

    encoded = req.headers["Title"]
    assert encoded.startswith("=?UTF-8?B?") and encoded.endswith("?=")
    assert base64.b64decode(encoded[10:-2]).decode() == ALERT.title


def test_ntfy_is_recognised_by_host() -> None:
    assert WebhookNotifier("https://ntfy.sh/my-topic").ntfy
    assert WebhookNotifier("https://ntfy.example.org/t").ntfy
    assert not WebhookNotifier("https://hooks.example.org/t").ntfy


def test_bad_url_is_refused_without_echoing_it() -> None:
    with pytest.raises(ValueError, match="http:// or https://") as info:
        WebhookNotifier("ftp://user:s3cr3t-token@example.org/x")
    assert "s3cr3t" not in str(info.value)


def test_http_error_and_timeout_and_refused_are_failures_without_the_url(receiver: Receiver) -> None:
    secret_url = receiver.url("/hook?auth=tk_fake_token_for_test")
    receiver.status = 500
    with pytest.raises(NotifyError, match="HTTP 500") as info:
        WebhookNotifier(secret_url).send(ALERT)
    assert "tk_fake" not in str(info.value)

    receiver.status, receiver.delay = 200, 1.0
    started = time.monotonic()
    with pytest.raises(NotifyError, match=r"did not answer within 0\.3 s"):
        WebhookNotifier(secret_url, timeout=0.3).send(ALERT)
    assert time.monotonic() - started < 1.5

    receiver.delay = 0.0
    import socket

    with socket.socket() as probe:  # a port nobody listens on: bound, never listening
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}/x?auth=tk_fake"
        with pytest.raises(NotifyError, match="unreachable") as info:
            WebhookNotifier(closed).send(ALERT)
    assert "tk_fake" not in str(info.value)


def test_worker_logs_every_attempt_delivered_or_failed(receiver: Receiver) -> None:
    alert_log = MemoryLog()
    receiver.status = 503
    chain = DeliveryChain(extras=[WebhookNotifier(receiver.url())])
    worker = DeliveryWorker(chain, alert_log).start()
    try:
        worker.submit(ALERT)
        assert worker.wait_idle(10)
        receiver.status = 200
        worker.submit(ALERT)
        worker.submit(ALERT, muted="quiet hours 23:00-07:00")
        assert worker.wait_idle(10)
    finally:
        worker.stop()
    assert alert_log.alerts == [ALERT, ALERT, ALERT]
    got = [(i, a.channel, a.delivered, a.detail) for i, a in alert_log.deliveries]
    assert got == [
        (1, "webhook", False, "webhook answered HTTP 503 Service Unavailable"),
        (2, "webhook", True, "HTTP 200"),
        (3, "muted", False, "quiet hours 23:00-07:00"),
    ]
    assert len(receiver.requests) == 2


def test_a_slow_webhook_never_blocks_the_caller(receiver: Receiver) -> None:
    receiver.delay = 0.4
    worker = DeliveryWorker(DeliveryChain(extras=[WebhookNotifier(receiver.url(), timeout=5)])).start()
    try:
        started = time.monotonic()
        for _ in range(3):
            worker.submit(ALERT)
        assert time.monotonic() - started < 0.1
        assert worker.wait_idle(10)
    finally:
        worker.stop()
    assert len(receiver.requests) == 3
