"""Light and dark themes: ui.theme switches them, auto follows the desktop live, and the risk
colours stay readable (WCAG contrast, computed here independently of desk's code)."""

from __future__ import annotations

import time

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication

from desk.ui.levels import Level
from desk.ui.theme import DARK, LEVEL_HEX, LEVEL_TEXT_HEX, LIGHT, apply_theme, choose_theme, current_theme


def luminance(hex_color: str) -> float:
    r, g, b = (int(hex_color.lstrip("#")[i:i + 2], 16) / 255 for i in (0, 2, 4))

    def lin(c: float) -> float:
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    return 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b)


def contrast(a: str, b: str) -> float:
    hi, lo = sorted((luminance(a), luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


@pytest.mark.parametrize("theme", [DARK, LIGHT], ids=lambda t: t.name)
def test_risk_text_is_readable_on_both_themes(theme) -> None:  # type: ignore[no-untyped-def]
    for level in Level:
        for background in (theme.base, theme.alternate, theme.window):
            ratio = contrast(LEVEL_TEXT_HEX[theme.name][level], background)
            assert ratio >= 4.5, f"{theme.name} {level.word} on {background}: {ratio:.2f}"
    assert contrast(theme.text, theme.base) >= 7
    assert contrast(theme.muted, theme.base) >= 4.5


def test_badges_and_bars_are_readable_with_black_text() -> None:
    for level, fill in LEVEL_HEX.items():
        assert contrast("#000000", fill) >= 4.5, level


def test_the_setting_switches_the_palette(qapp) -> None:  # type: ignore[no-untyped-def]
    try:
        apply_theme(qapp, choose_theme("dark"))
        assert current_theme() is DARK
        assert QApplication.palette().color(QPalette.ColorRole.Base).name().upper() == DARK.base.upper()
        apply_theme(qapp, choose_theme("light"))
        assert current_theme() is LIGHT
        assert QApplication.palette().color(QPalette.ColorRole.Window).name().upper() == LIGHT.window.upper()
    finally:
        apply_theme(qapp, LIGHT)


def test_auto_follows_the_desktop_live(qtbot, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from desk.store.settings import Settings
    from desk.ui import main_window as main_window_module
    from desk.ui.app import DeskController, GuiOptions
    from desk.ui.positions_model import Column
    from tests.support.ui import position, snapshot

    monkeypatch.setattr(main_window_module.MainWindow, "_attach_charts", lambda self: None)
    settings = Settings.load()
    settings.set("ui.theme", "auto")
    app = QApplication.instance()
    controller = DeskController(app, settings, GuiOptions(demo=True))  # type: ignore[arg-type]
    controller.window.allow_close = True
    qtbot.addWidget(controller.window)
    try:
        risky = position("BTC/USDT:USDT", mark=60_000.0, liquidation=57_600.0)  # 4 %: critical
        controller.window.apply_snapshot(snapshot([risky], at=time.time()))
        model = controller.window.model

        def risk_color() -> str:
            return model.index(0, Column.STATUS).data(Qt.ItemDataRole.ForegroundRole).name().upper()

        hints = QGuiApplication.styleHints()
        hints.colorSchemeChanged.emit(Qt.ColorScheme.Dark)  # what the platform sends on a switch
        assert current_theme() is DARK
        assert risk_color() == LEVEL_TEXT_HEX["dark"][Level.CRITICAL].upper()
        hints.colorSchemeChanged.emit(Qt.ColorScheme.Light)
        assert current_theme() is LIGHT
        assert risk_color() == LEVEL_TEXT_HEX["light"][Level.CRITICAL].upper()
        # an explicit choice is kept whatever the desktop does
        settings.set("ui.theme", "dark")
        controller._settings_changed()
        hints.colorSchemeChanged.emit(Qt.ColorScheme.Light)
        assert current_theme() is DARK
    finally:
        controller.shutdown()
        apply_theme(app, LIGHT)  # type: ignore[arg-type]
