"""The engine against an oracle that shares no code with it (tests/domain/oracle.py).

Generated portfolios: Binance USDⓈ-M (linear) and COIN-M (inverse), Bybit and OKX (both kinds);
one-way and hedge-mode legs, long and short, cross and isolated, tier tables whose floors lie
around the position's notional (so the price walks across tiers), maintenance amounts derived,
given, or given inconsistently (MM jumps at a floor: the engine's non-concave path).
"""

from __future__ import annotations

import math

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from desk.domain.engine import compute_risk
from desk.domain.model import Account, Kind, Leg, MarginMode, Portfolio, Position, Side, Tier
from tests.domain import oracle

KINDS = {"binanceusdm": ("linear",), "binancecoinm": ("inverse",), "bybit": ("linear", "inverse"),
         "okx": ("linear", "inverse")}
#: agreement asked of every price, ratio and shock (both sides bisect to machine precision)
REL_TOL = 1e-9


@st.composite
def tier_table(draw, notional: float, *, steep: bool = False) -> tuple[Tier, ...]:
    n = draw(st.integers(2 if steep else 1, 4))
    if steep:  # low rates at the mark, a steep top tier
        rates = [*sorted(draw(st.lists(st.floats(0.002, 0.02), min_size=n - 1, max_size=n - 1))),
                 draw(st.floats(0.08, 0.15))]
    else:
        rates = sorted(draw(st.lists(st.floats(0.002, 0.15), min_size=n, max_size=n)))
    if n == 1:
        return (Tier(0.0, math.inf, rates[0], 0.0),)
    low, top = (0.5, 1.6) if steep else (0.3, 3.0)  # steep: the upper tiers start within reach of the mark
    multiples = sorted(draw(st.lists(st.floats(low, top), min_size=n - 1, max_size=n - 1, unique=True)))
    floors = [0.0] + [notional * m for m in multiples]
    caps = [*floors[1:], math.inf]
    amounts: list[float | None]
    style = draw(st.sampled_from(["derived", "given", "inconsistent"]))
    if style == "derived":
        amounts = [None] * n
    else:
        cum = [0.0]
        for i in range(1, n):
            cum.append(cum[-1] + floors[i] * (rates[i] - rates[i - 1]))
        if style == "inconsistent":
            cum = [c * draw(st.floats(0.8, 1.2)) for c in cum]
        amounts = list(cum)
    return tuple(Tier(f, c, r, a) for f, c, r, a in zip(floors, caps, rates, amounts, strict=True))


@st.composite
def symbol_positions(draw, coin: str, kind: str, *, cross_pair: bool = False) -> list[Position]:
    """One symbol's legs: one-way, or a hedge pair; ``cross_pair``: a cross hedge pair of nearly equal
    legs with a steep top tier, which (with a small wallet) liquidates on both sides of the mark."""
    symbol = f"{coin}/USDT:USDT" if kind == "linear" else f"{coin}/USD:{coin}"
    settle = "USDT" if kind == "linear" else coin
    entry = draw(st.floats(10, 100_000))
    mark = entry * draw(st.floats(0.8, 1.2))
    contract_size = 1.0 if kind == "linear" else (100.0 if coin == "BTC" else 10.0)
    notional = draw(st.floats(1_000, 2_000_000))  # quote, at the entry
    tiers = draw(tier_table(notional if kind == "linear" else notional / entry, steep=cross_pair))
    taker = draw(st.sampled_from([None, 0.0005, 0.00075]))
    if cross_pair or draw(st.booleans()):
        legs = [(Leg.LONG, Side.LONG), (Leg.SHORT, Side.SHORT)]
        first = 1.0 if cross_pair else draw(st.floats(0.2, 1.0))
        near = cross_pair or draw(st.booleans())
        shares = [first, first * draw(st.floats(0.85, 1.15)) if near else draw(st.floats(0.2, 1.0))]
        spread = 0.02 if near else 0.1
    else:
        legs = [(Leg.BOTH, draw(st.sampled_from([Side.LONG, Side.SHORT])))]
        shares, spread = [draw(st.floats(0.2, 1.0))], 0.1
    out = []
    for (leg, side), share in zip(legs, shares, strict=True):
        leg_entry = entry * draw(st.floats(1 - spread, 1 + spread))
        leg_notional = notional * share
        if kind == "linear":
            contracts = leg_notional / leg_entry
        else:
            contracts = float(max(1, round(leg_notional / contract_size)))
        modes = [MarginMode.CROSS] if cross_pair else [MarginMode.CROSS, MarginMode.ISOLATED]
        mode = draw(st.sampled_from(modes))
        value_at_entry = contracts * contract_size * (leg_entry if kind == "linear" else 1 / leg_entry)
        margin = value_at_entry / draw(st.floats(1.5, 50)) if mode is MarginMode.ISOLATED else None
        out.append(Position(symbol, settle, Kind(kind), contracts, side, leg_entry, mark, mode,
                            contract_size=contract_size, leg=leg, isolated_margin=margin, tiers=tiers,
                            taker_fee=taker))
    return out


@st.composite
def accounts(draw, name: str, *, cross_pair: bool = False) -> Account:
    venue = draw(st.sampled_from(sorted(KINDS)))
    coins = draw(st.lists(st.sampled_from(["BTC", "ETH", "SOL"]), min_size=1, max_size=3, unique=True))
    positions: list[Position] = []
    for i, coin in enumerate(coins):
        kind = draw(st.sampled_from(KINDS[venue]))
        positions += draw(symbol_positions(coin, kind, cross_pair=cross_pair and i == 0))
    wallets: dict[str, float] = {}
    for p in positions:
        if p.margin_mode is MarginMode.CROSS:
            price = p.mark_price if p.kind is Kind.LINEAR else 1 / p.mark_price
            value = p.contracts * p.contract_size * price
            wallets[p.settle] = wallets.get(p.settle, 0.0) + value
    cushion = 10 ** draw(st.floats(-2.0, 0.0))
    wallets = {k: v * cushion for k, v in wallets.items()}
    if cross_pair:
        # just above what the pool needs at the marks (found by the oracle), so it is not
        # liquidated yet and a modest move either way can reach it
        rules = oracle.venue_rules(venue)
        pool = [p for p in positions if p.settle == positions[0].settle and p.margin_mode is MarginMode.CROSS]
        need = sum(oracle.maintenance_at(p, rules, p.mark_price) - oracle.pnl_at(p, p.mark_price)
                   for p in pool)
        extra = sum(oracle.value_at(p, p.mark_price) for p in pool) * 10 ** draw(st.floats(-3.0, -1.0))
        wallets[positions[0].settle] = max(need, 0.0) + extra
    return Account(name, venue, wallets, tuple(positions))


portfolios = st.lists(st.integers(0, 0), min_size=1, max_size=2).flatmap(
    lambda xs: st.tuples(*[accounts(f"a{i}") for i in range(len(xs))])).map(Portfolio)
cross_pair_portfolios = accounts("pair", cross_pair=True).map(lambda a: Portfolio((a,)))


def relative_difference(ours: float | None, oracle_value: float | None) -> float:
    if ours is None or oracle_value is None:
        return 0.0 if ours is oracle_value else math.inf
    if math.isinf(ours) or math.isinf(oracle_value):
        return 0.0 if ours == oracle_value else math.inf
    return abs(ours - oracle_value) / max(abs(oracle_value), 1e-12)


def differences(portfolio: Portfolio) -> dict[str, float]:
    """The largest relative difference of each figure between the engine and the oracle."""
    worst: dict[str, float] = {}

    def note(name: str, ours: float | None, theirs: float | None) -> None:
        worst[name] = max(worst.get(name, 0.0), relative_difference(ours, theirs))

    report = compute_risk(portfolio)
    for account, risk in zip(portfolio.accounts, report.accounts, strict=True):
        note("shock_to_liquidation", risk.shock_to_liquidation, oracle.account_shock(account))
        for p, r in zip(account.positions, risk.positions, strict=True):
            o = oracle.position_figures(account, p)
            for name in ("notional", "unrealized_pnl", "maintenance_margin"):
                note(name, getattr(r, name), getattr(o, name))
            # a balance that nearly cancels its PnL (a position at its bankruptcy price) leaves the
            # ratio only as exact as that cancellation: beyond REL_TOL, compare within its bound,
            # and at any bound both must still say "at or past liquidation" alike
            bound = oracle.unit_ratio_tolerance(oracle.unit_of(account, p))
            difference = relative_difference(r.margin_ratio, o.margin_ratio)
            if bound > REL_TOL:
                same_side = (r.margin_ratio >= 1.0) == (o.margin_ratio >= 1.0)
                difference = 0.0 if same_side and difference <= bound else math.inf
            worst["margin_ratio"] = max(worst.get("margin_ratio", 0.0), difference)
            for name in ("liquidation_price", "bankruptcy_price"):
                ours, theirs = getattr(r, name), getattr(o, name)
                if theirs is None and ours is not None and not oracle.price_in_range(ours, p.mark_price):
                    continue  # beyond the oracle's search (mark × 10^±6): no price a trader meets
                note(name, ours, theirs)
    return worst


def _isolated_short_at_its_bankruptcy_price() -> Portfolio:
    """Found by this test under load: an inverse isolated short whose margin (16.67 SOL) is all but
    cancelled by its loss at the mark — the ratio is ~10^16 on both sides but differs by 29 %,
    which is rounding in the cancellation, not a disagreement."""
    tiers = (Tier(0.0, math.inf, 0.125, 0.0),)

    def inverse(symbol: str, contracts: float, size: float, side: Side, mark: float,
                mode: MarginMode = MarginMode.CROSS, isolated_margin: float | None = None) -> Position:
        return Position(symbol=symbol, settle=symbol.split(":")[1], kind=Kind.INVERSE, contracts=contracts,
                        side=side, entry_price=10.0, mark_price=mark, margin_mode=mode, contract_size=size,
                        tiers=tiers, isolated_margin=isolated_margin)

    positions = (inverse("BTC/USD:BTC", 10.0, 100.0, Side.LONG, 10.0),
                 inverse("ETH/USD:ETH", 100.0, 10.0, Side.LONG, 10.0),
                 inverse("SOL/USD:SOL", 100.0, 10.0, Side.SHORT, 11.999999999999996,
                         MarginMode.ISOLATED, 16.666666666666668))
    return Portfolio((Account("a0", "binancecoinm", {"BTC": 100.0, "ETH": 100.0}, positions),))


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(portfolios)
@example(_isolated_short_at_its_bankruptcy_price())
def test_engine_agrees_with_an_oracle_that_shares_no_code_with_it(portfolio: Portfolio) -> None:
    worst = differences(portfolio)
    assert all(d <= REL_TOL for d in worst.values()), worst


def _pair_dipping_below_before_a_floor() -> Portfolio:
    """A Binance cross hedge pair whose pool slack crosses zero, recovers at a tier floor (the tier-2
    maintenance amount is above the derived one, so MM drops there) and crosses zero again — both
    within one 1 % step of a shock grid. Found by the test below on a full-suite run."""
    tiers = (Tier(0.0, 945.3125, 0.0078125, 0.0), Tier(945.3125, 1500.0, 0.015625, 8.30841064453125),
             Tier(1500.0, math.inf, 0.125, 171.44775390625))
    mark = 9.3359375
    legs = [Position("BTC/USDT:USDT", "USDT", Kind.LINEAR, contracts, side, entry, mark, MarginMode.CROSS,
                     contract_size=1.0, leg=leg, tiers=tiers)
            for contracts, side, entry, leg in ((98.84169884169884, Side.LONG, 10.1171875, Leg.LONG),
                                                (112.5, Side.SHORT, 10.0, Leg.SHORT))]
    return Portfolio((Account("pair", "binanceusdm", {"USDT": 21.33335600649648}, tuple(legs)),))


def test_a_pool_liquidated_before_a_tier_floor_reports_the_first_crossing_not_the_one_after_it() -> None:
    # By hand: PnL = 98.8417·(P − 10.1171875) + 112.5·(10 − P) = 125 − 13.6583·P. Below the long's
    # tier floor (98.8417·P < 945.3125, P < 9.56390) the long is in tier 1, the short (1050 at the
    # mark) in tier 2: slack = 21.3334 + 125 + 8.3084 − (13.6583 + 0.7722 + 1.7578)·P
    # = 154.6418 − 16.1883·P, zero at P = 9.55268 (shock +2.3216 %), inside that segment. At the
    # floor MM drops by 0.92 and the slack jumps from −0.18 to +0.74, reaching zero again at
    # P = 9.60762 (+2.9101 %) — the root a 1 % grid with bisection found.
    portfolio = _pair_dipping_below_before_a_floor()
    balance, long_q, short_q, mark = 21.33335600649648, 98.84169884169884, 112.5, 9.3359375
    fixed = balance - long_q * 10.1171875 + short_q * 10.0 + 8.30841064453125
    slope = long_q - short_q - 0.0078125 * long_q - 0.015625 * short_q
    first_crossing = -fixed / slope / mark - 1.0
    assert first_crossing < 945.3125 / long_q / mark - 1.0  # before the long's tier floor
    shock = compute_risk(portfolio).accounts[0].shock_to_liquidation
    assert shock is not None
    assert abs(shock - first_crossing) <= 1e-12
    assert relative_difference(shock, oracle.account_shock(portfolio.accounts[0])) <= REL_TOL
    assert differences(portfolio)["shock_to_liquidation"] <= REL_TOL


def test_a_linear_position_a_hair_off_its_entry_reports_the_pnl_of_that_hair() -> None:
    # found by the test below with many examples: mark 9.000000000000002 on entry 9.0; PnL is
    # 111.11 × 1.8e-15 = 1.97e-13, while 111.11 × 9.000000000000002 − 1000 rounds to 2.27e-13
    position = Position("ETH/USDT:USDT", "USDT", Kind.LINEAR, 111.11111111111111, Side.LONG, 9.0,
                        9.000000000000002, MarginMode.CROSS)
    portfolio = Portfolio((Account("a", "binanceusdm", {"USDT": 500.0}, (position,)),))
    pnl = compute_risk(portfolio).accounts[0].positions[0].unrealized_pnl
    assert pnl == 111.11111111111111 * (9.000000000000002 - 9.0)
    assert differences(portfolio)["unrealized_pnl"] <= REL_TOL


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cross_pair_portfolios)
@example(_pair_dipping_below_before_a_floor())
def test_cross_hedge_pairs_liquidating_both_ways_agree_with_the_oracle(portfolio: Portfolio) -> None:
    # the nearer of two roots, and the nearer of two shock directions (linear: the engine's Newton
    # path; a short inverse leg: its exact segment-by-segment fallback)
    worst = differences(portfolio)
    assert all(d <= REL_TOL for d in worst.values()), worst


def test_an_inverse_position_a_hair_off_its_entry_reports_the_pnl_of_that_hair() -> None:
    # found by the repeated whole-suite runs: entry 10.999999999999998, mark 11 — N·CS/P − N·CS/EP kept
    # only the rounding of N·CS/P (3e-4 relative off the oracle); N·CS·(EP − P)/(P·EP) is exact there
    for side, leg in ((Side.LONG, Leg.BOTH), (Side.SHORT, Leg.BOTH)):
        p = Position("ETH/USD:ETH", "ETH", Kind.INVERSE, 100.0, side, 10.999999999999998, 11.0,
                     MarginMode.CROSS, 10.0, leg, tiers=(Tier(0.0, math.inf, 0.125, 0.0),))
        portfolio = Portfolio((Account("hair", "binancecoinm", {"ETH": 90.9090909090909}, (p,)),))
        worst = differences(portfolio)
        assert worst["unrealized_pnl"] <= REL_TOL, worst
