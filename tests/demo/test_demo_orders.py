"""The demo venue's resting orders (issue 17): every protection verdict shows with no keys, and the
flash crash fills the SOL long's stop before the liquidation engine takes the rest.

Each figure is derived here from the account the venue reported the step before (the engine's PnL
and notional for the closed part, the taker fee, the margin share released), never copied from a run.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from desk.domain.engine import compute_risk
from desk.domain.model import Portfolio
from desk.domain.protection import OrderKind, OrderSide, Verdict
from desk.exchanges.demo.catalog import instrument
from tests.support.demo import engine_position, find, manual_market

ROOT = Path(__file__).resolve().parents[2]
BYBIT = "demo-bybit-isolated"
SOL = "SOL/USDT:USDT"


def _verdicts(market) -> dict[tuple[str, str, str], Verdict]:
    report = compute_risk(market.portfolio())
    return {(a.name, p.symbol, p.side): p.protection.verdict for a in report.accounts for p in a.positions}


def test_every_verdict_is_on_the_demo_book_at_the_start():
    market = manual_market("calm", seed=7)
    verdicts = _verdicts(market)
    assert verdicts[(BYBIT, "BTC/USDT:USDT", "long")] is Verdict.PROTECTED
    assert verdicts[(BYBIT, SOL, "long")] is Verdict.PARTLY
    assert verdicts[("demo-binance-usdm", "ETH/USDT:USDT", "long")] is Verdict.PARTLY
    assert verdicts[("demo-binance-coinm", "BTC/USD:BTC", "long")] is Verdict.BEYOND_LIQUIDATION
    assert verdicts[(BYBIT, "ETH/USDT:USDT", "short")] is Verdict.UNPROTECTED
    # the verdicts follow from the prices: each stop against the position's liquidation price
    report = {(a.name, p.symbol, p.side): p for a in compute_risk(market.portfolio()).accounts
              for p in a.positions}
    coinm = report[("demo-binance-coinm", "BTC/USD:BTC", "long")]
    assert 47_000 < coinm.liquidation_price < coinm.mark_price  # a long's stop below liquidation
    btc = report[(BYBIT, "BTC/USDT:USDT", "long")]
    assert btc.liquidation_price < 51_000 < btc.mark_price
    sol = report[(BYBIT, SOL, "long")]
    assert sol.liquidation_price < 127 < sol.mark_price
    assert sol.protection.coverage == pytest.approx(18 / 60)


def test_orders_are_reported_as_a_venue_reports_them():
    account = manual_market("calm", seed=7).account("demo-binance-usdm")
    stop, take = sorted(account.orders, key=lambda o: o.kind.value)
    assert (stop.kind, stop.side, stop.contracts, stop.trigger_price, stop.reduce_only, stop.leg.value) == \
        (OrderKind.STOP, OrderSide.SELL, 4.0, 2_300.0, True, "long")
    assert (take.kind, take.contracts, take.trigger_price) == (OrderKind.TAKE_PROFIT, None, 3_400.0)


def test_flash_crash_fills_the_stop_before_the_liquidation_takes_the_rest():
    market = manual_market("flash-crash", seed=7)
    while True:  # step until the stop fills, keeping the account as of the step before
        previous = market.account(BYBIT)
        market.step()
        if any(e.kind == "stop_filled" for e in market.events):
            break
        assert market.sim_time < 2400, "the stop never filled"
    fill = next(e for e in market.events if e.kind == "stop_filled")
    mark = market.mark("bybit", SOL)
    held = find(previous, SOL, "both")
    assert held is not None and held.contracts == 60
    # the first step at which the mark is at or below the trigger, and the fill at that mark
    assert mark <= 127 < held.mark_price
    assert (fill.price, fill.contracts, fill.side) == (mark, 18.0, "long")
    # realised: the engine's PnL of 18 contracts at the fill, less the taker fee on their value
    part = engine_position(previous, SOL, "both", mark=mark)
    realised = part.unrealized_pnl * 18 / 60
    fee = instrument("bybit", SOL).taker_fee * abs(part.notional) * 18 / 60
    assert fill.amount == pytest.approx(realised - fee, rel=1e-9)
    after = market.account(BYBIT)
    rest = find(after, SOL, "both")
    assert rest is not None and rest.contracts == pytest.approx(42)
    # 18/60 of the position margin comes back with the realised result; the rest stays posted,
    # so the liquidation price of what is left does not move
    assert rest.isolated_margin == pytest.approx(held.isolated_margin * 42 / 60, rel=1e-12)
    released = held.isolated_margin * 18 / 60
    wallet = previous.wallet("USDT") + released + realised - fee
    assert after.wallet("USDT") == pytest.approx(wallet, rel=1e-12)
    assert engine_position(after, SOL, "both").liquidation_price == pytest.approx(
        engine_position(previous, SOL, "both").liquidation_price, rel=1e-9)
    # the stop is gone, the BTC long's stop stays; the rest of the SOL long is now unprotected
    assert [(o.symbol, o.trigger_price) for o in after.orders] == [("BTC/USDT:USDT", 51_000.0)]
    risk = {p.symbol: p for p in compute_risk(Portfolio((after,))).accounts[0].positions}
    assert risk[SOL].protection.verdict is Verdict.UNPROTECTED
    # later the liquidation engine takes the 42 contracts left, not 60
    market.advance_to(2400)
    liquidations = [e for e in market.events if e.kind == "liquidation"]
    assert [(e.symbol, e.contracts) for e in liquidations] == [(SOL, 42.0)]
    assert liquidations[0].sim_time > fill.sim_time


def test_a_take_profit_and_a_whole_position_stop_close_everything_and_cancel_the_rest():
    # squeeze: ETH rips higher; the Binance ETH long's take-profit at 3,400 closes it whole (its
    # reduce-only stop for a third goes with it, as a venue cancels it)
    market = manual_market("squeeze", seed=7)
    market.advance_to(3600)
    filled = [e for e in market.events if e.kind == "take_profit_filled"]
    closed = [(e.account, e.symbol, e.contracts) for e in filled]
    assert closed == [("demo-binance-usdm", "ETH/USDT:USDT", 12.0)]
    assert filled[0].price >= 3_400
    account = market.account("demo-binance-usdm")
    assert find(account, "ETH/USDT:USDT", "long") is None
    assert [o for o in account.orders if o.symbol == "ETH/USDT:USDT"] == []


def test_snapshot_and_risk_from_the_command_line_show_the_verdicts(tmp_path: Path) -> None:
    env = {"DESK_HOME": str(tmp_path / "home"), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    out = tmp_path / "demo.json"
    run = [sys.executable, "-m", "desk"]
    subprocess.run([*run, "snapshot", "--demo", "--seed", "7", "-o", str(out)], cwd=ROOT, env=env,
                   check=True, capture_output=True, text=True, timeout=120)
    orders = [o for a in json.loads(out.read_text())["accounts"] for o in a.get("orders", [])]
    assert len(orders) == 5
    report = subprocess.run([*run, "risk", "--json", str(out)], cwd=ROOT, env=env, check=True,
                            capture_output=True, text=True, timeout=120)
    shown = {(a["name"], p["symbol"], p["side"]): p["protection"]["verdict"]
             for a in json.loads(report.stdout)["accounts"] for p in a["positions"]}
    assert shown[(BYBIT, "BTC/USDT:USDT", "long")] == "protected"
    assert shown[(BYBIT, SOL, "long")] == "partly"
    assert shown[("demo-binance-coinm", "BTC/USD:BTC", "long")] == "beyond_liquidation"
    assert shown[(BYBIT, "ETH/USDT:USDT", "short")] == "unprotected"
