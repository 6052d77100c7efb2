"""Tier tables resolved and checked all at once as arrays (desk.domain.tier_tables.resolve_tables, the plain
check of desk.domain.limits, the engine's table block) against the one-table-at-a-time code they
stand for: the same numbers bit for bit, and never a table accepted that check_tiers refuses."""

from __future__ import annotations

import dataclasses
import itertools
import math
import random

import numpy as np
import pytest

from desk.domain import engine, limits
from desk.domain.limits import InputError, check_portfolio, check_position, check_tiers
from desk.domain.model import Tier
from desk.domain.rules import ResolvedTier, resolve_tiers
from desk.domain.tier_tables import ResolvedTables, resolve_tables, tier_arrays
from tests.support.risk import account, portfolio, pos

# resolve_tiers itself, without its cache (which takes a table with a -0.0 for an equal one with 0.0)
_resolve_one = resolve_tiers.__wrapped__


def _bits(values: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(values, dtype=np.float64).view(np.uint64)


def _venue_table(rng: random.Random) -> tuple[Tier, ...]:
    """A table as venues publish them: floors and rates rising, maintenance amounts by §0 (given,
    rounded, or omitted), max leverage 1 / (2 × rate) or omitted."""
    n = rng.randint(2, 9)
    floors = [0.0, *sorted(rng.uniform(1e3, 1e9) for _ in range(n - 1))]
    rates = sorted(rng.uniform(0.001, 0.2) for _ in range(n))
    amounts = rng.choice(["given", "rounded", "omitted", "mixed"])
    leverages = rng.choice(["given", "omitted", "mixed"])
    tiers, cum = [], 0.0
    for i in range(n):
        if i:
            cum += floors[i] * (rates[i] - rates[i - 1])
        amount = {"given": cum, "rounded": round(cum, 2), "omitted": None}.get(
            amounts, rng.choice([cum, None]))
        leverage = {"given": 1 / (2 * rates[i]), "omitted": None}.get(
            leverages, rng.choice([float(round(1 / (2 * rates[i]))), None]))
        cap = floors[i + 1] if i + 1 < n else math.inf
        tiers.append(Tier(floors[i], cap, rates[i], amount, leverage))
    return tuple(tiers)


_FIELDS = ("notional_floor", "notional_cap", "mmr", "maintenance_amount", "max_leverage")
_EDGES = (0.0, -0.0, 1.0, 1e30, math.nextafter(1e30, math.inf), 0.01, math.nextafter(0.01, 0.0),
          10_000.0, math.nextafter(10_000.0, math.inf), math.nextafter(1.0, 2.0), -1e-300, math.inf,
          -math.inf, math.nan)


def _mutated(table: tuple[Tier, ...], rng: random.Random) -> tuple[Tier, ...]:
    """The table with a number or two changed: near a bound, near the rounding slack of the §0 checks,
    to an edge value, or omitted; or two tiers swapped."""
    tiers = list(table)
    for _ in range(rng.randint(1, 2)):
        i = rng.randrange(len(tiers))
        if rng.random() < 0.08 and len(tiers) > 1:
            j = rng.randrange(len(tiers))
            tiers[i], tiers[j] = tiers[j], tiers[i]
            continue
        name = rng.choice(_FIELDS)
        value = getattr(tiers[i], name)
        base = 0.0 if value is None or not math.isfinite(value) else value
        if name == "maintenance_amount" and rng.random() < 0.5:
            # around where the §0 checks' slack (max(0.01, 1e-6 × |amount|)) starts to refuse
            slack = max(0.01, 1e-6 * abs(base))
            new = base + rng.choice([-1, 1]) * slack * rng.choice([0.5, 0.999999, 1.0, 1.000001, 2.0, 1e3])
        else:
            new = rng.choice([
                base * (1 + rng.choice([-1, 1]) * rng.choice([1e-12, 1e-6, 1e-3, 0.5, 10.0])),
                rng.choice(_EDGES), None if name in ("maintenance_amount", "max_leverage") else base,
                -base, base + rng.choice([-0.01, 0.01])])
        tiers[i] = dataclasses.replace(tiers[i], **{name: new})
    return tuple(tiers)


def _tables(seed: int, count: int) -> list[tuple[Tier, ...]]:
    rng = random.Random(seed)
    return [_mutated(t, rng) if rng.random() < 0.8 else t for t in (_venue_table(rng) for _ in range(count))]


def _passes(tiers: tuple[Tier, ...], mmr_from_max_leverage: bool) -> bool:
    try:
        check_tiers(tiers, 0.0, mmr_from_max_leverage=mmr_from_max_leverage)
    except InputError:
        return False
    return True


def _odd_cap(tiers: tuple[Tier, ...]) -> bool:
    """A cap the plain check refuses and check_tiers lets by (it checks no cap that is not finite)."""
    return any(math.isnan(t.notional_cap) or t.notional_cap == -math.inf for t in tiers)


# ---------------------------------------------------------------------------- resolving


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("mmr_from_max_leverage", [False, True])
def test_resolve_tables_is_resolve_tiers_bit_for_bit(seed, mmr_from_max_leverage):
    tables = [*_tables(seed, 300), (), (Tier(0.0, math.inf, 0.02, None),),
              (Tier(0.0, math.inf, 0.02, -0.0, 0.0),)]
    # a NaN floor, cap or rate is read at once only where no number is omitted: two groups
    full = [t for t in tables if None not in itertools.chain.from_iterable(map(dataclasses.astuple, t))]
    groups = [full, [t for t in tables if t not in full and tier_arrays([t]) is not None]]
    assert min(map(len, groups)) > 20
    for group in groups:
        given = tier_arrays(group)
        assert given is not None
        at_once = resolve_tables(given, mmr_from_max_leverage)
        one_by_one = ResolvedTables.of([_resolve_one(t, mmr_from_max_leverage) for t in group])
        for name in ("floors", "caps", "rates", "cums"):
            assert np.array_equal(_bits(getattr(at_once, name)), _bits(getattr(one_by_one, name))), name
        assert np.array_equal(at_once.length, one_by_one.length)


def test_resolved_tables_of_pads_each_table_as_resolve_tables_does():
    resolved = ResolvedTables.of([
        (ResolvedTier(0.0, 10.0, 0.01, 0.0), ResolvedTier(10.0, math.inf, 0.02, 0.1)),
        (ResolvedTier(0.0, math.inf, 0.0, 0.0),)])
    assert resolved.floors.tolist() == [[0.0, 10.0], [0.0, math.inf]]
    assert resolved.rates.tolist() == [[0.01, 0.02], [0.0, 0.0]]
    assert resolved.cums.tolist() == [[0.0, 0.1], [0.0, 0.0]]
    assert resolved.caps.tolist() == [[10.0, math.inf], [math.inf, math.inf]]
    assert resolved.length.tolist() == [2, 1]


@pytest.mark.parametrize("odd", [
    (Tier(0, 10.0, 0.01), Tier(10.0, math.inf, 0.02)),  # an int floor: Python compares it exactly
    (Tier(0.0, 10.0, 0.01, True),),  # a bool amount
    (Tier(0.0, 10.0, np.float64(0.01)),),  # a numpy scalar
    (Tier(None, 10.0, 0.01),),  # type: ignore[arg-type]  # no floor at all
    (Tier(0.0, 10.0, 0.01, None), Tier(10.0, math.inf, math.nan)),  # NaN beside an omitted number
])
def test_numbers_that_are_not_plain_floats_are_left_to_the_one_table_path(odd):
    assert tier_arrays([(Tier(0.0, math.inf, 0.01),), odd]) is None


def test_the_arrays_of_the_last_tables_are_kept_for_the_same_objects_only():
    positive = (Tier(0.0, 10.0, 0.01, 0.0), Tier(10.0, math.inf, 0.02, 0.1))
    negative = (Tier(0.0, 10.0, 0.01, -0.0), Tier(10.0, math.inf, 0.02, 0.1))  # == positive
    first = tier_arrays([positive])
    assert tier_arrays([positive]) is first
    assert first is not None and not first.floor.flags.writeable  # shared: no caller may change them
    again = tier_arrays([negative])
    assert again is not first and again is not None
    assert math.copysign(1.0, float(again.amount[0, 0])) == -1.0


# ---------------------------------------------------------------------------- the plain check


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("mmr_from_max_leverage", [False, True])
def test_the_plain_check_never_accepts_what_check_tiers_refuses(seed, mmr_from_max_leverage):
    tables = [t for t in _tables(100 + seed, 400) if len(t) > 1]
    passes = [_passes(t, mmr_from_max_leverage) for t in tables]
    plain = [limits._tables_plainly_sound(tier_arrays([t]), mmr_from_max_leverage) for t in tables]
    for table, slow, fast in zip(tables, passes, plain, strict=True):
        assert fast == slow or (slow and _odd_cap(table)), table
    assert 50 < sum(passes) < len(tables) - 50  # both kinds, many of each
    # all at once: sound exactly when every one is
    assert limits._tables_plainly_sound(tier_arrays(tables), mmr_from_max_leverage) is all(plain)
    sound = [t for t, fast in zip(tables, plain, strict=True) if fast]
    assert limits._tables_plainly_sound(tier_arrays(sound), mmr_from_max_leverage) is True


def test_the_plain_check_refuses_each_kind_of_bad_table():
    good = (Tier(0.0, 50_000.0, 0.004, 0.0, 125.0), Tier(50_000.0, math.inf, 0.005, 50.0, 100.0))
    assert limits._tables_plainly_sound(tier_arrays([good]), False)
    for bad in [(good[0], dataclasses.replace(good[1], maintenance_amount=60.0)),  # MM falls at the floor
                (dataclasses.replace(good[0], maintenance_amount=1.0), good[1]),  # negative at the start
                (good[0], dataclasses.replace(good[1], mmr=1.5)),  # out of bounds
                (good[0], dataclasses.replace(good[1], max_leverage=0.001))]:
        assert not _passes(bad, False) or not _passes(bad, True)
        assert not limits._tables_plainly_sound(tier_arrays([good, bad]), False) or _passes(bad, False)
        assert not limits._tables_plainly_sound(tier_arrays([good, bad]), True) or _passes(bad, True)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("bad", ["none", "one late", "many"])
def test_check_portfolio_names_the_first_bad_position_as_checking_one_by_one_does(seed, bad):
    rng = random.Random(200 + seed)
    tables = _tables(300 + seed, 40)
    sound = [t for t in tables if _passes(t, False) and _passes(t, True)]
    spoilt = [t for t in tables if not _passes(t, False) and not _passes(t, True)]
    accounts = []
    for a in range(4):
        venue = rng.choice(["binanceusdm", "hyperliquid", "okx"])
        held = rng.sample(tables, 15) if bad == "many" else [rng.choice(sound) for _ in range(15)]
        if bad == "one late" and a == 2:
            held[rng.randrange(5, 15)] = rng.choice(spoilt)
        positions = [pos(f"C{k}/USDT:USDT", contracts=rng.uniform(0.1, 10), entry=rng.uniform(10, 1_000),
                         tiers=tiers) for k, tiers in enumerate(held)]
        accounts.append(account(venue, *positions, name=f"acc-{a}", USDT=1e6))
    book = portfolio(*accounts)
    expected = None
    for a in book.accounts:  # the plain oracle: every position checked on its own, in order
        for p in a.positions:
            try:
                check_position(p, mmr_from_max_leverage=a.venue == "hyperliquid")
            except InputError as exc:
                expected = exc.at(account=a.name, position=p)
                break
        if expected is not None:
            break
    if bad == "none":
        assert expected is None
        check_portfolio(book)
        return
    assert expected is not None
    with pytest.raises(InputError) as info:
        check_portfolio(book)
    got = info.value
    assert (got.message, got.field, got.account) == (expected.message, expected.field, expected.account)
    assert got.position is expected.position


# ---------------------------------------------------------------------------- the engine's tables


def _convex_one(tiers: tuple[ResolvedTier, ...]) -> bool:
    """MM continuous and convex in the notional, one table at a time (the engine's rule, §0)."""
    for prev, cur in itertools.pairwise(tiers):
        if cur.mmr < prev.mmr:
            return False
        left = prev.mmr * cur.floor - prev.cum
        right = cur.mmr * cur.floor - cur.cum
        if abs(left - right) > 1e-9 * max(1.0, abs(right)):
            return False
    return True


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("plain", [True, False])
def test_the_engine_compiles_every_table_as_resolve_tiers_one_at_a_time(seed, plain):
    rng = random.Random(400 + seed)
    tables = [*_tables(500 + seed, 60), (), (Tier(0.0, math.inf, 0.01, 5.0),),
              # continuous within 1e-9 of a unit where MM is below one unit, and not
              (Tier(0.0, 1.0, 0.01, 0.0), Tier(1.0, math.inf, 0.02, 0.01 + 5e-10)),
              (Tier(0.0, 1.0, 0.01, 0.0), Tier(1.0, math.inf, 0.02, 0.01 + 2e-9))]
    if not plain:  # an int somewhere: every table goes the one-table way
        tables.append((Tier(0, 1_000, 0.01), Tier(1_000, math.inf, 0.02)))
    held = [rng.choice(tables) for _ in range(400)]  # positions share tables
    from_max_leverage = np.array([rng.random() < 0.3 for _ in held])
    block = engine._table_block(held, from_max_leverage)
    convex_seen = set()
    for k, (tiers, flag) in enumerate(zip(held, from_max_leverage.tolist(), strict=True)):
        row = block.table_of[k]
        expected = _resolve_one(tiers, flag)
        n = len(expected)
        assert block.length[row] == n
        for name, column in (("floor", block.floors), ("mmr", block.rates), ("cum", block.cums)):
            one_by_one = np.array([getattr(t, name) for t in expected])
            assert np.array_equal(_bits(column[row, :n]), _bits(one_by_one))
        assert np.all(block.floors[row, n:] == math.inf)
        assert np.all(block.rates[row, n:] == 0.0) and np.all(block.cums[row, n:] == 0.0)
        assert bool(block.convex[row]) is _convex_one(expected)
        convex_seen.add(_convex_one(expected))
    assert convex_seen == {True, False}
    # one row per distinct (table, reading)
    pairs = {(id(t), f) for t, f in zip(held, from_max_leverage.tolist(), strict=True)}
    assert len(block.length) == len(pairs)
