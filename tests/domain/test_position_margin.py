"""The position's margin and ROI, as the exchanges' position panels show them, derived by hand."""

from __future__ import annotations

import pytest

from desk.domain.engine import compute_risk
from desk.domain.model import Account, Kind, Leg, MarginMode, Portfolio, Position, Side, Tier
from desk.domain.scalar import compute_risk_scalar

TIERS = (Tier(0.0, 1e12, 0.01, 0.0),)


def _portfolio() -> Portfolio:
    positions = (
        # cross long 0.5 BTC at 60,000, 10×, mark 63,000
        Position(symbol="BTC/USDT:USDT", settle="USDT", kind=Kind.LINEAR, contracts=0.5, side=Side.LONG,
                 entry_price=60_000.0, mark_price=63_000.0, margin_mode=MarginMode.CROSS, leverage=10.0,
                 tiers=TIERS, tick_size=0.1),
        # isolated short 20 SOL at 150, 5×, 700 USDT of margin (100 more than its initial 600), mark 165
        Position(symbol="SOL/USDT:USDT", settle="USDT", kind=Kind.LINEAR, contracts=20.0, side=Side.SHORT,
                 entry_price=150.0, mark_price=165.0, margin_mode=MarginMode.ISOLATED, leverage=5.0,
                 isolated_margin=700.0, tiers=TIERS, tick_size=0.01, leg=Leg.BOTH),
        # isolated long without a leverage: ROI on its isolated margin of 50
        Position(symbol="ETH/USDT:USDT", settle="USDT", kind=Kind.LINEAR, contracts=1.0, side=Side.LONG,
                 entry_price=3_000.0, mark_price=2_990.0, margin_mode=MarginMode.ISOLATED,
                 isolated_margin=50.0, tiers=TIERS, tick_size=0.01),
        # inverse cross long 100 contracts of 100 USD at 50,000, 20×, mark 55,000 (coin-settled)
        Position(symbol="BTC/USD:BTC", settle="BTC", kind=Kind.INVERSE, contracts=100.0, contract_size=100.0,
                 side=Side.LONG, entry_price=50_000.0, mark_price=55_000.0, margin_mode=MarginMode.CROSS,
                 leverage=20.0, tiers=TIERS, tick_size=0.5),
        # cross without a leverage: neither figure is known
        Position(symbol="XRP/USDT:USDT", settle="USDT", kind=Kind.LINEAR, contracts=100.0, side=Side.LONG,
                 entry_price=0.5, mark_price=0.6, margin_mode=MarginMode.CROSS, tiers=TIERS,
                 tick_size=0.0001),
    )
    return Portfolio((Account(name="a", venue="binanceusdm", wallets={"USDT": 10_000.0, "BTC": 1.0},
                              positions=positions),))


def test_margin_and_roi_by_hand() -> None:
    btc, sol, eth, inverse, xrp = compute_risk(_portfolio()).accounts[0].positions
    # cross: initial margin 0.5 × 60,000 ÷ 10 = 3,000; uPnL 0.5 × 3,000 = 1,500; ROI 50 %
    assert btc.position_margin == pytest.approx(3_000.0)
    assert btc.roi == pytest.approx(0.5)
    # isolated: its own 700; ROI on the initial 20 × 150 ÷ 5 = 600: uPnL −20 × 15 = −300 → −50 %
    assert sol.position_margin == pytest.approx(700.0)
    assert sol.roi == pytest.approx(-0.5)
    # no leverage: ROI on the isolated margin, −10 ÷ 50 = −20 %
    assert eth.position_margin == pytest.approx(50.0)
    assert eth.roi == pytest.approx(-0.2)
    # inverse: 100 × 100 ÷ 50,000 = 0.2 BTC at entry, ÷ 20 = 0.01 BTC;
    # uPnL 10,000 × (1/50,000 − 1/55,000) = 0.0181818… BTC → ROI 181.8 %
    assert inverse.position_margin == pytest.approx(0.01)
    assert inverse.roi == pytest.approx(10_000 * (1 / 50_000 - 1 / 55_000) / 0.01)
    assert xrp.position_margin is None and xrp.roi is None


def test_the_scalar_path_reports_the_same_figures() -> None:
    ours = compute_risk(_portfolio()).accounts[0].positions
    theirs = compute_risk_scalar(_portfolio()).accounts[0].positions
    for a, b in zip(ours, theirs, strict=True):
        assert a.position_margin == pytest.approx(b.position_margin)
        assert a.roi == pytest.approx(b.roi)
