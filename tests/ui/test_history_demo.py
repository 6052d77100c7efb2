"""The dashboard's History tab and status strip read the store the running monitor writes.

Issue 15: in demo mode the History tab read history.sqlite3 while the demo wrote
history-demo.sqlite3, so it was always empty. Issue 14 part 5: a history that cannot be written
says so in the status strip. The real DeskController and main window on the demo venue, under Xvfb.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from desk.store.paths import desk_paths
from desk.store.settings import Settings
from desk.ui.app import DeskController, GuiOptions
from tests.support.history_faults import install

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture
def demo_desk(qtbot: QtBot) -> Iterator[DeskController]:
    settings = Settings.load()
    settings.set("history.sample_seconds", 1)
    settings.save()
    app = QApplication.instance()
    controller = DeskController(app, settings, GuiOptions(demo=True, speed=10))  # type: ignore[arg-type]
    controller.window.allow_close = True
    qtbot.addWidget(controller.window)
    controller.start()
    try:
        yield controller
    finally:
        controller.shutdown()


def test_history_tab_plots_the_demo_history(qtbot: QtBot, demo_desk: DeskController) -> None:
    window = demo_desk.window
    qtbot.waitUntil(lambda: window.model.rowCount() > 0 and window.charts is not None, timeout=30_000)
    store = demo_desk.alert_history()
    assert store.path == desk_paths().demo_history_db
    window.tabs.setCurrentIndex(1)  # "History"
    assert window.tabs.tabText(1) == "History"
    window.table.selectRow(0)
    risk = window.selected_position()
    assert risk is not None
    chart = window.charts.history  # type: ignore[attr-defined]
    curve = chart.curves["margin_ratio"]
    qtbot.waitUntil(lambda: curve.getData()[0] is not None and len(curve.getData()[0]) >= 3, timeout=30_000)
    assert chart.isVisible() and chart.ratio_plot.isVisible()
    x, y = curve.getData()
    stored = [s for s in store.samples(account=risk.account, symbol=risk.symbol, leg=risk.leg)
              if s.at <= x[-1]]
    np.testing.assert_array_equal(x, [s.at for s in stored])
    # the chart plots the ratio in percent, as every surface shows it
    np.testing.assert_allclose(y, [np.nan if s.margin_ratio is None else s.margin_ratio * 100
                                   for s in stored])
    assert chart.status.text() == f"{len(x)} samples in the last 24 hours"
    assert risk.symbol in chart.title.text() and risk.account in chart.title.text()
    # the demo never touched the real history
    assert not desk_paths().history_db.exists()


def test_status_strip_says_when_history_is_not_recorded(qtbot: QtBot, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    control = tmp_path / "control"
    control.write_text("ok")
    with monkeypatch.context() as patch:
        from desk.store import history

        patch.setattr(history.History, "_write", history.History._write)  # restored afterwards
        install(control)
        settings = Settings.load()
        settings.set("history.sample_seconds", 1)
        app = QApplication.instance()
        controller = DeskController(app, settings, GuiOptions(demo=True, speed=10))  # type: ignore[arg-type]
        controller.window.allow_close = True
        qtbot.addWidget(controller.window)
        controller.start()
        try:
            strip = controller.window.status_strip
            qtbot.waitUntil(lambda: controller.window.model.rowCount() > 0, timeout=30_000)
            assert not strip.history.isVisible()
            control.write_text("full")
            qtbot.waitUntil(strip.history.isVisible, timeout=30_000)
            assert strip.history.text() == "⚠ history not recorded: disk full"
            assert "database or disk is full" in strip.history.toolTip()
            assert "sample rows kept in memory" in strip.history.toolTip()
            control.write_text("ok")
            qtbot.waitUntil(lambda: not strip.history.isVisible(), timeout=30_000)
            assert controller.alert_history().health.recording
        finally:
            controller.shutdown()
