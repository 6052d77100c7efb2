"""The price ladder shows the engine's numbers; dragging the what-if line shows apply_what_if's."""

from __future__ import annotations

import pytest
from pytestqt.qtbot import QtBot

from desk.domain.engine import compute_risk
from desk.domain.model import Portfolio
from desk.domain.scenario import apply_what_if
from desk.domain.whatif import break_even_price, find_position
from desk.ui import formatting as fmt
from desk.ui.charts.ladder import LadderWidget
from tests.support.ui_charts import CROSS, VICTIM, position_risk


@pytest.fixture
def ladder(qtbot: QtBot) -> LadderWidget:
    widget = LadderWidget()
    qtbot.addWidget(widget)
    widget.resize(900, 400)
    widget.show()
    return widget


@pytest.mark.parametrize("key", [VICTIM, CROSS])
def test_levels_are_the_engines(ladder: LadderWidget, crash: Portfolio, key: tuple[str, str, str]) -> None:
    risk = position_risk(compute_risk(crash), *key)
    ladder.show_position(crash, risk)
    tick = risk.tick_size
    assert risk.liquidation_price is not None and risk.bankruptcy_price is not None
    expected = {
        "mark": risk.mark_price, "entry": risk.entry_price, "liquidation": risk.liquidation_price,
        "liquidation_exchange": risk.reported_liquidation_price, "bankruptcy": risk.bankruptcy_price,
    }
    for name, value in expected.items():
        assert ladder.lines[name].value() == pytest.approx(value, rel=1e-12)
        assert ladder.displayed[name] == fmt.price(value, tick)
        assert fmt.price(value, tick) in ladder.lines[name].label.format
    be, fee_known = break_even_price(find_position(crash, *key))
    assert fee_known and ladder.lines["break_even"].value() == pytest.approx(be)
    assert "fees incl." in ladder.lines["break_even"].label.format
    assert fmt.price(risk.liquidation_price, tick) in ladder.side.text()
    # the what-if line starts on the mark
    assert ladder.whatif.value() == pytest.approx(risk.mark_price)


@pytest.mark.parametrize("key,factor", [(VICTIM, 1.05), (VICTIM, 0.97), (CROSS, 0.8), (CROSS, 1.3)])
def test_drag_shows_apply_what_if(ladder: LadderWidget, crash: Portfolio, key: tuple[str, str, str],
                                  factor: float, qtbot: QtBot) -> None:
    risk = position_risk(compute_risk(crash), *key)
    ladder.show_position(crash, risk)
    price = risk.mark_price * factor
    with qtbot.waitSignal(ladder.whatif_changed, timeout=2000):
        ladder.set_whatif_price(price)
    moved = compute_risk(apply_what_if(crash, marks={risk.symbol: price}))
    expected = position_risk(moved, *key)
    pool = next(a for a in moved.accounts if a.name == key[0]).pools
    figures = ladder.figures
    assert figures is not None
    assert figures.liquidation_price == pytest.approx(expected.liquidation_price, rel=1e-12)
    assert figures.margin_ratio == pytest.approx(expected.margin_ratio, rel=1e-12)
    tick = risk.tick_size
    label = ladder.whatif.label.format
    assert fmt.price(expected.liquidation_price, tick) in label
    assert fmt.distance_with_state(expected.signed_distance_to_liquidation, expected.liquidatable) in label
    box = ladder.whatif_box.text()
    assert fmt.margin_ratio(expected.margin_ratio) in box  # the label stays short (issue 19)
    assert fmt.price(price, tick) in box
    cross_pools = [p for p in pool if p.settle == expected.settle and key == CROSS]
    for p in cross_pools:
        assert fmt.margin_ratio(p.margin_ratio) in box
    beyond = expected.margin_ratio is not None and expected.margin_ratio >= 1
    assert ("PAST LIQUIDATION" in label) == beyond


def test_mouse_drag_moves_the_line_and_recomputes(ladder: LadderWidget, crash: Portfolio,
                                                  qtbot: QtBot) -> None:
    """A real drag with the mouse on the plot (press on the line, move, release)."""
    from PySide6.QtCore import QPoint, Qt

    risk = position_risk(compute_risk(crash), *CROSS)
    ladder.show_position(crash, risk)
    qtbot.waitUntil(lambda: ladder.windowHandle().isExposed())  # mouse events need a mapped window
    view = ladder.plot
    vb = view.getPlotItem().getViewBox()
    start_scene = vb.mapViewToScene(pg_point(0.5, risk.mark_price))
    start = view.mapFromScene(start_scene)
    end = QPoint(start.x(), start.y() + 60)
    viewport = view.viewport()
    qtbot.mousePress(viewport, Qt.MouseButton.LeftButton, pos=start)
    for step in range(1, 7):
        qtbot.mouseMove(viewport, QPoint(start.x(), start.y() + step * 10))
    qtbot.mouseRelease(viewport, Qt.MouseButton.LeftButton, pos=end)
    moved_to = ladder.whatif.value()
    assert moved_to < risk.mark_price  # dragged down the screen = a lower price
    assert ladder.figures is not None and ladder.figures.mark == pytest.approx(moved_to)
    expected = position_risk(compute_risk(apply_what_if(crash, marks={risk.symbol: moved_to})), *CROSS)
    assert ladder.figures.margin_ratio == pytest.approx(expected.margin_ratio, rel=1e-12)


def pg_point(x: float, y: float):  # type: ignore[no-untyped-def]
    from PySide6.QtCore import QPointF

    return QPointF(x, y)


def test_update_keeps_a_pinned_what_if_and_clear(ladder: LadderWidget, crash: Portfolio) -> None:
    risk = position_risk(compute_risk(crash), *CROSS)
    ladder.show_position(crash, risk)
    ladder.set_whatif_price(2000.0)
    later = crash  # same position again (a new snapshot): the user's what-if price stays
    ladder.show_position(later, risk)
    assert ladder.whatif.value() == pytest.approx(2000.0)
    ladder.reset_whatif()
    assert ladder.whatif.value() == pytest.approx(risk.mark_price)
    ladder.show_position(None, None)
    assert ladder.empty.isVisible() and not ladder.plot.isVisible()


def test_stop_and_take_profit_lines_and_what_the_stop_saves(ladder: LadderWidget, crash: Portfolio) -> None:
    """Issue 17: the victim's stop and take-profit as lines; the side panel compares a stop fill with
    liquidation, figures derived here from the position and the engine's bankruptcy price."""
    import dataclasses

    from desk.domain.protection import Order, OrderKind, OrderSide

    account, symbol, _leg = VICTIM
    before = position_risk(compute_risk(crash), *VICTIM)
    assert before.side == "long" and before.liquidation_price is not None
    stop_at = (before.mark_price + before.liquidation_price) / 2  # between the mark and liquidation
    tp_at = before.mark_price * 1.2
    orders = (Order(symbol, OrderKind.STOP, OrderSide.SELL, None, trigger_price=stop_at, reduce_only=True),
              Order(symbol, OrderKind.TAKE_PROFIT, OrderSide.SELL, None, trigger_price=tp_at))
    portfolio = Portfolio(tuple(dataclasses.replace(a, orders=orders) if a.name == account else a
                                for a in crash.accounts), crash.as_of)
    risk = position_risk(compute_risk(portfolio), *VICTIM)
    ladder.show_position(portfolio, risk)
    tick = risk.tick_size
    (stop_line,) = [line for line in ladder.order_lines["stop"] if line.isVisible()]
    (tp_line,) = [line for line in ladder.order_lines["take_profit"] if line.isVisible()]
    assert stop_line.value() == pytest.approx(stop_at) and tp_line.value() == pytest.approx(tp_at)
    assert stop_line.label.format == f"stop all  {fmt.price(stop_at, tick)}"
    assert tp_line.label.format == f"take-profit all  {fmt.price(tp_at, tick)}"

    held = find_position(portfolio, *VICTIM)
    q = held.contracts * held.contract_size
    stop_loss = q * (held.mark_price - stop_at) + held.taker_fee * q * stop_at
    liq_loss = q * (held.mark_price - risk.bankruptcy_price)
    assert ladder.displayed["protection"] == f"protected (stop {fmt.price(stop_at, tick)})"
    assert ladder.displayed["stop_fill_loss"] == fmt.money(stop_loss, risk.settle)
    assert ladder.displayed["liquidation_loss"] == fmt.money(liq_loss, risk.settle)
    side = ladder.side.text()
    assert fmt.money(stop_loss, risk.settle) in side and fmt.money(liq_loss, risk.settle) in side

    # the same position from an account whose orders were not read: no lines, and it says so
    unread = Portfolio(tuple(dataclasses.replace(a, orders=None) if a.name == account else a
                             for a in crash.accounts), crash.as_of)
    ladder.show_position(unread, position_risk(compute_risk(unread), *VICTIM))
    assert not any(line.isVisible() for lines in ladder.order_lines.values() for line in lines)
    assert ladder.displayed["protection"] == "orders not read"
