"""The risk report ``desk.risk/1`` (design/portfolio-format.md, "Risk report").

The structs declare the document once: :func:`report_to_dict` fills them from a
:class:`desk.domain.report.RiskReport`, and the JSON Schema is generated from them. Numbers are
written at full precision; a figure that is not a finite number (a margin ratio once the margin
balance is gone) is ``null``, and ``liquidatable`` says plainly when the ratio has reached 1.0.

A position also carries ``status`` (``"ok"``, ``"past_liquidation"`` or ``"no_liquidation"``) and
``signed_distance_to_liquidation`` (negative once at or past liquidation). Both were added to
``desk.risk/1`` later and are optional when a document is read, so older reports still load;
:func:`position_status` gives the status of a position read from an older report.

``book`` (added later, optional: absent from older reports and from single-account files) is the
whole book across accounts (:mod:`desk.domain.book`): exposure per underlying, hedges with their
break prices and margin-transfer suggestions, and the book's stress curves.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from typing import Any, BinaryIO, Literal

import msgspec

from desk.domain.book import Book, BookLeg, BookStress, FloatArray, Hedge, Transfer
from desk.domain.finite import finite_or_none
from desk.domain.protection import Order, Protection
from desk.domain.report import (
    AccountRisk,
    FundingDrift,
    PoolRisk,
    PositionRisk,
    RiskReport,
    Suggestion,
    at_or_past_liquidation,
    signed_distance,
)

FORMAT = "desk.risk/1"


class _Doc(msgspec.Struct, gc=False):
    """A part of the document. A document is a tree (no part refers back to another), so the garbage
    collector need not track its parts — 100,000 of them for a 10,000-position book, each then ~4×
    cheaper to make (issue 18)."""


class SuggestionDoc(_Doc, omit_defaults=True):
    action: Literal["add_margin", "reduce_size", "set_leverage"]
    reaches_target: bool
    amount: float | None = None
    currency: str | None = None
    contracts: float | None = None
    fraction: float | None = None
    leverage: float | None = None
    reason: str | None = None
    step: float | None = None  # amount or contracts are a whole number of these
    target_margin_ratio: float | None = None  # the goal reached: ratio at most this
    target_distance: float | None = None  # and distance to liquidation at least this (fraction)
    haircut: float | None = None  # collateral added to an account-wide pool: the share not counted
    moves_with: str | None = None  # the goal's liquidation moves the pool's collateral in this coin too


PositionStatus = Literal["ok", "past_liquidation", "no_liquidation"]


def position_status(doc: PositionDoc) -> PositionStatus:
    """The document's status, derived from ``liquidatable`` and the liquidation price in older reports."""
    return doc.status if doc.status is not None else _status(doc.liquidatable, doc.liquidation_price)


def _status(liquidatable: bool, liquidation_price: float | None) -> PositionStatus:
    if liquidatable:
        return "past_liquidation"
    return "no_liquidation" if liquidation_price is None else "ok"


class CollateralDoc(_Doc):
    """One collateral asset of an account-wide pool (unified-margin.md §6.2), in the pool's unit."""

    asset: str
    amount: float
    equity: float
    price: float
    value: float | None  # after haircut; null where desk cannot recompute the mode
    haircut: float | None


class FundingPayerDoc(_Doc):
    """One cross position's funding in its pool's schedule."""

    symbol: str
    leg: str
    rate: float  # per its interval, a fraction; > 0: longs pay
    interval_hours: float
    first_payment: float  # epoch seconds of its first payment at or after the pool drift's origin
    payment: float  # one payment, settle currency; negative = it receives


class PositionRefDoc(_Doc):
    symbol: str
    leg: str


class PoolFundingLiquidationDoc(_Doc):
    symbol: str
    leg: str
    liquidation_price: float | None


class PoolFundingStepDoc(_Doc):
    hours: float  # the payments due within this many hours of the origin
    paid: float  # net, settle currency; negative = received
    wallet_balance: float
    margin_ratio: float | None  # null once the margin balance is gone
    liquidation_prices: list[PoolFundingLiquidationDoc]  # every cross position of the pool


class PoolFundingDriftDoc(_Doc):
    """Funding's effect on a single-asset cross pool: each cross position pays at its own
    next_funding_time + k × interval, rates and marks held (desk.domain.funding.pool_funding_drift)."""

    origin: float  # epoch seconds the schedule counts from (when the account was read)
    payers: list[FundingPayerDoc]
    unknown: list[PositionRefDoc]  # cross positions whose funding is unknown: they pay nothing here
    after: list[PoolFundingStepDoc]
    liquidation_time: float | None  # epoch seconds of the payment that brings the ratio to 1.0
    hours_to_liquidation: float | None  # null: funding alone never does (the pool receives)
    note: str | None = None


class PoolDoc(_Doc, omit_defaults=True):
    settle: str
    wallet_balance: float
    unrealized_pnl: float
    margin_balance: float | None  # null only where desk cannot recompute the account's mode
    maintenance_margin: float | None
    margin_ratio: float | None  # MM ÷ margin balance; null once the margin balance is ≤ 0
    venue_margin_ratio: float | None  # the venue's own sense (OKX: equity ÷ (MM + fee))
    liquidatable: bool  # margin ratio ≥ 1.0
    suggestions: list[SuggestionDoc]
    # account-wide pools only (unified-margin.md §6.8); omitted for per-settle pools
    pool: Literal["settle", "account"] = "settle"
    mode: str | None = None
    threshold: float = 1.0
    total_equity: float | None = None
    collateral: list[CollateralDoc] = msgspec.field(default_factory=list)
    cannot_recompute: str | None = None
    # added later, optional: funding's effect on a single-asset cross pool; absent without a rate,
    # and on account-wide pools (funding paid from collateral coins is not modelled)
    funding_drift: PoolFundingDriftDoc | None = None


class OrderLevelDoc(_Doc):
    kind: str  # "stop" | "take_profit" | "trailing"
    trigger_price: float | None  # trailing without a reported trigger: the nearest it can be
    contracts: float | None  # null: closes the whole position
    reduce_only: bool
    source: str  # "order", "conditional", "algo", "position" (position TP/SL), "trigger"


class ProtectionDoc(_Doc):
    """Stops against liquidation (issue 17). Losses from the current mark, in the settle currency."""

    verdict: Literal["protected", "partly", "unprotected", "beyond_liquidation", "fires_at_once"]
    summary: str
    coverage: float  # share of the size closed by stops that fire before liquidation
    stop_price: float | None  # the first stop to fire before liquidation
    stops: list[OrderLevelDoc]
    take_profits: list[OrderLevelDoc]
    stop_fill_loss: float | None  # covered size at the stops' triggers + taker fee
    stop_fee: float | None  # null: taker fee unknown
    liquidation_loss: float | None  # whole size at the bankruptcy price (+ published liquidation fee)
    liquidation_fee: float | None  # null: not published / unverified
    liquidation_fee_note: str


class FundingStepDoc(_Doc):
    payments: int
    liquidation_price: float | None  # null: no price liquidates the position after them


class FundingDriftDoc(_Doc):
    """Where funding at ``rate`` moves the liquidation price, every mark held where it is."""

    rate: float  # per funding interval, a fraction; > 0: longs pay
    payment: float  # one payment by this position, settle currency; negative = it receives
    liquidation_after: list[FundingStepDoc]
    payments_to_liquidation: float | None  # null: the position receives funding or pays none


class PositionDoc(_Doc, omit_defaults=True):
    symbol: str
    leg: str
    side: str
    margin_mode: str
    settle: str
    kind: str
    contracts: float
    entry_price: float
    mark_price: float
    leverage: float | None
    notional: float
    unrealized_pnl: float
    maintenance_margin: float | None  # null only where desk cannot recompute the account's mode
    margin_ratio: float | None
    venue_margin_ratio: float | None
    liquidatable: bool
    liquidation_price: float | None
    bankruptcy_price: float | None
    distance_to_liquidation: float | None
    reported_liquidation_price: float | None
    reported_bankruptcy_price: float | None
    suggestions: list[SuggestionDoc]
    # account-wide pools only: liquidation with collateral held at its index (the venue's
    # convention); liquidation_price then moves same-coin collateral with the mark (§6.4)
    liquidation_price_symbol_only: float | None = None
    liquidation_direction: Literal["down", "up"] | None = None
    # added to desk.risk/1 later (absent from older reports): "past_liquidation" once the margin
    # ratio has reached 1.0, "no_liquidation" when no price liquidates the position, else "ok"
    status: PositionStatus | None = None
    # |mark − liquidation| ÷ mark, negative once at or past liquidation
    signed_distance_to_liquidation: float | None = None
    protection: ProtectionDoc | None = None  # null: the account's orders were not read
    adl_rank: int | None = None  # the venue's auto-deleveraging rank as it shows it; null: none given
    # funding (issue 17): the venue's current rate per interval (> 0: longs pay), the epoch seconds
    # of the next payment, the interval; null where the venue or file gives none
    funding_rate: float | None = None
    next_funding_time: float | None = None
    funding_interval_hours: float | None = None
    funding_drift: FundingDriftDoc | None = None  # null: no rate, or not computed for this report


class AccountDoc(_Doc):
    name: str
    venue: str
    rules: str
    generic_rules: bool
    # smallest signed uniform move of all marks (−0.12 = 12 % down) at which a cross pool or an
    # isolated position reaches margin ratio 1.0; null when no move within ±99 % does
    shock_to_liquidation: float | None
    warnings: list[str]
    pools: list[PoolDoc]
    positions: list[PositionDoc]


class WhatIfDoc(_Doc):
    marks: dict[str, float] = msgspec.field(default_factory=dict)
    shock: float | None = None  # fraction: −0.05 = every mark 5 % down
    target: float | None = None


class BookLegDoc(_Doc):
    account: str
    venue: str
    symbol: str  # the ccxt symbol, or the asset of a spot balance
    kind: Literal["linear", "inverse", "spot"]
    side: Literal["long", "short"]
    leg: str
    coin: float  # size in coins of the underlying (inverse: contracts × contract size ÷ mark)
    price: float  # the leg's mark (spot: its price), USD per coin
    usd: float  # coin × price
    liquidation_price: float | None  # the engine's; null for spot or where none exists
    distance_to_liquidation: float | None
    liquidatable: bool


class ExposureDoc(_Doc):
    underlying: str
    long_coin: float
    short_coin: float
    net_coin: float
    long_usd: float
    short_usd: float
    net_usd: float
    legs: list[BookLegDoc]


class TransferDoc(_Doc):
    """Read-only suggestion: move margin so neither leg of the hedge is liquidated within ±move."""

    move: float  # fraction: 0.2 = every mark 20 % up or down
    to_account: str
    currency: str
    amount: float  # in currency
    amount_usd: float
    from_account: str | None  # null: no account of the hedge can spare it — add it from outside
    from_currency: str | None
    from_amount: float | None
    reaches_target: bool
    shortfall_usd: float  # still missing after the transfer (0 when it reaches the target)


class HedgeDoc(_Doc):
    underlying: str
    long: BookLegDoc
    short: BookLegDoc
    hedged_coin: float
    breaks: Literal["long", "short"] | None  # the leg liquidated first; null: neither can be
    break_price: float | None  # that leg's liquidation price, in its own mark
    break_distance: float | None  # |mark − break price| ÷ mark
    naked: str | None  # the leg left unhedged after the break
    text: str
    transfer: TransferDoc | None


class StressPointDoc(_Doc):
    shock: float  # fraction of the mark (beta mode: of BTC's; each asset moves beta × shock)
    pnl_usd: float | None  # the book's change in USD (a loss is negative)
    first_liquidated: str | None  # the margin unit liquidated first on the way from 0 to shock
    liquidated: list[str]  # every unit liquidated on the way
    accounts: dict[str, float | None]  # pnl_usd per account (they sum to pnl_usd)


class BookStressDoc(_Doc):
    mode: Literal["uniform", "beta"]
    betas: dict[str, float]
    points: list[StressPointDoc]


class BookDoc(_Doc):
    """The whole book across every account (added later; present for multi-account files)."""

    move: float
    exposures: list[ExposureDoc]
    hedges: list[HedgeDoc]
    stress: list[BookStressDoc]
    warnings: list[str]


class ReportDoc(_Doc, omit_defaults=True):
    format: Literal["desk.risk/1"]
    as_of: str | None
    what_if: WhatIfDoc
    accounts: list[AccountDoc]
    # added to desk.risk/1 later, optional: the whole book (exposure, hedges, one stress for all)
    book: BookDoc | None = None


# A figure that is not a finite number is written as null, the project's one rule (desk.domain.finite):
# msgspec's JSON encoder writes inf, -inf and nan as null itself (tests/formats/test_report_format.py),
# so a figure goes into its struct as it is and 10,000 positions' figures are not checked one by one.
# Checked here only where null and "absent" differ: a field of an ``omit_defaults`` struct whose
# default is None, omitted when there is no finite figure.
_num = finite_or_none
_ENCODER = msgspec.json.Encoder()


def _suggestion(s: Suggestion) -> SuggestionDoc:
    action: Any = s.action
    return SuggestionDoc(action, s.reaches_target, _num(s.amount), s.currency, _num(s.contracts),
                         _num(s.fraction), _num(s.leverage), s.reason, _num(s.step),
                         _num(s.target_margin_ratio), _num(s.target_distance), _num(s.haircut),
                         s.moves_with)


def _pool(p: PoolRisk) -> PoolDoc:
    return PoolDoc(
        p.settle, p.wallet_balance, p.unrealized_pnl, p.margin_balance, p.maintenance_margin,
        p.margin_ratio, p.venue_margin_ratio,
        p.liquidatable,
        [_suggestion(s) for s in p.suggestions],
        p.pool,  # type: ignore[arg-type]
        p.mode, p.threshold, _num(p.total_equity),
        [CollateralDoc(c.asset, c.amount, c.equity, c.price, c.value, c.haircut) for c in p.collateral],
        p.cannot_recompute,
        _pool_funding_drift(p),
    )


def _pool_funding_drift(p: PoolRisk) -> PoolFundingDriftDoc | None:
    d = p.funding_drift
    if d is None:
        return None
    return PoolFundingDriftDoc(
        d.origin,
        [FundingPayerDoc(f.symbol, f.leg, f.rate, f.interval_hours, f.first_payment, f.payment)
         for f in d.payers],
        [PositionRefDoc(symbol, leg) for symbol, leg in d.unknown],
        [PoolFundingStepDoc(s.hours, s.paid, s.wallet_balance, s.margin_ratio,
                            [PoolFundingLiquidationDoc(symbol, leg, price)
                             for symbol, leg, price in s.liquidation_prices])
         for s in d.after],
        d.liquidation_time, d.hours_to_liquidation, d.note,
    )


def _levels(orders: Sequence[Order], triggers: Sequence[float | None]) -> list[OrderLevelDoc]:
    return [OrderLevelDoc(o.kind.value, t, o.contracts, o.reduce_only, o.source)
            for o, t in zip(orders, triggers, strict=True)]


def _protection(pr: Protection) -> ProtectionDoc:
    verdict: Any = pr.verdict.value
    return ProtectionDoc(verdict, pr.summary, pr.coverage, pr.effective_stop_price,
                         _levels(pr.stops, pr.stop_triggers),
                         _levels(pr.take_profits, [o.trigger_price for o in pr.take_profits]),
                         pr.stop_fill_loss, pr.stop_fee, pr.liquidation_loss, pr.liquidation_fee,
                         pr.liquidation_fee_note)


def _funding_drift(d: FundingDrift) -> FundingDriftDoc:
    return FundingDriftDoc(d.rate, d.payment, [FundingStepDoc(n, price) for n, price in d.liquidation_after],
                           d.payments_to_liquidation)


def _position(p: PositionRisk) -> PositionDoc:
    liquidatable = at_or_past_liquidation(p.margin_ratio)  # p.liquidatable, without the property's call
    liquidation_price = p.liquidation_price
    distance = p.distance_to_liquidation
    suggestions, protection, symbol_only = p.suggestions, p.protection, p.liquidation_price_symbol_only
    # 30 arguments at most: CPython passes more through a list and a tuple (CALL_FUNCTION_EX), which
    # made the 10,000 positions' documents cost twice as much; the last two fields, None for most
    # positions (their default), are set after (issue 18)
    doc = PositionDoc(
        p.symbol, p.leg, p.side, p.margin_mode, p.settle, p.kind, p.contracts, p.entry_price, p.mark_price,
        p.leverage, p.notional, p.unrealized_pnl, p.maintenance_margin, p.margin_ratio, p.venue_margin_ratio,
        liquidatable, liquidation_price, p.bankruptcy_price, distance,
        p.reported_liquidation_price, p.reported_bankruptcy_price,
        [_suggestion(s) for s in suggestions] if suggestions else [],
        None if symbol_only is None else _num(symbol_only),
        p.liquidation_direction,  # type: ignore[arg-type]
        _status(liquidatable, liquidation_price),
        None if distance is None else _num(signed_distance(distance, liquidatable)),
        None if protection is None else _protection(protection),
        p.adl_rank, p.funding_rate, p.next_funding_time,
    )
    interval, drift = p.funding_interval_hours, p.funding_drift
    if interval is not None:
        doc.funding_interval_hours = interval
    if drift is not None:
        doc.funding_drift = _funding_drift(drift)
    return doc


def _account(a: AccountRisk) -> AccountDoc:
    return AccountDoc(
        a.name, a.venue, a.rules, a.generic_rules, a.shock_to_liquidation, list(a.warnings),
        [_pool(p) for p in a.pools], [_position(p) for p in a.positions],
    )


def _what_if(report: RiskReport, what_if: Mapping[str, Any] | None) -> WhatIfDoc:
    if what_if is None:
        pairs = dict(report.what_if)
        marks = {k.removeprefix("mark "): float(v) for k, v in pairs.items() if k.startswith("mark ")}
        shock = float(pairs["shock"]) if "shock" in pairs else None
        target = float(pairs["target"]) if "target" in pairs else None
        return WhatIfDoc(marks, shock, target)
    return WhatIfDoc(
        {str(k): float(v) for k, v in dict(what_if.get("marks") or {}).items()},
        None if what_if.get("shock") is None else float(what_if["shock"]),
        None if what_if.get("target") is None else float(what_if["target"]),
    )


def _leg(leg: BookLeg) -> BookLegDoc:
    kind: Any = leg.kind
    side: Any = leg.side
    return BookLegDoc(leg.account, leg.venue, leg.symbol, kind, side, leg.leg, leg.coin, leg.price, leg.usd,
                      leg.liquidation_price, leg.distance_to_liquidation, leg.liquidatable)


def _transfer(t: Transfer) -> TransferDoc:
    return TransferDoc(t.move, t.to_account, t.currency, t.amount, t.amount_usd, t.source, t.source_currency,
                       t.source_amount, t.reaches, t.shortfall_usd)


def _hedge(h: Hedge, leg_docs: Mapping[int, BookLegDoc]) -> HedgeDoc:
    """``leg_docs``: the exposures' legs made already, by ``id`` of their BookLeg (a hedge's legs are
    among them: each is made once)."""
    breaks: Any = h.breaks
    long, short, survivor, transfer = h.long, h.short, h.survivor, h.transfer
    return HedgeDoc(h.underlying, leg_docs.get(id(long)) or _leg(long),
                    leg_docs.get(id(short)) or _leg(short), h.hedged_coin, breaks, h.break_price,
                    h.break_distance, None if survivor is None else survivor.label, h.text(),
                    None if transfer is None else _transfer(transfer))


def _floats(values: FloatArray) -> list[float]:
    """Every value as a Python float, in one call (what ``float(values[i])`` gives each)."""
    return values.astype(float).tolist()  # type: ignore[no-any-return]


def _stress(s: BookStress) -> BookStressDoc:
    mode: Any = s.mode
    pnl = _floats(s.pnl_usd)
    accounts = {name: _floats(values) for name, values in s.account_pnl_usd.items()}
    points = [
        StressPointDoc(shock, pnl[i], s.first_liquidated[i], list(s.liquidated[i]),
                       {name: values[i] for name, values in accounts.items()})
        for i, shock in enumerate(_floats(s.shocks))
    ]
    return BookStressDoc(mode, dict(s.betas), points)


def book_to_doc(book: Book) -> BookDoc:
    exposures: list[ExposureDoc] = []
    leg_docs: dict[int, BookLegDoc] = {}
    for e in book.exposures:
        legs = [_leg(leg) for leg in e.legs]
        leg_docs.update(zip(map(id, e.legs), legs, strict=True))
        exposures.append(ExposureDoc(e.underlying, e.long_coin, e.short_coin, e.net_coin, e.long_usd,
                                     e.short_usd, e.net_usd, legs))
    return BookDoc(book.move, exposures, [_hedge(h, leg_docs) for h in book.hedges],
                   [_stress(s) for s in book.stress], list(book.warnings))


def report_to_doc(report: RiskReport, *, what_if: Mapping[str, Any] | None = None,
                  book: Book | None = None) -> ReportDoc:
    """The document's structs. A figure that is not finite is still in them: only their JSON has it null."""
    accounts = [_account(a) for a in report.accounts]
    return ReportDoc("desk.risk/1", report.as_of, _what_if(report, what_if), accounts,
                     None if book is None else book_to_doc(book))


def report_to_dict(report: RiskReport, *, what_if: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The ``desk.risk/1`` document as plain JSON-ready data.

    ``what_if`` = ``{"marks": {symbol: price}, "shock": fraction, "target": ratio}`` — the inputs
    applied before the engine ran; without it, ``report.what_if`` pairs (``("mark SYMBOL", price)``,
    ``("shock", fraction)``, ``("target", ratio)``) are used.
    """
    # through JSON, where a figure that is not finite becomes None
    result: dict[str, Any] = msgspec.json.decode(_ENCODER.encode(report_to_doc(report, what_if=what_if)))
    return result


def write_report(out: BinaryIO, report: RiskReport, *, what_if: Mapping[str, Any] | None = None,
                 book: Book | None = None, indent: bool = True) -> None:
    """Write the ``desk.risk/1`` document to ``out`` as JSON, indented by two spaces or
    (``indent=False``) compact, without a final newline: the bytes of ``msgspec.json.encode(doc)``
    (then ``msgspec.json.format(…, indent=2)``), written in parts.

    Why in parts: a 10,000-position report is 21.5 MB of compact JSON and 31.5 MB indented; made
    whole, the text and its indented copy are memory the process must grow by, which costs more
    than encoding it, where parts of a few hundred kilobytes reuse the same memory. The document
    is made whole first (every figure is in it before a byte is written); then its skeleton is
    encoded with each long list's elements left out (:func:`_skeleton`), and the elements are
    encoded slice by slice into their places."""
    doc = report_to_doc(report, what_if=what_if, book=book)
    slices: list[list[Any]] = []
    nonce = os.urandom(8).hex()  # (secrets would load hashlib: 5 ms of every command's start)
    skeleton = _ENCODER.encode(_skeleton(doc, slices, nonce))
    if indent:
        skeleton = msgspec.json.format(skeleton, indent=2)
    pieces = re.split(rb'"\\u0000' + nonce.encode() + rb':(\d+)\\u0000"', skeleton)
    buffer = bytearray()  # written once it holds a megabyte
    chunk = bytearray()
    for k in range(0, len(pieces) - 1, 2):
        literal = pieces[k]
        buffer += literal
        _ENCODER.encode_into(slices[int(pieces[k + 1])], chunk)
        if indent:
            # the slice formatted inside as many lists as the placeholder's line is deep, so that its
            # elements come out indented as they stand in the document: then the brackets cut off
            depth = (len(literal) - literal.rfind(b"\n") - 1) // 2
            formatted = msgspec.json.format(b"[" * (depth - 1) + chunk + b"]" * (depth - 1), indent=2)
            brackets = depth * (depth + 1)  # the lines "[", "  [", … above, and their closing ones below
            buffer += memoryview(formatted)[brackets + 2 * depth:len(formatted) - brackets]
        else:
            buffer += memoryview(chunk)[1:-1]  # the elements, without the list's brackets
        if len(buffer) >= _WRITE_SIZE:
            out.write(buffer)
            buffer.clear()
    buffer += pieces[-1]
    out.write(buffer)


#: a list longer than this is encoded apart from the rest, this many elements at a time
_SLICE = 64
_WRITE_SIZE = 1 << 20


def _skeleton(value: Any, slices: list[list[Any]], nonce: str) -> Any:
    """``value`` (a document struct) with each list of more than :data:`_SLICE` elements replaced
    by placeholders, one per slice of that many elements, the slices put in ``slices``. A
    placeholder is the string "\\0NONCE:INDEX\\0", which JSON writes as
    ``"\\u0000NONCE:INDEX\\u0000"`` and no name or figure of a report is. Structs and short lists
    are walked for long lists within; a long list's elements are not (they are encoded whole). A
    field holding a long list is never its default, so ``omit_defaults`` omits what it omitted."""
    if isinstance(value, list):
        if len(value) > _SLICE:
            marks = []
            for start in range(0, len(value), _SLICE):
                marks.append(f"\0{nonce}:{len(slices)}\0")
                slices.append(value[start:start + _SLICE])
            return marks
        inner = [_skeleton(v, slices, nonce) for v in value]
        return inner if any(a is not b for a, b in zip(inner, value, strict=True)) else value
    if isinstance(value, msgspec.Struct):
        changed = {}
        for name in value.__struct_fields__:
            field = getattr(value, name)
            if isinstance(field, list | msgspec.Struct):
                inner = _skeleton(field, slices, nonce)
                if inner is not field:
                    changed[name] = inner
        return msgspec.structs.replace(value, **changed) if changed else value
    return value
