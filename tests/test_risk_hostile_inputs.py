"""`desk risk` on impossible numbers and hostile files (issue 14, parts 6 and 7), as a user runs it.

Every case ends in a named error (exit 2) with nothing on stdout — no traceback, no half report,
no NaN or infinity printed as a number — and none may hang (each run has a timeout).
"""

from __future__ import annotations

import copy
import json
import os
import pty
import re
import subprocess
import sys
from pathlib import Path

import pytest

from desk.domain.model import Account, Kind, MarginMode, Portfolio, Position, Side, Tier
from desk.formats import dump_portfolio

MAX_BYTES = 64 * 1024 * 1024  # the documented cap (README, docs/portfolio-format.md)
ROOT = Path(__file__).resolve().parent.parent
FAQ_PATH = ROOT / "docs" / "examples" / "binance-faq.json"
FAQ = json.loads(FAQ_PATH.read_text())
WHERE_ETH = 'account "binance-main", position "ETH/USDT:USDT" (long): '
WHERE_BTC = 'account "binance-main", position "BTC/USDT:USDT" (long): '


def desk(*args: str, env: dict[str, str], stdin: int = subprocess.DEVNULL
         ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "desk", "risk", *args], capture_output=True, stdin=stdin,
                          text=True, cwd=ROOT, env=env, timeout=60)


def assert_named_error(result: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert result.returncode == 2, (result.returncode, result.stdout[-500:], result.stderr[-2000:])
    assert result.stdout == ""  # nothing printed before the input is known to be valid
    assert result.stderr.startswith("desk: error: ") and result.stderr.count("\n") == 1, result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in result.stderr, result.stderr


def write_doc(tmp_path: Path, change, name: str = "portfolio.json") -> Path:
    doc = copy.deepcopy(FAQ)
    change(doc)
    path = tmp_path / name
    path.write_text(json.dumps(doc))
    return path


def eth(doc):
    return doc["accounts"][0]["positions"][0]


def btc(doc):
    return doc["accounts"][0]["positions"][1]


def btc_tiers(doc, table):
    btc(doc).pop("mmr")
    btc(doc).pop("maintenance_amount")
    btc(doc)["tiers"] = table


# ---------------------------------------------------------------------------- part 6: impossible numbers


def test_a_maintenance_amount_above_rate_times_notional_is_named(subprocess_env, tmp_path):
    # 0.025 × 3.5 M notional = 87,500 < 1e12: the maintenance margin would be negative (was printed, exit 0)
    path = write_doc(tmp_path, lambda d: btc(d).update(maintenance_amount=1e12))
    assert_named_error(desk(str(path), env=subprocess_env), WHERE_BTC + "maintenance_amount 1e+12 exceeds "
                       "mmr × notional")


def test_a_tier_whose_amount_exceeds_rate_times_its_floor_is_named(subprocess_env, tmp_path):
    table = [{"notional_floor": 0, "notional_cap": 50_000, "mmr": 0.01, "maintenance_amount": 0},
             {"notional_floor": 50_000, "mmr": 0.02, "maintenance_amount": 5_000}]
    path = write_doc(tmp_path, lambda d: btc_tiers(d, table))
    assert_named_error(desk(str(path), env=subprocess_env),
                       WHERE_BTC + "tiers[1]: maintenance_amount 5000 exceeds mmr × notional_floor")


def test_a_tier_table_whose_maintenance_falls_at_a_boundary_is_named(subprocess_env, tmp_path):
    # §0 would give 250 at the second floor (0.005 × 50,000 − 0 → 0.01 × 50,000 − 250); 450 makes it fall
    table = [{"notional_floor": 0, "notional_cap": 50_000, "mmr": 0.005, "maintenance_amount": 0},
             {"notional_floor": 50_000, "mmr": 0.01, "maintenance_amount": 450}]
    path = write_doc(tmp_path, lambda d: btc_tiers(d, table))
    assert_named_error(desk(str(path), env=subprocess_env),
                       WHERE_BTC + "tiers[1]: the maintenance margin falls from 250 to 50")


def test_contracts_that_overflow_are_named_not_nan(subprocess_env, tmp_path):
    path = write_doc(tmp_path, lambda d: btc(d).update(contracts=1e308))
    assert_named_error(desk(str(path), env=subprocess_env),
                       WHERE_BTC + "contracts must be between 0 and 1e+15, got 1e+308")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--shock", "1e308"], "--shock must be at most 10,000 (percent"),
        (["--shock", "20000"], "--shock must be at most 10,000 (percent"),
        (["--mark", "ETH/USDT:USDT=1e308"], "the --mark price of ETH/USDT:USDT must be between 1e-12 and "
         "1e+12"),
        (["--mark", "ETH/USDT:USDT=1e-320"], "the --mark price of ETH/USDT:USDT must be between 1e-12"),
        (["--target", "1e308"], "--target must be a margin ratio from 0.01 to 0.99"),
        # found by the fuzz: a target next to 0 asked for an infinite margin (OverflowError)
        (["--target", "2.2250738585072014e-308"], "--target must be a margin ratio from 0.01 to 0.99"),
        # the single-tier shorthand holds from a notional of 1,353,650 only: 90 % down leaves it
        (["--shock", "-90"], "with the what-if applied, " + WHERE_ETH + "maintenance_amount 135365 exceeds "
         "mmr × notional"),
    ],
)
def test_what_if_flags_out_of_range_are_named(subprocess_env, args, message):
    assert_named_error(desk(str(FAQ_PATH), *args, env=subprocess_env), message)


# ---------------------------------------------------------------------------- part 7: hostile files


def test_deep_nesting_is_named_not_a_recursion_error(subprocess_env, tmp_path):
    path = tmp_path / "deep.json"
    path.write_text('{"format": "desk.portfolio/1", "accounts": ' + "[" * 1500 + "]" * 1500 + "}")
    assert_named_error(desk(str(path), env=subprocess_env), "is nested more than 64 levels deep")


def test_a_lone_surrogate_in_a_name_is_named_before_any_output(subprocess_env, tmp_path):
    path = tmp_path / "surrogate.json"
    path.write_text(json.dumps(FAQ).replace('"binance-main"', '"binance-\\ud800-main"'))
    assert_named_error(desk(str(path), env=subprocess_env),
                       "account #1: name holds a lone UTF-16 surrogate (\\ud800)")


def test_a_lone_surrogate_in_a_wallet_currency_is_named(subprocess_env, tmp_path):
    path = tmp_path / "surrogate-key.json"
    path.write_text(json.dumps(FAQ).replace('"USDT": 1535443.01', '"\\udc80": 1'))
    assert_named_error(desk(str(path), env=subprocess_env),
                       'account "binance-main": the key "\\udc80" holds a lone UTF-16 surrogate')


def test_a_100000_digit_number_is_named(subprocess_env, tmp_path):
    path = tmp_path / "digits.json"
    path.write_text(json.dumps(FAQ).replace("3683.979", "9" * 100_000))
    assert_named_error(desk(str(path), env=subprocess_env), WHERE_ETH + "contracts must be a finite number")


def test_a_huge_text_is_named(subprocess_env, tmp_path):
    path = write_doc(tmp_path, lambda d: d["accounts"][0].update(venue="x" * 5_000))
    assert_named_error(desk(str(path), env=subprocess_env),
                       'account "binance-main": venue is 5,000 characters long; a text in a portfolio is '
                       "at most 1,000")


def test_a_file_that_is_not_utf8_names_the_byte(subprocess_env, tmp_path):
    path = tmp_path / "latin1.json"
    text = json.dumps(FAQ, ensure_ascii=False).replace("binance-main", "binance-m\u00e9")
    path.write_bytes(text.encode("latin-1"))
    offset = path.read_bytes().index(b"\xe9") + 1
    assert_named_error(desk(str(path), env=subprocess_env),
                       f"is not UTF-8 text: byte {offset} (line 1) is 0xe9; save the file as UTF-8")


def test_a_file_over_the_size_cap_is_named(subprocess_env, tmp_path):
    path = tmp_path / "big.json"
    with path.open("wb") as f:  # sparse: no disk used
        f.truncate(MAX_BYTES + 1)
    assert_named_error(desk(str(path), env=subprocess_env), "a portfolio file may be at most 64 MiB")


def test_the_size_cap_comfortably_allows_10000_positions_with_full_tier_tables():
    floors = [0.0] + [50_000.0 * 4 ** i for i in range(9)]
    caps = [*floors[1:], float("inf")]
    tiers = tuple(Tier(floors[i], caps[i], 0.004 * (i + 1), None, 125.0 / (i + 1)) for i in range(10))
    positions = tuple(Position(f"COIN{i:05d}/USDT:USDT", "USDT", Kind.LINEAR, 1.5, Side.LONG, 100.0, 101.0,
                               MarginMode.CROSS, leverage=10.0, tiers=tiers, taker_fee=0.0005, tick_size=0.01)
                      for i in range(10_000))
    size = len(dump_portfolio(Portfolio((Account("main", "binanceusdm", {"USDT": 1e6}, positions),))))
    assert size < MAX_BYTES / 2, size


def test_a_fifo_is_named_not_a_hang(subprocess_env, tmp_path):
    fifo = tmp_path / "pipe.json"
    os.mkfifo(fifo)  # no writer: reading it would block for ever
    assert_named_error(desk(str(fifo), env=subprocess_env), "is a pipe (FIFO), not a portfolio file")


def test_dev_zero_is_named_not_read_for_ever(subprocess_env):
    assert_named_error(desk("/dev/zero", env=subprocess_env), "/dev/zero: is a character device")


def test_dev_stdin_on_a_terminal_is_named_not_a_wait(subprocess_env):
    leader, follower = pty.openpty()
    try:
        result = desk("/dev/stdin", env=subprocess_env, stdin=follower)
    finally:
        os.close(follower)
        os.close(leader)
    assert_named_error(result, "/dev/stdin: is a character device")


def test_an_infinite_okx_ratio_is_not_shown_as_no_margin_left(subprocess_env, tmp_path):
    # OKX's own ratio is equity ÷ maintenance: infinite on a pool that needs no margin, the safest case
    doc = {"format": "desk.portfolio/1", "accounts": [{"name": "o", "venue": "okx", "wallets": {"USDT": 1000},
           "positions": [{"symbol": "BTC/USDT:USDT", "kind": "linear", "contracts": 1, "side": "long",
                          "entry_price": 100, "margin_mode": "cross", "mmr": 0}]}]}
    path = tmp_path / "okx.json"
    path.write_text(json.dumps(doc))
    result = desk(str(path), env=subprocess_env)
    assert result.returncode == 0, result.stderr
    assert "margin ratio 0.00 % (venue's own ratio unbounded (no maintenance margin))" in result.stdout
    assert not re.search(r"\b(nan|inf|infinity)\b", result.stdout, re.IGNORECASE)
    assert "no margin left" not in result.stdout


def test_a_portfolio_piped_to_dev_stdin_is_refused_not_waited_on(subprocess_env):
    # `cat file | desk risk /dev/stdin`: a pipe, refused like a FIFO (the writer may never finish)
    read, write = os.pipe()
    try:
        result = desk("/dev/stdin", env=subprocess_env, stdin=read)
    finally:
        os.close(read)
        os.close(write)
    assert_named_error(result, "/dev/stdin: is a pipe (FIFO), not a portfolio file; save the portfolio as a")


def test_a_key_given_twice_is_named_not_silently_the_last(subprocess_env, tmp_path):
    path = tmp_path / "twice.json"
    twice = json.dumps(FAQ).replace('"contracts": 3683.979,', '"contracts": 3683.979, "contracts": 1,')
    path.write_text(twice)
    assert_named_error(desk(str(path), env=subprocess_env),
                       WHERE_ETH + 'the key "contracts" appears twice; keep one')
