"""Issue 19: the window fits a 1280×800 screen — the real DeskController and main window on the
demo venue, under Xvfb, sized as on a 1280×800 screen with a 32 px panel."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from PySide6.QtCore import QPoint, QRect
from PySide6.QtGui import QFontMetrics
from PySide6.QtWidgets import QAbstractButton, QApplication, QScrollArea, QWidget
from pytestqt.qtbot import QtBot

from desk.store.settings import Settings
from desk.ui.app import DeskController, GuiOptions
from desk.ui.main_window import DEFAULT_HIDDEN, initial_geometry
from desk.ui.positions_model import HEADERS, Column

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SCREEN_1280 = QRect(0, 0, 1280, 800 - 32)  # the available area under a 32 px panel


@pytest.fixture
def demo_desk(qtbot: QtBot) -> Iterator[DeskController]:
    app = QApplication.instance()
    controller = DeskController(app, Settings.load(), GuiOptions(demo=True, speed=10))  # type: ignore[arg-type]
    controller.window.allow_close = True
    qtbot.addWidget(controller.window)
    controller.window.setGeometry(initial_geometry(SCREEN_1280))
    controller.start()
    try:
        yield controller
    finally:
        controller.shutdown()
        # the window goes with qtbot; nothing of this controller may reach it in a later test
        controller.bridge.blockSignals(True)
        controller.window._clock_timer.stop()


def _ready(qtbot: QtBot, desk: DeskController) -> None:
    window = desk.window
    qtbot.waitUntil(lambda: window.model.rowCount() > 0 and window.charts is not None, timeout=30_000)
    qtbot.waitUntil(lambda: window.accounts_panel.height() > 0)  # the cards, then the split settles
    window.table.selectRow(0)
    qtbot.waitUntil(lambda: window.selected_position() is not None)


def test_the_window_and_its_status_bar_fit_the_screen(qtbot: QtBot, demo_desk: DeskController) -> None:
    window = demo_desk.window
    _ready(qtbot, demo_desk)
    frame = window.frameGeometry()
    assert SCREEN_1280.contains(window.geometry()), window.geometry()
    bar = window.statusBar()
    bottom = bar.mapTo(window, QPoint(0, bar.height())).y() + window.geometry().y()
    assert bar.isVisible() and bottom <= SCREEN_1280.bottom() + 1, (frame, bottom)


def test_default_columns_need_no_horizontal_scrolling(qtbot: QtBot, demo_desk: DeskController) -> None:
    window = demo_desk.window
    _ready(qtbot, demo_desk)
    table = window.table
    qtbot.waitUntil(lambda: sum(table.columnWidth(c) for c in Column if not table.isColumnHidden(c))
                    <= table.viewport().width())
    qtbot.waitUntil(lambda: not table.horizontalScrollBar().isVisible())  # laid out in a later event
    assert table.horizontalScrollBar().maximum() == 0
    for column in Column:
        assert table.isColumnHidden(column) == (column in DEFAULT_HIDDEN), column
        if column in DEFAULT_HIDDEN:
            continue
        x = table.columnViewportPosition(column)
        assert x >= 0 and x + table.columnWidth(column) <= table.viewport().width(), column
        # the header's title fits its section
        metrics = QFontMetrics(table.horizontalHeader().font())
        title = max(metrics.horizontalAdvance(line) for line in HEADERS[column][0].split("\n"))
        assert table.columnWidth(column) >= title + 8, column


def _inside_viewport(widget: QWidget, scroller: QScrollArea) -> bool:
    viewport = scroller.viewport()
    top_left = widget.mapTo(viewport, QPoint(0, 0))
    return viewport.rect().contains(QRect(top_left, widget.size()))


def test_what_if_buttons_are_inside_their_viewport(qtbot: QtBot, demo_desk: DeskController) -> None:
    window = demo_desk.window
    _ready(qtbot, demo_desk)
    window.tabs.setCurrentIndex(window.tabs.indexOf(window._panel_holders["What-if"]))
    holder = window._panel_holders["What-if"]
    qtbot.waitUntil(holder.isVisible)
    panel = window.panels["What-if"]
    buttons = [b for b in panel.findChildren(QAbstractButton) if b.isVisibleTo(panel)]
    assert buttons
    # no scroll area inside the tab's own
    nested = [s for s in panel.findChildren(QScrollArea) if s.isVisibleTo(panel)
              and (s.verticalScrollBar().maximum() > 0 or s.horizontalScrollBar().maximum() > 0)]
    assert holder.verticalScrollBar().maximum() == 0 or not nested, "nested scrollbars"
    for button in buttons:
        assert _inside_viewport(button, holder), (button.text(), button.geometry())


def test_plots_are_at_least_200_px_tall(qtbot: QtBot, demo_desk: DeskController) -> None:
    window = demo_desk.window
    _ready(qtbot, demo_desk)
    for name in ("Ladder", "History", "Stress"):
        window.tabs.setCurrentIndex(window.tabs.indexOf(window._panel_holders[name]))
        holder = window._panel_holders[name]
        qtbot.waitUntil(holder.isVisible)
        from pyqtgraph import PlotWidget

        panel = window.panels[name]
        plots = [p for p in panel.findChildren(PlotWidget) if p.isVisibleTo(panel)]
        assert plots, name
        for plot in plots:
            # the account cards arrive after the first rows and the split is fitted again then; the
            # charts come after the first rows too (issue 18), so their tab may still be laid out

            def settled(plot: PlotWidget = plot, holder: QScrollArea = holder, name: str = name) -> None:
                assert plot.height() >= 200, (name, plot.height())
                assert _inside_viewport(plot, holder), name

            qtbot.waitUntil(settled, timeout=3000)


def test_ladder_labels_are_disjoint_in_the_window(qtbot: QtBot, demo_desk: DeskController) -> None:
    from tests.ui_charts.test_ladder_labels import assert_placed

    window = demo_desk.window
    _ready(qtbot, demo_desk)
    window.tabs.setCurrentIndex(window.tabs.indexOf(window._panel_holders["Ladder"]))
    ladder = window.charts.ladder  # type: ignore[attr-defined]
    qtbot.waitUntil(lambda: ladder.plot.isVisible() and bool(ladder.label_places))
    qtbot.waitUntil(lambda: ladder.plot.height() >= 200, timeout=3000)  # once the split settles
    assert_placed(ladder)
    # the legend and the what-if figures beside the plot need no scrollbar of their own
    from PySide6.QtWidgets import QScrollArea

    scroller = window.panels["Ladder"].findChild(QScrollArea, "sidePanelScroller")
    qtbot.waitUntil(lambda: scroller.verticalScrollBar().maximum() == 0, timeout=3000)
