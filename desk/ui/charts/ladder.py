"""The price ladder of one position: mark, entry, break-even, liquidation (desk's and the exchange's),
bankruptcy, and a what-if price line to drag.

Dragging the what-if line re-evaluates the position's account through the engine
(:class:`desk.domain.whatif.MarkProbe`, the same figures as ``compute_risk(apply_what_if(...))``) and
shows the position's liquidation, distance, margin ratio and its pool's ratio beside the line.
Items are created once and updated in place (pyqtgraph's ``scrollingPlots`` advice).
"""

from __future__ import annotations

import math

import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QSizePolicy, QVBoxLayout, QWidget

from desk.domain.model import Portfolio, Position
from desk.domain.protection import loss_text, verdict_text
from desk.domain.report import PositionRisk
from desk.domain.whatif import MarkProbe, ProbeFigures, break_even_price, find_position
from desk.ui import formatting as fmt
from desk.ui.charts.style import (
    LADDER,
    color_of,
    follow_theme,
    label_font,
    legend_swatch_html,
    pen,
    plot_widget,
    style_plot,
)

# where each level's label sits along the line (fraction of the width) and which side of it
_LABEL_AT = {
    "mark": (0.02, "above"),
    "entry": (0.02, "above"),
    "break_even": (0.30, "below"),
    "liquidation": (0.02, "below"),
    "liquidation_exchange": (0.36, "above"),
    "bankruptcy": (0.36, "below"),
    "whatif_liquidation": (0.55, "below"),
}
_LEVELS = ("mark", "entry", "break_even", "liquidation", "liquidation_exchange", "bankruptcy")


class LadderWidget(QWidget):
    """The ladder for the selected position; :meth:`show_position` follows the selection and updates."""

    whatif_changed = Signal(object)  # ProbeFigures at the what-if price

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.risk: PositionRisk | None = None
        self.position: Position | None = None
        self.probe: MarkProbe | None = None
        self.figures: ProbeFigures | None = None
        self.levels: dict[str, float | None] = {}
        self.displayed: dict[str, str] = {}  # what the labels say, by level / figure name
        self._pinned = False  # the user moved the what-if line: keep it across updates
        self._setting_line = False

        self.plot = plot_widget()
        item = self.plot.getPlotItem()
        item.hideAxis("bottom")
        item.showAxis("right")
        item.hideAxis("left")
        item.setMouseEnabled(x=False, y=True)
        item.setXRange(0, 1, padding=0)
        item.getViewBox().setLimits(xMin=0, xMax=1)
        item.setMenuEnabled(False)
        self.lines: dict[str, pg.InfiniteLine] = {}
        # the position's stops and take-profits (issue 17): lines made as needed, hidden when unused
        self.order_lines: dict[str, list[pg.InfiniteLine]] = {"stop": [], "take_profit": []}
        for name in (*_LEVELS, "whatif_liquidation"):
            style = LADDER[name]
            at, where = _LABEL_AT[name]
            line = pg.InfiniteLine(angle=0, pen=pen(style), movable=False, label="",
                                   labelOpts={"position": at, "color": color_of(style),
                                              "anchors": [(0, 1), (0, 1)] if where == "above" else
                                              [(0, 0), (0, 0)]})
            line.label.setFont(label_font(9, bold=name in ("mark", "liquidation")))
            line.setZValue(10 if name == "liquidation" else 5)
            line.setVisible(False)
            item.addItem(line)
            self.lines[name] = line
        style = LADDER["whatif"]
        hover = pen(style, width=style.width + 2)
        fill = QColor(color_of(style))
        fill.setAlpha(40)
        self.whatif = pg.InfiniteLine(angle=0, pen=pen(style), hoverPen=hover, movable=True,
                                      bounds=(1e-12, None), label="",
                                      labelOpts={"position": 0.98, "color": color_of(style),
                                                 "anchors": [(1, 1), (1, 1)], "fill": fill})
        self.whatif.label.setFont(label_font(9.5, bold=True))
        self.whatif.setZValue(20)
        self.whatif.setVisible(False)
        self.whatif.setToolTip("Drag to try a mark price: the figures beside the line are recomputed")
        self.whatif.sigPositionChanged.connect(self._line_moved)
        item.addItem(self.whatif)

        self.empty = QLabel("Select a position in the table to see its price ladder.")
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.setObjectName("muted")
        self.title = QLabel("")
        self.title.setFont(label_font(10.5, bold=True))
        self.side = QLabel("")
        self.side.setTextFormat(Qt.TextFormat.RichText)
        self.side.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.side.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.side.setWordWrap(True)
        self.whatif_box = QLabel("")
        self.whatif_box.setTextFormat(Qt.TextFormat.RichText)
        self.whatif_box.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.whatif_box.setWordWrap(True)
        self.reset_button = QPushButton("Reset what-if to mark")
        self.reset_button.clicked.connect(self.reset_whatif)

        side = QWidget()
        side.setMinimumWidth(270)
        side.setMaximumWidth(360)
        side.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Expanding)
        side_layout = QVBoxLayout(side)
        side_layout.setContentsMargins(8, 4, 4, 4)
        side_layout.addWidget(self.title)
        side_layout.addWidget(self.side)
        side_layout.addWidget(self.whatif_box)
        side_layout.addStretch(1)
        side_layout.addWidget(self.reset_button)
        self.side_panel = side

        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.empty, 1)
        row.addWidget(self.plot, 3)
        row.addWidget(side, 0)
        self._show_empty(True)
        follow_theme(self.restyle)

    def restyle(self, theme: object = None) -> None:
        """The theme changed: background, axes and the lines drawn in the text colour follow it."""
        style_plot(self.plot)
        for name, line in self.lines.items():
            line.setPen(pen(LADDER[name]))
            line.label.setColor(color_of(LADDER[name]))
        for name, order_lines in self.order_lines.items():
            for line in order_lines:
                line.setPen(pen(LADDER[name]))
                line.label.setColor(color_of(LADDER[name]))
        if self.risk is not None and self.position is not None:
            self._update_levels()  # the legend table's swatches

    # -- data ------------------------------------------------------------------------------

    def show_position(self, portfolio: Portfolio | None, risk: PositionRisk | None) -> None:
        """Show ``risk`` (the engine's figures) for its position in ``portfolio``; None clears."""
        if portfolio is None or risk is None:
            self.risk = self.position = self.probe = None
            self._show_empty(True)
            return
        same = self.risk is not None and self.risk.key == risk.key
        try:
            account = portfolio.account(risk.account)
            position = find_position(portfolio, risk.account, risk.symbol, risk.leg)
        except KeyError:
            self.show_position(None, None)
            return
        self.risk = risk
        self.position = position
        self.probe = MarkProbe(account, risk.symbol, risk.leg)
        if not same:
            self._pinned = False
        self._show_empty(False)
        self._update_levels()
        price = self.whatif.value() if self._pinned else risk.mark_price
        self._set_line(price)
        self._fit_range()

    def set_whatif_price(self, price: float) -> ProbeFigures | None:
        """Move the what-if line to ``price`` as a drag would (also for tests and the benchmark)."""
        self._pinned = True
        self.whatif.setValue(price)  # emits sigPositionChanged → _line_moved
        return self.figures

    def reset_whatif(self) -> None:
        if self.risk is not None:
            self._pinned = False
            self._set_line(self.risk.mark_price)

    # -- drawing ---------------------------------------------------------------------------

    def _show_empty(self, empty: bool) -> None:
        self.empty.setVisible(empty)
        self.plot.setVisible(not empty)
        self.side_panel.setVisible(not empty)

    def _update_levels(self) -> None:
        risk, position = self.risk, self.position
        assert risk is not None and position is not None
        tick = risk.tick_size
        be, fee_known = break_even_price(position)
        self.levels = {
            "mark": risk.mark_price,
            "entry": risk.entry_price,
            "break_even": be,
            "liquidation": risk.liquidation_price,
            "liquidation_exchange": risk.reported_liquidation_price,
            "bankruptcy": risk.bankruptcy_price,
        }
        be_label = "break-even (fees incl.)" if fee_known else "break-even = entry (no fee rate known)"
        names = {**{k: LADDER[k].label for k in _LEVELS}, "break_even": be_label}
        self.displayed = {}
        for name in _LEVELS:
            value = self.levels[name]
            line = self.lines[name]
            text = fmt.price(value, tick)
            self.displayed[name] = text
            if value is None:
                line.setVisible(False)
                continue
            if name == "break_even" and not fee_known:
                line.setVisible(False)  # it would sit exactly on the entry line
                continue
            line.setVisible(True)  # before the label text: a hidden label ignores new text
            line.setValue(value)
            extra = ""
            if name == "liquidation":
                sd = risk.signed_distance_to_liquidation
                extra = (f"  ·  {fmt.distance_with_state(sd, True)}" if risk.liquidatable
                         else f"  ·  {fmt.distance(sd)} away")
            line.label.setFormat(f"{names[name]}  {text}{extra}")
        side = "long" if risk.side == "long" else "short"
        leg = f" ({risk.leg} leg)" if risk.leg != "both" else ""
        self.title.setText(f"{risk.symbol}{leg} · {side} · {risk.margin_mode}")
        rows = []
        for name in _LEVELS:
            value = self.levels[name]
            text = self.displayed[name]
            if value is None:
                text = {"liquidation": "none reachable",
                        "liquidation_exchange": "not reported",
                        "bankruptcy": "none reachable"}.get(name, fmt.DASH)
            rows.append(f"<tr><td>{legend_swatch_html(LADDER[name], names[name])}</td>"
                        f"<td align='right'>&nbsp;{text}</td></tr>")
        rows.append(f"<tr><td>distance to liquidation</td><td align='right'>"
                    f"{fmt.distance_with_state(risk.signed_distance_to_liquidation, risk.liquidatable)}"
                    "</td></tr>")
        rows.append(f"<tr><td>margin ratio ({'own' if risk.margin_mode == 'isolated' else 'pool'})</td>"
                    f"<td align='right'>{fmt.margin_ratio(risk.margin_ratio)}</td></tr>")
        rows.extend(self._update_orders())
        self.side.setText(f"<div>{risk.account}</div><table cellspacing='2'>{''.join(rows)}</table>")

    def _order_line(self, kind: str, i: int) -> pg.InfiniteLine:
        lines = self.order_lines[kind]
        while len(lines) <= i:
            style = LADDER[kind]
            line = pg.InfiniteLine(angle=0, pen=pen(style), movable=False, label="",
                                   labelOpts={"position": 0.75, "color": color_of(style),
                                              "anchors": [(1, 1), (1, 1)]})
            line.label.setFont(label_font(9))
            line.setZValue(6)
            self.plot.getPlotItem().addItem(line)
            lines.append(line)
        return lines[i]

    def _update_orders(self) -> list[str]:
        """Stop and take-profit lines; the side panel's rows comparing a stop fill with liquidation."""
        risk = self.risk
        assert risk is not None
        pr = risk.protection
        tick = risk.tick_size
        levels: dict[str, list[tuple[float, str]]] = {"stop": [], "take_profit": []}
        if pr is not None:
            for order, trigger in zip(pr.stops, pr.stop_triggers, strict=True):
                if trigger is not None:
                    size = "all" if order.contracts is None else fmt.quantity(order.contracts)
                    levels["stop"].append((trigger, f"{order.kind.value.replace('_', ' ')} {size}"))
            for order in pr.take_profits:
                if order.trigger_price is not None:
                    size = "all" if order.contracts is None else fmt.quantity(order.contracts)
                    levels["take_profit"].append((order.trigger_price, f"take-profit {size}"))
        for kind, wanted in levels.items():
            for i, (value, what) in enumerate(wanted):
                line = self._order_line(kind, i)
                line.setVisible(True)
                line.setValue(value)
                line.label.setFormat(f"{what}  {fmt.price(value, tick)}")
                self.levels[f"{kind} {i}"] = value  # in the fitted range
            for line in self.order_lines[kind][len(wanted):]:
                line.setVisible(False)
        self.displayed["stop_levels"] = ", ".join(fmt.price(v, tick) for v, _ in levels["stop"])
        if pr is None:
            self.displayed["protection"] = "orders not read"
            return ["<tr><td>stop</td><td align='right'>orders not read</td></tr>"]
        verdict = verdict_text(pr, tick)
        self.displayed["protection"] = verdict
        self.displayed["stop_fill_loss"] = fmt.money(pr.stop_fill_loss, risk.settle)
        self.displayed["liquidation_loss"] = fmt.money(pr.liquidation_loss, risk.settle)
        self.displayed["losses"] = loss_text(pr, risk.settle)
        cell = "<tr><td>{}</td><td align='right'>{}</td></tr>"
        return [
            cell.format(legend_swatch_html(LADDER["stop"], "stop"), verdict),
            cell.format("loss if the stops fill", self.displayed["stop_fill_loss"]),
            cell.format("loss if liquidated", self.displayed["liquidation_loss"]),
        ]

    def _set_line(self, price: float) -> None:
        self._setting_line = True
        try:
            self.whatif.setVisible(True)
            if self.whatif.value() == price:
                self._line_moved()
            else:
                self.whatif.setValue(price)
        finally:
            self._setting_line = False

    def _line_moved(self, *_: object) -> None:
        if self.probe is None or self.risk is None:
            return
        if not self._setting_line:
            self._pinned = True
        price = float(self.whatif.value())
        if not price > 0:
            return
        figures = self.probe.at(price)
        self.figures = figures
        tick = self.risk.tick_size
        currency = self.risk.settle
        shown = {
            "whatif_price": fmt.price(price, tick),
            "whatif_liquidation": fmt.price(figures.liquidation_price, tick)
            if figures.liquidation_price is not None else "none reachable",
            "whatif_distance": fmt.distance_with_state(figures.signed_distance_to_liquidation,
                                                       figures.liquidatable),
            "whatif_margin_ratio": fmt.margin_ratio(figures.margin_ratio),
            "whatif_pool_ratio": fmt.margin_ratio(figures.pool_ratio),
            "whatif_pnl": fmt.money(figures.unrealized_pnl, currency, signed=True),
        }
        self.displayed.update(shown)
        pool = f"  ·  pool {shown['whatif_pool_ratio']}" if figures.pool_ratio is not None and \
            self.risk.margin_mode == "isolated" else ""
        beyond = figures.liquidatable
        shown["whatif_state"] = (f"{fmt.PAST_LIQUIDATION} at this price (margin ratio "
                                 f"{shown['whatif_margin_ratio']})") if beyond else ""
        self.displayed["whatif_state"] = shown["whatif_state"]
        warn = f"  ·  ⚠ {fmt.PAST_LIQUIDATION}" if beyond else ""
        self.whatif.label.setFormat(
            f"what-if {shown['whatif_price']}{warn}  ·  liq {shown['whatif_liquidation']} "
            f"({shown['whatif_distance']})  ·  ratio {shown['whatif_margin_ratio']}{pool}")
        ghost = self.lines["whatif_liquidation"]
        liq_now = self.levels.get("liquidation")
        moved = figures.liquidation_price is not None and (
            liq_now is None or abs(figures.liquidation_price - liq_now) > 1e-9 * abs(liq_now))
        if moved:
            assert figures.liquidation_price is not None
            ghost.setVisible(True)
            ghost.setValue(figures.liquidation_price)
            ghost.label.setFormat(f"liquidation at what-if {shown['whatif_liquidation']}")
        else:
            ghost.setVisible(False)
        pool_row = (f"<tr><td>pool margin ratio</td><td align='right'>{shown['whatif_pool_ratio']}</td></tr>"
                    if figures.pool_ratio is not None else "")
        heading = legend_swatch_html(LADDER["whatif"], f"<b>what-if mark {shown['whatif_price']}</b>")
        self.whatif_box.setText(
            f"<div>{heading}"
            f"</div><table cellspacing='2'>"
            f"<tr><td>liquidation</td><td align='right'>{shown['whatif_liquidation']}</td></tr>"
            f"<tr><td>distance</td><td align='right'>{shown['whatif_distance']}</td></tr>"
            f"<tr><td>margin ratio</td><td align='right'>{shown['whatif_margin_ratio']}</td></tr>"
            f"{pool_row}"
            f"<tr><td>unrealized PnL</td><td align='right'>{shown['whatif_pnl']}</td></tr></table>"
            + (f"<div><b>⚠ {shown['whatif_state']}</b></div>" if beyond else "") +
            "<div style='color:gray'>Drag the green line to try another price.</div>")
        self.whatif_changed.emit(figures)

    def _fit_range(self) -> None:
        values = [v for v in self.levels.values() if v is not None and math.isfinite(v)]
        if not values:
            return
        lo, hi = min(values), max(values)
        span = max(hi - lo, abs(hi) * 0.02)
        self.plot.getPlotItem().setYRange(lo - span * 0.12, hi + span * 0.12, padding=0)
