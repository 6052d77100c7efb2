"""Properties of account-wide pools (unified-margin.md §6.4–§6.6), by hypothesis."""

from __future__ import annotations

import math

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
from desk.domain.unified import (
    cross_positions,
    liquidation_move,
    pool_state_scalar,
    pooled_figures,
)
from tests.support.risk import BTCUSDT_TIERS

FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def pooled_accounts(draw, *, venue=None):
    venue = venue or draw(st.sampled_from(["binanceusdm", "bybit", "okx", "hyperliquid"]))
    btc = draw(st.floats(40_000, 80_000))
    usdt = draw(st.floats(-2_000, 20_000))
    usdc = draw(st.floats(0, 20_000))
    coin = draw(st.floats(0, 2))
    buffer = draw(st.sampled_from([0.0, 0.0001, 0.05]))
    collateral = (
        Collateral("USDT", usdt, 1.0, bid_buffer=buffer / 10, ask_buffer=buffer / 10),
        Collateral("USDC", usdc, 1.0),
        Collateral(
            "BTC",
            coin,
            btc,
            rate=draw(st.sampled_from([1.0, 0.95, 0.8])),
            bid_buffer=buffer,
            ask_buffer=buffer,
            underlying="BTC",
        ),
    )
    assume(usdt + usdc + coin * btc > 500)
    side = draw(st.sampled_from([Side.LONG, Side.SHORT]))
    qty = draw(st.floats(0.01, 3))
    entry = btc * draw(st.floats(0.9, 1.1))
    tiers = BTCUSDT_TIERS if draw(st.booleans()) else (Tier(0, math.inf, 0.004),)
    positions = [
        Position(
            "BTC/USDT:USDT",
            "USDT",
            Kind.LINEAR,
            qty,
            side,
            entry,
            btc,
            MarginMode.CROSS,
            leverage=draw(st.floats(2, 50)),
            tiers=tiers,
            taker_fee=draw(st.sampled_from([None, 0.00055])),
        )
    ]
    if draw(st.booleans()):
        eth = draw(st.floats(1_500, 4_000))
        positions.append(
            Position(
                "ETH/USDC:USDC",
                "USDC",
                Kind.LINEAR,
                draw(st.floats(0.1, 20)),
                draw(st.sampled_from([Side.LONG, Side.SHORT])),
                eth,
                eth * draw(st.floats(0.9, 1.1)),
                MarginMode.CROSS,
                tiers=(Tier(0, math.inf, 0.005),),
            )
        )
    mode = "bybit uta cross" if venue == "bybit" else f"{venue} pooled"
    return Account(
        "acc",
        venue,
        {},
        tuple(positions),
        {},
        None,
        AccountMargin(mode=mode, collateral=collateral, threshold=draw(st.sampled_from([1.0, 1.05]))),
    )


def ratio_at(acc: Account, symbol: str, price: float, *, wrong_way: bool) -> float:
    move = liquidation_move(acc, symbol, wrong_way=wrong_way)
    phi = price / move.pivot
    marks = [
        p.mark_price * (phi if m else 1.0) for p, m in zip(cross_positions(acc), move.positions, strict=True)
    ]
    prices = {
        c.asset: c.price * (phi if m else 1.0)
        for c, m in zip(acc.margin.collateral, move.assets, strict=True)
    }
    return pool_state_scalar(acc, marks, prices).ratio(acc.margin.threshold)


@FAST
@given(pooled_accounts())
def test_margin_ratio_is_one_at_the_solved_price_with_collateral_fixed_and_moving(acc: Account) -> None:
    f = pooled_figures(acc)
    for symbol in f.liquidation:
        for wrong_way, lp in ((False, f.liquidation_symbol_only[symbol]), (True, f.liquidation[symbol])):
            if lp is None:
                continue
            # the root is where the ratio crosses 1.0: one ulp either side straddles it
            at = ratio_at(acc, symbol, lp, wrong_way=wrong_way)
            assert abs(at - 1.0) < 1e-7 or (
                (ratio_at(acc, symbol, math.nextafter(lp, 0), wrong_way=wrong_way) - 1.0)
                * (ratio_at(acc, symbol, math.nextafter(lp, math.inf), wrong_way=wrong_way) - 1.0)
                <= 0
            )


@FAST
@given(pooled_accounts(), st.floats(100, 50_000))
def test_adding_collateral_moves_liquidation_away(acc: Account, extra: float) -> None:
    before = pooled_figures(acc)
    assume(before.ratio < 1.0)
    richer = Account(
        acc.name,
        acc.venue,
        {},
        acc.positions,
        {},
        None,
        AccountMargin(
            mode=acc.margin.mode,
            threshold=acc.margin.threshold,
            collateral=tuple(
                Collateral(
                    c.asset,
                    c.amount + extra,
                    c.price,
                    c.rate,
                    c.tiers,
                    c.tier_unit,
                    c.bid_buffer,
                    c.ask_buffer,
                    c.borrowed,
                    c.underlying,
                )
                if c.asset == "USDC"
                else c
                for c in acc.margin.collateral
            ),
        ),
    )
    after = pooled_figures(richer)
    assert after.ratio < before.ratio
    for symbol, lp in before.liquidation_symbol_only.items():
        mark = next(p.mark_price for p in acc.positions if p.symbol == symbol)
        new = after.liquidation_symbol_only[symbol]
        if lp is not None and new is not None and (lp < mark) == (new < mark):
            assert abs(new - mark) >= abs(lp - mark) * (1 - 1e-12)


@FAST
@given(
    st.sampled_from(["binanceusdm", "okx", "gate", "hyperliquid", "somevenue"]),
    st.floats(100, 50_000),
    st.floats(0.01, 3),
    st.sampled_from([Side.LONG, Side.SHORT]),
    st.floats(0.8, 1.2),
    st.booleans(),
)
def test_a_single_asset_pool_gives_todays_figures(venue, wallet, qty, side, move, tiered) -> None:
    tiers = BTCUSDT_TIERS if tiered else (Tier(0, math.inf, 0.004),)
    p = Position(
        "BTC/USDT:USDT",
        "USDT",
        Kind.LINEAR,
        qty,
        side,
        60_000,
        60_000 * move,
        MarginMode.CROSS,
        tiers=tiers,
        taker_fee=0.0005,
        leverage=10,
    )
    today = compute_risk(Portfolio((Account("a", venue, {"USDT": wallet}, (p,)),))).accounts[0]
    pooled = compute_risk(
        Portfolio(
            (
                Account(
                    "a",
                    venue,
                    {},
                    (p,),
                    {},
                    None,
                    AccountMargin(mode="single", collateral=(Collateral("USDT", wallet, 1.0),)),
                ),
            )
        )
    ).accounts[0]
    ours, theirs = pooled.positions[0], today.positions[0]
    assert ours.margin_ratio == today.pools[0].margin_ratio or math.isclose(
        ours.margin_ratio, today.pools[0].margin_ratio, rel_tol=1e-12
    )
    for a, b in (
        (ours.liquidation_price, theirs.liquidation_price),
        (ours.liquidation_price_symbol_only, theirs.liquidation_price),
        (ours.bankruptcy_price, theirs.bankruptcy_price),
    ):
        if b is None or not (b < 1000 * p.mark_price):
            continue
        assert a is not None and math.isclose(a, b, rel_tol=1e-9)
    if today.shock_to_liquidation is not None:
        assert math.isclose(
            pooled.shock_to_liquidation, today.shock_to_liquidation, rel_tol=1e-9, abs_tol=1e-12
        )


@FAST
@given(pooled_accounts())
def test_vectorised_pool_equals_the_scalar_oracle(acc: Account) -> None:
    from desk.domain.unified import pooled_figures_scalar

    fast, slow = pooled_figures(acc), pooled_figures_scalar(acc)
    # The ratio is k·MM ÷ MB, and MB a sum whose terms can all but cancel (an account near or past
    # bankruptcy): there the two paths' last-ulp roundings of its terms move the ratio far beyond
    # 1e-12 (552.3790343224 against …61 once). So each path's ratio is its own k·MM ÷ MB exactly,
    # and MM and MB are compared, each as closely as its terms allow.
    assert acc.margin is not None
    for figures in (fast, slow):
        assert figures.ratio == figures.state.ratio(acc.margin.threshold)
    assert math.isclose(fast.state.maintenance, slow.state.maintenance, rel_tol=1e-12, abs_tol=1e-12)
    assert math.isclose(fast.state.margin_balance, slow.state.margin_balance, rel_tol=1e-12, abs_tol=1e-9)
    assert math.isclose(fast.state.total_equity, slow.state.total_equity, rel_tol=1e-12, abs_tol=1e-9)
    for name in ("liquidation", "liquidation_symbol_only", "bankruptcy"):
        a, b = getattr(fast, name), getattr(slow, name)
        for symbol in a:
            assert (a[symbol] is None) == (b[symbol] is None)
            if a[symbol] is not None:
                assert math.isclose(a[symbol], b[symbol], rel_tol=1e-9)
    assert (fast.shock is None) == (slow.shock is None)
    if fast.shock is not None:
        assert math.isclose(fast.shock, slow.shock, rel_tol=1e-9, abs_tol=1e-12)
