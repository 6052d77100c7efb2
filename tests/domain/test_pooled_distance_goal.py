"""The distance goal on account-wide pools (issue 16; unified-margin.md §6.4 variant B): a cross
position whose liquidation price is nearer its mark than ``target_distance`` gets the least
collateral to add (a stablecoin of the pool, each crypto coin it holds, haircut applied) and the
least size to close.

Every amount is derived here by hand — the pool's equation F = MB − k·MM written out at the goal
price L = mark·(1 ∓ goal), solved for the amount — and then applied to a pool built here: the
engine and the scalar oracle must both put the liquidation price on L (1e-9 relative), and 0.999 of
the amount must leave it nearer than the goal."""

from __future__ import annotations

import dataclasses
import math

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from desk.domain.engine import compute_risk
from desk.domain.model import (
    Account,
    AccountMargin,
    Collateral,
    Kind,
    MarginMode,
    Portfolio,
    Position,
    Side,
    Tier,
)
from desk.domain.report import PositionRisk, Suggestion
from desk.domain.scalar import compute_risk_scalar
from desk.domain.suggest import advice_text, suggestion_text
from tests.support.risk import BTCUSDT_TIERS

EXACT = 1e-9


def collateral(asset: str, amount: float, price: float = 1.0, **kw: object) -> Collateral:
    return Collateral(asset, amount, price, **kw)  # type: ignore[arg-type]


def btc_position(qty: float, entry: float, mark: float, mmr: float, *, side: Side = Side.LONG,
                 leverage: float | None = None, taker: float | None = None) -> Position:
    return Position("BTC/USDT:USDT", "USDT", Kind.LINEAR, qty, side, entry, mark, MarginMode.CROSS,
                    leverage=leverage, tiers=(Tier(0.0, math.inf, mmr),), taker_fee=taker)


# ---------------------------------------------------------------------------- the pools


def tv3(*, usdt: float = 1_000, btc: float = 0.2, qty: float = 0.5) -> Account:
    """unified-margin.md §6.7 TV3: Binance Multi-Assets, a BTC long with BTC collateral."""
    return Account("tv3", "binanceusdm", {}, (btc_position(qty, 60_000, 60_000, 0.004),), {}, None,
                   AccountMargin(mode="binance multi-assets", collateral=(
                       collateral("USDT", usdt, bid_buffer=0.0001, ask_buffer=0.0001),
                       collateral("BTC", btc, 60_000, bid_buffer=0.05, ask_buffer=0.05, underlying="BTC"))))


def tv5(*, usdt: float = 3_000, btc: float = 0.05, eth: float = 0.5, qty: float = 0.4) -> Account:
    """§6.7 TV5: Bybit UTA cross, MM on the entry value, BTC and ETH collateral."""
    position = btc_position(qty, 62_000, 60_000, 0.005, leverage=10, taker=0.00055)
    pool = (collateral("USDT", usdt), collateral("USDC", 1_000),
            collateral("BTC", btc, 60_000, rate=0.95, underlying="BTC"),
            collateral("ETH", eth, 3_000, rate=0.9, underlying="ETH"))
    return Account("tv5", "bybit", {}, (position,), {}, None,
                   AccountMargin(mode="bybit uta cross", collateral=pool))


def figures(acc: Account, **goal: float | None) -> tuple[PositionRisk, PositionRisk]:
    """The account's one position, by the engine and by the scalar oracle."""
    (fast,) = compute_risk(Portfolio((acc,)), **goal).accounts[0].positions  # type: ignore[arg-type]
    (slow,) = compute_risk_scalar(Portfolio((acc,)), **goal).accounts[0].positions  # type: ignore[arg-type]
    return fast, slow


def by_kind(suggestions: tuple[Suggestion, ...]) -> dict[str, Suggestion]:
    return {s.currency if s.action == "add_margin" else s.action: s for s in suggestions}  # type: ignore[misc]


def lands_on(acc: Account, price: float) -> None:
    for r in figures(acc):
        assert r.liquidation_price == pytest.approx(price, rel=EXACT)


def misses(acc: Account, goal: float) -> None:
    for r in figures(acc):
        assert r.distance_to_liquidation is not None and r.distance_to_liquidation < goal * (1 - 1e-6)


# ---------------------------------------------------------------------------- TV3: Binance Multi-Assets


# Goal 40 % below the mark: L = 36,000. At L the USDT wallet is negative (ask side, ×1.0001), BTC counts
# 0.2·36,000·0.95 = 6,840, MM = 0.5·36,000·0.4 % = 72 USDT, converted at the ask: 72·1.0001.
TV3_L = 36_000.0
TV3_USDT = 11_000 + 72 - 6_840 / 1.0001  # 1.0001·(x − 11,000) + 6,840 − 72·1.0001 = 0
TV3_BTC = 1.0001 * 11_072 / 34_200 - 0.2  # −1.0001·11,000 + (0.2 + y)·34,200 − 72·1.0001 = 0
TV3_KEEP = (1_000.1 + 6_840) / (1.0001 * 24_144)  # 1.0001·(1,000 − 24,000q) + 6,840 − 1.0001·144q = 0


def test_tv3_starts_at_its_worked_example_and_misses_a_40_percent_goal() -> None:
    for r in figures(tv3()):
        assert r.liquidation_price == pytest.approx(42_152.327, rel=1e-6)  # §6.7 TV3, variant B
        assert r.distance_to_liquidation < 0.40


def test_tv3_each_fix_puts_the_liquidation_on_the_goal_and_less_misses_it() -> None:
    for r in figures(tv3(), target_distance=0.40):
        fix = by_kind(r.suggestions)
        assert fix.keys() == {"USDT", "BTC", "reduce_size"}
        assert all(s.reaches_target and s.target_distance == 0.40 for s in fix.values())
        assert fix["USDT"].amount == pytest.approx(TV3_USDT, rel=EXACT)
        assert fix["BTC"].amount == pytest.approx(TV3_BTC, rel=EXACT)
        assert fix["reduce_size"].contracts == pytest.approx(0.5 - TV3_KEEP, rel=EXACT)
        assert fix["BTC"].haircut == pytest.approx(0.05, abs=1e-12)  # Binance's BTC bid buffer
        assert fix["USDT"].haircut == pytest.approx(0.0001, abs=1e-12)
        assert all(s.moves_with == "BTC" for s in fix.values())  # the goal is on desk's wrong-way figure
    (fix_usdt, fix_btc, fix_cut) = figures(tv3(), target_distance=0.40)[0].suggestions
    lands_on(tv3(usdt=1_000 + fix_usdt.amount), TV3_L)
    lands_on(tv3(btc=0.2 + fix_btc.amount), TV3_L)
    lands_on(tv3(qty=0.5 - fix_cut.contracts), TV3_L)  # entry = mark: closing realises nothing
    misses(tv3(usdt=1_000 + 0.999 * fix_usdt.amount), 0.40)
    misses(tv3(btc=0.2 + 0.999 * fix_btc.amount), 0.40)
    misses(tv3(qty=0.5 - 0.999 * fix_cut.contracts), 0.40)


def test_the_goal_already_met_gives_no_suggestion() -> None:
    for r in figures(tv3(), target_distance=0.29):  # TV3 is 29.75 % away
        assert r.suggestions == ()
    for r in figures(tv3(), target_distance=None):
        assert r.suggestions == ()


def test_suggestions_in_words_round_up_and_name_the_convention() -> None:
    usdt, btc, cut = figures(tv3(), target_distance=0.40)[0].suggestions
    # 4,232.68 USDT and 0.123775 BTC, rounded UP to three significant figures
    assert abs(TV3_USDT - 4_232.68) < 0.01 and abs(TV3_BTC - 0.123775) < 1e-6
    convention = "liquidation with the pool's BTC collateral moving with the price, desk's wrong-way figure"
    assert suggestion_text(usdt) == ("add 4,240 USDT as collateral (its 0.01 % haircut applied) to get back "
                                     f"to 40 % from liquidation ({convention})")
    assert suggestion_text(btc).startswith("add 0.124 BTC as collateral (its 5.00 % haircut applied) to get")
    # 0.17531 contracts; no lot size: a step of the size's fourth significant figure (0.0001), rounded up
    assert abs(0.5 - TV3_KEEP - 0.17531) < 1e-5
    assert suggestion_text(cut).startswith("cut 0.1754 contracts (35.1 % of the position) to get")
    assert advice_text((usdt, btc, cut)).startswith(f"To get back to 40 % from liquidation ({convention}): "
                                                    "add 4,240 USDT as collateral")


# ---------------------------------------------------------------------------- TV5: Bybit UTA cross


# Goal 30 % below the mark: L = 42,000. UTA counts a negative USDT wallet in full; MM is on the entry
# value: 0.4·62,000·(0.5 % + 0.9·0.055 %) = 136.276 = 340.69 per BTC. ETH stays at its index (a BTC move).
TV5_L = 42_000.0
TV5_USDT = 791.276  # (x − 5,000) + 1,000 + 0.05·0.95·42,000 + 0.5·0.9·3,000 − 136.276 = 0
TV5_BTC = 2_786.276 / 39_900 - 0.05  # −5,000 + 1,000 + (0.05 + y)·39,900 + 1,350 − 136.276 = 0
TV5_ETH = 2_141.276 / 2_700 - 0.5  # −5,000 + 1,000 + 1,995 + (0.5 + z)·2,700 − 136.276 = 0
# closing c = 0.4 − q at 60,000 realises −2,000·c into USDT:
# 3,000 − 2,000(0.4 − q) − 20,000q + 1,000 + 1,995 + 1,350 − 340.69q = 0
TV5_KEEP = 6_545 / 18_340.69


def test_tv5_each_fix_lands_on_the_goal_the_closed_part_realised() -> None:
    for r in figures(tv5(), target_distance=0.30):
        assert r.liquidation_price == pytest.approx(43_768.215, rel=1e-6)  # §6.7 TV5, variant B
        fix = by_kind(r.suggestions)
        assert fix.keys() == {"USDT", "BTC", "ETH", "reduce_size"}  # USDT: the position's settle asset
        assert fix["USDT"].amount == pytest.approx(TV5_USDT, rel=EXACT)
        assert fix["BTC"].amount == pytest.approx(TV5_BTC, rel=EXACT)
        assert fix["ETH"].amount == pytest.approx(TV5_ETH, rel=EXACT)
        assert fix["reduce_size"].contracts == pytest.approx(0.4 - TV5_KEEP, rel=EXACT)
        assert fix["reduce_size"].fraction == pytest.approx((0.4 - TV5_KEEP) / 0.4, rel=EXACT)
        assert fix["ETH"].haircut == pytest.approx(0.1, abs=1e-12)
    fix = by_kind(figures(tv5(), target_distance=0.30)[0].suggestions)
    lands_on(tv5(usdt=3_000 + fix["USDT"].amount), TV5_L)
    lands_on(tv5(btc=0.05 + fix["BTC"].amount), TV5_L)
    lands_on(tv5(eth=0.5 + fix["ETH"].amount), TV5_L)
    closed = fix["reduce_size"].contracts
    lands_on(tv5(usdt=3_000 - 2_000 * closed, qty=0.4 - closed), TV5_L)
    misses(tv5(usdt=3_000 + 0.999 * fix["USDT"].amount), 0.30)
    misses(tv5(eth=0.5 + 0.999 * fix["ETH"].amount), 0.30)
    misses(tv5(usdt=3_000 - 2_000 * 0.999 * closed, qty=0.4 - 0.999 * closed), 0.30)


def test_with_a_ratio_goal_too_the_stricter_goal_wins() -> None:
    loose = by_kind(figures(tv5(), target=0.5, target_distance=0.30)[0].suggestions)
    assert loose["USDT"].amount == pytest.approx(TV5_USDT, rel=EXACT)  # the distance binds
    assert loose["USDT"].target_margin_ratio == 0.5
    strict = by_kind(figures(tv5(), target=0.01, target_distance=0.30)[0].suggestions)
    # ratio 0.01: MB must reach 136.276 / 0.01 = 13,627.6; it is 7,400 (USDT positive: counted in full)
    assert strict["USDT"].amount == pytest.approx(13_627.6 - 7_400, rel=EXACT)
    (pool,) = compute_risk(Portfolio((tv5(usdt=3_000 + strict["USDT"].amount),))).accounts[0].pools
    assert pool.margin_ratio == pytest.approx(0.01, rel=EXACT)


def test_a_ratio_above_target_alone_is_the_pools_to_fix() -> None:
    # TV5: ratio 0.0184 above 0.01, liquidation 27 % away, goal 20 %: the pool's suggestions only
    for compute in (compute_risk, compute_risk_scalar):
        (risk,) = compute(Portfolio((tv5(),)), target=0.01, target_distance=0.20).accounts
        assert [s.action for s in risk.pools[0].suggestions] == ["add_margin", "reduce_size"]
        assert risk.positions[0].suggestions == ()


def test_collateral_held_at_its_index_when_it_is_another_coin() -> None:
    # TV5 without BTC collateral: a BTC move leaves every collateral at its index (variants A = B)
    acc = tv5(btc=0.0)
    acc = dataclasses.replace(acc, margin=dataclasses.replace(acc.margin, collateral=tuple(
        c for c in acc.margin.collateral if c.asset != "BTC")))
    for r in figures(acc, target_distance=0.30):
        fix = by_kind(r.suggestions)
        assert fix.keys() == {"USDT", "ETH", "reduce_size"}
        assert all(s.moves_with is None for s in fix.values())
        # (x − 5,000) + 1,000 + 1,350 − 136.276 = 0
        assert fix["USDT"].amount == pytest.approx(2_786.276, rel=EXACT)
        assert "wrong-way" not in suggestion_text(fix["USDT"])


def test_past_liquidation_the_fix_still_lands_on_the_goal() -> None:
    acc = tv3(usdt=-11_500)  # MB = −11,501.15 + 11,400 < 0: past liquidation now
    for r in figures(acc, target_distance=0.10):
        assert r.margin_ratio >= 1.0
        fix = by_kind(r.suggestions)
        assert fix["USDT"].reaches_target and fix["BTC"].reaches_target
        assert not fix["reduce_size"].reaches_target  # the margin balance is not positive
    usdt = by_kind(figures(acc, target_distance=0.10)[0].suggestions)["USDT"].amount
    # at L = 54,000: 1.0001·(x − 14,500) + 0.2·54,000·0.95 − 108·1.0001 = 0
    assert usdt == pytest.approx(14_500 + 108 - 10_260 / 1.0001, rel=EXACT)
    lands_on(tv3(usdt=-11_500 + usdt), 54_000)


# ---------------------------------------------------------------------------- TV6: OKX, an inverse leg


def tv6(*, btc: float = 1.0, usdt: float = 5_000, contracts: float = 200) -> Account:
    """§6.7 TV6: OKX multi-currency, a BTC-settled inverse long (PnL lands on the BTC it settles in)."""
    position = Position("BTC/USD:BTC", "BTC", Kind.INVERSE, contracts, Side.LONG, 50_000, 48_000,
                        MarginMode.CROSS, contract_size=100, tiers=(Tier(0.0, math.inf, 0.004),),
                        taker_fee=0.0005)
    pool = (collateral("BTC", btc, 48_000, rate=0.98, underlying="BTC"), collateral("USDT", usdt))
    return Account("tv6", "okx", {}, (position,), {}, None,
                   AccountMargin(mode="okx multi-currency", collateral=pool))


# Goal 80 %: L = 9,600. MM = 20,000 USD·(0.4 % + 0.05 %) = 90 USD at any price. The BTC equity is
# negative there (counted in full): (1 + 0.4)·9,600 − 20,000 = −6,560 USD.
TV6_USDT = 1_650.0  # −6,560 + 5,000 + x − 90 = 0
TV6_BTC = 15_090 / 9_600 - 1.4  # (1.4 + y)·9,600 − 20,000 + 5,000 − 90 = 0
# closing c of 200 realises c·100·(1/50,000 − 1/48,000) BTC; with n = 200 − c left, the BTC equity at L
# is 9,440 − 80n USD and MM 0.45n: 9,440 − 80n + 5,000 − 0.45n = 0
TV6_KEEP = 14_440 / 80.45


def test_tv6_an_inverse_leg_realises_into_its_coin_and_lands_on_the_goal() -> None:
    for r in figures(tv6(), target_distance=0.80):
        assert r.liquidation_price == pytest.approx(10_778.571, rel=1e-6)  # §6.7 TV6
        fix = by_kind(r.suggestions)
        assert fix.keys() == {"USDT", "BTC", "reduce_size"}
        assert all(s.moves_with is None for s in fix.values())  # an inverse leg moves its coin either way
        assert fix["USDT"].amount == pytest.approx(TV6_USDT, rel=EXACT)
        assert fix["BTC"].amount == pytest.approx(TV6_BTC, rel=EXACT)
        assert fix["BTC"].haircut == pytest.approx(0.02, abs=1e-12)  # OKX's 0.98 discount, at the mark
        assert fix["reduce_size"].contracts == pytest.approx(200 - TV6_KEEP, rel=EXACT)
    fix = by_kind(figures(tv6(), target_distance=0.80)[0].suggestions)
    lands_on(tv6(usdt=5_000 + fix["USDT"].amount), 9_600)
    lands_on(tv6(btc=1 + fix["BTC"].amount), 9_600)
    closed = fix["reduce_size"].contracts
    lands_on(tv6(btc=1 + closed * 100 * (1 / 50_000 - 1 / 48_000), contracts=200 - closed), 9_600)
    misses(tv6(usdt=5_000 + 0.999 * fix["USDT"].amount), 0.80)
    misses(tv6(btc=1 + 0.999 * fix["BTC"].amount), 0.80)
    less = 0.999 * closed
    misses(tv6(btc=1 + less * 100 * (1 / 50_000 - 1 / 48_000), contracts=200 - less), 0.80)


# ---------------------------------------------------------------------------- generated pools


FAST = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def pools(draw):  # type: ignore[no-untyped-def]
    venue = draw(st.sampled_from(["binanceusdm", "bybit"]))
    mode = "bybit uta cross" if venue == "bybit" else "binance multi-assets"
    buffer = 0.0001 if venue == "binanceusdm" else 0.0
    mark = draw(st.floats(40_000, 80_000))
    moving = draw(st.booleans())  # the crypto collateral is the position's own coin (wrong-way) or ETH
    coin = draw(st.floats(0.01, 1.5))
    haircut = draw(st.sampled_from([0.0, 0.05, 0.1, 0.3]))
    crypto = (collateral("BTC", coin, mark, rate=1 - haircut, underlying="BTC") if moving
              else collateral("ETH", coin * 20, 3_000, rate=1 - haircut, underlying="ETH"))
    usdt = collateral("USDT", draw(st.floats(0, 20_000)), bid_buffer=buffer, ask_buffer=buffer)
    side = draw(st.sampled_from([Side.LONG, Side.SHORT]))
    tiers = BTCUSDT_TIERS if draw(st.booleans()) else (Tier(0.0, math.inf, draw(st.floats(0.002, 0.02))),)
    position = Position("BTC/USDT:USDT", "USDT", Kind.LINEAR, draw(st.floats(0.05, 3)), side,
                        mark * draw(st.floats(0.9, 1.1)), mark, MarginMode.CROSS,
                        leverage=draw(st.floats(2, 50)), tiers=tiers,
                        taker_fee=draw(st.sampled_from([None, 0.00055])))
    return Account("gen", venue, {}, (position,), {}, None,
                   AccountMargin(mode=mode, collateral=(usdt, crypto)))


def with_amount(acc: Account, asset: str, extra: float) -> Account:
    margin = acc.margin
    moved = tuple(dataclasses.replace(c, amount=c.amount + extra) if c.asset == asset else c
                  for c in margin.collateral)
    return dataclasses.replace(acc, margin=dataclasses.replace(margin, collateral=moved))


def with_closed(acc: Account, closed: float) -> Account:
    (p,) = acc.positions
    realised = p.side.sign * closed * (p.mark_price - p.entry_price)  # linear PnL at the mark
    return dataclasses.replace(with_amount(acc, "USDT", realised),
                               positions=(dataclasses.replace(p, contracts=p.contracts - closed),))


def at_goal(acc: Account, goal: float) -> bool:
    """Both paths put the liquidation on mark·(1 ∓ goal)."""
    for r in figures(acc):
        if r.liquidation_price is None or r.margin_ratio >= 1.0:
            return False
        targets = (r.mark_price * (1 - goal), r.mark_price * (1 + goal))
        if min(abs(r.liquidation_price - t) / t for t in targets) > EXACT:
            return False
    return True


def short_of(acc: Account, goal: float) -> bool:
    return all(r.margin_ratio >= 1.0 or (r.distance_to_liquidation is not None
                                          and r.distance_to_liquidation < goal) for r in figures(acc))


@FAST
@given(pools(), st.floats(0.01, 0.6))
def test_every_fix_lands_on_the_goal_and_less_misses_it(acc: Account, further: float) -> None:
    (now, _) = figures(acc)
    assume(now.margin_ratio < 1.0 and now.distance_to_liquidation is not None)
    goal = now.distance_to_liquidation + further
    assume(goal < 0.9)
    fast, slow = figures(acc, target_distance=goal)
    assert [s.action for s in fast.suggestions] == [s.action for s in slow.suggestions]
    fixes = by_kind(fast.suggestions)
    assert fixes["USDT"].reaches_target  # a stablecoin always gets there
    moving = acc.margin.collateral[1].asset == "BTC"
    assert all(s.moves_with == ("BTC" if moving else None) for s in fixes.values())
    for key, s in fixes.items():
        if not s.reaches_target:
            continue
        twin = by_kind(slow.suggestions)[key]
        if key == "reduce_size":
            assert twin.contracts == pytest.approx(s.contracts, rel=1e-6)
            assert at_goal(with_closed(acc, s.contracts), goal)
            assert short_of(with_closed(acc, 0.999 * s.contracts), goal)
        else:
            assert twin.amount == pytest.approx(s.amount, rel=1e-6)
            assert at_goal(with_amount(acc, key, s.amount), goal)
            assert short_of(with_amount(acc, key, 0.999 * s.amount), goal)
