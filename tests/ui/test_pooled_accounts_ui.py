"""What the dashboard paints for an account whose venue pools collateral (issue 16), on the demo's
two pooled accounts: the card names the mode in the venue's words and lists each collateral coin
(figures derived here from the demo's inputs: amount × index × the venue's haircut), and the what-if
panel moves a collateral price or adds collateral, with the figures desk.domain computes."""

from __future__ import annotations

import time

import pytest
from PySide6.QtGui import QFontMetrics

from desk.domain import display
from desk.domain.engine import compute_risk
from desk.domain.whatif import add_account_margin, move_collateral_price
from desk.exchanges.demo.catalog import ACCOUNTS
from desk.services.snapshot import AccountState, DataStatus
from desk.ui import formatting as fmt
from desk.ui.levels import global_thresholds
from desk.ui.whatif import WhatIfPanel
from desk.ui.widgets import AccountsPanel
from tests.support.demo import manual_market


@pytest.fixture
def demo():  # type: ignore[no-untyped-def]
    market = manual_market("calm", seed=11)
    return market, market.portfolio()


def _held(name: str):  # type: ignore[no-untyped-def]
    return next(a for a in ACCOUNTS if a.name == name)


def _panel(qtbot, portfolio, width: int) -> AccountsPanel:  # type: ignore[no-untyped-def]
    panel = AccountsPanel()
    qtbot.addWidget(panel)
    panel.resize(width, 300)
    panel.show()
    now = time.time()
    states = tuple(AccountState(a.name, a.venue, DataStatus.LIVE, data_time=now, oldest_mark_time=now,
                                demo=True) for a in portfolio.accounts)
    panel.update_accounts(compute_risk(portfolio).accounts, states, global_thresholds(), now, 60.0)
    qtbot.wait(50)
    return panel


def _fits(label, text: str) -> bool:  # type: ignore[no-untyped-def]
    return QFontMetrics(label.font()).horizontalAdvance(text) <= label.contentsRect().width()


@pytest.mark.parametrize("width", [1280, 1920])
def test_each_pooled_card_says_its_mode_and_lists_its_collateral(qtbot, demo, width) -> None:  # type: ignore[no-untyped-def]
    market, portfolio = demo
    panel = _panel(qtbot, portfolio, width)
    index = market.asset_price("BTC")
    uta = _held("demo-bybit-uta")
    (h,) = uta.positions
    mark = market.mark("bybit", "BTC/USDT:USDT")
    usdt_equity = uta.wallets["USDT"] + h.contracts * (mark - h.entry_price)
    expected = {
        "demo-bybit-uta": ("UTA cross",
                           [("USDT", "500.00", "", usdt_equity),
                            ("BTC", "0.12", "×0.95", uta.wallets["BTC"] * index * 0.95)]),
    }
    multi = _held("demo-binance-multi")
    pnl = sum(x.side.sign * x.contracts * (market.mark("binanceusdm", x.symbol) - x.entry_price)
              for x in multi.positions)
    expected["demo-binance-multi"] = (
        "Multi-Assets",
        [("USDT", "4,000", "", (multi.wallets["USDT"] + pnl) * 0.9999),
         ("USDC", "3,000", "", multi.wallets["USDC"] * 0.9999),
         ("BTC", "0.05", "×0.95", multi.wallets["BTC"] * index * 0.95)])
    for name, (mode, coins) in expected.items():
        card = panel.cards[name]
        # the mode where a single-asset card names its wallet, the collateral coins where it shows it
        assert card.wallet_label.text() == mode and _fits(card.wallet_label, mode)
        assert card.collateral.isVisible() and not card.wallet.isVisible()
        assert "one USD pool" in card.wallet_label.toolTip()
        if name == "demo-binance-multi":  # the stablecoins' 0.01 % buffer, too small for the card
            assert "USDC: 3,000 USDC at 1.0000 USD, haircut 0.01 %, counts 2,999.70 USD" in \
                card.collateral.toolTip().split("\n")
        items = card.collateral.text().split(" · ")
        assert items == [f"{a} {amount}" + (f" ({share})" if share else "") for a, amount, share, _ in coins]
        # one line, the card as wide as it needs: no coin is cut
        assert _fits(card.collateral, card.collateral.text()), card.collateral.contentsRect().width()
        tip = card.collateral.toolTip()
        for asset, _, _, value in coins:
            assert f"counts {display.money(value, 'USD')}" in tip.split(f"\n{asset}: ")[1].split("\n")[0], tip
        assert "venue's own figure" in card.bar.toolTip()
    # the other cards carry no pool line
    usdm = panel.cards["demo-binance-usdm"]
    assert usdm.wallet.isVisible() and not usdm.collateral.isVisible()
    assert usdm.wallet_label.text() in ("Cross wallet", "Wallet")


def _row(panel: WhatIfPanel, name: str) -> tuple[str, str, str]:
    return next(r for r in panel.rows() if r[0] == name)


def test_what_if_moves_the_btc_collateral_and_the_long_liquidates_nearer(qtbot, demo) -> None:  # type: ignore[no-untyped-def]
    _, portfolio = demo
    panel = WhatIfPanel(target=0.5)
    qtbot.addWidget(panel)
    panel.set_portfolio(portfolio)
    # an account that does not pool collateral shows no collateral rows
    panel.select("demo-binance-usdm")
    assert panel.collateral_box.count() == 0
    panel.select("demo-bybit-uta", "BTC/USDT:USDT")
    assert [panel.collateral_box.itemText(i) for i in range(panel.collateral_box.count())] == ["USDT", "BTC"]
    panel.collateral_box.setCurrentText("BTC")
    panel.collateral_move_spin.setValue(-10.0)
    assert panel.error is None
    before = compute_risk(portfolio).accounts
    after = compute_risk(move_collateral_price(portfolio, "demo-bybit-uta", "BTC", -0.10)).accounts
    b = next(a for a in before if a.name == "demo-bybit-uta").positions[0]
    a = next(a for a in after if a.name == "demo-bybit-uta").positions[0]
    assert _row(panel, "liquidation") == ("liquidation", fmt.price(b.liquidation_price, b.tick_size),
                                          fmt.price(a.liquidation_price, a.tick_size))
    # BTC collateral falling brings a BTC long's liquidation closer (higher, towards the mark)
    assert b.liquidation_price < a.liquidation_price < a.mark_price
    # by hand: the liquidation price L is linear — usdt + q·(L − entry) + btc·0.95·(0.9·index)·L/mark = MM
    uta = _held("demo-bybit-uta")
    (h,) = uta.positions
    account = portfolio.account("demo-bybit-uta")
    index = account.margin.asset("BTC").price  # type: ignore[union-attr]
    mark = account.positions[0].mark_price
    entry_value = h.contracts * h.entry_price
    mm = entry_value * 0.005 + entry_value * (1 - 1 / h.leverage) * account.positions[0].taker_fee
    collateral_per_dollar = uta.wallets["BTC"] * 0.95 * 0.9 * index / mark
    by_hand = (entry_value + mm - uta.wallets["USDT"]) / (h.contracts + collateral_per_dollar)
    assert a.liquidation_price == pytest.approx(by_hand, rel=1e-9)
    pool_row = _row(panel, "pool margin ratio")
    pool_after = next(x for x in after if x.name == "demo-bybit-uta").pools[0]
    assert pool_row[2] == fmt.margin_ratio(pool_after.margin_ratio)


def test_what_if_adds_collateral_to_the_pool(qtbot, demo) -> None:  # type: ignore[no-untyped-def]
    _, portfolio = demo
    panel = WhatIfPanel(target=0.5)
    qtbot.addWidget(panel)
    panel.set_portfolio(portfolio)
    panel.select("demo-binance-multi")
    panel.collateral_box.setCurrentText("USDC")
    panel.collateral_add_spin.setValue(2_000.0)
    assert panel.error is None
    after = compute_risk(add_account_margin(portfolio, "demo-binance-multi", "USDC", 2_000.0)).accounts
    pool = next(a for a in after if a.name == "demo-binance-multi").pools[0]
    assert _row(panel, "USD pool margin balance")[2] == fmt.money(pool.margin_balance, "USD")
    before = next(a for a in compute_risk(portfolio).accounts if a.name == "demo-binance-multi").pools[0]
    # 2,000 USDC at index 1 with Binance's 0.01 % bid buffer
    assert pool.margin_balance - before.margin_balance == pytest.approx(2_000.0 * 0.9999, rel=1e-12)
