"""A position's part of the ``desk.risk/1`` document carries each of the position's figures in its own
field. The document is made with at most 30 arguments to the struct (a longer call costs twice as
much) and its last fields set after, only when the position has them (issue 18): each must still
land in its field, and stay out of the JSON when absent."""

from __future__ import annotations

import dataclasses

import msgspec

from desk.domain.engine import compute_risk
from desk.domain.model import Account, Kind, MarginMode, Portfolio, Position, Side, Tier
from desk.domain.report import FundingDrift, PositionRisk, RiskReport
from desk.formats.report import PositionDoc, report_to_doc
from tests.support.report import report_bytes

# every optional field of the position given a value of its own
EXTRA = {
    "liquidation_price_symbol_only": 91.25,
    "liquidation_direction": "down",
    "adl_rank": 3,
    "funding_rate": 0.0004,
    "next_funding_time": 1.8e9,
    "funding_interval_hours": 8.0,
}
DRIFT = FundingDrift(rate=0.0004, payment=0.08, liquidation_after=((1, 91.5), (3, 92.75)),
                     payments_to_liquidation=41.5)


def _report(**extra: object) -> tuple[RiskReport, PositionRisk]:
    p = Position(symbol="X/USDT:USDT", settle="USDT", kind=Kind.LINEAR, contracts=2.0, side=Side.LONG,
                 entry_price=100.0, mark_price=101.0, margin_mode=MarginMode.ISOLATED, isolated_margin=30.0,
                 tiers=(Tier(0.0, 1e12, 0.01, 0.0),), tick_size=0.01)
    report = compute_risk(Portfolio((Account(name="a", venue="unknown-venue", wallets={"USDT": 500.0},
                                             positions=(p,)),)))
    account = report.accounts[0]
    risk = dataclasses.replace(account.positions[0], **extra)  # type: ignore[arg-type]
    return dataclasses.replace(report, accounts=(dataclasses.replace(account, positions=(risk,)),)), risk


def _position_doc(report: RiskReport) -> PositionDoc:
    return report_to_doc(report).accounts[0].positions[0]


def test_every_field_named_as_the_position_s_figure_holds_that_figure() -> None:
    report, risk = _report(**EXTRA, funding_drift=DRIFT)
    doc = _position_doc(report)
    shared = [f for f in msgspec.structs.fields(PositionDoc)
              if f.name not in ("suggestions", "protection", "funding_drift", "status")]
    for field in shared:
        assert getattr(doc, field.name) == getattr(risk, field.name), field.name
    assert doc.status == "ok"
    assert doc.funding_drift is not None
    assert (doc.funding_drift.rate, doc.funding_drift.payment, doc.funding_drift.payments_to_liquidation) == (
        0.0004, 0.08, 41.5)
    assert [(s.payments, s.liquidation_price) for s in doc.funding_drift.liquidation_after] == [
        (1, 91.5), (3, 92.75)]


def test_the_optional_fields_are_written_when_present_and_left_out_when_absent() -> None:
    with_all = msgspec.json.decode(report_bytes(_report(**EXTRA, funding_drift=DRIFT)[0]))
    written = with_all["accounts"][0]["positions"][0]
    for name, value in EXTRA.items():
        assert written[name] == value, name
    assert written["funding_drift"]["payments_to_liquidation"] == 41.5

    without = msgspec.json.decode(report_bytes(_report()[0]))["accounts"][0]["positions"][0]
    assert not set(EXTRA) & set(without)
    assert "funding_drift" not in without and "protection" not in without


def test_each_late_field_alone() -> None:
    # the fields set after the struct is made, one at a time: neither drags the other in
    alone = _position_doc(_report(funding_interval_hours=4.0)[0])
    assert (alone.funding_interval_hours, alone.funding_drift) == (4.0, None)
    drift_only = _position_doc(_report(funding_drift=DRIFT)[0])
    assert drift_only.funding_interval_hours is None and drift_only.funding_drift is not None
