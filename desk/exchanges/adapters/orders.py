"""Open orders, read-only, per venue: plain, stop, take-profit, trailing, reduce-only (issue 17).

Read after the account (same snapshot, same refresh) through the read-only guard: only
``fetch_open_orders`` (GET requests; Hyperliquid's ``POST /info``). The venues' own fields are
read from each order's raw row (ccxt's ``info``), since ccxt's unified ``type`` does not say
whether a trigger order is a stop-loss or a take-profit on every venue:

* Binance USDⓈ-M / COIN-M: ``/openOrders`` (plain; ``type`` STOP/STOP_MARKET, TAKE_PROFIT[_MARKET],
  TRAILING_STOP_MARKET with ``priceRate`` in %) and the conditional ``/openAlgoOrders``
  (``orderType``, ``triggerPrice``); ``closePosition`` = the whole position; ``positionSide`` = leg.
  A Portfolio Margin account's orders live on ``/papi`` (ccxt's ``portfolioMargin`` routes): UM
  ``/papi/v1/um/openOrders`` and ``/papi/v1/um/algo/openAlgoOrders`` (the algo rows of ``/fapi``;
  ``/papi/v1/um/conditional/*`` answers 404 since 2026-04-28), CM ``/papi/v1/cm/openOrders`` and
  ``/papi/v1/cm/conditional/openOrders`` (``strategyType``, ``stopPrice``, ``strategyId``).
* Bybit v5: ``/v5/order/realtime`` returns plain and conditional orders (``stopOrderType``
  StopLoss / TakeProfit / TrailingStop / PartialStopLoss / PartialTakeProfit / Stop with
  ``triggerDirection`` 1 rise, 2 fall), plus the position-level TP/SL fields of each position
  (``stopLoss``, ``takeProfit``, ``trailingStop`` as a price distance), counted once.
* OKX: ``/trade/orders-pending`` (plain) and ``/trade/orders-algo-pending`` for ``conditional``,
  ``oco`` (``slTriggerPx``/``tpTriggerPx``; ``closeFraction`` "1" = the whole position),
  ``move_order_stop`` (trailing: ``moveTriggerPx`` or ``callbackRatio``) and ``trigger``.
* Hyperliquid: ``frontendOpenOrders`` (``orderType`` "Stop Market" / "Take Profit Limit" …,
  ``triggerPx``, ``isPositionTpsl`` with ``sz`` 0 = the whole position; side A = sell, B = buy).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from desk.domain.model import Account, Leg, Position, Side
from desk.domain.protection import Order, OrderKind, OrderSide
from desk.exchanges.adapters.base import ReadResult
from desk.exchanges.adapters.common import num, price_or_none, strip_info
from desk.exchanges.config import ReaderConfig

_BYBIT_PAGE = 50  # /v5/order/realtime answers at most 50 rows a page


def _side(value: Any) -> OrderSide | None:
    text = str(value or "").lower()
    if text in ("buy", "b"):
        return OrderSide.BUY
    if text in ("sell", "a", "s"):
        return OrderSide.SELL
    return None


def _leg(value: Any) -> Leg:
    text = str(value or "").lower()
    return Leg(text) if text in ("long", "short") else Leg.BOTH


def _truthy(value: Any) -> bool:
    return value is True or str(value).lower() == "true"


def _by_direction(side: OrderSide, falling: bool) -> OrderKind:
    """A closing trigger order: selling on a fall / buying on a rise is a stop, else a take-profit."""
    return OrderKind.STOP if (side is OrderSide.SELL) == falling else OrderKind.TAKE_PROFIT


# ---------------------------------------------------------------------------- Binance

_BINANCE_KINDS = {
    "STOP": OrderKind.STOP, "STOP_MARKET": OrderKind.STOP,
    "TAKE_PROFIT": OrderKind.TAKE_PROFIT, "TAKE_PROFIT_MARKET": OrderKind.TAKE_PROFIT,
    "TRAILING_STOP_MARKET": OrderKind.TRAILING,
}


def binance_order(o: Mapping[str, Any], source: str) -> Order | None:
    info = o.get("info") or {}
    side = _side(info.get("side"))
    symbol = o.get("symbol")
    if side is None or not symbol:
        return None
    raw_type = str(info.get("orderType") or info.get("strategyType") or info.get("type") or "").upper()
    kind = _BINANCE_KINDS.get(raw_type, OrderKind.LIMIT)
    whole = _truthy(info.get("closePosition"))
    rate = num(info.get("priceRate"))
    return Order(
        symbol=symbol, kind=kind, side=side,
        contracts=None if whole else num(info.get("origQty") or info.get("quantity")),
        trigger_price=price_or_none(info.get("stopPrice") or info.get("triggerPrice")),
        price=price_or_none(info.get("price")),
        reduce_only=whole or _truthy(info.get("reduceOnly")),
        leg=_leg(info.get("positionSide")),
        trailing_rate=None if rate is None else rate / 100.0,  # Binance's priceRate is in percent
        order_id=str(info.get("orderId") or info.get("algoId") or info.get("strategyId") or "") or None,
        source=source,
    )


# Binance weighs an open-orders read without a symbol 40 (ccxt spaces the next request by 40 × its
# rate limit: 2 s), one with a symbol 1: up to this many symbols with a position, one read per symbol
# is cheaper and keeps a whole account read well under a second.
_BINANCE_PER_SYMBOL_MAX = 20


async def binance_orders(ex: Any, cfg: ReaderConfig, account: Account,
                         portfolio: bool = False) -> tuple[list[Order], dict[str, Any]]:
    """Plain and conditional open orders; a Portfolio Margin account's (``portfolio``) on /papi."""
    route: dict[str, Any] = {"portfolioMargin": True} if portfolio else {}
    symbols = sorted({p.symbol for p in account.positions})
    if len(symbols) <= _BINANCE_PER_SYMBOL_MAX:
        plain, algo = [], []
        for symbol in symbols:
            plain += await ex.fetch_open_orders(symbol, None, None, dict(route))
            algo += await ex.fetch_open_orders(symbol, None, None, dict(route, trigger=True))
    else:
        ex.options["warnOnFetchOpenOrdersWithoutSymbol"] = False  # one request for all symbols
        plain = await ex.fetch_open_orders(None, None, None, dict(route))
        algo = await ex.fetch_open_orders(None, None, None, dict(route, trigger=True))
    orders = [x for o in plain if (x := binance_order(o, "order")) is not None]
    orders += [x for o in algo if (x := binance_order(o, "conditional")) is not None]
    return orders, {"open_orders": [strip_info(o) for o in plain],
                    "algo_orders": [strip_info(o) for o in algo]}


# ---------------------------------------------------------------------------- Bybit

_BYBIT_KINDS = {
    "StopLoss": OrderKind.STOP, "PartialStopLoss": OrderKind.STOP,
    "TakeProfit": OrderKind.TAKE_PROFIT, "PartialTakeProfit": OrderKind.TAKE_PROFIT,
    "TrailingStop": OrderKind.TRAILING,
}


def bybit_order(o: Mapping[str, Any]) -> Order | None:
    info = o.get("info") or {}
    side = _side(info.get("side"))
    symbol = o.get("symbol")
    if side is None or not symbol:
        return None
    stop_type = str(info.get("stopOrderType") or "")
    trigger = price_or_none(info.get("triggerPrice"))
    if stop_type in _BYBIT_KINDS:
        kind = _BYBIT_KINDS[stop_type]
    elif trigger is not None:  # "Stop", "tpslOrder", …: a conditional order; its direction says which
        kind = _by_direction(side, str(info.get("triggerDirection")) == "2")
    else:
        kind = OrderKind.LIMIT
    qty = num(info.get("qty"))
    whole = kind is not OrderKind.LIMIT and (qty is None or qty == 0)  # full-mode TP/SL: qty 0
    legs = {"1": Leg.LONG, "2": Leg.SHORT}
    return Order(
        symbol=symbol, kind=kind, side=side, contracts=None if whole else qty,
        trigger_price=trigger, price=price_or_none(info.get("price")),
        reduce_only=_truthy(info.get("reduceOnly")) or _truthy(info.get("closeOnTrigger")),
        leg=legs.get(str(info.get("positionIdx")), Leg.BOTH),
        order_id=str(info.get("orderId") or "") or None,
        source="order" if kind is OrderKind.LIMIT else "conditional",
    )


def bybit_position_orders(position: Position, info: Mapping[str, Any], listed: list[Order]) -> list[Order]:
    """The TP/SL set on the position itself; skipped where the same level is already listed as an order."""
    closing = OrderSide.SELL if position.side is Side.LONG else OrderSide.BUY
    out: list[Order] = []
    found: list[tuple[OrderKind, float | None]] = [
        (o.kind, o.trigger_price) for o in listed if o.symbol == position.symbol and o.leg is position.leg]
    stop = price_or_none(info.get("stopLoss"))
    take = price_or_none(info.get("takeProfit"))
    trail = price_or_none(info.get("trailingStop"))  # a price distance
    levels = [(OrderKind.STOP, stop), (OrderKind.TAKE_PROFIT, take)]
    if trail is not None:  # the trigger nearest the mark it can be: mark ∓ distance
        levels.append((OrderKind.TRAILING, position.mark_price - position.side.sign * trail))
    for kind, level in levels:
        if level is None:
            continue
        if kind is not OrderKind.TRAILING and (kind, level) in found:
            continue
        if kind is OrderKind.TRAILING and any(k is OrderKind.TRAILING for k, _ in found):
            continue
        out.append(Order(position.symbol, kind, closing, None, trigger_price=level, reduce_only=True,
                         leg=position.leg, source="position"))
    return out


async def bybit_orders(ex: Any, cfg: ReaderConfig, account: Account,
                       raw: Mapping[str, Any]) -> tuple[list[Order], dict[str, Any]]:
    groups: list[dict[str, Any]] = []
    for p in account.positions:
        market = ex.markets.get(p.symbol) or {}
        params: dict[str, Any] = {"settleCoin": p.settle}
        if not market.get("linear"):
            params["subType"] = "inverse"
        if params not in groups:
            groups.append(params)
    rows: list[dict[str, Any]] = []
    for params in groups:
        page = await ex.fetch_open_orders(None, None, _BYBIT_PAGE, dict(params))
        if len(page) >= _BYBIT_PAGE:
            page = await ex.fetch_open_orders(None, None, None, dict(params, paginate=True))
        rows.extend(page)
    orders = [x for o in rows if (x := bybit_order(o)) is not None]
    infos = {(r.get("symbol"), int(num(r.get("positionIdx")) or 0)): r for r in raw.get("positions") or []}
    legs = {Leg.BOTH: 0, Leg.LONG: 1, Leg.SHORT: 2}
    for p in account.positions:
        market_id = (ex.markets.get(p.symbol) or {}).get("id")
        info = infos.get((market_id, legs[p.leg]))
        if info is not None:
            orders += bybit_position_orders(p, info, orders)
    return orders, {"open_orders": [strip_info(o) for o in rows]}


# ---------------------------------------------------------------------------- OKX

_OKX_ALGO_TYPES = ("conditional", "oco", "move_order_stop", "trigger")


def okx_orders_of(o: Mapping[str, Any], marks: Mapping[str, float]) -> list[Order]:
    info = o.get("info") or {}
    side = _side(info.get("side"))
    symbol = o.get("symbol")
    if side is None or not symbol:
        return []
    ord_type = str(info.get("ordType") or "")
    whole = str(info.get("closeFraction") or "") == "1"
    size = None if whole else num(info.get("sz"))
    common = {"symbol": symbol, "side": side, "contracts": size, "leg": _leg(info.get("posSide")),
              "reduce_only": whole or _truthy(info.get("reduceOnly")),
              "order_id": str(info.get("algoId") or info.get("ordId") or "") or None}
    if ord_type in ("conditional", "oco"):
        out = []
        stop = price_or_none(info.get("slTriggerPx"))
        take = price_or_none(info.get("tpTriggerPx"))
        if stop is not None:
            out.append(Order(kind=OrderKind.STOP, trigger_price=stop,
                             price=price_or_none(info.get("slOrdPx")), source="algo", **common))
        if take is not None:
            out.append(Order(kind=OrderKind.TAKE_PROFIT, trigger_price=take,
                             price=price_or_none(info.get("tpOrdPx")), source="algo", **common))
        return out
    if ord_type == "move_order_stop":
        return [Order(kind=OrderKind.TRAILING, trigger_price=price_or_none(info.get("moveTriggerPx")),
                      trailing_rate=num(info.get("callbackRatio")), source="algo", **common)]
    if ord_type == "trigger":
        trigger = price_or_none(info.get("triggerPx"))
        mark = marks.get(symbol)
        if trigger is None or mark is None:
            return []
        return [Order(kind=_by_direction(side, trigger < mark), trigger_price=trigger,
                      price=price_or_none(info.get("orderPx")), source="algo", **common)]
    return [Order(kind=OrderKind.LIMIT, price=price_or_none(info.get("px")), source="order", **common)]


async def okx_orders(ex: Any, cfg: ReaderConfig, account: Account) -> tuple[list[Order], dict[str, Any]]:
    plain = await ex.fetch_open_orders()
    algo: list[Any] = []
    for ord_type in _OKX_ALGO_TYPES:  # the algo endpoint answers one ordType a request
        algo += await ex.fetch_open_orders(None, None, None, {"ordType": ord_type})
    marks = {p.symbol: p.mark_price for p in account.positions}
    orders = [x for o in [*plain, *algo] for x in okx_orders_of(o, marks)]
    return orders, {"open_orders": [strip_info(o) for o in plain],
                    "algo_orders": [strip_info(o) for o in algo]}


# ---------------------------------------------------------------------------- Hyperliquid


def hyperliquid_order(o: Mapping[str, Any]) -> Order | None:
    info = o.get("info") or {}
    side = _side(info.get("side"))
    symbol = o.get("symbol")
    if side is None or not symbol:
        return None
    order_type = str(info.get("orderType") or "")
    if order_type.startswith("Stop"):
        kind = OrderKind.STOP
    elif order_type.startswith("Take Profit"):
        kind = OrderKind.TAKE_PROFIT
    else:
        kind = OrderKind.LIMIT
    size = num(info.get("sz"))
    whole = _truthy(info.get("isPositionTpsl")) and not size
    return Order(symbol=symbol, kind=kind, side=side, contracts=None if whole else size,
                 trigger_price=(price_or_none(info.get("triggerPx")) if _truthy(info.get("isTrigger"))
                                else None),
                 price=price_or_none(info.get("limitPx")), reduce_only=_truthy(info.get("reduceOnly")),
                 order_id=str(info.get("oid") or "") or None,
                 source="trigger" if kind is not OrderKind.LIMIT else "order")


async def hyperliquid_orders(ex: Any, cfg: ReaderConfig,
                             account: Account) -> tuple[list[Order], dict[str, Any]]:
    rows = await ex.fetch_open_orders(None, None, None, {"user": cfg.wallet_address})
    return ([x for o in rows if (x := hyperliquid_order(o)) is not None],
            {"open_orders": [strip_info(o) for o in rows]})


# ---------------------------------------------------------------------------- ADL


def adl_rank(value: Any) -> int | None:
    """The venue's auto-deleveraging rank as it shows it; None when absent or not a small whole number."""
    x = num(value)
    return int(x) if x is not None and x == int(x) and 0 <= x <= 5 else None


# ---------------------------------------------------------------------------- entry

_READERS = ("binanceusdm", "binancecoinm", "bybit", "okx", "hyperliquid")


async def with_orders(venue: str, ex: Any, cfg: ReaderConfig, result: ReadResult) -> ReadResult:
    """``result`` with the account's open orders; unchanged for venues whose orders desk does not read
    (their positions then carry no protection verdict rather than a wrong "unprotected")."""
    account = result.account
    if venue not in _READERS:
        return result
    # an account read through /papi (Portfolio Margin) has its orders there too
    portfolio = "portfolio_account" in result.raw
    if not portfolio and account.margin is not None \
            and account.margin.mode.startswith("binance portfolio margin"):
        # the mode is unknown (neither /papi nor the refusal answered): no verdict rather than one
        # from orders read where they may not live
        return result
    if not account.positions:  # nothing to protect: no requests
        return ReadResult(replace(account, orders=()), result.raw, result.warnings)
    if venue in ("binanceusdm", "binancecoinm"):
        orders, raw = await binance_orders(ex, cfg, account, portfolio)
    elif venue == "bybit":
        orders, raw = await bybit_orders(ex, cfg, account, result.raw)
    elif venue == "okx":
        orders, raw = await okx_orders(ex, cfg, account)
    elif venue == "hyperliquid":
        orders, raw = await hyperliquid_orders(ex, cfg, account)
    else:
        return result
    return ReadResult(replace(account, orders=tuple(orders)), dict(result.raw, orders=raw), result.warnings)
