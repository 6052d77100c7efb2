"""The portfolio file and the risk report: validation errors name account, position and field."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

from desk.domain.engine import compute_risk
from desk.formats import PortfolioError, dump_portfolio, load_portfolio, report_to_dict
from desk.formats.schemas import SCHEMA_DIR, rendered
from tests.domain.test_properties import portfolios

ROOT = Path(__file__).resolve().parents[2]
FAQ = json.loads((ROOT / "docs/examples/binance-faq.json").read_text())


def broken(change) -> bytes:
    doc = copy.deepcopy(FAQ)
    change(doc)
    return json.dumps(doc).encode()


def eth(doc):
    return doc["accounts"][0]["positions"][0]


WHERE = 'account "binance-main", position "ETH/USDT:USDT" (long): '


@pytest.mark.parametrize(
    ("change", "message", "field"),
    [
        (lambda d: eth(d).update(contracts=-3), "contracts must be > 0, got -3", "contracts"),
        (lambda d: eth(d).update(contracts=0), "contracts must be > 0, got 0", "contracts"),
        (lambda d: eth(d).update(entry_price=0), "entry_price must be > 0, got 0", "entry_price"),
        (lambda d: eth(d).update(mark_price=-1.5), "mark_price must be > 0, got -1.5", "mark_price"),
        (lambda d: eth(d).update(kind="perpetual"), "kind has an unknown value 'perpetual'; expected one of "
         '"linear", "inverse"', "kind"),
        (lambda d: eth(d).update(margin_mode="portfolio"), "margin_mode has an unknown value", "margin_mode"),
        (lambda d: eth(d).update(contracts="3"), 'contracts must be a number, got "3"', "contracts"),
        (lambda d: eth(d).pop("side"), 'missing required field "side"', None),
        (lambda d: eth(d).update(margin_mode="isolated"), 'an isolated position needs "isolated_margin"',
         "isolated_margin"),
        (lambda d: eth(d).update(settle="USDC"), 'settle "USDC" does not match the symbol\'s settle currency '
         '"USDT"', "settle"),
        (lambda d: eth(d).update(isolatd_margin=3), 'unknown field "isolatd_margin"', None),
        (lambda d: eth(d).update(leg="short"), 'a hedge-mode "short" leg must have side "short"', "side"),
        (lambda d: (eth(d).pop("mmr"), eth(d).pop("maintenance_amount")), "a maintenance rate is required",
         "mmr"),
    ],
)
def test_position_errors_name_account_position_and_field(change, message, field):
    with pytest.raises(PortfolioError) as info:
        load_portfolio(broken(change))
    text = str(info.value)
    assert text.startswith('account "binance-main", position "ETH/USDT:USDT"'), text
    assert message in text, text
    assert info.value.account == "binance-main"
    assert info.value.field == field


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_non_finite_numbers_are_rejected_by_name(literal):
    text = json.dumps(FAQ).replace('"contracts": 3683.979', f'"contracts": {literal}')
    with pytest.raises(PortfolioError) as info:
        load_portfolio(text.encode())
    assert str(info.value).startswith(WHERE + "contracts must be")
    assert "finite" in str(info.value) or "> 0" in str(info.value)


def test_non_finite_wallet_is_rejected():
    text = json.dumps(FAQ).replace("1535443.01", "NaN")
    with pytest.raises(PortfolioError, match=r'account "binance-main": wallets.USDT must be a finite number'):
        load_portfolio(text.encode())


def tiers(*rows):
    return [{"notional_floor": f, "notional_cap": c, "mmr": m} for f, c, m in rows]


@pytest.mark.parametrize(
    ("table", "message"),
    [
        (tiers((0, 50_000, 0.004), (40_000, 250_000, 0.005)), "tiers out of order or overlapping: tier 2"),
        (tiers((0, 50_000, 0.004), (50_000, 250_000, 0.003)), "tiers out of order: tier 2 has a lower mmr"),
        (tiers((0, 50_000, 0.004), (50_000, 50_000, 0.005)), "tiers[1]: notional_cap (50000) must be above"),
        ([], '"tiers" must list at least one tier'),
    ],
)
def test_bad_tiers(table, message):
    def change(d):
        eth(d).pop("mmr")
        eth(d).pop("maintenance_amount")
        eth(d)["tiers"] = table

    with pytest.raises(PortfolioError) as info:
        load_portfolio(broken(change))
    assert str(info.value).startswith(WHERE) and message in str(info.value), str(info.value)


def test_duplicate_account_names_and_positions():
    with pytest.raises(PortfolioError, match='account "binance-main": the account name appears twice'):
        load_portfolio(broken(lambda d: d["accounts"].append(copy.deepcopy(d["accounts"][0]))))
    with pytest.raises(PortfolioError, match=r'position "ETH/USDT:USDT" \(long\): appears twice'):
        load_portfolio(broken(lambda d: d["accounts"][0]["positions"].append(copy.deepcopy(eth(d)))))


def test_document_level_errors():
    with pytest.raises(PortfolioError, match="not valid JSON"):
        load_portfolio(b"{")
    with pytest.raises(PortfolioError, match=r'"format" must be "desk\.portfolio/1"'):
        load_portfolio(broken(lambda d: d.update(format="desk.portfolio/3")))
    with pytest.raises(PortfolioError, match="as_of must be an ISO 8601 time"):
        load_portfolio(broken(lambda d: d.update(as_of="yesterday")))


def test_unknown_venue_is_not_an_error():
    p = load_portfolio(broken(lambda d: d["accounts"][0].update(venue="mystery")))
    assert compute_risk(p).accounts[0].generic_rules


def test_defaults_and_single_tier_shorthand():
    p = load_portfolio(ROOT / "docs/examples/binance-faq.json")
    btc = p.accounts[0].positions[1]
    assert btc.settle == "USDT" and btc.leg.value == "both" and btc.contract_size == 1
    assert btc.tiers[0].mmr == 0.025 and btc.tiers[0].maintenance_amount == 16300
    assert math.isinf(btc.tiers[0].notional_cap)


def test_examples_load_and_round_trip():
    for path in (ROOT / "docs/examples").glob("*.json"):
        p = load_portfolio(path)
        assert load_portfolio(dump_portfolio(p)) == p


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(portfolios())
def test_dump_then_load_is_identity(portfolio):
    assert load_portfolio(dump_portfolio(portfolio)) == portfolio


def test_report_matches_the_documented_shape():
    report = compute_risk(load_portfolio(ROOT / "docs/examples/binance-faq.json"), target=0.3)
    doc = report_to_dict(report, what_if={"marks": {"BTC/USDT:USDT": 1.0}, "shock": -0.05, "target": 0.3})
    assert doc["format"] == "desk.risk/1"
    assert doc["what_if"] == {"marks": {"BTC/USDT:USDT": 1.0}, "shock": -0.05, "target": 0.3}
    acc = doc["accounts"][0]
    assert {"name", "venue", "rules", "pools", "positions", "shock_to_liquidation"} <= acc.keys()
    assert {"settle", "wallet_balance", "unrealized_pnl", "margin_balance", "maintenance_margin",
            "margin_ratio", "venue_margin_ratio"} <= acc["pools"][0].keys()
    pos = acc["positions"][0]
    assert {"symbol", "leg", "side", "margin_mode", "notional", "unrealized_pnl", "maintenance_margin",
            "margin_ratio", "liquidation_price", "bankruptcy_price", "distance_to_liquidation",
            "reported_liquidation_price", "suggestions"} <= pos.keys()
    # 394,815.51 needed, rounded up at its third significant figure
    assert pos["suggestions"][0] == {"action": "add_margin", "reaches_target": True, "amount": 395_000.0,
                                     "currency": "USDT", "step": 1_000.0, "target_margin_ratio": 0.3}
    json.dumps(doc, allow_nan=False)  # plain JSON: no NaN or Infinity


def test_exhausted_margin_is_null_ratio_and_liquidatable():
    p = load_portfolio(broken(lambda d: d["accounts"][0].update(wallets={"USDT": 100})))
    doc = report_to_dict(compute_risk(p))
    pool = doc["accounts"][0]["pools"][0]
    assert pool["margin_ratio"] is None and pool["liquidatable"] is True
    json.dumps(doc, allow_nan=False)


def test_checked_in_schemas_equal_the_generated_ones():
    for name, text in rendered().items():
        assert (SCHEMA_DIR / name).read_text(encoding="utf-8") == text, (
            f"desk/schemas/{name} is stale: run `python -m desk.formats`")


def test_lot_size_is_read_written_and_checked():
    p = load_portfolio(broken(lambda d: eth(d).update(lot_size=0.01)))
    assert p.accounts[0].positions[0].lot_size == 0.01
    assert json.loads(dump_portfolio(p))["accounts"][0]["positions"][0]["lot_size"] == 0.01
    with pytest.raises(PortfolioError, match="lot_size"):
        load_portfolio(broken(lambda d: eth(d).update(lot_size=-1)))
