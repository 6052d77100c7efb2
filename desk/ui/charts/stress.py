"""The stress curve of one account: its worst margin ratio (any cross pool or isolated position)
against a uniform price shock of −50 % … +50 %, and against a BTC move with each asset following by
its beta, with the liquidation point (ratio 1.0) marked and labelled with its shock.

Ratios come from :func:`desk.domain.scenario.stress_grid`; the crossing from
:func:`desk.domain.whatif.stress_liquidation_shock` (the same engine, refined by bisection).

Betas: a small table, editable in the panel ("ETH=1.2, SOL=1.5"); the default is
:data:`desk.domain.betas.DEFAULT_BETAS` (each asset's sensitivity of its log return to BTC's, the
demo market's too). Keys are base assets (``ETH``) or full symbols; an asset not listed follows
BTC one to one.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QHBoxLayout, QLabel, QLineEdit, QVBoxLayout, QWidget

from desk.domain.model import Account, Portfolio
from desk.domain.scenario import stress_grid
from desk.domain.whatif import stress_liquidation_shock
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

SHOCKS = np.linspace(-0.5, 0.5, 201)
RATIO_CAP = 3.0  # ratios above this (or ∞: the balance is gone) are drawn at the cap


def default_betas() -> dict[str, float]:
    """The default betas (desk.domain.betas, the demo market's too), as the default table."""
    from desk.domain.betas import DEFAULT_BETAS

    return dict(DEFAULT_BETAS)


def parse_betas(text: str) -> dict[str, float]:
    """``"ETH=1.2, SOL=1.5"`` → ``{"ETH": 1.2, "SOL": 1.5}``; ValueError naming the bad entry."""
    out: dict[str, float] = {}
    for part in text.replace(";", ",").split(","):
        part = part.strip()
        if not part:
            continue
        name, sep, value = part.partition("=")
        try:
            beta = float(value)
        except ValueError:
            beta = math.nan
        if not sep or not name.strip() or not math.isfinite(beta):
            raise ValueError(f'betas: "{part}" is not ASSET=NUMBER (e.g. "ETH=1.2")')
        out[name.strip()] = beta
    return out


def format_betas(betas: Mapping[str, float]) -> str:
    return ", ".join(f"{k}={v:g}" for k, v in betas.items())


def worst_ratio(account: Account, shocks: np.typing.NDArray[np.float64],
                betas: Mapping[str, float] | None) -> np.typing.NDArray[np.float64]:
    """The highest (worst) margin ratio over the account's pools and isolated positions, per shock."""
    grid = stress_grid(account, shocks, betas=betas)
    columns = [*grid.margin_ratio.values(), *grid.position_margin_ratio.values()]
    if not columns:
        return np.zeros_like(shocks)
    return np.asarray(np.max(np.vstack(columns), axis=0), dtype=np.float64)


class StressWidget(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.account: Account | None = None
        self.betas: dict[str, float] = default_betas()
        self.crossings: dict[str, float | None] = {}
        self.curves_data: dict[str, np.typing.NDArray[np.float64]] = {}

        self.plot = plot_widget()
        item = self.plot.getPlotItem()
        item.setLabel("bottom", "price shock (%)")
        item.setLabel("left", "margin ratio (%; 100 % = liquidation)")
        item.getAxis("left").label.setFont(label_font(9))
        item.setMenuEnabled(False)
        zone = QColor(color_of(SERIES["limit"]))
        zone.setAlpha(28)
        self.zone = pg.LinearRegionItem((100.0, RATIO_CAP * 100.0), orientation="horizontal", movable=False,
                                        brush=pg.mkBrush(zone), pen=pg.mkPen(None))
        item.addItem(self.zone)
        self.limit = pg.InfiniteLine(100.0, angle=0, pen=pen(SERIES["limit"]),
                                     label="liquidation: margin ratio 100 % (shaded above)",
                                     labelOpts={"position": 0.98, "color": color_of(SERIES["limit"]),
                                                "anchors": [(1, 1), (1, 1)]})
        self.limit.label.setFont(label_font(9))
        item.addItem(self.limit)
        self.zero = pg.InfiniteLine(0.0, angle=90, pen=pg.mkPen(color_of(SERIES["mark"]), width=1,
                                                                 style=Qt.PenStyle.DotLine))
        item.addItem(self.zero)
        self.curves: dict[str, pg.PlotDataItem] = {}
        self.markers: dict[str, pg.ScatterPlotItem] = {}
        self.marker_labels: dict[str, pg.TextItem] = {}
        for name, symbol in (("uniform", "o"), ("beta", "d")):
            style = SERIES[name]
            self.curves[name] = item.plot([], [], pen=pen(style))
            marker = pg.ScatterPlotItem(size=13, symbol=symbol, pen=pg.mkPen(color_of(style), width=2),
                                        brush=pg.mkBrush(QColor(0, 0, 0, 0)))
            marker.setZValue(20)
            item.addItem(marker)
            self.markers[name] = marker
            text = pg.TextItem("", color=color_of(style), anchor=(0, 1) if name == "uniform" else (0, 0))
            text.setFont(label_font(9.5, bold=True))
            text.setZValue(21)
            item.addItem(text)
            self.marker_labels[name] = text
        item.setXRange(-50, 50, padding=0.01)

        self.title = QLabel("Select a position or an account to see its stress curve.")
        self.title.setFont(label_font(10.5, bold=True))
        self.legend = QLabel("")
        self.legend.setTextFormat(Qt.TextFormat.RichText)
        self.betas_edit = QLineEdit(format_betas(self.betas))
        self.betas_edit.setToolTip("Beta of each asset to BTC (ASSET=NUMBER, comma separated). Default: the "
                                   "demo venue's catalog. Unlisted assets follow BTC one to one.")
        self.betas_edit.editingFinished.connect(self._betas_edited)
        self.betas_error = QLabel("")
        # the title and the betas share one line, so the plot keeps the tab's height
        row = QHBoxLayout()
        row.addWidget(self.title, 3)
        row.addWidget(QLabel("Betas to BTC:"))
        row.addWidget(self.betas_edit, 2)
        row.addWidget(self.betas_error)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(row)
        layout.addWidget(self.legend)
        layout.addWidget(self.plot, 1)
        self.restyle()
        follow_theme(self.restyle)

    def restyle(self, theme: object = None) -> None:
        """Colours from the current theme (at start and whenever it changes)."""
        style_plot(self.plot)
        self.zero.setPen(pg.mkPen(color_of(SERIES["mark"]), width=1, style=Qt.PenStyle.DotLine))
        if self.account is not None:
            self.redraw()  # the legend's swatches

    def show_account(self, portfolio: Portfolio | None, name: str | None) -> None:
        if portfolio is None or name is None:
            self.account = None
            self.title.setText("Select a position or an account to see its stress curve.")
            for curve in self.curves.values():
                curve.setData([], [])
            return
        try:
            self.account = portfolio.account(name)
        except KeyError:
            self.show_account(None, None)
            return
        self.redraw()

    def set_betas(self, betas: Mapping[str, float]) -> None:
        self.betas = dict(betas)
        self.betas_edit.setText(format_betas(self.betas))
        self.redraw()

    def _betas_edited(self) -> None:
        try:
            betas = parse_betas(self.betas_edit.text())
        except ValueError as exc:
            self.betas_error.setText(f"⚠ {exc}")
            return
        self.betas_error.setText("")
        self.betas = betas
        self.redraw()

    def redraw(self) -> None:
        account = self.account
        if account is None:
            return
        self.title.setText(f"{account.name} — worst margin ratio (cross pools and isolated positions)")
        legend = []
        for name, betas in (("uniform", None), ("beta", self.betas)):
            ratios = worst_ratio(account, SHOCKS, betas)
            self.curves_data[name] = ratios
            shown = np.minimum(ratios, RATIO_CAP) * 100.0  # percent, as every surface shows it; ∞ at the cap
            self.curves[name].setData(SHOCKS * 100.0, shown)
            crossing = stress_liquidation_shock(account, betas=betas)
            self.crossings[name] = crossing
            style = SERIES[name]
            label = self.marker_labels[name]
            what = "uniform" if name == "uniform" else "BTC"
            if crossing is None:
                self.markers[name].setData([], [])
                label.setText("")
                legend.append(legend_swatch_html(style, f"{style.label}: no liquidation within ±50 %"))
            else:
                self.markers[name].setData([crossing * 100.0], [100.0])
                text = f"liquidation at {what} {fmt.percent(crossing, signed=True)}"
                label.setText(text)
                label.setPos(crossing * 100.0, 100.0)
                legend.append(legend_swatch_html(style, f"{style.label}: {text}"))
        same = np.allclose(self.curves_data["uniform"], self.curves_data["beta"], rtol=1e-3, atol=1e-4,
                           equal_nan=True)
        if same:  # one curve hides the other: say so, or the beta curve looks missing
            legend.append("(the two curves coincide: every asset moves with BTC one to one here)")
        self.legend.setText("&nbsp;&nbsp;&nbsp;".join(legend))
        low, high = self.y_range()
        self.zone.setRegion((100.0, max(high, 100.0)))
        self.plot.getPlotItem().setYRange(low, high, padding=0)

    def y_range(self) -> tuple[float, float]:
        """The y-range (percent) the curves need: their own span with a margin, the liquidation
        line (100 %) included once a curve comes within half of it."""
        shown = np.concatenate([np.minimum(c, RATIO_CAP) * 100.0 for c in self.curves_data.values()])
        shown = shown[np.isfinite(shown)]
        if not shown.size:
            return 0.0, 150.0
        lo, hi = float(shown.min()), float(shown.max())
        if hi >= 50.0:
            hi = max(hi, 100.0)
        span = max(hi - lo, 1.0)
        return max(0.0, lo - span * 0.08), min(hi + span * 0.08, RATIO_CAP * 102.0)
