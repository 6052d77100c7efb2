"""The portfolio file read against what the format says it means, written out here by hand from the
document (design/portfolio-format.md) — not against either reader — and the fast reader's shortcuts
held to the dataclasses and bounds they stand for.
"""

from __future__ import annotations

import gc
import json
import math
from typing import Any

import pytest

from benchmarks.bench_cold import portfolio_doc
from desk.domain.model import Account, Kind, Leg, MarginMode, Portfolio, Position, Reported, Side, Tier
from desk.formats import PortfolioError, load_portfolio
from desk.formats.portfolio import _load_careful, _load_fast
from tests.formats.test_portfolio_fast_reader import generated


def expected_tiers(doc: dict[str, Any]) -> tuple[Tier, ...]:
    if "tiers" in doc:
        return tuple(Tier(float(t["notional_floor"]), float(t.get("notional_cap", math.inf)), float(t["mmr"]),
                          t.get("maintenance_amount"), t.get("max_leverage")) for t in doc["tiers"])
    return (Tier(0.0, math.inf, float(doc["mmr"]), doc.get("maintenance_amount")),)


def expected_position(doc: dict[str, Any]) -> Position:
    """A position as the format defines it: settle from the symbol's ":SETTLE" suffix, mark = entry,
    leg "both", contract size 1, the last tier open-ended, the "mmr" shorthand one tier from 0."""
    reported = doc.get("reported") or {}
    return Position(
        symbol=doc["symbol"], settle=doc.get("settle") or doc["symbol"].partition(":")[2].split("-")[0],
        kind=Kind(doc["kind"]), contracts=float(doc["contracts"]), side=Side(doc["side"]),
        entry_price=float(doc["entry_price"]), mark_price=float(doc.get("mark_price", doc["entry_price"])),
        margin_mode=MarginMode(doc["margin_mode"]), contract_size=float(doc.get("contract_size", 1.0)),
        leg=Leg(doc.get("leg", "both")), isolated_margin=doc.get("isolated_margin"),
        leverage=None if doc.get("leverage") is None else float(doc["leverage"]), tiers=expected_tiers(doc),
        taker_fee=doc.get("taker_fee"), tick_size=doc.get("tick_size"),
        reported=Reported(reported.get("liquidation_price"), reported.get("bankruptcy_price"),
                          reported.get("margin_ratio")))


def expected_portfolio(doc: dict[str, Any]) -> Portfolio:
    return Portfolio(tuple(
        Account(a["name"], a["venue"], {k: float(v) for k, v in a.get("wallets", {}).items()},
                tuple(expected_position(p) for p in a["positions"]))
        for a in doc["accounts"]), doc.get("as_of"))


def without_orders_and_spot(doc: dict[str, Any]) -> dict[str, Any]:
    for account in doc["accounts"]:
        account.pop("orders", None)
        account.pop("spot", None)
    return doc


@pytest.mark.parametrize("doc", [
    portfolio_doc(4, 60),  # the benchmark's book, smaller: a distinct 8-tier table per symbol
    portfolio_doc(3, 40, seed=11, isolated_every=1),
    without_orders_and_spot(generated()),  # inverse, hedge legs, the "mmr" shorthand, defaults given
], ids=["benchmark-book", "all-isolated", "generated"])
def test_a_file_reads_to_what_the_format_says_it_means(doc: dict[str, Any]) -> None:
    data = json.dumps(doc, indent=2).encode()
    expected = expected_portfolio(doc)
    assert _load_fast(data) is not None, "a plainly valid file went to the careful path"
    assert load_portfolio(data) == expected
    assert _load_careful(data, "the portfolio") == expected


def test_the_positions_of_one_table_share_one_tuple_and_one_tuple_per_distinct_table() -> None:
    doc = portfolio_doc(5, 30)
    portfolio = load_portfolio(json.dumps(doc).encode())
    tables = {id(p.tiers) for a in portfolio.accounts for p in a.positions}
    assert len(tables) == 30 == len({p.tiers for a in portfolio.accounts for p in a.positions})


def eth(doc: dict[str, Any]) -> dict[str, Any]:
    return doc["accounts"][0]["positions"][0]


WHERE = 'account "acc-0", position "C0/USDT:USDT" '


@pytest.mark.parametrize(("change", "message"), [
    (lambda d: eth(d).update(entry_price=1e13), "entry_price must be between 1e-12 and 1e+12, got 1e+13"),
    (lambda d: eth(d).update(mark_price=1e-13), "mark_price must be between 1e-12 and 1e+12, got 1e-13"),
    (lambda d: eth(d).update(leverage=0.001), "leverage must be between 0.01 and 10000, got 0.001"),
    (lambda d: eth(d).update(mark_time=1.7e12), "mark_time must be between 0 and 1e+11 epoch seconds"),
    (lambda d: eth(d).update(contracts=1e9, contract_size=1e7),
     "contracts × contract_size must be between 1e-12 and 1e+15, got 1e+16"),
    (lambda d: eth(d).update(reported={"liquidation_price": 1e31}),
     "reported.liquidation_price must be between 0 and 1e+30, got 1e+31"),
    (lambda d: eth(d).update(taker_fee=1.0), "taker_fee must be < 1, got 1.0"),
])
def test_a_number_out_of_the_domains_bounds_is_named_as_before(change: Any, message: str) -> None:
    """The fast reader holds numbers to the domain's bounds while decoding; one outside them goes to the
    careful path, whose message names the account, position and field."""
    doc = portfolio_doc(2, 5)
    change(doc)
    data = json.dumps(doc).encode()
    assert _load_fast(data) is None
    with pytest.raises(PortfolioError) as caught:
        load_portfolio(data)
    assert str(caught.value).startswith(WHERE) and message in str(caught.value)


@pytest.mark.parametrize("enabled", [True, False])
def test_reading_leaves_the_garbage_collector_as_it_found_it(enabled: bool) -> None:
    data = json.dumps(portfolio_doc(2, 5)).encode()
    was = gc.isenabled()
    try:
        (gc.enable if enabled else gc.disable)()
        load_portfolio(data)
        assert gc.isenabled() is enabled
        with pytest.raises(PortfolioError):
            load_portfolio(data.replace(b'"linear"', b'"sideways"', 1))
        assert gc.isenabled() is enabled
    finally:
        (gc.enable if was else gc.disable)()


@pytest.mark.parametrize(("change", "message"), [
    # the second C7 of account acc-1, cross like the first
    (lambda ps: ps.append(dict(ps[7])), 'account "acc-1", position "C7/USDT:USDT" ({side}): appears twice as '
                                        "a cross position; merge the two entries"),
    # a hedge-mode leg of C8 beside its one-way position
    (lambda ps: ps.append(dict(ps[8], leg="long", side="long")),
     'account "acc-1", position "C8/USDT:USDT" (long leg): mixes a one-way ("both") position with '
     "hedge-mode legs of the same symbol"),
])
def test_a_position_clashing_with_another_is_named(change: Any, message: str) -> None:
    doc = portfolio_doc(3, 20)
    positions = doc["accounts"][1]["positions"]
    side = positions[7]["side"]
    change(positions)
    with pytest.raises(PortfolioError) as caught:
        load_portfolio(json.dumps(doc).encode())
    assert str(caught.value).startswith(message.format(side=side))


def test_hedge_legs_and_twins_of_one_symbol_are_not_a_clash() -> None:
    doc = portfolio_doc(2, 20)
    positions = doc["accounts"][0]["positions"]
    positions += [dict(positions[0], symbol="H/USDT:USDT", leg=leg, side=leg) for leg in ("long", "short")]
    twin = dict(positions[1], margin_mode="isolated" if positions[1]["margin_mode"] == "cross" else "cross")
    twin.pop("isolated_margin", None)
    if twin["margin_mode"] == "isolated":
        twin["isolated_margin"] = 100.0
    positions.append(twin)  # OKX: the same instrument held cross and isolated
    assert load_portfolio(json.dumps(doc).encode()) == expected_portfolio(doc)
