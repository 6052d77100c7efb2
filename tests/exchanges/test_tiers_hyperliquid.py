"""Hyperliquid margin tables (``meta.marginTables``) → tiers with continuous maintenance margin.

Hyperliquid's docs ("Margin tiers"): maintenance margin = notional × MMR − deduction, with
MMR = 1/(2 × max leverage) of the tier and deduction_i = deduction_{i−1} + lowerBound_i ×
(MMR_i − MMR_{i−1}) (risk-math.md §0, §6). The expected figures below are worked by hand.
"""

from __future__ import annotations

import json

import pytest

from desk.domain.engine import compute_risk
from desk.domain.model import Portfolio, Tier
from desk.exchanges.adapters.base import UNBOUNDED_NOTIONAL
from desk.exchanges.adapters.common import ShapeError
from desk.exchanges.adapters.hyperliquid import tiers_from_margin_table
from tests.exchanges.conftest import HL_ADDRESS, read_many, read_once

BTC, ETH = "BTC/USDC:USDC", "ETH/USDC:USDC"


def _meta(fake) -> dict:
    return fake.state["hyperliquid"]["metaAndAssetCtxs"][0]


def _info_bodies(fake) -> list[dict]:
    return [json.loads(r.body) for r in fake.requests if r.path == "/info"]


def test_published_tables_become_tiers_with_continuous_maintenance(fake, make_config):
    snap = read_once(make_config("hyperliquid", wallet_address=HL_ADDRESS), {})
    by_symbol = {p.symbol: p for p in snap.account.positions}
    # BTC "tiered 40x": 40x below 150 M USDC, 20x from there; deduction 150 M × (1/40 − 1/80)
    assert by_symbol[BTC].tiers == (
        Tier(0.0, 150e6, 1 / 80, 0.0, 40.0),
        Tier(150e6, UNBOUNDED_NOTIONAL, 1 / 40, pytest.approx(1_875_000), 20.0),
    )
    # ETH "tiered 25x": 15x from 100 M; deduction 100 M × (1/30 − 1/50)
    eth_tiers = by_symbol[ETH].tiers
    assert [(t.notional_floor, t.mmr, t.max_leverage) for t in eth_tiers] == [
        (0.0, 1 / 50, 25.0), (100e6, 1 / 30, 15.0)]
    assert eth_tiers[1].maintenance_amount == pytest.approx(100e6 * (1 / 30 - 1 / 50))
    assert [b["type"] for b in _info_bodies(fake)].count("meta") == 1  # one request for all symbols
    assert [t[0] for t in snap.raw["marginTables"]] == [56, 55]


def test_position_in_tier_2_gets_the_continuous_maintenance_margin(fake, make_config):
    # a small table so the held BTC (2 × 62,000 = 124,000 USDC) sits in tier 2
    _meta(fake)["marginTables"][0][1]["marginTiers"] = [
        {"lowerBound": "0.0", "maxLeverage": 40}, {"lowerBound": "100000.0", "maxLeverage": 20}]
    account = read_once(make_config("hyperliquid", wallet_address=HL_ADDRESS), {}).account
    btc = {p.symbol: p for p in account.positions}[BTC]
    assert btc.tiers[1].maintenance_amount == pytest.approx(100_000 * (1 / 40 - 1 / 80))

    risk = {p.symbol: p for p in compute_risk(Portfolio(accounts=(account,))).positions()}[BTC]
    # 124,000 / 40 − 1,250 = 1,850 (tier 1 alone would say 1,550; at 100,000 both tiers give 1,250)
    assert risk.maintenance_margin == pytest.approx(1850)


def test_asset_without_a_listed_table_gets_one_tier_from_its_max_leverage(fake, make_config):
    _meta(fake)["marginTables"] = []  # as for the flat tables (ids below 50) Hyperliquid never lists
    account = read_once(make_config("hyperliquid", wallet_address=HL_ADDRESS), {}).account
    by_symbol = {p.symbol: p for p in account.positions}
    assert by_symbol[BTC].tiers == (Tier(0.0, UNBOUNDED_NOTIONAL, 1 / 80, 0.0, 40.0),)
    assert by_symbol[ETH].tiers == (Tier(0.0, UNBOUNDED_NOTIONAL, 1 / 50, 0.0, 25.0),)


def test_tables_are_cached_between_reads(fake, make_config):
    results = read_many(make_config("hyperliquid", wallet_address=HL_ADDRESS), {}, 3)
    assert all(not isinstance(r, Exception) for r in results)
    assert [b["type"] for b in _info_bodies(fake)].count("meta") == 1


def test_malformed_tables_are_refused():
    with pytest.raises(ShapeError, match="malformed margin tier"):
        tiers_from_margin_table([{"lowerBound": "0.0", "maxLeverage": 0}], "t")
    with pytest.raises(ShapeError, match="does not start at notional 0"):
        tiers_from_margin_table([{"lowerBound": "10.0", "maxLeverage": 5}], "t")
    with pytest.raises(ShapeError, match="overlap"):
        tiers_from_margin_table([{"lowerBound": "0", "maxLeverage": 5},
                                 {"lowerBound": "0", "maxLeverage": 3}], "t")
