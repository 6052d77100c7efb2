"""Alerts to a phone or a chat through Apprise: Telegram, Discord, Slack, Pushover, Matrix, Gotify,
e-mail, ntfy, JSON webhooks and the rest of what Apprise speaks, one URL per channel.

Apprise is a maintained library that knows each service's API (and follows its changes), so desk
writes no sender of its own. A channel's URL carries its token: it comes from the OS keyring, is
registered with the redactor before anything can print it, and never appears in an error, the
alert log or a log line — the failure reason is Apprise's own message for the call, redacted.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from desk.domain.alerts import Alert, AlertLevel
from desk.domain.finite import json_ready
from desk.notify.base import NotifyError
from desk.sanitize import for_user

# Apprise's message types: critical is a failure (red), warning a warning, the rest info; a
# recovery is a success (green) everywhere.
_TYPES = {AlertLevel.INFO: "info", AlertLevel.WARNING: "warning", AlertLevel.CRITICAL: "failure"}
DEFAULT_TIMEOUT = 15.0  # seconds for one message, connection and answer included


def alert_document(alert: Alert) -> dict[str, Any]:
    """An alert as plain JSON (``desk watch --json-lines``): its fields plus an ISO time (through
    :func:`desk.domain.finite.json_ready`: a margin ratio of ∞ becomes null, the title says why)."""
    document: dict[str, Any] = json_ready({
        "at": datetime.fromtimestamp(alert.at, UTC).isoformat().replace("+00:00", "Z"),
        "at_epoch": alert.at,
        "level": alert.level.value,
        "rule": alert.rule,
        "title": alert.title,
        "body": alert.body,
        "account": alert.account,
        "symbol": alert.symbol,
        "leg": alert.leg,
        "subject": alert.subject,
        "value": alert.value,
        "threshold": alert.threshold,
        "repeat": alert.repeat,
    })
    return document


def check_url(url: str) -> str:
    """The Apprise service a URL is for (e.g. "ntfy"), or ValueError saying why it is not usable.

    The message never quotes the URL: it may hold a token.
    """
    import apprise

    url = url.strip()
    if not url or "://" not in url:
        raise ValueError("expected an Apprise URL such as ntfys://ntfy.sh/TOPIC, tgram://BOT_TOKEN/CHAT_ID, "
                         "discord://WEBHOOK_ID/TOKEN or json://HOST/PATH (see the Apprise wiki)")
    service = apprise.Apprise.instantiate(url)
    if service is None:
        scheme = url.split("://", 1)[0]
        raise ValueError(f"Apprise does not understand this {for_user(scheme, limit=20)}:// URL — check its "
                         "form on the Apprise wiki (the URL itself is not shown: it may hold a token)")
    return str(getattr(service, "service_name", None) or url.split("://", 1)[0])


def _with_high_priority(url: str) -> str | None:
    """``url`` with ``priority=high`` added, when its service takes a priority and it has none."""
    import urllib.parse

    import apprise

    service = apprise.Apprise.instantiate(url)
    args = getattr(service, "template_args", {}) or {}
    if service is None or "priority" not in args:
        return None
    head, _, fragment = url.partition("#")
    base, _, query = head.partition("?")
    if "priority" in dict(urllib.parse.parse_qsl(query)):
        return None
    query = f"{query}&priority=high" if query else "priority=high"
    return f"{base}?{query}" + (f"#{fragment}" if fragment else "")


class DeferredAppriseNotifier:
    """An :class:`AppriseNotifier` built on the channel's own thread (:meth:`prepare`), so opening
    the channels — importing Apprise and its plugins — never delays the monitor's start."""

    def __init__(self, channel: str, url: str, *, timeout: float = DEFAULT_TIMEOUT):
        self.channel = channel
        self._url = url
        self._timeout = timeout
        self._pace: float | None = None
        self._ready: AppriseNotifier | None = None

    def prepare(self) -> AppriseNotifier:
        if self._ready is None:
            try:
                self._ready = AppriseNotifier(self.channel, self._url, timeout=self._timeout)
            except ValueError as exc:
                raise NotifyError(str(exc)) from None
            if self._pace is not None:
                self._ready.pace(self._pace)
        return self._ready

    def pace(self, seconds: float) -> None:
        self._pace = seconds
        if self._ready is not None:
            self._ready.pace(seconds)

    def available(self) -> bool:
        return True

    def send(self, alert: Alert) -> str:
        return self.prepare().send(alert)


class AppriseNotifier:
    """One named channel (``phone``, ``team-chat``…) with its Apprise URL."""

    def __init__(self, channel: str, url: str, *, timeout: float = DEFAULT_TIMEOUT):
        import apprise

        self.channel = channel
        self.service = check_url(url)
        self.timeout = timeout
        self._apprise = apprise.Apprise()
        if not self._apprise.add(url.strip()):
            raise ValueError(f"channel {channel}: Apprise refused its URL")
        # Critical alerts go out at high priority where the service has one (ntfy, Gotify,
        # Pushover…) and the URL does not set its own, so a phone rings through "do not disturb".
        self._urgent = self._apprise
        urgent_url = _with_high_priority(url.strip())
        if urgent_url is not None:
            self._urgent = apprise.Apprise()
            self._urgent.add(urgent_url)

    def available(self) -> bool:
        return True

    def pace(self, seconds: float) -> None:
        """Set the least time between two messages to the service. Apprise's own default (5.5 s
        for most services) spares public servers and stays in production; tests of loopback
        servers lower it so a run of reminders does not take minutes."""
        for apprise_object in {id(o): o for o in (self._apprise, self._urgent)}.values():
            for server in apprise_object:
                server.request_rate_per_sec = seconds

    def send(self, alert: Alert) -> str:
        kind = "success" if alert.rule == "recovered" else _TYPES[alert.level]
        title = for_user(alert.title, limit=250)
        body = for_user(alert.body, limit=3000, multiline=True)
        urgent = alert.level is AlertLevel.CRITICAL and alert.rule != "recovered"
        target = self._urgent if urgent else self._apprise
        try:
            result = target.notify(body=body, title=title, notify_type=kind, timeout=self.timeout)
        except Exception as exc:  # a bug in a plugin must not take the channel's thread down
            raise NotifyError(f"{self.service}: {type(exc).__name__}: {for_user(exc, limit=200)}") from None
        if bool(result):
            return f"sent via {self.service}"
        raise NotifyError(f"{self.service}: {self._reason(result)}")

    def _reason(self, result: Any) -> str:
        status = getattr(getattr(result, "status", None), "name", "FAILURE")
        if status == "TIMEOUT":
            return f"no answer within {self.timeout:g} s"
        messages = []
        try:
            for entry in result.logs():
                if str(getattr(entry, "level", "")).upper() in ("WARNING", "ERROR", "CRITICAL"):
                    messages.append(str(entry.message))
        except Exception:  # older result shapes: no per-call log
            messages = []
        text = "; ".join(dict.fromkeys(messages)) or "the service refused the message"
        return for_user(text, limit=300)
