"""A Binance Portfolio Margin account's coins as the book's spot legs (issue 21, the whole book): in
Portfolio Margin the coins of the margin account are the pool's collateral (``/papi/v1/balance``:
``totalWalletBalance`` = cross margin free + locked + UM wallet + CM wallet; ``crossMarginBorrowed``
and ``crossMarginInterest`` the loan), so the coin a trader bought against a perpetual short is there,
not in the spot wallet. desk shows it as a spot leg, as it does a Bybit UTA's or an OKX trading
account's coins, and the book's stress moves it once, with the pool.

The fake account (test_binance_pm.py) with the BTC leg turned into a short:

    USDT 2,000 (UM, UPL +400 − 500 = −100), index 0.9999, rate 1
    BTC 0.05 (cross margin), index 60,000, rate 0.95;  ETH 0.5, index 3,100, rate 0.90
    BTCUSDT short 0.2 @ 62,000, mark 60,000 (PnL +400; notional 12,000: bracket 0.4 %, cum 0)
    ETHUSDT short 5 @ 3,000, mark 3,100 (PnL −500; notional 15,500: bracket 0.65 %, cum 15)

MM = (0.2·60,000·0.004 + 5·3,100·0.0065 − 15)·0.9999 = 133.736625 USD; equity = 1,900·0.9999 + 2,850 +
1,395 = 6,144.81 USD. The BTC short alone moving to x, the BTC collateral with it (§2):
0.9999·(1,500 + 0.2·(62,000 − x)) + 0.05·x·0.95 + 1,395 = 1.05·0.9999·(0.2·x·0.004 + 85.75).
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
MM = (0.2 * 60_000 * 0.004 + 5 * 3_100 * 0.0065 - 15) * USDT
EQUITY = (2_000 + 400 - 500) * USDT + 0.05 * 60_000 * 0.95 + 0.5 * 3_100 * 0.9


def btc_short_liquidation() -> float:
    slope = USDT * 0.2 - 0.05 * 0.95 + K * USDT * 0.2 * 0.004
    return (USDT * (1_500 + 0.2 * 62_000) + 1_395 - K * USDT * 85.75) / slope


def short_btc_against_the_margin_coins(fake) -> None:
    state = fake.state["binance"]
    state["portfolioMargin"] = True
    btc = next(r for r in state["papi_um_positionRisk"] if r["symbol"] == "BTCUSDT")
    btc.update(positionAmt="-0.200", unRealizedProfit="400.00000000", notional="-12000.00000000",
               liquidationPrice=f"{btc_short_liquidation():.8f}", breakEvenPrice="61969.0")
    usdt = next(r for r in state["papi_balance"] if r["asset"] == "USDT")
    usdt["umUnrealizedPNL"] = "-100.00000000"
    state["papi_account"].update(accountMaintMargin=f"{MM:.8f}", uniMMR=f"{EQUITY / MM:.8f}",
                                 accountEquity=f"{EQUITY:.8f}")


def test_the_margin_coins_are_the_accounts_spot_legs(fake, keys, make_config):
    short_btc_against_the_margin_coins(fake)
    account = read_once(make_config("binanceusdm"), keys.as_secrets()).account
    # USDT: a dollar, no hedge leg; BNB: nothing held
    legs = [(b.asset, b.amount, b.price) for b in account.spot]
    assert legs == [("BTC", 0.05, 60_000), ("ETH", 0.5, 3_100)]
    assert account.margin.cannot_recompute is None  # still the pool: the coins count there too
    assert {c.asset for c in account.margin.collateral} == {"USDT", "BTC", "ETH"}


def test_a_loan_is_taken_off_the_coin_held(fake, keys, make_config):
    short_btc_against_the_margin_coins(fake)
    btc = next(r for r in fake.state["binance"]["papi_balance"] if r["asset"] == "BTC")
    # 0.08 BTC in the margin account, 0.03 of it borrowed (with 0.0001 interest): 0.0499 BTC is the trader's
    btc.update(totalWalletBalance="0.08000000", crossMarginAsset="0.08000000", crossMarginFree="0.08000000",
               crossMarginBorrowed="0.03000000", crossMarginInterest="0.00010000")
    account = read_once(make_config("binanceusdm"), keys.as_secrets()).account
    (leg,) = [b for b in account.spot if b.asset == "BTC"]
    assert leg.amount == pytest.approx(0.08 - 0.03 - 0.0001, rel=1e-12)


def desk(env: dict[str, str], *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "desk", *args], cwd=ROOT, env=env, input=stdin,
                          capture_output=True, text=True, timeout=120, check=False)


def test_desk_risk_shows_the_hedge_in_the_whole_book(fake, keys, subprocess_env, tmp_path):
    short_btc_against_the_margin_coins(fake)
    env = dict(subprocess_env, PYTHONPATH=str(ROOT), PYTHON_KEYRING_BACKEND=FILE_KEYRING,
               DESK_TEST_KEYRING=str(tmp_path / "k.json"))
    added = desk(env, "accounts", "add", "pm", "--venue", "binanceusdm", "--api-url", fake.url,
                 "--secrets-from-stdin", stdin=f"{keys.api_key}\n{keys.secret}\n")
    assert added.returncode == 0, added.stderr
    out = tmp_path / "pm.json"
    snap = desk(env, "snapshot", "--account", "pm", "-o", str(out))
    assert snap.returncode == 0, snap.stderr
    spot = load_portfolio(out).account("pm").spot
    assert [(b.asset, b.amount) for b in spot] == [("BTC", 0.05), ("ETH", 0.5)]

    done = desk(env, "risk", str(out), "--json")
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    (pool,) = doc["accounts"][0]["pools"]
    assert pool["margin_balance"] == pytest.approx(EQUITY, rel=1e-12)
    assert pool["maintenance_margin"] == pytest.approx(MM, rel=1e-12)
    book = doc["book"]
    exposure = {e["underlying"]: e for e in book["exposures"]}
    assert (exposure["BTC"]["long_coin"], exposure["BTC"]["short_coin"]) == pytest.approx((0.05, 0.2))
    assert exposure["BTC"]["net_usd"] == pytest.approx((0.05 - 0.2) * 60_000)
    assert (exposure["ETH"]["long_coin"], exposure["ETH"]["short_coin"]) == pytest.approx((0.5, 5))
    hedges = {h["underlying"]: h for h in book["hedges"]}
    btc = hedges["BTC"]
    legs = (btc["long"]["kind"], btc["long"]["symbol"], btc["short"]["symbol"])
    assert legs == ("spot", "BTC", "BTC/USDT:USDT")
    assert btc["hedged_coin"] == pytest.approx(0.05)
    x = btc_short_liquidation()
    assert round(x, 2) == 99_162.47 and 0.2 * x < 50_000  # still the first bracket there
    # the perpetual breaks first, at the pool's liquidation price for it (the spot leg never does)
    assert btc["breaks"] == "short" and btc["break_price"] == pytest.approx(x, rel=1e-9)

    # one stress for the book, all marks +10 %: the pool's equity moves by the shorts' loss in USDT
    # (−0.2·6,000 − 5·310 at index 0.9999) and its coins' gain (0.05·6,000 + 0.5·310) — the coins once,
    # with the pool, not again as spot legs
    uniform = next(s for s in book["stress"] if s["mode"] == "uniform")
    point = next(p for p in uniform["points"] if p["shock"] == pytest.approx(0.10))
    assert point["liquidated"] == []
    assert point["pnl_usd"] == pytest.approx(-(0.2 * 6_000 + 5 * 310) * USDT + 0.05 * 6_000 + 0.5 * 310,
                                             rel=1e-9)  # −2,294.725 USD

    text = desk(env, "risk", str(out))
    assert text.returncode == 0, text.stderr
    section = text.stdout.split("\nBook (every account and venue)\n", 1)[1]
    assert "hedge pm BTC spot against pm BTC/USDT:USDT short (0.05 BTC):" in section
