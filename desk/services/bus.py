"""A small thread-safe event bus: the monitor publishes, the UI bridge, alerts and history subscribe.

Callbacks run on the publisher's thread (the monitor's asyncio worker thread). The UI never
touches widgets from a callback: its bridge re-emits events as Qt signals onto the GUI thread.
A failing subscriber is logged and never breaks the others or the publisher.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)

Subscriber = Callable[[object], None]


class EventBus:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subscribers: list[tuple[type | None, Subscriber]] = []

    def subscribe(self, callback: Subscriber, event_type: type | None = None) -> Callable[[], None]:
        """Call ``callback(event)`` for every event (or only those of ``event_type``).

        Returns a function that unsubscribes.
        """
        entry = (event_type, callback)
        with self._lock:
            self._subscribers.append(entry)

        def unsubscribe() -> None:
            with self._lock:
                if entry in self._subscribers:
                    self._subscribers.remove(entry)

        return unsubscribe

    def publish(self, event: object) -> None:
        with self._lock:
            subscribers = list(self._subscribers)
        for event_type, callback in subscribers:
            if event_type is not None and not isinstance(event, event_type):
                continue
            try:
                callback(event)
            except Exception:
                log.exception("event subscriber %r failed on %s", callback, type(event).__name__)
