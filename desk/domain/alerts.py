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
    channel: str  # "dbus", "tray", "sound", "webhook", "console"
    delivered: bool
    detail: str = ""  # server id, HTTP status, or the error (never a secret)
