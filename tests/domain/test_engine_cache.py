"""The engine's cache of compiled accounts never serves stale data, and stays bounded.

Every figure computed through a warm cache is checked against the same portfolio computed with
the cache emptied first, and against the scalar oracle where a change must move the figures.
"""

from __future__ import annotations

import dataclasses
import math
import random

import numpy as np
import pytest

from desk.domain import engine
from desk.domain.engine import (
    DEFAULT_PLANS,
    PLAN_CACHE_SIZE,
    PlanCache,
    RiskArrays,
    clear_compiled_cache,
    compiled_cache_size,
    compute_arrays,
    compute_risk,
)
from desk.domain.model import Account, MarginMode, Portfolio, Side, Tier
from desk.domain.scalar import compute_risk_scalar
from tests.support.risk import BTCUSDT_TIERS, account, pos


def figures(arr: RiskArrays) -> dict[str, np.ndarray]:
    return {f.name: np.asarray(getattr(arr, f.name)) for f in dataclasses.fields(arr)}


def assert_same(a: RiskArrays, b: RiskArrays) -> None:
    fa, fb = figures(a), figures(b)
    for name in fa:
        np.testing.assert_array_equal(fa[name], fb[name], err_msg=name)


def assert_close(a: object, b: object, path: str = "report") -> None:
    """Engine vs scalar oracle: numbers within 1e-9 relative (summed in other orders), the rest equal."""
    if isinstance(a, float) and isinstance(b, float) and math.isfinite(a) and math.isfinite(b):
        assert math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9), (path, a, b)
    elif isinstance(a, tuple | list) and isinstance(b, tuple | list):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_close(x, y, f"{path}[{i}]")
    elif dataclasses.is_dataclass(a) and dataclasses.is_dataclass(b):
        assert type(a) is type(b), path
        for f in dataclasses.fields(a):
            assert_close(getattr(a, f.name), getattr(b, f.name), f"{path}.{f.name}")
    else:
        assert a == b, (path, a, b)


def agrees_with_oracle(portfolio: Portfolio) -> None:
    """The warm report equals a cold one exactly, and the scalar oracle's within rounding."""
    warm = compute_risk(portfolio)
    clear_compiled_cache()
    assert warm == compute_risk(portfolio)
    assert_close(warm, compute_risk_scalar(portfolio))


def cold(portfolio: Portfolio) -> RiskArrays:
    clear_compiled_cache()
    return compute_arrays(portfolio)


def book(venue: str = "binanceusdm", **wallets: float) -> Account:
    return account(
        venue,
        pos("BTC/USDT:USDT", contracts=2.0, entry=60_000, mark=59_000, tiers=BTCUSDT_TIERS, taker=0.0005),
        pos("ETH/USDT:USDT", contracts=30.0, entry=3_000, mark=3_050, side="short", tiers=BTCUSDT_TIERS),
        pos("SOL/USDT:USDT", contracts=500.0, entry=150, mark=140, mode="isolated", margin=9_000,
            tiers=BTCUSDT_TIERS),
        **(wallets or {"USDT": 40_000.0}),
    )


def replace_position(acc: Account, index: int, **changes: object) -> Account:
    positions = list(acc.positions)
    positions[index] = dataclasses.replace(positions[index], **changes)
    return dataclasses.replace(acc, positions=tuple(positions))


def tick(acc: Account, factor: float) -> Account:
    """New position objects with every mark moved, the rest untouched — what the monitor builds."""
    return dataclasses.replace(acc, positions=tuple(
        dataclasses.replace(p, mark_price=p.mark_price * factor) for p in acc.positions))


@pytest.fixture(autouse=True)
def empty_cache():
    clear_compiled_cache()
    yield
    clear_compiled_cache()


def test_the_same_objects_give_equal_figures_and_compile_once(monkeypatch):
    p = Portfolio((book(),))
    compiles = []
    real = engine._compile_accounts
    monkeypatch.setattr(engine, "_compile_accounts",
                        lambda accounts, statics: compiles.extend(accounts) or real(accounts, statics))
    first = compute_arrays(p)
    second = compute_arrays(p)
    assert len(compiles) == 1
    assert_same(first, second)
    assert compute_risk(p) == compute_risk(p)
    agrees_with_oracle(p)


def test_a_tick_reuses_the_plan_and_gives_the_new_marks_figures(monkeypatch):
    before = Portfolio((book(),))
    compute_arrays(before)
    after = Portfolio((tick(book(), 0.97),))
    compiles = []
    real = engine._compile_accounts
    monkeypatch.setattr(engine, "_compile_accounts",
                        lambda accounts, statics: compiles.extend(accounts) or real(accounts, statics))
    warm = compute_arrays(after)
    assert compiles == []  # served from the cache
    assert not np.array_equal(warm.unrealized_pnl, compute_arrays(before).unrealized_pnl)
    assert_same(warm, cold(after))
    agrees_with_oracle(after)


@pytest.mark.parametrize(("index", "changes"), [
    (0, {"entry_price": 61_000.0}),
    (0, {"contracts": 2.5}),
    (1, {"contract_size": 10.0}),
    (0, {"taker_fee": 0.001}),
    (1, {"side": "long"}),
    (0, {"margin_mode": "isolated", "isolated_margin": 20_000.0}),
    (2, {"isolated_margin": 4_000.0}),
    (2, {"margin_mode": "cross", "isolated_margin": None}),
    (0, {"tiers": (Tier(0, math.inf, 0.02, 0.0),)}),
    (0, {"tiers": tuple(dataclasses.replace(t, mmr=t.mmr * 2, maintenance_amount=None)
                        for t in BTCUSDT_TIERS)}),
    (1, {"symbol": "BTC/USDT:USDT"}),  # now a second leg of BTC: one group, one shared price
    (1, {"settle": "USDC", "symbol": "ETH/USDC:USDC"}),
])
@pytest.mark.parametrize("venue", ["binanceusdm", "okx", "bybit"])
def test_a_changed_static_field_gives_new_figures(venue, index, changes):
    enums = {"side": Side, "margin_mode": MarginMode}
    changes = {k: enums[k](v) if k in enums else v for k, v in changes.items()}
    acc = book(venue, USDT=40_000.0, USDC=5_000.0)
    before = Portfolio((acc,))
    first = compute_risk(before)
    changed = Portfolio((replace_position(acc, index, **changes),))
    warm = compute_arrays(changed)
    report = compute_risk(changed)
    if "taker_fee" not in changes or venue != "binanceusdm":  # Binance keeps no fee in MM (§1)
        assert report != first
    assert_same(warm, cold(changed))
    compute_arrays(before)  # the old plan back in the cache, then the change again
    agrees_with_oracle(changed)


def test_a_changed_wallet_gives_new_figures():
    first = compute_risk(Portfolio((book(USDT=40_000.0),)))
    richer = Portfolio((book(USDT=80_000.0),))
    report = compute_risk(richer)
    assert report.accounts[0].pools[0].wallet_balance == 80_000.0
    assert report != first
    agrees_with_oracle(richer)
    # a new settle currency in the wallets is a new pool
    two = Portfolio((book(USDT=40_000.0, USDC=1_000.0),))
    assert [pool.settle for pool in compute_risk(two).accounts[0].pools] == ["USDT", "USDC"]
    agrees_with_oracle(two)


def test_added_and_removed_positions_are_seen():
    acc = book()
    compute_arrays(Portfolio((acc,)))
    fewer = dataclasses.replace(acc, positions=acc.positions[:2])
    more = dataclasses.replace(acc, positions=(*acc.positions, pos("XRP/USDT:USDT", contracts=1e4, entry=0.5,
                                                                    tiers=BTCUSDT_TIERS)))
    for p in (Portfolio((fewer,)), Portfolio((more,)), Portfolio((acc,))):
        agrees_with_oracle(p)
        assert_same(compute_arrays(p), cold(p))


def test_equal_tier_tables_in_new_objects_reuse_the_plan(monkeypatch):
    acc = book()
    compute_arrays(Portfolio((acc,)))
    copied_tiers = tuple(dataclasses.replace(t) for t in BTCUSDT_TIERS)
    assert copied_tiers == BTCUSDT_TIERS and copied_tiers is not BTCUSDT_TIERS
    same = Portfolio((replace_position(acc, 0, tiers=copied_tiers),))
    compiles = []
    real = engine._compile_accounts
    monkeypatch.setattr(engine, "_compile_accounts",
                        lambda accounts, statics: compiles.extend(accounts) or real(accounts, statics))
    assert_same(compute_arrays(same), compute_arrays(Portfolio((acc,))))
    assert compiles == []


def test_accounts_sharing_a_name_in_different_portfolios_never_mix():
    # the same name and venue with different books, alternately (a what-if copy beside the live one)
    live = book()
    other = account("binanceusdm", pos("BTC/USDT:USDT", contracts=9.0, entry=50_000, mark=48_000,
                                       side="short", tiers=BTCUSDT_TIERS), USDT=100_000.0)
    reports = []
    for p in [Portfolio((live,)), Portfolio((other,)), Portfolio((live,)), Portfolio((other, live))]:
        reports.append(compute_risk(p))
        assert_close(reports[-1], compute_risk_scalar(p))
    assert reports[0] == reports[2] != reports[1]
    assert reports[3].accounts == (reports[1].accounts[0], reports[0].accounts[0])


def test_random_sequences_of_changes_match_a_cold_compile():
    rng = random.Random(5)
    accounts = [book() for _ in range(3)]
    accounts = [dataclasses.replace(a, name=f"acc-{i}") for i, a in enumerate(accounts)]
    fields: list[tuple[str, object]] = [
        ("mark_price", lambda p: p.mark_price * rng.uniform(0.9, 1.1)),
        ("entry_price", lambda p: p.entry_price * rng.uniform(0.9, 1.1)),
        ("contracts", lambda p: p.contracts * rng.uniform(0.5, 2.0)),
        ("taker_fee", lambda p: rng.choice([None, 0.0, 0.0004, 0.0006])),
    ]
    for _ in range(60):
        a = rng.randrange(len(accounts))
        k = rng.randrange(len(accounts[a].positions))
        name, new = rng.choice(fields)
        accounts[a] = replace_position(accounts[a], k, **{name: new(accounts[a].positions[k])})
        p = Portfolio(tuple(accounts))
        warm = compute_arrays(p)
        assert_same(warm, cold(p))
        compute_arrays(p)  # warm the cache again for the next change


def test_the_cache_is_bounded():
    one = pos("BTC/USDT:USDT", contracts=1.0, entry=60_000, tiers=BTCUSDT_TIERS)
    for i in range(PLAN_CACHE_SIZE + 20):
        compute_arrays(Portfolio((account("okx", one, name=f"acc-{i}", USDT=1_000.0),)))
        assert compiled_cache_size() <= PLAN_CACHE_SIZE
    assert compiled_cache_size() == PLAN_CACHE_SIZE
    # the most recently used survive, the oldest went first
    assert DEFAULT_PLANS.holds(f"acc-{PLAN_CACHE_SIZE + 19}", "okx")
    assert not DEFAULT_PLANS.holds("acc-0", "okx")


def test_the_empty_portfolio_and_an_account_without_positions():
    empty = Portfolio(())
    arr = compute_arrays(empty)
    assert arr.notional.shape == (0,) and arr.unit_ratio.shape == (0,)
    wallet_only = Portfolio((Account("w", "bybit", {"USDT": 10.0}),))
    report = compute_risk(wallet_only)
    agrees_with_oracle(wallet_only)
    assert [pool.settle for pool in report.accounts[0].pools] == ["USDT"]


def test_threads_sharing_the_cache_always_get_their_own_figures():
    from concurrent.futures import ThreadPoolExecutor

    live = book()
    other = dataclasses.replace(replace_position(live, 0, contracts=7.0), wallets={"USDT": 90_000.0})
    books = [Portfolio((live,)), Portfolio((other,)), Portfolio((tick(live, 1.02),))]
    expected = [cold(p) for p in books]
    clear_compiled_cache()

    def run(worker: int) -> int:
        checked = 0
        for i in range(150):
            k = (worker + i) % len(books)
            assert_same(compute_arrays(books[k]), expected[k])
            checked += 1
        return checked

    with ThreadPoolExecutor(4) as pool:
        assert sum(pool.map(run, range(4), timeout=60)) == 600


def test_a_what_if_compile_of_an_edited_account_leaves_the_live_callers_plan_in_place():
    live_plans, what_if_plans = PlanCache(), PlanCache()
    live = book()
    edited = dataclasses.replace(replace_position(live, 0, contracts=7.0), wallets={"USDT": 90_000.0})
    compute_risk(Portfolio((live,)), plans=live_plans)
    plan = live_plans.peek(live.name, live.venue)
    assert plan is not None and (live_plans.hits, live_plans.compiles) == (0, 1)

    what_if = compute_risk(Portfolio((edited,)), plans=what_if_plans)
    assert live_plans.peek(live.name, live.venue) is plan  # neither evicted nor replaced
    assert what_if_plans.peek(edited.name, edited.venue) not in (None, plan)
    assert (live_plans.hits, live_plans.compiles) == (0, 1)
    # the live caller's next tick is served from its plan, and the what-if's figures are the edit's
    live_report = compute_risk(Portfolio((tick(live, 1.01),)), plans=live_plans)
    assert (live_plans.hits, live_plans.compiles) == (1, 1)
    assert live_plans.peek(live.name, live.venue) is plan
    clear_compiled_cache()
    assert what_if == compute_risk(Portfolio((edited,)))
    assert live_report == compute_risk(Portfolio((tick(live, 1.01),)))


def test_one_cache_shared_by_the_live_and_the_what_if_caller_loses_the_live_plan():
    # why each caller holds its own: the edit replaces the plan under the same (name, venue)
    shared = PlanCache()
    live = book()
    compute_arrays(Portfolio((live,)), plans=shared)
    plan = shared.peek(live.name, live.venue)
    compute_arrays(Portfolio((replace_position(live, 0, contracts=7.0),)), plans=shared)
    assert shared.peek(live.name, live.venue) is not plan
    compute_arrays(Portfolio((tick(live, 1.01),)), plans=shared)
    assert (shared.hits, shared.compiles) == (0, 3)


def test_the_what_if_probe_and_the_funding_drift_compile_apart_from_the_shared_plans():
    from desk.domain.funding import funding_drift
    from desk.domain.whatif import MarkProbe

    live = book()
    compute_arrays(Portfolio((live,)))
    plan = DEFAULT_PLANS.peek(live.name, live.venue)
    hits, compiles = DEFAULT_PLANS.hits, DEFAULT_PLANS.compiles
    own = PlanCache()
    edited = replace_position(live, 0, contracts=7.0)
    probe = MarkProbe(edited, "BTC/USDT:USDT", plans=own)
    assert probe.at(58_000.0).liquidation_price is not None
    assert own.peek(edited.name, edited.venue) is not None
    drift = funding_drift(live, "BTC/USDT:USDT", "both", 0.001)  # the account with less margin
    assert drift.liquidation_after and drift.liquidation_after[0][1] is not None
    assert DEFAULT_PLANS.peek(live.name, live.venue) is plan
    assert (DEFAULT_PLANS.hits, DEFAULT_PLANS.compiles) == (hits, compiles)


def mixed_accounts() -> list[Account]:
    """Accounts the batch compile must keep apart: isolated and cross legs of one symbol, hedge legs,
    inverse longs and shorts, a settle with no wallet, a wallet with no position, an empty account."""
    inverse_tiers = (Tier(0, 50, 0.005, 0.0), Tier(50, 250, 0.01, None), Tier(250, math.inf, 0.02, None))
    return [
        account(
            "binanceusdm",
            pos("BTC/USDT:USDT", contracts=2.0, entry=60_000, mark=59_000, tiers=BTCUSDT_TIERS, taker=0.0005),
            pos("BTC/USDT:USDT", contracts=1.0, entry=58_000, mark=59_000, mode="isolated", margin=8_000,
                tiers=BTCUSDT_TIERS),
            pos("ETH/USDT:USDT", contracts=30.0, entry=3_000, mark=3_050, leg="long", tiers=BTCUSDT_TIERS),
            pos("ETH/USDT:USDT", contracts=10.0, entry=3_100, mark=3_050, side="short", leg="short",
                tiers=BTCUSDT_TIERS),
            pos("SOL/USDC:USDC", contracts=400.0, entry=150, mark=140, tiers=BTCUSDT_TIERS),
            name="one", USDT=40_000.0, BTC=0.5),
        account(
            "bybit",
            *(pos(f"C{k}/USDT:USDT", contracts=100.0 + k, entry=10.0 + k, mark=10.5 + k,
                  side="short" if k % 3 else "long", mode="isolated", margin=None if k == 4 else 150.0 + k,
                  tiers=BTCUSDT_TIERS, taker=0.00055) for k in range(12)),
            name="two", USDT=0.0),
        account(
            "binancecoinm",
            pos("BTC/USD:BTC", contracts=500.0, contract_size=100, entry=60_000, mark=61_000, side="short",
                mode="isolated", margin=0.2, tiers=inverse_tiers),
            pos("ETH/USD:ETH", contracts=900.0, contract_size=10, entry=3_000, mark=2_950, mode="isolated",
                margin=0.9, tiers=inverse_tiers),
            pos("BTC/USD:BTC", contracts=300.0, contract_size=100, entry=59_000, mark=61_000,
                tiers=inverse_tiers),
            name="three", BTC=1.5, ETH=0.0),
        Account("four", "okx", {"USDT": 500.0}),
        Account("five", "hyperliquid"),
    ]


def test_accounts_compiled_together_give_the_figures_of_each_compiled_alone():
    accounts = mixed_accounts()
    together = Portfolio(tuple(accounts))
    before = DEFAULT_PLANS.compiles
    batch = cold(together)
    assert DEFAULT_PLANS.compiles - before == len(accounts)
    clear_compiled_cache()
    for acc in accounts:  # each account in a batch of its own, then the portfolio from those plans
        compute_arrays(Portfolio((acc,)))
    compiles = DEFAULT_PLANS.compiles
    assert_same(compute_arrays(together), batch)
    assert DEFAULT_PLANS.compiles == compiles
    assert_same(compute_arrays(Portfolio(tuple(reversed(accounts)))),
                cold(Portfolio(tuple(reversed(accounts)))))
    agrees_with_oracle(together)


def test_only_the_changed_accounts_of_a_portfolio_are_compiled_again(monkeypatch):
    accounts = mixed_accounts()
    compute_arrays(Portfolio(tuple(accounts)))
    accounts[1] = replace_position(accounts[1], 3, contracts=250.0)
    accounts[2] = dataclasses.replace(accounts[2], wallets={"BTC": 1.0})
    compiles: list[Account] = []
    real = engine._compile_accounts
    monkeypatch.setattr(engine, "_compile_accounts",
                        lambda batch, statics: compiles.extend(batch) or real(batch, statics))
    changed = Portfolio(tuple(tick(a, 1.01) for a in accounts))
    assert_same(compute_arrays(changed), cold(changed))
    assert [a.name for a in compiles[:2]] == ["two", "three"]
    agrees_with_oracle(changed)


def test_an_all_isolated_book_agrees_with_the_oracle():
    rng = random.Random(11)
    inverse_tiers = (Tier(0, 50, 0.005, 0.0), Tier(50, 250, 0.01, None), Tier(250, math.inf, 0.02, None))
    accounts = []
    for a in range(4):
        positions = []
        for k in range(40):
            entry = rng.uniform(100, 60_000)
            if k % 4 == 3:  # inverse, long and short (the short ones take the segment-by-segment path)
                p = pos(f"C{k % 7}/USD:C{k % 7}", contracts=float(rng.randint(10, 900)), contract_size=100,
                        entry=entry, mark=entry * rng.uniform(0.9, 1.1), mode="isolated",
                        side=rng.choice(["long", "short"]), margin=rng.uniform(0.01, 0.5),
                        tiers=inverse_tiers)
            else:
                contracts = rng.uniform(1_000, 400_000) / entry
                p = pos(f"C{k % 9}/USDT:USDT", contracts=contracts, entry=entry,
                        mark=entry * rng.uniform(0.9, 1.1), mode="isolated",
                        side=rng.choice(["long", "short"]),
                        margin=rng.choice([None, contracts * entry / rng.uniform(2, 30)]),
                        tiers=BTCUSDT_TIERS, taker=rng.choice([None, 0.0005]))
            positions.append(p)
        accounts.append(account(("binanceusdm", "bybit", "okx", "gate")[a], *positions, name=f"iso-{a}",
                                USDT=rng.choice([0.0, 10_000.0])))
    book_ = Portfolio(tuple(accounts))
    arr = cold(book_)
    assert int(np.count_nonzero(arr.unit_isolated)) == 160  # a unit per position
    agrees_with_oracle(book_)


def test_one_account_twice_in_a_portfolio_is_compiled_in_order():
    # the same (name, venue) with two books in one portfolio: each sees the plan the one before left
    first = book()
    second = replace_position(first, 0, contracts=7.0)
    plans = PlanCache()
    twice = Portfolio((first, second))
    arr = compute_arrays(twice, plans=plans)
    assert (plans.hits, plans.compiles) == (0, 2)
    assert_same(arr, compute_arrays(twice, plans=PlanCache()))
    compute_arrays(Portfolio((first, first)), plans=plans)
    assert (plans.hits, plans.compiles) == (1, 3)
    assert_same(compute_arrays(Portfolio((second,))), compute_arrays(Portfolio((second,)), plans=plans))


def test_the_nearest_shock_of_each_account_is_the_first_unit_of_the_smallest_size():
    rng = random.Random(3)
    for _ in range(200):
        n_accounts = rng.randint(1, 6)
        unit_account = np.sort(np.array([rng.randrange(n_accounts) for _ in range(rng.randint(1, 30))]))
        # sizes from a few values, so ties (+0.1 beside −0.1, 0.0 beside −0.0) and nan are frequent
        unit_shock = np.array([rng.choice([np.nan, 0.1, -0.1, 0.25, -0.5, 0.0, -0.0]) for _ in unit_account])
        got = engine._nearest_per_account(unit_shock, unit_account, n_accounts)
        for a in range(n_accounts):
            units = [u for u in range(len(unit_account)) if unit_account[u] == a]
            finite = [u for u in units if not math.isnan(unit_shock[u])]
            if not finite:
                assert math.isnan(got[a])
                continue
            best = min(finite, key=lambda u: (abs(unit_shock[u]), u))
            assert got[a] == unit_shock[best]
            assert math.copysign(1, got[a]) == math.copysign(1, unit_shock[best])


def test_the_same_account_object_again_is_served_its_plan_without_comparing_its_fields(monkeypatch):
    # the report and then the book compile one portfolio twice: the second time, the very account
    # objects of the first need no static key; an equal copy still does, and an edit compiles afresh
    live = book()
    edited = replace_position(live, 0, contracts=7.0)
    want_live = compute_arrays(Portfolio((live,)), plans=PlanCache())
    want_edited = compute_arrays(Portfolio((edited,)), plans=PlanCache())
    plans = PlanCache()
    compute_arrays(Portfolio((live,)), plans=plans)
    plan = plans.peek(live.name, live.venue)
    real_key, keyed = engine._static_key, []

    def counting(account: Account) -> tuple[object, ...]:
        keyed.append(account)
        return real_key(account)

    monkeypatch.setattr(engine, "_static_key", counting)
    assert_same(compute_arrays(Portfolio((live,)), plans=plans), want_live)
    assert keyed == [] and (plans.hits, plans.compiles) == (1, 1)
    assert plans.peek(live.name, live.venue) is plan
    copy = dataclasses.replace(live)
    assert_same(compute_arrays(Portfolio((copy,)), plans=plans), want_live)
    assert keyed == [copy] and (plans.hits, plans.compiles) == (2, 1)
    assert_same(compute_arrays(Portfolio((edited,)), plans=plans), want_edited)
    assert keyed == [copy, edited] and plans.compiles == 2
    # the first object again, after the edit replaced its plan: compared, and compiled afresh — never
    # served the edit's plan
    assert_same(compute_arrays(Portfolio((live,)), plans=plans), want_live)
    assert keyed == [copy, edited, live] and plans.compiles == 3
