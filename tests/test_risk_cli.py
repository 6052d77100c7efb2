"""`desk risk` end to end, as a user runs it (a real subprocess)."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "docs" / "examples"


def desk(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "desk", "risk", *args], capture_output=True, text=True,
                          cwd=ROOT, env=env, timeout=60)


@pytest.fixture
def env(subprocess_env: dict[str, str]) -> dict[str, str]:
    e = dict(subprocess_env)
    e.pop("NO_COLOR", None)
    return e


def test_json_report_matches_the_binance_faq(env):
    result = desk(str(EXAMPLES / "binance-faq.json"), "--json", env=env)
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["format"] == "desk.risk/1"
    (acc,) = doc["accounts"]
    eth, btc = acc["positions"]
    assert round(eth["liquidation_price"], 2) == 1153.26
    assert round(btc["liquidation_price"], 2) == 26316.89
    assert eth["reported_liquidation_price"] == 1153.3
    assert round(acc["pools"][0]["margin_ratio"], 5) == 0.41489
    assert doc["what_if"] == {"marks": {}, "shock": None, "target": None}


def test_json_records_the_what_if_inputs_and_applies_them(env):
    result = desk(str(EXAMPLES / "binance-faq.json"), "--json", "--mark", "BTC/USDT:USDT=30000",
                  "--shock", "-5", "--target", "0.3", env=env)
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["what_if"] == {"marks": {"BTC/USDT:USDT": 30000.0}, "shock": -0.05, "target": 0.3}
    eth, btc = doc["accounts"][0]["positions"]
    assert btc["mark_price"] == pytest.approx(28_500)
    assert eth["mark_price"] == pytest.approx(1335.18 * 0.95)
    actions = [s["action"] for s in eth["suggestions"]]
    assert actions == ["add_margin", "reduce_size"]


def test_table_is_worst_first_with_pools_shock_and_no_colour_off_a_tty(env):
    result = desk(str(EXAMPLES / "multi-venue.json"), "--target", "0.5", env=env)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "\033[" not in out  # not a TTY
    all_lines = out.splitlines()
    assert all_lines[0] == "what-if: target ratio 0.5"
    start = next(i for i, line in enumerate(all_lines) if line.startswith("account"))
    header, _, *lines = all_lines[start:]
    assert header.split()[:4] == ["account", "symbol", "side", "mode"]
    ratios = []
    for row in lines:
        if not row.strip():
            break
        # the ratio column is percent; "≥ 100 %" once the margin balance is gone
        assert row.endswith(" %"), row
        ratios.append(float("inf") if row.endswith("≥ 100 %") else float(row.split()[-2].replace(",", "")))
    assert ratios == sorted(ratios, reverse=True) and len(ratios) >= 8
    assert "pool USDT" in out and "shock to liquidation" in out
    assert "generic" in out  # the unknown venue says so


def on_a_terminal(args: list[str], env: dict[str, str]) -> str:
    """What `desk risk ARGS` writes to a terminal (a pseudo-terminal: it turns each \n into \r\n)."""
    import pty

    leader, follower = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "desk", "risk", *args],
                            stdout=follower, stderr=follower, cwd=ROOT, env=env)
    os.close(follower)
    chunks = []
    while True:
        try:
            data = os.read(leader, 65536)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    proc.wait(timeout=60)
    os.close(leader)
    return b"".join(chunks).decode()


def test_colour_on_a_tty_and_no_color_respected(env):
    faq = str(EXAMPLES / "binance-faq.json")
    assert "\033[32m" in on_a_terminal([faq], env)
    assert "\033[" not in on_a_terminal([faq], {**env, "NO_COLOR": "1"})


def test_json_is_indented_on_a_terminal_and_compact_when_piped_unless_asked(env):
    faq = str(EXAMPLES / "binance-faq.json")
    piped, pretty = desk(faq, "--json", env=env), desk(faq, "--json", "--pretty", env=env)
    assert piped.returncode == pretty.returncode == 0, piped.stderr + pretty.stderr
    assert piped.stdout.startswith('{"format":"desk.risk/1",') and piped.stdout.count("\n") == 1
    assert pretty.stdout.startswith('{\n  "format": "desk.risk/1",\n  "as_of": ')
    assert json.loads(piped.stdout) == json.loads(pretty.stdout)  # the same report, laid out apart
    assert on_a_terminal([faq, "--json"], env).replace("\r\n", "\n") == pretty.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--mark", "BTC/USDT:USDT"], "SYMBOL=PRICE"),
        (["--mark", "BTC/USDT:USDT=-3"], "must be > 0"),
        (["--mark", "NOPE/USDT:USDT=3"], 'no position in the portfolio has the symbol "NOPE/USDT:USDT"'),
        (["--shock", "-100"], "--shock must be above -100"),
        (["--shock", "abc"], "--shock must be a number"),
        (["--target", "0"], "--target must be a margin ratio from 0.01 to 0.99"),
        (["--target", "nan"], "finite"),
        (["--pretty"], "--pretty indents the JSON report: add --json"),
    ],
)
def test_bad_what_if_flags_exit_2(env, args, message):
    result = desk(str(EXAMPLES / "binance-faq.json"), *args, env=env)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_invalid_portfolio_exits_2_naming_account_position_and_field(env, tmp_path):
    doc = json.loads((EXAMPLES / "binance-faq.json").read_text())
    doc["accounts"][0]["positions"][0]["contracts"] = -3
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(doc))
    result = desk(str(bad), env=env)
    assert result.returncode == 2
    assert 'account "binance-main", position "ETH/USDT:USDT" (long): contracts must be > 0, got -3' \
        in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_file_exits_2(env, tmp_path):
    result = desk(str(tmp_path / "none.json"), env=env)
    assert result.returncode == 2
    assert "no such file" in result.stderr


def test_suggestions_answer_the_distance_goal_in_whole_coin_m_contracts(env, tmp_path):
    """A COIN-M long 4 % from liquidation at margin ratio < 0.5: the ratio alone sees nothing to do;
    with --target-distance the table says what brings it back, in whole contracts and in BTC."""
    n, cs, ep, mark, mmr, wallet = 300, 100.0, 60_000.0, 57_000.0, 0.005, 0.06
    doc = {"format": "desk.portfolio/1", "accounts": [{
        "name": "coinm", "venue": "binancecoinm", "wallets": {"BTC": wallet},
        "positions": [{"symbol": "BTC/USD:BTC", "kind": "inverse", "contracts": n, "contract_size": cs,
                       "side": "long", "entry_price": ep, "mark_price": mark, "margin_mode": "cross",
                       "mmr": mmr, "lot_size": 1}]}]}
    path = tmp_path / "coinm.json"
    path.write_text(json.dumps(doc))
    plain = desk(str(path), "--target", "0.5", env=env)
    assert plain.returncode == 0, plain.stderr
    assert "suggestion:" not in plain.stdout
    result = desk(str(path), "--target", "0.5", "--target-distance", "20", env=env)
    assert result.returncode == 0, result.stderr
    # by hand (inverse long, cross, §2): closing c at the mark keeps the margin balance; the
    # liquidation price N'·CS(1 + MMR) ÷ (W' + N'·CS/EP) must fall to MARK × 0.8
    k = mark * 0.8
    c = (n * cs * (1 + mmr) - k * wallet - k * n * cs / ep) / (cs * (mmr + 0.2))
    add = n * cs * (1 + mmr) / k - n * cs / ep - wallet
    assert (math.ceil(c), round(add, 6)) == (226, 0.101184)
    out = result.stdout
    assert "target distance 20%" in out
    assert ("suggestion: add 0.102 BTC of margin to get back to 20 % from liquidation and margin ratio "
            "50 %") in out
    assert f"suggestion: cut {math.ceil(c)} contracts (75.3 % of the position) to get back to 20 %" in out
    data = json.loads(desk(str(path), "--json", "--target", "0.5", "--target-distance", "20", env=env).stdout)
    cut = data["accounts"][0]["positions"][0]["suggestions"][1]
    assert cut == {"action": "reduce_size", "reaches_target": True, "contracts": 226.0,
                   "fraction": pytest.approx(226 / 300), "step": 1.0, "target_margin_ratio": 0.5,
                   "target_distance": 0.2}


@pytest.mark.parametrize("value", ["0", "100", "-5", "x"])
def test_bad_target_distance_exits_2(env, value):
    result = desk(str(EXAMPLES / "binance-faq.json"), "--target-distance", value, env=env)
    assert result.returncode == 2 and "--target-distance" in result.stderr


@pytest.mark.parametrize("enabled", [True, False])
def test_desk_risk_leaves_the_garbage_collector_as_it_found_it(
        enabled: bool, tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    """`desk risk` pauses the cyclic collector while it works (issue 18); run in-process (as the
    dashboard's tests and a script would), it puts it back as it was, after a report and after an error."""
    import gc

    from desk.cli import main

    broken = tmp_path / "broken.json"
    broken.write_text('{"format": "desk.portfolio/1", "accounts": []', encoding="utf-8")
    was = gc.isenabled()
    try:
        (gc.enable if enabled else gc.disable)()
        assert main(["risk", "--json", str(EXAMPLES / "binance-faq.json")]) == 0
        assert json.loads(capsysbinary.readouterr().out)["format"] == "desk.risk/1"
        assert gc.isenabled() is enabled
        assert main(["risk", str(broken)]) != 0
        assert b"broken.json" in capsysbinary.readouterr().err
        assert gc.isenabled() is enabled
    finally:
        (gc.enable if was else gc.disable)()
