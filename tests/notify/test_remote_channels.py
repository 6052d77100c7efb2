"""Remote channels through Apprise, against loopback servers speaking each service's API.

The channels come from the settings ([channels.NAME]) and the keyring (their URLs), exactly as
`desk watch` and the dashboard open them (AlertService.from_settings); alerts come from monitor
snapshots on the event bus, under a fake clock.
"""

from __future__ import annotations

import email
import json
import threading
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest

from desk.domain.alerts import AlertLevel
from desk.services.alerts import AlertService, ChannelHealth
from desk.services.bus import EventBus
from desk.store import secrets
from desk.store.history import History
from desk.store.settings import ChannelConfig, Settings
from tests.alerts.factory import FakeClock, position, snapshot
from tests.support.push_services import (
    MATRIX_ROOM,
    PushServer,
    SmtpServer,
    TlsInterceptor,
    another_push_server,
    stop_push_server,
)


@pytest.fixture
def history(tmp_path: Path) -> Iterator[History]:
    h = History(tmp_path / "history.sqlite")
    yield h
    h.close()


def add_channel(name: str, url: str, **routing: object) -> None:
    settings = Settings.load()
    settings.put_channel(ChannelConfig(name=name, **routing))  # type: ignore[arg-type]
    settings.save()
    secrets.put_channel_url(name, url)


def start(history: History, clock: FakeClock, **settings_values: object) -> tuple[AlertService, list[object]]:
    settings = Settings.load()
    settings.update({"alerts.desktop": False, **settings_values})
    bus = EventBus()
    events: list[object] = []
    bus.subscribe(events.append, ChannelHealth)
    service = AlertService.from_settings(bus, settings, alert_log=history, clock=clock)
    for channel in service.channels:
        channel.notifier.pace(0)  # loopback servers: no need to spare them Apprise's 5.5 s pacing
    return service.start(ticker=False), events


def go_critical(service: AlertService, clock: FakeClock) -> None:
    service.evaluate(snapshot(clock(), [position(distance=0.30)]))  # calm start: no summary
    clock.advance(10)
    service.evaluate(snapshot(clock(), [position(distance=0.03)]))  # critical at 5 %


def test_each_service_gets_the_alert_in_its_own_api_shape(push_server: PushServer, history: History) -> None:
    add_channel("ntfy", push_server.ntfy_url("desk-alerts"))
    add_channel("gotify", push_server.gotify_url("AppTokenLoopback1"))
    add_channel("matrix", push_server.matrix_url("alerts"))
    add_channel("hook", push_server.json_url("hook/desk"))
    clock = FakeClock()
    service, _ = start(history, clock)
    try:
        go_critical(service, clock)
        assert service.wait_idle(20)
    finally:
        service.stop()

    (ntfy,) = [r for r in push_server.requests if r.path == "/"]
    assert ntfy.method == "POST" and ntfy.json["topic"] == "desk-alerts"
    assert ntfy.json["title"] == "BTC/USDT:USDT long: 3.00 % from liquidation"
    assert "liquidation 40,000 " in ntfy.json["message"]

    (gotify,) = push_server.of("/message")
    assert gotify.headers["X-Gotify-Key"] == "AppTokenLoopback1"
    assert gotify.json["priority"] == 8  # critical: Gotify's "high"
    assert gotify.json["title"].endswith("from liquidation")

    login, join, send = push_server.of("/_matrix/")
    assert login.json["identifier"]["user"] == "desk" and login.json["password"] == "matrix-password-1"
    assert join.path.endswith("/join/%23alerts%3Alocalhost")
    assert f"/rooms/{MATRIX_ROOM.replace('!', '%21').replace(':', '%3A')}/send/m.room.message/" in send.path
    assert send.method == "PUT" and "3.00 % from liquidation" in send.json["body"]

    (hook,) = push_server.of("/hook/desk")
    assert hook.json["type"] == "failure" and hook.json["title"].endswith("from liquidation")

    (row,) = [r for r in history.alerts() if r.alert.level is AlertLevel.CRITICAL]
    delivered = {d.channel: d.detail for d in row.deliveries if d.delivered}
    assert delivered == {"ntfy": "sent via ntfy", "gotify": "sent via Gotify", "matrix": "sent via Matrix",
                         "hook": "sent via JSON"}


def test_a_dead_channel_delays_nobody_and_a_failing_one_is_logged_with_its_reason(
        push_server: PushServer, history: History) -> None:
    dead, broken = another_push_server(), another_push_server()
    dead.hang()  # accepts the connection, never answers
    broken.fail_with(503)
    add_channel("dead", dead.ntfy_url("t1"))
    add_channel("broken", broken.ntfy_url("t2"))
    add_channel("phone", push_server.ntfy_url("t3"))
    clock = FakeClock()
    service, health = start(history, clock)
    try:
        returned = threading.Event()
        go_critical(service, clock)  # returns at once: nothing is sent on the caller's thread
        returned.set()
        push_server.wait_for(lambda rs: len(rs) == 1, what="the healthy channel's message")
        dead.wait_for(lambda rs: len(rs) == 1, what="the dead channel's request")
        # the healthy channel got its message while the dead one was still hanging
        assert len(push_server.requests) == 1 and not dead._release.is_set()
        assert service.worker.remote[0].wait_idle(0) is False  # "dead" still busy
        assert service.channels[1].wait_idle(10)
        assert service.failing_channels() == {"broken": service.channels[1].failing}
        assert "503" in (service.failing_channels()["broken"] or "")
        dead.release()
        assert service.wait_idle(20)
    finally:
        service.stop()
        stop_push_server(dead)
        stop_push_server(broken)

    failed = [h for h in health if isinstance(h, ChannelHealth) and not h.ok]
    assert [h.channel for h in failed] == ["broken"] and "503" in failed[0].reason
    (row,) = [r for r in history.alerts() if r.alert.level is AlertLevel.CRITICAL]
    outcome = {d.channel: (d.delivered, d.detail) for d in row.deliveries}
    assert outcome["phone"] == (True, "sent via ntfy") and outcome["dead"] == (True, "sent via ntfy")
    assert outcome["broken"][0] is False and "503" in outcome["broken"][1]


def test_reminders_recovery_and_acknowledgement_reach_the_channels(push_server: PushServer,
                                                                   history: History) -> None:
    """Critical repeats at 2, 5, 10 min, then every 15, until acknowledged; recovery sends one
    "recovered" to the channels that got the alert, not to one that only takes info."""
    add_channel("phone", push_server.ntfy_url("phone"), level="critical")
    add_channel("chat", push_server.json_url("chat"), level="warning")
    clock = FakeClock()
    service, _ = start(history, clock)
    try:
        go_critical(service, clock)
        first = clock()
        while clock() < first + 26 * 60:
            clock.advance(30)
            service.evaluate(snapshot(clock(), [position(distance=0.03)]))
            service.tick()
        assert service.wait_idle(20)
        sent = [r for r in history.alerts() if r.alert.repeat]
        assert [round((r.alert.at - first) / 60) for r in sent] == [2, 5, 10, 25]
        assert [r.alert.repeat for r in sent] == [1, 2, 3, 4]

        acked = service.acknowledge(("distance", "main", "BTC/USDT:USDT", "both"), source="alert log")
        assert [a.rule for a in acked] == ["distance"]
        clock.advance(60 * 60)
        service.evaluate(snapshot(clock(), [position(distance=0.03)]))
        service.tick()
        assert service.wait_idle(20)
        assert len([r for r in history.alerts() if r.alert.repeat]) == 4  # no reminder after the ack

        clock.advance(30)
        service.evaluate(snapshot(clock(), [position(distance=0.30)]))  # recovered
        assert service.wait_idle(20)
    finally:
        service.stop()

    titles = {where: [r.json["title"] for r in push_server.requests
                      if r.path == where or (r.path == "/" and r.json.get("topic") == where)]
              for where in ("phone", "/chat")}
    # 1 alert + 4 reminders + 1 recovered, on both channels (the phone takes critical, then its recovery)
    assert len(titles["phone"]) == 6 and len(titles["/chat"]) == 6
    assert titles["phone"][-1].startswith("Recovered: main/BTC/USDT:USDT/both")
    assert sum(t.startswith("Still critical after") for t in titles["phone"]) == 4
    acks = history.acks()
    assert [(a.source, a.condition) for _, a in acks] == [
        ("alert log", ("distance", "main", "BTC/USDT:USDT", "both"))]


def test_telegram_discord_slack_and_pushover_through_their_real_apprise_plugins(
        tls_interceptor: TlsInterceptor, history: History) -> None:
    """Their hosts are fixed in Apprise: the requests go through a loopback TLS interceptor
    (HTTPS_PROXY) that answers as each API does; the URLs say verify=no for its certificate."""
    add_channel("telegram", "tgram://123456789:AAEloopbackBotToken/987654321?verify=no")
    add_channel("discord", "discord://111222333/loopbackWebhookToken?verify=no")
    add_channel("slack", "slack://T0LOOP/B0LOOP/loopbackSlackToken?verify=no")
    add_channel("pushover", "pover://loopbackUserKey1@loopbackAppToken1?verify=no")
    clock = FakeClock()
    service, _ = start(history, clock)
    try:
        go_critical(service, clock)
        assert service.wait_idle(30)
    finally:
        service.stop()
    by_host = {r.host: r.request for r in tls_interceptor.wait_for(4)}
    telegram = by_host["api.telegram.org"]
    assert telegram.path == "/bot123456789:AAEloopbackBotToken/sendMessage"
    assert telegram.json["chat_id"] == 987654321 and "3.00 % from liquidation" in telegram.json["text"]
    discord = by_host["discord.com"]
    assert discord.path.startswith("/api/webhooks/111222333/loopbackWebhookToken")
    assert "3.00 % from liquidation" in json.dumps(discord.json)
    slack = by_host["hooks.slack.com"]
    assert slack.path == "/services/T0LOOP/B0LOOP/loopbackSlackToken"
    assert "3.00 % from liquidation" in json.dumps(slack.json)
    pushover = by_host["api.pushover.net"]
    assert pushover.path == "/1/messages.json"
    form = dict(urllib.parse.parse_qsl(pushover.body.decode())) if not pushover.body.startswith(b"{") \
        else pushover.json
    assert form["user"] == "loopbackUserKey1" and form["token"] == "loopbackAppToken1"
    assert str(form["priority"]) == "1"  # critical: Pushover's "high"
    (row,) = [r for r in history.alerts() if r.alert.level is AlertLevel.CRITICAL]
    assert {d.channel: d.delivered for d in row.deliveries} == {
        "telegram": True, "discord": True, "slack": True, "pushover": True}


def test_e_mail_through_apprise_to_a_loopback_smtp_server(history: History) -> None:
    smtp = SmtpServer()
    add_channel("mail", smtp.url("trader@example.org"))
    clock = FakeClock()
    service, _ = start(history, clock)
    try:
        go_critical(service, clock)
        assert service.wait_idle(30)
    finally:
        service.stop()
        smtp.stop()
    ((authenticated, recipients, raw),) = smtp.messages
    message = email.message_from_bytes(raw)
    assert authenticated and recipients == ["trader@example.org"]
    assert message["Subject"] == "BTC/USDT:USDT long: 3.00 % from liquidation"
    assert message["To"] == "trader@example.org"
    (row,) = [r for r in history.alerts() if r.alert.level is AlertLevel.CRITICAL]
    assert [(d.channel, d.delivered) for d in row.deliveries] == [("mail", True)]


def test_channels_added_while_running_take_effect_on_reload(push_server: PushServer,
                                                            history: History) -> None:
    add_channel("first", push_server.json_url("first"))
    clock = FakeClock()
    service, _ = start(history, clock)
    try:
        add_channel("second", push_server.json_url("second"))  # e.g. from the settings dialog
        service.reload_channels(Settings.load())
        assert [c.channel for c in service.channels] == ["first", "second"]
        for channel in service.channels:
            channel.notifier.pace(0)
        go_critical(service, clock)
        assert service.wait_idle(20)
    finally:
        service.stop()
    assert sorted(r.path for r in push_server.requests) == ["/first", "/second"]


@pytest.mark.parametrize(("url", "tokens"), [
    ("tgram://123456789:AAEsecretBotToken/987654321", ["123456789:AAEsecretBotToken"]),
    ("pover://userKeySecret1@appTokenSecret1", ["userKeySecret1", "appTokenSecret1"]),
    ("slack://T0SECRET/B0SECRET/slackTokenSecret", ["T0SECRET", "B0SECRET", "slackTokenSecret"]),
    ("discord://111222333/webhookTokenSecret", ["webhookTokenSecret"]),
    ("gotifys://push.example.org/gotifyAppToken", ["gotifyAppToken"]),
    ("matrixs://desk:matrixPassword1@matrix.example.org/#room", ["matrixPassword1"]),
])
def test_every_token_in_a_channel_url_is_masked_wherever_it_is_quoted(url: str, tokens: list[str]) -> None:
    """Apprise may quote pieces of a URL (a bot token in the API path) in its debug log."""
    from desk.sanitize import redact

    secrets.register_channel_url(url)
    for token in tokens:
        assert token not in redact(f"POST https://api.example/bot{token}/sendMessage failed"), token
    assert "push.example.org" in redact("push.example.org") and "matrix.example.org" in redact(
        "matrix.example.org")  # host names stay readable
