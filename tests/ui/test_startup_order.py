"""The dashboard's start-up order (issue 18): the window first, then the services, then — once the
first numbers are in the table — the charts. Read from the order the controller records its steps
in (``timings``, a dict in insertion order), not from any clock."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from desk.store.settings import Settings
from desk.ui.app import DeskController, GuiOptions

pytestmark = [pytest.mark.integration]


def test_window_then_services_then_numbers_then_charts(qtbot: QtBot) -> None:
    app = QApplication.instance()
    controller = DeskController(app, Settings.load(), GuiOptions(demo=True, speed=10))  # type: ignore[arg-type]
    controller.window.allow_close = True
    qtbot.addWidget(controller.window)
    controller.start()
    try:
        # nothing slow ran inside start(): the services wait for the window's first frame
        assert controller._startup_thread is None and controller.runtime is None
        assert controller.window.charts is None
        qtbot.waitUntil(lambda: controller.window.model.rowCount() > 0, timeout=30_000)
        qtbot.waitUntil(lambda: controller.window.charts is not None, timeout=30_000)
        steps = [s for s in controller.timings if s != "process_start"]
        assert steps == ["window_shown", "services_composed", "first_numbers", "charts_attached"]
    finally:
        controller.shutdown()
