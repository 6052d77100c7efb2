"""An alert about a position at or past liquidation carries ``margin_ratio = inf``.

Every JSON writer (``desk watch --json-lines``, the alert channels, the report, the history export) must
write it as ``null`` — one rule, :mod:`desk.domain.finite`. ``Infinity`` is not JSON: a strict
parser (``parse_constant`` raising) rejects it, and ``json.dumps(..., allow_nan=False)`` crashes.
"""

from __future__ import annotations

import io
import json
import math
from pathlib import Path
from typing import Any

import pytest

from desk.commands.watch import JsonPrinter
from desk.domain.alerts import Alert, AlertLevel
from desk.domain.engine import compute_risk
from desk.domain.finite import finite_or_none, json_ready
from desk.domain.model import Account, Kind, MarginMode, Portfolio, Position, Side, Tier
from desk.notify.remote import AppriseNotifier, alert_document
from desk.services.alerts import AlertRaised
from desk.store.export import rows_to_text
from desk.store.history import History
from tests.support.push_services import PushServer
from tests.support.report import report_bytes

PAST_LIQUIDATION = Alert(
    at=1_800_000_000.0, rule="margin_ratio", level=AlertLevel.CRITICAL,
    title="BTC/USDT:USDT long: at or past liquidation", body="main: margin balance gone",
    account="main", symbol="BTC/USDT:USDT", leg="both", value=math.inf, threshold=0.8,
)


def _strict(text: str | bytes) -> Any:
    def refuse(constant: str) -> Any:
        raise AssertionError(f"{constant} is not JSON")

    return json.loads(text, parse_constant=refuse)


def test_rule_maps_every_non_finite_number_to_null_at_any_depth() -> None:
    assert finite_or_none(math.inf) is None
    assert finite_or_none(-math.inf) is None
    assert finite_or_none(math.nan) is None
    assert finite_or_none(None) is None
    assert finite_or_none(0.0) == 0.0
    doc = {"a": math.inf, "b": [1.5, math.nan, {"c": -math.inf}], "d": (2.0,), "e": "inf", "f": True}
    assert json_ready(doc) == {"a": None, "b": [1.5, None, {"c": None}], "d": [2.0], "e": "inf", "f": True}


def test_watch_json_lines_prints_an_infinite_alert_as_null() -> None:
    out = io.StringIO()
    JsonPrinter(out).event(AlertRaised(PAST_LIQUIDATION))
    doc = _strict(out.getvalue())
    assert doc["type"] == "alert"
    assert doc["rule"] == "margin_ratio"
    assert doc["value"] is None
    assert doc["threshold"] == 0.8


def test_a_json_channel_gets_strict_json_for_an_infinite_alert(push_server: PushServer) -> None:
    notifier = AppriseNotifier("hook", push_server.json_url("hook"))
    assert notifier.send(PAST_LIQUIDATION) == "sent via JSON"
    (request,) = push_server.requests
    doc = _strict(request.body)
    assert doc["title"] == PAST_LIQUIDATION.title and doc["type"] == "failure"


def test_history_export_of_an_infinite_alert_is_json(tmp_path: Path) -> None:
    history = History(tmp_path / "history.sqlite")
    try:
        history.record_alert(PAST_LIQUIDATION)
        rows = [r.as_dict() for r in history.alerts()]
    finally:
        history.close()
    (doc,) = _strict(rows_to_text(rows, "json"))
    assert doc["value"] is None
    assert doc["threshold"] == 0.8


def test_report_of_a_position_past_liquidation_writes_its_ratio_as_null() -> None:
    # long 1 BTC @ 60,000 with 1,000 USDT isolated: at mark 50,000 the margin balance is −9,000
    position = Position(
        "BTC/USDT:USDT", "USDT", Kind.LINEAR, 1.0, Side.LONG, 60_000.0, 50_000.0, MarginMode.ISOLATED,
        isolated_margin=1_000.0, tiers=(Tier(0.0, math.inf, 0.005, 0.0),),
    )
    report = compute_risk(Portfolio((Account("main", "binance", {"USDT": 0.0}, (position,)),)))
    assert report.accounts[0].positions[0].margin_ratio == math.inf  # the engine's own figure
    doc = _strict(report_bytes(report))
    assert doc["accounts"][0]["positions"][0]["margin_ratio"] is None
    assert doc["accounts"][0]["positions"][0]["liquidatable"] is True


@pytest.mark.parametrize("value", [math.inf, -math.inf, math.nan])
def test_every_alert_writer_agrees_on_non_finite_values(value: float, tmp_path: Path) -> None:
    alert = Alert(at=1.0, rule="margin_ratio", level=AlertLevel.WARNING, title="t", body="b", value=value)
    out = io.StringIO()
    JsonPrinter(out).event(AlertRaised(alert))
    printed = _strict(out.getvalue())["value"]
    document = _strict(json.dumps(alert_document(alert)))["value"]
    assert printed is None
    assert document is None
