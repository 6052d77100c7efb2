"""The ``desk.risk/1`` document as `desk risk --json` writes it (desk/formats/report.py): a figure that is
not finite is null — the project's one rule — written so by msgspec's encoder rather than checked
figure by figure (issue 18); where a field is left out when it has no figure, a non-finite one is
left out too.

The reports here are made with every float of every part (positions, pools, collateral, suggestions,
protection, funding drifts, book legs, hedges, transfers, stress curves) replaced in turn by ``inf``,
``-inf`` and ``nan``.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import numpy as np

from desk.domain.book import Book, compute_book
from desk.domain.engine import compute_risk
from desk.domain.finite import json_ready
from desk.domain.funding import with_funding_drift
from desk.domain.report import RiskReport
from desk.formats import load_portfolio, report_to_dict
from desk.formats.report import report_to_doc
from tests.formats.test_portfolio_fast_reader import generated
from tests.support.report import report_bytes

ROOT = Path(__file__).resolve().parents[2]
NON_FINITE = (math.inf, -math.inf, math.nan)


def _spoiled(value: Any, bad: Iterator[float]) -> Any:
    """``value`` with every float in it, at any depth of dataclasses, tuples and float arrays, replaced
    by the next of ``bad``."""
    if isinstance(value, float):
        return next(bad)
    if isinstance(value, tuple):
        return tuple(_spoiled(v, bad) for v in value)
    if isinstance(value, np.ndarray) and value.dtype.kind == "f":
        return np.array([next(bad) for _ in range(value.size)]).reshape(value.shape)
    if isinstance(value, dict):
        return {k: _spoiled(v, bad) for k, v in value.items()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.replace(value, **{f.name: _spoiled(getattr(value, f.name), bad)
                                             for f in dataclasses.fields(value) if f.init})
    return value


def _funded(doc: dict[str, Any]) -> dict[str, Any]:
    """``doc`` with a funding rate on every position, some paying and some receiving."""
    for a in doc["accounts"]:
        for k, p in enumerate(a["positions"]):
            p.update(funding_rate=0.0004 * (-1) ** k, next_funding_time=1.8e9 + 600 * k,
                     funding_interval_hours=8)
    return doc


def _report_and_book(path_or_doc: Path | dict[str, Any]) -> tuple[RiskReport, Book]:
    data = path_or_doc if isinstance(path_or_doc, Path) else json.dumps(path_or_doc).encode()
    portfolio = load_portfolio(data)
    # a target every account misses: a suggestion everywhere
    report = with_funding_drift(portfolio, compute_risk(portfolio, target=0.001), now=1.8e9)
    return report, compute_book(portfolio, move=0.2, betas={}, risk=report)


def _strict(text: bytes) -> Any:
    def refuse(constant: str) -> None:
        raise AssertionError(f"{constant} in the report's JSON")
    return json.loads(text, parse_constant=refuse)


def _floats(value: Any) -> Iterator[float]:
    if isinstance(value, float):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _floats(v)
    elif isinstance(value, list):
        for v in value:
            yield from _floats(v)


def test_msgspec_writes_every_non_finite_float_as_null() -> None:
    encoded = msgspec.json.encode([math.inf, -math.inf, math.nan, -0.0, 1e-05])
    assert encoded == b"[null,null,null,-0.0,0.00001]"


def test_a_report_whose_every_figure_is_not_finite_has_null_for_each() -> None:
    hedges, account_pools = 0, 0
    for source in (_funded(generated(4, 12)), ROOT / "docs/examples/unified-accounts.json"):
        report, book = _report_and_book(source)
        bad = itertools.cycle(NON_FINITE)
        spoiled, spoiled_book = _spoiled(report, bad), _spoiled(book, bad)
        doc = _strict(report_bytes(spoiled, book=spoiled_book))
        # the structs with the rule applied figure by figure
        assert doc == json_ready(msgspec.to_builtins(report_to_doc(spoiled, book=spoiled_book)))
        assert not list(_floats(doc))  # every figure null...
        positions = [p for a in doc["accounts"] for p in a["positions"]]
        assert positions
        assert all(p["margin_ratio"] is None and p["liquidation_price"] is None for p in positions)
        # ...and the fields left out without a figure are left out
        assert not any("signed_distance_to_liquidation" in p or "liquidation_price_symbol_only" in p
                       for p in positions)
        pools = [pool for a in doc["accounts"] for pool in a["pools"]]
        account_pools += sum(pool.get("pool") == "account" for pool in pools)
        assert not any("total_equity" in pool for pool in pools)
        suggestions = [s for p in positions for s in p["suggestions"]]
        assert suggestions and not any(key in s for s in suggestions
                                       for key in ("amount", "contracts", "fraction", "leverage", "step"))
        hedges += len(doc["book"]["hedges"])
        # report_to_dict: the same document without the book, every figure None
        assert report_to_dict(spoiled) == {k: v for k, v in doc.items() if k != "book"}
    assert hedges and account_pools  # a book with hedges and account-wide pools were among them


def test_the_protected_and_funded_parts_of_a_spoiled_report_are_null_too() -> None:
    report, _ = _report_and_book(_funded(generated(4, 12)))
    spoiled = _spoiled(report, itertools.cycle(NON_FINITE))
    doc = _strict(report_bytes(spoiled))
    positions = [p for a in doc["accounts"] for p in a["positions"]]
    protected = [p["protection"] for p in positions if p.get("protection")]
    drifting = [p["funding_drift"] for p in positions if p.get("funding_drift")]
    assert protected and all(pr["coverage"] is None and pr["stop_price"] is None for pr in protected)
    assert drifting and all(d["rate"] is None and d["payment"] is None for d in drifting)
    pool_drifts = [pool["funding_drift"] for a in doc["accounts"] for pool in a["pools"]
                   if "funding_drift" in pool]
    assert pool_drifts and all(d["origin"] is None and d["after"][0]["paid"] is None for d in pool_drifts)
