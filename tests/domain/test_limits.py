"""desk.domain.limits: the input bounds and the tier invariant, and the guard on the report's figures."""

from __future__ import annotations

import dataclasses
import math

import pytest

from desk.domain.engine import compute_risk
from desk.domain.limits import InputError, ResultError, check_portfolio, check_report, check_tiers
from desk.domain.model import Tier
from tests.support.risk import BTCUSDT_TIERS, account, portfolio, pos

PUBLISHED = (  # the same brackets with Binance's published maintenance amounts (portfolio-format.md)
    Tier(0, 50_000, 0.004, 0, 125),
    Tier(50_000, 250_000, 0.005, 50, 100),
    Tier(250_000, 1_000_000, 0.01, 1_300, 50),
    Tier(1_000_000, 10_000_000, 0.025, 16_300, 20),
)


@pytest.mark.parametrize("tiers", [BTCUSDT_TIERS, PUBLISHED, PUBLISHED[:1]])
def test_real_tier_tables_pass(tiers):
    check_tiers(tiers, 10.0)


def test_a_rounded_published_amount_is_not_a_fall():
    rounded = (*PUBLISHED[:3], dataclasses.replace(PUBLISHED[3], maintenance_amount=16_300.004))
    check_tiers(rounded, 10.0)


def test_a_tier_table_must_not_fall_or_go_negative():
    falling = (PUBLISHED[0], dataclasses.replace(PUBLISHED[1], maintenance_amount=60))
    with pytest.raises(InputError, match=r"tiers\[1\]: the maintenance margin falls from 200 to 190") as info:
        check_tiers(falling, 10.0)
    assert info.value.field == "tiers[1]"
    negative_first = (dataclasses.replace(PUBLISHED[0], maintenance_amount=1), PUBLISHED[1])
    with pytest.raises(InputError, match=r"tiers\[0\]: maintenance_amount 1 exceeds mmr × notional_floor"):
        check_tiers(negative_first, 10.0)


def test_the_single_tier_shorthand_is_checked_at_the_notional():
    shorthand = (Tier(0.0, math.inf, 0.1, 135_365),)
    check_tiers(shorthand, 1_353_650)  # exactly zero maintenance margin: the start of that tier
    with pytest.raises(InputError, match="this tier only holds from a notional of 1353650") as info:
        check_tiers(shorthand, 1_353_000)
    assert info.value.field == "maintenance_amount"


def test_check_portfolio_names_the_account_and_position():
    bad = pos("ETH/USDT:USDT", contracts=2, entry=3_000, mark=1e13)
    with pytest.raises(InputError) as info:
        check_portfolio(portfolio(account("binanceusdm", pos(contracts=1, entry=60_000), bad, name="main")))
    assert (info.value.account, info.value.position, info.value.field) == ("main", bad, "mark_price")
    assert info.value.message == "mark_price must be between 1e-12 and 1e+12, got 1e+13"


def _report():
    return compute_risk(portfolio(account("binanceusdm", pos(contracts=1, entry=60_000, mmr=0.004),
                                          name="main", USDT=10_000)))


def test_a_finite_report_passes_and_an_exhausted_margin_may_show_inf():
    report = _report()
    check_report(report)
    acc = report.accounts[0]
    gone = dataclasses.replace(acc, positions=(dataclasses.replace(acc.positions[0], margin_ratio=math.inf),))
    check_report(dataclasses.replace(report, accounts=(gone,)))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"liquidation_price": math.nan}, "liquidation_price is not a finite number (nan)"),
        ({"unrealized_pnl": math.inf}, "unrealized_pnl is not a finite number (inf)"),
        ({"margin_ratio": math.nan}, "margin_ratio is not a number"),
        ({"maintenance_margin": -5.0}, "the maintenance margin is negative (-5)"),
    ],
)
def test_a_figure_that_cannot_be_shown_is_a_named_result_error(change, message):
    report = _report()
    acc = report.accounts[0]
    bad = dataclasses.replace(acc.positions[0], **change)
    with pytest.raises(ResultError) as info:
        check_report(dataclasses.replace(report, accounts=(dataclasses.replace(acc, positions=(bad,)),)))
    assert info.value.message.startswith(message) and info.value.position is bad
    assert info.value.account == "main"


def test_a_pool_figure_that_cannot_be_shown_is_named():
    report = _report()
    acc = report.accounts[0]
    pool = dataclasses.replace(acc.pools[0], margin_balance=math.nan)
    with pytest.raises(ResultError, match="pool USDT: margin_balance is not a finite number"):
        check_report(dataclasses.replace(report, accounts=(dataclasses.replace(acc, pools=(pool,)),)))


def test_the_what_if_building_blocks_refuse_numbers_that_would_overflow():
    from desk.domain.scenario import apply_what_if
    from desk.domain.whatif import MarkProbe, add_account_margin, edit_position

    p = pos(contracts=1, entry=60_000, mmr=0.004)
    book = portfolio(account("binanceusdm", p, name="main", USDT=10_000))
    with pytest.raises(InputError, match="a shock must be at most 100"):
        apply_what_if(book, shock=1e306)
    with pytest.raises(InputError, match=r'the mark price of "BTC/USDT:USDT" must be between 1e-12'):
        apply_what_if(book, marks={"BTC/USDT:USDT": 1e300})
    with pytest.raises(InputError, match="a mark price must be between"):
        MarkProbe(book.accounts[0], "BTC/USDT:USDT").at(1e300)
    with pytest.raises(InputError, match=r"size: contracts must be between 0 and 1e\+15"):
        edit_position(book, "main", "BTC/USDT:USDT", contracts=1e300)
    with pytest.raises(InputError, match=r"leverage must be between 0\.01 and 10000"):
        edit_position(book, "main", "BTC/USDT:USDT", leverage=1e-300)
    with pytest.raises(InputError, match="margin: the amount must be between"):
        add_account_margin(book, "main", "USDT", 1e300)


def test_a_given_amount_is_checked_against_a_derived_one_before_it():
    # tier 3's amount omitted: §0 derives 1,300; a given 20,000 on tier 4 then drops the margin at 1 M
    mixed = (*PUBLISHED[:2], dataclasses.replace(PUBLISHED[2], maintenance_amount=None),
             dataclasses.replace(PUBLISHED[3], maintenance_amount=20_000))
    with pytest.raises(InputError, match=r"tiers\[3\]: the maintenance margin falls from 8700 to 5000"):
        check_tiers(mixed, 10.0)


SPOILS = (math.nan, math.inf, -math.inf, -1.0, 0.0)
OPTIONAL = {"liquidation_price", "bankruptcy_price", "distance_to_liquidation", "margin_ratio",
            "venue_margin_ratio"}  # None where there is none


def _raises(report) -> str | None:
    try:
        check_report(report)
    except ResultError as exc:
        return exc.message
    return None


@pytest.mark.parametrize("field", ["mark_price", "notional", "unrealized_pnl", "maintenance_margin",
                                   "liquidation_price", "bankruptcy_price", "distance_to_liquidation",
                                   "margin_ratio", "venue_margin_ratio"])
def test_the_plain_check_of_positions_passes_nothing_the_named_checks_refuse(field, monkeypatch):
    # check_report runs one plain loop over an account's positions and the named checks only when
    # that loop finds anything amiss: whatever a figure is spoiled to, both ways must agree
    from desk.domain import limits

    report = _report()
    acc = report.accounts[0]
    assert limits._positions_plainly_sound(acc.positions)  # a sound report takes the plain loop
    for value in (*SPOILS, None) if field in OPTIONAL else SPOILS:
        bad = dataclasses.replace(acc.positions[0], **{field: value})
        spoiled = dataclasses.replace(report, accounts=(dataclasses.replace(acc, positions=(bad,)),))
        got = _raises(spoiled)
        with monkeypatch.context() as m:
            m.setattr(limits, "_positions_plainly_sound", lambda positions: False)
            named = _raises(spoiled)
        assert got == named, (field, value)
        if named is not None:
            assert not limits._positions_plainly_sound((bad,)), (field, value)


def test_a_position_with_suggestions_is_checked_by_the_named_checks():
    from desk.domain import limits

    report = compute_risk(portfolio(account("binanceusdm", pos(contracts=1, entry=60_000, mmr=0.004),
                                            name="main", USDT=1_000)), target=0.01)
    acc = report.accounts[0]
    assert acc.positions[0].suggestions and not limits._positions_plainly_sound(acc.positions)
    bad = dataclasses.replace(acc.positions[0].suggestions[0], amount=math.nan)
    spoiled = dataclasses.replace(acc.positions[0], suggestions=(bad,))
    with pytest.raises(ResultError, match="suggestion amount is not a finite number"):
        check_report(dataclasses.replace(report, accounts=(dataclasses.replace(acc, positions=(spoiled,)),)))
