"""History of OKX twins (one instrument and leg held cross and isolated at once): each twin records
its own series, and a database written before desk told twins apart (schema 3, subjects keyed by
account, symbol and leg) opens with every series it held."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from pathlib import Path

from desk.domain.report import AccountRisk, PoolRisk, RiskReport
from desk.store.history import MIGRATIONS, SCHEMA_VERSION, History
from tests.support.store import position

T0 = 1_700_000_000.0
BTC = "BTC/USDT:USDT"


def twins_report(cross_mark: float, isolated_mark: float) -> RiskReport:
    cross = position("ok", BTC, mark=cross_mark, ratio=0.2, distance=0.4)
    isolated = replace(position("ok", BTC, mark=isolated_mark, ratio=0.7, distance=0.06,
                                margin_mode="isolated"), contracts=20.0)
    pool = PoolRisk(settle="USDT", wallet_balance=1000.0, unrealized_pnl=0.0, margin_balance=1000.0,
                    maintenance_margin=1.0, margin_ratio=0.2, venue_margin_ratio=None)
    return RiskReport(accounts=(AccountRisk(name="ok", venue="okx", rules="okx", generic_rules=False,
                                            pools=(pool,), positions=(cross, isolated),
                                            shock_to_liquidation=0.2),))


def test_each_twin_records_its_own_series(tmp_path: Path) -> None:
    with History(tmp_path / "h.db", sample_seconds=10) as h:
        assert h.record(twins_report(100.0, 200.0), T0)
        assert h.record(twins_report(101.0, 201.0), T0 + 10)
        cross = h.samples(account="ok", symbol=BTC, leg="both", margin_mode="cross")
        isolated = h.samples(account="ok", symbol=BTC, leg="both", margin_mode="isolated")
        assert [(s.at, s.mark_price, s.margin_mode) for s in cross] == [
            (T0, 100.0, "cross"), (T0 + 10, 101.0, "cross")]
        assert [(s.at, s.mark_price, s.margin_ratio, s.contracts, s.margin_mode) for s in isolated] == [
            (T0, 200.0, 0.7, 20.0, "isolated"), (T0 + 10, 201.0, 0.7, 20.0, "isolated")]
        drawn = h.series(("mark_price",), account="ok", symbol=BTC, leg="both", margin_mode="isolated")
        assert drawn == {"at": [T0, T0 + 10], "mark_price": [200.0, 201.0]}
        # without a mode, both twins (as a symbol's two hedge legs): four samples, none overwritten
        assert len(h.samples(account="ok", symbol=BTC)) == 4


def old_database(path: Path) -> None:
    """A history written by the desk before twins were told apart: schema 3, as its migrations made it."""
    conn = sqlite3.connect(path)
    for script in MIGRATIONS[:3]:
        conn.executescript(script)
    conn.execute("INSERT INTO subjects (id, kind, account, settle, symbol, leg) "
                 "VALUES (1, 'account', 'ok', 'USDT', '', ''), (2, 'position', 'ok', 'USDT', ?, 'both')",
                 (BTC,))
    for i in range(3):
        conn.execute("INSERT INTO samples (subject, at, side, mark_price, margin_ratio) "
                     "VALUES (2, ?, 'long', ?, 0.25)", (T0 + i * 10, 60_000.0 + i))
    conn.execute("INSERT INTO samples (subject, at, margin_ratio) VALUES (1, ?, 0.3)", (T0,))
    conn.execute("PRAGMA user_version = 3")
    conn.commit()
    conn.close()


def test_an_old_database_keeps_its_series_and_the_position_continues_it(tmp_path: Path) -> None:
    path = tmp_path / "h.db"
    old_database(path)
    with History(path, sample_seconds=10) as h:
        assert h.schema_version == SCHEMA_VERSION == 5
        assert any("upgraded" in p for p in h.problems)
        old = [(s.at, s.mark_price, s.margin_ratio, s.margin_mode)
               for s in h.samples(account="ok", symbol=BTC, leg="both")]
        assert old == [(T0 + i * 10, 60_000.0 + i, 0.25, None) for i in range(3)]
        assert [s.margin_ratio for s in h.samples(account="ok")] == [0.3]
        # the position now recorded with its mode continues the old series; its twin starts its own
        # beside it, and the old rows (mode unknown) show in either's chart
        assert h.record(twins_report(100.0, 200.0), T0 + 100)
        cross = h.series(("mark_price",), account="ok", symbol=BTC, leg="both", margin_mode="cross")
        assert cross == {"at": [T0, T0 + 10, T0 + 20, T0 + 100],
                         "mark_price": [60_000.0, 60_001.0, 60_002.0, 100.0]}
        isolated = h.samples(account="ok", symbol=BTC, leg="both", margin_mode="isolated")
        assert [(s.at, s.mark_price) for s in isolated][-1] == (T0 + 100, 200.0)
        assert len(isolated) == 4
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
    assert conn.execute("SELECT id, margin_mode FROM subjects WHERE id IN (1, 2) ORDER BY id").fetchall() == [
        (1, ""), (2, "")]
    conn.close()
    backups = list(tmp_path.glob("h.db.v3-backup-*"))
    assert len(backups) == 1
