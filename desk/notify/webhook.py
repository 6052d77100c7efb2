"""An optional webhook for alerts away from the desk: a generic JSON POST, or an ntfy topic.

To an ntfy URL (host ``ntfy.sh`` or ``ntfy.*``, or any URL written ``ntfy+https://…``) the
body is sent as plain text with ``Title``, ``Priority`` and ``Tags`` headers, as ntfy expects;
anything else receives a JSON document. The URL may hold a token, so it never appears in the
alert log or an error message.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import urllib.error
import urllib.parse
import urllib.request
from datetime import UTC, datetime
from typing import Any

from desk import __version__
from desk.domain.alerts import Alert, AlertLevel
from desk.domain.finite import json_ready
from desk.notify.base import NotifyError

NTFY_PRIORITY = {AlertLevel.INFO: "3", AlertLevel.WARNING: "4", AlertLevel.CRITICAL: "5"}
NTFY_TAGS = {AlertLevel.INFO: "information_source", AlertLevel.WARNING: "warning",
             AlertLevel.CRITICAL: "rotating_light"}


def _is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _header_text(text: str) -> str:
    """HTTP headers are latin-1; ntfy accepts RFC 2047 encoded words for anything else."""
    if text.isascii():
        return text
    return "=?UTF-8?B?" + base64.b64encode(text.encode()).decode("ascii") + "?="


def alert_document(alert: Alert) -> dict[str, Any]:
    """The generic JSON body: the alert's fields plus an ISO time and the sender (sent through
    :func:`desk.domain.finite.json_ready`: a margin ratio of ∞ becomes null, the title says why)."""
    document: dict[str, Any] = json_ready({
        "source": "desk",
        "version": __version__,
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
    })
    return document


class WebhookNotifier:
    channel = "webhook"

    def __init__(self, url: str, *, timeout: float = 5.0):
        url = url.strip()
        self.ntfy = url.startswith("ntfy+")
        self.url = url.removeprefix("ntfy+")
        parts = urllib.parse.urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("alerts.webhook_url must be an http:// or https:// URL with a host name")
        host = parts.hostname.lower()
        self.ntfy = self.ntfy or host == "ntfy.sh" or host.startswith("ntfy.")
        self.timeout = timeout
        # A loopback receiver never goes through a proxy from the environment.
        handlers = [urllib.request.ProxyHandler({})] if _is_loopback(host) else []
        self._opener = urllib.request.build_opener(*handlers)

    def available(self) -> bool:
        return True

    def request(self, alert: Alert) -> urllib.request.Request:
        headers = {"User-Agent": f"desk/{__version__}"}
        if self.ntfy:
            data = alert.body.encode()
            headers.update({
                "Content-Type": "text/plain; charset=utf-8",
                "Title": _header_text(alert.title),
                "Priority": NTFY_PRIORITY[alert.level],
                "Tags": f"{NTFY_TAGS[alert.level]},desk,{alert.rule}",
            })
        else:
            data = json.dumps(alert_document(alert), allow_nan=False).encode()
            headers["Content-Type"] = "application/json"
        return urllib.request.Request(self.url, data=data, headers=headers, method="POST")

    def send(self, alert: Alert) -> str:
        try:
            with self._opener.open(self.request(alert), timeout=self.timeout) as response:
                status = int(response.status)
        except urllib.error.HTTPError as exc:
            raise NotifyError(f"webhook answered HTTP {exc.code} {exc.reason}") from None
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, TimeoutError):
                raise NotifyError(f"webhook did not answer within {self.timeout:g} s") from None
            raise NotifyError(f"webhook unreachable: {exc.reason}") from None
        except TimeoutError:
            raise NotifyError(f"webhook did not answer within {self.timeout:g} s") from None
        except OSError as exc:
            raise NotifyError(f"webhook failed: {type(exc).__name__}: {exc.strerror or exc}") from None
        if not 200 <= status < 300:
            raise NotifyError(f"webhook answered HTTP {status}")
        return f"HTTP {status}" + (" (ntfy)" if self.ntfy else "")
