"""`desk risk --funding-rate` (issue 17): the funding drift of each liquidation price, as a subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

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
