"""Risk over time from the history store: margin ratio and distance to liquidation of an account or
a position, and a position's mark against its liquidation price (desk's and the exchange's).

A time axis (``pg.DateAxisItem``), zoom and pan with the mouse, the last 24 hours by default.
:meth:`HistoryWidget.refresh` reads only the samples newer than the last one shown and appends
them to the arrays; the plot items are created once (pyqtgraph's ``scrollingPlots`` advice).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from desk.ui.charts.style import (
    SERIES,
    follow_theme,
    label_font,
    legend_swatch_html,
    pen,
    plot_widget,
    style_plot,
)

RANGES = {"1 hour": 3600.0, "6 hours": 6 * 3600.0, "24 hours": 24 * 3600.0, "7 days": 7 * 86400.0}
DEFAULT_RANGE = "24 hours"
_FIELDS = ("margin_ratio", "distance_to_liquidation", "mark_price", "liquidation_price",
           "reported_liquidation_price")
_PERCENT = frozenset({"margin_ratio", "distance_to_liquidation"})


class _OwnHistory:
    """Without a source: this widget's own reader of the (non-demo) history file, opened once."""

    def __init__(self) -> None:
        self.store: Any = None

    def __call__(self) -> Any:
        if self.store is None:
            from desk.store.history import History
            from desk.store.paths import desk_paths

            self.store = History(desk_paths().history_for(demo=False))
        return self.store


class HistoryWidget(QWidget):
    """History of the selected position (or of an account, with ``symbol=None``).

    ``history_source`` returns the store to read — in the dashboard the very store the running
    monitor writes (so the demo's history in demo mode) — or None while there is none yet; it is
    asked on every refresh, so a restarted monitor's new store is followed.
    """

    def __init__(self, history_source: Callable[[], Any] | None = None, *,
                 clock: Callable[[], float] = time.time, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._source = history_source if history_source is not None else _OwnHistory()
        self._shown_store: Any = None
        self.clock = clock
        self.subject: tuple[str, str | None, str | None, str | None] | None = None
        self.data: dict[str, np.typing.NDArray[np.float64]] = {}
        self.times: np.typing.NDArray[np.float64] = np.empty(0)
        self.error: str | None = None

        self.ratio_plot = plot_widget(axis_items={"bottom": pg.DateAxisItem()})
        self.price_plot = plot_widget(axis_items={"bottom": pg.DateAxisItem()})
        self.price_plot.setXLink(self.ratio_plot)
        ratio_item = self.ratio_plot.getPlotItem()
        ratio_item.setLabel("left", "ratio · distance (%)")
        price_item = self.price_plot.getPlotItem()
        price_item.setLabel("left", "price")
        for item in (ratio_item, price_item):
            item.setMenuEnabled(False)
            item.getAxis("bottom").setTickFont(label_font(9))
        self.limit = pg.InfiniteLine(100.0, angle=0, pen=pen(SERIES["limit"]),
                                     label="margin ratio 100 % = liquidation",
                                     labelOpts={"position": 0.02, "anchors": [(0, 1), (0, 1)],
                                                "color": pen(SERIES["limit"]).color()})
        ratio_item.addItem(self.limit)
        self.curves = {
            "margin_ratio": ratio_item.plot([], [], pen=pen(SERIES["margin_ratio"]), connect="finite"),
            "distance_to_liquidation": ratio_item.plot([], [], pen=pen(SERIES["distance"]), connect="finite"),
            "mark_price": price_item.plot([], [], pen=pen(SERIES["mark"]), connect="finite"),
            "liquidation_price": price_item.plot([], [], pen=pen(SERIES["liquidation"]), connect="finite"),
            "reported_liquidation_price": price_item.plot([], [], pen=pen(SERIES["liquidation_exchange"]),
                                                          connect="finite"),
        }

        self.title = QLabel("Select a position to see its history.")
        self.title.setFont(label_font(10.5, bold=True))
        self.ratio_legend = QLabel(" &nbsp; ".join([
            legend_swatch_html(SERIES["margin_ratio"], "margin ratio (100 % = liquidation)"),
            legend_swatch_html(SERIES["distance"],
                               "distance to liquidation (% of the mark; negative past it)")]))
        self.price_legend = QLabel("")
        for label in (self.ratio_legend, self.price_legend):
            label.setTextFormat(Qt.TextFormat.RichText)
        self.status = QLabel("")
        self.status.setObjectName("muted")
        self.range_box = QComboBox()
        self.range_box.addItems(list(RANGES))
        self.range_box.setCurrentText(DEFAULT_RANGE)
        self.range_box.currentTextChanged.connect(lambda _: self.reload())
        self.reset_button = QPushButton("Reset zoom")
        self.reset_button.clicked.connect(self.fit)
        top = QHBoxLayout()
        top.addWidget(self.title, 1)
        top.addWidget(self.status)  # on the title's line: the plots keep the height
        top.addSpacing(12)
        top.addWidget(QLabel("Show the last"))
        top.addWidget(self.range_box)
        top.addWidget(self.reset_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(top)
        # side by side, so each plot has the tab's whole height (stacked, a 1280×800 screen left
        # each some 80 px and cut their axis titles)
        plots = QHBoxLayout()
        for legend, plot in ((self.ratio_legend, self.ratio_plot), (self.price_legend, self.price_plot)):
            column = QVBoxLayout()
            column.addWidget(legend)
            column.addWidget(plot, 1)
            plots.addLayout(column, 1)
        layout.addLayout(plots, 1)
        self._set_price_visible(False)
        self.restyle()
        follow_theme(self.restyle)

    def restyle(self, theme: object = None) -> None:
        """Colours from the current theme (at start and whenever it changes)."""
        for plot in (self.ratio_plot, self.price_plot):
            style_plot(plot)
        self.curves["mark_price"].setPen(pen(SERIES["mark"]))
        self.price_legend.setText(" &nbsp; ".join([
            legend_swatch_html(SERIES["mark"]), legend_swatch_html(SERIES["liquidation"]),
            legend_swatch_html(SERIES["liquidation_exchange"])]))

    @property
    def history(self) -> Any:
        return self._source()

    def _set_price_visible(self, visible: bool) -> None:
        self.price_plot.setVisible(visible)
        self.price_legend.setVisible(visible)

    def show_subject(self, account: str | None, symbol: str | None = None, leg: str | None = None,
                     margin_mode: str | None = None, *, name_mode: bool = False) -> None:
        """Show ``account``'s history, or one position's with ``symbol`` (and ``leg`` and
        ``margin_mode``: an OKX twin's own series); None clears. ``name_mode``: the title says the
        margin mode (a twin beside it needs telling apart)."""
        subject = None if account is None else (account, symbol, leg, margin_mode)
        if subject == self.subject:
            self.refresh()
            return
        self.subject = subject
        if account is None:
            self.title.setText("Select a position to see its history.")
        elif symbol is None:
            self.title.setText(f"{account} — account (worst pool or isolated position)")
        else:
            leg_text = f" ({leg} leg)" if leg and leg != "both" else ""
            mode_text = f" {margin_mode}" if name_mode and margin_mode else ""
            self.title.setText(f"{symbol}{leg_text}{mode_text} — {account}")
        self._set_price_visible(symbol is not None)
        self.reload()

    def reload(self) -> None:
        self.times = np.empty(0)
        self.data = {name: np.empty(0) for name in _FIELDS}
        self.refresh()
        self.fit()

    def refresh(self) -> int:
        """Append the samples newer than the last one shown; returns how many were added."""
        if self.subject is None:
            for curve in self.curves.values():
                curve.setData([], [])
            return 0
        account, symbol, leg, margin_mode = self.subject
        try:
            store, self.error = self.history, None
        except Exception as exc:  # the store names the problem; shown, never a traceback
            store, self.error = None, f"History unavailable: {exc}"
        if store is None:
            self.status.setText(self.error or "The history appears once the monitor runs.")
            return 0
        if store is not self._shown_store:  # another file (the monitor restarted): start over
            self._shown_store = store
            self.times = np.empty(0)
            self.data = {name: np.empty(0) for name in _FIELDS}
        now = self.clock()
        since = now - RANGES[self.range_box.currentText()]
        if len(self.times):
            since = max(since, float(self.times[-1]) + 1e-6)
        try:
            # only the columns drawn are read: a day of one position is 8,640 samples
            series = store.series(_FIELDS, account=account, symbol=symbol, leg=leg, since=since,
                                  margin_mode=margin_mode)
        except Exception as exc:  # the store names the problem; shown, never a traceback
            self.error = f"History unavailable: {exc}"
            self.status.setText(self.error)
            return 0
        self.error = None
        if series["at"]:
            self.times = np.concatenate([self.times, np.array(series["at"], dtype=np.float64)])
            for name in _FIELDS:  # a missing figure (None) becomes NaN: a gap in the curve
                self.data[name] = np.concatenate([self.data[name], np.array(series[name], dtype=np.float64)])
            for name, curve in self.curves.items():
                # ratios and distances in percent, as every surface shows them
                scale = 100.0 if name in _PERCENT else 1.0
                curve.setData(self.times, self.data[name] * scale)
        count = len(self.times)
        self.status.setText(f"{count} samples in the last {self.range_box.currentText()}" if count else
                            "No history yet for this selection: samples are written while desk monitors "
                            "(every history.sample_seconds).")
        return len(series["at"])

    def fit(self) -> None:
        """Zoom to the chosen window (the last 24 hours by default), clipped to where data exists."""
        now = self.clock()
        start = now - RANGES[self.range_box.currentText()]
        if len(self.times):
            start = max(start, float(self.times[0]))
            end = max(float(self.times[-1]), start + 60.0)
        else:
            end = now
        self.ratio_plot.getPlotItem().setXRange(start, end, padding=0.02)
        for plot in (self.ratio_plot, self.price_plot):
            plot.getPlotItem().enableAutoRange(axis="y")
