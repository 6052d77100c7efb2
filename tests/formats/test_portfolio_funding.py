"""Funding fields of a position in the portfolio file (issue 17): optional in version 1 and 2, read
the same by the fast reader and the careful path, written back, checked; older files unchanged."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from desk.formats import PortfolioError, dump_portfolio, load_portfolio
from desk.formats.portfolio import _load_careful, _load_fast

ROOT = Path(__file__).resolve().parents[2]
V1 = json.loads((ROOT / "docs/examples/binance-faq.json").read_text())
V2 = json.loads((ROOT / "docs/examples/unified-accounts.json").read_text())
FUNDING = {"funding_rate": -0.000125, "next_funding_time": 1_700_006_400.0, "funding_interval_hours": 4.0}


def _with_funding(doc: dict, **fields: float) -> bytes:
    doc = copy.deepcopy(doc)
    doc["accounts"][0]["positions"][0].update(fields or FUNDING)
    return json.dumps(doc).encode()


@pytest.mark.parametrize("doc", [V1, V2], ids=["v1", "v2"])
def test_funding_fields_load_the_same_on_both_paths_and_round_trip(doc):
    data = _with_funding(doc)
    fast, careful = _load_fast(data), _load_careful(data, "the portfolio")
    assert fast is not None and fast == careful
    p = fast.accounts[0].positions[0]
    assert (p.funding_rate, p.next_funding_time, p.funding_interval_hours) == (
        FUNDING["funding_rate"], FUNDING["next_funding_time"], FUNDING["funding_interval_hours"])
    written = dump_portfolio(fast)
    assert json.loads(written)["format"] == doc["format"]
    assert {k: json.loads(written)["accounts"][0]["positions"][0][k] for k in FUNDING} == FUNDING
    assert load_portfolio(written) == fast


@pytest.mark.parametrize("doc", [V1, V2], ids=["v1", "v2"])
def test_files_without_funding_load_unchanged(doc):
    data = json.dumps(doc).encode()
    portfolio = load_portfolio(data)
    assert all(p.funding_rate is None and p.next_funding_time is None and p.funding_interval_hours is None
               for a in portfolio.accounts for p in a.positions)
    written = json.loads(dump_portfolio(portfolio))
    assert not any(k in p for a in written["accounts"] for p in a["positions"] for k in FUNDING)


@pytest.mark.parametrize("field, value", [("funding_rate", 1.5), ("funding_rate", -1.0),
                                          ("next_funding_time", -1.0), ("funding_interval_hours", 0.0)])
def test_funding_fields_out_of_range_are_named(field, value):
    with pytest.raises(PortfolioError, match=field):
        load_portfolio(_with_funding(V1, **{field: value}))
