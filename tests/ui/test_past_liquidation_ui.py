"""Issue 15, "the screen never lies", on the real dashboard: the main window of a DeskController
(with its chart panels and tray) on the demo venue's squeeze, at the moment the ETH mark stream has
run ahead of the account read — the Bybit isolated ETH short marked 3,497.89, above its liquidation
price 3,459.50 (the issue's own case).

Checked on what is painted: the table cells, the account card labels, the ladder's text items,
the what-if labels, the tray tooltip and the alert text; and that one figure reads the same on every
surface. Expected figures are derived here by hand from the position's inputs with Bybit's isolated
rule (maintenance = contracts × entry × mmr + contracts × mark × taker fee), never by the engine.
"""

from __future__ import annotations

import dataclasses
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QFont, QFontMetrics
from PySide6.QtWidgets import QApplication

from desk.commands.watch import render_table
from desk.domain.engine import compute_risk
from desk.domain.model import Portfolio, Position
from desk.exchanges.demo import demo_portfolio
from desk.formats import dump_portfolio
from desk.services.alerts_config import AlertConfig
from desk.services.alerts_engine import AlertEngine
from desk.services.snapshot import AccountState, DataStatus, MonitorSnapshot
from desk.store.settings import Settings
from desk.ui.app import DeskController, GuiOptions
from desk.ui.positions_model import Column
from desk.ui.widgets import short_name

ROOT = Path(__file__).resolve().parents[2]
ACCOUNT = "demo-bybit-isolated"
ETH = "ETH/USDT:USDT"
KEY = (ACCOUNT, ETH, "both", "isolated")
ETH_MARK = 3497.89
WHATIF_MARK = 3560.0  # a what-if price further beyond the liquidation price


def squeezed_portfolio(mark: float = ETH_MARK) -> Portfolio:
    portfolio = demo_portfolio("squeeze", seed=7, at_seconds=2340.0)

    def moved(p: Position) -> Position:
        return dataclasses.replace(p, mark_price=mark) if p.symbol == ETH else p

    accounts = tuple(dataclasses.replace(a, positions=tuple(map(moved, a.positions))) if a.name == ACCOUNT
                     else a for a in portfolio.accounts)
    return dataclasses.replace(portfolio, accounts=accounts)


def make_snapshot(portfolio: Portfolio, at: float, *, mark_age: float = 0.2, seq: int = 1) -> MonitorSnapshot:
    states = tuple(AccountState(name=a.name, venue=a.venue, status=DataStatus.LIVE, data_time=at,
                                oldest_mark_time=at - mark_age, demo=True) for a in portfolio.accounts)
    return MonitorSnapshot(seq=seq, at=at, portfolio=portfolio, report=compute_risk(portfolio),
                           accounts=states, positions={})


def eth_by_hand(portfolio: Portfolio, mark: float) -> dict[str, float]:
    p = next(p for p in portfolio.account(ACCOUNT).positions if p.symbol == ETH)
    q, entry, margin = p.contracts, p.entry_price, p.isolated_margin or 0.0
    mmr, fee = p.tiers[0].mmr, p.taker_fee or 0.0
    assert p.side.value == "short" and q * mark < p.tiers[0].notional_cap
    liq = (margin + q * entry * (1 - mmr)) / (q * (1 + fee))  # margin + q(entry − P) = q·entry·mmr + q·P·fee
    balance = margin + q * (entry - mark)
    return {"liq": liq, "signed": (liq - mark) / mark, "balance": balance}


def equity_by_hand(portfolio: Portfolio) -> float:
    """Cross wallet + each isolated position's margin and unrealized PnL (q × (mark − entry) × side)."""
    account = portfolio.account(ACCOUNT)
    total = account.wallet("USDT")
    for p in account.positions:
        assert p.margin_mode.value == "isolated" and p.settle == "USDT"
        total += (p.isolated_margin or 0.0) + p.contracts * (p.mark_price - p.entry_price) * p.side.sign
    return total


@pytest.fixture
def controller(qtbot) -> Iterator[DeskController]:  # type: ignore[no-untyped-def]
    app = QApplication.instance()
    c = DeskController(app, Settings.load(), GuiOptions(demo=True))  # type: ignore[arg-type]
    c.window.allow_close = True
    qtbot.addWidget(c.window)
    c.window.resize(1280, 800)
    c.window.show()
    qtbot.waitUntil(lambda: getattr(c.window, "charts", None) is not None, timeout=10_000)
    yield c
    c.shutdown()


def show(qtbot, c: DeskController, snap: MonitorSnapshot) -> None:  # type: ignore[no-untyped-def]
    with qtbot.waitSignal(c.window.summary_refreshed, timeout=5000):
        c.window.apply_snapshot(snap)


def cell(c: DeskController, column: Column, role: Qt.ItemDataRole = Qt.ItemDataRole.DisplayRole) -> object:
    w = c.window
    row = w.model.row_for_key(KEY)
    assert row is not None
    index = w.proxy.mapFromSource(w.model.index(row, column))
    return w.proxy.data(index, role)


def select_eth(qtbot, c: DeskController) -> None:  # type: ignore[no-untyped-def]
    with qtbot.waitSignal(c.window.position_selected, timeout=5000):
        assert c.window.select_key(KEY)
    qtbot.waitUntil(lambda: c.window.charts.ladder.risk is not None
                    and c.window.charts.ladder.risk.key == KEY, timeout=5000)


def test_table_cards_ladder_whatif_and_tray_say_past_liquidation(qtbot, controller) -> None:  # type: ignore[no-untyped-def]
    c = controller
    portfolio = squeezed_portfolio()
    hand = eth_by_hand(portfolio, ETH_MARK)
    assert hand["balance"] < 0 and round(hand["liq"], 2) == 3459.50  # the margin is gone
    distance = f"{hand['signed'] * 100:.2f} %"
    assert distance == "-1.10 %"
    show(qtbot, c, make_snapshot(portfolio, time.time()))

    # the table: the distance cell says so and is signed; the ratio is ≥ 100 %, never "—"
    assert cell(c, Column.DISTANCE) == f"PAST LIQUIDATION {distance}"
    assert cell(c, Column.MARGIN_RATIO) == "≥ 100 %"
    assert cell(c, Column.LIQ) == f"{hand['liq']:,.2f}" == "3,459.50"
    assert cell(c, Column.MARK) == "3,497.89"
    assert "PAST LIQUIDATION" in str(cell(c, Column.STATUS, Qt.ItemDataRole.ToolTipRole))
    assert cell(c, Column.STATUS) == "✖ CRIT"

    # the card: equity counts the isolated margins and their losses, labelled as such
    card = c.window.accounts_panel.cards[ACCOUNT]
    equity = equity_by_hand(portfolio)
    assert abs(equity - 5000.0) > 1000.0  # far from the cross wallet's 5,000.00
    assert card.equity.text() == f"{equity:,.2f} USDT"
    # labelled in full, or in short with the full words in the tooltip on a narrow card
    labels = ("Equity", "Wallet") if card.compact else ("Equity (incl. uPnL)", "Cross wallet")
    assert card.equity_label.text() == labels[0]
    assert "Equity (incl. uPnL)" in (card.equity_label.text(), card.equity_label.toolTip())
    assert card.wallet_label.text() == labels[1] and card.wallet.text() == "5,000.00 USDT"
    assert "isolated margin" in card.equity.toolTip()
    assert card.bar.format() == "✖ ≥ 100 % isolated"  # was "inf %"
    assert card.shock.text() == "PAST LIQUIDATION now"  # was "0.0 % rise of all marks"

    # the words are painted whole: the distance column is wide enough for the bold critical text
    table = c.window.table
    bold = QFont(table.font())
    bold.setBold(True)
    shown = str(cell(c, Column.DISTANCE))
    assert table.columnWidth(Column.DISTANCE) > QFontMetrics(bold).horizontalAdvance(shown) + 6

    # the ladder's text items
    select_eth(qtbot, c)
    ladder = c.window.charts.ladder
    liq_label = ladder.lines["liquidation"].label.toPlainText()
    assert liq_label.endswith(f"3,459.50  ·  PAST LIQUIDATION {distance}"), liq_label
    side = ladder.side.text()
    assert f"PAST LIQUIDATION {distance}" in side and "≥ 100 %" in side and "away" not in liq_label

    # a what-if price further beyond: a larger negative distance, never a positive one
    with qtbot.waitSignal(ladder.whatif_changed, timeout=5000):
        ladder.set_whatif_price(WHATIF_MARK)
    further = eth_by_hand(portfolio, WHATIF_MARK)
    whatif_distance = f"{further['signed'] * 100:.2f} %"
    assert whatif_distance == "-2.82 %"
    label = ladder.whatif.label.toPlainText()
    assert f"liq 3,459.50 (PAST LIQUIDATION {whatif_distance})" in label, label
    # the line's label stays short (issue 19); the ratio is in the what-if figures beside the plot
    assert f"PAST LIQUIDATION {whatif_distance}" in ladder.whatif_box.text()
    assert "PAST LIQUIDATION at this price (margin ratio ≥ 100 %)" in ladder.whatif_box.text()

    # the what-if panel's table
    rows = {name: (before, after) for name, before, after in c.window.charts.whatif.rows()}
    assert rows["distance to liquidation"][0] == f"PAST LIQUIDATION {distance}"
    assert rows["margin ratio"][0] == "≥ 100 %"
    assert rows["liquidation"][0] == "3,459.50"

    # the tray's tooltip
    tip = c.tray.icon.toolTip()
    assert f"closest: {ETH} ({ACCOUNT}) PAST LIQUIDATION {distance} · margin ratio ≥ 100 %" in tip, tip


def test_one_figure_reads_the_same_on_every_surface(qtbot, controller, tmp_path,  # type: ignore[no-untyped-def]
                                                    subprocess_env) -> None:
    """The liquidation price, the signed distance and the margin ratio of one position: table,
    ladder, what-if panel, tray, alert (notification and alert log), `desk watch`'s table and
    `desk risk` — one text each."""
    c = controller
    calm = demo_portfolio("squeeze", seed=7, at_seconds=600.0)
    portfolio = squeezed_portfolio()
    hand = eth_by_hand(portfolio, ETH_MARK)
    liq, distance = f"{hand['liq']:,.2f}", f"PAST LIQUIDATION {hand['signed'] * 100:.2f} %"
    now = time.time()
    snap = make_snapshot(portfolio, now, seq=2)
    show(qtbot, c, snap)
    select_eth(qtbot, c)
    ladder, whatif = c.window.charts.ladder, c.window.charts.whatif
    rows = {name: before for name, before, _ in whatif.rows()}
    # the alert the engine raises for it (the text of the notification and of the alert log)
    engine = AlertEngine(AlertConfig(), lambda: now)
    engine.evaluate(make_snapshot(calm, now - 1.0))  # past the start-up summary
    alert = next(e.alert for e in engine.evaluate(snap)
                 if e.alert.symbol == ETH and e.alert.account == ACCOUNT and e.alert.rule == "distance")

    assert cell(c, Column.LIQ) == liq
    assert f"liquidation {liq}" in alert.body
    assert f"{liq}  ·  {distance}" in ladder.lines["liquidation"].label.toPlainText()
    assert rows["liquidation"] == liq and ladder.displayed["liquidation"] == liq
    assert cell(c, Column.DISTANCE) == distance == rows["distance to liquidation"]
    assert distance in ladder.side.text() and distance in c.tray.icon.toolTip()
    assert f"distance {hand['signed'] * 100:.2f} %" in alert.body and "PAST LIQUIDATION" in alert.title
    ratio = cell(c, Column.MARGIN_RATIO)
    assert ratio == rows["margin ratio"] == "≥ 100 %"
    assert f"margin ratio {ratio}" in alert.body and f"margin ratio {ratio}" in c.tray.icon.toolTip()
    # `desk watch` (its table of this snapshot) and `desk risk` (a real process, same portfolio)
    watch_row = next(line for line in render_table(snap).splitlines() if line.startswith(f"{ACCOUNT}  {ETH}"))
    path = tmp_path / "squeezed.json"
    path.write_bytes(dump_portfolio(portfolio))
    result = subprocess.run([sys.executable, "-m", "desk", "risk", str(path)], capture_output=True, text=True,
                            env=subprocess_env, cwd=ROOT, timeout=60)
    assert result.returncode == 0, result.stderr
    risk_row = next(line for line in result.stdout.splitlines() if line.startswith(f"{ACCOUNT}  {ETH}"))
    for row in (watch_row, risk_row):
        assert f" {liq} " in row and f" {distance} " in row, row
        assert re.search(rf"{re.escape(distance)}\s+{re.escape(str(ratio))}", row), row
    # a ratio below 100 % too: the SOL long of the same account, in percent in the table and the ladder
    sol_key = (ACCOUNT, "SOL/USDT:USDT", "both", "isolated")
    sol = next(p for p in snap.report.positions() if p.key == sol_key)
    c.window.select_key(sol_key)
    qtbot.waitUntil(lambda: ladder.risk is not None and ladder.risk.key == sol_key, timeout=5000)
    sol_row = c.window.model.row_for_key(sol_key)
    sol_index = c.window.proxy.mapFromSource(c.window.model.index(sol_row, Column.MARGIN_RATIO))
    sol_text = c.window.proxy.data(sol_index)
    assert sol_text == f"{sol.margin_ratio * 100:.2f} %"
    assert f"<td align='right'>{sol_text}</td>" in ladder.side.text()


def test_card_and_status_strip_agree_on_the_data_age(qtbot, controller) -> None:  # type: ignore[no-untyped-def]
    """The monitor said "live" when it built the snapshot; the marks have aged since. The card and
    the strip say the same thing at the same moment: delayed past the live threshold (5 s), stale
    past the stale threshold (30 s)."""
    c = controller
    at = time.time()
    snap = make_snapshot(squeezed_portfolio(), at, mark_age=0.2)
    card = c.window.accounts_panel.cards
    for age, word, glyph in ((5.4, "DELAYED", "◐"), (40.0, "STALE", "◌"), (1.0, "LIVE", "●")):
        c.window.clock = lambda age=age: at - 0.2 + age
        show(qtbot, c, dataclasses.replace(snap, seq=snap.seq + int(age * 10)))
        text = card[ACCOUNT].status.text()
        shown_age = f"{age:.1f} s" if age < 10 else f"{age:.0f} s"
        assert text.startswith(f"{glyph} {word} · {shown_age}"), text
        strip = c.window.status_strip.accounts
        # the name as whole as the strip's room allows (test_status_strip_names.py)
        tail = ACCOUNT.removeprefix("demo-")  # the prefix every demo account shares goes first
        names = {ACCOUNT, tail} | {short_name(n, limit) for n in (ACCOUNT, tail) for limit in (24, 16, 12, 8)}
        assert any(f"{glyph}</span> {name} {shown_age}" in strip.text() for name in names), strip.text()
        assert f"{ACCOUNT} (bybit): {word.lower()}" in strip.toolTip(), strip.toolTip()


def test_far_past_liquidation_is_painted_critical_not_ok(qtbot, controller) -> None:  # type: ignore[no-untyped-def]
    """17.6 % beyond the liquidation price: |mark − liq| ÷ mark alone would be "OK" (above the 10 %
    warning); the distance cell is painted with the critical colour (its ratio's) and in bold."""
    c = controller
    mark = 4200.0
    portfolio = squeezed_portfolio(mark)
    hand = eth_by_hand(portfolio, mark)
    assert round(hand["signed"] * 100, 2) == -17.63
    show(qtbot, c, make_snapshot(portfolio, time.time()))
    assert cell(c, Column.DISTANCE) == "PAST LIQUIDATION -17.63 %"
    critical = cell(c, Column.MARGIN_RATIO, Qt.ItemDataRole.ForegroundRole)
    assert cell(c, Column.DISTANCE, Qt.ItemDataRole.ForegroundRole) == critical
    font = cell(c, Column.DISTANCE, Qt.ItemDataRole.FontRole)
    assert font is not None and font.bold()  # the critical distance is bold
    # an OK row of the same table is painted otherwise
    calm_key = (ACCOUNT, "BTC/USDT:USDT", "both", "isolated")
    row = c.window.model.row_for_key(calm_key)
    calm = c.window.proxy.data(c.window.proxy.mapFromSource(c.window.model.index(row, Column.DISTANCE)),
                               Qt.ItemDataRole.ForegroundRole)
    assert calm != critical
    assert cell(c, Column.STATUS) == "✖ CRIT"


def test_the_alert_text_writes_the_liquidation_price_as_the_table_does(qtbot, controller) -> None:  # type: ignore[no-untyped-def]
    """The flash crash's SOL long: the table says 123.17 (tick 0.01); the notification and the alert
    log said "liquidation 123.17362". Both now write the table's text."""
    c = controller
    now = time.time()
    crash = demo_portfolio("flash-crash", seed=7, at_seconds=2100.0)
    snap = make_snapshot(crash, now)
    show(qtbot, c, snap)
    key = (ACCOUNT, "SOL/USDT:USDT", "both", "isolated")
    sol = next(p for p in crash.account(ACCOUNT).positions if p.symbol == "SOL/USDT:USDT")
    # Bybit isolated long, by hand: margin + q(P − entry) = q·entry·mmr + q·P·fee
    q, entry, margin = sol.contracts, sol.entry_price, sol.isolated_margin or 0.0
    liq = (q * entry * (1 + sol.tiers[0].mmr) - margin) / (q * (1 - (sol.taker_fee or 0.0)))
    assert sol.tick_size == 0.01 and f"{liq:,.2f}" == "123.17"
    row = c.window.model.row_for_key(key)
    table_text = c.window.proxy.data(c.window.proxy.mapFromSource(c.window.model.index(row, Column.LIQ)))
    assert table_text == "123.17"
    engine = AlertEngine(AlertConfig(), lambda: now)
    engine.evaluate(make_snapshot(demo_portfolio("flash-crash", seed=7, at_seconds=600.0), now - 1.0))
    alert = next(e.alert for e in engine.evaluate(snap) if e.alert.symbol == "SOL/USDT:USDT"
                 and e.alert.account == ACCOUNT)
    assert f"· liquidation {table_text} (critical at 5.00 %)" in alert.body, alert.body
    assert "123.1736" not in alert.body
