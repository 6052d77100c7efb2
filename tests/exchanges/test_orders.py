"""Open orders read from each venue's wire shapes (fake exchange) → the right protection (issue 17).

Per venue: which requests are made (reads only), how each order type maps (plain, stop /
conditional / algo, take-profit, trailing, reduce-only, position-level TP/SL), and the verdict and
loss figures through the engine, each figure derived here from the payload's numbers.
"""

from __future__ import annotations

import json

import pytest

from desk.domain.engine import compute_risk
from desk.domain.model import Portfolio
from desk.domain.protection import OrderKind, OrderSide, Verdict
from desk.exchanges.guard import READ_METHODS
from tests.exchanges.conftest import HL_ADDRESS, read_once


def _risk(account):
    return {p.symbol: p for p in compute_risk(Portfolio((account,))).accounts[0].positions}


def _orders(account, symbol):
    return [o for o in account.orders if o.symbol == symbol]


def test_fetch_open_orders_is_the_only_new_read_and_orders_still_cannot_be_placed():
    assert "fetch_open_orders" in READ_METHODS
    assert not {m for m in READ_METHODS if m.startswith(("create", "cancel", "edit"))}


def test_binance_usdm_plain_and_conditional_orders(fake, keys, make_config):
    snap = read_once(make_config("binanceusdm"), keys.as_secrets())
    acc = snap.account
    paths = fake.paths()
    assert "GET /fapi/v1/openOrders" in paths and "GET /fapi/v1/openAlgoOrders" in paths
    # one read per symbol with a position (weight 1 each), not the all-symbols read Binance weighs 40
    # (ccxt would then hold the next request for 2 s): a whole account read stays under a second
    for path in ("/fapi/v1/openOrders", "/fapi/v1/openAlgoOrders"):
        sent = [r.query for r in fake.requests if r.path == path]
        assert all("signature" in q for q in sent)
        assert sorted(q.get("symbol") for q in sent) == ["BTCUSDT", "ETHUSDT"]

    eth_orders = _orders(acc, "ETH/USDT:USDT")
    limit = next(o for o in eth_orders if o.kind is OrderKind.LIMIT)
    assert (limit.side, limit.contracts, limit.price, limit.reduce_only) == (OrderSide.SELL, 1000, 1500, True)
    stop = next(o for o in eth_orders if o.kind is OrderKind.STOP)
    # closePosition: true → the whole position, reduce-only whatever reduceOnly says
    assert (stop.contracts, stop.trigger_price, stop.reduce_only) == (None, 1200, True)
    assert stop.source == "conditional"
    btc_orders = _orders(acc, "BTC/USDT:USDT")
    trailing = next(o for o in btc_orders if o.kind is OrderKind.TRAILING)
    assert (trailing.contracts, trailing.trailing_rate) == (20, pytest.approx(0.01))  # priceRate "1.0" %
    assert {o.kind for o in btc_orders} == {OrderKind.TRAILING, OrderKind.STOP, OrderKind.TAKE_PROFIT}

    risk = _risk(acc)
    eth = risk["ETH/USDT:USDT"]
    q, mark, taker = 3683.979, 1335.18, acc.positions[0].taker_fee
    assert acc.positions[0].symbol == "ETH/USDT:USDT" and taker is not None
    pr = eth.protection
    assert pr.verdict is Verdict.PROTECTED and pr.effective_stop_price == 1200
    assert pr.stop_fee == pytest.approx(taker * q * 1200)
    assert pr.stop_fill_loss == pytest.approx(q * (mark - 1200) + taker * q * 1200)
    # cross: liquidating ETH at its bankruptcy price (BTC held at its mark) loses the pool's whole
    # margin balance: wallet 1,535,443.01 + uPnL −504,547.45 (portfolio-format.md) = 1,030,895.56
    assert pr.liquidation_loss == pytest.approx(1_030_895.56, abs=0.01)
    assert pr.liquidation_fee is None and "not published" in pr.liquidation_fee_note

    btc = risk["BTC/USDT:USDT"].protection
    # trailing 20 at 31,967.27 × 0.99 fires first, then 40 at 30,000: 60 of 109.488 covered
    assert btc.verdict is Verdict.PARTLY
    assert btc.coverage == pytest.approx(60 / 109.488)
    assert btc.effective_stop_price == pytest.approx(31_967.27 * 0.99)
    assert [o.trigger_price for o in btc.take_profits] == [36_000]


def test_binance_coinm_conditional_stop_on_a_short(fake, keys, make_config):
    acc = read_once(make_config("binancecoinm"), keys.as_secrets()).account
    assert "GET /dapi/v1/openAlgoOrders" in fake.paths()
    risk = _risk(acc)
    eth = risk["ETH/USD:ETH"].protection
    assert eth.verdict is Verdict.PROTECTED
    position = next(p for p in acc.positions if p.symbol == "ETH/USD:ETH")
    n_cs = position.contracts * position.contract_size  # 50 × 10 USD
    assert n_cs == 500
    # a short's coin loss buying back at 3,200 instead of the mark 3,100: 500 × (1/3,100 − 1/3,200) ETH
    assert eth.stop_fill_loss - eth.stop_fee == pytest.approx(500 * (1 / 3100 - 1 / 3200))
    assert eth.stop_fee == pytest.approx(position.taker_fee * 500 / 3200)
    assert risk["BTC/USD:BTC"].protection.verdict is Verdict.UNPROTECTED


def test_bybit_uta_conditional_orders_and_position_tpsl_counted_once(fake, keys, make_config):
    acc = read_once(make_config("bybit"), keys.as_secrets()).account
    realtime = [r for r in fake.requests if r.path == "/v5/order/realtime"]
    assert realtime and all(r.method == "GET" for r in realtime)
    assert "orderFilter" not in realtime[0].query  # plain and conditional orders in one answer
    btc_stops = [o for o in _orders(acc, "BTC/USDT:USDT") if o.kind is OrderKind.STOP]
    # the full-mode StopLoss order (qty 0) and the position's stopLoss 58000 are the same stop
    assert len(btc_stops) == 1 and btc_stops[0].contracts is None and btc_stops[0].trigger_price == 58_000
    eth = _orders(acc, "ETH/USDT:USDT")
    partial = next(o for o in eth if o.kind is OrderKind.STOP)
    assert (partial.side, partial.contracts, partial.trigger_price) == (OrderSide.BUY, 4, 3100)
    assert any(o.kind is OrderKind.LIMIT and o.price == 2600 for o in eth)

    risk = _risk(acc)
    btc = risk["BTC/USDT:USDT"]
    assert btc.liquidation_price < 58_000 and btc.protection.verdict is Verdict.PROTECTED
    short = risk["ETH/USDT:USDT"].protection
    assert short.verdict is Verdict.PARTLY and short.coverage == pytest.approx(0.4)
    taker = next(p for p in acc.positions if p.symbol == "ETH/USDT:USDT").taker_fee
    assert short.stop_fill_loss == pytest.approx(4 * (3100 - 2950) + taker * 4 * 3100)
    assert "Bybit closes at the bankruptcy price" in short.liquidation_fee_note


def test_bybit_classic_position_stop_below_liquidation_can_never_fire(fake, keys, make_config):
    fake.state["bybit"]["account"] = "classic"
    acc = read_once(make_config("bybit"), keys.as_secrets()).account
    (stop,) = _orders(acc, "BTC/USDT:USDT")
    assert (stop.source, stop.kind, stop.trigger_price, stop.contracts) == (
        "position", OrderKind.STOP, 19_500, None)
    risk = _risk(acc)
    btc = risk["BTC/USDT:USDT"]
    assert btc.liquidation_price > 19_500  # the venue says 19,700
    assert btc.protection.verdict is Verdict.BEYOND_LIQUIDATION
    assert risk["BTC/USD:BTC"].protection.verdict is Verdict.UNPROTECTED


def test_okx_plain_and_algo_orders(fake, keys, make_config):
    acc = read_once(make_config("okx"), keys.okx()).account
    algo = [r.query.get("ordType") for r in fake.requests if r.path == "/api/v5/trade/orders-algo-pending"]
    assert sorted(algo) == ["conditional", "move_order_stop", "oco", "trigger"]
    assert "GET /api/v5/trade/orders-pending" in fake.paths()
    risk = _risk(acc)
    linear = risk["BTC/USDT:USDT"].protection
    assert linear.verdict is Verdict.PROTECTED and linear.effective_stop_price == 55_000  # closeFraction 1
    inverse = risk["BTC/USD:BTC"]
    pr = inverse.protection
    # short 50: trailing 10 (callback 1 % → 62,620) fires first, then the OCO's stop-loss 20 at 63,500
    assert pr.verdict is Verdict.PARTLY and pr.coverage == pytest.approx(30 / 50)
    assert pr.effective_stop_price == pytest.approx(62_000 * 1.01)
    assert [o.trigger_price for o in pr.take_profits] == [58_000]  # the OCO's take-profit leg
    assert inverse.liquidation_price > 63_500


def test_hyperliquid_trigger_orders_and_position_tpsl(fake, make_config):
    acc = read_once(make_config("hyperliquid", wallet_address=HL_ADDRESS), {}).account
    bodies = [json.loads(r.body) for r in fake.requests if r.path == "/info"]
    assert {"type": "frontendOpenOrders", "user": HL_ADDRESS} in bodies
    risk = _risk(acc)
    btc = risk["BTC/USDC:USDC"]
    assert btc.protection.verdict is Verdict.PROTECTED  # isPositionTpsl, sz 0: the whole 2 BTC
    # stop-market fills at the trigger: 2 × (62,000 − 36,000) + taker × 2 × 36,000
    taker = next(p for p in acc.positions if p.symbol == "BTC/USDC:USDC").taker_fee
    assert btc.protection.stop_fill_loss == pytest.approx(2 * 26_000 + taker * 2 * 36_000)
    eth = risk["ETH/USDC:USDC"]
    assert eth.liquidation_price < 3300  # short: the buy stop at 3,300 sits past liquidation
    assert eth.protection.verdict is Verdict.BEYOND_LIQUIDATION
    # isolated short 10 ETH: bankruptcy where the margin is gone; loss from the mark = 10 × (BP − 3,100)
    assert eth.protection.liquidation_loss == pytest.approx(10 * (eth.bankruptcy_price - 3100))
    assert [o.trigger_price for o in eth.protection.take_profits] == [2800]


def test_orders_change_with_the_next_read(fake, make_config):
    """Refreshed with the account: a stop cancelled on the venue is gone from the next snapshot."""
    cfg = make_config("hyperliquid", wallet_address=HL_ADDRESS)
    assert _risk(read_once(cfg, {}).account)["BTC/USDC:USDC"].protection.verdict is Verdict.PROTECTED
    orders = fake.state["hyperliquid"]["frontendOpenOrders"][HL_ADDRESS]
    orders[:] = [o for o in orders if o["coin"] != "BTC"]
    assert _risk(read_once(cfg, {}).account)["BTC/USDC:USDC"].protection.verdict is Verdict.UNPROTECTED


@pytest.mark.parametrize(("venue", "wanted"), [
    ("binanceusdm", {"ETH/USDT:USDT": 2, "BTC/USDT:USDT": 2}),  # positionRisk v3 "adl"
    ("bybit", {"BTC/USDT:USDT": 2, "ETH/USDT:USDT": 2}),  # adlRankIndicator
    ("okx", {"BTC/USDT:USDT": 1, "BTC/USD:BTC": 1}),  # adl
    ("hyperliquid", {"BTC/USDC:USDC": None, "ETH/USDC:USDC": None}),  # none published
])
def test_adl_rank_as_the_venue_shows_it(fake, keys, make_config, venue, wanted):
    secrets = {"okx": keys.okx(), "hyperliquid": {}}.get(venue, keys.as_secrets())
    extra = {"wallet_address": HL_ADDRESS} if venue == "hyperliquid" else {}
    acc = read_once(make_config(venue, **extra), secrets).account
    assert {p.symbol: p.adl_rank for p in acc.positions} == wanted
    assert {s: r.adl_rank for s, r in _risk(acc).items()} == wanted


def test_adl_rank_changes_with_the_venue(fake, keys, make_config):
    fake.state["bybit"]["uta"]["positions"][0]["adlRankIndicator"] = 5
    acc = read_once(make_config("bybit"), keys.as_secrets()).account
    assert next(p for p in acc.positions if p.symbol == "BTC/USDT:USDT").adl_rank == 5
