"""desk.domain.assemble dresses each position by one builder call with every field given by position
(issue 18): each field of the report must come from its own source, and the margin and ROI follow
the exchanges' position panels in every case, including the ones without a leverage or a margin."""

from __future__ import annotations

import dataclasses
import math

from desk.domain.assemble import PositionColumns, assemble_account
from desk.domain.model import Account, Kind, Leg, MarginMode, Position, Reported, Side, Tier
from desk.domain.protection import Order, OrderKind, OrderSide, assess
from desk.domain.report import PositionRisk

TIERS = (Tier(0.0, 1e12, 0.01, 0.0),)
# a stop closing the short: the account's orders were read, so each position gets a verdict
ORDERS = (Order("ETH/USDT:USDT", OrderKind.STOP, OrderSide.BUY, None, trigger_price=2_300.0,
                reduce_only=True),)


def _position(**changes: object) -> Position:
    # a distinct value in every field the report copies, so a field taken from another shows
    base = Position(
        symbol="ETH/USDT:USDT", settle="USDT", kind=Kind.LINEAR, contracts=3.0, side=Side.SHORT,
        entry_price=2_000.0, mark_price=2_100.0, margin_mode=MarginMode.CROSS, leg=Leg.BOTH,
        leverage=7.0, tiers=TIERS, reported=Reported(2_600.5, 2_700.25), tick_size=0.01, adl_rank=3,
        funding_rate=0.0001, next_funding_time=1.7e9, funding_interval_hours=8.0, realized_pnl=-12.5,
    )
    return dataclasses.replace(base, **changes)


def _dress(positions: tuple[Position, ...], venue: str = "okx") -> tuple[PositionRisk, ...]:
    n = len(positions)
    account = Account(name="acct", venue=venue, wallets={"USDT": 10_000.0}, positions=positions,
                      orders=ORDERS)
    columns = PositionColumns([11.0] * n, [-22.0] * n, [33.0] * n, [0.44] * n, [2_555.0] * n,
                              [2_666.0] * n)
    return assemble_account(account, [], columns, None).positions


def test_every_field_of_a_dressed_position_comes_from_its_source() -> None:
    cross = _position()
    isolated = _position(margin_mode=MarginMode.ISOLATED, isolated_margin=950.0, leverage=5.0)
    for p, risk in zip((cross, isolated), _dress((cross, isolated)), strict=True):
        initial = 3.0 * 2_000.0 / p.leverage
        expected = {
            "account": "acct", "symbol": "ETH/USDT:USDT", "leg": "both", "side": "short",
            "margin_mode": p.margin_mode.value, "settle": "USDT", "kind": "linear", "contracts": 3.0,
            "entry_price": 2_000.0, "mark_price": 2_100.0, "leverage": p.leverage, "notional": 11.0,
            "unrealized_pnl": -22.0, "maintenance_margin": 33.0, "margin_ratio": 0.44,
            "liquidation_price": 2_555.0, "bankruptcy_price": 2_666.0,
            "distance_to_liquidation": (2_555.0 - 2_100.0) / 2_100.0,
            "reported_liquidation_price": 2_600.5, "reported_bankruptcy_price": 2_700.25,
            "tick_size": 0.01, "suggestions": (),
            "venue_margin_ratio": 1.0 / 0.44,  # OKX's figure points the other way
            "isolated_margin": p.isolated_margin,
            "position_margin": initial if p.margin_mode is MarginMode.CROSS else 950.0,
            "roi": -22.0 / initial,
            "liquidation_price_symbol_only": None, "liquidation_direction": None,
            "protection": assess(p, ORDERS, 2_555.0, 2_666.0, "okx"),
            "adl_rank": 3, "funding_rate": 0.0001, "next_funding_time": 1.7e9,
            "funding_interval_hours": 8.0, "funding_drift": None, "realized_pnl": -12.5,
        }
        assert [f.name for f in dataclasses.fields(PositionRisk)] == list(expected)
        assert {name: getattr(risk, name) for name in expected} == expected
        assert risk.protection is not None


def test_margin_and_roi_where_the_leverage_or_the_margin_is_missing() -> None:
    positions = (
        # isolated without its margin nor a leverage: margin 0, so no ROI
        _position(margin_mode=MarginMode.ISOLATED, leverage=None),
        # isolated without a leverage: ROI on its margin
        _position(margin_mode=MarginMode.ISOLATED, leverage=None, isolated_margin=40.0),
        # a leverage that is no number of times: neither figure for a cross position
        _position(leverage=math.inf),
        _position(leverage=0.0),
        # inverse: contracts × size ÷ entry, in coin
        _position(kind=Kind.INVERSE, contract_size=100.0, leverage=4.0),
    )
    dressed = _dress(positions, venue="binanceusdm")
    assert [(r.position_margin, r.roi, r.isolated_margin) for r in dressed[:4]] == [
        (0.0, None, 0.0), (40.0, -22.0 / 40.0, 40.0), (None, None, None), (None, None, None)]
    assert dressed[4].position_margin == 300.0 / 2_000.0 / 4.0
    assert dressed[4].roi == -22.0 / (300.0 / 2_000.0 / 4.0)
    assert dressed[0].venue_margin_ratio == 0.44  # binance's figure is desk's
