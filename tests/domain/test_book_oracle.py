"""The book (issue 18: computed column-wise, compiled once for both curves) against the plain
one-leg-at-a-time expectation of tests/support/book_oracle.py, field by field and bit for bit: every
float equal (the sign of a zero too), every label, warning and transfer the same, on the examples,
on random multi-account books, on the demo's accounts (pooled, spot, betas) and on a book shaped
like the 10,000-position benchmark."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pytest

from benchmarks.bench_cold import portfolio_doc
from desk.domain.book import compute_book
from desk.domain.engine import compute_risk
from desk.domain.model import Portfolio
from desk.exchanges.demo.catalog import ASSETS
from desk.formats import load_portfolio
from tests.support import book_oracle
from tests.support.book_inputs import demo_book, random_book

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "docs" / "examples").glob("*.json"))
BETAS = {a.name: a.beta for a in ASSETS}


def differences(expected: object, got: object, path: str = "book") -> list[str]:
    """Every place where ``got`` is not ``expected`` (types, lengths, keys, values bit for bit)."""
    if type(expected) is not type(got):
        return [f"{path}: {type(expected).__name__} expected, got {type(got).__name__}"]
    if dataclasses.is_dataclass(expected):
        return [d for f in dataclasses.fields(expected)
                for d in differences(getattr(expected, f.name), getattr(got, f.name), f"{path}.{f.name}")]
    if isinstance(expected, np.ndarray):
        assert isinstance(got, np.ndarray)
        same = (expected.shape == got.shape and expected.dtype == got.dtype
                and np.array_equal(expected, got, equal_nan=True)
                and np.array_equal(np.signbit(expected), np.signbit(got)))
        return [] if same else [f"{path}: {expected!r} expected, got {got!r}"]
    if isinstance(expected, tuple | list):
        assert isinstance(got, tuple | list)
        if len(expected) != len(got):
            return [f"{path}: {len(expected)} items expected, got {len(got)}"]
        return [d for i, (a, b) in enumerate(zip(expected, got, strict=True))
                for d in differences(a, b, f"{path}[{i}]")]
    if isinstance(expected, dict):
        assert isinstance(got, dict)
        if list(expected) != list(got):
            return [f"{path}: keys {list(expected)} expected, got {list(got)}"]
        return [d for k in expected for d in differences(expected[k], got[k], f"{path}[{k!r}]")]
    if isinstance(expected, float):
        assert isinstance(got, float)
        same = (math.isnan(expected) and math.isnan(got)) or (
            expected == got and math.copysign(1.0, expected) == math.copysign(1.0, got))
        return [] if same else [f"{path}: {expected!r} expected, got {got!r}"]
    return [] if expected == got else [f"{path}: {expected!r} expected, got {got!r}"]


def check(portfolio: Portfolio) -> None:
    risk = compute_risk(portfolio)
    for move, betas in ((0.2, BETAS), (0.07, BETAS), (0.2, None)):
        expected = book_oracle.book(portfolio, risk, move, betas)
        got = compute_book(portfolio, move=move, betas=betas, risk=risk)
        assert differences(expected, got) == []


def test_the_comparison_sees_a_float_off_by_one_ulp_and_a_negative_zero():
    book = compute_book(random_book(3))
    stress = book.stress[0]
    nudged = dataclasses.replace(stress, pnl_usd=np.nextafter(stress.pnl_usd, np.inf))
    assert differences(book, dataclasses.replace(book, stress=(nudged, book.stress[1])))
    assert differences(0.0, -0.0) and differences(1.0, 1.0 + 2**-52) and not differences(math.nan, math.nan)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_the_examples_books_are_the_plain_ones(path: Path):
    check(load_portfolio(str(path)))


@pytest.mark.parametrize("seed", range(40))
def test_random_books_are_the_plain_ones(seed: int):
    check(random_book(seed))


@pytest.mark.parametrize(("seed", "scenario"), [(1, "calm"), (2, "flash-crash"), (3, "squeeze")])
def test_the_demo_accounts_book_is_the_plain_one(seed: int, scenario: str):
    check(demo_book(seed, scenario))


def test_a_book_shaped_like_the_benchmark_is_the_plain_one():
    portfolio = load_portfolio(json.dumps(portfolio_doc(6, 60)).encode())
    book = compute_book(portfolio, betas=BETAS)
    assert len(book.hedges) > 100 and any(h.transfer is not None for h in book.hedges)
    check(portfolio)
