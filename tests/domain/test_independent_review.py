"""An independent review of the risk engine: every expected figure is derived here, by hand, from the
closed forms of design/risk-math.md (and the equation behind them, margin balance = maintenance
margin), never through desk's own helpers. Cases the worked-example tests do not cover: COIN-M cross
with a hedge pair, OKX USDT- and coin-margined isolated and OKX's inverted ratio, Hyperliquid cross
and isolated, Bybit inverse and tiered linear isolated, Binance isolated hedge legs, bankruptcy on
every venue, "no liquidation", the shock to liquidation and the cross-pool suggestions.
"""

from __future__ import annotations

import dataclasses
import itertools
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from desk.domain.engine import compute_risk
from desk.domain.model import Account, Portfolio, Tier
from desk.domain.report import AccountRisk, PositionRisk
from desk.domain.scenario import apply_what_if
from desk.domain.whatif import add_account_margin
from tests.support.risk import account, portfolio, pos

# Tier tables as the venue publishes them, maintenance amounts included: (floor, cap, MMR, cum).
# BTCUSDT: Binance FAQ brackets, cums 0, 50, 1,300, 16,300 (risk-math.md §0).
BTCUSDT = ((0, 50_000, 0.004, 0), (50_000, 250_000, 0.005, 50), (250_000, 1_000_000, 0.01, 1_300),
           (1_000_000, math.inf, 0.025, 16_300))
# A coin-notional table for BTCUSD COIN-M (cum by the §0 recurrence, worked by hand):
# 5 × (0.005 − 0.004) = 0.005; 0.005 + 10 × (0.01 − 0.005) = 0.055; 0.055 + 20 × (0.025 − 0.01) = 0.355
BTCUSD_COIN = ((0, 5, 0.004, 0), (5, 10, 0.005, 0.005), (10, 20, 0.01, 0.055), (20, math.inf, 0.025, 0.355))


def tiers_of(table) -> tuple[Tier, ...]:
    return tuple(Tier(f, c, m, cum) for f, c, m, cum in table)


def tier_for(table, notional: float) -> tuple[float, float]:
    """(MMR, cum) of the tier with floor ≤ notional < cap."""
    for floor, cap, mmr, cum in table:
        if floor <= notional < cap:
            return mmr, cum
    raise AssertionError(notional)


def tier_no(table, notional: float) -> int:
    return next(i for i, (floor, cap, _, _) in enumerate(table) if floor <= notional < cap)


def risk(acc: Account, *, target: float | None = None) -> AccountRisk:
    return compute_risk(portfolio(acc), target=target).accounts[0]


def by_key(acc: AccountRisk, symbol: str, leg: str = "both") -> PositionRisk:
    return next(p for p in acc.positions if p.symbol == symbol and p.leg == leg)


def worst_ratio(acc: AccountRisk) -> float:
    """The worst margin unit: any cross pool with positions, or any isolated position."""
    ratios = [p.margin_ratio for p in acc.positions if p.margin_mode == "isolated"]
    held = {p.settle for p in acc.positions if p.margin_mode == "cross"}
    ratios += [pool.margin_ratio for pool in acc.pools if pool.settle in held]
    return max(ratios)


# ---------------------------------------------------------------- 1. Binance COIN-M cross (§2)

CM = 100.0  # BTCUSD contract size, USD


def coin_mm(contracts: float, price: float) -> float:
    v = contracts * CM / price
    mmr, cum = tier_for(BTCUSD_COIN, v)
    return v * mmr - cum


def coinm_book(wallet: float = 2.0) -> Account:
    t = tiers_of(BTCUSD_COIN)
    long = pos("BTC/USD:BTC", contracts=6_000, contract_size=CM, entry=60_500, mark=58_000, leg="long",
               tiers=t)
    short = pos("BTC/USD:BTC", contracts=2_000, contract_size=CM, entry=62_000, mark=58_000, side="short",
                leg="short", tiers=t)
    quarter = dataclasses.replace(  # a delivery contract settles in BTC too (ccxt symbol suffix -YYMMDD)
        pos("BTC/USD:BTC-261225", contracts=3_000, contract_size=CM, entry=61_000, mark=59_000, tiers=t,
            kind="inverse"),
        settle="BTC")
    return account("binancecoinm", long, short, quarter, BTC=wallet)


def test_coinm_cross_hedge_pair_shares_one_price_with_the_tier_at_that_price():
    acc = risk(coinm_book())
    wb = 2.0
    # the other contract (the quarterly) at its mark: 300,000 / 59,000 = 5.0847 BTC -> tier 2
    tmm1 = coin_mm(3_000, 59_000)
    upnl1 = 3_000 * CM * (1 / 61_000 - 1 / 59_000)
    w = wb - tmm1 + upnl1
    # §2 formula with both hedge legs in the sum; try every (long tier, short tier) pair and keep the
    # self-consistent one (each leg's coin notional at the LP inside its tier, §1.2)
    found = []
    for (fl, cl, ml, cuml), (fs, cs, ms, cums) in itertools.product(BTCUSD_COIN, BTCUSD_COIN):
        lp = (6_000 * ml + 2_000 * ms + 6_000 - 2_000) / (
            (w + cuml + cums) / CM + 6_000 / 60_500 - 2_000 / 62_000)
        if lp > 0 and fl <= 6_000 * CM / lp < cl and fs <= 2_000 * CM / lp < cs:
            found.append(lp)
    assert len(found) == 1
    expected = found[0]
    long, short = by_key(acc, "BTC/USD:BTC", "long"), by_key(acc, "BTC/USD:BTC", "short")
    assert long.liquidation_price == pytest.approx(expected, rel=1e-12)
    assert short.liquidation_price == pytest.approx(expected, rel=1e-12)
    # the long leg: 9.92 BTC at entry (tier 2), 10.34 at the mark, higher still at the LP (tier 3):
    # an inverse long's tier rises as the price falls (§2)
    assert tier_no(BTCUSD_COIN, 6_000 * CM / 60_500) == 1
    assert tier_no(BTCUSD_COIN, 6_000 * CM / expected) == 2
    # bankruptcy: §1.3 (MMR = cum = 0 everywhere): W + UPNL1 + Σ s·N·CM·(1/EP − 1/P) = 0
    bk = CM * (6_000 - 2_000) / (wb + upnl1 + CM * (6_000 / 60_500 - 2_000 / 62_000))
    assert long.bankruptcy_price == pytest.approx(bk, rel=1e-12)
    assert short.bankruptcy_price == pytest.approx(bk, rel=1e-12)
    assert long.bankruptcy_price < long.liquidation_price < long.mark_price  # net long


def test_coinm_cross_delivery_contract_with_the_hedge_pair_held_at_its_mark():
    acc = risk(coinm_book())
    wb = 2.0
    tmm1 = coin_mm(6_000, 58_000) + coin_mm(2_000, 58_000)
    upnl1 = 6_000 * CM * (1 / 60_500 - 1 / 58_000) - 2_000 * CM * (1 / 62_000 - 1 / 58_000)
    found = []
    for floor, cap, mmr, cum in BTCUSD_COIN:  # one-way long: LP = N·CM·(1 + MMR) / (W + cum + N·CM/EP)
        lp = 3_000 * CM * (1 + mmr) / (wb - tmm1 + upnl1 + cum + 3_000 * CM / 61_000)
        if floor <= 3_000 * CM / lp < cap:
            found.append(lp)
    assert len(found) == 1
    q = by_key(acc, "BTC/USD:BTC-261225")
    assert q.liquidation_price == pytest.approx(found[0], rel=1e-12)
    # pool figures, by hand
    (pool,) = acc.pools
    mm = coin_mm(6_000, 58_000) + coin_mm(2_000, 58_000) + coin_mm(3_000, 59_000)
    upnl = upnl1 + 3_000 * CM * (1 / 61_000 - 1 / 59_000)
    assert pool.maintenance_margin == pytest.approx(mm, rel=1e-12)
    assert pool.unrealized_pnl == pytest.approx(upnl, rel=1e-12)
    assert pool.margin_ratio == pytest.approx(mm / (wb + upnl), rel=1e-12)
    assert q.notional == pytest.approx(3_000 * CM / 59_000, rel=1e-12)


def test_coinm_long_climbs_two_tiers_between_entry_and_liquidation():
    # 4,000 × 100 USD at 50,000 = 8 BTC (tier 2); the LP lands in tier 3 (notional 16+ BTC)
    p = pos("BTC/USD:BTC", contracts=4_000, contract_size=CM, entry=50_000, tiers=tiers_of(BTCUSD_COIN))
    r = risk(account("binancecoinm", p, BTC=8.1)).positions[0]
    lp = 4_000 * CM * (1 + 0.01) / (8.1 + 0.055 + 4_000 * CM / 50_000)
    assert tier_no(BTCUSD_COIN, 4_000 * CM / lp) == 2
    assert r.liquidation_price == pytest.approx(lp, rel=1e-12)
    # with the entry tier (the error §1.2 warns about) the price would be different
    wrong = 4_000 * CM * (1 + 0.005) / (8.1 + 0.005 + 4_000 * CM / 50_000)
    assert abs(wrong - lp) > 40


# ---------------------------------------------------------------- 2. OKX (§4, §7.8)

OKX_TABLE = ((0, 100_000, 0.004, 0), (100_000, math.inf, 0.008, 400))


@pytest.mark.parametrize(("side", "margin"), [("long", 2_000.0), ("short", 2_000.0), ("long", 200.0)])
def test_okx_usdt_margined_isolated_with_tiers_and_fee(side, margin):
    fv, n, ep, mark, fee = 0.01, 300, 40_000, 39_000, 0.0005  # 3 BTC, 120,000 USDT at entry
    s = 1 if side == "long" else -1
    p = pos("BTC/USDT:USDT", contracts=n, contract_size=fv, entry=ep, mark=mark, side=side, mode="isolated",
            margin=margin, tiers=tiers_of(OKX_TABLE), taker=fee)
    r = risk(account("okx", p)).positions[0]
    found = []
    for floor, cap, mmr, cum in OKX_TABLE:
        # M + s·FV·N·(P − EP) = FV·N·P·(MMR + fee) − cum
        lp = (ep - s * (margin + cum) / (fv * n)) / (1 - s * (mmr + fee))
        if lp > 0 and floor <= fv * n * lp < cap:
            found.append(lp)
    assert len(found) == 1
    assert r.liquidation_price == pytest.approx(found[0], rel=1e-12)
    # venue ratio, OKX's sense: (margin balance + UPL) / (FV·|N|·mark·(MMR + fee)) — higher is safer
    mmr, cum = tier_for(OKX_TABLE, fv * n * mark)
    upl = s * fv * n * (mark - ep)
    okx_ratio = (margin + upl) / (fv * n * mark * (mmr + fee) - cum)
    if margin + upl > 0:
        assert r.venue_margin_ratio == pytest.approx(okx_ratio, rel=1e-12)
        assert r.margin_ratio == pytest.approx(1 / okx_ratio, rel=1e-12)
    else:  # the margin is gone: desk's ratio is ∞, OKX's is 0 (never negative)
        assert r.margin_ratio == math.inf and r.venue_margin_ratio == 0.0
    # bankruptcy (§1.3, MMR = cum = 0; OKX keeps no fee at 0 %): M + s·Q·(P − EP) = 0
    assert r.bankruptcy_price == pytest.approx(ep - s * margin / (fv * n), rel=1e-12)


def test_okx_coin_margined_venue_ratio_and_cross_pool_ratio():
    fv, n, ep, mark, m, mmr, fee = 100, 500, 30_000, 28_000, 0.2, 0.004, 0.0005
    iso = pos("BTC/USD:BTC", contracts=n, contract_size=fv, entry=ep, mark=mark, mode="isolated", margin=m,
              mmr=mmr, taker=fee)
    cross = pos("ETH/USD:ETH", contracts=200, contract_size=10, entry=2_000, mark=2_100, side="short",
                mmr=0.01, taker=fee)
    acc = risk(account("okx", iso, cross, ETH=0.3))
    r = by_key(acc, "BTC/USD:BTC")
    upl = fv * n * (1 / ep - 1 / mark)  # long inverse, coin
    okx_ratio = (m + upl) / (fv * n / mark * (mmr + fee))
    assert r.venue_margin_ratio == pytest.approx(okx_ratio, rel=1e-12)
    (pool,) = [pl for pl in acc.pools if pl.settle == "ETH"]
    upl_eth = -200 * 10 * (1 / 2_000 - 1 / 2_100)
    okx_pool = (0.3 + upl_eth) / (200 * 10 / 2_100 * (0.01 + fee))
    assert pool.venue_margin_ratio == pytest.approx(okx_pool, rel=1e-12)
    assert pool.margin_ratio == pytest.approx(1 / okx_pool, rel=1e-12)
    # short coin-margined, §4: LP = (1 − MMR − fee) / (1/EP − M/(FV·N)) with the cross wallet as M
    e = by_key(acc, "ETH/USD:ETH")
    assert e.liquidation_price == pytest.approx((1 - 0.01 - fee) / (1 / 2_000 - 0.3 / (10 * 200)), rel=1e-12)


# ---------------------------------------------------------------- 3. Hyperliquid (§6)

HL_BTC = (Tier(0, math.inf, 0.0, None, 50),)  # MMR = 1/(2·50) = 1 %
HL_ETH = (Tier(0, math.inf, 0.0, None, 25),)  # 2 %


def hl_liq(price: float, side: int, margin_available: float, size: float, lev: float) -> float:
    """Hyperliquid's docs formula: price − side·margin_available/size/(1 − l·side), l = 1/(2·maxLev)."""
    ell = 1 / (2 * lev)
    return price - side * margin_available / size / (1 - ell * side)


def test_hyperliquid_cross_two_positions_docs_formula():
    btc = pos("BTC/USDC:USDC", contracts=2, entry=60_000, mark=58_000, tiers=HL_BTC)
    eth = pos("ETH/USDC:USDC", contracts=30, entry=3_000, mark=3_150, side="short", tiers=HL_ETH)
    wallet = 9_000.0
    acc = risk(account("hyperliquid", btc, eth, USDC=wallet))
    upnl = 2 * (58_000 - 60_000) - 30 * (3_150 - 3_000)
    account_value = wallet + upnl
    mm = 2 * 58_000 * 0.01 + 30 * 3_150 * 0.02
    margin_available = account_value - mm
    assert by_key(acc, "BTC/USDC:USDC").liquidation_price == pytest.approx(
        hl_liq(58_000, 1, margin_available, 2, 50), rel=1e-12)
    assert by_key(acc, "ETH/USDC:USDC").liquidation_price == pytest.approx(
        hl_liq(3_150, -1, margin_available, 30, 25), rel=1e-12)
    (pool,) = acc.pools
    assert pool.maintenance_margin == pytest.approx(mm, rel=1e-12)
    assert pool.margin_ratio == pytest.approx(mm / account_value, rel=1e-12)


@pytest.mark.parametrize("side", ["long", "short"])
def test_hyperliquid_isolated_margin_used_minus_upnl(side):
    s = 1 if side == "long" else -1
    entry, mark, size = 3_000.0, 2_900.0, 10.0
    upnl = s * size * (mark - entry)
    margin_used = 2_500.0  # Hyperliquid's marginUsed includes the uPnL; desk holds marginUsed − uPnL
    p = pos("ETH/USDC:USDC", contracts=size, entry=entry, mark=mark, side=side, mode="isolated",
            margin=margin_used - upnl, tiers=HL_ETH)
    r = risk(account("hyperliquid", p)).positions[0]
    mm = size * mark * 0.02
    assert r.liquidation_price == pytest.approx(hl_liq(mark, s, margin_used - mm, size, 25), rel=1e-12)
    assert r.margin_ratio == pytest.approx(mm / margin_used, rel=1e-12)


# ---------------------------------------------------------------- 4. Bybit (§3.1, §3.3)


@pytest.mark.parametrize("side", ["long", "short"])
def test_bybit_inverse_isolated_tiered_with_added_margin(side):
    # 2024-09 UTA form: LP_long = Qty/[PV + (M − MM)], LP_short = Qty/[PV − (M − MM)], MM on the entry
    # value with the tier of the entry value; M = IM + added margin
    table = ((0, 1, 0.005, 0), (1, math.inf, 0.01, 0.005))
    qty, ep, lev, added = 60_000, 50_000, 10, 0.03
    pv = qty / ep  # 1.2 BTC -> tier 2
    mmr, cum = tier_for(table, pv)
    m = pv / lev + added
    mm = pv * mmr - cum
    p = pos("BTC/USD:BTC", contracts=qty, entry=ep, mark=49_000, side=side, mode="isolated", margin=m,
            tiers=tiers_of(table), leverage=lev)
    r = risk(account("bybit", p)).positions[0]
    expected = qty / (pv + (m - mm)) if side == "long" else qty / (pv - (m - mm))
    assert r.liquidation_price == pytest.approx(expected, rel=1e-12)
    bankrupt = qty / (pv + m) if side == "long" else qty / (pv - m)
    assert r.bankruptcy_price == pytest.approx(bankrupt, rel=1e-12)
    if side == "long":
        assert r.bankruptcy_price < r.liquidation_price
    else:
        assert r.bankruptcy_price > r.liquidation_price


@pytest.mark.parametrize("side", ["long", "short"])
def test_bybit_linear_isolated_tiered_with_extra_margin_and_funding(side):
    # §3.1: LP = EP ∓ (IM − MM)/Q ∓ Extra/Q, MM = PV × MMR − deduction of the tier of PV
    s = 1 if side == "long" else -1
    q, ep, lev = 5.0, 60_000.0, 25
    pv = q * ep  # 300,000 -> BTCUSDT tier 3 (1 %, deduction 1,300)
    mmr, ded = tier_for(BTCUSDT, pv)
    im, extra, funding = pv / lev, 1_500.0, 320.0
    p = pos(contracts=q, entry=ep, mark=61_000, side=side, mode="isolated", margin=im + extra - funding,
            tiers=tiers_of(BTCUSDT), leverage=lev)
    r = risk(account("bybit", p)).positions[0]
    mm = pv * mmr - ded
    assert r.liquidation_price == pytest.approx(ep - s * (im - mm) / q - s * (extra - funding) / q, rel=1e-12)
    assert r.bankruptcy_price == pytest.approx(ep - s * (im + extra - funding) / q, rel=1e-12)
    assert r.maintenance_margin == pytest.approx(mm, rel=1e-12)  # on the entry value, not at the mark


# ---------------------------------------------------------------- 5. Binance isolated hedge mode (§1.1)


def test_binance_isolated_hedge_legs_each_have_their_own_wallet_and_price():
    long = pos(contracts=8, entry=62_000, mark=60_000, leg="long", mode="isolated", margin=30_000,
               tiers=tiers_of(BTCUSDT))
    short = pos(contracts=3, entry=59_000, mark=60_000, side="short", leg="short", mode="isolated",
                margin=4_000, tiers=tiers_of(BTCUSDT))
    other = pos("ETH/USDT:USDT", contracts=100, entry=3_000, mark=2_000, mmr=0.01)  # cross, deep in loss
    acc = risk(account("binanceusdm", long, short, other, USDT=40_000))

    def isolated_lp(q: float, ep: float, wb: float, s: int) -> float:
        found = []
        for floor, cap, mmr, cum in BTCUSDT:
            lp = (wb + cum - s * q * ep) / (q * mmr - s * q)  # §1.1 isolated, one leg
            if lp > 0 and floor <= q * lp < cap:
                found.append(lp)
        assert len(found) == 1
        return found[0]

    lp_long = isolated_lp(8, 62_000, 30_000, 1)
    lp_short = isolated_lp(3, 59_000, 4_000, -1)
    assert by_key(acc, "BTC/USDT:USDT", "long").liquidation_price == pytest.approx(lp_long, rel=1e-12)
    assert by_key(acc, "BTC/USDT:USDT", "short").liquidation_price == pytest.approx(lp_short, rel=1e-12)
    # each leg's ratio is its own
    mmr, cum = tier_for(BTCUSDT, 8 * 60_000)
    assert by_key(acc, "BTC/USDT:USDT", "long").margin_ratio == pytest.approx(
        (8 * 60_000 * mmr - cum) / (30_000 + 8 * (60_000 - 62_000)), rel=1e-12)
    assert by_key(acc, "BTC/USDT:USDT", "long").bankruptcy_price == pytest.approx(62_000 - 30_000 / 8)
    assert by_key(acc, "BTC/USDT:USDT", "short").bankruptcy_price == pytest.approx(59_000 + 4_000 / 3)


# ---------------------------------------------------------------- 6. bankruptcy on every venue (§1.3)

VENUE_CASES = [
    ("binanceusdm", "linear", None), ("binancecoinm", "inverse", None), ("bybit", "linear", 0.00055),
    ("bybit", "inverse", 0.00075), ("okx", "linear", 0.0005), ("okx", "inverse", 0.0005),
    ("gate", "linear", 0.0005), ("hyperliquid", "linear", None), ("kraken", "linear", None),
]


@pytest.mark.parametrize(("venue", "kind", "taker"), VENUE_CASES)
@pytest.mark.parametrize("side", ["long", "short"])
@pytest.mark.parametrize("mode", ["isolated", "cross"])
def test_bankruptcy_price_and_its_order_against_liquidation(venue, kind, taker, side, mode):
    s = 1 if side == "long" else -1
    if kind == "linear":
        symbol, q, cs, ep, mark, margin = "BTC/USDT:USDT", 2.0, 1.0, 50_000.0, 49_000.0, 8_000.0
    else:
        symbol, q, cs, ep, mark, margin = "BTC/USD:BTC", 1_000.0, 100.0, 50_000.0, 49_000.0, 0.3
    tiers = (Tier(0, math.inf, 0.005, 0, 100),)
    p = pos(symbol, contracts=q, contract_size=cs, entry=ep, mark=mark, side=side, mode=mode,
            margin=margin if mode == "isolated" else None, tiers=tiers, taker=taker)
    settle = symbol.partition(":")[2]
    acc = account(venue, p, **({settle: margin} if mode == "cross" else {}))
    r = risk(acc).positions[0]
    # 0 % margin: M + PnL(P) = reserve(P); the reserve is Bybit's fee to close (§3.2, §3.3), else 0
    fee = taker if venue == "bybit" else 0.0
    qty = q * cs
    if kind == "linear":  # M + s·Q·(P − EP) = fee·Q·P
        bk = (ep - s * margin / qty) / (1 - s * fee)
    else:  # M + s·Q·(1/EP − 1/P) = fee·Q/P
        bk = qty * (s + fee) / (margin + s * qty / ep)
    assert r.bankruptcy_price == pytest.approx(bk, rel=1e-12)
    assert r.liquidation_price is not None and r.liquidation_price > 0
    if side == "long":
        assert r.bankruptcy_price < r.liquidation_price < r.mark_price
    else:
        assert r.mark_price < r.liquidation_price < r.bankruptcy_price


# ---------------------------------------------------------------- 7. no liquidation possible (§7.4)


def _no_zero_or_negative_prices(acc: AccountRisk) -> None:
    for p in acc.positions:
        for x in (p.liquidation_price, p.bankruptcy_price, p.distance_to_liquidation):
            assert x is None or (math.isfinite(x) and x > 0)


def test_fully_collateralised_inverse_short_has_no_liquidation_and_an_inverse_long_always_has_one():
    # Short 50,000 USD of BTCUSD with 1.0 BTC (= 50,000 / 50,000): the coin collateral covers the loss
    # at any price (loss → Q/EP as P → ∞): §2 short formula N·CM·(MMR − 1)/(WB + cum − N·CM/EP) ≤ 0
    for mode in ("cross", "isolated"):
        short = pos("BTC/USD:BTC", contracts=500, contract_size=100, entry=50_000, mark=45_000, side="short",
                    mode=mode, margin=1.0 if mode == "isolated" else None, mmr=0.004)
        acc = risk(account("binancecoinm", short, **({"BTC": 1.0} if mode == "cross" else {})))
        r = acc.positions[0]
        assert r.liquidation_price is None and r.bankruptcy_price is None
        assert r.distance_to_liquidation is None
        _no_zero_or_negative_prices(acc)
    # A long in an inverse contract can always be liquidated: the coin loss is unbounded as P → 0,
    # so even a huge wallet only moves the price down (§2 long formula, always positive).
    long = pos("BTC/USD:BTC", contracts=500, contract_size=100, entry=50_000, mmr=0.004)
    r = risk(account("binancecoinm", long, BTC=1_000.0)).positions[0]
    assert r.liquidation_price == pytest.approx(50_000 * 1.004 / (1_000 + 1.0), rel=1e-12)


def test_cross_linear_long_with_a_huge_wallet_has_no_liquidation():
    p = pos(contracts=2, entry=60_000, mark=55_000, tiers=tiers_of(BTCUSDT))
    acc = risk(account("binanceusdm", p, USDT=150_000))  # > Q·EP: LP = (WB + cum − Q·EP)/(Q·MMR − Q) < 0
    r = acc.positions[0]
    assert r.liquidation_price is None and r.bankruptcy_price is None and r.distance_to_liquidation is None
    _no_zero_or_negative_prices(acc)


@pytest.mark.parametrize("kind", ["linear", "inverse"])
def test_cross_hedge_of_equal_size_has_no_bankruptcy_but_its_maintenance_can_still_liquidate(kind):
    # Equal LONG and SHORT legs: the PnL is constant, so no price makes the margin balance 0 (no
    # bankruptcy price). Binance holds maintenance margin on both legs, though, and it grows with the
    # notional (up in price for linear, down for inverse), so the §1.1 / §2 formula has a root.
    if kind == "linear":
        sym, cs, q, el, es, mark, wb = "BTC/USDT:USDT", 1.0, 3.0, 60_000, 61_000, 60_500, 9_000.0
    else:
        sym, cs, q, el, es, mark, wb = "BTC/USD:BTC", 100.0, 1_000.0, 60_000, 61_000, 60_500, 0.1
    legs = [pos(sym, contracts=q, contract_size=cs, entry=el, mark=mark, leg="long", mmr=0.01),
            pos(sym, contracts=q, contract_size=cs, entry=es, mark=mark, side="short", leg="short", mmr=0.01)]
    acc = risk(account("binanceusdm" if kind == "linear" else "binancecoinm", *legs,
                       **{sym.partition(":")[2]: wb}))
    qty = q * cs
    if kind == "linear":  # §1.1: (WB − Q·EP_L + Q·EP_S) / (2·Q·MMR − Q + Q)
        lp = (wb - qty * el + qty * es) / (2 * qty * 0.01)
    else:  # §2: CM·(2·N·MMR + N − N) / (WB + CM·(N/EP_L − N/EP_S))
        lp = 2 * qty * 0.01 / (wb + qty / el - qty / es)
    for r in acc.positions:
        assert r.bankruptcy_price is None
        assert r.liquidation_price == pytest.approx(lp, rel=1e-12)
    _no_zero_or_negative_prices(acc)


# ---------------------------------------------------------------- 8. shock to liquidation


def shock_books() -> list[Account]:
    t = tiers_of(BTCUSDT)
    return [
        account("binanceusdm", pos(contracts=3, entry=60_000, mark=58_000, tiers=t),
                pos("ETH/USDT:USDT", contracts=40, entry=3_000, mark=2_900, mmr=0.01), USDT=30_000),
        account("binanceusdm", pos(contracts=3, entry=60_000, mark=61_000, side="short", tiers=t),
                USDT=25_000),
        coinm_book(),
        account("binancecoinm", pos("BTC/USD:BTC", contracts=2_000, contract_size=100, entry=50_000,
                                    side="short", mmr=0.005), BTC=1.5),  # short inverse: scalar fallback
        account("bybit", pos(contracts=1, entry=20_000, mode="isolated", margin=600, mmr=0.005),
                pos("ETH/USDT:USDT", contracts=10, entry=2_000, side="short", mode="isolated", margin=900,
                    mmr=0.01), USDT=1_000),
        account("okx", pos(contracts=1, entry=20_000, mark=19_500, mmr=0.005, taker=0.0005), USDT=4_000),
        account("hyperliquid", pos("BTC/USDC:USDC", contracts=2, entry=60_000, mark=58_000, tiers=HL_BTC),
                pos("ETH/USDC:USDC", contracts=30, entry=3_000, mark=3_150, side="short", tiers=HL_ETH),
                USDC=20_000),
        # equal hedge legs: constant PnL, only the maintenance margin moves (up with a linear price)
        account("binanceusdm", pos(contracts=3, entry=60_000, mark=60_500, leg="long", mmr=0.01),
                pos(contracts=3, entry=61_000, mark=60_500, side="short", leg="short", mmr=0.01), USDT=1_000),
        account("binancecoinm",
                pos("BTC/USD:BTC", contracts=1_000, contract_size=100, entry=60_000, mark=60_500, leg="long",
                    mmr=0.01),
                pos("BTC/USD:BTC", contracts=1_000, contract_size=100, entry=61_000, mark=60_500,
                    side="short", leg="short", mmr=0.01), BTC=0.1),
    ]


@pytest.mark.parametrize("index", range(len(shock_books())))
def test_applying_the_shock_to_liquidation_puts_the_worst_unit_at_ratio_one(index):
    acc = shock_books()[index]
    before = risk(acc)
    shock = before.shock_to_liquidation
    assert shock is not None and shock != 0.0
    after = compute_risk(apply_what_if(Portfolio((acc,)), shock=shock)).accounts[0]
    assert worst_ratio(after) == pytest.approx(1.0, abs=1e-6)
    # a smaller move of the same sign leaves every unit alive
    half = compute_risk(apply_what_if(Portfolio((acc,)), shock=shock * 0.999)).accounts[0]
    assert worst_ratio(half) < 1.0


def test_shock_sign_convention():
    long_book, short_book = shock_books()[0], shock_books()[1]
    assert risk(long_book).shock_to_liquidation < 0  # every mark lower
    assert risk(short_book).shock_to_liquidation > 0  # every mark higher
    # a one-position linear isolated long: the shock is LP/mark − 1 exactly
    p = pos(contracts=2, entry=50_000, mark=52_000, mode="isolated", margin=10_000, mmr=0.005)
    r = risk(account("binanceusdm", p))
    lp = (10_000 - 2 * 50_000) / (2 * 0.005 - 2)
    assert r.shock_to_liquidation == pytest.approx(lp / 52_000 - 1, abs=1e-12)


# ---------------------------------------------------------------- 9. suggestions on a Binance cross pool


def cross_pool_book(wallet: float) -> Account:
    btc = pos(contracts=6, entry=62_000, mark=60_000, tiers=tiers_of(BTCUSDT))  # 360,000: tier 3
    eth = pos("ETH/USDT:USDT", contracts=50, entry=3_100, mark=3_000, mmr=0.01)
    return account("binanceusdm", btc, eth, USDT=wallet)


def ceil_to(x: float, step: float) -> float:
    """``x`` rounded up to a multiple of ``step`` (how suggestions round: amounts and lots)."""
    return math.ceil(x / step - 1e-9) * step


def test_add_margin_brings_the_cross_pool_to_the_target_rounded_up():
    wallet, target = 16_000.0, 0.3
    mm = (360_000 * 0.01 - 1_300) + 150_000 * 0.01  # 2,300 + 1,500
    balance = wallet + 6 * (60_000 - 62_000) + 50 * (3_000 - 3_100)  # 16,000 − 12,000 − 5,000 = −1,000
    acc = risk(cross_pool_book(wallet), target=target)
    (pool,) = acc.pools
    assert pool.maintenance_margin == pytest.approx(mm, rel=1e-12)
    assert pool.margin_balance == pytest.approx(balance, rel=1e-12)
    add = next(s for s in pool.suggestions if s.action == "add_margin")
    exact = mm / target - balance  # 13,666.67: rounded up at its third significant figure
    assert add.reaches_target and add.step == 100 and add.amount == pytest.approx(ceil_to(exact, 100))
    assert add.amount == pytest.approx(13_700) and add.currency == "USDT"
    topped = add_account_margin(Portfolio((cross_pool_book(wallet),)), "acc", "USDT", add.amount)
    assert compute_risk(topped).accounts[0].pools[0].margin_ratio <= target
    less = add_account_margin(Portfolio((cross_pool_book(wallet),)), "acc", "USDT", add.amount - add.step)
    assert compute_risk(less).accounts[0].pools[0].margin_ratio > target


def test_reduce_size_of_a_cross_position_follows_the_tiers():
    wallet, target = 16_000.0 + 7_000.0, 0.5  # balance 6,000; MM 3,800 -> ratio 0.633
    acc = risk(cross_pool_book(wallet), target=target)
    balance = 6_000.0
    # BTC's MM must fall to R·balance − ETH's MM = 3,000 − 1,500 = 1,500; solve v·MMR − cum = 1,500 in
    # the tier that contains v: tier 3 gives v = 280,000 (inside [250,000, 1,000,000))
    needed = target * balance - 1_500
    found = [(needed + cum) / mmr for floor, cap, mmr, cum in BTCUSDT if floor <= (needed + cum) / mmr < cap]
    assert found == pytest.approx([280_000])
    btc = by_key(acc, "BTC/USDT:USDT")
    red = next(s for s in btc.suggestions if s.action == "reduce_size")
    assert red.reaches_target
    # no lot size given: rounded up at the size's fourth significant figure (0.001 of 6 contracts)
    assert red.step == pytest.approx(0.001)
    assert red.contracts == pytest.approx(ceil_to(6 - found[0] / 60_000, 0.001), abs=1e-12)
    # a target that needs BTC to drop two tiers: MM = 3,000·0.4 − 1,500 = −300 < 0 -> impossible by BTC
    # alone; at R = 0.27: needed = 120 -> tier 1 would be v = 30,000 (0.5 contracts): two tiers down
    acc2 = risk(cross_pool_book(wallet), target=0.27)
    needed2 = 0.27 * balance - 1_500
    v2 = [(needed2 + cum) / mmr for floor, cap, mmr, cum in BTCUSDT if floor <= (needed2 + cum) / mmr < cap]
    assert len(v2) == 1 and v2[0] < 50_000
    red2 = next(s for s in by_key(acc2, "BTC/USDT:USDT").suggestions if s.action == "reduce_size")
    assert red2.contracts == pytest.approx(ceil_to(6 - v2[0] / 60_000, 0.001), abs=1e-12)
    # the pool's own suggestion closes the same fraction of every position: solve by hand too
    (pool,) = acc.pools
    pool_red = next(s for s in pool.suggestions if s.action == "reduce_size")

    def pool_ratio(fraction: float) -> float:
        keep = 1 - fraction
        btc_v = 360_000 * keep
        mmr, cum = tier_for(BTCUSDT, btc_v)
        return (btc_v * mmr - cum + 150_000 * keep * 0.01) / balance

    # in whole tenths of a percent: this fraction reaches the target, a tenth of a percent less does not
    assert pool_ratio(pool_red.fraction) <= target < pool_ratio(pool_red.fraction - 0.001)


def test_reduced_position_booked_at_the_mark_reaches_the_target():
    wallet, target = 23_000.0, 0.5
    acc = cross_pool_book(wallet)
    red = next(s for s in by_key(risk(acc, target=target), "BTC/USDT:USDT").suggestions
               if s.action == "reduce_size")
    # book it by hand: the closed part's PnL goes to the wallet, the rest stays open
    btc, eth = acc.positions

    def booked_ratio(closed: float) -> float:
        realised = closed * (btc.mark_price - btc.entry_price)
        booked = dataclasses.replace(acc, wallets={"USDT": wallet + realised},
                                     positions=(dataclasses.replace(btc, contracts=6 - closed), eth))
        return risk(booked).pools[0].margin_ratio

    assert booked_ratio(red.contracts) <= target < booked_ratio(red.contracts - red.step)


# ---------------------------------------------------------------- 10. Binance cross: a brute-force oracle

LINEAR_SYMBOLS = ("BTC/USDT:USDT", "ETH/USDT:USDT", "SOL/USDT:USDT")
COIN_TABLE_SCALED = tuple((f / 10, c / 10, m, cum / 10) for f, c, m, cum in BTCUSD_COIN)


@st.composite
def binance_cross_books(draw):
    inverse = draw(st.booleans())
    legs = []
    symbols = ("BTC/USD:BTC", "BTC/USD:BTC-261225") if inverse else LINEAR_SYMBOLS
    for symbol in symbols[: draw(st.integers(1, len(symbols)))]:
        entry = draw(st.floats(1_000, 80_000))
        mark = entry * draw(st.floats(0.85, 1.15))
        hedge = draw(st.booleans())
        for leg, side in ((("long", "long"), ("short", "short")) if hedge else (("both", draw(
                st.sampled_from(["long", "short"]))),)):
            e = entry * draw(st.floats(0.95, 1.05))
            if inverse:
                n = float(draw(st.integers(10, 4_000)))
                p = pos(symbol, contracts=n, contract_size=100.0, entry=e, mark=mark, side=side, leg=leg,
                        tiers=tiers_of(COIN_TABLE_SCALED), kind="inverse")
                legs.append(dataclasses.replace(p, settle="BTC"))
            else:
                q = draw(st.floats(5_000, 2_000_000)) / e
                legs.append(pos(symbol, contracts=q, entry=e, mark=mark, side=side, leg=leg,
                                tiers=tiers_of(BTCUSDT)))
    settle = "BTC" if inverse else "USDT"
    value = sum(p.contracts * p.contract_size / p.mark_price if inverse else p.contracts * p.mark_price
                for p in legs)
    wallet = value * draw(st.floats(0.02, 1.5))
    table = COIN_TABLE_SCALED if inverse else BTCUSDT
    return account("binancecoinm" if inverse else "binanceusdm", *legs, **{settle: wallet}), table, inverse


def hand_slack(acc: Account, table, inverse: bool, symbol: str, price: float) -> float:
    """Margin balance − MM of the cross pool with ``symbol`` at ``price`` and the rest at their marks."""
    total = next(iter(acc.wallets.values()))
    for p in acc.positions:
        x = price if p.symbol == symbol else p.mark_price
        s = 1 if p.side.value == "long" else -1
        qty = p.contracts * p.contract_size
        v = qty / x if inverse else qty * x
        pnl = s * qty * (1 / p.entry_price - 1 / x) if inverse else s * qty * (x - p.entry_price)
        mmr, cum = tier_for(table, v)
        total += pnl - (v * mmr - cum)
    return total


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(binance_cross_books())
def test_binance_cross_liquidation_is_the_nearest_root_of_a_hand_written_slack(book):
    acc, table, inverse = book
    report = risk(acc)
    for r in report.positions:
        mark = r.mark_price
        scale = abs(next(iter(acc.wallets.values()))) + sum(
            p.contracts * p.contract_size / p.mark_price if inverse else p.contracts * p.mark_price
            for p in acc.positions)

        def f(x: float, symbol: str = r.symbol) -> float:
            return hand_slack(acc, table, inverse, symbol, x)

        grid = [mark * math.exp(k / 400) for k in range(-1_800, 1_801)]  # e^±4.5: 1/90 to 90 × the mark
        if f(mark) <= 0:
            continue  # already liquidated at the marks: any price is "at or past"
        if r.liquidation_price is None:
            assert all(f(x) > 0 for x in grid), r
            continue
        lp = r.liquidation_price
        assert abs(f(lp)) <= 1e-9 * scale
        # nothing crosses zero closer to the mark than the LP (on either side)
        near = [x for x in grid if abs(x - mark) < abs(lp - mark) * (1 - 1e-6)]
        assert all(f(x) > 0 for x in near)
