"""Risk levels for display: which colour, glyph and word a row, an account or the tray shows.

The engine computes the figures (margin ratio, distance to liquidation); this module only
compares them with the user's alert thresholds to pick a presentation level, and folds in
the data status (stale data is never shown as healthy).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import IntEnum

from desk.domain.report import AccountRisk, PositionRisk
from desk.services.snapshot import DataStatus


class Level(IntEnum):
    """Ordered so that ``max()`` is the worst; STALE ranks between warning and critical."""

    OK = 0
    WARNING = 1
    STALE = 2
    CRITICAL = 3

    @property
    def word(self) -> str:
        return _WORDS[self]

    @property
    def glyph(self) -> str:
        return _GLYPHS[self]

    @property
    def label(self) -> str:
        return f"{self.glyph} {self.word}"


_WORDS = {Level.OK: "OK", Level.WARNING: "WARN", Level.STALE: "STALE", Level.CRITICAL: "CRIT"}
_GLYPHS = {Level.OK: "✓", Level.WARNING: "▲", Level.STALE: "◌", Level.CRITICAL: "✖"}


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Alert thresholds (fractions). Defaults match the alert engine's documented defaults."""

    distance_warning: float = 0.15
    distance_critical: float = 0.05
    margin_ratio_warning: float = 0.5
    margin_ratio_critical: float = 0.8

    @classmethod
    def from_settings(cls, settings: object | None) -> Thresholds:
        """Read the thresholds from the settings object when it declares them; else defaults."""
        if settings is None:
            return cls()
        values = {}
        for field_name, keys in _SETTING_KEYS.items():
            for key in keys:
                value = _get_setting(settings, key)
                if isinstance(value, int | float) and value > 0:
                    values[field_name] = float(value)
                    break
        return cls(**values)


_SETTING_KEYS = {
    "distance_warning": ("alerts.distance_warning", "alerts.distance_warn"),
    "distance_critical": ("alerts.distance_critical",),
    "margin_ratio_warning": ("alerts.margin_ratio_warning", "alerts.margin_ratio_warn"),
    "margin_ratio_critical": ("alerts.margin_ratio_critical",),
}


def _get_setting(settings: object, key: str) -> object:
    getter = getattr(settings, "get", None)
    if getter is None:
        return None
    try:
        return getter(key)
    except Exception:  # an undeclared key: fall back to the default threshold
        return None


def figure_level(
    distance: float | None, margin_ratio: float | None, thresholds: Thresholds
) -> Level:
    level = Level.OK
    if distance is not None:
        if distance <= thresholds.distance_critical:
            return Level.CRITICAL
        if distance <= thresholds.distance_warning:
            level = Level.WARNING
    if margin_ratio is not None:
        if margin_ratio >= thresholds.margin_ratio_critical:
            return Level.CRITICAL
        if margin_ratio >= thresholds.margin_ratio_warning:
            level = Level.WARNING
    return level


def position_level(risk: PositionRisk, status: DataStatus | None, thresholds: Thresholds) -> Level:
    if status in (DataStatus.STALE, DataStatus.ERROR):
        return Level.STALE
    return figure_level(risk.distance_to_liquidation, risk.margin_ratio, thresholds)


def account_level(risk: AccountRisk | None, status: DataStatus | None, thresholds: Thresholds) -> Level:
    if status in (DataStatus.STALE, DataStatus.ERROR):
        return Level.STALE
    if risk is None:
        return Level.OK
    levels = [figure_level(None, pool.margin_ratio, thresholds) for pool in risk.pools]
    levels += [position_level(p, None, thresholds) for p in risk.positions]
    return worst(levels)


def worst(levels: Iterable[Level]) -> Level:
    return max(levels, default=Level.OK)
