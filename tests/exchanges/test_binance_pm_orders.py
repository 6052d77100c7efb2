"""Binance Portfolio Margin open orders (issue 17 for the /papi account): read where Binance keeps
them, so a PM position gets its stop verdict — end to end as a user runs it.

Binance (developers.binance.com, Portfolio Margin changelog 2026-04-14): the UM conditional order
endpoints ``/papi/v1/um/conditional/*`` answer 404 from 2026-04-28; the conditional orders are
listed by ``GET /papi/v1/um/algo/openAlgoOrders`` (the /fapi algo row: ``algoId``, ``orderType``,
``triggerPrice``, ``quantity``). Plain orders: ``GET /papi/v1/um/openOrders`` (the /fapi row).
ccxt 4.5.90 routes ``fetch_open_orders(symbol, params={"portfolioMargin": True})`` to the first and
adds ``"trigger": True`` for the second.

The fake account (test_binance_pm.py): BTCUSDT long 0.4, mark 60,000; ETHUSDT short 5, mark 3,100;
USDT 2,000 (UPL −1,300), BTC 0.05 (rate 0.95), ETH 0.5 (rate 0.90); indexes USDT 0.9999, BTC 60,000,
ETH 3,100; uniMMR threshold 1.05. Its orders (binance_papi_um_open*.json):

    BTCUSDT LIMIT SELL 0.4 @ 66,000 reduce-only     — a plain order, no stop
    BTCUSDT STOP_MARKET SELL 0.4, trigger 55,000    — the whole long
    ETHUSDT STOP_MARKET BUY 2, trigger 3,600        — 2 of the 5 short
    ETHUSDT TAKE_PROFIT_MARKET BUY 5, trigger 2,700 — a take-profit, no stop

The liquidation prices by hand (unified-margin.md §2; each position alone moving, its own coin's
collateral moving with it — the pool's figure desk compares a stop with):

BTC at x: 0.9999·(2,000 + 0.4·(x − 62,000) − 500) + 0.05·x·0.95 + 0.5·3,100·0.9
          = 1.05·0.9999·(0.4·x·0.004 + 5·3,100·0.0065 − 15)
ETH at y: 0.9999·(2,000 − 800 − 5·(y − 3,000)) + 0.05·60,000·0.95 + 0.5·y·0.9
          = 1.05·0.9999·(0.4·60,000·0.004 + 5·y·0.0065 − 15)
(the USDT equity is negative there; at rate 1 it counts the same either way).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from desk.formats import load_portfolio
from tests.exchanges.conftest import read_once
from tests.support.file_keyring import BACKEND as FILE_KEYRING

ROOT = Path(__file__).resolve().parents[2]
K, USDT = 1.05, 0.9999


def btc_liquidation() -> float:
    slope = USDT * 0.4 + 0.05 * 0.95 - K * USDT * 0.4 * 0.004
    constant = USDT * (62_000 * 0.4 - 2_000 + 500) - 0.5 * 3_100 * 0.9 + K * USDT * (5 * 3_100 * 0.0065 - 15)
    return constant / slope


def eth_liquidation() -> float:
    slope = USDT * 5 - 0.5 * 0.9 + K * USDT * 5 * 0.0065
    btc_mm = 0.4 * 60_000 * 0.004
    constant = USDT * (2_000 - 800 + 5 * 3_000) + 0.05 * 60_000 * 0.95 - K * USDT * (btc_mm - 15)
    return constant / slope


def desk(env: dict[str, str], *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "desk", *args], cwd=ROOT, env=env, input=stdin,
                          capture_output=True, text=True, timeout=120, check=False)


def test_a_portfolio_margin_account_reads_its_orders_on_papi(fake, keys, make_config):
    fake.state["binance"]["portfolioMargin"] = True
    account = read_once(make_config("binanceusdm"), keys.as_secrets()).account
    assert account.orders is not None
    got = sorted((o.symbol, o.kind.value, o.side.value, o.contracts, o.trigger_price, o.price, o.source,
                  o.order_id) for o in account.orders)
    assert got == [
        ("BTC/USDT:USDT", "limit", "sell", 0.4, None, 66_000, "order", "8389765600000000101"),
        ("BTC/USDT:USDT", "stop", "sell", 0.4, 55_000, None, "conditional", "4471001"),
        ("ETH/USDT:USDT", "stop", "buy", 2, 3_600, None, "conditional", "4471002"),
        ("ETH/USDT:USDT", "take_profit", "buy", 5, 2_700, None, "conditional", "4471003"),
    ]
    orders = [r for r in fake.requests if "openOrders" in r.path or "openAlgoOrders" in r.path]
    # per symbol (weight 1 each, not 40 without one), on /papi only; never the retired conditional route
    assert sorted((r.path, r.query.get("symbol")) for r in orders) == [
        ("/papi/v1/um/algo/openAlgoOrders", "BTCUSDT"), ("/papi/v1/um/algo/openAlgoOrders", "ETHUSDT"),
        ("/papi/v1/um/openOrders", "BTCUSDT"), ("/papi/v1/um/openOrders", "ETHUSDT")]
    assert all("portfolioMargin" not in r.query and "trigger" not in r.query for r in orders)


def test_beyond_the_per_symbol_limit_one_papi_read_of_each_kind(fake, keys, make_config, monkeypatch):
    monkeypatch.setattr("desk.exchanges.adapters.orders._BINANCE_PER_SYMBOL_MAX", 1)  # 2 symbols held
    fake.state["binance"]["portfolioMargin"] = True
    account = read_once(make_config("binanceusdm"), keys.as_secrets()).account
    assert len(account.orders) == 4
    orders = [(r.path, r.query.get("symbol")) for r in fake.requests if "penOrders" in r.path
              or "penAlgoOrders" in r.path]
    assert sorted(orders) == [("/papi/v1/um/algo/openAlgoOrders", None), ("/papi/v1/um/openOrders", None)]


def test_a_coin_m_portfolio_margin_account_reads_its_cm_orders(fake, keys, make_config):
    """COIN-M in Portfolio Margin: /papi/v1/cm/openOrders and /papi/v1/cm/conditional/openOrders,
    whose rows name the order ``strategyType`` / ``stopPrice`` / ``strategyId`` (Binance's example)."""
    state = fake.state["binance"]
    state["portfolioMargin"] = True
    state["papi_cm_positionRisk"] = [
        {"symbol": "BTCUSD_PERP", "positionAmt": "-10", "entryPrice": "61000", "markPrice": "60000",
         "unRealizedProfit": "0.00273224", "liquidationPrice": "0", "leverage": "20", "positionSide": "BOTH",
         "updateTime": 1733300000000, "maxQty": "100", "notionalValue": "-0.01666667",
         "breakEvenPrice": "61000"}]
    state["papi_um_positionRisk"] = []
    for row in state["papi_balance"]:
        row["umUnrealizedPNL"] = "0.00000000"
    state["papi_cm_conditional_openOrders"] = [
        {"newClientStrategyId": "desk-fake-cm-1", "strategyId": 9920001, "strategyStatus": "NEW",
         "strategyType": "STOP_MARKET", "origQty": "10", "price": "0", "reduceOnly": True, "side": "BUY",
         "positionSide": "BOTH", "stopPrice": "66000", "symbol": "BTCUSD_PERP", "bookTime": 1733300000000,
         "updateTime": 1733300000000, "timeInForce": "GTC", "activatePrice": "", "priceRate": ""}]
    account = read_once(make_config("binancecoinm"), keys.as_secrets()).account
    assert [(o.symbol, o.kind.value, o.side.value, o.contracts, o.trigger_price, o.order_id, o.source)
            for o in account.orders] == [("BTC/USD:BTC", "stop", "buy", 10, 66_000, "9920001", "conditional")]
    paths = {(r.path, r.query.get("symbol")) for r in fake.requests if "penOrders" in r.path}
    assert paths == {("/papi/v1/cm/openOrders", "BTCUSD_PERP"),
                     ("/papi/v1/cm/conditional/openOrders", "BTCUSD_PERP")}


def test_accounts_add_snapshot_risk_shows_the_pm_stop_verdicts(fake, keys, subprocess_env, tmp_path):
    fake.state["binance"]["portfolioMargin"] = True
    env = dict(subprocess_env, PYTHONPATH=str(ROOT), PYTHON_KEYRING_BACKEND=FILE_KEYRING,
               DESK_TEST_KEYRING=str(tmp_path / "k.json"))
    added = desk(env, "accounts", "add", "pm", "--venue", "binanceusdm", "--api-url", fake.url,
                 "--secrets-from-stdin", stdin=f"{keys.api_key}\n{keys.secret}\n")
    assert added.returncode == 0, added.stderr
    out = tmp_path / "pm.json"
    snap = desk(env, "snapshot", "--account", "pm", "-o", str(out))
    assert snap.returncode == 0, snap.stderr
    assert keys.secret not in out.read_text() and keys.api_key not in out.read_text()
    assert len(json.loads(out.read_text())["accounts"][0]["orders"]) == 4
    portfolio = load_portfolio(out)
    taker = {p.symbol: p.taker_fee for p in portfolio.account("pm").positions}

    done = desk(env, "risk", str(out), "--json")
    assert done.returncode == 0, done.stderr
    (acc,) = json.loads(done.stdout)["accounts"]
    rows = {p["symbol"]: p for p in acc["positions"]}
    btc, eth = rows["BTC/USDT:USDT"], rows["ETH/USDT:USDT"]
    x, y = btc_liquidation(), eth_liquidation()
    assert (round(x, 2), round(y, 2)) == (49_335.30, 4_137.20)
    assert btc["liquidation_price"] == pytest.approx(x, rel=1e-9)
    assert eth["liquidation_price"] == pytest.approx(y, rel=1e-9)
    # BTC: the stop at 55,000 sits between the liquidation (49,335.30) and the mark: the whole 0.4
    assert btc["protection"]["verdict"] == "protected"
    assert btc["protection"]["stop_price"] == 55_000 and btc["protection"]["coverage"] == 1.0
    assert btc["protection"]["stop_fill_loss"] == pytest.approx(
        0.4 * (60_000 - 55_000) + taker["BTC/USDT:USDT"] * 0.4 * 55_000, rel=1e-12)  # 2,011 USDT
    # ETH: the stop at 3,600 fires before the liquidation at 4,137.20 but for 2 of 5; the take-profit
    # at 2,700 protects nothing
    assert eth["protection"]["verdict"] == "partly"
    assert eth["protection"]["coverage"] == pytest.approx(2 / 5, rel=1e-12)
    assert eth["protection"]["stop_fill_loss"] == pytest.approx(
        2 * (3_600 - 3_100) + taker["ETH/USDT:USDT"] * 2 * 3_600, rel=1e-12)  # 1,003.6 USDT
    text = desk(env, "risk", str(out))
    assert text.returncode == 0, text.stderr
    assert "protected (stop 55,000" in text.stdout and "partly protected (40 % of size)" in text.stdout
