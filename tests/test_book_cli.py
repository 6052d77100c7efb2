"""`desk risk` on a multi-account file: the "Book" section and the report's "book" object (issue 21).

Figures derived by hand from docs/examples/hedged-book.json:

* Bybit cross short, MM on the entry value plus the closing fee at the price (risk-math.md §3.1):
  9,000 − 3·(P − 60,500) − 0.005·3·60,500 − 0.00055·3·P = 0  →  P = 189,592.5 ÷ 3.00165 = 63,162.81
* Binance cross long (§1.1): (10,000 − 2·60,000) ÷ (2·0.004 − 2) = 55,220.88
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import msgspec
import pytest

from desk.formats.report import ReportDoc

ROOT = Path(__file__).resolve().parent.parent
HEDGED = ROOT / "docs" / "examples" / "hedged-book.json"
BYBIT_LP = 189_592.5 / 3.00165
BINANCE_LP = (10_000 - 2 * 60_000) / (2 * 0.004 - 2)


def desk(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "desk", "risk", *args], capture_output=True, text=True,
                          cwd=ROOT, env=env, timeout=60)


def test_text_report_has_a_book_section_naming_the_break_and_the_naked_leg(subprocess_env):
    result = desk(str(HEDGED), env=subprocess_env)
    assert result.returncode == 0, result.stderr
    book = result.stdout.split("\nBook (every account and venue)\n", 1)[1]
    lines = book.splitlines()
    assert lines[0].split() == ["exposure", "long", "short", "net"]
    assert lines[1].split() == ["BTC", "3", "BTC", "(183,000.00", "USD)", "3", "BTC", "(183,000.00", "USD)",
                                "+0", "BTC", "(+0.00", "USD)"]
    assert ("at BTC 63,162.8 the bybit-main BTC/USDT:USDT short is liquidated; the binance-main "
            "BTC/USDT:USDT long of 2 BTC is then unhedged") in book
    assert "hedge binance-main BTC spot against bybit-main BTC/USDT:USDT short (1 BTC):" in book
    assert "the binance-main BTC spot of 1 BTC is then unhedged" in book
    assert "suggestion: add 30,200.00 USDT to bybit-main so neither leg is liquidated within ±20 %" in book
    # the +5 % row: the Bybit pool (9,000 − 1,500 unrealized) is gone; the long legs gained 3·61,000·5 %
    row = next(line for line in lines if line.split()[:2] == ["+5", "%"])
    assert row.split()[2:] == ["+1,650.00", "bybit-main", "USDT", "pool"]


def test_json_book_break_price_and_stress_by_hand(subprocess_env):
    result = desk(str(HEDGED), "--json", env=subprocess_env)
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    msgspec.convert(doc, ReportDoc)  # the document its own schema's structs describe
    book = doc["book"]
    (btc,) = book["exposures"]
    assert (btc["long_coin"], btc["short_coin"], btc["net_coin"]) == (3.0, 3.0, 0.0)
    perp, spot = book["hedges"]
    assert perp["breaks"] == "short" and perp["break_price"] == pytest.approx(BYBIT_LP, rel=1e-12)
    bybit_short = doc["accounts"][1]["positions"][0]
    assert perp["break_price"] == bybit_short["liquidation_price"]
    assert perp["long"]["liquidation_price"] == pytest.approx(BINANCE_LP, rel=1e-12)
    assert perp["naked"] == "binance-main BTC/USDT:USDT long" and perp["hedged_coin"] == 2.0
    assert spot["long"]["kind"] == "spot" and spot["long"]["liquidation_price"] is None
    assert perp["transfer"]["from_account"] is None and perp["transfer"]["amount"] == 30_200.0
    uniform = next(s for s in book["stress"] if s["mode"] == "uniform")
    points = {round(p["shock"], 6): p for p in uniform["points"]}
    flat = points[0.02]
    move = 3 * 61_000 * 0.02  # 2 perp + 1 spot BTC long against 3 BTC short
    assert flat["accounts"] == pytest.approx({"binance-main": move, "bybit-main": -move})
    assert flat["pnl_usd"] == pytest.approx(0.0, abs=1e-6) and flat["first_liquidated"] is None
    broken = points[0.05]
    assert broken["accounts"] == pytest.approx({"binance-main": 9_150.0, "bybit-main": -7_500.0})
    assert broken["pnl_usd"] == pytest.approx(1_650.0)
    assert broken["liquidated"] == ["bybit-main USDT pool"]
    for p in uniform["points"]:
        assert p["pnl_usd"] == pytest.approx(sum(p["accounts"].values()), abs=1e-6)


def test_single_account_report_has_no_book_and_old_reports_still_load(subprocess_env):
    result = desk(str(ROOT / "docs" / "examples" / "binance-faq.json"), "--json", env=subprocess_env)
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert "book" not in doc
    assert msgspec.convert(doc, ReportDoc).book is None


def test_spot_without_a_price_to_value_it_is_named(subprocess_env, tmp_path):
    doc = json.loads(HEDGED.read_text())
    doc["accounts"][1]["spot"] = [{"asset": "ETH", "amount": 2}]
    path = tmp_path / "p.json"
    path.write_text(json.dumps(doc))
    result = desk(str(path), env=subprocess_env)
    assert result.returncode == 2
    assert 'account "bybit-main": spot[0]: give "price" (USD per ETH)' in result.stderr
    assert "Traceback" not in result.stderr


def test_move_flag_is_checked(subprocess_env):
    result = desk(str(HEDGED), "--move", "150", env=subprocess_env)
    assert result.returncode == 2 and "--move must be a percent between 0 and 100" in result.stderr
    result = desk(str(HEDGED), "--move", "5", env=subprocess_env)
    assert result.returncode == 0
    assert "within ±5 %" in result.stdout
