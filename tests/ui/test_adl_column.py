"""The ADL lights, the realised PnL column and "Open on <venue>" in the real main window (issue 17).

The expected lights are written here from each venue's published scale (Bybit adlRankIndicator:
0 = not ranked, 1–5; OKX adl: 0–5; Binance adlQuantile: 0–4), not from desk.domain.adl: "●" per
value, "○" up to the top of the scale. A venue without a published scale (here "kr", on a venue
desk has no scale for) keeps its bare number.
"""

from __future__ import annotations

import time
from dataclasses import replace

import pytest
from PySide6.QtCore import QObject, QPoint, Qt, QUrl, Slot
from PySide6.QtGui import QColor, QDesktopServices

from desk.domain.engine import compute_risk
from desk.services.snapshot import AccountState, DataStatus, MonitorSnapshot
from desk.ui import main_window as main_window_module
from desk.ui.levels import Level
from desk.ui.main_window import DEFAULT_HIDDEN, MainWindow
from desk.ui.positions_model import KEY_ROLE, Column
from desk.ui.theme import level_text_hex
from tests.support.demo import manual_market
from tests.support.ui import position, snapshot

VENUES = {"by": "bybit", "ok": "okx", "bn": "binanceusdm", "hl": "hyperliquid", "kr": "krakenfutures"}
ROLES = (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole, Qt.ItemDataRole.ForegroundRole,
         Qt.ItemDataRole.BackgroundRole, Qt.ItemDataRole.AccessibleTextRole)


@pytest.fixture
def window(qtbot, monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setattr(main_window_module.MainWindow, "_attach_charts", lambda self: None)
    w = MainWindow(demo=True)
    w.allow_close = True
    qtbot.addWidget(w)
    w.resize(1280, 800)
    w.show()
    return w


def _on_venues(snap: MonitorSnapshot, *, demo: bool = False) -> MonitorSnapshot:
    """The snapshot with each account on the venue its name says (tests.support.ui puts all on "demo")."""
    return replace(snap, accounts=tuple(replace(a, venue=VENUES[a.name], demo=demo) for a in snap.accounts))


def _rows():  # type: ignore[no-untyped-def]
    def at(account: str, symbol: str, rank: int | None, realized: float | None = None):  # type: ignore[no-untyped-def]
        return replace(position(symbol, account=account), adl_rank=rank, realized_pnl=realized)
    return [
        at("by", "TOP/USDT:USDT", 5, realized=-16.5),  # Bybit's top rank: all five lit
        at("by", "UNRANKED/USDT:USDT", 0, realized=0.0),  # Bybit 0: an empty position's default
        at("ok", "MID/USDT:USDT", 3, realized=12.345),
        at("ok", "LOW/USDT:USDT", 1),
        at("bn", "QUANT/USDT:USDT", 2),  # Binance adlQuantile 2 of 0–4
        at("kr", "BARE/USD:USD", 2),  # no scale known for this venue
        at("hl", "NONE/USDC:USDC", None),  # Hyperliquid publishes none
    ]


def _cells(window, column: Column) -> dict[str, dict]:  # type: ignore[no-untyped-def]
    model = window.table.model()
    out = {}
    for row in range(model.rowCount()):
        index = model.index(row, column)
        out[index.data(KEY_ROLE)[1]] = {role: index.data(role) for role in ROLES}
    return out


def test_adl_lights_per_venue_as_painted(qtbot, window) -> None:  # type: ignore[no-untyped-def]
    window.apply_snapshot(_on_venues(snapshot(_rows(), at=time.time())))
    model = window.table.model()
    qtbot.waitUntil(lambda: model.rowCount() == 7)
    cells = _cells(window, Column.ADL)
    text = {s: c[Qt.ItemDataRole.DisplayRole] for s, c in cells.items()}
    assert text == {"TOP/USDT:USDT": "●●●●●", "UNRANKED/USDT:USDT": "○○○○○", "MID/USDT:USDT": "●●●○○",
                    "LOW/USDT:USDT": "●○○○○", "QUANT/USDT:USDT": "●●○○", "BARE/USD:USD": "2",
                    "NONE/USDC:USDC": "—"}

    warning = QColor(level_text_hex(Level.WARNING)).name().upper()
    for symbol, c in cells.items():
        colour = c[Qt.ItemDataRole.ForegroundRole]
        if symbol == "TOP/USDT:USDT":  # every light lit: the front of the queue
            assert QColor(colour).name().upper() == warning
        else:
            assert colour is None, symbol
        assert c[Qt.ItemDataRole.BackgroundRole] is None

    tip = {s: c[Qt.ItemDataRole.ToolTipRole] for s, c in cells.items()}
    assert tip["TOP/USDT:USDT"].startswith(
        "ADL 5 of 5 lights, first in the queue (Bybit adlRankIndicator = 5; scale 0–5: 0 = not ranked (empty "
        "position)")
    assert "https://bybit-exchange.github.io/docs/v5/enum#adlrankindicator" in tip["TOP/USDT:USDT"]
    assert tip["UNRANKED/USDT:USDT"].startswith(
        "ADL 0 of 5 lights, not in front (Bybit adlRankIndicator = 0;")
    assert tip["MID/USDT:USDT"].startswith("ADL 3 of 5 lights, partway up the queue (OKX adl = 3; scale 0–5:")
    assert "https://www.okx.com/docs-v5/en/#trading-account-rest-api-get-positions" in tip["MID/USDT:USDT"]
    assert tip["QUANT/USDT:USDT"].startswith(
        "ADL 2 of 4 lights, partway up the queue (Binance adlQuantile = 2; scale 0–4:")
    assert tip["BARE/USD:USD"].startswith("ADL rank 2 as the venue gives it (scale unverified)")
    assert tip["NONE/USDC:USDC"] is None

    spoken = {s: c[Qt.ItemDataRole.AccessibleTextRole] for s, c in cells.items()}
    assert spoken["TOP/USDT:USDT"].startswith("ADL 5 of 5 lights, first in the queue")
    assert spoken["BARE/USD:USD"].startswith("ADL rank 2 as the venue gives it (scale unverified)")
    assert spoken["NONE/USDC:USDC"] == "no ADL rank given"
    # other cells are read as they are displayed
    assert model.index(0, Column.SYMBOL).data(Qt.ItemDataRole.AccessibleTextRole) is None


def test_adl_sorts_by_lights_lit_then_unverified_then_none(qtbot, window) -> None:  # type: ignore[no-untyped-def]
    window.apply_snapshot(_on_venues(snapshot(_rows(), at=time.time())))
    model = window.table.model()
    qtbot.waitUntil(lambda: model.rowCount() == 7)
    window.table.sortByColumn(Column.ADL, Qt.SortOrder.AscendingOrder)
    order = [model.index(r, Column.ADL).data(KEY_ROLE)[1] for r in range(model.rowCount())]
    # lit ÷ lights: 5/5, 3/5, 2/4, 1/5, 0/5; then the bare number of an unknown scale; then no rank
    assert order == ["TOP/USDT:USDT", "MID/USDT:USDT", "QUANT/USDT:USDT", "LOW/USDT:USDT",
                     "UNRANKED/USDT:USDT", "BARE/USD:USD", "NONE/USDC:USDC"]
    window.table.sortByColumn(Column.ADL, Qt.SortOrder.DescendingOrder)
    order = [model.index(r, Column.ADL).data(KEY_ROLE)[1] for r in range(model.rowCount())]
    assert order[-1] == "TOP/USDT:USDT" and order[0] == "NONE/USDC:USDC"


def test_realised_pnl_column_hidden_by_default(qtbot, window) -> None:  # type: ignore[no-untyped-def]
    window.apply_snapshot(_on_venues(snapshot(_rows(), at=time.time())))
    model = window.table.model()
    qtbot.waitUntil(lambda: model.rowCount() == 7)
    assert Column.REALIZED in DEFAULT_HIDDEN and window.table.isColumnHidden(Column.REALIZED)
    header = model.headerData(Column.REALIZED, Qt.Orientation.Horizontal, Qt.ItemDataRole.DisplayRole)
    assert header == "Realised"
    window.show_column(Column.REALIZED, True)
    assert not window.table.isColumnHidden(Column.REALIZED)
    cells = _cells(window, Column.REALIZED)
    text = {s: c[Qt.ItemDataRole.DisplayRole] for s, c in cells.items()}
    assert text["TOP/USDT:USDT"] == "-16.50 USDT"
    assert text["UNRANKED/USDT:USDT"] == "+0.00 USDT"
    assert text["MID/USDT:USDT"] == "+12.35 USDT"  # 12.345 to the cent
    assert text["QUANT/USDT:USDT"] == "—" and text["NONE/USDC:USDC"] == "—"
    assert cells["TOP/USDT:USDT"][Qt.ItemDataRole.ToolTipRole] == (
        "Realised PnL -16.50 USDT as by's venue reports it on this position.")
    assert cells["QUANT/USDT:USDT"][Qt.ItemDataRole.ToolTipRole] is None
    window.table.sortByColumn(Column.REALIZED, Qt.SortOrder.AscendingOrder)
    order = [model.index(r, Column.REALIZED).data(KEY_ROLE)[1] for r in range(model.rowCount())]
    assert order[:3] == ["TOP/USDT:USDT", "UNRANKED/USDT:USDT", "MID/USDT:USDT"]


class _UrlCatcher(QObject):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    @Slot(QUrl)
    def open(self, url: QUrl) -> None:
        self.urls.append(url.toString())


@pytest.fixture
def catcher():  # type: ignore[no-untyped-def]
    c = _UrlCatcher()
    QDesktopServices.setUrlHandler("https", c, "open")
    yield c
    QDesktopServices.unsetUrlHandler("https")


def _menu_for(window, symbol: str):  # type: ignore[no-untyped-def]
    model = window.table.model()
    row = next(r for r in range(model.rowCount())
               if model.index(r, Column.SYMBOL).data(KEY_ROLE)[1] == symbol)
    rect = window.table.visualRect(model.index(row, Column.SYMBOL))
    window._table_menu(QPoint(rect.center()))
    menu = window._table_menu_shown
    menu.hide()
    return {a.text(): a for a in menu.actions() if a.text().startswith("Open on")}


def test_open_on_venue_opens_the_position_page(qtbot, window, catcher) -> None:  # type: ignore[no-untyped-def]
    rows = [position("ETH/USDT:USDT", account="by"), position("BTC/USD:BTC", account="ok"),
            position("SOL/USDT:USDT", account="bn"), position("BTC/USDC:USDC", account="hl")]
    window.apply_snapshot(_on_venues(snapshot(rows, at=time.time())))
    qtbot.waitUntil(lambda: window.table.model().rowCount() == 4)
    expected = {"ETH/USDT:USDT": ("Open on Bybit", "https://www.bybit.com/trade/usdt/ETHUSDT"),
                "BTC/USD:BTC": ("Open on OKX", "https://www.okx.com/trade-swap/btc-usd-swap"),
                "SOL/USDT:USDT": ("Open on Binance", "https://www.binance.com/en/futures/SOLUSDT"),
                "BTC/USDC:USDC": ("Open on Hyperliquid", "https://app.hyperliquid.xyz/trade/BTC")}
    for symbol, (label, url) in expected.items():
        actions = _menu_for(window, symbol)
        assert list(actions) == [label]
        assert actions[label].isEnabled()
        actions[label].trigger()
        assert catcher.urls[-1] == url
    assert len(catcher.urls) == 4


def test_no_venue_page_for_a_demo_account(qtbot, window, catcher) -> None:  # type: ignore[no-untyped-def]
    """On the demo venue: the accounts emulate Bybit, Binance… but there is no website behind them."""
    market = manual_market("calm", seed=11)
    portfolio = market.portfolio()
    report = compute_risk(portfolio)
    now = time.time()
    states = tuple(AccountState(a.name, a.venue, DataStatus.LIVE, data_time=now, oldest_mark_time=now,
                                demo=True) for a in portfolio.accounts)
    window.apply_snapshot(MonitorSnapshot(seq=1, at=now, portfolio=portfolio, report=report, accounts=states))
    model = window.table.model()
    qtbot.waitUntil(lambda: model.rowCount() > 0)
    window.show_column(Column.ADL, True)
    by_key = {model.index(r, Column.ADL).data(KEY_ROLE): model.index(r, Column.ADL)
              for r in range(model.rowCount())}
    display = Qt.ItemDataRole.DisplayRole
    # demo-bybit-isolated carries Bybit ranks 5 and 2, demo-binance-usdm a Binance quantile 3
    eth = by_key[("demo-bybit-isolated", "ETH/USDT:USDT", "both", "isolated")]
    assert eth.data(display) == "●●●●●"
    assert QColor(eth.data(Qt.ItemDataRole.ForegroundRole)).name().upper() == (
        QColor(level_text_hex(Level.WARNING)).name().upper())
    assert by_key[("demo-bybit-isolated", "BTC/USDT:USDT", "both", "isolated")].data(display) == "●●○○○"
    assert by_key[("demo-binance-usdm", "ETH/USDT:USDT", "long", "cross")].data(display) == "●●●○"
    assert by_key[("demo-hyperliquid", "BTC/USDC:USDC", "both", "cross")].data(display) == "—"

    actions = _menu_for(window, "ETH/USDT:USDT")
    (label,) = actions
    assert label.startswith("Open on ") and "a demo account has no page on a venue's website" in label
    assert not actions[label].isEnabled()
    actions[label].trigger()  # disabled: does nothing
    assert catcher.urls == []
