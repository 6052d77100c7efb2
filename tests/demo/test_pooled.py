"""The demo venue's pooled accounts (issue 16): a Bybit UTA cross account and a Binance Multi-Assets
account, built as the real readers build their pools, with every figure derived here by hand from
the demo's inputs (wallet × index × the venue's haircut); liquidated whole, with collateral repaying
the loss; and visible through `desk snapshot --demo` and `desk risk` with no keys."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from desk.domain.engine import compute_risk
from desk.domain.model import Portfolio
from desk.exchanges.demo.catalog import ACCOUNTS, instrument
from tests.support.demo import manual_market

ROOT = Path(__file__).resolve().parent.parent.parent


def _held(name: str):  # type: ignore[no-untyped-def]
    return next(a for a in ACCOUNTS if a.name == name)


def test_the_uta_pool_counts_btc_at_bybits_ratio_and_liquidates_nearer_than_the_venue_says():
    market = manual_market("calm", seed=11)
    account = market.account("demo-bybit-uta")
    assert account.pooled and account.margin is not None and account.margin.mode == "bybit uta cross"
    index = market.asset_price("BTC")
    (pos,) = account.positions
    held = _held("demo-bybit-uta")
    usdt, btc = held.wallets["USDT"], held.wallets["BTC"]
    (h,) = held.positions
    # by hand: the long's PnL lands on USDT; BTC counts at Bybit's 0.95 (first tier, 0–10 BTC)
    pnl = h.contracts * (pos.mark_price - h.entry_price)
    mb = (usdt + pnl) + btc * index * 0.95
    taker = instrument("bybit", "BTC/USDT:USDT").taker_fee
    entry_value = h.contracts * h.entry_price
    mm = entry_value * 0.005 + entry_value * (1 - 1 / h.leverage) * taker  # UTA: fee to close on entry value
    risk = compute_risk(Portfolio((account,))).accounts[0]
    (pool,) = risk.pools
    assert pool.pool == "account" and pool.settle == "USD"
    assert pool.margin_balance == pytest.approx(mb, rel=1e-12)
    assert pool.margin_ratio == pytest.approx(mm / mb, rel=1e-9)
    assert account.margin.venue_margin_ratio == pytest.approx(mm / mb, rel=1e-9)  # Bybit's accountMMRate
    by_asset = {c.asset: c for c in pool.collateral}
    assert by_asset["BTC"].value == pytest.approx(btc * index * 0.95, rel=1e-12)
    assert by_asset["BTC"].haircut == pytest.approx(0.05, abs=1e-12)

    # liquidation, linear in the price L: the venue moves only the mark (variant A) ...
    def solve(collateral_per_dollar: float) -> float:
        # usdt + q·(L − entry) + btc·0.95·index·(L/mark)·c − mm = 0
        return (h.contracts * h.entry_price + mm - usdt) / (h.contracts + collateral_per_dollar)

    venue_liq = (h.contracts * h.entry_price + mm - usdt - btc * index * 0.95) / h.contracts
    desk_liq = solve(btc * 0.95 * index / pos.mark_price)  # ... desk's moves the BTC collateral too
    (pr,) = risk.positions
    assert pr.liquidation_price_symbol_only == pytest.approx(venue_liq, rel=1e-9)
    assert pr.liquidation_price == pytest.approx(desk_liq, rel=1e-9)
    assert venue_liq < desk_liq < pos.mark_price  # wrong-way risk: desk's is nearer
    # the venue reports its own figure, rounded up to the tick (Bybit rounds a long's towards the mark)
    assert account.positions[0].reported.liquidation_price is not None
    assert 0 <= account.positions[0].reported.liquidation_price - venue_liq < pos.tick_size + 1e-9


def test_the_multi_assets_pool_counts_each_asset_at_its_index_with_binances_buffers():
    market = manual_market("calm", seed=11)
    account = market.account("demo-binance-multi")
    assert account.pooled and account.margin is not None and account.margin.mode == "binance multi-assets"
    held = _held("demo-binance-multi")
    index = market.asset_price("BTC")
    pnl = sum(h.side.sign * h.contracts * (p.mark_price - h.entry_price)
              for h, p in zip(held.positions, account.positions, strict=True))
    risk = compute_risk(Portfolio((account,))).accounts[0]
    (pool,) = risk.pools
    by_asset = {c.asset: c for c in pool.collateral}
    assert by_asset["USDT"].value == pytest.approx((held.wallets["USDT"] + pnl) * (1 - 0.0001), rel=1e-12)
    assert by_asset["USDC"].value == pytest.approx(held.wallets["USDC"] * (1 - 0.0001), rel=1e-12)
    assert by_asset["BTC"].value == pytest.approx(held.wallets["BTC"] * index * (1 - 0.05), rel=1e-12)
    assert pool.margin_balance == pytest.approx(sum(c.value for c in pool.collateral), rel=1e-12)


def _crash_btc(market, factor: float):  # type: ignore[no-untyped-def]
    """Move BTC's shared index (and so every BTC mark) by ``factor`` at once."""
    market._log_price[market._asset_index["BTC"]] += math.log(factor)
    market._refresh_marks()
    return market._accounts["demo-bybit-uta"]


def test_a_pooled_account_is_liquidated_whole_and_its_collateral_repays_the_loss():
    market = manual_market("calm", seed=11)
    market.step()
    held = _held("demo-bybit-uta")
    (h,) = held.positions
    # BTC falls 22 %: just past desk's liquidation price (both the long and the BTC collateral lose)
    state = _crash_btc(market, 0.78)
    mark, index = market.mark("bybit", "BTC/USDT:USDT"), market.asset_price("BTC")
    ratio = compute_risk(Portfolio((market.account("demo-bybit-uta"),))).accounts[0].pools[0].margin_ratio
    assert ratio is not None and ratio >= 1.0
    # the trader's total equity at the trigger, collateral at its index with no haircut, by hand
    total_equity = held.wallets["USDT"] + h.contracts * (mark - h.entry_price) + held.wallets["BTC"] * index
    assert total_equity > 0  # the mark has not gapped through bankruptcy
    fund_before = market.insurance_fund["bybit:USDT"]
    market._check_liquidation(state)
    events = [e for e in market.events if e.kind == "liquidation" and e.account == "demo-bybit-uta"]
    assert len(events) == 1 and events[0].symbol == "BTC/USDT:USDT"
    assert state.holdings == []
    # taken over where the total equity is zero (only the mark moving): below the trigger mark by
    # total equity ÷ contracts; the BTC collateral is sold to repay the negative USDT wallet
    assert events[0].bankruptcy_price == pytest.approx(mark - total_equity / h.contracts, rel=1e-9)
    assert state.wallets["USDT"] == 0.0
    assert state.wallets["BTC"] == pytest.approx(0.0, abs=1e-12)
    assert market.insurance_fund["bybit:USDT"] - fund_before == pytest.approx(total_equity, rel=1e-9)


def test_a_pool_gapped_through_bankruptcy_costs_the_insurance_fund_what_collateral_cannot_repay():
    market = manual_market("calm", seed=11)
    market.step()
    held = _held("demo-bybit-uta")
    (h,) = held.positions
    state = _crash_btc(market, 0.6)
    mark, index = market.mark("bybit", "BTC/USDT:USDT"), market.asset_price("BTC")
    total_equity = held.wallets["USDT"] + h.contracts * (mark - h.entry_price) + held.wallets["BTC"] * index
    assert total_equity < 0
    fund_before = market.insurance_fund["bybit:USDT"]
    market._check_liquidation(state)
    (event,) = [e for e in market.events if e.kind == "liquidation" and e.account == "demo-bybit-uta"]
    assert event.bankruptcy_price == mark  # closed at the mark
    assert state.wallets == {"USDT": 0.0, "BTC": 0.0}
    assert market.insurance_fund["bybit:USDT"] - fund_before == pytest.approx(total_equity, rel=1e-9)


def test_snapshot_and_risk_show_the_pooled_demo_accounts_with_their_mode(subprocess_env, tmp_path):
    path = tmp_path / "demo.json"
    made = subprocess.run([sys.executable, "-m", "desk", "snapshot", "--demo", "--seed", "3", "-o",
                           str(path)], capture_output=True, text=True, cwd=ROOT, env=subprocess_env,
                          timeout=120)
    assert made.returncode == 0, made.stderr
    saved = json.loads(path.read_text())
    modes = {a["name"]: a["margin"]["mode"] for a in saved["accounts"] if a.get("margin")}
    assert modes == {"demo-bybit-uta": "bybit uta cross", "demo-binance-multi": "binance multi-assets"}
    shown = subprocess.run([sys.executable, "-m", "desk", "risk", str(path)], capture_output=True, text=True,
                           cwd=ROOT, env=subprocess_env, timeout=120)
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    for name, mode in modes.items():
        head = lines.index(next(line for line in lines if line.startswith(f"{name} (")))
        assert lines[head + 1] == f"  mode: {mode} (one margin pool for the account, valued in USD)"
    uta = lines.index("demo-bybit-uta (bybit, bybit rules)")
    assert lines[uta + 3].startswith("    collateral USDT: 500 USDT at 1.0000 USD")
    assert lines[uta + 4].startswith("    collateral BTC: 0.12 BTC at ")
    assert "haircut 5.00 %" in lines[uta + 4]
