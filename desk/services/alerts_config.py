"""Alert settings as a plain dataclass, so the rule engine can be tested without the store.

``AlertConfig.from_settings(settings)`` reads the ``alerts.*`` keys and the per-scope overrides
(an account name, or ``"ACCOUNT/SYMBOL"`` for one position) from :mod:`desk.store.settings`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import datetime, tzinfo
from types import MappingProxyType
from typing import Any

from desk.domain.compare import DEFAULT_RELATIVE, DEFAULT_TICKS

# The keys a scope may override, e.g. ``{"distance_warning": 0.15}`` for one account.
OVERRIDABLE = (
    "distance_warning",
    "distance_critical",
    "margin_ratio_warning",
    "margin_ratio_critical",
    "stale_seconds",
    "disagree_ticks",
)


@dataclass(frozen=True, slots=True)
class Thresholds:
    """The thresholds in force for one account or position.

    ``distance_*`` are fractions of the mark (0.10 = 10 %; lower is worse); ``margin_ratio_*``
    are on desk's scale (maintenance ÷ margin balance, 1.0 = liquidation; higher is worse).
    """

    distance_warning: float = 0.10
    distance_critical: float = 0.05
    margin_ratio_warning: float = 0.5
    margin_ratio_critical: float = 0.8
    stale_seconds: float = 30.0
    disagree_ticks: float = DEFAULT_TICKS
    # Used instead of ticks when the venue gave no tick size: |ours − theirs| ÷ theirs.
    disagree_relative: float = DEFAULT_RELATIVE

    def validate(self, where: str = "alerts") -> Thresholds:
        for f in fields(self):
            value = getattr(self, f.name)
            floor_ok = value >= 0 if f.name == "disagree_ticks" else value > 0  # 0 ticks: must match exactly
            if not (isinstance(value, int | float) and math.isfinite(value) and floor_ok):
                raise ValueError(f"{where}.{f.name} must be a positive number, got {value!r}")
        if not self.distance_critical < self.distance_warning:
            raise ValueError(
                f"{where}.distance_critical ({self.distance_critical}) must be below "
                f"{where}.distance_warning ({self.distance_warning}): a smaller distance is worse"
            )
        if not self.margin_ratio_warning < self.margin_ratio_critical:
            raise ValueError(
                f"{where}.margin_ratio_warning ({self.margin_ratio_warning}) must be below "
                f"{where}.margin_ratio_critical ({self.margin_ratio_critical}): a higher ratio is worse"
            )
        return self


_HHMM = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


@dataclass(frozen=True, slots=True)
class QuietHours:
    """A daily window of local time (may wrap midnight) in which only critical alerts sound."""

    start_minute: int
    end_minute: int

    @classmethod
    def parse(cls, text: str) -> QuietHours | None:
        """``"23:00-07:00"`` → QuietHours; ``""`` → None (no quiet hours)."""
        if not text or not text.strip():
            return None
        m = _HHMM.match(text)
        if not m:
            raise ValueError(f"alerts.quiet_hours: expected HH:MM-HH:MM such as 23:00-07:00, got {text!r}")
        h1, m1, h2, m2 = (int(g) for g in m.groups())
        if h1 > 23 or h2 > 23 or m1 > 59 or m2 > 59:
            raise ValueError(f"alerts.quiet_hours: {text!r} is not a valid time of day (00:00 to 23:59)")
        start, end = h1 * 60 + m1, h2 * 60 + m2
        if start == end:
            raise ValueError(f"alerts.quiet_hours: {text!r} starts and ends at the same time")
        return cls(start, end)

    def contains(self, now: float, tz: tzinfo | None = None) -> bool:
        local = datetime.fromtimestamp(now, tz) if tz else datetime.fromtimestamp(now).astimezone()
        minute = local.hour * 60 + local.minute
        if self.start_minute < self.end_minute:
            return self.start_minute <= minute < self.end_minute
        return minute >= self.start_minute or minute < self.end_minute

    def __str__(self) -> str:
        s, e = self.start_minute, self.end_minute
        return f"{s // 60:02d}:{s % 60:02d}-{e // 60:02d}:{e % 60:02d}"


class _ScopedOverrides(Mapping[str, Mapping[str, Any]]):
    """Reads ``settings.overrides(scope)`` on demand (scopes are open-ended: any account/position)."""

    def __init__(self, lookup: Callable[[str], Mapping[str, Any] | None]):
        self._lookup = lookup

    def __getitem__(self, scope: str) -> Mapping[str, Any]:
        found = self._lookup(scope)
        if not found:
            raise KeyError(scope)
        return found

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


def _short(key: str) -> str:
    return key.removeprefix("alerts.")


@dataclass(frozen=True, slots=True)
class AlertConfig:
    enabled: bool = True
    thresholds: Thresholds = field(default_factory=Thresholds)
    # Hysteresis: a level re-arms only after the value recovers past its threshold by this
    # fraction of the threshold (0.1: a 10 % distance warning re-arms above 11 %).
    rearm_margin: float = 0.1
    cooldown_seconds: float = 30 * 60.0
    # More alerts than this from one evaluation become one digest.
    digest_threshold: int = 3
    quiet_hours: QuietHours | None = None
    critical_overrides_quiet: bool = True
    sound: bool = False
    desktop: bool = True
    # Reminders of a critical condition nobody acknowledged: seconds after the first alert, the
    # last one being the interval thereafter (alerts.repeat_critical_minutes). Empty: no reminders.
    repeat_schedule: tuple[float, ...] = (120.0, 300.0, 600.0, 900.0)
    # scope ("ACCOUNT" or "ACCOUNT/SYMBOL") -> {threshold name: value}
    overrides: Mapping[str, Mapping[str, Any]] = field(default_factory=lambda: MappingProxyType({}))
    tz: tzinfo | None = None  # for quiet hours; None = the machine's local time
    # warn when a position above this notional has no stop firing before liquidation; 0 = off
    unprotected_notional: float = 0.0

    def __post_init__(self) -> None:
        self.thresholds.validate()
        if not (math.isfinite(self.rearm_margin) and 0 <= self.rearm_margin < 1):
            raise ValueError(f"alerts.rearm_margin must be a fraction in [0, 1), got {self.rearm_margin!r}")
        if not (math.isfinite(self.cooldown_seconds) and self.cooldown_seconds >= 0):
            minutes = self.cooldown_seconds / 60
            raise ValueError(f"alerts.cooldown_minutes must be zero or more, got {minutes!r}")
        if self.digest_threshold < 1:
            raise ValueError(f"alerts.digest_threshold must be 1 or more, got {self.digest_threshold!r}")

    def next_repeat(self, first_at: float, sent: int, last_at: float) -> float | None:
        """When reminder number ``sent + 1`` of a critical alert first sent at ``first_at`` is due
        (the last reminder went at ``last_at``); None when reminders are off."""
        schedule = self.repeat_schedule
        if not schedule:
            return None
        if len(schedule) == 1 or sent < len(schedule) - 1:
            return first_at + schedule[sent] if len(schedule) > 1 else last_at + schedule[0]
        return last_at + schedule[-1]

    def thresholds_for(self, account: str, symbol: str | None = None) -> Thresholds:
        """Global defaults, then the account's overrides, then the position's ("ACCOUNT/SYMBOL")."""
        result = self.thresholds
        scopes = [account] + ([f"{account}/{symbol}"] if symbol else [])
        for scope in scopes:
            values = self.overrides.get(scope)
            if not values:
                continue
            changes = {_short(k): float(v) for k, v in values.items() if _short(k) in OVERRIDABLE}
            if changes:
                result = replace(result, **changes).validate(where=f"overrides[{scope}]")
        return result

    @classmethod
    def from_settings(cls, settings: Any) -> AlertConfig:
        """Build from a ``desk.store.settings.Settings`` (anything with ``get(key)`` and,
        optionally, ``overrides(scope)``)."""

        def get(key: str, default: Any) -> Any:
            try:
                value = settings.get(key)
            except KeyError:
                return default
            return default if value is None else value

        base = Thresholds()
        thresholds = Thresholds(
            **{name: float(get(f"alerts.{name}", getattr(base, name))) for name in OVERRIDABLE},
        )
        overrides_fn = getattr(settings, "overrides", None)
        overrides: Mapping[str, Mapping[str, Any]] = (
            _ScopedOverrides(overrides_fn) if callable(overrides_fn) else MappingProxyType({})
        )
        from desk.store.settings import parse_repeat_schedule

        repeat = parse_repeat_schedule(str(get("alerts.repeat_critical_minutes", "2,5,10,15") or ""))
        return cls(
            enabled=bool(get("alerts.enabled", True)),
            thresholds=thresholds,
            rearm_margin=float(get("alerts.rearm_margin", 0.1)),
            cooldown_seconds=float(get("alerts.cooldown_minutes", 30)) * 60.0,
            digest_threshold=int(get("alerts.digest_threshold", 3)),
            quiet_hours=QuietHours.parse(str(get("alerts.quiet_hours", "") or "")),
            sound=bool(get("alerts.sound", False)),
            repeat_schedule=tuple(m * 60.0 for m in repeat),
            desktop=bool(get("alerts.desktop", True)),
            overrides=overrides,
            unprotected_notional=float(get("alerts.unprotected_notional", 0.0)),
        )
