"""Binance's funding interval per position (issue 17): its premium index has none, so desk reads
``GET /fapi/v1/fundingInfo`` (public, weight 0), which lists only the symbols whose funding cap,
floor or interval Binance adjusted (developers.binance.com, "Get Funding Rate Info"); every other
perpetual pays every 8 h (Binance's funding-rate FAQ: 00:00, 08:00, 16:00 UTC). Read at most every
``FUNDING_INFO_REFRESH_SECONDS``; an unread answer leaves the interval unknown, never 8 by guess.

The fake (binance_fapi_fundingInfo.json) lists ETHUSDT at 4 h; BTCUSDT is absent.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest

from desk.domain import display
from desk.domain.model import MarginMode, Portfolio
from desk.domain.scalar import compute_risk_scalar
from desk.exchanges.adapters.binance import FUNDING_INFO_REFRESH_SECONDS
from desk.formats import load_portfolio
from tests.exchanges.conftest import read_many, read_once
from tests.fake_exchange import Fault
from tests.support.file_keyring import BACKEND as FILE_KEYRING

ROOT = Path(__file__).resolve().parents[2]


def test_a_listed_symbol_has_its_interval_and_an_absent_one_binance_default(fake, keys, make_config):
    snap = read_once(make_config("binanceusdm"), keys.as_secrets())
    hours = {p.symbol: p.funding_interval_hours for p in snap.account.positions}
    assert hours == {"ETH/USDT:USDT": 4, "BTC/USDT:USDT": 8}
    assert fake.paths("/fapi/v1/fundingInfo") == ["GET /fapi/v1/fundingInfo"]
    assert not snap.warnings


def test_the_funding_info_is_read_again_only_after_its_refresh(fake, keys, make_config):
    assert FUNDING_INFO_REFRESH_SECONDS >= 300
    snaps = read_many(make_config("binanceusdm"), keys.as_secrets(), 3)
    assert all(s.account.positions[0].funding_interval_hours is not None for s in snaps)
    assert fake.paths().count("GET /fapi/v1/fundingInfo") == 1  # three reads, one request
    assert fake.paths().count("GET /fapi/v1/premiumIndex") == 3  # the rate is read every time


def test_a_failed_funding_info_read_leaves_the_interval_unknown_and_says_so(fake, keys, make_config):
    fake.inject(Fault("html", path="/fapi/v1/fundingInfo", status=502))
    snaps = read_many(make_config("binanceusdm"), keys.as_secrets(), 2,
                      between=lambda i: fake.clear_faults() if i == 1 else None)
    first, second = snaps
    # not the default 8: Binance did not say, so desk does not know
    assert all(p.funding_interval_hours is None and p.funding_rate is not None
               for p in first.account.positions)
    assert any("funding info could not be read" in w for w in first.warnings)
    # a failed answer is not kept: the next read asks again and gets the intervals
    assert {p.symbol: p.funding_interval_hours for p in second.account.positions} == {
        "ETH/USDT:USDT": 4, "BTC/USDT:USDT": 8}
    assert fake.paths().count("GET /fapi/v1/fundingInfo") == 2


def test_coin_m_reads_its_own_funding_info(fake, keys, make_config):
    fake.state["binance"]["dapi_fundingInfo"] = [
        {"symbol": "BTCUSD_PERP", "adjustedFundingRateCap": "0.02500000",
         "adjustedFundingRateFloor": "-0.02500000", "fundingIntervalHours": 4, "disclaimer": False}]
    snap = read_once(make_config("binancecoinm"), keys.as_secrets())
    hours = {p.symbol: p.funding_interval_hours for p in snap.account.positions}
    assert hours == {"BTC/USD:BTC": 4, "ETH/USD:ETH": 8}
    assert fake.paths("/dapi/v1/fundingInfo") == ["GET /dapi/v1/fundingInfo"]


def desk(env: dict[str, str], *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "desk", *args], cwd=ROOT, env=env, input=stdin,
                          capture_output=True, text=True, timeout=120, check=False)


def test_desk_risk_shows_each_interval_and_the_drift_by_hand(fake, keys, subprocess_env, tmp_path):
    env = dict(subprocess_env, PYTHONPATH=str(ROOT), PYTHON_KEYRING_BACKEND=FILE_KEYRING,
               DESK_TEST_KEYRING=str(tmp_path / "k.json"))
    added = desk(env, "accounts", "add", "bn", "--venue", "binanceusdm", "--api-url", fake.url,
                 "--secrets-from-stdin", stdin=f"{keys.api_key}\n{keys.secret}\n")
    assert added.returncode == 0, added.stderr
    out = tmp_path / "bn.json"
    snap = desk(env, "snapshot", "--account", "bn", "-o", str(out))
    assert snap.returncode == 0, snap.stderr
    account = load_portfolio(out).account("bn")
    assert {p.symbol: p.funding_interval_hours for p in account.positions} == {
        "ETH/USDT:USDT": 4, "BTC/USDT:USDT": 8}
    text = desk(env, "risk", str(out))
    assert text.returncode == 0, text.stderr
    as_json = desk(env, "risk", str(out), "--json")
    assert as_json.returncode == 0, as_json.stderr
    rows = {p["symbol"]: p for p in json.loads(as_json.stdout)["accounts"][0]["positions"]}
    for p in account.positions:
        assert p.margin_mode is MarginMode.CROSS and p.settle == "USDT"
        # one payment = side × rate × contracts × size × mark, from the USDT wallet (the pool's)
        payment = p.side.sign * p.funding_rate * p.contracts * p.contract_size * p.mark_price
        after = []
        for n in (1, 3, 24):
            wallet = account.wallets["USDT"] - n * payment
            paid = dataclasses.replace(account, wallets=dict(account.wallets, USDT=wallet))
            risk = compute_risk_scalar(Portfolio((paid,))).accounts[0]
            after.append(next(r for r in risk.positions if r.symbol == p.symbol).liquidation_price)
        drift = rows[p.symbol]["funding_drift"]
        assert rows[p.symbol]["funding_interval_hours"] == p.funding_interval_hours
        assert drift["payment"] == pytest.approx(payment, rel=1e-12)
        assert [s["liquidation_price"] for s in drift["liquidation_after"]] == pytest.approx(after, rel=1e-9)
        line = next(s for s in text.stdout.splitlines()
                    if s.startswith(f"  bn {p.symbol} ({p.side.value}): funding "))
        assert f"{p.funding_rate * 100:+.4f} % per {p.funding_interval_hours:g} h" in line
        assert display.money(abs(payment), "USDT") in line
        assert " / ".join(display.price(x, p.tick_size) for x in after) in line
