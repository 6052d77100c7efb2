"""Issue 19: the ladder's labels are placed, not stacked — none overlaps another, no line strikes
one through — the what-if line takes the risk colour of its price, and the axis writes prices as
the table does."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QRectF
from pytestqt.qtbot import QtBot

from desk.domain.engine import compute_risk
from desk.domain.model import Portfolio
from desk.ui import formatting as fmt
from desk.ui.charts.ladder import LadderWidget, place_labels
from desk.ui.levels import Level, figure_level, global_thresholds
from desk.ui.theme import current_theme
from tests.support.ui_charts import CROSS, VICTIM, position_risk


@pytest.fixture
def ladder(qtbot: QtBot) -> LadderWidget:
    widget = LadderWidget()
    thresholds = global_thresholds()
    widget.level_for = lambda risk, f: figure_level(f.signed_distance_to_liquidation, f.margin_ratio,
                                                    thresholds(risk.account, risk.symbol))
    qtbot.addWidget(widget)
    widget.resize(940, 260)  # the Ladder tab on a 1280×800 screen
    widget.show()
    return widget


def _label_rects(ladder: LadderWidget) -> dict[str, QRectF]:
    out = {name: line.label.sceneBoundingRect() for name, line in ladder.lines.items()
           if line.isVisible() and line.label.isVisible() and line.label.format}
    if ladder.whatif.isVisible() and ladder.whatif.label.isVisible():
        out["whatif"] = ladder.whatif.label.sceneBoundingRect()
    return out


def _line_ys(ladder: LadderWidget) -> dict[str, float]:
    lines = {n: line for n, line in ladder.lines.items() if line.isVisible()}
    if ladder.whatif.isVisible():
        lines["whatif"] = ladder.whatif
    return {n: line.sceneBoundingRect().center().y() for n, line in lines.items()}


def assert_placed(ladder: LadderWidget) -> None:
    rects = _label_rects(ladder)
    assert len(rects) >= 4
    names = list(rects)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            overlap = rects[a].intersected(rects[b])
            assert overlap.width() < 1 or overlap.height() < 1, (a, b, rects[a], rects[b])
    for name, rect in rects.items():
        if name == "whatif":
            continue
        for other, y in _line_ys(ladder).items():
            if other != name:
                assert not rect.top() + 1 < y < rect.bottom() - 1, f"{other} strikes through {name}"


@pytest.mark.parametrize("key", [VICTIM, CROSS])
def test_labels_never_overlap_and_no_line_strikes_one(ladder: LadderWidget, crash: Portfolio,
                                                      qtbot: QtBot, key: tuple[str, str, str]) -> None:
    risk = position_risk(compute_risk(crash), *key)
    ladder.show_position(crash, risk)
    qtbot.waitUntil(lambda: bool(ladder.label_places))
    assert_placed(ladder)
    # the labels that matter most always find a place
    assert ladder.lines["liquidation"].label.isVisible() and ladder.whatif.label.isVisible()
    # the what-if line moved next to the liquidation: still placed
    assert risk.liquidation_price is not None
    ladder.set_whatif_price(risk.liquidation_price * (1.004 if risk.side == "long" else 0.996))
    assert_placed(ladder)


def test_the_whatif_line_takes_the_risk_colour_of_its_price(ladder: LadderWidget, crash: Portfolio) -> None:
    risk = position_risk(compute_risk(crash), *VICTIM)
    ladder.show_position(crash, risk)
    assert risk.liquidation_price is not None
    near = risk.liquidation_price * (1.0159 if risk.side == "long" else 1 / 1.0159)  # ~1.6 % away
    figures = ladder.set_whatif_price(near)
    assert figures is not None and figures.distance_to_liquidation is not None
    assert figures.distance_to_liquidation < 0.02
    assert ladder.whatif_level is Level.CRITICAL
    assert ladder.whatif.pen.color() == current_theme().level_color(Level.CRITICAL)
    far = risk.mark_price * (1.5 if risk.side == "long" else 0.5)
    ladder.set_whatif_price(far)
    assert ladder.whatif_level is Level.OK
    assert ladder.whatif.pen.color() == current_theme().level_color(Level.OK)


def test_the_axis_writes_prices_with_thousands_separators(ladder: LadderWidget, crash: Portfolio) -> None:
    axis = ladder.plot.getPlotItem().getAxis("right")
    assert axis.tickStrings([63_000.0, 63_500.0], 1.0, 500.0) == ["63,000", "63,500"]
    assert axis.tickStrings([1_234.5], 1.0, 0.5) == [fmt.price(1_234.5, 0.5)] == ["1,234.5"]


def test_place_labels_moves_a_label_off_a_line_and_away_from_another() -> None:
    # liquidation at y=100, bankruptcy at y=104 just below: the liquidation label goes above its line
    places = place_labels([("liquidation", 100.0, 200.0, 16.0), ("bankruptcy", 104.0, 150.0, 16.0)],
                          900.0, [100.0, 104.0], [])
    assert places["liquidation"] == (pytest.approx(0.01), "above", 0.0)
    assert places["bankruptcy"] == (pytest.approx(0.01), "below", 0.0)
    # seven lines within 9 px: every label drawn has a place of its own that no other line crosses
    # (a few pixels off its line at most); the rest are not drawn (their figures are in the legend)
    crowd = [(n, 50.0 + i * 1.5, 180.0, 16.0) for i, n in enumerate(("a", "b", "c", "d", "e", "f", "g"))]
    ys = [y for _, y, _, _ in crowd]
    placed = place_labels(crowd, 900.0, ys, [])
    boxes = []
    for (name, y, w, h) in crowd:
        where = placed[name]
        if where is None:
            continue
        x, nudge = where[0] * 900.0, where[2]
        assert nudge <= 6.0
        box = ((x, y - h - nudge, x + w, y - nudge) if where[1] == "above"
               else (x, y + nudge, x + w, y + h + nudge))
        assert not any(box[1] + 0.5 < other < box[3] - 0.5 for other in ys), name
        boxes.append(box)
    assert len(boxes) >= 2
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            assert a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1], (a, b)
