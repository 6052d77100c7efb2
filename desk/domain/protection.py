"""Is the position protected? Its open orders against its liquidation price (issue 17).

A *stop* protects a position when it closes it (opposite side, same symbol and leg) and fires
before the liquidation engine does: for a long, its trigger is above the liquidation price and
below the mark; for a short, the mirror. Orders are read-only facts from the venue; nothing here
places or changes one.

Verdicts, computed once per position by :func:`assess`:

* ``protected`` — the stops that fire before liquidation cover the whole size;
* ``partly`` — they cover ``coverage`` (a fraction) of it; the rest goes to the liquidation engine;
* ``unprotected`` — no stop at all;
* ``beyond_liquidation`` — every stop sits at or past the liquidation price: it can never fire,
  because the position is liquidated first;
* ``fires_at_once`` — a stop is on the wrong side of the mark (above it for a long), so it
  triggers as soon as the venue checks it.

Losses are measured **from the current mark**, in the settle currency (quote for linear, coin for
inverse contracts), positive = money lost:

* stop fill: the covered size closed at the trigger price (a market stop; a stop-limit may not
  fill in a gap) plus the taker fee on the value closed, ``taker × value at the trigger``;
* liquidation: the whole size closed at the bankruptcy price (risk-math.md §1.3, §3.2: the
  liquidated position is closed at the bankruptcy price, so the remaining margin is lost), plus the
  venue's liquidation/clearing fee where it publishes one — see :data:`LIQUIDATION_FEE_RATES`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from desk.domain import display
from desk.domain.model import Kind, Leg, Position, Side


class OrderKind(StrEnum):
    LIMIT = "limit"  # a plain resting order (limit or market); never a stop
    STOP = "stop"  # stop-loss: stop-market or stop-limit, conditional / algo / trigger orders
    TAKE_PROFIT = "take_profit"
    TRAILING = "trailing"  # trailing stop


class OrderSide(StrEnum):
    BUY = "buy"
    SELL = "sell"


@dataclass(frozen=True, slots=True)
class Order:
    """One open order as the venue reports it (read-only).

    ``contracts`` is None when the order closes the whole position whatever its size (Binance
    ``closePosition``, Bybit's position-level TP/SL). ``trigger_price`` is the stop/take-profit
    trigger; ``price`` the limit price of a limit or stop-limit order. A trailing stop whose current
    trigger the venue does not report carries ``trailing_rate`` (callback, as a fraction).
    ``source`` says where it was read: "order", "conditional", "algo", "position" (position-level
    TP/SL fields), "trigger".
    """

    symbol: str
    kind: OrderKind
    side: OrderSide
    contracts: float | None
    trigger_price: float | None = None
    price: float | None = None
    reduce_only: bool = False
    leg: Leg = Leg.BOTH
    trailing_rate: float | None = None
    order_id: str | None = None
    source: str = "order"

    @property
    def whole_position(self) -> bool:
        return self.contracts is None


class Verdict(StrEnum):
    PROTECTED = "protected"
    PARTLY = "partly"
    UNPROTECTED = "unprotected"
    BEYOND_LIQUIDATION = "beyond_liquidation"
    FIRES_AT_ONCE = "fires_at_once"


#: Liquidation / clearance fee as a fraction of the liquidated value, per venue, added to the loss
#: at the bankruptcy price; None = none to add, or no published rate (the note says which).
#: Binance charges a clearance fee on the amount liquidated (risk-math.md §1.3) at rates it does not
#: publish as a table; OKX's liquidation penalty likewise was not found in a first-party source.
#: Bybit charges none beyond the margin: its engine closes the position at the bankruptcy price and
#: what is left of the margin goes to the insurance fund (Bybit Help Center, "Liquidation Process
#: (USDT Contract)"). Hyperliquid has no clearance fee: liquidations are market orders on the book
#: and the remaining collateral is returned; only the backstop (below ⅔ of maintenance margin)
#: takes it all (Hyperliquid docs, "Liquidations"). The loss shown is therefore the margin down to
#: the bankruptcy price: exact for Bybit, the worst case for Hyperliquid, a lower bound for Binance
#: and OKX.
LIQUIDATION_FEE_RATES: Mapping[str, float | None] = {
    "binance": None,
    "binanceusdm": None,
    "binancecoinm": None,
    "bybit": None,
    "okx": None,
    "hyperliquid": None,
    "gate": None,
}

_BINANCE_FEE = "plus Binance's clearance fee on the amount liquidated: rate not published/unverified"
LIQUIDATION_FEE_SOURCE: Mapping[str, str] = {
    "binance": _BINANCE_FEE,
    "binanceusdm": _BINANCE_FEE,
    "binancecoinm": _BINANCE_FEE,
    "bybit": "no fee beyond it: Bybit closes at the bankruptcy price and keeps what is left of the margin",
    "okx": "plus OKX's liquidation penalty: rate not published/unverified",
    "hyperliquid": "the worst case: no clearance fee, and a book liquidation returns what is left",
}


def liquidation_fee_note(venue: str) -> str:
    return LIQUIDATION_FEE_SOURCE.get(venue, "liquidation fee: not published")


@dataclass(frozen=True, slots=True)
class Protection:
    """What protects one position, and what a stop saves against liquidation."""

    verdict: Verdict
    coverage: float  # share of the size closed by stops that fire before liquidation, 0..1
    stops: tuple[Order, ...]  # every closing stop/trailing order, nearest trigger to the mark first
    stop_triggers: tuple[float | None, ...]  # each stop's trigger (trailing: see effective_trigger)
    take_profits: tuple[Order, ...]
    effective_stop_price: float | None  # the first stop that fires before liquidation (nearest the mark)
    stop_fill_loss: float | None  # covered size closed at the stops' triggers, incl. taker fee
    stop_fee: float | None  # the taker fee part of stop_fill_loss; None when the taker fee is unknown
    liquidation_loss: float | None  # whole size at the bankruptcy price (+ published liquidation fee)
    liquidation_fee: float | None  # None: not published / unverified
    liquidation_fee_note: str

    @property
    def summary(self) -> str:
        """One short phrase for reports (the stop price unrounded; surfaces use :func:`verdict_text`)."""
        return verdict_text(self)

    @property
    def label(self) -> str:
        """The verdict in a word or two, for a table column."""
        return _LABELS[self.verdict] if self.verdict is not Verdict.PARTLY else \
            f"partly {display.percent(self.coverage, 0)}"


_LABELS = {
    Verdict.PROTECTED: "protected",
    Verdict.UNPROTECTED: "UNPROTECTED",
    Verdict.BEYOND_LIQUIDATION: "stop beyond liq",
    Verdict.FIRES_AT_ONCE: "stop fires at once",
}


def verdict_text(p: Protection, tick_size: float | None = None) -> str:
    """The verdict in words; the stop price at the symbol's tick when it is known."""
    if p.verdict is Verdict.PROTECTED:
        level = p.effective_stop_price
        stop = display.price(level, tick_size) if tick_size else f"{level:.8g}"
        return f"protected (stop {stop})"
    if p.verdict is Verdict.PARTLY:
        return f"partly protected ({display.percent(p.coverage, 0)} of size)"
    if p.verdict is Verdict.BEYOND_LIQUIDATION:
        return "stop beyond liquidation: can never fire"
    if p.verdict is Verdict.FIRES_AT_ONCE:
        return "stop on the wrong side of the mark: fires at once"
    return "unprotected"


def loss_text(p: Protection, currency: str) -> str:
    """What the stop saves: the stop-fill loss beside the liquidation loss, both from the mark."""
    parts = []
    if p.stop_fill_loss is not None:
        fee = (f"incl. taker fee {display.money(p.stop_fee, currency)}" if p.stop_fee is not None
               else "taker fee unknown, not included")
        parts.append(f"if the stops fill: {_loses(p.stop_fill_loss, currency)} ({fee})")
    if p.liquidation_loss is not None:
        fee = (f"incl. liquidation fee {display.money(p.liquidation_fee, currency)}"
               if p.liquidation_fee is not None else p.liquidation_fee_note)
        parts.append(f"if liquidated: {_loses(p.liquidation_loss, currency)} ({fee})")
    return "; ".join(parts) if parts else "no liquidation price: nothing to compare"


def _loses(loss: float, currency: str) -> str:
    """"loses 12 USDT", or "gains 4 USDT" for a negative loss (the short leg of a hedge pair
    liquidated together with its long, at the pair's bankruptcy price below the mark)."""
    if loss < 0:
        return f"gains {display.money(-loss, currency)}"
    return f"loses {display.money(loss, currency)}"


def closes(order: Order, position: Position) -> bool:
    """The order closes (part of) ``position``: same symbol and leg, opposite side."""
    if order.symbol != position.symbol:
        return False
    if order.leg is not position.leg:  # hedge mode: an order names its leg; one-way: both "both"
        return False
    closing = OrderSide.SELL if position.side is Side.LONG else OrderSide.BUY
    return order.side is closing


def effective_trigger(order: Order, position: Position) -> float | None:
    """The trigger price; for a trailing stop without one, the nearest it can be to the mark
    (``mark × (1 ∓ rate)``: the trail follows the best price since activation, which is at least as
    good as the mark, so the real trigger is no further from liquidation than this)."""
    if order.trigger_price is not None:
        return order.trigger_price
    if order.kind is OrderKind.TRAILING and order.trailing_rate is not None:
        return position.mark_price * (1.0 - position.side.sign * order.trailing_rate)
    return None


def close_loss(position: Position, contracts: float, price: float) -> float:
    """Loss (positive) from closing ``contracts`` at ``price`` instead of at the current mark."""
    s = position.side.sign
    mark = position.mark_price
    if position.kind is Kind.INVERSE:
        # PnL = N × CS × (1/entry − 1/exit) × s: the difference between exit at price and at mark
        return s * contracts * position.contract_size * (1.0 / price - 1.0 / mark)
    return s * contracts * position.contract_size * (mark - price)


def close_value(position: Position, contracts: float, price: float) -> float:
    """The value closed, in settle currency (quote for linear, coin for inverse)."""
    if position.kind is Kind.INVERSE:
        return contracts * position.contract_size / price
    return contracts * position.contract_size * price


def _wrong_side(trigger: float, position: Position) -> bool:
    return trigger >= position.mark_price if position.side is Side.LONG else trigger <= position.mark_price


def _before_liquidation(trigger: float, position: Position, liquidation: float | None) -> bool:
    if liquidation is None:  # nothing to reach first
        return True
    return trigger > liquidation if position.side is Side.LONG else trigger < liquidation


def assess(
    position: Position,
    orders: Iterable[Order],
    liquidation_price: float | None,
    bankruptcy_price: float | None,
    venue: str,
) -> Protection:
    """The verdict and loss figures of ``position`` given its account's open ``orders``."""
    mine = [o for o in orders if closes(o, position)]
    s = position.side.sign
    stops: list[tuple[float, Order]] = []
    unknown: list[Order] = []
    for o in mine:
        if o.kind in (OrderKind.STOP, OrderKind.TRAILING):
            trigger = effective_trigger(o, position)
            if trigger is None or not trigger > 0:
                unknown.append(o)
            else:
                stops.append((trigger, o))
    # nearest the mark first: that one fires first on the way down (long) / up (short)
    stops.sort(key=lambda t: -s * t[0])
    take_profits = tuple(o for o in mine if o.kind is OrderKind.TAKE_PROFIT)

    size = position.contracts
    remaining = size
    fill_loss = 0.0
    fee = 0.0
    taker = position.taker_fee
    first: float | None = None
    wrong = False
    beyond = False
    for trigger, o in stops:
        if _wrong_side(trigger, position):
            wrong = True
            continue
        if not _before_liquidation(trigger, position, liquidation_price):
            beyond = True
            continue
        if remaining <= 0:
            continue
        take = remaining if o.whole_position else min(remaining, float(o.contracts or 0.0))
        if take <= 0:
            continue
        first = trigger if first is None else first
        remaining -= take
        fill_loss += close_loss(position, take, trigger)
        if taker is not None:
            fee += taker * close_value(position, take, trigger)
    covered = size - max(remaining, 0.0)
    coverage = min(max(covered / size, 0.0), 1.0) if size > 0 else 0.0
    if math.isclose(coverage, 1.0, rel_tol=0.0, abs_tol=1e-9):
        coverage = 1.0

    if wrong:
        verdict = Verdict.FIRES_AT_ONCE
    elif coverage >= 1.0:
        verdict = Verdict.PROTECTED
    elif coverage > 0:
        verdict = Verdict.PARTLY
    elif beyond:
        verdict = Verdict.BEYOND_LIQUIDATION
    else:
        verdict = Verdict.UNPROTECTED

    rate = LIQUIDATION_FEE_RATES.get(venue)
    liq_loss: float | None = None
    liq_fee: float | None = None
    if bankruptcy_price is not None and bankruptcy_price > 0:
        liq_loss = close_loss(position, size, bankruptcy_price)
        if rate is not None:
            liq_fee = rate * close_value(position, size, bankruptcy_price)
            liq_loss += liq_fee

    stop_loss = None
    stop_fee = None
    if covered > 0:
        stop_fee = fee if taker is not None else None
        stop_loss = fill_loss + fee
    return Protection(
        verdict=verdict,
        coverage=coverage,
        stops=tuple(o for _, o in stops) + tuple(unknown),
        stop_triggers=tuple(t for t, _ in stops) + (None,) * len(unknown),
        take_profits=take_profits,
        effective_stop_price=first,
        stop_fill_loss=stop_loss,
        stop_fee=stop_fee,
        liquidation_loss=liq_loss,
        liquidation_fee=liq_fee,
        liquidation_fee_note=liquidation_fee_note(venue),
    )


def orders_by_symbol(orders: Sequence[Order] | None) -> dict[str, list[Order]] | None:
    """Group an account's orders once per tick; None (orders not read) stays None."""
    if orders is None:
        return None
    grouped: dict[str, list[Order]] = {}
    for o in orders:
        grouped.setdefault(o.symbol, []).append(o)
    return grouped
