"""The price ladder of one position: mark, entry, break-even, liquidation (desk's and the exchange's),
bankruptcy, and a what-if price line to drag.

Dragging the what-if line re-evaluates the position's account through the engine
(:class:`desk.domain.whatif.MarkProbe`, the same figures as ``compute_risk(apply_what_if(...))``) and
shows the position's liquidation, distance, margin ratio and its pool's ratio beside the line.
Items are created once and updated in place (pyqtgraph's ``scrollingPlots`` advice).
"""

from __future__ import annotations

import html
import math
import time
from collections.abc import Callable

import pyqtgraph as pg
from PySide6.QtCore import QPointF, Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QSizePolicy, QVBoxLayout, QWidget

from desk.domain.funding import funding_origin, pool_funding_drift, position_funding_drift
from desk.domain.model import Account, Portfolio, Position
from desk.domain.protection import loss_text, verdict_text
from desk.domain.report import FundingDrift, PoolFundingDrift, PositionRisk
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
from desk.ui.levels import Level
from desk.ui.theme import current_theme

# where each level's label sits at first (fraction of the width) and which side of its line;
# place_labels then moves labels so none overlaps another or is struck through by a line
_LABEL_AT = {
    "mark": (0.01, "above"),
    "entry": (0.01, "above"),
    "break_even": (0.34, "below"),
    "liquidation": (0.01, "below"),
    "liquidation_exchange": (0.34, "above"),
    "bankruptcy": (0.34, "below"),
    "whatif_liquidation": (0.34, "below"),
}
_LEVELS = ("mark", "entry", "break_even", "liquidation", "liquidation_exchange", "bankruptcy")
# who gets the best place first: the liquidation, then the mark, then the rest
_PLACE_ORDER = ("liquidation", "mark", "whatif_liquidation", "liquidation_exchange", "entry",
                "bankruptcy", "break_even")
_LANES = (0.01, 0.34, 0.67)  # where a label may start, as a fraction of the plot's width
_NUDGES = (0.0, 3.0, 6.0)  # pixels a label may stand off its line when lines lie a pixel apart

#: the selected position's funding drift is recomputed at most this often while only marks move
FUNDING_EVERY_SECONDS = 2.0

Rect = tuple[float, float, float, float]  # x0, y0, x1, y1 in pixels (y grows downwards)


def place_labels(labels: list[tuple[str, float, float, float]], width: float, lines: list[float],
                 taken: list[Rect], *, right: frozenset[str] = frozenset(),
                 crossable: frozenset[str] = frozenset()) -> dict[str, tuple[float, str, float] | None]:
    """Where each label goes: (its left edge as a fraction of the width, "above" | "below" its
    line, pixels off the line), or None when there is no room (its figure is still in the legend
    beside the plot).

    ``labels``: (name, the line's y, the label's width, height), in the order they choose; ``lines``:
    the y of every line drawn; ``taken``: rectangles already used; ``right``: labels that try the
    right edge first; ``crossable``: labels on a filled background, which take the place crossed
    by the fewest lines when none is clear. A label never overlaps another, and no line crosses
    any other label: with no such place left it is not drawn.
    """
    placed: dict[str, tuple[float, str, float] | None] = {}
    used = list(taken)

    def rect(x: float, y: float, w: float, h: float, side: str, nudge: float) -> Rect:
        if side == "above":
            return (x, y - h - nudge, x + w, y - nudge)
        return (x, y + nudge, x + w, y + h + nudge)

    def free(r: Rect) -> bool:
        return all(r[2] <= u[0] or u[2] <= r[0] or r[3] <= u[1] or u[3] <= r[1] for u in used)

    def strikes(r: Rect) -> int:
        return sum(1 for y in lines if r[1] + 0.5 < y < r[3] - 0.5)

    for name, y, w, h in labels:
        first_side = _LABEL_AT.get(name, (0.0, "above"))[1]
        sides = (first_side, "below" if first_side == "above" else "above")
        edge = max(0.0, width - w - 2)
        # the lanes, then just right of each label already placed (side by side, not stacked)
        xs = [*([edge] if name in right else []), *(lane * width for lane in _LANES),
              *(u[2] + 6 for u in used)]
        xs = list(dict.fromkeys(min(x, edge) for x in xs))
        candidates = [(strikes(r), nudge, i, x, side, r)
                      for nudge in _NUDGES for i, (side, x) in enumerate((s, x) for s in sides for x in xs)
                      for r in [rect(x, y, w, h, side, nudge)] if free(r)]
        if name not in crossable:
            candidates = [c for c in candidates if c[0] == 0]
        if not candidates:
            placed[name] = None
            continue
        _, nudge, _, x, side, r = min(candidates, key=lambda c: (c[0], c[1], c[2]))
        used.append(r)
        placed[name] = (x / width if width else 0.0, side, nudge)
    return placed


#: one label/value row of the side panel: the value never wraps, and never touches its label
ROW = "<tr><td>{}</td><td align='right' style='padding-left:8px; white-space:nowrap'>{}</td></tr>"


class PriceAxis(pg.AxisItem):  # type: ignore[misc]  # pyqtgraph ships no type hints
    """Prices on the axis as everywhere else: thousands separators, decimals from the tick spacing."""

    def tickStrings(self, values: list[float], scale: float, spacing: float) -> list[str]:
        return [fmt.price(v * scale, spacing * scale) for v in values]


class LadderWidget(QWidget):
    """The ladder for the selected position; :meth:`show_position` follows the selection and updates."""

    whatif_changed = Signal(object)  # ProbeFigures at the what-if price

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.risk: PositionRisk | None = None
        self.position: Position | None = None
        self.probe: MarkProbe | None = None
        self.figures: ProbeFigures | None = None
        # the selected position's funding drift at its current rate (desk.domain.funding), computed
        # here for this one position only: the table's live tick never runs it
        self.funding: FundingDrift | None = None
        self.clock: Callable[[], float] = time.time  # the time to the next payment counts from it
        self._funding_for: tuple[object, ...] | None = None  # (position key, rate) of self.funding
        self._funding_at = -math.inf  # time.monotonic() when it was computed
        # a cross position's pool under the funding of all its cross positions (None: isolated, an
        # account-wide pool, or no known schedule), throttled as self.funding
        self.pool_funding: PoolFundingDrift | None = None
        self._pool_funding_for: tuple[object, ...] | None = None
        self._pool_funding_at = -math.inf
        self.levels: dict[str, float | None] = {}
        self.displayed: dict[str, str] = {}  # what the labels say, by level / figure name
        self._pinned = False  # the user moved the what-if line: keep it across updates
        self._setting_line = False

        self.plot = plot_widget(axis_items={"right": PriceAxis("right")})
        # the risk level of figures at the what-if price (the window's thresholds): the line's colour
        self.level_for: Callable[[PositionRisk, ProbeFigures], Level] | None = None
        self.whatif_level = Level.OK
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
                                      labelOpts={"position": 0.6, "color": color_of(style),
                                                 "anchors": [(0, 1), (0, 1)], "fill": fill})
        self.whatif.label.setFont(label_font(9.5, bold=True))
        self.whatif.setZValue(20)
        self.whatif.setVisible(False)
        self.whatif.setToolTip("Drag to try a mark price: the figures beside the line are recomputed")
        self.whatif.sigPositionChanged.connect(self._line_moved)
        item.addItem(self.whatif)
        view = item.getViewBox()
        view.sigRangeChanged.connect(self.place_labels)
        view.sigResized.connect(self.place_labels)
        self.label_places: dict[str, tuple[float, str, float] | None] = {}

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
        self.reset_button = QPushButton("Reset to mark")
        self.reset_button.setToolTip("Put the what-if line back on the mark price")
        self.reset_button.clicked.connect(self.reset_whatif)
        # said once, as a tooltip: the side panel keeps its height for the figures
        self.whatif_box.setToolTip("Drag the dashed what-if line to try another price; its colour is the "
                                   "risk at that price (the alert thresholds).")

        side = QWidget()
        side.setMinimumWidth(330)
        side.setMaximumWidth(400)
        side.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Expanding)
        side_layout = QVBoxLayout(side)
        side_layout.setContentsMargins(8, 4, 4, 4)
        side_layout.addWidget(self.title)
        side_layout.addWidget(self.side)
        what_if_row = QHBoxLayout()  # the reset beside the what-if figures, not below them
        what_if_row.addWidget(self.whatif_box, 1)
        what_if_row.addWidget(self.reset_button, 0, Qt.AlignmentFlag.AlignTop)
        side_layout.addLayout(what_if_row)
        side_layout.addStretch(1)
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
            position = find_position(portfolio, risk.account, risk.symbol, risk.leg,
                                     margin_mode=risk.margin_mode)
        except KeyError:
            self.show_position(None, None)
            return
        self.risk = risk
        self.position = position
        self.probe = MarkProbe(account, risk.symbol, risk.leg, margin_mode=risk.margin_mode)
        self.funding = risk.funding_drift or self._drift(account, risk)
        self.pool_funding = self._pool_drift(portfolio, account, risk)
        if not same:
            self._pinned = False
        self._show_empty(False)
        self._update_levels()
        price = self.whatif.value() if self._pinned else risk.mark_price
        self._set_line(price)
        self._fit_range()

    def _drift(self, account: Account, risk: PositionRisk) -> FundingDrift | None:
        """The drift at the position's rate: again when the position or its rate changes, else at most
        every :data:`FUNDING_EVERY_SECONDS` (four engine runs of the account; it moves with the mark
        only slowly, and the ladder follows every live tick)."""
        wanted = (risk.key, risk.funding_rate)
        now = time.monotonic()
        if wanted != self._funding_for or now - self._funding_at >= FUNDING_EVERY_SECONDS:
            self.funding = position_funding_drift(account, risk)
            self._funding_for, self._funding_at = wanted, now
        return self.funding

    def _pool_drift(self, portfolio: Portfolio, account: Account,
                    risk: PositionRisk) -> PoolFundingDrift | None:
        """A cross position's pool under all its cross positions' funding (desk.domain.funding): again
        when the pool's schedule changes, else at most every :data:`FUNDING_EVERY_SECONDS`."""
        if risk.margin_mode != "cross" or account.pooled:
            self._pool_funding_for = None
            return None
        members = tuple((p.symbol, p.leg, p.funding_rate, p.next_funding_time, p.funding_interval_hours)
                        for p in account.positions
                        if p.margin_mode.value == "cross" and p.settle == risk.settle)
        wanted = (risk.account, risk.settle, members)
        now = time.monotonic()
        if wanted != self._pool_funding_for or now - self._pool_funding_at >= FUNDING_EVERY_SECONDS:
            origin = funding_origin(account, portfolio, self.clock())
            assert origin is not None  # the clock is the last resort
            self.pool_funding = pool_funding_drift(account, risk.settle, origin)
            self._pool_funding_for, self._pool_funding_at = wanted, now
        return self.pool_funding

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
        rows.extend(self._funding_rows())
        self.side.setText(f"<div>{risk.account}</div><table cellspacing='0'>{''.join(rows)}</table>")

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
        cell = ROW
        return [
            cell.format(legend_swatch_html(LADDER["stop"], "stop"), verdict),
            cell.format("loss if the stops fill", self.displayed["stop_fill_loss"]),
            cell.format("loss if liquidated", self.displayed["liquidation_loss"]),
        ]

    def _funding_rows(self) -> list[str]:
        """The current funding rate, the time to the next payment and where paying it moves the
        liquidation price (after 1, 3 and 24 payments); nothing when the venue gave no rate."""
        risk = self.risk
        assert risk is not None
        for name in ("funding_rate", "next_funding", "funding_after", "funding_alone"):
            self.displayed.pop(name, None)
        if risk.funding_rate is None:
            return []
        cell = ROW
        self.displayed["funding_rate"] = fmt.funding_rate(risk.funding_rate, risk.funding_interval_hours)
        rows = [cell.format("funding (longs pay if +)", self.displayed["funding_rate"])]
        if risk.next_funding_time is not None:
            wait = fmt.age(risk.next_funding_time - self.clock())
            self.displayed["next_funding"] = f"{fmt.utc_clock(risk.next_funding_time)} · in {wait}"
            rows.append(cell.format("next funding", self.displayed["next_funding"]))
        drift = self.funding
        if drift is not None:
            counts = " / ".join(str(n) for n, _ in drift.liquidation_after)
            self.displayed["funding_after"] = " / ".join(
                fmt.price(liq, risk.tick_size) for _, liq in drift.liquidation_after)
            rows.append(cell.format(f"liquidation after {counts} payments", self.displayed["funding_after"]))
            if drift.payments_to_liquidation is not None:
                self.displayed["funding_alone"] = f"{drift.payments_to_liquidation:,.1f} payments"
                rows.append(cell.format("funding alone liquidates after", self.displayed["funding_alone"]))
        return rows + self._pool_funding_rows()

    def _pool_funding_rows(self) -> list[str]:
        """A cross position's pool under the funding of every cross position in it, each paying on its
        own schedule: the pool's ratio and this position's liquidation after 1 / 8 / 24 h of payments,
        when funding alone liquidates the pool, and whose funding is unknown."""
        risk, drift = self.risk, self.pool_funding
        assert risk is not None
        for name in ("pool_funding_ratio", "pool_funding_after", "pool_funding_alone",
                     "pool_funding_unknown"):
            self.displayed.pop(name, None)
        if drift is None:
            return []
        cell = ROW
        horizons = " / ".join(f"{s.hours:g}" for s in drift.after) + " h"  # "1 / 8 / 24 h"
        ratios = " / ".join(fmt.margin_ratio(s.margin_ratio) for s in drift.after)
        self.displayed["pool_funding_ratio"] = ratios
        rows = [cell.format(f"pool ratio after {horizons}", ratios)]
        mine = [price for s in drift.after for symbol, leg, price in s.liquidation_prices
                if (symbol, leg) == (risk.symbol, risk.leg)]
        if len(mine) == len(drift.after):
            self.displayed["pool_funding_after"] = " / ".join(fmt.price(x, risk.tick_size) for x in mine)
            rows.append(cell.format(f"liq. after {horizons} (pool)",
                                    self.displayed["pool_funding_after"]))
        if drift.liquidation_time is not None:
            self.displayed["pool_funding_alone"] = (f"{fmt.hours(drift.hours_to_liquidation)} · "
                                                   f"{fmt.utc_datetime(drift.liquidation_time)}")
        else:
            self.displayed["pool_funding_alone"] = drift.note or "never (the pool receives)"
        rows.append(cell.format("pool funding alone liquidates", self.displayed["pool_funding_alone"]))
        if drift.unknown:
            self.displayed["pool_funding_unknown"] = ", ".join(symbol for symbol, _ in drift.unknown)
            rows.append(cell.format("funding unknown (counted as none)",
                                    html.escape(self.displayed["pool_funding_unknown"])))
        return rows

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
        beyond = figures.liquidatable
        shown["whatif_state"] = (f"{fmt.PAST_LIQUIDATION} at this price (margin ratio "
                                 f"{shown['whatif_margin_ratio']})") if beyond else ""
        self.displayed["whatif_state"] = shown["whatif_state"]
        warn = f"  ·  ⚠ {fmt.PAST_LIQUIDATION}" if beyond else ""
        self._colour_whatif(figures)
        # short: the side panel beside the plot has every figure at this price
        self.whatif.label.setFormat(
            f"what-if {shown['whatif_price']}{warn}  ·  liq {shown['whatif_liquidation']} "
            f"({shown['whatif_distance']})")
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
        pool_row = (ROW.format('pool margin ratio', shown['whatif_pool_ratio'])
                    if figures.pool_ratio is not None else "")
        heading = legend_swatch_html(LADDER["whatif"], f"<b>what-if mark {shown['whatif_price']}</b>")
        self.whatif_box.setText(
            f"<div>{heading}"
            f"</div><table cellspacing='0'>"
            f"{ROW.format('liquidation', shown['whatif_liquidation'])}"
            f"{ROW.format('distance', shown['whatif_distance'])}"
            f"{ROW.format('margin ratio', shown['whatif_margin_ratio'])}"
            f"{pool_row}"
            f"{ROW.format('unrealized PnL', shown['whatif_pnl'])}</table>"
            + (f"<div><b>⚠ {shown['whatif_state']}</b></div>" if beyond else ""))
        self.place_labels()
        self.whatif_changed.emit(figures)

    def _colour_whatif(self, figures: ProbeFigures) -> None:
        """The what-if line in the risk colour of its price (green, orange, red by the thresholds)."""
        assert self.risk is not None
        level = self.level_for(self.risk, figures) if self.level_for is not None else Level.OK
        if figures.liquidatable:
            level = Level.CRITICAL
        self.whatif_level = level
        style = LADDER["whatif"]
        color = current_theme().level_color(level)
        line_pen = pen(style)
        line_pen.setColor(color)
        self.whatif.setPen(line_pen)
        hover = pen(style, width=style.width + 2)
        hover.setColor(color)
        self.whatif.setHoverPen(hover)
        self.whatif.label.setColor(color)
        fill = QColor(color)
        fill.setAlpha(40)
        self.whatif.label.fill = pg.mkBrush(fill)

    def _fit_range(self) -> None:
        values = [v for v in self.levels.values() if v is not None and math.isfinite(v)]
        if not values:
            return
        lo, hi = min(values), max(values)
        span = max(hi - lo, abs(hi) * 0.02)
        self.plot.getPlotItem().setYRange(lo - span * 0.12, hi + span * 0.12, padding=0)
        self.place_labels()

    def place_labels(self, *_: object) -> None:
        """Put the lines' labels where none overlaps another and no line strikes one through."""
        view = self.plot.getPlotItem().getViewBox()
        width = view.width()
        if width <= 0 or not self.plot.isVisible():
            return

        def y_of(value: float) -> float:
            return float(view.mapViewToDevice(QPointF(0.0, value)).y()
                         - view.mapViewToDevice(QPointF(0.0, view.viewRange()[1][1])).y())

        shown = {n: line for n, line in self.lines.items() if line.isVisible() and line.label.format}
        # the stop and take-profit lines (issue 17) go through the same placement, after the levels
        orders = [f"{kind} {i}" for kind, lines in self.order_lines.items()
                  for i, line in enumerate(lines) if line.isVisible() and line.label.format]
        shown.update({name: self.order_lines[name.split()[0]][int(name.split()[1])] for name in orders})
        if self.whatif.isVisible():
            shown = {"whatif": self.whatif, **shown}  # at the right edge if it can
        lines_y = [y_of(line.value()) for line in shown.values()]
        labels = []
        for name in ("liquidation", "whatif", *_PLACE_ORDER[1:], *orders):
            line = shown.get(name)
            if line is None:
                continue
            line.label.setVisible(True)
            box = line.label.boundingRect()
            labels.append((name, y_of(line.value()), box.width(), box.height()))
        self.label_places = place_labels(labels, width, lines_y, [], right=frozenset({"whatif"}),
                                         crossable=frozenset({"whatif"}))
        for name, place in self.label_places.items():
            label = shown[name].label
            if place is None:
                label.setVisible(False)
                continue
            # the anchor, in the label's own height: a few pixels off the line when another line
            # lies right beside it
            off = place[2] / max(label.boundingRect().height(), 1.0)
            anchor = (0.0, 1.0 + off) if place[1] == "above" else (0.0, -off)
            label.anchors = [anchor, anchor]
            label.setPosition(place[0])
