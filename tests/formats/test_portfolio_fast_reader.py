"""The fast reader (msgspec straight into structs, tier tables shared) reads every file to the same
portfolio as the careful path, or leaves it to the careful path, which names what is wrong.

The careful path (`_load_careful`) is the reader every file went through before; the engine's figures
on a generated multi-account file are checked position by position against the scalar oracle.
"""

from __future__ import annotations

import copy
import json
import math
import random
from pathlib import Path
from typing import Any

import pytest

from desk.domain.engine import clear_compiled_cache, compute_risk
from desk.domain.scalar import compute_risk_scalar
from desk.formats import PortfolioError, dump_portfolio, load_portfolio
from desk.formats.portfolio import _load_careful, _load_fast

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "docs/examples").glob("*.json"))
VENUES = ("binanceusdm", "bybit", "okx", "gate", "hyperliquid", "krakenfutures")


def table(k: int, with_amounts: bool) -> list[dict[str, Any]]:
    """Symbol ``k``'s own tiers; maintenance amounts by the §0 recurrence, or left out (derived)."""
    floors = [0.0, 10_000.0 * (1 + k), 100_000.0 * (1 + k), 1_000_000.0 * (1 + k)]
    rates = [0.01 + k * 1e-4, 0.02, 0.05, 0.1]
    out, cum = [], 0.0
    for i, floor in enumerate(floors):
        if i:
            cum += floor * (rates[i] - rates[i - 1])
        tier: dict[str, Any] = {"notional_floor": floor, "mmr": rates[i], "max_leverage": 1 / (2 * rates[i])}
        if with_amounts:
            tier["maintenance_amount"] = cum
        if i < len(floors) - 1:
            tier["notional_cap"] = floors[i + 1]
        out.append(tier)
    return out


def generated(accounts: int = 6, per_account: int = 24, seed: int = 5) -> dict[str, Any]:
    """Several accounts holding the same symbols (each symbol its own tier table), linear and inverse,
    cross and isolated, hedge-mode legs, a single ``mmr``, fields given at their defaults, reported
    figures, orders and spot balances."""
    rng = random.Random(seed)
    tables = [table(k, with_amounts=k % 2 == 0) for k in range(per_account)]
    docs = []
    for a in range(accounts):
        positions: list[dict[str, Any]] = []
        for k in range(per_account):
            inverse = k % 7 == 3
            entry = rng.uniform(1, 50_000)
            p: dict[str, Any] = {
                "symbol": f"C{k}/USD:C{k}" if inverse else f"C{k}/USDT:USDT",
                "kind": "inverse" if inverse else "linear",
                "contracts": rng.uniform(1, 2_000) if inverse else rng.uniform(100, 40_000) / entry,
                "side": "long" if rng.random() < 0.5 else "short",
                "entry_price": entry, "mark_price": entry * rng.uniform(0.93, 1.07),
                "margin_mode": "isolated" if k % 3 == 0 else "cross", "taker_fee": 0.0005,
            }
            if inverse:
                p["contract_size"] = 10
            if k % 5 == 1:
                p["leg"], p["contract_size"] = "both", 1  # given at their defaults
            if p["margin_mode"] == "isolated":
                p["isolated_margin"] = rng.uniform(50, 5_000) / (entry if inverse else 1)
            if k % 11 == 4:
                p["mmr"], p["maintenance_amount"] = 0.02, 0.0
            else:
                p["tiers"] = tables[k]
            if k % 4 == 2:
                p["reported"] = {"liquidation_price": entry * 0.8, "margin_ratio": None}
            positions.append(p)
        # hedge mode: both legs of one symbol in one cross pool
        hedge = {"kind": "linear", "entry_price": 2_000.0, "mark_price": 2_050.0, "margin_mode": "cross",
                 "symbol": "H/USDT:USDT", "tiers": tables[0]}
        positions += [dict(hedge, side="long", leg="long", contracts=3.0),
                      dict(hedge, side="short", leg="short", contracts=1.5)]
        docs.append({
            "name": f"acc:{a}", "venue": VENUES[a % len(VENUES)],
            "wallets": {"USDT": rng.uniform(1e4, 1e6), **{f"C{k}": 50.0 for k in range(3, per_account, 7)}},
            "positions": positions,
            "orders": [{"symbol": "C1/USDT:USDT", "kind": "stop", "side": "sell", "trigger_price": 1.0}],
            "spot": [{"asset": "C2", "amount": 1.5, "price": 10.0}],
        })
    return {"format": "desk.portfolio/1", "as_of": "2026-11-21T10:00:00Z", "accounts": docs}


def both_ways(data: bytes) -> Any:
    fast = _load_fast(data)
    assert fast is not None, "the fast reader left a plainly valid file to the careful path"
    assert fast == _load_careful(data, "the portfolio")
    return fast


def test_a_generated_multi_account_file_reads_the_same_by_both_paths() -> None:
    data = json.dumps(generated(), indent=2).encode()
    portfolio = both_ways(data)
    assert len(portfolio.accounts) == 6 and len(portfolio.accounts[0].positions) == 26
    assert load_portfolio(data) == portfolio
    # compact, and written back by desk itself
    both_ways(json.dumps(generated()).encode())
    both_ways(dump_portfolio(portfolio))


def test_a_tier_table_repeated_across_accounts_is_one_object() -> None:
    doc = generated()
    # the same table written differently (keys in another order) is the same table by value
    doc["accounts"][1]["positions"][2]["tiers"] = [dict(reversed(t.items()))
                                                   for t in doc["accounts"][1]["positions"][2]["tiers"]]
    portfolio = both_ways(json.dumps(doc).encode())
    first = [p.tiers for p in portfolio.accounts[0].positions]
    for account in portfolio.accounts[1:]:
        for mine, theirs in zip(first, (p.tiers for p in account.positions), strict=True):
            assert mine is theirs
    distinct = {id(p.tiers) for a in portfolio.accounts for p in a.positions}
    assert len(distinct) == len({p.tiers for a in portfolio.accounts for p in a.positions})


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_every_example_file_reads_the_same_by_both_paths(example: Path) -> None:
    both_ways(example.read_bytes())


def test_an_old_file_with_every_optional_field_left_out_still_loads() -> None:
    old = {"format": "desk.portfolio/1", "accounts": [{"name": "a", "venue": "binanceusdm",
           "wallets": {"USDT": 1000}, "positions": [
               {"symbol": "BTC/USDT:USDT", "kind": "linear", "contracts": 0.1, "side": "long",
                "entry_price": 60000, "margin_mode": "cross", "mmr": 0.004}]}]}
    portfolio = both_ways(json.dumps(old).encode())
    p = portfolio.accounts[0].positions[0]
    assert (p.settle, p.mark_price, p.leg.value, p.contract_size, portfolio.accounts[0].orders) == \
        ("USDT", 60000, "both", 1.0, None)


def test_escapes_and_spaces_before_colons_read_the_same() -> None:
    text = json.dumps(generated(2, 6), indent=2, separators=(",", " : "))
    text = text.replace('"C1/USDT:USDT"', '"C\\u0031/USDT:USDT"')
    portfolio = load_portfolio(text.encode())
    assert portfolio == _load_careful(json.dumps(generated(2, 6)).encode(), "the portfolio")


@pytest.mark.parametrize(("where", "key"), [
    (lambda d: d["accounts"][3]["positions"][5], "contracts"),
    (lambda d: d["accounts"][3]["positions"][5]["tiers"][1], "mmr"),
    (lambda d: d["accounts"][3]["positions"][6]["reported"], "liquidation_price"),
    (lambda d: d["accounts"][3]["wallets"], "USDT"),
    (lambda d: d["accounts"][3]["orders"][0], "trigger_price"),
    (lambda d: d["accounts"][3], "venue"),
])
def test_a_key_given_twice_anywhere_is_named_not_silently_the_last(where: Any, key: str) -> None:
    doc = copy.deepcopy(generated())
    target = where(doc)
    marker = "__twice__"
    target[marker] = target[key]
    text = json.dumps(doc, indent=1).replace(f'"{marker}"', f'"{key}"')
    assert _load_fast(text.encode()) is None
    with pytest.raises(PortfolioError, match=f'the key "{key}" appears twice'):
        load_portfolio(text.encode())


def test_an_error_in_a_shared_tier_table_names_the_first_position_holding_it() -> None:
    doc = generated()
    bad = doc["accounts"][0]["positions"][2]["tiers"]
    bad[2]["mmr"] = 0.001  # below the tier before it
    data = json.dumps(doc).encode()
    with pytest.raises(PortfolioError, match=r'account "acc:0", position "C2/USDT:USDT" \((long|short)\): '
                                             r"tiers out of order"):
        load_portfolio(data)


def close(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    if math.isinf(a) or math.isinf(b):
        return a == b
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)


def test_the_engine_on_a_generated_file_equals_the_scalar_oracle_position_by_position() -> None:
    portfolio = load_portfolio(json.dumps(generated()).encode())
    clear_compiled_cache()
    fast, slow = compute_risk(portfolio), compute_risk_scalar(portfolio)
    compared = 0
    for a, b in zip(fast.accounts, slow.accounts, strict=True):
        assert close(a.shock_to_liquidation, b.shock_to_liquidation), (a.name, a.shock_to_liquidation,
                                                                       b.shock_to_liquidation)
        for x, y in zip(a.positions, b.positions, strict=True):
            for name in ("notional", "unrealized_pnl", "maintenance_margin", "margin_ratio",
                         "liquidation_price", "bankruptcy_price", "distance_to_liquidation"):
                assert close(getattr(x, name), getattr(y, name)), (a.name, x.symbol, name, getattr(x, name),
                                                                   getattr(y, name))
            compared += 1
    assert compared == 6 * 26


def test_a_deeply_nested_file_read_from_a_deep_stack_gets_the_depth_error_not_a_traceback():
    """msgspec gives up on deep nesting with RecursionError, at a depth that depends on how deep the
    caller's stack already is (the fuzz test met it once in a whole-suite run): the fast reader hands
    the file to the careful path, which names the depth the file may have."""
    import inspect
    import sys

    data = (b'{"format": "desk.portfolio/1", "accounts": [{"name": "a", "venue": "binanceusdm", '
            b'"wallets": ' + b"[" * 3000 + b"]" * 3000 + b"}]}")
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(len(inspect.stack()) + 400)  # a caller already deep in its stack
    try:
        fast = _load_fast(data)
        with pytest.raises(PortfolioError) as caught:
            load_portfolio(data)
    finally:
        sys.setrecursionlimit(limit)
    assert fast is None
    assert "nested more than 64 levels deep" in str(caught.value)
