"""An account's read notes (what the read could not give) survive the portfolio file, by both readers,
and a file's reader says them again (issue 21: never silent)."""

from __future__ import annotations

import json

import pytest

from desk.domain.engine import compute_risk
from desk.domain.model import Account, Portfolio
from desk.formats import PortfolioError, dump_portfolio, load_portfolio
from desk.formats.portfolio import MAX_NOTE, MAX_NOTES, _load_careful, _load_fast


def _doc(notes: object) -> dict:
    return {"format": "desk.portfolio/1", "accounts": [
        {"name": "live", "venue": "binanceusdm", "wallets": {"USDT": 1000.0}, "notes": notes}]}


def test_notes_round_trip_by_both_readers() -> None:
    account = Account("live", "binanceusdm", {"USDT": 1000.0},
                      notes=("Binance refused this key on the spot wallet (-2015)", "XYZ has no price"))
    data = dump_portfolio(Portfolio((account,)))
    assert json.loads(data)["accounts"][0]["notes"] == list(account.notes)
    fast, careful = _load_fast(data), _load_careful(data, "the file")
    assert fast is not None and fast == careful
    assert fast.accounts[0].notes == account.notes


def test_a_file_without_notes_loads_with_none() -> None:
    doc = _doc([])
    del doc["accounts"][0]["notes"]
    (account,) = load_portfolio(json.dumps(doc).encode()).accounts
    assert account.notes == ()
    assert "notes" not in json.loads(dump_portfolio(Portfolio((account,))))["accounts"][0]


@pytest.mark.parametrize(("notes", "named"), [
    ([""], "notes"),
    (["x" * (MAX_NOTE + 1)], "notes"),
    (["ok"] * (MAX_NOTES + 1), "notes"),
    ("a text, not a list", "notes"),
])
def test_a_bad_note_is_refused_and_named(notes: object, named: str) -> None:
    with pytest.raises(PortfolioError) as caught:
        load_portfolio(json.dumps(_doc(notes)).encode())
    assert caught.value.account == "live" and named in str(caught.value), caught.value


def test_the_writer_never_writes_what_its_reader_refuses() -> None:
    notes = (*(f"note {i} " + "y" * 2000 for i in range(MAX_NOTES + 5)), "  ", "colour\x1b[31m")
    data = dump_portfolio(Portfolio((Account("live", "binanceusdm", {"USDT": 1.0}, notes=notes),)))
    (account,) = load_portfolio(data).accounts
    assert len(account.notes) == MAX_NOTES and all(0 < len(n) <= MAX_NOTE for n in account.notes)
    assert account.notes[-1] == f"and {len(notes) - 1 - MAX_NOTES + 1} more notes (see desk.log)"
    assert "\x1b" not in data.decode()


def test_the_report_says_the_notes_of_a_single_asset_and_of_a_pooled_account() -> None:
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    pooled = load_portfolio(root / "docs/examples/unified-accounts.json")
    plain = Account("live", "binanceusdm", {"USDT": 1000.0}, notes=("the spot wallet was refused",))
    import dataclasses

    accounts = (plain, *(dataclasses.replace(a, notes=(f"{a.name}: a coin had no price",))
                         for a in pooled.accounts))
    report = compute_risk(Portfolio(accounts))
    for account, risk in zip(accounts, report.accounts, strict=True):
        said = [w for w in risk.warnings if w.startswith("when this account was read: ")]
        assert said == [f"when this account was read: {account.notes[0]}"], (account.name, risk.warnings)
