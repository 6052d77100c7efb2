"""The engine's vectorised shock of a unit holding one position (an isolated short inverse leg, a
table whose maintenance amounts jump) is position_math.unit_shock_to_liquidation's, bit for bit.

These units used to go to position_math one by one; an all-isolated book of them made the engine
hardly faster than the scalar oracle. The vectorised walk repeats the scalar one operation for
operation, so the figures must be equal, not merely close."""

from __future__ import annotations

import dataclasses
import math
import random

import numpy as np

from desk.domain import engine
from desk.domain.engine import compile_portfolio, compute_arrays, with_marks
from desk.domain.model import Account, Kind, Portfolio, Position, Side, Tier
from desk.domain.position_math import unit_shock_to_liquidation
from tests.support.risk import BTCUSDT_TIERS, pos

VENUES = ("binanceusdm", "binancecoinm", "bybit", "okx", "gate", "hyperliquid", "somevenue")
INVERSE_TIERS = (Tier(0, 50, 0.005, 0.0), Tier(50, 250, 0.01, None), Tier(250, 1_000, 0.02, None),
                 Tier(1_000, math.inf, 0.05, None))
# maintenance amounts that jump at a floor (not continuous): the slack may cross zero and recover
JUMPING_TIERS = (Tier(0, 40, 0.01, 0.0), Tier(40, 200, 0.02, 1.5), Tier(200, math.inf, 0.015, -2.0))
JUMPING_LINEAR = (Tier(0, 50_000, 0.01, 0.0), Tier(50_000, 250_000, 0.02, 900.0),
                  Tier(250_000, math.inf, 0.015, -4_000.0))


def single(rng: random.Random, squeeze: float) -> Position:
    entry = rng.uniform(20, 70_000)
    mark = entry * rng.uniform(0.8, 1.2)
    side = rng.choice(["long", "short"])
    taker = rng.choice([None, 0.0, 0.0005])
    if rng.random() < 0.6:  # inverse: value in coin, N × CS / P
        contracts = float(rng.randint(1, 20_000))
        value = contracts * 100 / entry
        return pos("BTC/USD:BTC", contracts=contracts, contract_size=100, entry=entry, mark=mark, side=side,
                   mode="isolated", margin=value / rng.uniform(1.5, 50) * squeeze, taker=taker,
                   tiers=rng.choice([INVERSE_TIERS, JUMPING_TIERS, INVERSE_TIERS[:1]]))
    contracts = rng.uniform(500, 3_000_000) / entry
    return pos("BTC/USDT:USDT", contracts=contracts, entry=entry, mark=mark, side=side, mode="isolated",
               margin=contracts * entry / rng.uniform(1.5, 50) * squeeze, taker=taker,
               tiers=rng.choice([BTCUSDT_TIERS, JUMPING_LINEAR]))


def books(seed: int, accounts: int = 6, per_account: int = 40) -> Portfolio:
    rng = random.Random(seed)
    return Portfolio(tuple(
        Account(f"iso-{a}", VENUES[a % len(VENUES)], {},
                tuple(single(rng, rng.choice([1.0, 0.3, 0.05])) for _ in range(per_account)))
        for a in range(accounts)))


def same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a) == math.copysign(1, b))


def scalar_shock(f: engine.CompiledPortfolio, u: int) -> float:
    value = unit_shock_to_liquidation(engine._unit_at_marks(f, u), f.unit_rules[u])
    return math.nan if value is None else value


def test_every_single_position_unit_walks_to_the_scalar_shock_bit_for_bit():
    finite = 0
    for seed in range(12):
        f = compile_portfolio(books(seed))
        m = engine._at_marks(f)
        units = np.flatnonzero(m.unit_equity - m.unit_maintenance > 0)  # the walk's units: not yet liquidated
        got = engine._single_position_shocks(f, units)
        for u, value in zip(units.tolist(), got.tolist(), strict=True):
            want = scalar_shock(f, u)
            assert same(value, want), (seed, u, value, want, f.positions[int(f.unit_start[u])])
            finite += math.isfinite(want)
    assert finite > 1_000  # most within ±99 %: the roots, not only "none", were compared


def test_an_all_isolated_book_of_short_inverse_legs_gets_the_scalar_shocks():
    rng = random.Random(4)
    shorts = []
    while len(shorts) < 60:
        p = single(rng, rng.choice([1.0, 0.3]))
        if p.kind is Kind.INVERSE:  # short inverse legs: the units Newton's method leaves to the walk
            shorts.append(dataclasses.replace(p, side=Side.SHORT))
    book = Portfolio((Account("coin-m", "binancecoinm", {}, tuple(shorts)),))
    compiled = compile_portfolio(book)
    for f in (compiled, with_marks(compiled, compiled.mark * 1.03)):  # at the compiled marks and moved ones
        arr = compute_arrays(f)
        assert np.isfinite(arr.unit_shock).sum() > 30
        for u in range(f.n_units):
            assert same(float(arr.unit_shock[u]), scalar_shock(f, u)), u


def test_near_a_floor_where_the_maintenance_jumps_the_nearer_direction_wins():
    # longs sized just under the 250,000 floor above which MM jumps up, with a thin margin over MM:
    # liquidated both downwards (a small fall) and upwards (at the floor), the nearer must win
    rng = random.Random(1)
    legs = []
    for _ in range(300):
        entry = rng.uniform(1_000, 70_000)
        notional = rng.uniform(240_000, 250_000)
        legs.append(pos("BTC/USDT:USDT", contracts=notional / entry, entry=entry,
                        mark=entry * rng.uniform(0.999, 1.001), mode="isolated",
                        margin=notional * 0.02 - 900 + rng.uniform(100, 3_000),
                        tiers=JUMPING_LINEAR, taker=rng.choice([None, 0.0005])))
    f = compile_portfolio(Portfolio(tuple(Account(f"a{v}", venue, {}, tuple(legs[v::3]))
                                          for v, venue in enumerate(("binanceusdm", "okx", "gate")))))
    m = engine._at_marks(f)
    units = np.flatnonzero(m.unit_equity - m.unit_maintenance > 0)
    got = engine._single_position_shocks(f, units)
    for u, value in zip(units.tolist(), got.tolist(), strict=True):
        assert same(value, scalar_shock(f, u)), u
    assert (got > 0).sum() > 10 and (got < 0).sum() > 10  # upwards (the jump) and downwards both won


def test_a_pool_of_several_positions_still_gets_the_scalar_walk():
    # a coin-margined pool with hedge legs (a short inverse leg among them): not one position, so
    # position_math walks it, unit by unit
    legs = (pos("BTC/USD:BTC", contracts=4_000.0, contract_size=100, entry=60_000, mark=61_000, side="short",
                leg="short", tiers=INVERSE_TIERS),
            pos("BTC/USD:BTC", contracts=1_500.0, contract_size=100, entry=58_000, mark=61_000, leg="long",
                tiers=INVERSE_TIERS),
            pos("ETH/USD:BTC", contracts=900.0, contract_size=10, entry=3_000, mark=2_950, side="short",
                kind="inverse", tiers=JUMPING_TIERS))
    f = compile_portfolio(Portfolio((Account("pool", "binancecoinm", {"BTC": 2.0}, legs),)))
    arr = compute_arrays(f)
    assert f.n_units == 1 and math.isfinite(arr.unit_shock[0])
    assert same(float(arr.unit_shock[0]), scalar_shock(f, 0))
