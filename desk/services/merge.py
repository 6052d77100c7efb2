"""Folding stream updates onto the last full (REST) read of an account.

Streams are incomplete: ccxt's Binance watch_positions drops the mark and the liquidation price
after its first update (ccxt-notes.md §5, §10.1), user-data events carry no tiers, and a mark
stream only knows prices. So the monitor keeps the last REST snapshot as the base, folds stream
updates onto it and never loses a field a stream did not send.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import replace

from desk.domain.model import Account, Position, PositionKey, Reported


def _valid_price(x: float | None) -> bool:
    return x is not None and math.isfinite(x) and x > 0


def _newer_mark(old: Position, new: Position) -> tuple[float, float | None]:
    """The fresher of two marks; a missing or invalid mark never replaces a good one."""
    if not _valid_price(new.mark_price):
        return old.mark_price, old.mark_time
    if not _valid_price(old.mark_price):
        return new.mark_price, new.mark_time
    if new.mark_time is None or (old.mark_time is not None and old.mark_time > new.mark_time):
        return old.mark_price, old.mark_time
    return new.mark_price, new.mark_time


def identity(account: Account, p: Position) -> PositionKey:
    """A position of ``account``: OKX keeps one instrument and leg both cross and isolated, as two
    positions, so the margin mode is part of it (:class:`~desk.domain.model.PositionKey`)."""
    return PositionKey.of(account.name, p)


def _same_exposure(old: Position, new: Position) -> bool:
    return (old.contracts == new.contracts and old.side == new.side
            and old.entry_price == new.entry_price and old.margin_mode == new.margin_mode)


def merge_position(old: Position, new: Position, *, full_read: bool = False) -> Position:
    """``new`` with every field it lacks taken from ``old``.

    From a stream (``full_read=False``) the exchange's reported liquidation/bankruptcy price is
    kept only while the exposure it was computed for is unchanged: a stale "theirs" beside a
    fresh "ours" would look like a disagreement (the monitor reconciles by REST soon after such a
    change). From a full REST read the reported figures are taken as they are: there ``None``
    means "no liquidation possible", not "not sent".
    """
    mark_price, mark_time = _newer_mark(old, new)
    reported = new.reported
    if not full_read and _same_exposure(old, new):
        reported = Reported(
            liquidation_price=(new.reported.liquidation_price
                               if new.reported.liquidation_price is not None
                               else old.reported.liquidation_price),
            bankruptcy_price=(new.reported.bankruptcy_price
                              if new.reported.bankruptcy_price is not None
                              else old.reported.bankruptcy_price),
            margin_ratio=(new.reported.margin_ratio if new.reported.margin_ratio is not None
                          else old.reported.margin_ratio),
        )
    isolated_margin = new.isolated_margin
    if isolated_margin is None and new.margin_mode == old.margin_mode:
        isolated_margin = old.isolated_margin
    return replace(
        new,
        mark_price=mark_price,
        mark_time=mark_time,
        isolated_margin=isolated_margin,
        leverage=new.leverage if new.leverage is not None else old.leverage,
        tiers=new.tiers or old.tiers,
        taker_fee=new.taker_fee if new.taker_fee is not None else old.taker_fee,
        tick_size=new.tick_size if new.tick_size is not None else old.tick_size,
        lot_size=new.lot_size if new.lot_size is not None else old.lot_size,
        reported=reported,
        # streams carry no funding: the last read's rate stands until the next REST read
        funding_rate=new.funding_rate if new.funding_rate is not None else old.funding_rate,
        next_funding_time=(new.next_funding_time if new.next_funding_time is not None
                           else old.next_funding_time),
        funding_interval_hours=(new.funding_interval_hours if new.funding_interval_hours is not None
                                else old.funding_interval_hours),
    )


def merge_stream_update(base: Account, update: Account, observed_at: float) -> Account:
    """Apply a stream update (a delta: the positions and wallets it names) onto ``base``.

    Positions the update names replace ours field by field (a zero size closes them); positions
    it does not name stay as they were; wallets and account-level figures merge by key. Open
    orders are replaced when the update carries them (a venue that pushes the whole account, or
    its orders), kept otherwise: a position stream says nothing about orders.
    """
    by_key: dict[PositionKey, Position] = {identity(base, p): p for p in base.positions}
    for pos in update.positions:
        key = identity(base, pos)
        if pos.contracts <= 0:
            by_key.pop(key, None)
            continue
        old = by_key.get(key)
        by_key[key] = merge_position(old, pos) if old is not None else pos
    data_time = update.data_time if update.data_time is not None else observed_at
    return replace(
        base,
        positions=tuple(by_key.values()),
        wallets={**base.wallets, **update.wallets},
        reported={**base.reported, **update.reported},
        data_time=max(data_time, base.data_time or data_time),
        orders=update.orders if update.orders is not None else base.orders,
    )


def merge_full_read(previous: Account | None, fresh: Account, observed_at: float) -> Account:
    """A new REST read, authoritative for which positions exist; a field it lacks (a missing mark,
    an empty tier table) is kept from the previous read instead of being lost."""
    data_time = fresh.data_time if fresh.data_time is not None else observed_at
    open_now = tuple(p for p in fresh.positions if p.contracts > 0)  # size 0: a closed position
    if previous is None:
        return replace(fresh, positions=open_now, data_time=data_time)
    before = {identity(previous, p): p for p in previous.positions}
    positions = tuple(merge_position(before[key], p, full_read=True)
                      if (key := identity(previous, p)) in before else p for p in open_now)
    return replace(fresh, positions=positions, data_time=data_time)


def changed_positions(base: Account, merged: Account) -> set[PositionKey]:
    """The keys of positions a stream update opened, closed or resized."""
    before = {identity(base, p): p for p in base.positions}
    after = {identity(base, p): p for p in merged.positions}
    changed = before.keys() ^ after.keys()
    changed |= {k for k in before.keys() & after.keys() if not _same_exposure(before[k], after[k])}
    return changed


def exposure_changed(base: Account, merged: Account) -> bool:
    """True when a stream update opened, closed or resized a position (worth a quick reconcile)."""
    return bool(changed_positions(base, merged))


def marks_of_read(account: Account, read: Account) -> Account:
    """``account`` (a merged full read) with the marks exactly as ``read`` carried them.

    The exchange computed the liquidation prices of a read at the marks of that read
    (risk-math.md §7.7); desk's figures for the comparison must use the same ones, not a newer
    mark a stream folded in.
    """
    marks = {identity(account, p): (p.mark_price, p.mark_time) for p in read.positions
             if _valid_price(p.mark_price)}
    positions = tuple(replace(p, mark_price=mark[0], mark_time=mark[1])
                      if (mark := marks.get(identity(account, p))) is not None else p
                      for p in account.positions)
    return replace(account, positions=positions)


def apply_marks(account: Account, marks: Mapping[str, tuple[float, float]]) -> Account:
    """Positions repriced with streamed marks (symbol -> (price, observed_at)) when newer."""
    if not marks:
        return account
    changed = False
    positions = []
    for pos in account.positions:
        mark = marks.get(pos.symbol)
        if mark is not None and _valid_price(mark[0]) and (pos.mark_time is None or mark[1] >= pos.mark_time):
            pos = replace(pos, mark_price=mark[0], mark_time=mark[1])
            changed = True
        positions.append(pos)
    return replace(account, positions=tuple(positions)) if changed else account
