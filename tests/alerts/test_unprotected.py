"""The "unprotected" alert rule (issue 17): off by default; above N notional, no stop before liquidation."""

from __future__ import annotations

from dataclasses import replace

from desk.domain.alerts import AlertLevel
from desk.domain.model import Kind, MarginMode, Position, Side, Tier
from desk.domain.protection import Order, OrderKind, OrderSide, assess
from desk.services.alerts_config import AlertConfig
from desk.services.alerts_engine import AlertEngine
from desk.store.settings import Settings
from tests.alerts.factory import FakeClock, position, snapshot

# the factory's position: long 1 BTC, mark 58,000, liquidation 40,000, notional 58,000 USDT
BTC = Position("BTC/USDT:USDT", "USDT", Kind.LINEAR, 1.0, Side.LONG, 60_000.0, 58_000.0, MarginMode.ISOLATED,
               isolated_margin=6_000.0, tiers=(Tier(0.0, float("inf"), 0.005),), taker_fee=0.0005)


def _with(orders, **kw):
    p = position(**kw)
    return replace(p, protection=assess(BTC, orders, p.liquidation_price, 39_000.0, "binanceusdm"))


def _stop(trigger):
    return Order("BTC/USDT:USDT", OrderKind.STOP, OrderSide.SELL, None, trigger_price=trigger)


def _engine(limit: float) -> tuple[AlertEngine, FakeClock]:
    clock = FakeClock()
    engine = AlertEngine(AlertConfig(unprotected_notional=limit), clock)
    assert engine.evaluate(snapshot(clock.now, [position()])) == []
    return engine, clock


def _rules(engine, clock, p):
    clock.advance(1.0)
    return [(e.alert.rule, e.alert.level) for e in engine.evaluate(snapshot(clock.now, [p]))]


def test_off_by_default_in_settings_and_read_from_them(tmp_path):
    assert AlertConfig.from_settings(Settings.load()).unprotected_notional == 0.0
    path = tmp_path / "settings.toml"
    s = Settings.load(path)
    s.set("alerts.unprotected_notional", "25000")
    s.save()
    assert AlertConfig.from_settings(Settings.load(path)).unprotected_notional == 25_000.0
    engine, clock = _engine(0.0)
    assert _rules(engine, clock, _with([])) == []


def test_unprotected_position_above_the_notional_warns_and_a_stop_clears_it():
    engine, clock = _engine(50_000.0)
    out = _rules(engine, clock, _with([]))
    assert out == [("unprotected", AlertLevel.WARNING)]
    # a stop beyond liquidation (39,000 < 40,000) protects nothing: still unprotected, no repeat
    assert _rules(engine, clock, _with([_stop(39_000.0)])) == []
    # a stop that fires before liquidation: the condition clears (a recovery)
    cleared = _rules(engine, clock, _with([_stop(45_000.0)]))
    assert cleared == [("recovered", AlertLevel.INFO)]


def test_below_the_notional_or_orders_not_read_no_alert():
    engine, clock = _engine(60_000.0)  # notional 58,000 is below
    assert _rules(engine, clock, _with([])) == []
    engine, clock = _engine(1.0)
    assert _rules(engine, clock, position()) == []  # protection None: orders not read, desk does not know


def test_the_alert_names_the_losses():
    clock = FakeClock()
    engine = AlertEngine(AlertConfig(unprotected_notional=1.0), clock)
    engine.evaluate(snapshot(clock.now, [position()]))
    clock.advance(1.0)
    (e,) = [e for e in engine.evaluate(snapshot(clock.now, [_with([])])) if e.alert.rule == "unprotected"]
    assert e.alert.title == "BTC/USDT:USDT long: unprotected"
    # liquidation at the bankruptcy price 39,000 from the mark 58,000: 1 × 19,000 USDT
    assert "if liquidated: loses 19,000.00 USDT" in e.alert.body
    assert e.alert.value == 58_000.0 and e.alert.threshold == 1.0
