"""The charts follow the window's theme: switching it re-colours background, axes and labels."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from desk.domain.engine import compute_risk
from desk.domain.model import Portfolio
from desk.ui.charts.history import HistoryWidget
from desk.ui.charts.ladder import LadderWidget
from desk.ui.charts.stress import StressWidget
from desk.ui.theme import DARK, LIGHT, apply_theme, current_theme
from tests.support.ui_charts import CROSS, position_risk


@pytest.fixture
def light(qapp: QApplication) -> Iterator[QApplication]:
    before = current_theme()
    apply_theme(qapp, LIGHT)
    yield qapp
    apply_theme(qapp, before)


def colours(plot) -> tuple[str, str, str]:  # type: ignore[no-untyped-def]
    """(background, left axis text, left axis title) of a PlotWidget, as #rrggbb."""
    axis = plot.getPlotItem().getAxis("left")
    return (plot.backgroundBrush().color().name().upper(), axis.textPen().color().name().upper(),
            axis.labelStyle.get("color", "").upper())


def test_switching_the_theme_recolours_the_charts(qtbot: QtBot, light: QApplication,
                                                  crash: Portfolio) -> None:
    stress, history, ladder = StressWidget(), HistoryWidget(lambda: None), LadderWidget()
    for widget in (stress, history, ladder):
        qtbot.addWidget(widget)
    stress.show_account(crash, CROSS[0])
    risk = position_risk(compute_risk(crash), *CROSS)
    ladder.show_position(crash, risk)
    assert colours(stress.plot) == (LIGHT.base.upper(), LIGHT.text.upper(), LIGHT.text.upper())
    assert colours(history.ratio_plot)[1:] == (LIGHT.text.upper(), LIGHT.text.upper())

    apply_theme(light, DARK)

    for plot in (stress.plot, history.ratio_plot, history.price_plot, ladder.plot):
        assert colours(plot)[:2] == (DARK.base.upper(), DARK.text.upper())
    assert colours(stress.plot)[2] == DARK.text.upper()  # the axis title, not only the ticks
    assert ladder.lines["mark"].pen.color().name().upper() == DARK.text.upper()  # drawn in the text colour
    assert DARK.text.lower() in history.price_legend.text().lower()
    assert DARK.text.lower() in ladder.side.text().lower()  # the legend table's mark swatch

    apply_theme(light, LIGHT)
    assert colours(stress.plot) == (LIGHT.base.upper(), LIGHT.text.upper(), LIGHT.text.upper())
    assert ladder.lines["mark"].pen.color().name().upper() == LIGHT.text.upper()
