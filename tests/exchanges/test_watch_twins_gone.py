"""OKX twins (one BTC-USDT-SWAP held cross and isolated at once) through the real monitor and alert
engine (`desk watch --json-lines`) against the fake OKX exchange: one twin leaves the venue while
critical — liquidated — and its sibling stays open. The "gone — probably liquidated" alert fires for
the one that left, named by its margin mode, and never for the one still open; each twin has its
own freshness line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.exchanges.test_watch_pooled import (
    BTC_LINEAR,
    HANG_GUARD,
    Desk,
    Ticks,
    account_of,
    desk,  # noqa: F401 — the fixture
    live,
    stop,
    watching,
)
from tests.fake_exchange import okx as fake_okx

pytestmark = pytest.mark.integration


def held_modes(tick: dict[str, Any]) -> list[str]:
    return sorted(p["margin_mode"] for p in account_of(tick)["positions"] if p["symbol"] == BTC_LINEAR)


def freshness_lines(tick: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    return sorted((p["account"], p["symbol"], p["leg"], p["margin_mode"]) for p in tick["positions"])


def liquidate(venue: Desk, mode: str) -> None:
    """The venue no longer lists the ``mode`` twin (OKX removes a liquidated position)."""
    state = venue.fake.state["okx"]
    state["positions"] = [p for p in state["positions"] if p["mgnMode"] != mode]


def one_twin_liquidated(venue: Desk, *, isolated_margin: float, price: float, leaves: str,
                        critical: str) -> tuple[list[dict[str, Any]], dict[str, Any], dict[str, Any]]:
    fake_okx.cross_and_isolated(venue.fake, isolated_margin=isolated_margin)
    venue.add("ok", "okx")
    watch = watching(venue)
    try:
        ticks = Ticks(watch)
        first = ticks.next_tick(lambda tick: True)
        fake_okx.move_price(venue.fake, "BTC", price)
        ticks.next_tick(lambda tick: all(p["mark_price"] == price for p in account_of(tick)["positions"]))
        watch.read_until(lambda line: '"rule":"distance"' in line and '"level":"critical"' in line
                         and critical in line, timeout=HANG_GUARD)
        liquidate(venue, leaves)
        watch.read_until(lambda line: '"rule":"gone"' in line, timeout=HANG_GUARD)
        after = ticks.next_tick(lambda tick: len(held_modes(tick)) == 1)
        ticks.next_tick(lambda tick: True)  # a later read: no second "gone" for the one still open
        alerts = ticks.alerts()
    finally:
        stop(watch)
    return alerts, first, after


def test_the_isolated_twin_liquidated_while_the_cross_stays_is_alerted_gone_by_name(desk: Desk) -> None:  # noqa: F811
    # 610 USDT of its own: the isolated twin liquidates at 58,211.95 (test_watch_pooled derives it);
    # at 59,500 it is 2.2 % away (critical at 5 %), the cross one on the pool ~45 % away
    alerts, first, after = one_twin_liquidated(desk, isolated_margin=610.0, price=59_500.0,
                                               leaves="isolated", critical="isolated")
    live(first)
    assert held_modes(first) == ["cross", "isolated"]
    # two positions, each its own freshness line (not one shared by the twins)
    assert freshness_lines(first) == [("ok", BTC_LINEAR, "both", "cross"),
                                      ("ok", BTC_LINEAR, "both", "isolated")]
    assert all(p["status"] == "live" for p in first["positions"])
    assert held_modes(after) == ["cross"]
    assert freshness_lines(after) == [("ok", BTC_LINEAR, "both", "cross")]
    gone = [a for a in alerts if a["rule"] == "gone"]
    assert len(gone) == 1, alerts
    assert gone[0]["level"] == "critical" and gone[0]["symbol"] == BTC_LINEAR
    assert "probably liquidated" in gone[0]["title"]
    assert "long isolated is gone" in gone[0]["title"] and "cross" not in gone[0]["title"]
    assert "20" in gone[0]["body"]  # the 20-contract isolated position, not the 100-contract cross one


def test_the_cross_twin_liquidated_while_the_isolated_stays_is_alerted_gone_by_name(desk: Desk) -> None:  # noqa: F811
    # the isolated twin on 6,000 USDT of its own; at 35,000 the cross one is 3.8 % from liquidation
    # (critical), the isolated one 11 % (test_watch_pooled's formulas at this price)
    alerts, first, after = one_twin_liquidated(desk, isolated_margin=6_000.0, price=35_000.0,
                                               leaves="cross", critical="cross")
    live(first)
    assert held_modes(after) == ["isolated"]
    assert freshness_lines(after) == [("ok", BTC_LINEAR, "both", "isolated")]
    gone = [a for a in alerts if a["rule"] == "gone"]
    assert len(gone) == 1, alerts
    assert "long cross is gone" in gone[0]["title"] and "isolated" not in gone[0]["title"]
    assert "100" in gone[0]["body"]


def test_nothing_is_gone_while_both_twins_stay(desk: Desk, tmp_path: Path) -> None:  # noqa: F811
    """The control: the same critical isolated twin, nothing leaves the venue — no "gone" alert."""
    fake_okx.cross_and_isolated(desk.fake)
    desk.add("ok", "okx")
    watch = watching(desk)
    try:
        ticks = Ticks(watch)
        ticks.next_tick(lambda tick: True)
        fake_okx.move_price(desk.fake, "BTC", 59_500.0)
        watch.read_until(lambda line: '"rule":"distance"' in line and '"level":"critical"' in line,
                         timeout=HANG_GUARD)
        for _ in range(3):
            last = ticks.next_tick(lambda tick: True)
        alerts = ticks.alerts()
    finally:
        stop(watch)
    assert held_modes(last) == ["cross", "isolated"]
    assert not [a for a in alerts if a["rule"] == "gone"], alerts
