"""What the engine may be given, and what it may give back: the input bounds and invariants, declared once.

Inputs (:func:`check_portfolio`): every number finite and inside a sane range — wide enough for any
real account (a 10⁻¹² price, a 10¹⁵-contract position, a 10¹⁸ wallet), narrow enough that no product
or sum the engine forms can overflow — and a tier table that gives a non-negative maintenance margin
that never falls as the notional grows (risk-math.md §0). Outputs (:func:`check_report`): no NaN or
infinity where a number is shown (only a margin ratio may be ``inf``: no margin left) and no negative
maintenance margin. Readers (the portfolio file, the what-if flags) translate :class:`InputError`
into their own message; it names the account, the position and the field.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from itertools import chain
from operator import attrgetter

import numpy as np

from desk.domain.model import Account, AccountMargin, Kind, Portfolio, Position, Tier
from desk.domain.report import AccountRisk, PositionRisk, RiskReport, Suggestion
from desk.domain.rules import resolve_tiers, rules_for
from desk.domain.tier_tables import TierArrays, resolve_tables, tier_arrays

MIN_PRICE = 1e-12
MAX_PRICE = 1e12
MAX_QUANTITY = 1e15  # contracts, and contracts × contract size
MIN_QUANTITY = 1e-12  # contracts × contract size
MAX_AMOUNT = 1e18  # wallets and isolated margins, in the settle currency
MAX_NOTIONAL = 1e30  # tier floors, caps and maintenance amounts (quote or coin)
MIN_LEVERAGE = 0.01
MAX_LEVERAGE = 10_000.0
MAX_THRESHOLD = 2.0  # a pool's k (liquidation at k·MM ≥ MB): 1, or 1.05 for Binance Portfolio Margin
MAX_SHOCK = 100.0  # a what-if shock, as a fraction: +10,000 % (every mark ×101); the floor is −1 (−100 %)
MAX_EPOCH = 1e11  # seconds (year 5138): a larger time is almost surely in milliseconds
MAX_FUNDING_RATE = 1.0  # per interval: venues cap funding at a few percent; 100 % is surely a unit slip
MIN_FUNDING_HOURS, MAX_FUNDING_HOURS = 1 / 60, 24 * 366  # a funding interval: a minute to a year

#: a published maintenance amount is rounded; a fall of the maintenance margin at a tier boundary up
#: to this share (or 0.01 of a unit) is rounding, not an inconsistent table
_ROUNDING = 1e-6


class InputError(ValueError):
    """An input the engine cannot trust: ``message`` says what and why; the rest says where."""

    def __init__(self, message: str, *, field: str | None = None, account: str | None = None,
                 position: Position | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.account = account
        self.position = position

    def at(self, *, account: str | None = None, position: Position | None = None) -> InputError:
        """The same error placed in an account (and position), keeping what is already known."""
        return InputError(self.message, field=self.field, account=self.account or account,
                          position=self.position or position)


def _g(x: float) -> str:
    return f"{x:.10g}"


def check_number(value: float | None, field: str, low: float, high: float, unit: str = "") -> None:
    """``value`` (when given) is a finite number in ``[low, high]``."""
    if value is None:
        return
    if not math.isfinite(value):
        raise InputError(f"{field} must be a finite number, got {value}", field=field)
    if not low <= value <= high:
        raise InputError(f"{field} must be between {_g(low)} and {_g(high)}{unit}, got {_g(value)}",
                         field=field)


def check_price(value: float | None, field: str) -> None:
    check_number(value, field, MIN_PRICE, MAX_PRICE)


def check_tiers(tiers: tuple[Tier, ...], notional: float, *, mmr_from_max_leverage: bool = False) -> None:
    """A tier table gives a non-negative maintenance margin that never falls as the notional grows.

    Checked on the tiers as the engine uses them (omitted maintenance amounts derived by the §0
    recurrence), at every tier floor. A single tier (the ``"mmr"`` + ``"maintenance_amount"``
    shorthand for the tier the position is in) has no known floor: it is checked at ``notional``.
    """
    single = len(tiers) == 1
    if not _tier_numbers_plainly_in_bounds(tiers):
        _check_tier_numbers(tiers, single)
    if not tiers:
        return
    resolved = resolve_tiers(tiers, mmr_from_max_leverage)
    if single:
        only = resolved[0]
        if notional * only.mmr - only.cum < -_slack(only.cum):
            start = _g(only.cum / only.mmr) if only.mmr else "infinity"
            raise InputError(
                f"maintenance_amount {_g(only.cum)} exceeds mmr × notional ({_g(only.mmr)} × {_g(notional)} "
                f"= {_g(only.mmr * notional)}): the maintenance margin would be negative; this tier only "
                f"holds from a notional of {start} — check the amount, or give the full \"tiers\" table",
                field="maintenance_amount")
        return
    previous = None
    for i, r in enumerate(resolved):
        at_floor = r.floor * r.mmr - r.cum
        if at_floor < -_slack(r.cum):
            raise InputError(
                f"tiers[{i}]: maintenance_amount {_amount_shown(r.cum, tiers[i])} exceeds mmr × "
                f"notional_floor ({_g(r.mmr)} × {_g(r.floor)} = {_g(r.mmr * r.floor)}), so the maintenance "
                "margin would be negative at the start of the tier; check the amount (risk-math.md §0: "
                "amount_n = amount_(n−1) + floor_n × (mmr_n − mmr_(n−1)))", field=f"tiers[{i}]")
        if previous is not None:
            before = r.floor * previous.mmr - previous.cum
            if at_floor < before - _slack(before):
                raise InputError(
                    f"tiers[{i}]: the maintenance margin falls from {_g(before)} to {_g(at_floor)} where the "
                    f"tier starts (notional {_g(r.floor)}, maintenance_amount "
                    f"{_amount_shown(r.cum, tiers[i])}); "
                    "a larger position cannot need less margin — check maintenance_amount (risk-math.md §0)",
                    field=f"tiers[{i}]")
        previous = r


def _amount_shown(cum: float, tier: Tier) -> str:
    return _g(cum) + (" (derived by §0)" if tier.maintenance_amount is None else "")


#: (low, high) of each number of a tier, in the order they are checked; an omitted one (None) is in
#: bounds, and so is the open-ended last tier's infinite cap. Declared once for both checks below.
_TIER_NUMBER_BOUNDS: dict[str, tuple[float, float]] = {
    "notional_floor": (0.0, MAX_NOTIONAL),
    "maintenance_amount": (0.0, MAX_NOTIONAL),
    "notional_cap": (0.0, MAX_NOTIONAL),
    "mmr": (0.0, 1.0),
    "max_leverage": (MIN_LEVERAGE, MAX_LEVERAGE),
}


# the same bounds by name, for the plain check of thousands of tiers written out (a third faster)
_FLOOR_LOW, _FLOOR_HIGH = _TIER_NUMBER_BOUNDS["notional_floor"]
_AMOUNT_LOW, _AMOUNT_HIGH = _TIER_NUMBER_BOUNDS["maintenance_amount"]
_CAP_LOW, _CAP_HIGH = _TIER_NUMBER_BOUNDS["notional_cap"]
_MMR_LOW, _MMR_HIGH = _TIER_NUMBER_BOUNDS["mmr"]
_LEVERAGE_LOW, _LEVERAGE_HIGH = _TIER_NUMBER_BOUNDS["max_leverage"]


def _tier_numbers_plainly_in_bounds(tiers: tuple[Tier, ...]) -> bool:
    """True when :func:`_check_tier_numbers` has nothing to say (no label is formed to find out);
    False: it says what. A NaN fails every comparison (a NaN cap is left to the careful check, which
    does not check a cap that is not finite)."""
    for t in tiers:
        amount, cap, leverage = t.maintenance_amount, t.notional_cap, t.max_leverage
        if not (_FLOOR_LOW <= t.notional_floor <= _FLOOR_HIGH and _MMR_LOW <= t.mmr <= _MMR_HIGH
                and (amount is None or _AMOUNT_LOW <= amount <= _AMOUNT_HIGH)
                and (_CAP_LOW <= cap <= _CAP_HIGH or cap == math.inf)
                and (leverage is None or _LEVERAGE_LOW <= leverage <= _LEVERAGE_HIGH)):
            return False
    return True


def _check_tier_numbers(tiers: tuple[Tier, ...], single: bool) -> None:
    for i, t in enumerate(tiers):
        prefix = "" if single else f"tiers[{i}]."
        for name, (low, high) in _TIER_NUMBER_BOUNDS.items():
            value = getattr(t, name)
            if name != "notional_cap" or math.isfinite(value):  # the last tier's cap is open-ended
                check_number(value, f"{prefix}{name}", low, high)


def _slack(scale: float) -> float:
    return max(0.01, _ROUNDING * abs(scale))


def notional_at_mark(p: Position) -> float:
    """Linear: quote value; inverse: coin value (the unit of its tiers)."""
    q = p.contracts * p.contract_size
    return q * p.mark_price if p.kind is Kind.LINEAR else q / p.mark_price


def check_position(p: Position, *, mmr_from_max_leverage: bool = False,
                   sound_tables: set[int] | None = None) -> None:
    """``sound_tables``: ids of multi-tier tables already found sound in this check (a table held by
    many positions is checked once; it does not depend on the position)."""
    check_position_numbers(p)
    check_position_tiers(p, mmr_from_max_leverage=mmr_from_max_leverage, sound_tables=sound_tables)


def check_position_tiers(p: Position, *, mmr_from_max_leverage: bool = False,
                         sound_tables: set[int] | None = None) -> None:
    if len(p.tiers) > 1 and sound_tables is not None:
        if id(p.tiers) in sound_tables:
            return
        check_tiers(p.tiers, notional_at_mark(p), mmr_from_max_leverage=mmr_from_max_leverage)
        sound_tables.add(id(p.tiers))
        return
    check_tiers(p.tiers, notional_at_mark(p), mmr_from_max_leverage=mmr_from_max_leverage)


def check_position_numbers(p: Position) -> None:
    check_number(p.contracts, "contracts", 0.0, MAX_QUANTITY)
    if p.contracts <= 0:
        raise InputError(f"contracts must be > 0, got {_g(p.contracts)}", field="contracts")
    check_number(p.contract_size, "contract_size", MIN_QUANTITY, MAX_QUANTITY)
    quantity = p.contracts * p.contract_size
    if not MIN_QUANTITY <= quantity <= MAX_QUANTITY:
        raise InputError(f"contracts × contract_size must be between {_g(MIN_QUANTITY)} and "
                         f"{_g(MAX_QUANTITY)}, got {_g(quantity)}", field="contracts")
    check_price(p.entry_price, "entry_price")
    check_price(p.mark_price, "mark_price")
    check_price(p.tick_size, "tick_size")
    check_number(p.isolated_margin, "isolated_margin", 0.0, MAX_AMOUNT)
    check_number(p.leverage, "leverage", MIN_LEVERAGE, MAX_LEVERAGE)
    check_number(p.taker_fee, "taker_fee", 0.0, 1.0)
    check_number(p.mark_time, "mark_time", 0.0, MAX_EPOCH, " epoch seconds")
    check_number(p.funding_rate, "funding_rate", -MAX_FUNDING_RATE, MAX_FUNDING_RATE)
    check_number(p.next_funding_time, "next_funding_time", 0.0, MAX_EPOCH, " epoch seconds")
    check_number(p.funding_interval_hours, "funding_interval_hours", MIN_FUNDING_HOURS, MAX_FUNDING_HOURS)
    for name in ("liquidation_price", "bankruptcy_price", "margin_ratio"):
        value = getattr(p.reported, name)
        check_number(value, f"reported.{name}", 0.0, MAX_NOTIONAL)


#: (low, high) of each number of a position that :func:`check_position_numbers` bounds, by field; an
#: omitted one (None) is in bounds. Besides these: contracts > 0, and contracts × contract_size within
#: (MIN_QUANTITY, MAX_QUANTITY) (:func:`quantities_in_bounds`). A reader may hold its numbers to them
#: while it decodes (the portfolio file's fast reader) and say so to :func:`check_portfolio`.
POSITION_NUMBER_BOUNDS: dict[str, tuple[float, float]] = {
    "contracts": (MIN_QUANTITY, MAX_QUANTITY),  # stricter than > 0 only where it does not matter
    "contract_size": (MIN_QUANTITY, MAX_QUANTITY),
    "entry_price": (MIN_PRICE, MAX_PRICE),
    "mark_price": (MIN_PRICE, MAX_PRICE),
    "tick_size": (MIN_PRICE, MAX_PRICE),
    "isolated_margin": (0.0, MAX_AMOUNT),
    "leverage": (MIN_LEVERAGE, MAX_LEVERAGE),
    "taker_fee": (0.0, 1.0),
    "mark_time": (0.0, MAX_EPOCH),
    "funding_rate": (-MAX_FUNDING_RATE, MAX_FUNDING_RATE),
    "next_funding_time": (0.0, MAX_EPOCH),
    "funding_interval_hours": (MIN_FUNDING_HOURS, MAX_FUNDING_HOURS),
}
#: (low, high) of each figure a venue reported (liquidation and bankruptcy price, margin ratio)
REPORTED_BOUNDS = (0.0, MAX_NOTIONAL)

# (low, high) of each number of a position, in the order _position_numbers lists them; an omitted
# one (None) stands as its low bound
_POSITION_BOUNDS = np.array([
    POSITION_NUMBER_BOUNDS["contracts"],  # also > 0; and below: contracts × contract size
    POSITION_NUMBER_BOUNDS["contract_size"],
    (MIN_QUANTITY, MAX_QUANTITY),  # contracts × contract_size
    *(POSITION_NUMBER_BOUNDS[name] for name in (
        "entry_price", "mark_price", "tick_size", "isolated_margin", "leverage", "taker_fee", "mark_time",
        "funding_rate", "next_funding_time", "funding_interval_hours")),
    REPORTED_BOUNDS, REPORTED_BOUNDS, REPORTED_BOUNDS,  # reported figures
])


def quantities_in_bounds(contracts: Sequence[float], contract_sizes: Sequence[float]) -> bool:
    """Every contracts × contract_size (position by position) is within (MIN_QUANTITY, MAX_QUANTITY)."""
    return all(MIN_QUANTITY <= c * s <= MAX_QUANTITY for c, s in zip(contracts, contract_sizes, strict=True))


def _positions_plainly_in_bounds(positions: Sequence[Position]) -> bool:
    """True when every number of every position is inside its bounds (checked at once with numpy);
    False sends the account through :func:`check_position_numbers` one by one, for the message.
    Stricter than that check only where it does not matter: contracts are checked from 10⁻¹²."""
    if not positions:
        return True
    lo = _POSITION_BOUNDS[:, 0]
    rows = [(p.contracts, p.contract_size, p.contracts * p.contract_size, p.entry_price, p.mark_price,
             lo[5] if p.tick_size is None else p.tick_size,
             0.0 if p.isolated_margin is None else p.isolated_margin,
             lo[7] if p.leverage is None else p.leverage,
             0.0 if p.taker_fee is None else p.taker_fee,
             0.0 if p.mark_time is None else p.mark_time,
             0.0 if p.funding_rate is None else p.funding_rate,
             0.0 if p.next_funding_time is None else p.next_funding_time,
             lo[12] if p.funding_interval_hours is None else p.funding_interval_hours,
             0.0 if (r := p.reported).liquidation_price is None else r.liquidation_price,
             0.0 if r.bankruptcy_price is None else r.bankruptcy_price,
             0.0 if r.margin_ratio is None else r.margin_ratio) for p in positions]
    try:
        values = np.array(rows, dtype=np.float64)
    except (TypeError, ValueError, OverflowError):  # not a number somewhere: one by one
        return False
    # NaN fails both comparisons; infinities fail the bounds
    return bool(np.all((values >= lo) & (values <= _POSITION_BOUNDS[:, 1])))


def check_margin(m: AccountMargin) -> None:
    """A pooled account's collateral (``desk.portfolio/2``): amounts, index prices and haircuts."""
    check_number(m.threshold, "margin.threshold", 1.0, MAX_THRESHOLD)
    check_number(m.venue_margin_ratio, "margin.venue_margin_ratio", 0.0, MAX_NOTIONAL)
    for c in m.collateral:
        where = f"margin.collateral.{c.asset}"
        check_number(c.amount, f"{where}.amount", -MAX_AMOUNT, MAX_AMOUNT)
        check_number(c.borrowed, f"{where}.borrowed", 0.0, MAX_AMOUNT)
        check_price(c.price, f"{where}.index_price")
        for name in ("rate", "bid_buffer", "ask_buffer"):
            check_number(getattr(c, name), f"{where}.haircut.{name}", 0.0, 1.0)
        for i, t in enumerate(c.tiers):
            check_number(t.rate, f"{where}.haircut.tiers[{i}].rate", 0.0, 1.0)
            check_number(t.floor, f"{where}.haircut.tiers[{i}].floor", 0.0, MAX_NOTIONAL)
            if not math.isinf(t.cap):
                check_number(t.cap, f"{where}.haircut.tiers[{i}].cap", 0.0, MAX_NOTIONAL)


def check_account(a: Account, sound_tables: dict[bool, set[int]] | None = None, *,
                  position_numbers_checked: bool = False) -> None:
    """``sound_tables``: as for :func:`check_position`, shared by the accounts of one portfolio, one
    set per reading of a table (``mmr_from_max_leverage`` or not). ``position_numbers_checked``: the
    caller has held every number of every position to :data:`POSITION_NUMBER_BOUNDS` and
    :func:`quantities_in_bounds` already (a reader that bounds them while it decodes)."""
    try:
        if a.margin is not None:
            check_margin(a.margin)
        for currency, amount in a.wallets.items():
            check_number(amount, f"wallets.{currency}", -MAX_AMOUNT, MAX_AMOUNT)
        check_number(a.data_time, "data_time", 0.0, MAX_EPOCH, " epoch seconds")
        for i, b in enumerate(a.spot):
            check_number(b.amount, f"spot[{i}].amount", -MAX_AMOUNT, MAX_AMOUNT)
            check_price(b.price, f"spot[{i}].price")
        for currency, r in a.reported.items():
            for name in ("liquidation_price", "bankruptcy_price", "margin_ratio"):
                check_number(getattr(r, name), f"reported.{currency}.{name}", 0.0, MAX_NOTIONAL)
    except InputError as exc:
        raise exc.at(account=a.name) from None
    hyperliquid_style = rules_for(a.venue).mmr_from_max_leverage
    # a table's soundness depends on how the venue reads it (Hyperliquid: MMR from max leverage), so
    # the two readings keep their own sets (a table's id stands for the table and the reading)
    sound = set() if sound_tables is None else sound_tables.setdefault(hyperliquid_style, set())
    numbers_checked = position_numbers_checked or _positions_plainly_in_bounds(a.positions)
    if numbers_checked and _tiers_plainly_sound(a.positions, hyperliquid_style, sound):
        return
    # something is wrong: position by position, so the first wrong one is named
    for p in a.positions:
        try:
            if not numbers_checked:
                check_position_numbers(p)
            check_position_tiers(p, mmr_from_max_leverage=hyperliquid_style, sound_tables=sound)
        except InputError as exc:
            raise exc.at(account=a.name, position=p) from None


_TIERS_OF = attrgetter("tiers")


def _tiers_plainly_sound(positions: Sequence[Position], mmr_from_max_leverage: bool, sound: set[int]) -> bool:
    """True when every position's tiers pass :func:`check_position_tiers`: a table held by many
    positions (one object) is checked once — those not in ``sound`` yet all at once — and a single tier
    at its own position's notional. False: the caller checks position by position, to name the first
    that fails."""
    all_tiers = list(map(_TIERS_OF, positions))
    try:
        if not sound.issuperset(map(id, all_tiers)):  # some not proven yet (a single tier never is)
            tables = dict(zip(map(id, all_tiers), all_tiers, strict=True))
            unchecked = [tiers for key, tiers in tables.items() if len(tiers) > 1 and key not in sound]
            if unchecked and not _tables_plainly_sound(tier_arrays(unchecked), mmr_from_max_leverage):
                # something to say, or numbers Python must read itself: table by table
                for tiers in unchecked:
                    check_tiers(tiers, 0.0, mmr_from_max_leverage=mmr_from_max_leverage)  # no notional
            sound.update(map(id, unchecked))
        if 1 in map(len, all_tiers):
            for p in positions:
                if len(p.tiers) == 1:
                    check_tiers(p.tiers, notional_at_mark(p), mmr_from_max_leverage=mmr_from_max_leverage)
    except InputError:
        return False
    return True


def _tables_plainly_sound(given: TierArrays | None, mmr_from_max_leverage: bool) -> bool:
    """True only when :func:`check_tiers` passes every one of these tables (of several tiers each):
    the same comparisons of the same numbers, over all tables at once. False when one fails, or when
    ``given`` is None (a number Python must read itself: :func:`check_tiers` decides)."""
    if given is None:
        return False
    floor, cap, amount, leverage = given.floor, given.cap, given.amount, given.leverage
    present = given.present
    # _tier_numbers_plainly_in_bounds (a NaN fails every comparison)
    in_bounds = ((floor >= _FLOOR_LOW) & (floor <= _FLOOR_HIGH)
                 & (given.mmr >= _MMR_LOW) & (given.mmr <= _MMR_HIGH)
                 & (~given.amount_given | ((amount >= _AMOUNT_LOW) & (amount <= _AMOUNT_HIGH)))
                 & (((cap >= _CAP_LOW) & (cap <= _CAP_HIGH)) | (cap == math.inf))
                 & (~given.leverage_given | ((leverage >= _LEVERAGE_LOW) & (leverage <= _LEVERAGE_HIGH))))
    if not np.all(in_bounds | ~present):
        return False
    resolved = resolve_tables(given, mmr_from_max_leverage)
    # every number is bounded: no product or sum below overflows; the padding's floors read as 0
    floors, rates, cums = np.where(present, resolved.floors, 0.0), resolved.rates, resolved.cums
    at_floor = floors * rates - cums
    # _slack is max(0.01, 10⁻⁶ × |scale|): fmax, which like max keeps 0.01 against a NaN
    negative = at_floor < -np.fmax(0.01, _ROUNDING * np.abs(cums))
    before = floors[:, 1:] * rates[:, :-1] - cums[:, :-1]
    falls = at_floor[:, 1:] < before - np.fmax(0.01, _ROUNDING * np.abs(before))
    return not (np.any(negative & present) or np.any(falls & present[:, 1:]))


def _plainly_sound_tables(accounts: Sequence[Account]) -> dict[bool, set[int]]:
    """For each reading of a table the accounts make (``mmr_from_max_leverage`` or not), the ids of
    their tables of several tiers, when :func:`check_tiers` passes them all — found over all the
    accounts' tables at once; else none (:func:`check_account` finds which)."""
    # every table in the order first met, as the engine lists a batch of them: their arrays are made once
    all_tiers = list(chain.from_iterable(map(_TIERS_OF, a.positions) for a in accounts))
    ids = list(map(id, all_tiers))
    tables = dict(zip(ids, all_tiers, strict=True))
    given = tier_arrays(list(tables.values()))
    sound: dict[bool, set[int]] = {}
    if given is None:
        return sound
    used: dict[bool, set[int]] = {}  # the tables each reading is made of
    end = 0
    for a in accounts:
        start, end = end, end + len(a.positions)
        used.setdefault(rules_for(a.venue).mmr_from_max_leverage, set()).update(ids[start:end])
    keys = list(tables)
    row_of = dict(zip(keys, range(len(keys)), strict=True))
    for reading, held in used.items():
        rows = np.sort(np.fromiter(map(row_of.__getitem__, held), dtype=np.intp, count=len(held)))
        rows = rows[given.length[rows] > 1]
        if _tables_plainly_sound(given.rows(rows), reading):
            sound[reading] = set(map(keys.__getitem__, rows.tolist()))
    return sound


def check_portfolio(portfolio: Portfolio, *, position_numbers_checked: bool = False) -> None:
    """Raise :class:`InputError` (naming account, position and field) for the first input out of bounds.
    ``position_numbers_checked``: as for :func:`check_account`."""
    # the portfolio holds every table: their ids stay unique meanwhile
    sound_tables = _plainly_sound_tables(portfolio.accounts)
    for a in portfolio.accounts:
        check_account(a, sound_tables, position_numbers_checked=position_numbers_checked)


def check_changed(before: Portfolio, after: Portfolio) -> None:
    """:func:`check_portfolio` for the accounts of ``after`` that are not ``before``'s (a what-if
    moved them); ``before`` was checked when it was read, and an untouched account is the same object."""
    sound_tables: dict[bool, set[int]] = {}
    kept = {id(a) for a in before.accounts}
    for a in after.accounts:
        if id(a) not in kept:
            check_account(a, sound_tables)


# ---------------------------------------------------------------------------- results


def _finite_or_none(values: Iterable[tuple[str, float | None]], *, account: str,
                    position: PositionRisk | None = None, what: str = "") -> None:
    for name, value in values:
        if value is not None and not math.isfinite(value):
            raise ResultError(f"{what}{name} is not a finite number ({value})", account=account,
                              position=position, field=name)


class ResultError(ValueError):
    """A figure that cannot be shown as a number (NaN, infinite, a negative maintenance margin)."""

    def __init__(self, message: str, *, account: str, position: PositionRisk | None = None,
                 field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.account = account
        self.position = position
        self.field = field


def _suggestion_numbers(s: Suggestion) -> list[tuple[str, float | None]]:
    return [("suggestion amount", s.amount), ("suggestion contracts", s.contracts),
            ("suggestion fraction", s.fraction), ("suggestion leverage", s.leverage)]


def _check_account_result(acc: AccountRisk) -> None:
    name = acc.name
    _finite_or_none([("shock_to_liquidation", acc.shock_to_liquidation)], account=name)
    for pool in acc.pools:
        what = f"pool {pool.settle}: "
        # a mode desk cannot recompute has no balance or maintenance of desk's own (null in JSON)
        computed = pool.cannot_recompute is None
        _finite_or_none([("wallet_balance", pool.wallet_balance), ("unrealized_pnl", pool.unrealized_pnl),
                         ("margin_balance", pool.margin_balance if computed else None),
                         ("maintenance_margin", pool.maintenance_margin if computed else None),
                         ("total_equity", pool.total_equity if computed else None)], account=name, what=what)
        for c in pool.collateral:
            _finite_or_none([("amount", c.amount), ("equity", c.equity), ("price", c.price),
                             ("value", c.value if computed else None),
                             ("haircut", c.haircut if computed else None)],
                            account=name, what=f"{what}collateral {c.asset}: ")
        for ratio_name, ratio in (("margin_ratio", pool.margin_ratio), ("venue_margin_ratio",
                                                                          pool.venue_margin_ratio)):
            if ratio is not None and math.isnan(ratio):
                raise ResultError(f"{what}{ratio_name} is not a number", account=name, field=ratio_name)
        if pool.maintenance_margin < 0:
            raise ResultError(f"{what}the maintenance margin is negative ({_g(pool.maintenance_margin)})",
                              account=name, field="maintenance_margin")
        for s in pool.suggestions:
            _finite_or_none(_suggestion_numbers(s), account=name, what=what)
    # a pooled mode desk cannot recompute: its cross positions have no maintenance margin of desk's own
    opaque_pool = any(pool.pool == "account" and pool.cannot_recompute is not None for pool in acc.pools)
    if _positions_plainly_sound(acc.positions):
        return
    for p in acc.positions:
        opaque = opaque_pool and p.margin_mode == "cross"
        _finite_or_none([("mark_price", p.mark_price), ("notional", p.notional),
                         ("unrealized_pnl", p.unrealized_pnl),
                         ("maintenance_margin", None if opaque else p.maintenance_margin),
                         ("liquidation_price", p.liquidation_price), ("bankruptcy_price", p.bankruptcy_price),
                         ("distance_to_liquidation", p.distance_to_liquidation)], account=name, position=p)
        ratios = (("margin_ratio", p.margin_ratio), ("venue_margin_ratio", p.venue_margin_ratio))
        for ratio_name, ratio in ratios:
            if ratio is not None and math.isnan(ratio):
                raise ResultError(f"{ratio_name} is not a number", account=name, position=p, field=ratio_name)
        if p.maintenance_margin < 0:
            raise ResultError(
                f"the maintenance margin is negative ({_g(p.maintenance_margin)}) at the mark "
                f"{_g(p.mark_price)}: the notional there is below the tier given (its maintenance_amount "
                "exceeds mmr × notional); give the full \"tiers\" table to move marks this far",
                account=name, position=p, field="maintenance_margin")
        for s in p.suggestions:
            _finite_or_none(_suggestion_numbers(s), account=name, position=p)


def _positions_plainly_sound(positions: Sequence[PositionRisk]) -> bool:
    """True when every figure of every position passes the checks of :func:`_check_account_result`
    as they stand for a position of a recomputed pool (a maintenance margin, finite and ≥ 0) and
    without suggestions; False sends the account's positions through those checks, which name what
    is wrong (or pass a pool desk cannot recompute). One plain loop: 10,000 positions are checked in
    a third of the time the named checks take."""
    finite = math.isfinite
    for p in positions:
        mm = p.maintenance_margin
        if p.suggestions or not (finite(p.mark_price) and finite(p.notional) and finite(p.unrealized_pnl)
                                 and finite(mm) and mm >= 0):
            return False
        x = p.liquidation_price
        if x is not None and not finite(x):
            return False
        x = p.bankruptcy_price
        if x is not None and not finite(x):
            return False
        x = p.distance_to_liquidation
        if x is not None and not finite(x):
            return False
        x = p.margin_ratio
        if x is not None and x != x:  # NaN: inf is a ratio (the balance is gone)
            return False
        x = p.venue_margin_ratio
        if x is not None and x != x:
            return False
    return True


def check_report(report: RiskReport) -> None:
    """Raise :class:`ResultError` for the first figure that is not a showable number."""
    for acc in report.accounts:
        _check_account_result(acc)


__all__ = [
    "MAX_AMOUNT",
    "MAX_EPOCH",
    "MAX_LEVERAGE",
    "MAX_NOTIONAL",
    "MAX_PRICE",
    "MAX_QUANTITY",
    "MAX_SHOCK",
    "MAX_THRESHOLD",
    "MIN_LEVERAGE",
    "MIN_PRICE",
    "MIN_QUANTITY",
    "POSITION_NUMBER_BOUNDS",
    "REPORTED_BOUNDS",
    "InputError",
    "ResultError",
    "check_margin",
    "check_number",
    "check_portfolio",
    "check_position",
    "check_price",
    "check_report",
    "check_tiers",
    "notional_at_mark",
    "quantities_in_bounds",
]
