"""OKX position tiers (``GET /api/v5/public/position-tiers``) → the tier the engine applies.

OKX picks a tier by the position's size in contracts and applies its rate to the whole
position (risk-math.md §4); the adapter hands the engine that one tier (see the okx adapter's
docstring). The checks below compare the engine's report with figures derived by hand from
OKX's published formulas.
"""

from __future__ import annotations

import pytest

from desk.domain.engine import compute_risk
from desk.domain.model import Portfolio, Tier
from desk.exchanges import ErrorKind, VenueError
from desk.exchanges.adapters.okx import held_tier_index
from tests.exchanges.conftest import read_many, read_once
from tests.fake_exchange.server import Fault

LINEAR, INVERSE = "BTC/USDT:USDT", "BTC/USD:BTC"


def _tier_requests(fake):
    return [r.query for r in fake.requests if r.path == "/api/v5/public/position-tiers"]


def _set_position(fake, inst_id: str, **fields: str) -> None:
    row = next(p for p in fake.state["okx"]["positions"] if p["instId"] == inst_id and p["pos"] != "0")
    row.update(fields)


def test_tiers_are_fetched_per_instrument_and_margin_mode(fake, keys, make_config):
    snap = read_once(make_config("okx"), keys.okx())
    queries = _tier_requests(fake)
    assert sorted((q["instType"], q["tdMode"], q["instFamily"]) for q in queries) == [
        ("SWAP", "cross", "BTC-USDT"), ("SWAP", "isolated", "BTC-USD")]
    held = snap.raw["held_tiers"]
    assert held[LINEAR]["tier"] == 1 and held[INVERSE]["tier"] == 1
    # the table converted at the mark: tier 2 of BTC-USDT starts at 2,001 contracts × 0.01 BTC × 62,000
    table = held[LINEAR]["table_at_mark"]
    assert table[1]["min_contracts"] == 2001
    assert table[1]["min_notional"] == pytest.approx(2001 * 0.01 * 62000)
    # inverse: 201 contracts × 100 USD ÷ 62,000 in BTC
    assert held[INVERSE]["table_at_mark"][1]["min_notional"] == pytest.approx(201 * 100 / 62000)
    assert "tier_checks" not in snap.raw and "tier_fallbacks" not in snap.raw


def test_tiers_are_cached_between_reads(fake, keys, make_config):
    results = read_many(make_config("okx"), keys.okx(), 3)
    assert all(not isinstance(r, Exception) for r in results)
    assert len(_tier_requests(fake)) == 2  # one per (instrument, mode), not per read


def test_linear_position_sized_in_tier_2_gets_tier_2_rate_in_the_report(fake, keys, make_config):
    # 3,000 contracts: above tier 1's 2,000, inside tier 2 (2,001–4,000, MMR 0.6 %). OKX's mmr
    # amount for it is 0.006 × 3,000 × 0.01 × 62,000 = 11,160.
    _set_position(fake, "BTC-USDT-SWAP", pos="3000", mmr="11160", notionalUsd="1860000")
    account = read_once(make_config("okx"), keys.okx()).account
    linear = {p.symbol: p for p in account.positions}[LINEAR]
    assert linear.tiers == (Tier(0.0, linear.tiers[0].notional_cap, 0.006, 0.0, 100.0),)

    report = compute_risk(Portfolio(accounts=(account,)))
    risk = {p.symbol: p for p in report.positions()}[LINEAR]
    notional = 3000 * 0.01 * 62000
    fee = linear.taker_fee or 0.0
    assert risk.notional == pytest.approx(notional)
    # OKX (risk-math §4): maintenance = notional × (tier MMR + taker fee); tier 1's rate would give less
    assert risk.maintenance_margin == pytest.approx(notional * (0.006 + fee))
    assert risk.maintenance_margin > notional * (0.004 + fee) * 1.2


def test_inverse_isolated_short_in_tier_2_liquidates_where_okx_formula_says(fake, keys, make_config):
    # 300 contracts of 100 USD: tier 2 of BTC-USD (201–400, MMR 0.6 %); isolated margin 0.1 BTC
    _set_position(fake, "BTC-USD-SWAP", pos="-300", margin="0.1", mmr=f"{0.006 * 300 * 100 / 62000:.8f}")
    account = read_once(make_config("okx"), keys.okx()).account
    inverse = {p.symbol: p for p in account.positions}[INVERSE]
    assert inverse.tiers[0].mmr == 0.006

    report = compute_risk(Portfolio(accounts=(account,)))
    risk = {p.symbol: p for p in report.positions()}[INVERSE]
    # risk-math §4, coin-margined short: LP = (1 − MMR − fee) / (1/EP − M/(FV·N))
    fee = inverse.taker_fee or 0.0
    expected = (1 - 0.006 - fee) / (1 / 60000 - 0.1 / (100 * 300))
    assert risk.liquidation_price == pytest.approx(expected, rel=1e-9)
    with_tier_1 = (1 - 0.004 - fee) / (1 / 60000 - 0.1 / (100 * 300))
    assert abs(risk.liquidation_price - with_tier_1) > 100  # the tier matters at this size


def test_okx_tier_bounds_are_inclusive_and_gaps_belong_to_the_upper_tier():
    table = (Tier(0, 2000, 0.004), Tier(2001, 4000, 0.006), Tier(4001, 8000, 0.008))
    assert held_tier_index(table, 1) == 0
    assert held_tier_index(table, 2000) == 0
    assert held_tier_index(table, 2000.5) == 1  # fractional lots between two tiers
    assert held_tier_index(table, 4000) == 1
    assert held_tier_index(table, 9000) == 2  # beyond the last cap: the last tier


def test_no_tiers_for_an_instrument_falls_back_to_the_effective_rate_and_says_so(fake, keys, make_config):
    fake.state["okx"]["position_tiers"]["BTC-USDT"] = []
    snap = read_once(make_config("okx"), keys.okx())
    linear = {p.symbol: p for p in snap.account.positions}[LINEAR]
    assert linear.tiers[0].mmr == pytest.approx(248 / 62000)
    assert LINEAR in snap.raw["tier_fallbacks"]


def test_a_tier_that_disagrees_with_okx_maintenance_is_recorded(fake, keys, make_config):
    # OKX reports maintenance for a rate of 1 %, the table puts 100 contracts in tier 1 (0.4 %)
    _set_position(fake, "BTC-USDT-SWAP", mmr="620")
    snap = read_once(make_config("okx"), keys.okx())
    assert "OKX reports maintenance 620" in snap.raw["tier_checks"][LINEAR]


def test_failing_tier_endpoint_fails_the_read_instead_of_guessing(fake, keys, make_config):
    fake.inject(Fault("html", path="/api/v5/public/position-tiers", status=502))
    with pytest.raises(VenueError) as info:
        read_once(make_config("okx"), keys.okx())
    assert info.value.kind is ErrorKind.EXCHANGE_DOWN and info.value.retryable


def test_tier_endpoint_speaks_okx_wire_format(fake):
    import json
    import urllib.error
    import urllib.request

    def get(query: str) -> tuple[int, dict]:
        try:
            with urllib.request.urlopen(f"{fake.url}/api/v5/public/position-tiers?{query}", timeout=5) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())

    status, body = get("instType=SWAP&tdMode=cross&instFamily=BTC-USDT")
    assert status == 200 and body["code"] == "0"
    assert [row["tier"] for row in body["data"]] == ["1", "2", "3", "4"]
    assert set(body["data"][0]) >= {"minSz", "maxSz", "mmr", "imr", "maxLever", "instFamily", "uly"}
    status, body = get("instType=SWAP&instFamily=BTC-USDT")
    assert status == 400 and body["code"] == "50014"
