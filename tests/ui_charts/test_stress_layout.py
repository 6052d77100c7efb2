"""Issue 19: the stress chart's y-range follows its curves, coinciding curves are said to coincide,
and no unexplained pyqtgraph "A" button is offered."""

from __future__ import annotations

import numpy as np
from pytestqt.qtbot import QtBot

from desk.domain.model import Portfolio
from desk.ui.charts.history import HistoryWidget
from desk.ui.charts.ladder import LadderWidget
from desk.ui.charts.stress import StressWidget


def test_the_y_range_follows_the_curves(qtbot: QtBot, crash: Portfolio) -> None:
    widget = StressWidget()
    qtbot.addWidget(widget)
    widget.show_account(crash, "demo-hyperliquid")
    low, high = widget.plot.getPlotItem().getViewBox().viewRange()[1]
    curves = np.concatenate([widget.curves[n].getData()[1] for n in ("uniform", "beta")])
    assert low <= curves.min() and curves.max() <= high
    span = curves.max() - curves.min()
    assert curves.min() - low <= 0.1 * max(span, 1.0) + 1e-9  # no empty band under the curves
    if curves.max() >= 50:
        assert high >= 100.0  # the liquidation line stays in view once a curve nears it
    # curves far from liquidation (5 % … 20 %) fill the plot instead of hugging the bottom of 0–150 %
    widget.curves_data = {"uniform": np.linspace(0.05, 0.2, 5), "beta": np.linspace(0.06, 0.18, 5)}
    low, high = widget.y_range()
    assert 3.0 < low < 5.0 and 20.0 < high < 22.0


def test_coinciding_curves_are_said_to_coincide(qtbot: QtBot, crash: Portfolio) -> None:
    widget = StressWidget()
    qtbot.addWidget(widget)
    widget.show_account(crash, "demo-binance-usdm")
    assert "coincide" not in widget.legend.text()
    widget.set_betas({})  # every asset follows BTC one to one: the two curves are the same
    assert "the two curves coincide" in widget.legend.text()
    assert widget.curves["beta"].opts["pen"].style() != widget.curves["uniform"].opts["pen"].style()


def test_no_unexplained_auto_range_button(qtbot: QtBot) -> None:
    for widget in (StressWidget(), HistoryWidget(None), LadderWidget()):
        qtbot.addWidget(widget)
        for item in [widget.plot.getPlotItem()] if hasattr(widget, "plot") else \
                [widget.ratio_plot.getPlotItem(), widget.price_plot.getPlotItem()]:
            assert item.buttonsHidden
