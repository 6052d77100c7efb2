"""Colours and themes: the Okabe–Ito colour-blind-safe palette, dark and light following the OS.

Risk is never shown by colour alone: every coloured cell also carries a glyph and a word
(see :mod:`desk.ui.levels`).

Two uses of a risk colour: a *fill* (badges, bars, tints; black text on top) is the Okabe–Ito
hue itself on both themes; *text* in a risk colour uses a shade of the same hue with at least
4.5:1 contrast (WCAG AA) against the theme's table backgrounds — the pure orange is 2:1 on white.
``apply_theme`` records the current theme and announces the change (``theme_events().changed``)
so views re-colour themselves.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication

from desk.ui.levels import Level

# Okabe & Ito (2008), "Color Universal Design".
OKABE_ITO = {
    "orange": "#E69F00",
    "sky_blue": "#56B4E9",
    "bluish_green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "reddish_purple": "#CC79A7",
    "black": "#000000",
}

LEVEL_HEX = {
    Level.OK: OKABE_ITO["bluish_green"],
    Level.WARNING: OKABE_ITO["orange"],
    Level.CRITICAL: OKABE_ITO["vermillion"],
    Level.STALE: "#8C8C8C",
}

# Text in a risk colour: the same hues, shaded for ≥ 4.5:1 on each theme's base and alternate rows.
LEVEL_TEXT_HEX = {
    "dark": {Level.OK: "#009E73", Level.WARNING: "#E69F00", Level.CRITICAL: "#F07B3F",
             Level.STALE: "#8C8C8C"},
    "light": {Level.OK: "#007A59", Level.WARNING: "#8F5F00", Level.CRITICAL: "#B34700",
              Level.STALE: "#6E6E6E"},
}


@dataclass(frozen=True)
class Theme:
    name: str  # "dark" | "light"
    window: str
    base: str
    alternate: str
    text: str
    muted: str
    accent: str
    grid: str

    @property
    def dark(self) -> bool:
        return self.name == "dark"

    def level_color(self, level: Level) -> QColor:
        return QColor(LEVEL_HEX[level])

    def level_text_hex(self, level: Level) -> str:
        return LEVEL_TEXT_HEX[self.name][level]


DARK = Theme("dark", window="#1E2126", base="#16181C", alternate="#1C1F24", text="#E6E6E6",
             muted="#8C9099", accent=OKABE_ITO["sky_blue"], grid="#2C3038")
LIGHT = Theme("light", window="#F3F4F6", base="#FFFFFF", alternate="#F7F8FA", text="#16181C",
              muted="#6B7079", accent=OKABE_ITO["blue"], grid="#D9DCE1")


class ThemeEvents(QObject):
    changed = Signal(object)  # Theme


_events: ThemeEvents | None = None
_current: Theme = LIGHT


def theme_events() -> ThemeEvents:
    global _events
    if _events is None:
        _events = ThemeEvents()
    return _events


def current_theme() -> Theme:
    return _current


def level_text_hex(level: Level) -> str:
    """The current theme's readable text colour for a risk level."""
    return LEVEL_TEXT_HEX[_current.name][level]


def system_prefers_dark(scheme: Qt.ColorScheme | None = None) -> bool:
    if scheme is None:
        if QGuiApplication.instance() is None:
            return False
        scheme = QGuiApplication.styleHints().colorScheme()
    return bool(scheme == Qt.ColorScheme.Dark)


def choose_theme(setting: str | None, scheme: Qt.ColorScheme | None = None) -> Theme:
    """``ui.theme``: "dark", "light", or "auto" (or anything else) to follow the OS's colour
    scheme (``scheme`` when the caller has it from ``colorSchemeChanged``); light when the OS
    does not say."""
    if setting == "dark":
        return DARK
    if setting == "light":
        return LIGHT
    return DARK if system_prefers_dark(scheme) else LIGHT


def apply_theme(app: QApplication, theme: Theme) -> None:
    global _current
    changed = theme is not _current
    _current = theme
    app.setStyle("Fusion")
    palette = QPalette()
    roles = {
        QPalette.ColorRole.Window: theme.window,
        QPalette.ColorRole.WindowText: theme.text,
        QPalette.ColorRole.Base: theme.base,
        QPalette.ColorRole.AlternateBase: theme.alternate,
        QPalette.ColorRole.Text: theme.text,
        QPalette.ColorRole.Button: theme.window,
        QPalette.ColorRole.ButtonText: theme.text,
        QPalette.ColorRole.ToolTipBase: theme.base,
        QPalette.ColorRole.ToolTipText: theme.text,
        QPalette.ColorRole.PlaceholderText: theme.muted,
        QPalette.ColorRole.Highlight: theme.accent,
        QPalette.ColorRole.HighlightedText: "#FFFFFF" if not theme.dark else "#000000",
        QPalette.ColorRole.Link: theme.accent,
        QPalette.ColorRole.Mid: theme.grid,
    }
    for role, hex_color in roles.items():
        palette.setColor(role, QColor(hex_color))
    palette.setColor(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Text, QColor(theme.muted))
    palette.setColor(QPalette.ColorGroup.Disabled, QPalette.ColorRole.WindowText, QColor(theme.muted))
    app.setPalette(palette)
    app.setStyleSheet(_stylesheet(theme))
    if changed:
        theme_events().changed.emit(theme)


def _stylesheet(theme: Theme) -> str:
    return f"""
QTableView {{ gridline-color: {theme.grid}; selection-background-color: {theme.accent}; }}
QHeaderView::section {{ background: {theme.window}; color: {theme.muted}; padding: 4px 6px;
    border: none; border-bottom: 1px solid {theme.grid}; font-weight: 600; }}
QFrame#statusStrip {{ background: {theme.base}; border-bottom: 1px solid {theme.grid}; }}
QLabel#badge {{ border-radius: 4px; padding: 3px 8px; font-weight: 700; }}
QLabel#muted {{ color: {theme.muted}; }}
QFrame#accountCard {{ background: {theme.base}; border: 1px solid {theme.grid}; border-radius: 6px; }}
QProgressBar {{ border: 1px solid {theme.grid}; border-radius: 3px; background: {theme.alternate};
    text-align: center; height: 14px; }}
QTabWidget::pane {{ border: 1px solid {theme.grid}; }}
"""
