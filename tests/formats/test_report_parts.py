"""`desk risk --json` writes the report in parts (desk/formats/report.py ``write_report``): a document's
long lists are encoded a slice at a time into a skeleton, so that a 10,000-position report never
exists whole as text (issue 18). The bytes must be exactly msgspec's for the whole document — compact,
and indented by ``msgspec.json.format`` — whatever the lists' lengths around a slice's edge, whatever
the names hold, with or without the book and suggestions.
"""

from __future__ import annotations

import io
from typing import Any

import msgspec
import pytest

from desk.domain.book import compute_book
from desk.domain.engine import compute_risk
from desk.formats import load_portfolio
from desk.formats.report import _ENCODER, _SLICE, report_to_doc, write_report
from tests.formats.test_portfolio_fast_reader import generated
from tests.support.report import report_bytes

WHAT_IF = {"marks": {}, "shock": None, "target": None}


def whole(report: Any, book: Any, indent: bool) -> bytes:
    """The plain way: the whole document encoded at once."""
    text = _ENCODER.encode(report_to_doc(report, what_if=WHAT_IF, book=book))
    return msgspec.json.format(text, indent=2) if indent else text


def report_of(doc: dict[str, Any], target: float | None = None) -> tuple[Any, Any]:
    portfolio = load_portfolio(msgspec.json.encode(doc))
    report = compute_risk(portfolio, target=target)
    book = compute_book(portfolio, risk=report) if len(portfolio.accounts) > 1 else None
    return report, book


# an account of the generated file holds per_account positions and two hedge legs: lists of one slice
# less one, exactly one, one more, and (the book's hedges and stress points) several slices
@pytest.mark.parametrize("per_account", [1, _SLICE - 3, _SLICE - 2, _SLICE - 1, 90])
@pytest.mark.parametrize("accounts", [1, 3])
def test_the_parts_make_the_very_bytes_of_the_whole_document(accounts: int, per_account: int) -> None:
    report, book = report_of(generated(accounts, per_account), target=0.5)
    for indent in (False, True):
        assert report_bytes(report, what_if=WHAT_IF, book=book, indent=indent) == whole(report, book, indent)


def test_the_examples_and_a_large_book_written_in_parts_are_the_whole_documents() -> None:
    for name in ("binance-faq", "multi-venue", "hedged-book", "unified-accounts"):
        portfolio = load_portfolio(f"docs/examples/{name}.json")
        report = compute_risk(portfolio, target=0.5, target_distance=0.2)
        book = compute_book(portfolio, risk=report)
        for indent in (False, True):
            assert report_bytes(report, what_if=WHAT_IF, book=book, indent=indent) == \
                whole(report, book, indent), name
    report, book = report_of(generated(8, 90))
    out = Recorder()
    write_report(out, report, what_if=WHAT_IF, book=book, indent=True)
    assert out.getvalue() == whole(report, book, True)
    # in parts of about a megabyte, never the whole text at once
    assert len(out.writes) >= 3 and max(out.writes) < 2 * (1 << 20) < len(out.getvalue())


def test_names_that_look_like_the_placeholders_are_written_as_they_are() -> None:
    doc = generated(2, _SLICE + 3)
    doc["accounts"][0]["name"] = '\x00deadbeefdeadbeef:0\x00 "quoted" \\ back'
    doc["accounts"][1]["positions"][5]["symbol"] = "C5/USDT:USDT"
    report, book = report_of(doc)
    for indent in (False, True):
        data = report_bytes(report, what_if=WHAT_IF, book=book, indent=indent)
        assert data == whole(report, book, indent)
        assert msgspec.json.decode(data)["accounts"][0]["name"] == doc["accounts"][0]["name"]


class Recorder(io.BytesIO):
    def __init__(self) -> None:
        super().__init__()
        self.writes: list[int] = []

    def write(self, data: Any) -> int:
        self.writes.append(len(data))
        return super().write(data)
