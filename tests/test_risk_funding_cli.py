"""`desk risk --funding-rate` (issue 17): the funding drift of each liquidation price, as a subprocess."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from desk.domain import display
from desk.domain.model import Kind, MarginMode, Portfolio
from desk.domain.scalar import compute_risk_scalar
from desk.formats import load_portfolio

ROOT = Path(__file__).resolve().parent.parent

# risk-math.md §3.1 / §7.2, Bybit example 3: long 1 BTC @ 20,000, 50x, MMR 0.5 % → LP 19,700;
# 200 USDT of funding taken from its margin → 19,900
BYBIT = {"format": "desk.portfolio/1", "accounts": [{"name": "bb", "venue": "bybit", "wallets": {"USDT": 0},
         "positions": [{"symbol": "BTC/USDT:USDT", "kind": "linear", "contracts": 1, "side": "long",
                        "entry_price": 20000, "margin_mode": "isolated", "isolated_margin": 400,
                        "leverage": 50, "mmr": 0.005, "tick_size": 0.5}]}]}


def risk(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "p.json"
    path.write_text(json.dumps(BYBIT))
    return subprocess.run([sys.executable, "-m", "desk", "risk", str(path), *args], capture_output=True,
                          text=True, cwd=ROOT, timeout=60, check=False)


def test_liquidation_after_1_3_24_payments_and_payments_to_liquidation(tmp_path):
    done = risk(tmp_path, "--funding-rate", "0.01")
    assert done.returncode == 0, done.stderr
    # one payment: 0.01 % × 20,000 = 2 USDT from the margin, so the liquidation price rises 2 a payment;
    # margin 400 − MM 100 = 300 of slack at the mark: 150 payments
    assert ("  bb BTC/USDT:USDT (long): pays 2.00 USDT a payment; liquidation 19,700.0 now, after "
            "1: 19,702.0, 3: 19,706.0, 24: 19,748.0; funding alone liquidates it after 150.0 payments"
            ) in done.stdout.splitlines()
    # 100 payments = the example's 200 USDT: 19,900
    done = risk(tmp_path, "--funding-rate", "1")
    assert "after 1: 19,900.0" in done.stdout


def test_a_receiving_position_and_input_errors(tmp_path):
    done = risk(tmp_path, "--funding-rate", "-0.01")
    assert "receives 2.00 USDT a payment" in done.stdout and "after 1: 19,698.0" in done.stdout
    assert "funding alone" not in done.stdout
    bad = risk(tmp_path, "--funding-rate", "15")
    assert bad.returncode == 2 and "--funding-rate must be a percent per interval" in bad.stderr
    both = risk(tmp_path, "--funding-rate", "0.01", "--json")
    assert both.returncode == 2 and "drop --json" in both.stderr and both.stdout == ""


def desk_run(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "desk", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=120, check=False, env=env)


def test_the_demo_snapshot_carries_funding_and_desk_risk_shows_its_drift(tmp_path):
    done = desk_run(tmp_path, "snapshot", "--demo", "-o", "f.json")
    assert done.returncode == 0, done.stderr
    portfolio = load_portfolio(tmp_path / "f.json")
    text = desk_run(tmp_path, "risk", "f.json")
    assert text.returncode == 0, text.stderr
    as_json = desk_run(tmp_path, "risk", "f.json", "--json")
    assert as_json.returncode == 0, as_json.stderr
    docs = {(a["name"], p["symbol"], p["leg"]): p
            for a in json.loads(as_json.stdout)["accounts"] for p in a["positions"]}
    checked = 0
    for account in portfolio.accounts:
        for p in account.positions:
            if p.margin_mode is not MarginMode.ISOLATED:
                continue
            assert p.funding_rate is not None and p.next_funding_time is not None
            # one payment = side × rate × notional at the mark (linear: contracts × size × mark)
            assert p.kind is Kind.LINEAR
            payment = p.side.sign * p.funding_rate * p.contracts * p.contract_size * p.mark_price
            # the liquidation after n payments: the scalar oracle on the position with n payments less margin
            after = []
            for n in (1, 3, 24):
                moved = dataclasses.replace(p, isolated_margin=p.isolated_margin - n * payment)
                alone = dataclasses.replace(account, positions=(moved,))
                after.append(compute_risk_scalar(Portfolio((alone,))).accounts[0].positions[0].liquidation_price)
            now = compute_risk_scalar(Portfolio((dataclasses.replace(account, positions=(p,)),)))
            r = now.accounts[0].positions[0]
            head = (f"  {account.name} {p.symbol} ({p.side.value}): funding "
                    f"{p.funding_rate * 100:+.4f} % per {p.funding_interval_hours:g} h, next "
                    f"{datetime.fromtimestamp(p.next_funding_time, UTC):%H:%M} UTC; ")
            drift_text = "; liquidation after 1 / 3 / 24 payments: " + " / ".join(
                display.price(liq, p.tick_size) for liq in after)
            ours = next(s for s in text.stdout.splitlines() if s.startswith(head))
            assert drift_text in ours
            assert display.money(abs(payment), p.settle) in ours
            doc = docs[(account.name, p.symbol, p.leg.value)]
            drift = doc["funding_drift"]
            assert drift["payment"] == pytest.approx(payment, rel=1e-12)
            liquidations = [s["liquidation_price"] for s in drift["liquidation_after"]]
            assert liquidations == pytest.approx(after, rel=1e-12)
            if payment > 0:
                slack = p.isolated_margin + r.unrealized_pnl - r.maintenance_margin
                assert drift["payments_to_liquidation"] == pytest.approx(slack / payment, rel=1e-9)
                assert f"funding alone liquidates after {slack / payment:,.1f} payments" in ours
            else:
                assert drift["payments_to_liquidation"] is None and "funding alone" not in ours
            checked += 1
    assert checked >= 2


def test_a_pooled_account_with_a_funding_rate_gets_no_drift_rather_than_a_crash(tmp_path):
    """Funding on a pooled account is paid from its collateral coins, which the drift does not model:
    `desk risk` says nothing about its drift (before: an internal error, StopIteration)."""
    import dataclasses

    from desk.formats import dump_portfolio, load_portfolio

    portfolio = load_portfolio(ROOT / "docs" / "examples" / "unified-accounts.json")
    pooled = [a for a in portfolio.accounts if a.pooled]
    assert pooled
    accounts = tuple(dataclasses.replace(a, positions=tuple(dataclasses.replace(p, funding_rate=0.0001)
                                                             for p in a.positions)) if a.pooled else a
                     for a in portfolio.accounts)
    path = tmp_path / "pooled-funding.json"
    path.write_bytes(dump_portfolio(dataclasses.replace(portfolio, accounts=accounts)))
    result = subprocess.run([sys.executable, "-m", "desk", "risk", "--json", str(path)], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    names = {a.name for a in pooled}
    rows = [p for a in doc["accounts"] if a["name"] in names for p in a["positions"]]
    assert rows and all(p["funding_rate"] == 0.0001 for p in rows)
    assert all(p.get("funding_drift") is None for p in rows)
