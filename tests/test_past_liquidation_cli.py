"""Issue 15, "the screen never lies", on the command line: a position at or past its liquidation
price is said to be so by `desk risk` (table and --json) and `desk watch`, with a signed distance
and a margin ratio of at least 100 %.

The portfolio is the demo squeeze's Bybit isolated account just before its ETH short is squeezed
(the issue's own case: mark 3,497.89 above the liquidation price 3,459.50). Every expected figure
is derived here by hand from the position's inputs with Bybit's isolated rule (risk-math.md §7.2:
maintenance margin = contracts × entry × mmr + contracts × mark × taker fee), not by the engine.
`desk watch` is run against the fake Binance USDⓈ-M with a mark past the liquidation price that
the venue has not acted on yet (the demo venue closes a position the moment its mark gets there).
"""

from __future__ import annotations

import json
import re
import secrets
import signal
import subprocess
import sys
from pathlib import Path

import msgspec
import pytest

from desk.exchanges.demo import demo_portfolio
from desk.formats import dump_portfolio
from desk.formats import report as report_format
from tests.services.test_watch import Watch

ROOT = Path(__file__).resolve().parent.parent
ACCOUNT = "demo-bybit-isolated"
ETH_MARK = 3497.89  # the mark, above the short's liquidation price
SOL_MARK = 122.5  # just below the SOL long's liquidation price (issue 14's "long marked past")


def squeezed_file(tmp_path: Path) -> tuple[Path, dict[str, dict[str, float]]]:
    portfolio = demo_portfolio("squeeze", seed=7, at_seconds=2340.0)
    path = tmp_path / "squeeze.json"
    path.write_bytes(dump_portfolio(portfolio))
    inputs = {}
    for p in portfolio.account(ACCOUNT).positions:
        tier = p.tiers[0]  # both notionals stay in the first tier
        inputs[p.symbol] = {"q": p.contracts, "entry": p.entry_price, "margin": p.isolated_margin or 0.0,
                            "mmr": tier.mmr, "fee": p.taker_fee or 0.0, "tick": p.tick_size or 0.0}
    return path, inputs


def by_hand(x: dict[str, float], side: str, mark: float) -> dict[str, float]:
    """Bybit isolated, linear, first tier: liquidation price, signed distance, margin balance, ratio."""
    q, entry, margin, mmr, fee = x["q"], x["entry"], x["margin"], x["mmr"], x["fee"]
    if side == "short":
        # margin + q(entry − P) = q·entry·mmr + q·P·fee
        liq = (margin + q * entry * (1 - mmr)) / (q * (1 + fee))
        pnl = q * (entry - mark)
        room = liq - mark  # a short has room while the mark is below its liquidation price
    else:
        # margin + q(P − entry) = q·entry·mmr + q·P·fee
        liq = (q * entry * (1 + mmr) - margin) / (q * (1 - fee))
        pnl = q * (mark - entry)
        room = mark - liq
    balance = margin + pnl
    mm = q * entry * mmr + q * mark * fee
    return {"liq": liq, "signed": room / mark, "balance": balance,
            "ratio": mm / balance if balance > 0 else float("inf")}


def risk(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "desk", "risk", *args], capture_output=True, text=True,
                          cwd=ROOT, env=env, timeout=60)


def marks() -> list[str]:
    return ["--mark", f"ETH/USDT:USDT={ETH_MARK}", "--mark", f"SOL/USDT:USDT={SOL_MARK}"]


def test_desk_risk_table_says_past_liquidation_with_a_signed_distance(subprocess_env, tmp_path):
    path, inputs = squeezed_file(tmp_path)
    eth = by_hand(inputs["ETH/USDT:USDT"], "short", ETH_MARK)
    sol = by_hand(inputs["SOL/USDT:USDT"], "long", SOL_MARK)
    assert eth["balance"] < 0 and 1 < sol["ratio"] < 2  # the hand figures: ETH's margin is gone
    assert round(eth["liq"], 2) == 3459.50 and round(eth["signed"] * 100, 2) == -1.10
    result = risk(str(path), *marks(), env=subprocess_env)
    assert result.returncode == 0, result.stderr
    rows = {line.split()[1]: line for line in result.stdout.splitlines() if line.startswith(ACCOUNT)}
    eth_row, sol_row = rows["ETH/USDT:USDT"], rows["SOL/USDT:USDT"]
    # mark, liquidation price at the tick, thousands separators; the distance signed; ratio ≥ 100 %
    assert f"{ETH_MARK:,.2f}" in eth_row and f"{eth['liq']:,.2f}" in eth_row
    # the last column is the stop verdict: the ETH short has no stop; the SOL long's stop at 127
    # sits above the 122.5 mark, so it fires as soon as the venue checks it
    eth_cells = rf"PAST LIQUIDATION {eth['signed'] * 100:.2f} %\s+≥ 100 %\s+UNPROTECTED$"
    assert re.search(eth_cells, eth_row), eth_row
    assert "PAST LIQUIDATION -1.10 %" in eth_row
    sol_cells = (rf"PAST LIQUIDATION {sol['signed'] * 100:.2f} %\s+{sol['ratio'] * 100:.2f} %"
                 r"\s+stop fires at once$")
    assert re.search(sol_cells, sol_row), sol_row
    assert f"{sol['liq']:,.2f}" in sol_row and "123.17" in sol_row and "123.1736" not in sol_row
    # the BTC long of the same account is safe: an unsigned, positive distance and no such words
    assert "PAST" not in rows["BTC/USDT:USDT"]
    assert "inf" not in result.stdout
    assert "shock to liquidation: PAST LIQUIDATION now" in result.stdout


def test_desk_risk_json_has_status_and_signed_distance_and_old_reports_still_load(subprocess_env, tmp_path):
    path, inputs = squeezed_file(tmp_path)
    eth = by_hand(inputs["ETH/USDT:USDT"], "short", ETH_MARK)
    sol = by_hand(inputs["SOL/USDT:USDT"], "long", SOL_MARK)
    result = risk(str(path), *marks(), "--json", env=subprocess_env)
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    (account,) = [a for a in doc["accounts"] if a["name"] == ACCOUNT]
    positions = {p["symbol"]: p for p in account["positions"]}
    e, s, b = positions["ETH/USDT:USDT"], positions["SOL/USDT:USDT"], positions["BTC/USDT:USDT"]
    assert e["status"] == "past_liquidation" and e["liquidatable"] is True
    assert e["liquidation_price"] == pytest.approx(eth["liq"], rel=1e-12)
    assert e["signed_distance_to_liquidation"] == pytest.approx(eth["signed"], rel=1e-9) and eth["signed"] < 0
    assert e["distance_to_liquidation"] == pytest.approx(-eth["signed"], rel=1e-9)  # unchanged meaning
    assert e["margin_ratio"] is None  # the margin balance is gone: ∞ is not a JSON number
    assert s["status"] == "past_liquidation" and s["margin_ratio"] == pytest.approx(sol["ratio"], rel=1e-9)
    assert s["signed_distance_to_liquidation"] == pytest.approx(sol["signed"], rel=1e-9) and sol["signed"] < 0
    assert b["status"] == "ok" and b["signed_distance_to_liquidation"] == b["distance_to_liquidation"] > 0
    # a report written before these fields existed still loads, and its status is derived
    for p in (e, b):
        del p["status"], p["signed_distance_to_liquidation"]
    old = msgspec.json.decode(json.dumps(doc).encode(), type=report_format.ReportDoc)
    old_positions = {p.symbol: p for a in old.accounts if a.name == ACCOUNT for p in a.positions}
    assert report_format.position_status(old_positions["ETH/USDT:USDT"]) == "past_liquidation"
    assert report_format.position_status(old_positions["BTC/USDT:USDT"]) == "ok"


# A venue's liquidation engine takes a moment: the mark can be past the liquidation price while the
# venue still lists the position. desk watch against the fake Binance USDⓈ-M (the FAQ's cross
# account, liquidation price 1,153.3 for the ETH long) with the ETH mark moved to 1,100.
PAST_MARK = 1100.0


@pytest.fixture
def venue_past_liquidation(subprocess_env, tmp_path: Path):
    from tests.fake_exchange import FakeExchange
    from tests.support.file_keyring import BACKEND as FILE_KEYRING

    api_key, secret = "test-key-" + secrets.token_hex(8), "test-secret-" + secrets.token_hex(16)
    env = dict(subprocess_env, PYTHON_KEYRING_BACKEND=FILE_KEYRING,
               DESK_TEST_KEYRING=str(tmp_path / "keyring.json"))
    server = FakeExchange(("binance",))
    server.add_key(api_key, secret)
    with server.running() as running:
        added = subprocess.run([sys.executable, "-m", "desk", "accounts", "add", "main", "--venue",
                                "binanceusdm", "--api-url", running.url, "--secrets-from-stdin"],
                               input=f"{api_key}\n{secret}\n", cwd=ROOT, env=env, capture_output=True,
                               text=True, timeout=120)
        assert added.returncode == 0, added.stderr
        state = running.state["binance"]
        for row in [*state["positionRisk"], *state["premiumIndex"]]:
            if row["symbol"] == "ETHUSDT":
                row["markPrice"] = f"{PAST_MARK:.8f}"
        yield env


def _past_row(line: str) -> bool:
    return line.startswith("main") and "ETH/USDT:USDT" in line and "PAST LIQUIDATION" in line


@pytest.mark.integration
def test_desk_watch_table_shows_a_position_past_liquidation_the_venue_still_lists(venue_past_liquidation):
    w = Watch(venue_past_liquidation, "--no-alerts")
    try:
        row = w.read_until(_past_row, timeout=90)
    finally:
        code, _, err = w.stop(signal.SIGINT)
    assert code == 0, err
    # account symbol side size mark liq "PAST LIQUIDATION d %" ratio data
    cells = row.split()
    mark, liq = float(cells[4].replace(",", "")), float(cells[5].replace(",", ""))
    assert cells[2] == "long" and cells[3] == "3,683.979" and mark == PAST_MARK and mark <= liq
    found = re.search(r"PAST LIQUIDATION (-?[\d.]+) %\s+(≥ 100 %|[\d,.]+ %)\s+\w+", row)
    assert found, row
    distance = float(found.group(1))
    assert distance == pytest.approx(round((mark - liq) / mark * 100, 2), abs=0.011) and distance <= 0
    ratio = found.group(2)
    assert ratio == "≥ 100 %" or float(ratio.removesuffix(" %").replace(",", "")) >= 100, row


@pytest.mark.integration
def test_desk_watch_json_lines_carry_the_past_liquidation_status(venue_past_liquidation):
    w = Watch(venue_past_liquidation, "--json-lines", "--no-alerts")
    try:
        line = w.read_until(lambda text: '"type":"snapshot"' in text and '"past_liquidation"' in text,
                            timeout=90)
    finally:
        code, _, err = w.stop(signal.SIGINT)
    assert code == 0, err
    doc = json.loads(line)
    past = [p for a in doc["report"]["accounts"] for p in a["positions"] if p["status"] == "past_liquidation"]
    # the pool is past liquidation, so both of its cross positions are (the BTC long's price is
    # solved with ETH at 1,100: above its mark)
    assert sorted(p["symbol"] for p in past) == ["BTC/USDT:USDT", "ETH/USDT:USDT"]
    for p in past:
        mark, liq = p["mark_price"], p["liquidation_price"]
        beyond = mark <= liq if p["side"] == "long" else mark >= liq
        assert beyond and p["liquidatable"] is True
        assert p["signed_distance_to_liquidation"] == pytest.approx(-abs(mark - liq) / mark, rel=1e-9)
        assert p["margin_ratio"] is None or p["margin_ratio"] >= 1.0
