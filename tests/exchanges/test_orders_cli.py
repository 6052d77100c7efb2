"""End to end as a user runs it: `desk snapshot` (orders read from the fake exchange) → `desk risk`.

Both are subprocesses (`python -m desk`); the accounts' keys sit in a file keyring the
subprocesses read. The portfolio file carries the orders; the report carries the verdicts.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from desk.formats import load_portfolio
from tests.exchanges.conftest import HL_ADDRESS
from tests.support.file_keyring import BACKEND as FILE_KEYRING

ROOT = Path(__file__).resolve().parents[2]


def desk(env: dict[str, str], *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "desk", *args], cwd=ROOT, env=env, input=stdin,
                          capture_output=True, text=True, timeout=120, check=False)


def test_snapshot_then_risk_shows_each_verdict(fake, keys, subprocess_env, tmp_path):
    env = dict(subprocess_env, PYTHON_KEYRING_BACKEND=FILE_KEYRING,
               DESK_TEST_KEYRING=str(tmp_path / "k.json"))
    for name, venue, stdin in (("bn", "binanceusdm", f"{keys.api_key}\n{keys.secret}\n"),
                               ("bb", "bybit", f"{keys.api_key}\n{keys.secret}\n"),
                               ("ok", "okx", f"{keys.api_key}\n{keys.secret}\n{keys.passphrase}\n")):
        added = desk(env, "accounts", "add", name, "--venue", venue, "--api-url", fake.url,
                     "--secrets-from-stdin", stdin=stdin)
        assert added.returncode == 0, added.stderr
    added = desk(env, "accounts", "add", "hl", "--venue", "hyperliquid", "--api-url", fake.url,
                 "--wallet-address", HL_ADDRESS)
    assert added.returncode == 0, added.stderr

    out = tmp_path / "now.json"
    snap = desk(env, "snapshot", "--all", "-o", str(out))
    assert snap.returncode == 0, snap.stderr
    portfolio = load_portfolio(out)
    doc = json.loads(out.read_text())
    assert keys.secret not in out.read_text() and keys.api_key not in out.read_text()
    # every order in the file came from the venue: Binance 2 plain + 3 conditional, Bybit 3 (the
    # position's stopLoss is the listed StopLoss), OKX 1 plain + 4 algo levels, Hyperliquid 4
    assert [len(a["orders"]) for a in doc["accounts"]] == [5, 3, 5, 4]
    assert all(a.orders is not None for a in portfolio.accounts)

    risk = desk(env, "risk", str(out), "--json")
    assert risk.returncode == 0, risk.stderr
    report = json.loads(risk.stdout)
    verdicts = {(a["name"], p["symbol"]): p.get("protection")
                for a in report["accounts"] for p in a["positions"]}
    assert {k: v["verdict"] for k, v in verdicts.items()} == {
        ("bn", "ETH/USDT:USDT"): "protected",
        ("bn", "BTC/USDT:USDT"): "partly",
        ("bb", "BTC/USDT:USDT"): "protected",
        ("bb", "ETH/USDT:USDT"): "partly",
        ("ok", "BTC/USDT:USDT"): "protected",
        ("ok", "BTC/USD:BTC"): "partly",
        ("hl", "BTC/USDC:USDC"): "protected",
        ("hl", "ETH/USDC:USDC"): "beyond_liquidation",
    }
    eth = verdicts[("bn", "ETH/USDT:USDT")]
    q, mark = 3683.979, 1335.18
    taker = next(p for p in portfolio.account("bn").positions if p.symbol == "ETH/USDT:USDT").taker_fee
    assert eth["stop_price"] == 1200 and eth["coverage"] == 1.0
    assert eth["stop_fill_loss"] == pytest.approx(q * (mark - 1200) + taker * q * 1200)
    assert eth["liquidation_loss"] == pytest.approx(1_030_895.56, abs=0.01)  # the pool's margin balance
    assert eth["liquidation_fee"] is None and "not published" in eth["liquidation_fee_note"]
    assert eth["stops"] == [{"kind": "stop", "trigger_price": 1200.0, "contracts": None, "reduce_only": True,
                             "source": "conditional"}]
    assert verdicts[("bb", "ETH/USDT:USDT")]["coverage"] == pytest.approx(0.4)
    adl = {(a["name"], p["symbol"]): p.get("adl_rank") for a in report["accounts"] for p in a["positions"]}
    # Binance: GET /fapi/v1/adlQuantile "BOTH" (fake payload binance_fapi_adlQuantile.json); OKX: adl
    assert adl[("bn", "ETH/USDT:USDT")] == 3 and adl[("ok", "BTC/USD:BTC")] == 1
    assert adl[("hl", "BTC/USDC:USDC")] is None  # Hyperliquid publishes no ADL rank
    assert all(p.get("adl_rank") == adl[(a["name"], p["symbol"])] for a in doc["accounts"]
               for p in a["positions"] if "adl_rank" in p)

    text = desk(env, "risk", str(out))
    assert text.returncode == 0, text.stderr
    lines = text.stdout.splitlines()
    assert lines[0].split()[-1] == "stop"
    assert any("ETH/USDC:USDC" in line and line.rstrip().endswith("stop beyond liq") for line in lines)
    assert ("  ETH/USDT:USDT (long): protected (stop 1,200.00) — if the stops fill: loses "
            f"{q * (mark - 1200) + taker * q * 1200:,.2f} USDT") in text.stdout
    assert "ETH/USDC:USDC (short): stop beyond liquidation: can never fire" in text.stdout


def test_a_file_without_orders_gives_no_verdict(subprocess_env):
    """Old files load unchanged: no "orders" → no stop column, protection null (not "unprotected")."""
    example = ROOT / "docs" / "examples" / "binance-faq.json"
    report = desk(subprocess_env, "risk", str(example), "--json")
    assert report.returncode == 0, report.stderr
    positions = json.loads(report.stdout)["accounts"][0]["positions"]
    # an optional field of desk.risk/1 is omitted when it has no value (a reader takes absent as null)
    assert [p.get("protection") for p in positions] == [None, None]
    text = desk(subprocess_env, "risk", str(example))
    assert "stop" not in text.stdout.splitlines()[0].split()


def test_desk_watch_shows_the_verdicts(fake, subprocess_env):
    """`desk watch` (a subprocess, Hyperliquid read by wallet address): the table's stop column and
    the JSON lines' report carry the verdict."""
    from tests.services.test_watch import Watch

    added = desk(subprocess_env, "accounts", "add", "hl", "--venue", "hyperliquid", "--api-url", fake.url,
                 "--wallet-address", HL_ADDRESS)
    assert added.returncode == 0, added.stderr
    w = Watch(subprocess_env, "--json-lines", "--no-alerts")
    try:
        line = w.read_until(lambda text: '"type":"snapshot"' in text and '"protection":{' in text, timeout=60)
    finally:
        w.stop(signal.SIGINT)
    positions = {p["symbol"]: p for p in json.loads(line)["report"]["accounts"][0]["positions"]}
    assert positions["BTC/USDC:USDC"]["protection"]["verdict"] == "protected"
    assert positions["ETH/USDC:USDC"]["protection"]["verdict"] == "beyond_liquidation"
    # the same position's loss from the mark 3,100 to its bankruptcy price, 10 ETH short
    eth = positions["ETH/USDC:USDC"]
    assert eth["protection"]["liquidation_loss"] == pytest.approx(10 * (eth["bankruptcy_price"] - 3100))

    w = Watch(subprocess_env, "--no-alerts")
    try:
        header = w.read_until(lambda text: text.startswith("account") and "stop" in text, timeout=60)
        row = w.read_until(lambda text: "ETH/USDC:USDC" in text, timeout=60)
    finally:
        w.stop(signal.SIGINT)
    assert header.split()[-1] == "stop"
    assert row.rstrip().endswith("stop beyond liq")
