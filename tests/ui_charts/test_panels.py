"""Stress curve, history plot and what-if panel against the engine and a real History store."""

from __future__ import annotations

import time

import numpy as np
import pytest
from pytestqt.qtbot import QtBot

from desk.domain.engine import compute_risk, shock_to_liquidation
from desk.domain.model import Portfolio
from desk.domain.scenario import apply_what_if, stress_grid
from desk.formats import load_portfolio
from desk.store.history import History
from desk.store.paths import desk_paths
from desk.ui import formatting as fmt
from desk.ui.charts.history import HistoryWidget
from desk.ui.charts.stress import StressWidget, default_betas, parse_betas
from desk.ui.whatif import Edits, WhatIfPanel, suggestion_text
from tests.support.ui_charts import CROSS, VICTIM, fill_history, position_risk


@pytest.mark.parametrize("account", ["demo-binance-usdm", "demo-hyperliquid", "demo-binance-coinm"])
def test_stress_marker_sits_where_the_engine_crosses_one(qtbot: QtBot, crash: Portfolio,
                                                         account: str) -> None:
    widget = StressWidget()
    qtbot.addWidget(widget)
    widget.show_account(crash, account)
    acc = crash.account(account)
    # uniform: the engine's own shock to liquidation
    uniform = widget.crossings["uniform"]
    assert uniform == pytest.approx(shock_to_liquidation(acc), abs=1e-9)
    x, y = widget.markers["uniform"].getData()
    assert x[0] == pytest.approx(uniform * 100) and y[0] == 100.0  # percent, 100 % = liquidation
    assert f"{uniform * 100:+.2f} %" in widget.marker_labels["uniform"].toPlainText()
    # beta: the engine's stress grid is below 1.0 just inside the crossing and at or above it just past it
    crossing = widget.crossings["beta"]
    assert crossing is not None
    grid = stress_grid(acc, [crossing * (1 - 1e-6), crossing], betas=default_betas())
    worst = np.max(np.vstack([*grid.margin_ratio.values(), *grid.position_margin_ratio.values()]), axis=0)
    assert worst[0] < 1.0 <= worst[1]
    x, _ = widget.markers["beta"].getData()
    assert x[0] == pytest.approx(crossing * 100)
    # the drawn curve is the engine's grid
    drawn_x, drawn_y = widget.curves["uniform"].getData()
    grid = stress_grid(acc, drawn_x / 100.0)
    worst = np.max(np.vstack([*grid.margin_ratio.values(), *grid.position_margin_ratio.values()]), axis=0)
    np.testing.assert_allclose(drawn_y, np.minimum(worst, 3.0) * 100.0, rtol=1e-12)


def test_betas_default_from_the_demo_catalog_and_parse_errors() -> None:
    assert default_betas() == {"BTC": 1.0, "ETH": 1.2, "SOL": 1.5}
    assert parse_betas("ETH=1.3; SOL = 2") == {"ETH": 1.3, "SOL": 2.0}
    with pytest.raises(ValueError, match="ETH"):
        parse_betas("ETH:1.3")


def test_history_reads_samples_from_desk_home(qtbot: QtBot, tmp_path: object) -> None:
    history = History()  # the real store in DESK_HOME (a tmp dir in tests)
    assert history.path == desk_paths().history_db
    now = time.time()
    start = now - 2200
    fill_history(history, start=start, until=1200.0, step=60.0)
    widget = HistoryWidget(lambda: history, clock=lambda: now)
    qtbot.addWidget(widget)
    widget.show_subject(*VICTIM)
    stored = history.samples(account=VICTIM[0], symbol=VICTIM[1], leg=VICTIM[2])
    x, y = widget.curves["margin_ratio"].getData()
    np.testing.assert_array_equal(x, [s.at for s in stored])
    np.testing.assert_allclose(y, [s.margin_ratio * 100 for s in stored])  # percent
    _, liq = widget.curves["liquidation_price"].getData()
    np.testing.assert_allclose(liq, [s.liquidation_price for s in stored])
    # the default window is the last 24 hours, clipped to the data
    (x0, x1), _ = widget.ratio_plot.getPlotItem().getViewBox().viewRange()
    assert x0 <= stored[0].at + 1 and x1 >= stored[-1].at - 1
    first_curve = widget.curves["margin_ratio"]
    # new samples are appended to the same items (not recreated)
    assert fill_history(history, start=start, until=1800.0, step=60.0)
    added = widget.refresh()
    assert added > 0 and widget.curves["margin_ratio"] is first_curve
    assert len(widget.curves["margin_ratio"].getData()[0]) == len(
        history.samples(account=VICTIM[0], symbol=VICTIM[1], leg=VICTIM[2]))
    widget.show_subject(CROSS[0])  # the account's own rows
    assert not widget.price_plot.isVisible()
    assert len(widget.times) == len(history.samples(account=CROSS[0]))
    history.close()


@pytest.fixture
def panel(qtbot: QtBot, crash: Portfolio) -> WhatIfPanel:
    widget = WhatIfPanel(target=0.5)
    qtbot.addWidget(widget)
    widget.set_portfolio(crash)
    return widget


def test_whatif_table_and_suggestions_match_the_engine(panel: WhatIfPanel, crash: Portfolio) -> None:
    panel.select(*VICTIM)
    panel.set_edits(Edits(shock=-0.01))
    before = position_risk(compute_risk(crash, target=0.5), *VICTIM)
    after = position_risk(compute_risk(apply_what_if(crash, shock=-0.01), target=0.5), *VICTIM)
    rows = {name: (b, a) for name, b, a in panel.rows()}
    tick = before.tick_size
    assert rows["liquidation"] == (fmt.price(before.liquidation_price, tick),
                                   fmt.price(after.liquidation_price, tick))
    assert rows["bankruptcy"][1] == fmt.price(after.bankruptcy_price, tick)
    # a 1 % fall takes the victim past its liquidation price: said so, with a negative distance
    assert after.liquidatable and after.signed_distance_to_liquidation < 0
    assert rows["distance to liquidation"][1] == fmt.distance_with_state(
        after.signed_distance_to_liquidation, True)
    assert rows["margin ratio"] == (fmt.margin_ratio(before.margin_ratio),
                                    fmt.margin_ratio(after.margin_ratio))
    assert after.suggestions
    assert panel.suggestion_lines == [suggestion_text(s, after.settle) for s in after.suggestions]
    add = next(s for s in after.suggestions if s.action == "add_margin")
    assert add.step == 1 and f"add {add.amount:,.0f} USDT of margin" in panel.suggestion_lines  # whole USDT
    panel.copy_suggestions()
    from PySide6.QtGui import QGuiApplication

    clip = QGuiApplication.clipboard().text()
    assert panel.suggestion_lines[0] in clip and "to get back to margin ratio 50 %:" in clip


def test_whatif_cross_pool_ratio_and_size_edit(panel: WhatIfPanel, crash: Portfolio) -> None:
    from desk.domain.whatif import edit_position, find_position

    panel.select(*CROSS)
    half = find_position(crash, *CROSS).contracts / 2
    panel.set_edits(Edits(contracts=half))
    expected = compute_risk(edit_position(crash, *CROSS, contracts=half))
    rows = {name: (b, a) for name, b, a in panel.rows()}
    pool = expected.accounts[0].pools[0]
    assert rows["pool margin ratio"][1] == fmt.margin_ratio(pool.margin_ratio)
    assert rows["size (contracts)"][1] == fmt.quantity(half)


def test_the_whatif_scenario_compiles_apart_from_the_live_plans(panel: WhatIfPanel, crash: Portfolio) -> None:
    from desk.domain.engine import DEFAULT_PLANS
    from desk.domain.whatif import find_position

    compute_risk(crash)  # the live portfolio's plans, as the dashboard's own computation leaves them
    live = {(a.name, a.venue): DEFAULT_PLANS.peek(a.name, a.venue) for a in crash.accounts}
    compiles = DEFAULT_PLANS.compiles
    panel.select(*CROSS)
    panel.set_edits(Edits(contracts=find_position(crash, *CROSS).contracts / 2))
    assert panel.after is not None and panel.plans.compiles >= 1  # the edited account, in its own cache
    assert all(DEFAULT_PLANS.peek(*key) is plan for key, plan in live.items())
    assert DEFAULT_PLANS.compiles == compiles  # the panel's "before" is served from the live plans


def test_bad_edit_is_a_message_not_an_exception(panel: WhatIfPanel) -> None:
    panel.select(*VICTIM)
    panel.set_edits(Edits(margin=-1e9))
    assert panel.error is not None and "margin" in panel.error
    assert "margin" in panel.message.text()


def test_save_and_open_round_trip(panel: WhatIfPanel, crash: Portfolio, tmp_path: object,
                                  qtbot: QtBot) -> None:
    from pathlib import Path

    panel.select(*VICTIM)
    panel.set_edits(Edits(margin=250.0, shock=-0.02))
    path = Path(str(tmp_path)) / "whatif.json"
    panel.save_to(path)
    loaded = load_portfolio(path)
    assert loaded == panel.scenario
    other = WhatIfPanel()
    qtbot.addWidget(other)
    assert other.open_file(path)
    assert other.portfolio == panel.scenario
    assert compute_risk(loaded) == compute_risk(panel.scenario)  # type: ignore[arg-type]


def test_bad_file_shows_a_message_naming_the_field(panel: WhatIfPanel, tmp_path: object,
                                                   qtbot: QtBot) -> None:
    from pathlib import Path

    from PySide6.QtWidgets import QMessageBox

    bad = Path(str(tmp_path)) / "bad.json"
    bad.write_text('{"format": "desk.portfolio/1", "accounts": [{"name": "a", "venue": "bybit", '
                   '"wallets": {"USDT": 100}, "positions": [{"symbol": "BTC/USDT:USDT", "kind": "linear", '
                   '"contracts": -2, "side": "long", "entry_price": 1, "margin_mode": "cross", '
                   '"mmr": 0.01}]}]}')
    before = panel.portfolio
    assert not panel.open_file(bad)
    boxes = [w for w in panel.findChildren(QMessageBox) if w.objectName() == "whatifProblem"]
    assert boxes and "contracts" in boxes[-1].text() and "Traceback" not in boxes[-1].text()
    assert panel.portfolio is before
    boxes[-1].close()
