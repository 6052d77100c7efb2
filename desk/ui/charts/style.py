"""Pens and colours for the charts: Okabe–Ito colours, and every line also told apart by its dash
pattern and a text label, so nothing depends on colour alone."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QFont, QPen
from PySide6.QtWidgets import QApplication

from desk.ui.theme import OKABE_ITO


@dataclass(frozen=True)
class LineStyle:
    label: str
    color: str  # hex; "text" means the theme's text colour
    dash: Qt.PenStyle
    width: float


# The price ladder's levels. Colour, dash and a label each distinguish them.
LADDER = {
    "mark": LineStyle("mark", "text", Qt.PenStyle.SolidLine, 2.0),
    "entry": LineStyle("entry", OKABE_ITO["blue"], Qt.PenStyle.DashLine, 1.6),
    "break_even": LineStyle("break-even", OKABE_ITO["sky_blue"], Qt.PenStyle.DotLine, 1.8),
    "liquidation": LineStyle("liquidation (desk)", OKABE_ITO["vermillion"], Qt.PenStyle.SolidLine, 2.4),
    "liquidation_exchange": LineStyle("liquidation (exchange)", OKABE_ITO["orange"],
                                      Qt.PenStyle.DashDotLine, 1.8),
    "bankruptcy": LineStyle("bankruptcy", OKABE_ITO["reddish_purple"], Qt.PenStyle.DashDotDotLine, 1.8),
    # dashed, so the mark line shows through it when they meet; drawn in the risk colour of its price
    "whatif": LineStyle("what-if", OKABE_ITO["bluish_green"], Qt.PenStyle.DashLine, 2.6),
    "whatif_liquidation": LineStyle("liquidation at what-if", OKABE_ITO["vermillion"],
                                    Qt.PenStyle.DotLine, 1.4),
    # the position's open orders (issue 17)
    "stop": LineStyle("stop", OKABE_ITO["sky_blue"], Qt.PenStyle.SolidLine, 1.8),
    "take_profit": LineStyle("take-profit", "text", Qt.PenStyle.DotLine, 1.4),  # yellow: unreadable on light
}

SERIES = {
    "margin_ratio": LineStyle("margin ratio", OKABE_ITO["blue"], Qt.PenStyle.SolidLine, 2.0),
    "distance": LineStyle("distance to liquidation", OKABE_ITO["orange"], Qt.PenStyle.DashLine, 2.0),
    "mark": LineStyle("mark", "text", Qt.PenStyle.SolidLine, 1.8),
    "liquidation": LineStyle("liquidation (desk)", OKABE_ITO["vermillion"], Qt.PenStyle.DashLine, 2.0),
    "liquidation_exchange": LineStyle("liquidation (exchange)", OKABE_ITO["orange"], Qt.PenStyle.DotLine,
                                      1.6),
    # wider than the dashed beta curve drawn over it, so both show where they coincide
    "uniform": LineStyle("uniform shock", OKABE_ITO["blue"], Qt.PenStyle.SolidLine, 3.6),
    "beta": LineStyle("BTC move × beta", OKABE_ITO["reddish_purple"], Qt.PenStyle.DashLine, 2.2),
    "limit": LineStyle("liquidation (ratio 1.0)", OKABE_ITO["vermillion"], Qt.PenStyle.DashDotLine, 1.4),
}


def text_color() -> QColor:
    app = QApplication.instance()
    if isinstance(app, QApplication):
        return app.palette().text().color()
    return QColor("#16181C")


def background_color() -> QColor:
    app = QApplication.instance()
    if isinstance(app, QApplication):
        return app.palette().base().color()
    return QColor("#FFFFFF")


def color_of(style: LineStyle) -> QColor:
    return text_color() if style.color == "text" else QColor(style.color)


def pen(style: LineStyle, *, width: float | None = None) -> QPen:
    p = QPen(color_of(style))
    p.setWidthF(width if width is not None else style.width)
    p.setStyle(style.dash)
    p.setCosmetic(True)
    return p


def label_font(point_size: float = 9.0, *, bold: bool = False) -> QFont:
    font = QFont()
    font.setPointSizeF(point_size)
    font.setBold(bold)
    return font


def plot_widget(*, axis_items: dict[str, pg.AxisItem] | None = None) -> pg.PlotWidget:
    """A PlotWidget in the application's colours (readable on the dark and the light theme)."""
    widget = pg.PlotWidget(axisItems=axis_items)
    for name in ("left", "bottom", "right"):
        widget.getPlotItem().getAxis(name).setTickFont(label_font(9))
    widget.showGrid(x=True, y=True, alpha=0.18)
    # pyqtgraph's unexplained "A" (auto-range) corner button: hidden; each chart fits its data
    # itself and says how to reset (History's "Reset zoom", the ladder's reset to mark)
    widget.getPlotItem().hideButtons()
    style_plot(widget)
    return widget


def style_plot(widget: pg.PlotWidget) -> None:
    """Paint ``widget`` in the current theme: background, axis lines, tick text and axis titles.

    Called when built and again whenever the theme changes (and after ``setLabel``, which resets
    an axis title's style)."""
    widget.setBackground(background_color())
    fg = text_color()
    for name in ("left", "bottom", "right", "top"):
        axis = widget.getPlotItem().getAxis(name)
        axis.setPen(pg.mkPen(fg))
        axis.setTextPen(pg.mkPen(fg))


def follow_theme(restyle: Callable[[object], None]) -> None:
    """Call ``restyle`` (a chart widget's bound method: the connection ends with the widget)
    whenever ``ui.theme`` or the OS colour scheme switches the theme."""
    from desk.ui.theme import theme_events

    theme_events().changed.connect(restyle)


def legend_swatch_html(style: LineStyle, text: str | None = None) -> str:
    """A legend entry in rich text: the line's dash drawn with characters, in its colour, then its name."""
    glyph = {
        Qt.PenStyle.SolidLine: "━━━",
        Qt.PenStyle.DashLine: "╍╍╍",
        Qt.PenStyle.DotLine: "┈┈┈",
        Qt.PenStyle.DashDotLine: "━·━",
        Qt.PenStyle.DashDotDotLine: "━··",
    }.get(style.dash, "───")
    return (f'<span style="color:{color_of(style).name()}; font-weight:700">{glyph}</span>'
            f"&nbsp;{text or style.label}")
