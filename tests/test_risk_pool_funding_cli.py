"""`desk risk FILE --json` and the text report show funding's effect on a single-asset cross pool
(issue 17), as a subprocess: positions paying every 1 h, 4 h and 8 h from different next times, one
with no rate; checked against the stepped simulation of tests/support/funding_sim.py."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from desk.domain import display
from desk.formats import load_portfolio
from tests.support.funding_sim import HOUR, at, first_liquidation, simulate

ROOT = Path(__file__).resolve().parent.parent
T0 = 1_800_000_000.0  # 2027-01-15T08:00:00Z, the file's as_of: the schedule counts from it


def _position(symbol: str, contracts: float, entry: float, mark: float, **extra: object) -> dict:
    return {"symbol": symbol, "kind": "linear", "contracts": contracts, "side": "long", "entry_price": entry,
            "mark_price": mark, "margin_mode": "cross", "mmr": 0.005, "tick_size": 0.01, **extra}


FILE = {"format": "desk.portfolio/1", "as_of": "2027-01-15T08:00:00Z", "accounts": [{
    "name": "bn", "venue": "binanceusdm", "wallets": {"USDT": 4000},
    "positions": [
        _position("BTC/USDT:USDT", 0.5, 60_000, 59_000, funding_rate=0.001, next_funding_time=T0 + 1_800,
                  funding_interval_hours=1),
        _position("ETH/USDT:USDT", 10, 3_000, 3_100, side="short", funding_rate=-0.0005,
                  next_funding_time=T0 + 3 * HOUR, funding_interval_hours=4),
        _position("SOL/USDT:USDT", 100, 150, 140, funding_rate=0.0008, next_funding_time=T0 + 7 * HOUR,
                  funding_interval_hours=8),
        _position("XRP/USDT:USDT", 1_000, 1.0, 0.9),  # no rate: its funding is unknown
    ]}]}


@pytest.fixture(scope="module")
def ran(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict, str]:
    path = tmp_path_factory.mktemp("pool-funding") / "p.json"
    path.write_text(json.dumps(FILE))
    runs = []
    for extra in (["--json"], []):
        done = subprocess.run([sys.executable, "-m", "desk", "risk", str(path), *extra], capture_output=True,
                              text=True, cwd=ROOT, timeout=120, check=False)
        assert done.returncode == 0, done.stderr
        runs.append(done.stdout)
    return path, json.loads(runs[0]), runs[1]


def test_the_json_report_carries_the_pool_drift_of_the_stepped_simulation(ran) -> None:
    path, doc, _ = ran
    acc = load_portfolio(path).accounts[0]
    history = simulate(acc, "USDT", T0, T0 + 40 * 24 * HOUR)
    drift = doc["accounts"][0]["pools"][0]["funding_drift"]
    assert drift["origin"] == T0
    assert [(f["symbol"], f["interval_hours"]) for f in drift["payers"]] == [
        ("BTC/USDT:USDT", 1.0), ("ETH/USDT:USDT", 4.0), ("SOL/USDT:USDT", 8.0)]
    assert drift["unknown"] == [{"symbol": "XRP/USDT:USDT", "leg": "both"}]
    assert [s["hours"] for s in drift["after"]] == [1.0, 8.0, 24.0]
    for step in drift["after"]:
        want = at(history, T0 + step["hours"] * HOUR)
        assert step["margin_ratio"] == pytest.approx(want["ratio"], rel=1e-9)
        assert step["wallet_balance"] == pytest.approx(want["wallet"], rel=1e-9)
        got = [(x["symbol"], x["leg"], x["liquidation_price"]) for x in step["liquidation_prices"]]
        assert [g[:2] for g in got] == [w[:2] for w in want["liquidation"]]
        for (_, _, price), (_, _, w_price) in zip(got, want["liquidation"], strict=True):
            assert (price is None) == (w_price is None)
            if price is not None:
                assert price == pytest.approx(w_price, rel=1e-9)
    when = first_liquidation(history)
    assert when is not None and drift["liquidation_time"] == when
    assert drift["hours_to_liquidation"] == pytest.approx((when - T0) / HOUR, rel=1e-12)


def test_the_text_report_says_it_too(ran) -> None:
    _, doc, text = ran
    drift = doc["accounts"][0]["pools"][0]["funding_drift"]
    lines = text.splitlines()
    assert ("  bn pool USDT, funding of its cross positions from 2027-01-15 08:00 UTC "
            "(each at its own interval):") in lines
    assert "    ETH/USDT:USDT (short): -0.0500 % per 4 h, first 11:00 UTC; pays 15.50 USDT a payment" in lines
    ratios = " / ".join(display.margin_ratio(s["margin_ratio"]) for s in drift["after"])
    assert any(s.startswith("    after 1 h / 8 h / 24 h: paid ") and s.endswith(f"; margin ratio {ratios}")
               for s in lines)
    sol = " / ".join(display.price(s["liquidation_prices"][2]["liquidation_price"], 0.01)
                     for s in drift["after"])
    assert f"    SOL/USDT:USDT (long) liquidation after 1 h / 8 h / 24 h: {sol}" in lines
    assert (f"    funding alone liquidates the pool in {display.hours(drift['hours_to_liquidation'])}, "
            f"at the payment of {display.utc_datetime(drift['liquidation_time'])}") in lines
    assert "    funding unknown (counted as none): XRP/USDT:USDT (long)" in lines


def test_an_account_wide_pool_gets_no_drift_and_the_text_says_why(tmp_path: Path) -> None:
    import dataclasses

    from desk.formats import dump_portfolio

    portfolio = load_portfolio(ROOT / "docs" / "examples" / "unified-accounts.json")
    pooled = {a.name for a in portfolio.accounts if a.pooled}
    assert pooled
    accounts = tuple(dataclasses.replace(a, positions=tuple(
        dataclasses.replace(p, funding_rate=0.0001, next_funding_time=T0 + HOUR, funding_interval_hours=8)
        for p in a.positions)) for a in portfolio.accounts)
    path = tmp_path / "pooled.json"
    path.write_bytes(dump_portfolio(dataclasses.replace(portfolio, accounts=accounts)))
    runs = [subprocess.run([sys.executable, "-m", "desk", "risk", str(path), *extra], capture_output=True,
                           text=True, cwd=ROOT, timeout=120, check=False) for extra in (["--json"], [])]
    assert all(r.returncode == 0 for r in runs), [r.stderr for r in runs]
    doc = json.loads(runs[0].stdout)
    pools = [pool for a in doc["accounts"] if a["name"] in pooled for pool in a["pools"]]
    assert pools and all(pool["pool"] == "account" and "funding_drift" not in pool for pool in pools)
    for name in pooled:
        assert (f"  {name}: funding is paid from the account-wide pool's collateral coins, which desk "
                "does not model: no pool drift") in runs[1].stdout.splitlines()
