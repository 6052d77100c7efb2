"""Account-wide pools (unified-margin.md §6): the §6.7 test vectors, the Binance FAQ Multi-Assets
example, and the vectorised path against the scalar oracle."""

from __future__ import annotations

import math

import pytest

from desk.domain.engine import compute_risk
from desk.domain.model import (
    Account,
    AccountMargin,
    Collateral,
    CollateralTier,
    Kind,
    MarginMode,
    Portfolio,
    Position,
    Side,
    Tier,
)
from desk.domain.scalar import compute_risk_scalar
from desk.domain.unified import haircut_value, pooled_figures, pooled_figures_scalar

REL = 1e-6


def pos(
    symbol: str,
    side: Side,
    qty: float,
    entry: float,
    mark: float,
    mmr: float,
    *,
    kind: Kind = Kind.LINEAR,
    size: float = 1.0,
    leverage: float | None = None,
    taker: float | None = None,
    mode: MarginMode = MarginMode.CROSS,
    isolated_margin: float | None = None,
) -> Position:
    return Position(
        symbol,
        symbol.split(":")[1],
        kind,
        qty,
        side,
        entry,
        mark,
        mode,
        contract_size=size,
        leverage=leverage,
        tiers=(Tier(0.0, math.inf, mmr),),
        taker_fee=taker,
        isolated_margin=isolated_margin,
    )


def usd(asset: str, amount: float, price: float = 1.0, **kw: object) -> Collateral:
    return Collateral(asset, amount, price, **kw)  # type: ignore[arg-type]


def account(
    venue: str, mode: str, collateral: tuple[Collateral, ...], positions: tuple[Position, ...], **kw: object
) -> Account:
    return Account(
        "acc", venue, {}, positions, {}, None, margin=AccountMargin(mode=mode, collateral=collateral, **kw)
    )  # type: ignore[arg-type]


def close(a: float | None, b: float, rel: float = REL) -> bool:
    return a is not None and abs(a - b) <= rel * abs(b)


def both(acc: Account):
    return pooled_figures(acc), pooled_figures_scalar(acc)


# ---------------------------------------------------------------------------- TV1: Binance FAQ


def tv1() -> Account:
    # rates bid 0.9801 / ask 0.99495: index 0.99, buffers 0.01 / 0.005
    return account(
        "binanceusdm",
        "binance multi-assets",
        (
            usd("USDT", 200, 0.99, bid_buffer=0.01, ask_buffer=0.005),
            usd("USDC", 220, 1.0),
        ),
        (
            pos("BTC/USDT:USDT", Side.LONG, 0.5, 20_000, 20_000, 0.008),
            pos("ETH/USDC:USDC", Side.LONG, 20, 600, 600, 0.01),
        ),
    )


def test_tv1_binance_faq_multi_assets_example() -> None:
    for f in both(tv1()):
        assert close(f.state.margin_balance, 416.02)
        assert close(f.state.maintenance, 199.596)
        assert close(f.ratio, 199.596 / 416.02, 1e-9)  # the FAQ prints 0.47977


# ---------------------------------------------------------------------------- TV2, TV3: Binance MA LP


def tv2() -> Account:
    return account(
        "binanceusdm",
        "binance multi-assets",
        (
            usd("USDT", 500, 1.0, bid_buffer=0.0001, ask_buffer=0.0001),
            usd("USDC", 4_000, 1.0, bid_buffer=0.0001, ask_buffer=0.0001),
            usd("BTC", 0.1, 60_000, bid_buffer=0.05, ask_buffer=0.05, underlying="BTC"),
        ),
        (pos("ETH/USDT:USDT", Side.LONG, 10, 3_000, 2_900, 0.005),),
    )


def test_tv2_liquidation_uses_the_whole_pool_on_the_ask_branch() -> None:
    for f in both(tv2()):
        assert close(f.state.margin_balance, 9_199.55)
        assert close(f.state.maintenance, 145.0145)
        assert close(f.ratio, 0.0157632, 1e-5)
        assert close(f.liquidation["ETH/USDT:USDT"], 1_990.0874)
        assert close(f.liquidation_symbol_only["ETH/USDT:USDT"], 1_990.0874)
        assert close(f.bankruptcy["ETH/USDT:USDT"], 1_950.0)
    report = compute_risk(Portfolio((tv2(),)))
    p = report.accounts[0].positions[0]
    assert close(p.liquidation_price, 1_990.0874)
    assert not close(p.liquidation_price, 2_964.82, 1e-3)  # the single-asset answer (liquidated now)
    assert report.accounts[0].pools[0].pool == "account"
    assert report.accounts[0].pools[0].settle == "USD"


def tv3() -> Account:
    return account(
        "binanceusdm",
        "binance multi-assets",
        (
            usd("USDT", 1_000, 1.0, bid_buffer=0.0001, ask_buffer=0.0001),
            usd("BTC", 0.2, 60_000, bid_buffer=0.05, ask_buffer=0.05, underlying="BTC"),
        ),
        (pos("BTC/USDT:USDT", Side.LONG, 0.5, 60_000, 60_000, 0.004),),
    )


def test_tv3_wrong_way_collateral_both_conventions() -> None:
    for f in both(tv3()):
        assert close(f.state.margin_balance, 12_399.9)
        assert close(f.state.maintenance, 120.012)
        assert close(f.liquidation_symbol_only["BTC/USDT:USDT"], 35_343.654)
        assert close(f.liquidation["BTC/USDT:USDT"], 42_152.327)
        assert close(f.bankruptcy["BTC/USDT:USDT"], 41_428.571)
        assert close(f.shock, -0.29746, 1e-4)
    p = compute_risk(Portfolio((tv3(),))).accounts[0].positions[0]
    assert close(p.liquidation_price, 42_152.327)
    assert close(p.liquidation_price_symbol_only, 35_343.654)
    assert p.liquidation_direction == "down"


# ---------------------------------------------------------------------------- TV4: Binance PM (k = 1.05)


def tv4() -> Account:
    return account(
        "binance",
        "binance portfolio margin",
        (
            usd("USDT", 2_000, 1.0),
            usd("BTC", 0.1, 60_000, rate=0.95, underlying="BTC"),
            usd("ETH", 1, 3_200, rate=0.9, underlying="ETH"),
        ),
        (pos("ETH/USDT:USDT", Side.SHORT, 5, 3_000, 3_200, 0.005),),
        threshold=1.05,
    )


def test_tv4_threshold_and_upward_liquidation() -> None:
    for f in both(tv4()):
        assert close(f.state.margin_balance, 9_580)
        assert close(f.state.maintenance, 80)
        assert close(f.ratio, 0.0087683, 1e-5)
        assert close(f.liquidation_symbol_only["ETH/USDT:USDT"], 5_089.2813)
        assert close(f.liquidation["ETH/USDT:USDT"], 5_501.3632)


# ---------------------------------------------------------------------------- TV5: Bybit UTA cross


def tv5() -> Account:
    return account(
        "bybit",
        "bybit uta cross",
        (
            usd("USDT", 3_000),
            usd("USDC", 1_000),
            usd("BTC", 0.05, 60_000, rate=0.95, underlying="BTC"),
            usd("ETH", 0.5, 3_000, rate=0.9, underlying="ETH"),
        ),
        (pos("BTC/USDT:USDT", Side.LONG, 0.4, 62_000, 60_000, 0.005, leverage=10, taker=0.00055),),
    )


def test_tv5_bybit_uta_cross() -> None:
    for f in both(tv5()):
        assert close(f.state.maintenance, 136.276)
        assert close(f.state.total_equity, 7_700)
        assert close(f.state.margin_balance, 7_400)
        assert close(f.ratio, 0.0184157, 1e-5)
        assert close(f.liquidation_symbol_only["BTC/USDT:USDT"], 41_840.69)
        assert close(f.liquidation["BTC/USDT:USDT"], 43_768.215)
        assert close(f.shock, -0.25758, 1e-4)


def test_tv5_progressive_collateral_tiers() -> None:
    btc = Collateral(
        "BTC",
        25,
        1.0,
        tiers=(CollateralTier(0, 10, 0.98), CollateralTier(10, 20, 0.95), CollateralTier(20, math.inf, 0.9)),
        underlying="BTC",
    )
    assert close(haircut_value(btc, 25, 1.0), 23.8)


# ---------------------------------------------------------------------------- TV6: OKX multi-currency


def tv6() -> Account:
    return account(
        "okx",
        "okx multi-currency",
        (
            usd("BTC", 1, 48_000, rate=0.98, underlying="BTC"),
            usd("USDT", 5_000),
        ),
        (
            pos(
                "BTC/USD:BTC",
                Side.LONG,
                200,
                50_000,
                48_000,
                0.004,
                kind=Kind.INVERSE,
                size=100,
                taker=0.0005,
            ),
        ),
        venue_ratio_inverted=True,
    )


def test_tv6_okx_inverse_in_a_usd_pool_takes_the_liability_branch() -> None:
    for f in both(tv6()):
        assert close(f.state.margin_balance, 51_256)
        assert close(f.state.maintenance, 90)
        assert close(1 / f.ratio, 569.511, 1e-5)
        assert close(f.liquidation_symbol_only["BTC/USD:BTC"], 10_778.571)
        assert not close(f.liquidation_symbol_only["BTC/USD:BTC"], 10_707.0, 1e-4)


# ---------------------------------------------------------------------------- TV7: Hyperliquid standard


def test_tv7_hyperliquid_one_dex_equals_the_closed_form() -> None:
    acc = account(
        "hyperliquid",
        "hyperliquid standard",
        (usd("USDC", 10_000),),
        (
            Position(
                "BTC/USDC:USDC",
                "USDC",
                Kind.LINEAR,
                1,
                Side.LONG,
                100_000,
                100_000,
                MarginMode.CROSS,
                tiers=(Tier(0, math.inf, 0.0, max_leverage=40),),
            ),
            Position(
                "ETH/USDC:USDC",
                "USDC",
                Kind.LINEAR,
                10,
                Side.SHORT,
                3_000,
                3_000,
                MarginMode.CROSS,
                tiers=(Tier(0, math.inf, 0.0, max_leverage=25),),
            ),
        ),
    )
    for f in both(acc):
        assert close(f.state.maintenance, 1_850)
        assert close(f.liquidation["BTC/USDC:USDC"], 91_746.835)
        assert close(f.liquidation["ETH/USDC:USDC"], 3_799.020)


# ---------------------------------------------------------------------------- the reported defect


def test_multi_assets_usdc_collateral_backs_a_usdt_position() -> None:
    """The issue's account shape: USDT 3.73 + USDC 22. Per-currency pools put liquidation near the
    mark; the one pool puts it where the whole collateral is used."""
    acc = account(
        "binanceusdm",
        "binance multi-assets",
        (
            usd("USDT", 3.73, 1.0, bid_buffer=0.0001, ask_buffer=0.0001),
            usd("USDC", 22, 1.0, bid_buffer=0.0001, ask_buffer=0.0001),
        ),
        (pos("BTC/USDT:USDT", Side.LONG, 0.002, 90_000, 90_000, 0.004),),
    )
    pooled = compute_risk(Portfolio((acc,))).accounts[0]
    single = compute_risk(
        Portfolio((Account("acc", "binanceusdm", {"USDT": 3.73, "USDC": 22}, acc.positions),))
    ).accounts[0]
    # whole pool: 0.002·(x − 90,000) + 25.73 − 0.002·0.004·x = 0 (stablecoin buffers aside)
    expected = (180 - 25.72975) / (0.002 * 0.996)
    assert abs(pooled.positions[0].liquidation_price - expected) / expected < 1e-4
    assert single.positions[0].liquidation_price > pooled.positions[0].liquidation_price * 1.1


def test_isolated_positions_stay_outside_the_pool_and_may_share_a_symbol() -> None:
    iso = pos(
        "BTC/USDT:USDT", Side.LONG, 0.1, 60_000, 60_000, 0.004, mode=MarginMode.ISOLATED, isolated_margin=600
    )
    acc = account("binanceusdm", "binance multi-assets", tv3().margin.collateral, (*tv3().positions, iso))
    fast = compute_risk(Portfolio((acc,))).accounts[0]
    slow = compute_risk_scalar(Portfolio((acc,))).accounts[0]
    for a in (fast, slow):
        assert close(a.positions[0].liquidation_price, 42_152.327)
        # isolated: 600 + 0.1(x − 60,000) = 0.004·0.1·x
        assert close(a.positions[1].liquidation_price, 5_400 / (0.1 * 0.996))
    assert fast.positions == slow.positions and fast.pools == slow.pools
    assert fast.shock_to_liquidation == pytest.approx(slow.shock_to_liquidation, rel=1e-12)


@pytest.mark.parametrize("make", [tv1, tv2, tv3, tv4, tv5, tv6])
def test_vectorised_path_equals_the_scalar_oracle(make) -> None:
    fast, slow = both(make())
    assert fast.ratio == pytest.approx(slow.ratio, rel=1e-12)
    for name in ("liquidation", "liquidation_symbol_only", "bankruptcy"):
        a, b = getattr(fast, name), getattr(slow, name)
        assert a.keys() == b.keys()
        for k in a:
            assert (a[k] is None) == (b[k] is None)
            if a[k] is not None:
                assert a[k] == pytest.approx(b[k], rel=1e-12)


# ---------------------------------------------------------------------------- what-if and stress


def test_a_shock_moves_crypto_collateral_and_leaves_stablecoins() -> None:
    from desk.domain.scenario import apply_what_if

    shocked = apply_what_if(Portfolio((tv3(),)), shock=-0.1).accounts[0]
    assert shocked.margin.asset("BTC").price == pytest.approx(54_000)
    assert shocked.margin.asset("USDT").price == 1.0
    # at the shock to liquidation (−29.746 %) the pool's ratio is 1.0
    f = pooled_figures(tv3())
    at = pooled_figures(apply_what_if(Portfolio((tv3(),)), shock=f.shock).accounts[0])
    assert at.ratio == pytest.approx(1.0, rel=1e-9)


def test_stress_grid_of_a_pool_moves_collateral_vectorised_equals_scalar() -> None:
    import numpy as np

    from desk.domain.scenario import stress_grid, stress_grid_scalar

    shocks = np.array([-0.3, pooled_figures(tv3()).shock, -0.1, 0.0, 0.1])
    fast = stress_grid(tv3(), shocks)
    slow = stress_grid_scalar(tv3(), shocks)
    assert fast.margin_ratio.keys() == {"USD"}
    assert np.allclose(fast.margin_ratio["USD"], slow.margin_ratio["USD"], rtol=1e-12)
    assert fast.margin_ratio["USD"][3] == pytest.approx(120.012 / 12_399.9)
    assert fast.margin_ratio["USD"][1] == pytest.approx(1.0, rel=1e-9)


def test_suggestion_adds_collateral_with_its_haircut() -> None:
    from desk.domain.unified import add_collateral

    # TV5 pool, target 0.5: k·MM/target − MB = 272.552 − 7,400 < 0: nothing to add
    assert add_collateral(136.276, 7_400, 0.5, tv5().margin.collateral[0], 1.0).amount == 0.0
    btc = tv5().margin.collateral[2]  # 0.95 ratio at 60,000
    s = add_collateral(1_000, 1_000, 0.5, btc, 1.0)  # need 1,000 more of counted value
    assert s.amount == pytest.approx(1_000 / (60_000 * 0.95))
    assert s.currency == "BTC"
    report = compute_risk(Portfolio((tv5(),)), target=0.01)
    add, reduce = report.accounts[0].pools[0].suggestions
    assert add.currency == "USDT"
    assert add.amount == pytest.approx(136.276 / 0.01 - 7_400)
    # Bybit UTA MM is linear in size (entry value × MMR + fee to close): 136.276·(1 − f) = 0.01·7,400
    assert reduce.action == "reduce_size" and reduce.fraction == pytest.approx(1 - 74 / 136.276, rel=1e-9)


def test_mark_probe_of_a_pooled_account_uses_the_pool() -> None:
    from desk.domain.whatif import MarkProbe

    probe = MarkProbe(tv2(), "ETH/USDT:USDT")
    at = probe.at(2_500)
    assert close(at.liquidation_price, 1_990.0874)  # the whole pool, not the USDT wallet alone
    moved = compute_risk(Portfolio((Account("acc", "binanceusdm", {}, (
        pos("ETH/USDT:USDT", Side.LONG, 10, 3_000, 2_500, 0.005),), {}, None, tv2().margin),))).accounts[0]
    assert at.pool_ratio == moved.pools[0].margin_ratio
    assert probe.position.symbol == "ETH/USDT:USDT"


def test_what_if_adding_margin_to_a_pooled_account_adds_collateral() -> None:
    from desk.domain.whatif import add_account_margin

    before = pooled_figures(tv2())
    after = add_account_margin(Portfolio((tv2(),)), "acc", "USDT", 1_000)
    acc = after.accounts[0]
    assert acc.margin.asset("USDT").amount == 1_500
    moved = pooled_figures(acc)
    # 1,000 USDT more (negative USDT equity at the root is valued at the ask): LP falls by 1,000/(10·0.995)
    assert close(moved.liquidation["ETH/USDT:USDT"], 1_990.0874 - 1_000 / (10 * 0.995))
    assert moved.ratio < before.ratio
    with pytest.raises(ValueError, match='"FDUSD" is not a collateral asset of account "acc"'):
        add_account_margin(Portfolio((tv2(),)), "acc", "FDUSD", 10)
