"""`desk snapshot` from the fake exchange (and the demo venue) into desk.portfolio/1 files."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from desk.cli import main
from desk.formats import load_portfolio
from tests.exchanges.conftest import HL_ADDRESS

ROOT = Path(__file__).resolve().parents[2]


def _add(monkeypatch, keys, name, venue, url, *extra):
    monkeypatch.setattr("sys.stdin", io.StringIO(f"{keys.api_key}\n{keys.secret}\n"))
    assert main(["accounts", "add", name, "--venue", venue, "--api-url", url, "--secrets-from-stdin",
                 *extra]) == 0


def test_snapshot_all_writes_a_portfolio_that_loads_back(monkeypatch, capsys, fake, keys, tmp_path):
    _add(monkeypatch, keys, "bn", "binanceusdm", fake.url)
    _add(monkeypatch, keys, "bb", "bybit", fake.url)
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    assert main(["accounts", "add", "hl", "--venue", "hyperliquid", "--api-url", fake.url,
                 "--wallet-address", HL_ADDRESS]) == 0
    out = tmp_path / "now.json"
    assert main(["snapshot", "--all", "-o", str(out)]) == 0, capsys.readouterr().err
    doc = json.loads(out.read_text())
    # the Bybit account is a UTA in cross mode: one pool with collateral, so version 2
    assert doc["format"] == "desk.portfolio/2" and doc["as_of"].endswith("Z")
    portfolio = load_portfolio(out)
    assert [a.name for a in portfolio.accounts] == ["bn", "bb", "hl"]
    assert portfolio.account("bb").pooled and not portfolio.account("bn").pooled
    bn = portfolio.account("bn")
    eth = next(p for p in bn.positions if p.symbol == "ETH/USDT:USDT")
    assert eth.reported.liquidation_price == 1153.3 and eth.tiers[5].maintenance_amount == 135365
    assert keys.secret not in out.read_text() and keys.api_key not in out.read_text()


def test_snapshot_feeds_desk_risk(monkeypatch, capsys, fake, keys, tmp_path):
    """End to end: live read → file → engine; ours beside theirs on Binance's worked example."""
    _add(monkeypatch, keys, "bn", "binanceusdm", fake.url)
    out = tmp_path / "bn.json"
    assert main(["snapshot", "--account", "bn", "-o", str(out)]) == 0
    capsys.readouterr()
    assert main(["risk", str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    eth = next(p for p in report["accounts"][0]["positions"] if p["symbol"] == "ETH/USDT:USDT")
    assert eth["liquidation_price"] == pytest.approx(1153.26, abs=0.02)  # risk-math.md §1.1
    assert eth["reported_liquidation_price"] == 1153.3


def test_snapshot_names_the_account_that_failed(monkeypatch, capsys, fake, keys, tmp_path):
    _add(monkeypatch, keys, "bn", "binanceusdm", fake.url)
    _add(monkeypatch, keys, "bb", "bybit", fake.url)
    from tests.fake_exchange import Fault

    fake.inject(Fault("non_json", path="/v5/position/list"))
    out = tmp_path / "x.json"
    assert main(["snapshot", "--all", "-o", str(out)]) == 3
    err = capsys.readouterr().err
    assert "cannot read bb: [bad_response]" in err and "no file written" in err
    assert not out.exists()
    assert main(["snapshot", "--all", "--partial", "-o", str(out)]) == 3
    assert [a.name for a in load_portfolio(out).accounts] == ["bn"]


def test_snapshot_demo(capsys, tmp_path):
    out = tmp_path / "demo.json"
    assert main(["snapshot", "--demo", "--seed", "7", "-o", str(out)]) == 0
    portfolio = load_portfolio(out)
    assert portfolio.accounts and all(a.positions for a in portfolio.accounts)


def test_snapshot_input_errors(capsys):
    assert main(["snapshot"]) == 2
    assert "--account NAME" in capsys.readouterr().err
    assert main(["snapshot", "--account", "ghost"]) == 2
    assert "no account named 'ghost'" in capsys.readouterr().err
    assert main(["snapshot", "--demo", "--scenario", "nope"]) == 2
    assert "unknown demo scenario" in capsys.readouterr().err


@pytest.mark.parametrize("at", ["1e308", "inf", "86401"])
def test_snapshot_demo_time_beyond_a_day_is_named_not_a_hang(subprocess_env, tmp_path, at):
    # the demo market is stepped second by second: --at 1e308 used to run for ever
    out = tmp_path / "demo.json"
    result = subprocess.run([sys.executable, "-m", "desk", "snapshot", "--demo", "--at", at, "-o", str(out)],
                            capture_output=True, text=True, cwd=ROOT, env=subprocess_env, timeout=60,
                            stdin=subprocess.DEVNULL)
    assert result.returncode == 2, result.stderr
    assert "demo time must be between 0 and 86,400 seconds (one simulated day)" in result.stderr
    assert "Traceback" not in result.stderr and not out.exists()
