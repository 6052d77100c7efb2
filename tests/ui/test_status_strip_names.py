"""The status strip and the account cards at the two common screen widths (issue 19): account names
whole where the window has room, shortened only as far as it must; on a 1280 px screen five cards
use short labels so that no figure beside them is cut — checked on what the labels paint (the
text's advance against the label's width), not on the model."""

from __future__ import annotations

import time

import pytest
from PySide6.QtGui import QFont, QFontMetrics

from desk.ui import main_window as main_window_module
from desk.ui.main_window import MainWindow
from desk.ui.positions_model import Column
from desk.ui.widgets import shared_prefix, short_name
from tests.support.ui import position, snapshot

NAMES = ["demo-binance-usdm", "demo-bybit-isolated", "demo-binance-coinm", "demo-hyperliquid",
         "demo-bybit-hedge"]


@pytest.fixture
def window(qtbot, monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setattr(main_window_module.MainWindow, "_attach_charts", lambda self: None)
    w = MainWindow(demo=True)
    w.allow_close = True
    qtbot.addWidget(w)
    w.show()
    return w


def _show(qtbot, window, width: int, height: int) -> None:  # type: ignore[no-untyped-def]
    window.resize(width, height)
    now = time.time()
    window.clock = lambda: now
    window.apply_snapshot(snapshot([position(f"{c}/USDT:USDT", account=name, mark=100.0, liquidation=80.0)
                                    for c, name in zip("ABCDE", NAMES, strict=True)], at=now, shock=-0.1518))
    qtbot.waitUntil(lambda: not window._summary_pending and window.width() == width, timeout=60_000)
    qtbot.wait(50)  # the layout's own pass after the resize


def _fits(label) -> bool:  # type: ignore[no-untyped-def]
    return QFontMetrics(label.font()).horizontalAdvance(label.text()) <= label.contentsRect().width()


def test_a_wide_window_shows_every_account_name_whole(qtbot, window) -> None:  # type: ignore[no-untyped-def]
    _show(qtbot, window, 1920, 1080)
    strip = window.status_strip.accounts.text()
    for name in NAMES:
        assert f"</span> {name} " in strip, strip
    for card in window.accounts_panel.cards.values():
        assert not card.compact
        assert card.equity_label.text() == "Equity (incl. uPnL)"
        assert card.shock.text() == "15.18 % fall of all marks"
        assert all(_fits(label) for label in (card.equity, card.wallet, card.shock))


def test_at_1280_names_shorten_only_as_needed_and_no_figure_is_cut(qtbot, window) -> None:  # type: ignore[no-untyped-def]
    _show(qtbot, window, 1280, 800)
    label = window.status_strip.accounts
    plain = QFontMetrics(label.font()).horizontalAdvance(
        "  ".join(part.split("</span> ")[1] for part in label.text().split("&nbsp;&nbsp;")))
    assert plain <= label.width(), (plain, label.width())
    # every account is there with its age, as whole as the room allowed (the tooltip has them whole):
    # the "demo-" they all share goes first, so what tells them apart stays
    for name in NAMES:
        tail = name.removeprefix("demo-")
        assert any(f"</span> {shown} " in label.text()
                   for shown in {tail} | {short_name(tail, n) for n in (24, 16, 12, 8)}), label.text()
        assert name in label.toolTip()
    assert "binance-usdm" in label.text() or "binance…usdm" in label.text() or "binan…usdm" in label.text()

    for card in window.accounts_panel.cards.values():
        assert card.compact, card.width()
        assert card.equity_label.text() == "Equity" and card.equity_label.toolTip() == "Equity (incl. uPnL)"
        assert card.shock.text() == "−15.18 % all marks"
        assert card.name in card.title.text()
        for figure in (card.equity, card.wallet, card.shock, card.title):
            assert figure.textFormat() != figure.textFormat().PlainText or _fits(figure), figure.text()
        assert all(_fits(label) for label in (card.equity, card.wallet, card.shock)), \
            [(x.text(), x.contentsRect().width()) for x in (card.equity, card.wallet, card.shock)]


def _no_horizontal_scrolling(qtbot, window) -> None:  # type: ignore[no-untyped-def]
    table = window.table
    shown = [c for c in Column if not table.isColumnHidden(c)]
    qtbot.waitUntil(lambda: sum(table.columnWidth(c) for c in shown) <= table.viewport().width(),
                    timeout=10_000)
    qtbot.waitUntil(lambda: not table.horizontalScrollBar().isVisible(), timeout=10_000)


def test_past_liquidation_fits_1280_and_gives_the_room_back_when_gone(qtbot, window) -> None:  # type: ignore[no-untyped-def]
    """A row past liquidation widens Distance for "PAST LIQUIDATION −x %" whole; the account and stop
    columns give way (whole in their tooltips), no number and no symbol is cut, nothing scrolls —
    and once no such row is left the column gives its room back."""
    window.resize(1280, 768)
    now = time.time()
    window.clock = lambda: now
    past = position("SOL/USDT:USDT", account="demo-bybit-isolated", mark=120.0, liquidation=123.0,
                    margin_ratio=1.08, distance=0.025)
    rows = [position(f"{c}/USDT:USDT", account=name, mark=54_000.0, liquidation=40_000.0)
            for c, name in zip(("BTC", "ETH", "XRP", "DOGE"), NAMES[1:], strict=True)]
    window.apply_snapshot(snapshot([past, *rows], at=now))
    qtbot.waitUntil(lambda: not window._summary_pending, timeout=60_000)
    table = window.table
    _no_horizontal_scrolling(qtbot, window)
    font = QFont(table.font())
    font.setBold(True)
    past_row = next(r for r in range(window.proxy.rowCount())
                    if window.proxy.index(r, Column.SYMBOL).data() == "SOL/USDT:USDT")
    words = window.proxy.index(past_row, Column.DISTANCE).data()
    assert words.startswith("PAST LIQUIDATION")
    assert QFontMetrics(font).horizontalAdvance(words) <= table.columnWidth(Column.DISTANCE)
    metrics = QFontMetrics(table.font())
    symbol_width = max(metrics.horizontalAdvance(window.proxy.index(r, Column.SYMBOL).data())
                       for r in range(window.proxy.rowCount()))
    assert table.columnWidth(Column.SYMBOL) >= symbol_width
    wide = table.columnWidth(Column.DISTANCE)
    # the mark moves back before the liquidation price: the distance column narrows again
    back = position("SOL/USDT:USDT", account="demo-bybit-isolated", mark=130.0, liquidation=123.0,
                    margin_ratio=0.9)
    window.apply_snapshot(snapshot([back, *rows], at=now, seq=2))
    qtbot.waitUntil(lambda: not window._summary_pending, timeout=60_000)
    qtbot.waitUntil(lambda: table.columnWidth(Column.DISTANCE) < wide - 40, timeout=10_000)
    _no_horizontal_scrolling(qtbot, window)


def test_the_shared_prefix_is_a_whole_word_every_name_has() -> None:
    assert shared_prefix(NAMES) == "demo-"
    assert shared_prefix(["main", "second"]) == ""
    assert shared_prefix(["binance-main", "binance-alt", "bybit"]) == ""
    assert shared_prefix(["acct1", "acct2"]) == ""  # no word boundary: nothing dropped
    assert shared_prefix(["demo-a", "demo-"]) == ""  # dropping it would leave a name empty
    assert shared_prefix(["only-one"]) == ""


def test_at_1280_the_seven_demo_cards_with_two_pooled_cut_no_figure(qtbot, window) -> None:  # type: ignore[no-untyped-def]
    """The demo's seven accounts (two pool collateral, issue 16) at 1280 px: short words on every card,
    the pooled cards' mode and collateral lines whole — the row scrolls rather than cut a figure."""
    from desk.domain.engine import compute_risk
    from desk.exchanges.demo import demo_portfolio
    from desk.services.snapshot import AccountState, DataStatus, MonitorSnapshot

    window.resize(1280, 800)
    now = time.time()
    window.clock = lambda: now
    portfolio = demo_portfolio("calm", seed=3)
    states = tuple(AccountState(a.name, a.venue, DataStatus.LIVE, data_time=now, oldest_mark_time=now,
                                demo=True) for a in portfolio.accounts)
    window.apply_snapshot(MonitorSnapshot(seq=1, at=now, portfolio=portfolio, report=compute_risk(portfolio),
                                          accounts=states, positions={}))
    qtbot.waitUntil(lambda: not window._summary_pending and window.width() == 1280, timeout=60_000)
    qtbot.wait(50)
    cards = window.accounts_panel.cards
    assert len(cards) == 7
    # the row scrolls sideways; its scrollbar sits below the cards, never over their status lines
    panel = window.accounts_panel
    qtbot.waitUntil(lambda: panel.horizontalScrollBar().isVisible(), timeout=10_000)
    for card in cards.values():
        bottom = card.status.mapTo(panel.viewport(), card.status.rect().bottomLeft()).y()
        assert bottom < panel.viewport().height(), (card.name, bottom, panel.viewport().height())
    for name in ("demo-bybit-uta", "demo-binance-multi"):
        card = cards[name]
        assert card.compact and card.collateral.isVisible() and not card.wallet.isVisible()
        assert _fits(card.wallet_label) and _fits(card.collateral), card.collateral.text()
        # no taller than a single-asset card: the pooled cards cost the window no height
        assert card.sizeHint().height() == cards["demo-binance-usdm"].sizeHint().height()
    for card in cards.values():
        bold = QFont(card.title.font())
        bold.setBold(True)  # the name whole, and the level badge beside it whole
        assert QFontMetrics(bold).horizontalAdvance(card.name) <= card.title.contentsRect().width(), card.name
        assert card.level.width() >= card.level.sizeHint().width(), card.level.text()
        figures = (card.equity, card.wallet, card.shock)
        assert all(QFontMetrics(label.font()).horizontalAdvance(line) <= label.contentsRect().width()
                   for label in figures for line in label.text().split("\n")), \
            [(x.text(), x.contentsRect().width()) for x in (card.equity, card.wallet, card.shock)]
