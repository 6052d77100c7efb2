"""`desk risk --target-distance` on account-wide pools, as a user runs it (a real subprocess on the
v2 example file): the distance goal reaches the pooled accounts and each position nearer than it
gets its fixes, with the amounts derived by hand from unified-margin.md §6.7 TV3 and TV5."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
UNIFIED = ROOT / "docs" / "examples" / "unified-accounts.json"


def desk(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "desk", "risk", *args], capture_output=True, text=True,
                          cwd=ROOT, env=env, timeout=120)


def test_json_report_carries_the_fixes_of_each_pooled_position(subprocess_env):
    result = desk(str(UNIFIED), "--json", "--target-distance", "40", env=subprocess_env)
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    accounts = {a["name"]: a for a in doc["accounts"]}

    (multi,) = accounts["binance-multi-assets"]["positions"]  # TV3: 29.75 % from liquidation
    fixes = {s.get("currency", s["action"]): s for s in multi["suggestions"]}
    assert fixes.keys() == {"USDT", "BTC", "reduce_size"}
    # at L = 36,000 (40 % below 60,000): USDT is negative (ask ×1.0001), BTC counts 0.2·36,000·0.95,
    # MM = 72 USDT at the ask: 1.0001·(x − 11,000) + 6,840 − 72·1.0001 = 0
    assert fixes["USDT"]["amount"] == pytest.approx(11_072 - 6_840 / 1.0001, rel=1e-9)
    assert fixes["BTC"]["amount"] == pytest.approx(1.0001 * 11_072 / 34_200 - 0.2, rel=1e-9)
    assert fixes["BTC"]["haircut"] == pytest.approx(0.05, abs=1e-12)
    assert fixes["reduce_size"]["contracts"] == pytest.approx(0.5 - 7_840.1 / (1.0001 * 24_144), rel=1e-9)
    for s in fixes.values():
        assert s["reaches_target"] is True and s["target_distance"] == 0.4 and s["moves_with"] == "BTC"

    (uta,) = accounts["bybit-uta"]["positions"]  # TV5, BTC in tiers (0–10 at 0.95): 27.05 % away
    fixes = {s.get("currency", s["action"]): s for s in uta["suggestions"]}
    assert fixes.keys() == {"USDT", "BTC", "ETH", "reduce_size"}
    # (x + 3,000 − 0.4·26,000) + 1,000 + 0.05·0.95·36,000 + 0.5·0.9·3,000 − 136.276 = 0
    assert fixes["USDT"]["amount"] == pytest.approx(3_476.276, rel=1e-9)

    # a mode desk cannot recompute has no liquidation price to move: nothing
    assert all(p["suggestions"] == [] for p in accounts["bybit-portfolio-margin"]["positions"])


def test_without_the_goal_pooled_positions_get_no_fixes(subprocess_env):
    result = desk(str(UNIFIED), "--json", env=subprocess_env)
    assert result.returncode == 0, result.stderr
    assert all(p["suggestions"] == [] for a in json.loads(result.stdout)["accounts"] for p in a["positions"])


def test_the_table_says_it_in_words(subprocess_env):
    result = desk(str(UNIFIED), "--target-distance", "40", env=subprocess_env)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "what-if: target distance 40%" in out
    section = out[out.index("binance-multi-assets ("):out.index("bybit-uta (")]
    assert "  BTC/USDT:USDT (long, cross):\n" in section
    assert ("    suggestion: add 4,240 USDT as collateral (its 0.01 % haircut applied) to get back to 40 % "
            "from liquidation (liquidation with the pool's BTC collateral moving with the price, desk's "
            "wrong-way figure)\n") in section
    assert "    suggestion: add 0.124 BTC as collateral (its 5.00 % haircut applied) to get back" in section
