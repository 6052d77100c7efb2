"""The Book tab (issue 21): one risk picture across every account and venue.

A table of net exposure per underlying, a table of hedges (the two legs, where the hedge breaks,
what is left naked, the margin-transfer suggestion) and a chart of the whole book's P&L under one
shock for all venues — a uniform move and a BTC move with each asset following by its beta — with
the first liquidation on each side marked. Every figure is :func:`desk.domain.book.compute_book`'s;
this module only shows them. Recomputed from the live snapshot at most every
:data:`BOOK_EVERY_SECONDS`.
"""

from __future__ import annotations

import html
import time
from collections.abc import Callable, Mapping
from typing import Any

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desk.domain.book import Book, Hedge, compute_book, transfer_text
from desk.domain.model import Portfolio
from desk.domain.report import RiskReport
from desk.ui import formatting as fmt
from desk.ui.charts.style import (
    SERIES,
    color_of,
    follow_theme,
    label_font,
    legend_swatch_html,
    pen,
    plot_widget,
    style_plot,
)
from desk.ui.levels import Level, ThresholdsFor, figure_level, global_thresholds
from desk.ui.theme import current_theme

BOOK_EVERY_SECONDS = 2.0  # a book is two stress curves of ~100 engine evaluations each
# coin and USD in columns of their own: on a 1280 px screen "1.8342 BTC (113,541.99 USD)" in one
# cell was cut
EXPOSURE_COLUMNS = ("underlying", "long", "long (USD)", "short", "short (USD)", "net", "net (USD)")
HEDGE_COLUMNS = ("underlying", "long leg", "short leg", "hedged", "breaks at", "distance", "then naked",
                 "suggestion")
_NUMERIC = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter


def _item(text: str, tooltip: str | None = None, *, numeric: bool = False) -> QTableWidgetItem:
    item = QTableWidgetItem(text)
    item.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable)
    item.setToolTip(tooltip if tooltip is not None else text)
    if numeric:
        item.setTextAlignment(_NUMERIC)
    return item


def _table(columns: tuple[str, ...]) -> QTableWidget:
    table = QTableWidget(0, len(columns))
    table.setHorizontalHeaderLabels(list(columns))
    table.verticalHeader().setVisible(False)
    table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
    table.setWordWrap(False)
    table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    table.horizontalHeader().setStretchLastSection(True)
    return table


def _signed_quantity(coin: float, unit: str) -> str:
    return ("+" if coin >= 0 else "-") + fmt.quantity(abs(coin), unit)


class AmountAxis(pg.AxisItem):  # type: ignore[misc]  # pyqtgraph ships no type hints
    """Amounts on the axis with thousands separators, as in the tables beside it."""

    def tickStrings(self, values: list[float], scale: float, spacing: float) -> list[str]:
        return [fmt.money(v * scale, None) if spacing * scale < 1 else f"{v * scale:,.0f}" for v in values]


class BookWidget(QWidget):
    """Exposure and hedges tables and the book's stress chart for one portfolio."""

    def __init__(self, parent: QWidget | None = None, *, thresholds_for: ThresholdsFor | None = None,
                 betas: Mapping[str, float] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(parent)
        from desk.ui.charts.stress import default_betas

        self.thresholds_for = thresholds_for or global_thresholds()
        self.betas: dict[str, float] = dict(default_betas() if betas is None else betas)
        self.clock = clock
        self.book: Book | None = None
        self.portfolio: Portfolio | None = None  # the portfolio the book was computed from
        self._computed_at = -1e18

        self.title = QLabel("The whole book appears with the first snapshot.")
        self.title.setFont(label_font(10.5, bold=True))
        self.exposure = _table(EXPOSURE_COLUMNS)
        # fixed shares of the width: columns do not jump at every update
        self.exposure.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.hedges = _table(HEDGE_COLUMNS)
        self.hedges_caption = QLabel("Hedges: a long and a short of one underlying in different accounts, "
                                     "or a perpetual against a spot balance")
        self.plot = plot_widget(axis_items={"left": AmountAxis(orientation="left")})
        item = self.plot.getPlotItem()
        item.setLabel("bottom", "move (%)")
        item.setLabel("left", "P&L (USD)")  # short: the longer title was cut on a 330 px tall tab
        item.setMenuEnabled(False)
        self.zero = pg.InfiniteLine(0.0, angle=0, pen=pg.mkPen(color_of(SERIES["mark"]), width=1,
                                                                style=Qt.PenStyle.DotLine))
        item.addItem(self.zero)
        self.curves: dict[str, pg.PlotDataItem] = {}
        self.markers: dict[str, pg.ScatterPlotItem] = {}
        for name, symbol in (("uniform", "o"), ("beta", "d")):
            self.curves[name] = item.plot([], [], pen=pen(SERIES[name]))
            marker = pg.ScatterPlotItem(size=12, symbol=symbol, pen=pg.mkPen(color_of(SERIES[name]), width=2),
                                        brush=pg.mkBrush(QColor(0, 0, 0, 0)))
            marker.setZValue(20)
            item.addItem(marker)
            self.markers[name] = marker
        self.legend = QLabel("")
        self.legend.setTextFormat(Qt.TextFormat.RichText)
        self.legend.setWordWrap(True)
        self.plot.setMinimumSize(320, 180)
        self.hedges.setMinimumHeight(90)

        # tables on the left, the chart on the right: both in sight in a short tab; the trader may
        # move the split (the tables take most of it: their figures must not be cut)
        left, right = QWidget(), QWidget()
        tables = QVBoxLayout(left)
        tables.setContentsMargins(0, 0, 0, 0)
        tables.addWidget(self.title)
        tables.addWidget(self.exposure)
        tables.addWidget(self.hedges_caption)
        tables.addWidget(self.hedges, 1)
        chart = QVBoxLayout(right)
        chart.setContentsMargins(0, 0, 0, 0)
        chart.addWidget(self.legend)
        chart.addWidget(self.plot, 1)
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(left)
        self.splitter.addWidget(right)
        self.splitter.setStretchFactor(0, 7)
        self.splitter.setStretchFactor(1, 3)
        self.splitter.setChildrenCollapsible(False)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.splitter)
        self.restyle()
        follow_theme(self.restyle)

    def restyle(self, theme: object = None) -> None:
        style_plot(self.plot)
        self.zero.setPen(pg.mkPen(color_of(SERIES["mark"]), width=1, style=Qt.PenStyle.DotLine))
        if self.book is not None:
            self.show_book(self.book)

    # -- data --------------------------------------------------------------------------------

    def on_snapshot(self, snapshot: Any) -> None:
        """A live snapshot: recompute the book at most every BOOK_EVERY_SECONDS."""
        now = self.clock()
        if self.book is not None and now - self._computed_at < BOOK_EVERY_SECONDS:
            return
        self._computed_at = now
        self.set_portfolio(snapshot.portfolio, snapshot.report)

    def set_portfolio(self, portfolio: Portfolio | None, report: RiskReport | None = None) -> None:
        """``report``: the monitor's figures for ``portfolio``, so the book does not compute them twice."""
        if portfolio is None or not portfolio.accounts:
            return
        self.portfolio = portfolio
        self.show_book(compute_book(portfolio, betas=self.betas, risk=report))

    def show_book(self, book: Book) -> None:
        self.book = book
        accounts = {leg.account for e in book.exposures for leg in e.legs}
        self.title.setText(f"The whole book: {len(accounts)} accounts, {len(book.exposures)} underlyings, "
                           f"{len(book.hedges)} hedges")
        self._fill_exposure(book)
        self._fill_hedges(book)
        self._draw(book)

    def _fill_exposure(self, book: Book) -> None:
        t = self.exposure
        t.setRowCount(len(book.exposures))
        for row, e in enumerate(book.exposures):
            legs = "\n".join(f"{leg.label}: {'+' if leg.side == 'long' else '-'}"
                             f"{fmt.quantity(leg.coin, e.underlying)} ({fmt.money(leg.usd, 'USD')})"
                             for leg in e.legs)
            cells = [
                _item(e.underlying, f"{e.underlying}: every leg\n{legs}"),
                _item(fmt.quantity(e.long_coin, e.underlying), numeric=True),
                _item(fmt.money(e.long_usd, "USD"), numeric=True),
                _item(fmt.quantity(e.short_coin, e.underlying), numeric=True),
                _item(fmt.money(e.short_usd, "USD"), numeric=True),
                _item(_signed_quantity(e.net_coin, e.underlying), numeric=True),
                _item(fmt.money(e.net_usd, "USD", signed=True), numeric=True),
            ]
            for col, item in enumerate(cells):
                t.setItem(row, col, item)
        t.setFixedHeight(t.horizontalHeader().height() + sum(t.rowHeight(r) for r in range(t.rowCount())) + 4
                         + t.horizontalScrollBar().sizeHint().height())

    def hedge_level(self, h: Hedge) -> Level:
        """The alert engine's level for the breaking leg's distance (its own thresholds)."""
        leg = h.breaking
        if leg is None:
            return Level.OK
        return figure_level(h.signed_break_distance, None, self.thresholds_for(leg.account, leg.symbol))

    def _fill_hedges(self, book: Book) -> None:
        t = self.hedges
        t.setRowCount(len(book.hedges))
        theme = current_theme()
        for row, h in enumerate(book.hedges):
            leg = h.breaking
            survivor = h.survivor
            level = self.hedge_level(h)
            breaks = fmt.DASH if leg is None else f"{fmt.price(h.break_price, leg.tick_size)} ({leg.label})"
            distance = fmt.DASH if leg is None else fmt.distance_with_state(h.signed_break_distance,
                                                                            leg.liquidatable)
            naked = fmt.DASH if survivor is None else \
                f"{survivor.label} {fmt.quantity(h.hedged_coin, h.underlying)}"
            advice = "no transfer needed" if h.transfer is None else transfer_text(h.transfer)
            cells = [
                _item(h.underlying),
                _item(h.long.label),
                _item(h.short.label),
                _item(fmt.quantity(h.hedged_coin, h.underlying), numeric=True),
                _item(breaks, h.text()),
                _item(distance, f"{level.label}: {h.text()}", numeric=True),
                _item(naked, h.text()),
                _item(advice),
            ]
            for col, item in enumerate(cells):
                t.setItem(row, col, item)
            if level is not Level.OK:
                for col in (4, 5):
                    cells[col].setForeground(theme.level_color(level))
                    font = cells[col].font()
                    font.setBold(True)
                    cells[col].setFont(font)

    def first_liquidations(self, mode: str) -> list[tuple[float, float, str]]:
        """(move, book P&L, unit) of the first liquidation on each side of 0, as the chart marks them."""
        assert self.book is not None
        stress = self.book.stress_of(mode)
        zero = stress.at(0.0)
        out = []
        for indices in (range(zero, -1, -1), range(zero, len(stress.shocks))):
            for i in indices:
                first = stress.first_liquidated[i]
                if first is not None:
                    out.append((float(stress.shocks[i]), float(stress.pnl_usd[i]), first))
                    break
        return out

    def _draw(self, book: Book) -> None:
        legend = []
        for name in ("uniform", "beta"):
            stress = book.stress_of(name)
            self.curves[name].setData(stress.shocks * 100.0, stress.pnl_usd)
            points = self.first_liquidations(name)
            self.markers[name].setData([p[0] * 100.0 for p in points], [p[1] for p in points])
            firsts = "; ".join(f"{fmt.percent(s, 0, signed=True)}: {unit} first" for s, _, unit in points)
            text = f"{SERIES[name].label} — {firsts or 'no liquidation within ±50 %'}"
            legend.append(legend_swatch_html(SERIES[name], html.escape(text)))
        legend += [f"⚠ {html.escape(w)}" for w in book.warnings]
        self.legend.setText("<br>".join(legend))
        self.plot.getPlotItem().setXRange(-50, 50, padding=0.01)


def attach_book(window: Any) -> BookWidget:
    """Put the Book tab into ``window`` (a :class:`desk.ui.main_window.MainWindow`), fed by its snapshots."""
    # the window's thresholds as they are at each redraw (the settings dialog may change them)
    widget = BookWidget(thresholds_for=lambda account, symbol: window.thresholds_for(account, symbol))
    window.set_panel("Book", widget)
    window.snapshot_applied.connect(widget.on_snapshot)
    if window.snapshot is not None:
        widget.on_snapshot(window.snapshot)
    return widget


__all__ = ["BOOK_EVERY_SECONDS", "BookWidget", "attach_book"]
