"""One instrument held both cross and isolated in one account (OKX, net mode): two positions that
stream updates and reads must never fold into one."""

from __future__ import annotations

from dataclasses import replace

from desk.domain.model import Account, MarginMode
from desk.services.merge import changed_positions, marks_of_read, merge_full_read, merge_stream_update
from tests.support.monitor import position

T0 = 1_700_000_000.0


def acct(*positions, data_time=T0):
    return Account(name="ok", venue="okx", wallets={"USDT": 10_000.0}, positions=positions,
                   data_time=data_time)


CROSS = position(contracts=100, mark=62_000, mark_time=T0, liq=None)
ISOLATED = replace(position(contracts=20, entry=61_000, mark=62_000, mark_time=T0, liq=58_211.95),
                   margin_mode=MarginMode.ISOLATED, isolated_margin=610.0)


def held(account: Account) -> list[tuple[str, float, float | None]]:
    return sorted((p.margin_mode.value, p.contracts, p.isolated_margin) for p in account.positions)


def test_a_stream_update_of_one_twin_keeps_the_other():
    base = merge_full_read(None, acct(CROSS, ISOLATED), T0)
    update = acct(replace(ISOLATED, contracts=25), data_time=T0 + 2)
    merged = merge_stream_update(base, update, T0 + 2)
    assert held(merged) == [("cross", 100, None), ("isolated", 25, 610.0)]
    assert changed_positions(base, merged) == {("ok", "BTC/USDT:USDT", "both", "isolated")}


def test_a_stream_update_closing_one_twin_closes_only_that_one():
    base = merge_full_read(None, acct(CROSS, ISOLATED), T0)
    merged = merge_stream_update(base, acct(replace(CROSS, contracts=0)), T0 + 2)
    assert held(merged) == [("isolated", 20, 610.0)]


def test_a_full_read_merges_each_twin_with_its_own_previous_state():
    base = merge_full_read(None, acct(CROSS, ISOLATED), T0)
    # the next read lacks the isolated position's liquidation figure and the cross one's tiers
    fresh = acct(replace(ISOLATED, mark_time=T0 + 2), replace(CROSS, tiers=(), mark_time=T0 + 2),
                 data_time=T0 + 2)
    merged = merge_full_read(base, fresh, T0 + 2)
    assert held(merged) == [("cross", 100, None), ("isolated", 20, 610.0)]
    by_mode = {p.margin_mode: p for p in merged.positions}
    assert by_mode[MarginMode.CROSS].tiers == CROSS.tiers
    assert by_mode[MarginMode.CROSS].reported.liquidation_price is None  # not the isolated one's
    assert by_mode[MarginMode.ISOLATED].reported.liquidation_price == 58_211.95


def test_the_marks_of_a_read_go_to_the_right_twin():
    account = acct(replace(CROSS, mark_price=63_000), replace(ISOLATED, mark_price=63_000))
    read = acct(replace(CROSS, mark_price=62_000), replace(ISOLATED, mark_price=62_100))
    marks = {p.margin_mode: p.mark_price for p in marks_of_read(account, read).positions}
    assert marks == {MarginMode.CROSS: 62_000, MarginMode.ISOLATED: 62_100}
