"""OKX funding per perpetual swap held (issue 17): ``GET /api/v5/public/funding-rate?instId=…``, served
by the fake exchange in OKX's documented shape (okx.com/docs-v5, "Get funding rate": ``fundingRate`` is
the rate of the settlement at ``fundingTime``; "users should focus on the difference between
``fundingTime`` and ``nextFundingTime`` fields to determine the funding fee interval")."""

from __future__ import annotations

import copy
import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest

from desk.domain.model import Kind, MarginMode, Portfolio
from desk.domain.scalar import compute_risk_scalar
from desk.formats import load_portfolio
from tests.exchanges.conftest import read_many, read_once
from tests.fake_exchange import load_payload
from tests.support.file_keyring import BACKEND as FILE_KEYRING

ROOT = Path(__file__).resolve().parents[2]
_IDS = {"BTC/USDT:USDT": "BTC-USDT-SWAP", "BTC/USD:BTC": "BTC-USD-SWAP"}


def _rows() -> dict[str, dict]:
    return {r["instId"]: r for r in load_payload("okx_funding_rate.json")}


def _funding_reads(fake) -> list[str]:
    return [r.query.get("instId", "") for r in fake.requests if r.path == "/api/v5/public/funding-rate"]


def test_each_swap_carries_its_funding_rate_time_and_interval(fake, keys, make_config):
    rows = _rows()
    snap = read_once(make_config("okx"), keys.okx())
    assert {p.symbol for p in snap.account.positions} == set(_IDS)
    for p in snap.account.positions:
        row = rows[_IDS[p.symbol]]
        assert p.funding_rate == float(row["fundingRate"])
        assert p.next_funding_time == int(row["fundingTime"]) / 1000  # the settlement this rate is for
    by_symbol = {p.symbol: p for p in snap.account.positions}
    # okx_funding_rate.json: BTC-USDT-SWAP 1743609600000 → 1743638400000 = 8 h;
    # BTC-USD-SWAP 1743609600000 → 1743624000000 = 4 h (a swap OKX moved to a shorter interval)
    assert by_symbol["BTC/USDT:USDT"].funding_interval_hours == 8.0
    assert by_symbol["BTC/USD:BTC"].funding_interval_hours == 4.0
    assert sorted(_funding_reads(fake)) == ["BTC-USD-SWAP", "BTC-USDT-SWAP"]  # one read per symbol held


def test_funding_is_kept_briefly_then_asked_again(fake, keys, make_config):
    from desk.exchanges import open_reader
    from desk.exchanges.adapters.okx import FUNDING_REFRESH_SECONDS
    from tests.exchanges.conftest import run

    async def go() -> tuple[int, int]:
        reader = open_reader(make_config("okx"), keys.okx())
        try:
            await reader.snapshot()
            await reader.snapshot()  # within the refresh age: the rows read before serve
            after_two = len(_funding_reads(fake))
            cache = reader.adapter._funding
            for symbol, (row, when) in list(cache.items()):
                cache[symbol] = (row, when - FUNDING_REFRESH_SECONDS)  # as if a minute had passed
            await reader.snapshot()
            return after_two, len(_funding_reads(fake))
        finally:
            await reader.close()

    assert run(go()) == (2, 4)


def test_a_dated_future_has_no_funding_and_is_not_asked(fake, keys, make_config):
    okx = fake.state["okx"]
    swap = next(i for i in okx["instruments"] if i["instId"] == "BTC-USD-SWAP")
    future = dict(copy.deepcopy(swap), instType="FUTURES", instId="BTC-USD-260327", alias="quarter",
                  expTime="1774598400000", listTime="1743148800000")
    okx["instruments"].append(future)
    held = next(p for p in okx["positions"] if p["instId"] == "BTC-USD-SWAP")
    okx["positions"].append(dict(copy.deepcopy(held), instId="BTC-USD-260327", instType="FUTURES",
                                 posId="307173036051017999", pos="-10", margin="0.002", mmr="0.00006452"))
    snap = read_once(make_config("okx"), keys.okx())
    dated = next(p for p in snap.account.positions if p.symbol.startswith("BTC/USD:BTC-"))
    assert dated.funding_rate is None and dated.next_funding_time is None
    assert dated.funding_interval_hours is None
    assert "BTC-USD-260327" not in _funding_reads(fake)
    assert sorted(_funding_reads(fake)) == ["BTC-USD-SWAP", "BTC-USDT-SWAP"]


def test_funding_from_okx_to_desk_risk(fake, keys, subprocess_env, tmp_path):
    """`desk accounts add` → `desk snapshot` → `desk risk --json` as subprocesses; each payment and the
    liquidation prices after 1, 3 and 24 payments derived here (the scalar oracle)."""
    env = dict(subprocess_env, PYTHON_KEYRING_BACKEND=FILE_KEYRING,
               DESK_TEST_KEYRING=str(tmp_path / "k.json"))

    def desk(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "desk", *args], cwd=ROOT, env=env, input=stdin,
                              capture_output=True, text=True, timeout=120, check=False)

    added = desk("accounts", "add", "ok", "--venue", "okx", "--api-url", fake.url, "--secrets-from-stdin",
                 stdin=f"{keys.api_key}\n{keys.secret}\n{keys.passphrase}\n")
    assert added.returncode == 0, added.stderr
    out = tmp_path / "ok.json"
    snap = desk("snapshot", "--account", "ok", "-o", str(out))
    assert snap.returncode == 0, snap.stderr
    (account,) = load_portfolio(out).accounts
    risk = desk("risk", str(out), "--json")
    assert risk.returncode == 0, risk.stderr
    docs = {p["symbol"]: p for p in json.loads(risk.stdout)["accounts"][0]["positions"]}

    # BTC-USDT-SWAP: long 100 contracts × 0.01 BTC at the mark 62,000, rate 0.0000182221218054:
    # the long pays 1 × 62,000 × 0.0000182221218054 = 1.12977… USDT every 8 h from the USDT pool.
    # BTC-USD-SWAP: short 50 contracts × 100 USD (inverse) = 5,000 / 62,000 BTC, rate −0.0000512:
    # the short pays 5,000 / 62,000 × 0.0000512 = 0.0000041290… BTC every 4 h from its isolated margin.
    expected = {"BTC/USDT:USDT": 100 * 0.01 * 62_000 * 0.0000182221218054,
                "BTC/USD:BTC": 50 * 100 / 62_000 * 0.0000512}
    for p in account.positions:
        doc = docs[p.symbol]
        assert doc["funding_interval_hours"] == {"BTC/USDT:USDT": 8.0, "BTC/USD:BTC": 4.0}[p.symbol]
        drift = doc["funding_drift"]
        assert drift["payment"] == pytest.approx(expected[p.symbol], rel=1e-12)
        assert p.kind is (Kind.INVERSE if p.symbol == "BTC/USD:BTC" else Kind.LINEAR)
        after = []
        for n in (1, 3, 24):
            paid = n * expected[p.symbol]
            if p.margin_mode is MarginMode.ISOLATED:
                moved = dataclasses.replace(p, isolated_margin=float(p.isolated_margin or 0.0) - paid)
                book, index = dataclasses.replace(account, positions=(moved,)), 0
            else:
                wallets = {**account.wallets, p.settle: account.wallets[p.settle] - paid}
                book, index = dataclasses.replace(account, wallets=wallets), account.positions.index(p)
            after.append(compute_risk_scalar(Portfolio((book,))).accounts[0].positions[index].liquidation_price)
        assert [s["liquidation_price"] for s in drift["liquidation_after"]] == pytest.approx(after, rel=1e-9)


def test_the_funding_read_is_a_public_get(fake, keys, make_config):
    read_many(make_config("okx"), keys.okx(), 1)
    reads = [r for r in fake.requests if r.path == "/api/v5/public/funding-rate"]
    assert reads and all(r.method == "GET" and "OK-ACCESS-SIGN" not in r.headers for r in reads)
