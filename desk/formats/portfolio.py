"""The portfolio file ``desk.portfolio/1`` (design/portfolio-format.md): read with validation, write.

The msgspec structs below are the single declaration of the file: they validate it, and the JSON
Schema in ``desk/schemas/`` is generated from them. Every error names the account (by name), the
position (by symbol and side or leg) and the field, e.g.
``account "binance-main", position "ETH/USDT:USDT" (long): contracts must be > 0, got -3``.
"""

from __future__ import annotations

import dataclasses
import json
import math
import operator
import re
import types
import typing
from collections.abc import Sequence
from datetime import datetime
from itertools import chain, compress, repeat
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec
import numpy as np

from desk.collector import collector_paused
from desk.domain.building import builder_for
from desk.domain.limits import (
    POSITION_NUMBER_BOUNDS,
    REPORTED_BOUNDS,
    InputError,
    check_portfolio,
    quantities_in_bounds,
)
from desk.domain.model import (
    Account,
    AccountMargin,
    Collateral,
    CollateralTier,
    Kind,
    Leg,
    MarginMode,
    PoolKind,
    Portfolio,
    Position,
    Reported,
    Side,
    SpotBalance,
    Tier,
)
from desk.domain.protection import Order, OrderKind, OrderSide
from desk.sanitize import for_user
from desk.userfile import NotRegularFileError, read_regular

FORMAT = "desk.portfolio/1"

Positive = Annotated[float, msgspec.Meta(gt=0)]
NonNegative = Annotated[float, msgspec.Meta(ge=0)]
Rate = Annotated[float, msgspec.Meta(ge=0, lt=1)]
Name = Annotated[str, msgspec.Meta(min_length=1)]
#: one sentence of what a read could not give; MAX_NOTES of them per account at most
MAX_NOTE = 1000
Note = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_NOTE)]
MAX_NOTES = 100
#: a funding rate per interval, signed (> 0: longs pay); venues cap it far below 100 %
FundingRate = Annotated[float, msgspec.Meta(gt=-1, lt=1)]


class PortfolioError(ValueError):
    """Invalid portfolio input; the message names account, position and field."""

    def __init__(self, message: str, *, account: str | None = None, position: str | None = None,
                 field: str | None = None) -> None:
        super().__init__(message)
        self.account = account
        self.position = position
        self.field = field


class TierDoc(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """One maintenance tier by notional (quote for linear, coin for inverse)."""

    notional_floor: NonNegative
    mmr: Rate
    notional_cap: Positive | None = None  # None: open-ended (the last tier)
    maintenance_amount: NonNegative | None = None  # omitted: derived by the recurrence (risk-math.md §0)
    max_leverage: Positive | None = None


class ReportedDoc(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """What the exchange itself reported, for comparison."""

    liquidation_price: Positive | None = None
    bankruptcy_price: Positive | None = None
    margin_ratio: NonNegative | None = None


class PositionDoc(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    symbol: Name
    kind: Kind
    contracts: Positive
    side: Side
    entry_price: Positive
    margin_mode: MarginMode
    settle: Name | None = None  # default: the symbol's settle suffix ("BTC/USDT:USDT" -> USDT)
    contract_size: Positive = 1.0
    leg: Leg = Leg.BOTH
    mark_price: Positive | None = None  # default: entry_price
    isolated_margin: NonNegative | None = None  # isolated only (required there), excluding unrealized PnL
    leverage: Positive | None = None
    mmr: Rate | None = None  # a single tier, instead of "tiers"
    maintenance_amount: NonNegative | None = None
    tiers: list[TierDoc] | None = None
    taker_fee: Rate | None = None
    tick_size: Positive | None = None
    lot_size: Positive | None = None  # order size step in contracts
    mark_time: float | None = None
    reported: ReportedDoc | None = None
    adl_rank: Annotated[int, msgspec.Meta(ge=0, le=5)] | None = None  # the venue's ADL rank, as it shows it
    funding_rate: FundingRate | None = None  # the current rate per funding interval (> 0: longs pay)
    next_funding_time: NonNegative | None = None  # epoch seconds of the next payment
    funding_interval_hours: Positive | None = None


class OrderDoc(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """One open order (read-only, issue 17). ``contracts`` omitted: it closes the whole position."""

    symbol: Name
    kind: OrderKind
    side: OrderSide
    contracts: Positive | None = None
    trigger_price: Positive | None = None
    price: Positive | None = None
    reduce_only: bool = False
    leg: Leg = Leg.BOTH
    trailing_rate: Rate | None = None  # trailing stop callback, a fraction
    order_id: str | None = None
    source: str = "order"  # "order", "conditional", "algo", "position" (position TP/SL), "trigger"


class SpotDoc(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """A coin in the venue's spot wallet (not margin): the other leg of a basis trade (added later)."""

    asset: Name
    amount: float  # coins held; negative for a spot borrow
    price: Positive | None = None  # USD per coin; default: the mark of this account's position on the asset


class AccountDoc(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    name: Name
    venue: Name
    wallets: dict[str, float] = msgspec.field(default_factory=dict)
    positions: list[PositionDoc] = msgspec.field(default_factory=list)
    reported: dict[str, ReportedDoc] = msgspec.field(default_factory=dict)
    data_time: float | None = None
    spot: list[SpotDoc] = msgspec.field(default_factory=list)
    # open orders; omitted = not read (no protection verdict), [] = read, none open
    orders: list[OrderDoc] | None = None
    # what the read that wrote this account could not give (`desk snapshot`); said again by `desk risk`
    notes: list[Note] = msgspec.field(default_factory=list)


class PortfolioDoc(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    format: Literal["desk.portfolio/1"]
    accounts: list[AccountDoc]
    as_of: str | None = None


# ---------------------------------------------------------------------------- errors


def _position_label(raw: Any) -> str:
    if not isinstance(raw, dict):
        return "position"
    symbol = raw.get("symbol")
    leg = raw.get("leg")
    side = raw.get("side")
    name = f'position "{symbol}"' if isinstance(symbol, str) and not _has_surrogate(symbol) else "position"
    if leg in ("long", "short"):  # only known values: the text may be anything
        return f"{name} ({leg} leg)"
    if side in ("long", "short"):
        return f"{name} ({side})"
    return name


def _where(account: str | None, position: str | None, index: int | None = None) -> str:
    parts = []
    if account is not None:
        parts.append(f'account "{account}"')
    elif index is not None:
        parts.append(f"account #{index + 1}")
    if position is not None:
        parts.append(position)
    return ", ".join(parts)


def _fail(message: str, account: str | None = None, position: str | None = None,
          field: str | None = None) -> PortfolioError:
    where = _where(account, position)
    return PortfolioError(f"{where}: {message}" if where else message,
                          account=account, position=position, field=field)


_PATH_STEP = re.compile(r"\.([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]|\[\.\.\.\]")


def _translate(error: msgspec.ValidationError, raw: Any) -> PortfolioError:
    """Turn msgspec's ``... - at `$.accounts[0].positions[1].contracts``` into a named error."""
    text = str(error)
    reason, _, path = text.partition(" - at `")
    path = path.rstrip("`")
    steps: list[str | int] = []
    for m in _PATH_STEP.finditer(path[1:] if path.startswith("$") else path):
        if m.group(1) is not None:
            steps.append(m.group(1))
        elif m.group(2) is not None:
            steps.append(int(m.group(2)))
    account, position, field, index = _locate(steps, raw)
    node: Any = raw
    for step in steps:
        try:
            node = node[step]
        except (KeyError, IndexError, TypeError):
            node = None
    message = _reason(reason, node, field)
    where = _where(account, position, index if account is None else None)
    full = f"{where}: {message}" if where else message
    return PortfolioError(full, account=account, position=position, field=field)


def _locate(steps: Sequence[str | int], raw: Any) -> tuple[str | None, str | None, str | None, int | None]:
    """(account name, position label, field, account index) of a path into the document.

    The account is named when its name is a clean string, else ``None`` with its index.
    """
    account: str | None = None
    position: str | None = None
    node: Any = raw
    trail: list[str] = []
    account_index: int | None = None
    for i, step in enumerate(steps):
        prev = steps[i - 1] if i else None
        try:
            node = node[step]
        except (KeyError, IndexError, TypeError):
            node = None
        if prev == "accounts" and isinstance(step, int):
            account_index = step
            name = node.get("name") if isinstance(node, dict) else None
            account = name if isinstance(name, str) and name and not _has_surrogate(name) else None
            trail = []
        elif prev == "positions" and isinstance(step, int):
            position = _position_label(node)
            if position == "position":
                position = f"position #{step + 1}"
            trail = []
        elif isinstance(step, str):
            trail.append(step if not _has_surrogate(step) else ascii(step)[1:-1])
        else:
            trail.append(f"[{step}]")
    field = ".".join(trail).replace(".[", "[") or None
    return account, position, field, account_index


def _reason(reason: str, value: Any, field: str | None) -> str:
    subject = field or "the document"
    m = re.match(r"Object missing required field `(\w+)`", reason)
    if m:
        return f'{(field + ": ") if field else ""}missing required field "{m.group(1)}"'
    m = re.match(r"Object contains unknown field `(\w+)`", reason)
    if m:
        return f'{(field + ": ") if field else ""}unknown field "{m.group(1)}"'
    if isinstance(value, float) and not math.isfinite(value):
        return f"{subject} must be a finite number, got {value}"
    m = re.match(r"Expected `\w+` (>=|>|<=|<) (\S+)", reason)
    if m:
        bound = m.group(2).removesuffix(".0")
        return f"{subject} must be {m.group(1)} {bound}, got {value!r}"
    m = re.match(r"Invalid enum value (.+)", reason)
    if m:
        return f"{subject} has an unknown value {m.group(1)}; expected one of {_choices(field)}"
    m = re.match(r"Expected `(.+?)`, got `(\w+)`", reason)
    if m:
        expected = m.group(1).replace("float", "a number").replace("str", "a string")
        expected = expected.replace("object", "an object").replace("array", "a list")
        return f"{subject} must be {expected}, got {_shown(value)}"
    if reason.startswith("Expected `str` of length"):
        return f"{subject} must not be empty"
    return f"{subject}: {reason}"


def _choices(field: str | None) -> str:
    last = (field or "").split(".")[-1]
    enum: Any = {"kind": Kind, "side": Side, "leg": Leg, "margin_mode": MarginMode}.get(last)
    if "orders[" in (field or ""):  # an order's kind and side have their own values
        enum = {"kind": OrderKind, "side": OrderSide}.get(last, enum)
    if enum is None:
        if last == "format":
            return f'"{FORMAT}"'
        return "the documented values"
    return ", ".join(f'"{v.value}"' for v in enum)


# ---------------------------------------------------------------------------- reading


#: the largest portfolio file read: 10,000 positions with 10-tier tables are about 23 MB (indented)
MAX_BYTES = 64 * 1024 * 1024
#: the deepest nesting read ([ and {); a desk.portfolio/1 document is at most 6 levels deep (a tier)
MAX_DEPTH = 64
#: the longest text read (names, symbols, currencies, times are far shorter)
MAX_TEXT = 1000
#: integers longer than this are read as floats (then range-checked), never as huge ints
_MAX_INT_DIGITS = 20


def _too_big(size: int, label: str) -> PortfolioError:
    return PortfolioError(f"{label} is {size / 1e6:,.1f} MB; a portfolio file may be at most "
                          f"{MAX_BYTES // (1024 * 1024)} MiB (about 25,000 positions with full tier tables)")


def _read_bytes(source: Path | str | bytes) -> tuple[bytes, str]:
    """The file's bytes: a regular file only (a FIFO, a device or a directory is refused before any
    read could block or run forever), at most :data:`MAX_BYTES`."""
    if isinstance(source, bytes):
        if len(source) > MAX_BYTES:
            raise _too_big(len(source), "the portfolio")
        return source, "the portfolio"
    path = Path(source)
    try:
        data = read_regular(path, MAX_BYTES)
    except FileNotFoundError:
        raise PortfolioError(f"{path}: no such file") from None
    except NotRegularFileError as exc:
        raise PortfolioError(f"{path}: is {exc.kind}, not a portfolio file; save the portfolio as a "
                             "desk.portfolio/1 JSON file and give its path") from None
    except OSError as exc:
        raise PortfolioError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    if len(data) > MAX_BYTES:
        raise _too_big(len(data), str(path))
    return data, str(path)


def _int_or_float(text: str) -> int | float:
    # a 100,000-digit integer would stall int() (or hit its digit limit); as a float it is inf or
    # a large number, and the range checks name the field
    return int(text) if len(text) <= _MAX_INT_DIGITS else float(text)


def _decode(data: bytes, label: str) -> Any:
    """Strict UTF-8 JSON, nested at most :data:`MAX_DEPTH` deep, with no lone surrogate in any text."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise PortfolioError(f"{label} is not UTF-8 text: byte {exc.start + 1} (line {line}) is "
                             f"0x{data[exc.start]:02x}; save the file as UTF-8") from None
    text = text.removeprefix("\ufeff")  # a byte-order mark some editors write
    try:
        raw = json.loads(text, parse_int=_int_or_float, object_pairs_hook=_object)
    except RecursionError:
        raise _too_deep(label) from None
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno} column {exc.colno}"
        raise PortfolioError(f"{label} is not valid JSON: {exc.msg} at {where}") from None
    _check_tree(raw, label)
    return raw


class _Duplicated(dict[str, Any]):
    """An object in which ``key`` appeared twice (plain JSON would keep the last one silently)."""

    key: str


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) == len(pairs):
        return obj
    flagged = _Duplicated(obj)
    seen: set[str] = set()
    for key, _ in pairs:
        if key in seen:
            flagged.key = key
            break
        seen.add(key)
    return flagged


def _too_deep(label: str) -> PortfolioError:
    return PortfolioError(f"{label} is nested more than {MAX_DEPTH} levels deep ([ and {{ inside each "
                          "other); a desk.portfolio/1 document is at most 6 levels deep — this is not a "
                          "portfolio")


def _check_tree(raw: Any, label: str) -> None:
    """Depth and text of every node, without recursion: a lone surrogate (``"\\ud800"``) is valid JSON
    but no character, and would fail only when printed, after part of the report."""
    stack: list[tuple[Any, int]] = [(raw, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise _too_deep(label)
        if isinstance(node, dict):
            if type(node) is _Duplicated:
                _explain_bad_text(raw, label)
            for key, value in node.items():
                if _bad_text(key):
                    _explain_bad_text(raw, label)
                if isinstance(value, str):
                    if _bad_text(value):
                        _explain_bad_text(raw, label)
                elif isinstance(value, dict | list):
                    stack.append((value, depth + 1))
        elif isinstance(node, list):
            for value in node:
                if isinstance(value, str):
                    if _bad_text(value):
                        _explain_bad_text(raw, label)
                elif isinstance(value, dict | list):
                    stack.append((value, depth + 1))
        elif isinstance(node, str) and _bad_text(node):
            _explain_bad_text(raw, label)


def _bad_text(text: str) -> bool:
    return len(text) > MAX_TEXT or (not text.isascii() and _has_surrogate(text))


def _explain_bad_text(raw: Any, label: str) -> None:
    """Find what :func:`_check_tree` found bad (a text, a repeated key) again, now with its path, and
    raise a named error."""
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(raw, ())]
    while stack:
        node, path = stack.pop()
        if isinstance(node, str):
            _check_text(node, path, raw, label)
        elif isinstance(node, dict):
            if isinstance(node, _Duplicated):
                _check_text(node.key, (*path, node.key), raw, label, is_key=True)
                account, position, field, index = _locate(path, raw)
                where = _where(account, position, index if account is None else None)
                message = (f"{(field + ': ') if field else ''}the key {_shown(node.key)} appears twice; "
                           "keep one (the file would otherwise silently mean the last)")
                raise PortfolioError(f"{where}: {message}" if where else f"{label}: {message}",
                                     account=account, position=position, field=field)
            for key, value in node.items():
                _check_text(key, (*path, key), raw, label, is_key=True)
                stack.append((value, (*path, key)))
        elif isinstance(node, list):
            stack.extend((value, (*path, i)) for i, value in enumerate(node))
    raise AssertionError("_check_tree found a bad text that is not there")  # pragma: no cover


def _has_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _check_text(text: str, path: tuple[str | int, ...], raw: Any, label: str, *,
                is_key: bool = False) -> None:
    if len(text) > MAX_TEXT:
        account, position, field, index = _locate(path if not is_key else path[:-1], raw)
        what = "a key" if is_key else (field or "a text")
        message = f"{what} is {len(text):,} characters long; a text in a portfolio is at most {MAX_TEXT:,}"
        where = _where(account, position, index if account is None else None)
        raise PortfolioError(f"{where}: {message}" if where else f"{label}: {message}",
                             account=account, position=position, field=field)
    if not _has_surrogate(text):
        return
    bad = next(c for c in text if 0xD800 <= ord(c) <= 0xDFFF)
    account, position, field, index = _locate(path if not is_key else path[:-1], raw)
    what = f'the key "{ascii(text)[1:-1]}"' if is_key else (field or "a text")
    message = (f"{what} holds a lone UTF-16 surrogate (\\u{ord(bad):04x}), which is not a character; "
               "fix that \\u escape in the file")
    where = _where(account, position, index if account is None else None)
    raise PortfolioError(f"{where}: {message}" if where else f"{label}: {message}",
                         account=account, position=position, field=field)


def load_portfolio(source: Path | str | bytes) -> Portfolio:
    """Read and validate a ``desk.portfolio/1`` document (a path, or the JSON bytes).

    Raises :class:`PortfolioError` naming the account, position and field that is wrong.
    """
    data, label = _read_bytes(source)
    portfolio = _load_fast(data)
    return portfolio if portfolio is not None else _load_careful(data, label)


def _load_careful(data: bytes, label: str) -> Portfolio:
    """The careful path: the generic tree checked node by node, then validated; names any error."""
    raw = _decode(data, label)
    if not isinstance(raw, dict):
        raise PortfolioError(f"{label} must hold a JSON object with \"format\": \"{FORMAT}\"")
    if raw.get("format") == FORMAT_V2:
        return _load_v2(raw)
    if raw.get("format") != FORMAT:
        raise PortfolioError(f'{label}: "format" must be "{FORMAT}" or "{FORMAT_V2}", '
                             f'got {_shown(raw.get("format"))}',
                             field="format")
    try:
        doc = msgspec.convert(raw, PortfolioDoc)
    except msgspec.ValidationError as exc:
        raise _translate(exc, raw) from None
    return portfolio_from_doc(doc)


def _shown(value: Any) -> str:
    """A JSON value for an error message, cut short (a file may hold a 60 MB string)."""
    text = json.dumps(value) if isinstance(value, str | int | float | bool | None) else type(value).__name__
    return text if len(text) <= 80 else text[:77] + "..."


def _settle_suffix(symbol: str) -> str | None:
    _, sep, suffix = symbol.partition(":")
    if not sep:
        return None
    return suffix.split("-")[0] or None  # "BTC/USD:BTC-251226" (dated futures) -> BTC


def _finite(value: float | None, field: str, account: str, position: str | None = None) -> None:
    if value is not None and not math.isfinite(value):
        raise _fail(f"{field} must be a finite number, got {value}", account, position, field)


def _tiers(doc: PositionDoc, account: str, label: str) -> tuple[Tier, ...]:
    if doc.tiers is not None and (doc.mmr is not None or doc.maintenance_amount is not None):
        raise _fail('give either "tiers" or "mmr" (with an optional "maintenance_amount"), not both',
                    account, label, "tiers")
    if doc.tiers is None:
        if doc.mmr is None:
            if doc.maintenance_amount is not None:
                raise _fail('"maintenance_amount" needs "mmr"', account, label, "mmr")
            raise _fail('a maintenance rate is required: give "mmr" (and optionally "maintenance_amount") '
                        'or "tiers"', account, label, "mmr")
        return (Tier(0.0, math.inf, doc.mmr, doc.maintenance_amount),)
    if not doc.tiers:
        raise _fail('"tiers" must list at least one tier', account, label, "tiers")
    return _tier_table(doc.tiers, account, label)


# Positions and tiers are made by builders (desk.domain.building): 10,000 positions and 4,000 tiers
# are read from a large file, and a frozen dataclass's own __init__ is four times slower.
_build_tier = builder_for(Tier)
_build_position = builder_for(Position)


def _tier_table(docs: Sequence[TierDoc], account: str, label: str) -> tuple[Tier, ...]:
    """A ``tiers`` list as domain tiers, checked in order (the ``account`` and ``label`` name errors;
    no message is formed unless one is raised: 500 tables are read)."""
    out: list[Tier] = []
    last = len(docs) - 1
    previous: Tier | None = None
    isfinite = math.isfinite
    for i, t in enumerate(docs):
        floor, given_cap, mmr = t.notional_floor, t.notional_cap, t.mmr
        amount, leverage = t.maintenance_amount, t.max_leverage
        if not (isfinite(floor) and isfinite(mmr) and (given_cap is None or isfinite(given_cap))
                and (amount is None or isfinite(amount)) and (leverage is None or isfinite(leverage))):
            for name in ("notional_floor", "notional_cap", "mmr", "maintenance_amount", "max_leverage"):
                _finite(getattr(t, name), f"tiers[{i}].{name}", account, label)
        cap = math.inf if given_cap is None else given_cap
        if cap <= floor:
            raise _fail(f"tiers[{i}]: notional_cap ({cap:g}) must be above notional_floor "
                        f"({floor:g})", account, label, f"tiers[{i}]")
        if given_cap is None and i != last:
            raise _fail(f"tiers[{i}]: only the last tier may be open-ended (no notional_cap)",
                        account, label, f"tiers[{i}]")
        if previous is not None:
            if floor < previous.notional_cap:
                raise _fail(f"tiers out of order or overlapping: tier {i + 1} starts at "
                            f"{floor:g}, below the end of tier {i} ({previous.notional_cap:g})",
                            account, label, f"tiers[{i}]")
            if mmr < previous.mmr:
                raise _fail(f"tiers out of order: tier {i + 1} has a lower mmr ({mmr:g}) than tier {i} "
                            f"({previous.mmr:g})", account, label, f"tiers[{i}]")
        previous = _build_tier(floor, cap, mmr, amount, leverage)
        out.append(previous)
    return tuple(out)


def _reported(doc: ReportedDoc | None, account: str, label: str | None, field: str) -> Reported:
    if doc is None:
        return Reported()
    for name in ("liquidation_price", "bankruptcy_price", "margin_ratio"):
        _finite(getattr(doc, name), f"{field}.{name}", account, label)
    return Reported(doc.liquidation_price, doc.bankruptcy_price, doc.margin_ratio)


def _position(doc: PositionDoc, account: str) -> Position:
    label = _position_label({"symbol": doc.symbol, "leg": doc.leg.value, "side": doc.side.value})
    for name in ("contracts", "contract_size", "entry_price", "mark_price", "isolated_margin", "leverage",
                 "mmr", "maintenance_amount", "taker_fee", "tick_size", "lot_size", "mark_time",
                 "funding_rate", "next_funding_time", "funding_interval_hours"):
        _finite(getattr(doc, name), name, account, label)
    suffix = _settle_suffix(doc.symbol)
    settle = doc.settle or suffix
    if settle is None:
        raise _fail(f'"settle" is required: the symbol "{doc.symbol}" has no ":SETTLE" suffix',
                    account, label, "settle")
    if suffix is not None and settle != suffix:
        raise _fail(f'settle "{settle}" does not match the symbol\'s settle currency "{suffix}"',
                    account, label, "settle")
    if doc.leg is not Leg.BOTH and doc.leg.value != doc.side.value:
        raise _fail(f'a hedge-mode "{doc.leg.value}" leg must have side "{doc.leg.value}", '
                    f'got "{doc.side.value}"', account, label, "side")
    if doc.margin_mode is MarginMode.ISOLATED and doc.isolated_margin is None:
        raise _fail('an isolated position needs "isolated_margin" (the margin it holds, excluding '
                    "unrealized PnL)", account, label, "isolated_margin")
    if doc.margin_mode is MarginMode.CROSS and doc.isolated_margin is not None:
        raise _fail('"isolated_margin" is only for isolated positions; a cross position draws on the '
                    "account's wallet", account, label, "isolated_margin")
    return Position(
        symbol=doc.symbol,
        settle=settle,
        kind=doc.kind,
        contracts=doc.contracts,
        side=doc.side,
        entry_price=doc.entry_price,
        mark_price=doc.mark_price if doc.mark_price is not None else doc.entry_price,
        margin_mode=doc.margin_mode,
        contract_size=doc.contract_size,
        leg=doc.leg,
        isolated_margin=doc.isolated_margin,
        leverage=doc.leverage,
        tiers=_tiers(doc, account, label),
        taker_fee=doc.taker_fee,
        reported=_reported(doc.reported, account, label, "reported"),
        tick_size=doc.tick_size,
        lot_size=doc.lot_size,
        mark_time=doc.mark_time,
        adl_rank=doc.adl_rank,
        funding_rate=doc.funding_rate,
        next_funding_time=doc.next_funding_time,
        funding_interval_hours=doc.funding_interval_hours,
    )


def _account(doc: AccountDoc, positions: tuple[Position, ...] | None = None) -> Account:
    """The account of ``doc``; ``positions``: its positions already built (the fast reader)."""
    for currency, amount in doc.wallets.items():
        if not currency:
            raise _fail("wallets: a currency name must not be empty", doc.name, None, "wallets")
        _finite(amount, f"wallets.{currency}", doc.name)
    _finite(doc.data_time, "data_time", doc.name)
    if positions is None:
        positions = tuple(_position(p, doc.name) for p in doc.positions)
    if not _plainly_distinct(positions):
        _name_the_clash(doc.name, positions)
    reported = {cur: _reported(r, doc.name, None, f"reported.{cur}") for cur, r in doc.reported.items()}
    spot = tuple(_spot(s, i, doc.name, positions) for i, s in enumerate(doc.spot))
    orders = None if doc.orders is None else tuple(_order(o, i, doc.name) for i, o in enumerate(doc.orders))
    if len(doc.notes) > MAX_NOTES:
        raise _fail(f"notes: {len(doc.notes)} notes; an account may carry at most {MAX_NOTES}", doc.name,
                    None, "notes")
    return Account(doc.name, doc.venue, dict(doc.wallets), positions, reported, doc.data_time,
                   spot=spot, orders=orders, notes=tuple(doc.notes))


_SYMBOL_OF, _LEG_OF, _MODE_OF = (operator.attrgetter(name) for name in ("symbol", "leg", "margin_mode"))


def _plainly_distinct(positions: Sequence[Position]) -> bool:
    """What :func:`_name_the_clash` checks, at once (10,000 positions are read): False when it may
    have something to say."""
    symbols, legs = list(map(_SYMBOL_OF, positions)), list(map(_LEG_OF, positions))
    if len(set(zip(symbols, legs, map(_MODE_OF, positions), strict=True))) != len(positions):
        return False
    hedged = {symbol for symbol, leg in zip(symbols, legs, strict=True) if leg is not Leg.BOTH}
    return not hedged or hedged.isdisjoint(
        symbol for symbol, leg in zip(symbols, legs, strict=True) if leg is Leg.BOTH)


def _name_the_clash(account: str, positions: Sequence[Position]) -> None:
    """Raise for the first position that repeats another or mixes one-way and hedge mode."""
    # one cross and one isolated position of the same instrument may coexist (OKX allows it): the
    # key is PositionKey's (symbol, leg, margin mode), kept as enums here
    seen: set[tuple[str, Leg, MarginMode]] = set()
    legs: dict[str, set[Leg]] = {}
    for p in positions:
        key = (p.symbol, p.leg, p.margin_mode)
        if key in seen:
            raise _fail(f"appears twice as a {p.margin_mode.value} position; merge the two entries (one "
                        "position per symbol, leg and margin mode)", account, _label_of(p), "symbol")
        seen.add(key)
        kinds = legs.setdefault(p.symbol, set())
        kinds.add(p.leg)
        if Leg.BOTH in kinds and len(kinds) > 1:
            raise _fail('mixes a one-way ("both") position with hedge-mode legs of the same symbol',
                        account, _label_of(p), "leg")


def _label_of(p: Position) -> str:
    return _position_label({"symbol": p.symbol, "leg": p.leg.value, "side": p.side.value})


def _spot(doc: SpotDoc, index: int, account: str, positions: Sequence[Position]) -> SpotBalance:
    field = f"spot[{index}]"
    _finite(doc.amount, f"{field}.amount", account)
    _finite(doc.price, f"{field}.price", account)
    price = doc.price
    if price is None:
        marks = [p.mark_price for p in positions
                 if p.symbol.split("/")[0] == doc.asset and p.kind is Kind.LINEAR]
        if not marks:
            raise _fail(f'{field}: give "price" (USD per {doc.asset}): no linear position of this account '
                        f"on {doc.asset} has a mark to value it by", account, None, f"{field}.price")
        price = marks[0]
    return SpotBalance(doc.asset, doc.amount, price)


def _order(doc: OrderDoc, index: int, account: str) -> Order:
    for name in ("contracts", "trigger_price", "price", "trailing_rate"):
        _finite(getattr(doc, name), f"orders[{index}].{name}", account)
    if doc.kind in (OrderKind.STOP, OrderKind.TAKE_PROFIT) and doc.trigger_price is None:
        raise _fail(f'orders[{index}] ({doc.symbol}): a {doc.kind.value} order needs "trigger_price"',
                    account, None, f"orders[{index}].trigger_price")
    if doc.kind is OrderKind.TRAILING and doc.trigger_price is None and doc.trailing_rate is None:
        raise _fail(f'orders[{index}] ({doc.symbol}): a trailing order needs "trigger_price" or '
                    '"trailing_rate"', account, None, f"orders[{index}].trigger_price")
    return Order(doc.symbol, doc.kind, doc.side, doc.contracts, doc.trigger_price, doc.price, doc.reduce_only,
                 doc.leg, doc.trailing_rate, doc.order_id, doc.source)


def portfolio_from_doc(doc: PortfolioDoc, positions: Sequence[tuple[Position, ...]] | None = None
                       ) -> Portfolio:
    """The portfolio of ``doc``; ``positions``: each account's positions already built by the fast
    reader, which held their numbers to the domain's bounds while decoding."""
    if doc.as_of is not None:
        try:
            datetime.fromisoformat(doc.as_of)
        except ValueError:
            raise PortfolioError(f'as_of must be an ISO 8601 time such as "2026-11-21T10:00:00Z", '
                                 f"got {json.dumps(doc.as_of)}", field="as_of") from None
    names: set[str] = set()
    for a in doc.accounts:
        if a.name in names:
            raise _fail("the account name appears twice; account names must be unique", a.name, None, "name")
        names.add(a.name)
    if positions is None:
        accounts = tuple(_account(a) for a in doc.accounts)
    else:
        accounts = tuple(_account(a, ps) for a, ps in zip(doc.accounts, positions, strict=True))
    portfolio = Portfolio(accounts, doc.as_of)
    try:
        check_portfolio(portfolio, position_numbers_checked=positions is not None)
    except InputError as exc:
        raise from_input_error(exc) from None
    return portfolio


def from_input_error(exc: InputError) -> PortfolioError:
    """The domain's :class:`InputError` as a portfolio error naming account, position and field."""
    p = exc.position
    label = None if p is None else _position_label(
        {"symbol": p.symbol, "leg": p.leg.value, "side": p.side.value})
    return _fail(exc.message, exc.account, label, exc.field)


# ---------------------------------------------------------------------------- writing


def _tier_docs(p: Position) -> dict[str, Any]:
    if len(p.tiers) == 1 and p.tiers[0].notional_floor == 0 and math.isinf(p.tiers[0].notional_cap) \
            and p.tiers[0].max_leverage is None:
        only = p.tiers[0]
        return {"mmr": only.mmr, "maintenance_amount": only.maintenance_amount}
    return {"tiers": [
        TierDoc(t.notional_floor, t.mmr, None if math.isinf(t.notional_cap) else t.notional_cap,
                t.maintenance_amount, t.max_leverage) for t in p.tiers
    ] or None}


def _reported_doc(r: Reported) -> ReportedDoc | None:
    if r.liquidation_price is None and r.bankruptcy_price is None and r.margin_ratio is None:
        return None
    return ReportedDoc(r.liquidation_price, r.bankruptcy_price, r.margin_ratio)


def portfolio_to_doc(portfolio: Portfolio) -> PortfolioDoc:
    accounts = []
    for a in portfolio.accounts:
        positions = [
            PositionDoc(
                symbol=p.symbol, kind=p.kind, contracts=p.contracts, side=p.side, entry_price=p.entry_price,
                margin_mode=p.margin_mode, settle=p.settle, contract_size=p.contract_size, leg=p.leg,
                mark_price=p.mark_price, isolated_margin=p.isolated_margin, leverage=p.leverage,
                taker_fee=p.taker_fee, tick_size=p.tick_size, lot_size=p.lot_size, mark_time=p.mark_time,
                reported=_reported_doc(p.reported), adl_rank=p.adl_rank, funding_rate=p.funding_rate,
                next_funding_time=p.next_funding_time, funding_interval_hours=p.funding_interval_hours,
                **_tier_docs(p),
            )
            for p in a.positions
        ]
        reported = {cur: doc for cur, r in a.reported.items() if (doc := _reported_doc(r)) is not None}
        spot = [SpotDoc(b.asset, b.amount, b.price) for b in a.spot]
        orders = None if a.orders is None else [
            OrderDoc(o.symbol, o.kind, o.side, o.contracts, o.trigger_price, o.price, o.reduce_only, o.leg,
                     o.trailing_rate, o.order_id, o.source) for o in a.orders]
        accounts.append(AccountDoc(a.name, a.venue, dict(a.wallets), positions, reported, a.data_time, spot,
                                   orders, _note_docs(a.notes)))
    return PortfolioDoc("desk.portfolio/1", accounts, portfolio.as_of)


def _note_docs(notes: Sequence[str]) -> list[str]:
    """The notes as the file keeps them: one line each, secrets masked, within the reader's limits
    (a writer never writes what its reader refuses)."""
    kept = [text for note in notes if (text := for_user(note, limit=MAX_NOTE))]
    if len(kept) > MAX_NOTES:
        kept = [*kept[:MAX_NOTES - 1], f"and {len(kept) - MAX_NOTES + 1} more notes (see desk.log)"]
    return kept


def dump_portfolio(portfolio: Portfolio) -> bytes:
    """The portfolio as an indented JSON document (full float precision): ``desk.portfolio/1``,
    or ``desk.portfolio/2`` when an account carries how its venue pools margin."""
    doc: PortfolioDoc | PortfolioDocV2 = portfolio_to_doc(portfolio)
    if any(a.margin is not None for a in portfolio.accounts):
        doc = portfolio_to_doc_v2(portfolio)
    return msgspec.json.format(msgspec.json.encode(doc), indent=2) + b"\n"


# ---------------------------------------------------------------------------- desk.portfolio/2
#
# Version 2 adds to an account how its venue pools margin (unified-margin.md §6.8): one pool for
# the whole account with collateral assets, each with its index and haircut. Everything of
# version 1 is unchanged; a version-1 file still loads as before.

FORMAT_V2 = "desk.portfolio/2"


class CollateralTierDoc(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """One slice of a progressive haircut: equity between floor and cap counts at rate."""

    floor: NonNegative
    rate: Annotated[float, msgspec.Meta(ge=0, le=1)]
    cap: Positive | None = None  # None: open-ended (the last slice)


class HaircutDoc(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """How positive equity counts: a flat ``rate``, or ``tiers`` (in coin units, or in the pool's unit
    with ``unit: "value"``); then Binance's ``bid_buffer``. Negative equity counts in full, or at
    ``1 + ask_buffer`` (Binance Multi-Assets askRate)."""

    rate: Annotated[float, msgspec.Meta(ge=0, le=1)] = 1.0
    tiers: list[CollateralTierDoc] | None = None
    unit: Literal["coin", "value"] = "coin"
    bid_buffer: Annotated[float, msgspec.Meta(ge=0, lt=1)] = 0.0
    ask_buffer: Annotated[float, msgspec.Meta(ge=0, lt=1)] = 0.0


class CollateralDoc(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    asset: Name
    amount: float  # wallet, signed; without isolated margin and unrealized PnL
    index_price: Positive  # in the pool's unit
    borrowed: NonNegative = 0.0
    underlying: str | None = None  # the coin it follows ("BTC"); omitted for stablecoins
    haircut: HaircutDoc | None = None


class MarginDoc(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    pool: Literal["account", "settle"] = "account"
    mode: str = ""
    threshold: Positive = 1.0  # k: liquidation at k·MM ≥ margin balance
    valuation: Name = "USD"
    collateral: list[CollateralDoc] = msgspec.field(default_factory=list)
    venue_margin_ratio: NonNegative | None = None
    venue_ratio_inverted: bool = False
    cannot_recompute: str | None = None


class AccountDocV2(AccountDoc, forbid_unknown_fields=True, omit_defaults=True):
    margin: MarginDoc | None = None


class PortfolioDocV2(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    format: Literal["desk.portfolio/2"]
    accounts: list[AccountDocV2]
    as_of: str | None = None


def _margin(doc: MarginDoc, account: str, positions: tuple[Position, ...]) -> AccountMargin:
    assets: list[Collateral] = []
    names: set[str] = set()
    for i, c in enumerate(doc.collateral):
        field = f"margin.collateral[{i}]"
        _finite(c.amount, f"{field}.amount", account)
        if c.asset in names:
            raise _fail(f'{field}: the asset "{c.asset}" appears twice', account, None, field)
        names.add(c.asset)
        h = c.haircut or HaircutDoc()
        tiers: list[CollateralTier] = []
        for j, t in enumerate(h.tiers or ()):
            cap = math.inf if t.cap is None else t.cap
            if cap <= t.floor or (tiers and t.floor != tiers[-1].cap) or (not tiers and t.floor != 0):
                raise _fail(f"{field}.haircut.tiers[{j}]: slices must start at 0 and follow each other "
                            f"without gaps (floor {t.floor:g}, cap {cap:g})", account, None, field)
            tiers.append(CollateralTier(t.floor, cap, t.rate))
        assets.append(Collateral(c.asset, c.amount, c.index_price, h.rate, tuple(tiers), h.unit,
                                 h.bid_buffer, h.ask_buffer, c.borrowed, c.underlying or None))
    pool = PoolKind(doc.pool)
    if pool is PoolKind.ACCOUNT and doc.cannot_recompute is None:
        for p in positions:
            if p.margin_mode is MarginMode.CROSS and p.settle not in names:
                label = _position_label({"symbol": p.symbol, "leg": p.leg.value, "side": p.side.value})
                raise _fail(f'settles in {p.settle}, which is not in "margin.collateral"; list '
                            f"{p.settle} with its index price (amount 0 if the wallet is empty)",
                            account, label, "settle")
    return AccountMargin(pool, doc.mode, doc.threshold, doc.valuation, tuple(assets), doc.venue_margin_ratio,
                         doc.venue_ratio_inverted, doc.cannot_recompute)


def _load_v2(raw: dict[str, Any]) -> Portfolio:
    try:
        doc = msgspec.convert(raw, PortfolioDocV2)
    except msgspec.ValidationError as exc:
        raise _translate(exc, raw) from None
    return _portfolio_v2(doc)


def _portfolio_v2(doc: PortfolioDocV2, positions: Sequence[tuple[Position, ...]] | None = None) -> Portfolio:
    base = portfolio_from_doc(doc, positions)  # type: ignore[arg-type]  # version 2 extends version 1
    accounts = []
    for account, account_doc in zip(base.accounts, doc.accounts, strict=True):
        if account_doc.margin is not None:
            margin = _margin(account_doc.margin, account.name, account.positions)
            account = dataclasses.replace(account, margin=margin)
        accounts.append(account)
    portfolio = dataclasses.replace(base, accounts=tuple(accounts))
    try:
        # again, now with the pools' collateral
        check_portfolio(portfolio, position_numbers_checked=positions is not None)
    except InputError as exc:
        raise from_input_error(exc) from None
    return portfolio


def _margin_doc(m: AccountMargin) -> MarginDoc:
    collateral = []
    for c in m.collateral:
        tiers = [CollateralTierDoc(t.floor, t.rate, None if math.isinf(t.cap) else t.cap) for t in c.tiers]
        unit: Literal["coin", "value"] = "value" if c.tier_unit == "value" else "coin"
        haircut = HaircutDoc(c.rate, tiers or None, unit, c.bid_buffer, c.ask_buffer)
        collateral.append(CollateralDoc(c.asset, c.amount, c.price, c.borrowed, c.underlying,
                                        None if haircut == HaircutDoc() else haircut))
    return MarginDoc(m.pool.value, m.mode, m.threshold, m.valuation, collateral,
                     m.venue_margin_ratio, m.venue_ratio_inverted, m.cannot_recompute)


def portfolio_to_doc_v2(portfolio: Portfolio) -> PortfolioDocV2:
    v1 = portfolio_to_doc(portfolio)
    accounts = [AccountDocV2(**{f: getattr(d, f) for f in d.__struct_fields__},
                             margin=None if a.margin is None else _margin_doc(a.margin))
                for d, a in zip(v1.accounts, portfolio.accounts, strict=True)]
    return PortfolioDocV2("desk.portfolio/2", accounts, portfolio.as_of)


# ---------------------------------------------------------------------------- the fast reader
#
# A valid file of 10,000 positions is decoded by msgspec straight into structs, without the generic
# tree that the checks above walk. Every check of the careful path holds here too or the file goes
# to it: anything this reader does not accept as plainly valid (an error, an escape, a repeated
# key, an over-long text, a number out of the domain's bounds) is read again by the careful path,
# which names what is wrong. So a file loads to the same portfolio, or fails with the same message,
# by either path.
#
# The positions of an account are checked and built field by field over all of them at once (one
# column of values per field), not one position at a time: 10,000 positions are read in Python.
# Tier tables are kept as their JSON text: a table repeated across positions (the same symbol in 20
# accounts) is decoded, checked and converted once, and every position holding it shares one tuple.


class _Fallback(Exception):
    """The fast reader leaves this file to the careful path."""


_UNSET = msgspec.UNSET


def _presence(cls: type[msgspec.Struct], name: str, **types: Any) -> Any:
    """``cls`` with every optional field defaulting to UNSET, so a field given in the file (even with
    its default value) is told from one left out: the keys counted against the file's colons."""
    fields: list[Any] = []
    for f in msgspec.structs.fields(cls):
        kind = types.get(f.name, f.type)
        fields.append((f.name, kind) if f.required else (f.name, kind | msgspec.UnsetType, _UNSET))
    return msgspec.defstruct(name, fields, forbid_unknown_fields=True, gc=False)


def _within(kind: Any, low: float, high: float) -> Any:
    """The number type ``kind`` (a float, bounded by ``msgspec.Meta`` or not, perhaps ``| None``) held
    to [low, high] as well: what the domain checks after reading is checked while decoding."""
    args = typing.get_args(kind) if isinstance(kind, types.UnionType) or \
        typing.get_origin(kind) is typing.Union else (kind,)
    (number,) = [a for a in args if a is not type(None)]
    given: dict[str, float] = {}
    for meta in getattr(number, "__metadata__", ()):
        given.update({k: getattr(meta, k) for k in ("gt", "ge", "lt", "le") if getattr(meta, k) is not None})
    # the stricter of each end: an exclusive bound of the file's own, or the domain's inclusive one
    lower: dict[str, Any] = {"gt": given["gt"]} if given.get("gt", -math.inf) >= low else \
        {"ge": max(low, given.get("ge", low))}
    upper: dict[str, Any] = {"lt": given["lt"]} if given.get("lt", math.inf) <= high else \
        {"le": min(high, given.get("le", high))}
    bounded: Any = Annotated[float, msgspec.Meta(**lower, **upper)]
    return bounded | None if len(args) > 1 else bounded


_FastTier: Any = _presence(TierDoc, "_FastTier")
_FastReported: Any = _presence(ReportedDoc, "_FastReported", **{
    f.name: _within(f.type, *REPORTED_BOUNDS) for f in msgspec.structs.fields(ReportedDoc)})
_FastPosition: Any = _presence(PositionDoc, "_FastPosition", tiers=msgspec.Raw,
                               reported=_FastReported | None, **{
    f.name: _within(f.type, *POSITION_NUMBER_BOUNDS[f.name])
    for f in msgspec.structs.fields(PositionDoc) if f.name in POSITION_NUMBER_BOUNDS})
# the account's small parts stay JSON text, read by the careful path (_decode + msgspec.convert)
_FastAccount: Any = msgspec.defstruct("_FastAccount", [
    ("name", Name), ("venue", Name), ("positions", list[_FastPosition] | msgspec.UnsetType, _UNSET),
    *((part, msgspec.Raw | msgspec.UnsetType, _UNSET)
      for part in ("wallets", "reported", "data_time", "spot", "orders", "notes", "margin")),
], forbid_unknown_fields=True, gc=False)
_FastDoc: Any = msgspec.defstruct("_FastDoc", [
    ("format", Literal["desk.portfolio/1", "desk.portfolio/2"]), ("accounts", list[_FastAccount]),
    ("as_of", str | None | msgspec.UnsetType, _UNSET),
], forbid_unknown_fields=True, gc=False)
_POSITION_FIELDS: tuple[str, ...] = _FastPosition.__struct_fields__
_OPTIONAL_POSITION_FIELDS = tuple(f.name for f in msgspec.structs.fields(PositionDoc) if not f.required)
_MODEL_POSITION_FIELDS = tuple(f.name for f in dataclasses.fields(Position))
_TIER_FIELDS = len(msgspec.structs.fields(TierDoc))
_REPORTED_FIELDS = len(msgspec.structs.fields(ReportedDoc))
_ACCOUNT_PARTS = ("wallets", "reported", "data_time", "spot", "orders", "notes", "margin")
_DECODER: msgspec.json.Decoder[Any] = msgspec.json.Decoder(_FastDoc)
_TIERS_DECODER = msgspec.json.Decoder(list[TierDoc])
_TIERS_PRESENCE_DECODER: msgspec.json.Decoder[Any] = msgspec.json.Decoder(list[_FastTier])
_NULL = msgspec.Raw(b"null")
_NO_REPORT = Reported()  # frozen: one object stands for every position's empty report


def _given(value: Any) -> Any:
    return None if value is _UNSET else value


class _Shared:
    """What the positions of one file share, each worked out once: tier tables (by their JSON text
    and by value, one tuple per distinct table), and each symbol's settle suffix and colons."""

    def __init__(self) -> None:
        self.by_text: dict[bytes, tuple[tuple[Tier, ...], int]] = {}
        self.by_value: dict[tuple[tuple[Any, ...], ...], tuple[Tier, ...]] = {}
        self.single: dict[tuple[float, float | None], tuple[Tier, ...]] = {}
        # the text last met for each symbol, and its table: the next position of that symbol (the
        # next account) most likely holds the same text, told by comparing bytes without hashing them
        self.last: dict[str, tuple[msgspec.Raw, tuple[Tier, ...], int]] = {}
        self.suffixes: dict[str, str | None] = {}
        self.unsuffixed: set[str] = set()  # the symbols without one
        self.symbol_colons: dict[str, int] = {}

    def table(self, symbol: str, raw: msgspec.Raw) -> tuple[tuple[Tier, ...], int]:
        """(tiers, colons in the table's text) of a ``tiers`` list."""
        known = self.last.get(symbol)
        if known is not None and known[0] == raw:
            return known[1], known[2]
        text = bytes(raw)
        found = self.by_text.get(text)
        if found is None:
            found = self.by_text[text] = self._convert(text)
        self.last[symbol] = (raw, *found)
        return found

    def _convert(self, text: bytes) -> tuple[tuple[Tier, ...], int]:
        docs = _TIERS_DECODER.decode(text)
        numbers = tuple(map(msgspec.structs.astuple, docs))
        colons = text.count(b":")  # a tier holds no text: every ':' is a key's
        if colons != _TIER_FIELDS * len(docs) - list(chain.from_iterable(numbers)).count(None):
            # a key given as null, or a key given twice: count the keys given
            given = _TIERS_PRESENCE_DECODER.decode(text)
            if colons != sum(_TIER_FIELDS - msgspec.structs.astuple(t).count(_UNSET) for t in given):
                raise _Fallback
        if not docs:
            raise _Fallback
        # the same table written another way (keys in another order) is the same tuple; keyed by the
        # numbers as read (a Tier's own hash is computed in Python)
        tiers = self.by_value.get(numbers)
        if tiers is None:
            # a table that fails its checks sends the file to the careful path, which names the position
            tiers = self.by_value[numbers] = _tier_table(docs, "", "position")
        return tiers, colons

    def one(self, mmr: float, amount: float | None) -> tuple[Tier, ...]:
        key = (mmr, amount)
        tiers = self.single.get(key)
        if tiers is None:
            tiers = self.single[key] = (Tier(0.0, math.inf, mmr, amount),)
        return tiers


class _Columns:
    """The values of one field over an account's positions, by field name (file order)."""

    def __init__(self, docs: Sequence[Any]) -> None:
        self.count = len(docs)
        # every value in one list, row after row; a field's values are every n-th from its place
        flat = list(chain.from_iterable(map(msgspec.structs.astuple, docs)))
        width = len(_POSITION_FIELDS)
        self.values = {name: flat[i::width] for i, name in enumerate(_POSITION_FIELDS)}
        self.left_out = {name: self.values[name].count(_UNSET) for name in _OPTIONAL_POSITION_FIELDS}

    def keys(self) -> int:
        """How many keys the positions' objects hold."""
        return self.count * len(_POSITION_FIELDS) - sum(self.left_out.values())

    def given(self, name: str, default: Any = None) -> Sequence[Any]:
        """The field's values, ``default`` where it is left out."""
        values, left_out = self.values[name], self.left_out.get(name, 0)
        if not left_out:
            return values
        if left_out == self.count:
            return (default,) * self.count
        return [default if v is _UNSET else v for v in values]




def _fast_positions(docs: Sequence[Any], shared: _Shared) -> tuple[tuple[Position, ...], int]:
    """(positions, colons their objects account for) — the checks of :func:`_position` and the
    numbers' bounds of the domain, over all positions at once; any failure hands the file to the
    careful path for the message. msgspec reads only finite numbers."""
    if not docs:
        return (), 0
    columns = _Columns(docs)
    colons = columns.keys()
    n = columns.count
    symbols: Sequence[str] = columns.values["symbol"]
    suffixes = shared.suffixes
    distinct = set(symbols)
    new = distinct.difference(suffixes)
    if any(len(symbol) > MAX_TEXT for symbol in new):
        raise _Fallback
    suffixes.update((symbol, _settle_suffix(symbol)) for symbol in new)
    shared.symbol_colons.update((symbol, symbol.count(":")) for symbol in new)
    shared.unsuffixed.update(symbol for symbol in new if suffixes[symbol] is None)
    colons += sum(map(shared.symbol_colons.__getitem__, symbols))
    settles: Sequence[str | None] = columns.given("settle")
    if columns.left_out["settle"] == n:
        if not shared.unsuffixed.isdisjoint(distinct):
            raise _Fallback  # a symbol without its settle suffix needs "settle"
        settles = list(map(suffixes.__getitem__, symbols))
    else:
        settles = [_settle(symbol, settle, suffixes[symbol])
                   for symbol, settle in zip(symbols, settles, strict=True)]
        colons += sum(settle.count(":") for settle in columns.values["settle"] if isinstance(settle, str))
    sides = columns.values["side"]
    legs = columns.given("leg", Leg.BOTH)
    if columns.left_out["leg"] < n and any(leg is not Leg.BOTH and leg.value != side.value
                                            for leg, side in zip(legs, sides, strict=True)):
        raise _Fallback  # a hedge-mode leg on the other side
    modes = columns.values["margin_mode"]
    isolated = columns.given("isolated_margin")
    # as many margins as isolated positions, and none missing among those: no cross position has one
    is_isolated = list(map(operator.is_, modes, repeat(MarginMode.ISOLATED)))
    if n - isolated.count(None) != is_isolated.count(True) or None in compress(isolated, is_isolated):
        raise _Fallback  # isolated without its margin, or cross with one
    contracts = columns.values["contracts"]
    sizes = columns.given("contract_size", 1.0)
    if columns.left_out["contract_size"] < n and not quantities_in_bounds(contracts, sizes):
        raise _Fallback
    entries = columns.values["entry_price"]
    marks = columns.given("mark_price")
    if columns.left_out["mark_price"] or None in marks:
        marks = [entry if mark is None else mark for entry, mark in zip(entries, marks, strict=True)]
    tiers, tier_colons = _fast_tiers(columns, shared)
    reported, reported_colons = _fast_reported(columns)
    built = {
        "symbol": symbols, "settle": settles, "kind": columns.values["kind"], "contracts": contracts,
        "side": sides, "entry_price": entries, "mark_price": marks, "margin_mode": modes,
        "contract_size": sizes, "leg": legs, "isolated_margin": isolated, "tiers": tiers,
        "reported": reported, "realized_pnl": (None,) * n,  # not in the file
    }
    positions: Any = tuple(map(_build_position, *(built[name] if name in built else columns.given(name)
                                                   for name in _MODEL_POSITION_FIELDS)))
    return positions, colons + tier_colons + reported_colons


def _settle(symbol: str, settle: str | None, suffix: str | None) -> str:
    if settle is None:
        if suffix is None:
            raise _Fallback
        return suffix
    if len(settle) > MAX_TEXT or (suffix is not None and settle != suffix):
        raise _Fallback
    return settle


def _fast_tiers(columns: _Columns, shared: _Shared) -> tuple[Sequence[tuple[Tier, ...]], int]:
    """Each position's tier table, and the colons of the tables' texts."""
    symbols, raws = columns.values["symbol"], columns.values["tiers"]
    if columns.left_out["tiers"] == 0 and columns.left_out["mmr"] == columns.left_out["maintenance_amount"] \
            == columns.count and _NULL not in raws:  # a full table at every position
        known = list(map(shared.last.get, symbols))
        # the tables of the account before, text for text (Raw == Raw compares bytes): most often all
        if None not in known and list(map(_TEXT_OF, known)) == list(raws):
            return list(map(_TABLE_OF, known)), sum(map(_COLONS_OF, known))
    colons = 0
    out: list[tuple[Tier, ...]] = []
    for symbol, raw, mmr, amount in zip(symbols, raws, columns.given("mmr"),
                                        columns.given("maintenance_amount"), strict=True):
        if raw is not _UNSET and raw != _NULL:
            if mmr is not None or amount is not None:
                raise _Fallback  # both "tiers" and "mmr"
            tiers, text_colons = shared.table(symbol, raw)
            out.append(tiers)
            colons += text_colons
        elif mmr is None:
            raise _Fallback  # no maintenance rate
        else:
            out.append(shared.one(mmr, amount))
    return out, colons


_TEXT_OF: Any = operator.itemgetter(0)
_TABLE_OF: Any = operator.itemgetter(1)
_COLONS_OF: Any = operator.itemgetter(2)


def _fast_reported(columns: _Columns) -> tuple[Sequence[Reported], int]:
    """Each position's reported figures, and the keys their objects hold."""
    if columns.left_out["reported"] == columns.count:
        return (_NO_REPORT,) * columns.count, 0
    out: list[Reported] = []
    colons = 0
    for doc in columns.values["reported"]:
        if doc is _UNSET or doc is None:
            out.append(_NO_REPORT)
        else:
            colons += _REPORTED_FIELDS - msgspec.structs.astuple(doc).count(_UNSET)
            out.append(Reported(_given(doc.liquidation_price), _given(doc.bankruptcy_price),
                                _given(doc.margin_ratio)))
    return out, colons


def _fast_account(a: Any, version_2: bool, shared: _Shared) -> tuple[AccountDoc, tuple[Position, ...], int]:
    """(the account's document without positions, its positions, colons it accounts for)."""
    name, venue = a.name, a.venue
    if len(name) > MAX_TEXT or len(venue) > MAX_TEXT or (not version_2 and a.margin is not _UNSET):
        raise _Fallback
    parts = [b'"name":' + msgspec.json.encode(name), b'"venue":' + msgspec.json.encode(venue)]
    colons = 2 + name.count(":") + venue.count(":") + (a.positions is not _UNSET)
    for part in _ACCOUNT_PARTS:
        raw = getattr(a, part)
        if raw is not _UNSET:
            text = bytes(raw)
            parts.append(b'"' + part.encode() + b'":' + text)
            colons += 1 + text.count(b":")
    # the small parts through the careful checks (repeated keys, texts, depth) and validation
    small = _decode(b"{" + b",".join(parts) + b"}", "the portfolio")
    doc = msgspec.convert(small, AccountDocV2 if version_2 else AccountDoc)
    positions, position_colons = _fast_positions(() if a.positions is _UNSET else a.positions, shared)
    return doc, positions, colons + position_colons


def _colons(data: bytes) -> int:
    """How many ':' the file holds (numpy counts ~4× faster than bytes.count on a 20 MB file)."""
    return int(np.count_nonzero(np.frombuffer(data, dtype=np.uint8) == ord(":")))


def _load_fast(data: bytes) -> Portfolio | None:
    """The portfolio, or None: the careful path must read this file (it may well be valid)."""
    with collector_paused():
        return _load_fast_at_once(data)


def _load_fast_at_once(data: bytes) -> Portfolio | None:
    data = data.removeprefix(b"\xef\xbb\xbf")
    if b"\\" in data:  # an escape in a text: rare; the careful path reads what it means
        return None
    try:
        doc = _DECODER.decode(data)
        version_2 = doc.format == FORMAT_V2
        shared = _Shared()
        accounts = [_fast_account(a, version_2, shared) for a in doc.accounts]
        as_of = _given(doc.as_of)
        if as_of is not None and len(as_of) > MAX_TEXT:
            return None
        colons = 2 + (doc.as_of is not _UNSET) + (as_of or "").count(":") + sum(c for *_, c in accounts)
        # every ':' of the file is a key's or inside a text counted above: one more is a repeated key
        if _colons(data) != colons:
            return None
        positions = [ps for _, ps, _ in accounts]
        if version_2:
            v2 = PortfolioDocV2("desk.portfolio/2", [d for d, _, _ in accounts], as_of)  # type: ignore[misc]
            return _portfolio_v2(v2, positions)
        return portfolio_from_doc(PortfolioDoc("desk.portfolio/1", [d for d, _, _ in accounts], as_of),
                                  positions)
    except (_Fallback, PortfolioError, msgspec.ValidationError, msgspec.DecodeError):
        return None
    except RecursionError:  # msgspec meets a deeply nested value (how deep depends on the caller's
        return None         # stack): the careful path names the depth the file may have
