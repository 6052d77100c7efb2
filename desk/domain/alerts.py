"""Alert records: what the alert engine raises and what the alert log stores.

Pure data so the store (which may not import services) can persist it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class AlertLevel(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


@dataclass(frozen=True, slots=True)
class Alert:
    at: float  # epoch seconds (the alert engine's clock)
    # e.g. "distance", "margin_ratio", "pool_margin_ratio", "stale", "disagree", "gone", "digest",
    # "recovered" (a condition cleared; ``clears`` names its rule)
    rule: str
    level: AlertLevel
    title: str
    body: str
    account: str | None = None
    symbol: str | None = None
    leg: str | None = None
    value: float | None = None
    threshold: float | None = None
    clears: str | None = None  # "recovered" alerts: the rule whose condition cleared
    repeat: int = 0  # 0: the first alert about its condition; n: the n-th reminder (not acknowledged)

    @property
    def condition(self) -> tuple[str, str | None, str | None, str | None]:
        """The condition an alert is about — rule and subject — shared by its escalations and its
        recovery, so a notifier can replace or close what it showed for it."""
        return (self.clears or self.rule, self.account, self.symbol, self.leg)

    @property
    def subject(self) -> str:
        """What the alert is about, for cooldown keys and display: account/symbol/leg."""
        return "/".join(x for x in (self.account, self.symbol, self.leg) if x)


@dataclass(frozen=True, slots=True)
class DeliveryAttempt:
    at: float
    channel: str  # "dbus", "tray", "sound", "console", or a remote channel's name ("phone")
    delivered: bool
    detail: str = ""  # server id, HTTP status, or the error (never a secret)


@dataclass(frozen=True, slots=True)
class Acknowledgement:
    """The trader saw a critical condition: its reminders stop (until it recovers and comes back).

    ``rule`` None acknowledges every condition that is critical at the time.
    """

    at: float
    source: str  # "notification", "tray", "alert log", "cli"
    rule: str | None = None
    account: str | None = None
    symbol: str | None = None
    leg: str | None = None
    alert_id: int | None = None

    @property
    def condition(self) -> tuple[str, str | None, str | None, str | None] | None:
        return None if self.rule is None else (self.rule, self.account, self.symbol, self.leg)
