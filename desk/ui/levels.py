"""Risk levels for display: which colour, glyph and word a row, an account or the tray shows.

The engine computes the figures (margin ratio, distance to liquidation); the alert engine's
thresholds and its ``level_for`` rule decide warning and critical, so a red row and an alert
always agree. This module maps those levels to presentation and folds in the data status
(stale data is never shown as healthy).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from enum import IntEnum

from desk.domain.alerts import AlertLevel
from desk.domain.report import AccountRisk, PositionRisk
from desk.services.alerts_config import AlertConfig, Thresholds
from desk.services.alerts_engine import level_for
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


ThresholdsFor = Callable[[str, str | None], Thresholds]


def global_thresholds(thresholds: Thresholds | None = None) -> ThresholdsFor:
    """The same thresholds for every account and position."""
    fixed = thresholds or Thresholds()
    return lambda account, symbol: fixed


def thresholds_from_settings(settings: object | None) -> ThresholdsFor:
    """Per account/position thresholds exactly as the alert engine reads them (with overrides)."""
    if settings is None:
        return global_thresholds()
    try:
        config = AlertConfig.from_settings(settings)
    except (ValueError, KeyError):  # an invalid file is reported by the settings dialog
        return global_thresholds()
    return config.thresholds_for


def figure_level(
    distance: float | None, margin_ratio: float | None, thresholds: Thresholds
) -> Level:
    """The level the alert engine's rules give these figures (without hysteresis: what they are now)."""
    levels = []
    if distance is not None:
        levels.append(level_for(distance, None, thresholds.distance_warning, thresholds.distance_critical,
                                higher_is_worse=False, rearm=0.0))
    if margin_ratio is not None:
        levels.append(level_for(margin_ratio, None, thresholds.margin_ratio_warning,
                                thresholds.margin_ratio_critical, higher_is_worse=True, rearm=0.0))
    return worst(_FROM_ALERT[lv] for lv in levels)


_FROM_ALERT = {None: Level.OK, AlertLevel.INFO: Level.OK, AlertLevel.WARNING: Level.WARNING,
               AlertLevel.CRITICAL: Level.CRITICAL}


def position_level(risk: PositionRisk, status: DataStatus | None, thresholds: Thresholds) -> Level:
    if status in (DataStatus.STALE, DataStatus.ERROR):
        return Level.STALE
    return figure_level(risk.signed_distance_to_liquidation, risk.margin_ratio, thresholds)


def account_level(
    risk: AccountRisk | None, status: DataStatus | None, thresholds_for: ThresholdsFor,
    positions_level: Level | None = None,
) -> Level:
    """The account's level: stale with its data, else the worst of its pools and positions.

    ``positions_level``: the worst figure level of the account's positions when the caller has
    already decided them (the positions table does, at every update), so they are not decided twice.
    """
    if status in (DataStatus.STALE, DataStatus.ERROR):
        return Level.STALE
    if risk is None:
        return Level.OK
    own = thresholds_for(risk.name, None)
    levels = [figure_level(None, pool.margin_ratio, own) for pool in risk.pools]
    if positions_level is not None:
        levels.append(positions_level)
    else:
        levels += [position_level(p, None, thresholds_for(p.account, p.symbol)) for p in risk.positions]
    return worst(levels)


def worst(levels: Iterable[Level]) -> Level:
    return max(levels, default=Level.OK)
