"""The demo venue shows the whole book with no keys (issue 21): a Binance long against a Bybit short
on BTC, and a spot BTC balance against a perpetual short — through `desk snapshot --demo` and
`desk risk`, as a user runs them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent


def run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "desk", *args], capture_output=True, text=True, cwd=ROOT,
                          env=env, timeout=120)


def test_demo_snapshot_carries_a_cross_venue_hedge_and_a_basis_trade(subprocess_env, tmp_path):
    path = tmp_path / "demo.json"
    made = run("snapshot", "--demo", "--seed", "3", "-o", str(path), env=subprocess_env)
    assert made.returncode == 0, made.stderr
    saved = json.loads(path.read_text())
    hedge_acc = next(a for a in saved["accounts"] if a["name"] == "demo-bybit-hedge")
    assert hedge_acc["venue"] == "bybit" and hedge_acc["spot"][0]["asset"] == "BTC"
    assert hedge_acc["spot"][0]["amount"] == 0.5

    result = run("risk", str(path), "--json", env=subprocess_env)
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    hedges = doc["book"]["hedges"]
    cross = next(h for h in hedges if h["long"]["account"] == "demo-binance-usdm"
                 and h["short"]["account"] == "demo-bybit-hedge")
    basis = next(h for h in hedges if h["long"]["kind"] == "spot")
    assert cross["hedged_coin"] == pytest.approx(0.8) and basis["hedged_coin"] == pytest.approx(0.5)
    assert basis["short"]["account"] == basis["long"]["account"] == "demo-bybit-hedge"
    # both break where the Bybit short is liquidated: the engine's own price for that position
    accounts = {a["name"]: a for a in doc["accounts"]}
    bybit_short = accounts["demo-bybit-hedge"]["positions"][0]
    assert cross["breaks"] == basis["breaks"] == "short"
    assert cross["break_price"] == basis["break_price"] == bybit_short["liquidation_price"]
    assert bybit_short["liquidation_price"] > bybit_short["mark_price"] * 1.1

    text = run("risk", str(path), env=subprocess_env)
    assert text.returncode == 0, text.stderr
    assert "the demo-binance-usdm BTC/USDT:USDT long of 0.8 BTC is then unhedged" in text.stdout
    assert "the demo-bybit-hedge BTC spot of 0.5 BTC is then unhedged" in text.stdout
