"""Desktop notifications through ``org.freedesktop.Notifications`` over D-Bus, with jeepney.

QtDBus cannot marshal the ``Notify`` signature (environment.md §4), so this talks D-Bus
directly. Critical alerts use urgency 2 and never expire (they stay until dismissed). Where the
server offers "actions", a notification carries "Open desk" (the default action) and "Snooze", and a
critical one "Acknowledge" (it stops the reminders of that condition);
``ActionInvoked`` signals are read on a small listener thread and handed to ``on_action``.

The screen never lies: one notification per condition (rule and subject). A later alert for the
same condition (warning → critical, or the same level again after its cooldown) replaces it
(``Notify``'s ``replaces_id``); when the condition clears (a "recovered" alert) its notification is
closed (``CloseNotification``) and a short-lived "recovered" notification says so.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from desk.domain.alerts import Alert, AlertLevel
from desk.notify.base import NotifyError
from desk.sanitize import for_user

log = logging.getLogger(__name__)

BUS_NAME = "org.freedesktop.Notifications"
OBJECT_PATH = "/org/freedesktop/Notifications"
INTERFACE = "org.freedesktop.Notifications"

URGENCY = {AlertLevel.INFO: 0, AlertLevel.WARNING: 1, AlertLevel.CRITICAL: 2}
_GONE_REPLACES = ("distance", "margin_ratio")  # the rules a vanished position's notifications came from
ACTION_OPEN = "default"  # the key servers invoke on a click; shown as "Open desk"
ACTION_SNOOZE = "snooze"
ACTION_ACK = "ack"  # critical alerts: stops the reminders (desk.services.alerts)

# on_action(action, alert): action is "open", "snooze" or "ack"
ActionHandler = Callable[[str, Alert], None]


def _escape_markup(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class FreedesktopNotifier:
    channel = "dbus"

    def __init__(
        self,
        *,
        app_name: str = "desk",
        app_icon: str = "",
        on_action: ActionHandler | None = None,
        warning_timeout_ms: int = -1,
        call_timeout: float = 5.0,
        retry_seconds: float = 60.0,
        bus: str = "SESSION",
        clock: Callable[[], float] = time.monotonic,
    ):
        self.app_name = app_name
        self.app_icon = app_icon
        self.on_action = on_action
        self.warning_timeout_ms = warning_timeout_ms
        self.call_timeout = call_timeout
        self.bus = bus
        self.retry_seconds = retry_seconds
        self.clock = clock  # measures retry_seconds; tests pass a clock they drive
        self._failed_at: float | None = None
        self._router: Any = None
        self._capabilities: frozenset[str] | None = None
        self._sent: OrderedDict[int, Alert] = OrderedDict()  # notification id -> alert, for actions
        # the notification on screen for each condition (Alert.condition), to replace or close it
        self._shown: dict[tuple[str, str | None, str | None, str | None], int] = {}
        self._lock = threading.Lock()
        self._listener: threading.Thread | None = None
        self._stop = threading.Event()

    # -- connection ------------------------------------------------------------------------

    def _address(self) -> Any:
        from jeepney import DBusAddress

        return DBusAddress(OBJECT_PATH, bus_name=BUS_NAME, interface=INTERFACE)

    def _call(self, method: str, signature: str | None = None, body: tuple[Any, ...] = ()) -> tuple[Any, ...]:
        from jeepney import new_method_call
        from jeepney.wrappers import DBusErrorResponse, unwrap_msg

        router = self._connect()
        msg = new_method_call(self._address(), method, signature, body)
        try:
            reply = router.send_and_get_reply(msg, timeout=self.call_timeout)
            return tuple(unwrap_msg(reply))
        except DBusErrorResponse as exc:
            raise NotifyError(f"{method} refused: {exc.name}: {' '.join(map(str, exc.data))}") from None
        except TimeoutError:
            wait = f"{self.call_timeout:g} s"
            raise NotifyError(f"{method}: no answer from the notification server in {wait}") from None
        except OSError as exc:
            self._disconnect()
            raise NotifyError(f"{method}: D-Bus connection lost ({exc})") from None

    def _connect(self) -> Any:
        with self._lock:
            if self._router is not None:
                return self._router
            try:
                from jeepney.io.threading import DBusRouter, open_dbus_connection
            except ImportError:
                raise NotifyError("jeepney is not installed (needed for desktop notifications)") from None
            try:
                router = DBusRouter(open_dbus_connection(bus=self.bus))
            except (OSError, KeyError, ValueError) as exc:
                # KeyError/ValueError: no DBUS_SESSION_BUS_ADDRESS, or one we cannot parse
                raise NotifyError(f"no D-Bus session bus ({type(exc).__name__}: {exc})") from None
            self._router = router
            self._capabilities = None
            if self.on_action is not None:
                self._start_listener(router)
            return router

    def _disconnect(self) -> None:
        with self._lock:
            router, self._router = self._router, None
            self._capabilities = None
        self._stop.set()
        if router is not None:
            try:
                router.close()
                router.conn.close()
            except Exception:
                log.debug("closing the D-Bus router", exc_info=True)
        if self._listener is not None and self._listener is not threading.current_thread():
            self._listener.join(2.0)
        self._listener = None
        self._stop = threading.Event()

    def close(self) -> None:
        self._disconnect()

    # -- Notifier ---------------------------------------------------------------------------

    def capabilities(self) -> frozenset[str]:
        if self._capabilities is None:
            (caps,) = self._call("GetCapabilities")
            self._capabilities = frozenset(caps)
        return self._capabilities

    def available(self) -> bool:
        """True when a notification server answers (or D-Bus can start one on demand).

        After a failure, the server is not asked again for ``retry_seconds`` (a headless box
        would otherwise try to start one for every alert).
        """
        if self._failed_at is not None and self.clock() - self._failed_at < self.retry_seconds:
            return False
        try:
            self.capabilities()
        except NotifyError as exc:
            log.info("desktop notifications unavailable: %s", exc)
            self._failed_at = self.clock()
            return False
        self._failed_at = None
        return True

    def send(self, alert: Alert) -> str:
        if alert.clears is not None:
            return self._recover(alert)
        if alert.account is None:  # a digest or a summary: about several conditions, replaces none
            return f"notification id {self._notify(alert, 0)}"
        closing: list[int] = []
        with self._lock:
            replaces = self._shown.get(alert.condition, 0)
            if alert.rule == "gone":  # "probably liquidated" takes the place of its risk notifications
                _, account, symbol, leg = alert.condition
                shown = [nid for rule in _GONE_REPLACES
                         if (nid := self._shown.pop((rule, account, symbol, leg), 0))]
                if shown:
                    replaces, closing = shown[0], shown[1:]
        for earlier in closing:
            self._call("CloseNotification", "u", (earlier,))
        nid = self._notify(alert, replaces)
        with self._lock:
            self._shown[alert.condition] = nid
        return f"notification id {nid}" + (f" (replaces {replaces})" if replaces else "")

    def _recover(self, alert: Alert) -> str:
        """Close the notification of the condition that cleared, then say it recovered (transient)."""
        with self._lock:
            shown = self._shown.pop(alert.condition, None)
        closed = ""
        if shown is not None:
            self._call("CloseNotification", "u", (shown,))
            closed = f"; closed {shown}"
        nid = self._notify(alert, 0)
        return f"notification id {nid}{closed}"

    def _notify(self, alert: Alert, replaces: int) -> int:
        caps = self.capabilities()
        body = for_user(alert.body, limit=None, multiline=True)  # secrets masked, controls escaped
        if "body-markup" in caps:
            body = _escape_markup(body)
        actions: list[str] = []
        critical = alert.level is AlertLevel.CRITICAL
        if "actions" in caps:
            actions = [ACTION_OPEN, "Open desk", ACTION_SNOOZE, "Snooze 1 h"]
            if critical and alert.account is not None:
                actions = [ACTION_OPEN, "Open desk", ACTION_ACK, "Acknowledge", ACTION_SNOOZE, "Snooze 1 h"]
        hints = {
            "urgency": ("y", URGENCY[alert.level]),
            "category": ("s", "x-desk.risk"),
            "desktop-entry": ("s", "desk"),
        }
        if critical:
            hints["resident"] = ("b", True)
        title = for_user(alert.title, limit=None)
        summary = f"desk: {title}" if self.app_name == "desk" else title
        expire = 0 if critical else self.warning_timeout_ms  # 0: stays until dismissed
        (notification_id,) = self._call(
            "Notify", "susssasa{sv}i",
            (self.app_name, replaces, self.app_icon, summary, body, actions, hints, expire),
        )
        nid = int(notification_id)
        with self._lock:
            self._sent[nid] = alert
            while len(self._sent) > 500:
                self._sent.popitem(last=False)
        return nid

    # -- actions ----------------------------------------------------------------------------

    def _start_listener(self, router: Any) -> None:
        from jeepney import MatchRule
        from jeepney.bus_messages import message_bus
        from jeepney.io.threading import Proxy

        rule = MatchRule(type="signal", interface=INTERFACE, path=OBJECT_PATH)
        signals: queue.Queue[Any] = queue.Queue(maxsize=1000)
        handle = router.filter(rule, queue=signals)
        Proxy(message_bus, router, timeout=self.call_timeout).AddMatch(rule)
        stop = self._stop

        def listen() -> None:
            with handle:
                while not stop.is_set():
                    try:
                        msg = signals.get(timeout=0.25)
                    except queue.Empty:
                        continue
                    self._dispatch(msg)

        self._listener = threading.Thread(target=listen, name="desk-notify-actions", daemon=True)
        self._listener.start()

    def _dispatch(self, msg: Any) -> None:
        from jeepney import HeaderFields

        member = msg.header.fields.get(HeaderFields.member)
        if member == "NotificationClosed":
            nid = int(msg.body[0])
            with self._lock:
                self._sent.pop(nid, None)
                for condition in [c for c, shown in self._shown.items() if shown == nid]:
                    del self._shown[condition]  # dismissed: the next alert gets a fresh one
            return
        if member != "ActionInvoked" or self.on_action is None:
            return
        nid, key = int(msg.body[0]), str(msg.body[1])
        with self._lock:
            alert = self._sent.get(nid)
        if alert is None:
            return
        action = {ACTION_OPEN: "open", ACTION_SNOOZE: "snooze", ACTION_ACK: "ack"}.get(key)
        if action is None:
            return
        try:
            self.on_action(action, alert)
        except Exception:
            log.exception("notification action %s failed", action)
