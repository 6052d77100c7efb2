"""Export: write_rows (CSV/JSON, atomic files) and `desk export history|alerts`."""

from __future__ import annotations

import csv
import io
import json
from enum import StrEnum
from pathlib import Path

import pytest

from desk.cli import main
from desk.domain.alerts import DeliveryAttempt
from desk.store.export import iso_utc, write_rows
from desk.store.history import History
from desk.store.paths import desk_paths
from tests.support.store import alert, report

T0 = 1_763_719_200.0  # 2025-11-21T10:00:00Z


class Colour(StrEnum):
    RED = "red"


def test_iso_utc() -> None:
    assert iso_utc(T0) == "2025-11-21T10:00:00Z"
    assert iso_utc(T0 + 0.25) == "2025-11-21T10:00:00.250Z"


def test_write_rows_csv_union_of_columns_and_values() -> None:
    rows = [{"at": T0, "a": 1.5, "b": None, "c": True},
            {"at": T0 + 1, "a": 0.1 + 0.2, "d": Colour.RED, "e": [1, 2]}]
    buffer = io.StringIO()
    write_rows(rows, buffer, "csv")
    read = list(csv.DictReader(io.StringIO(buffer.getvalue())))
    assert list(read[0]) == ["time", "at", "a", "b", "c", "d", "e"]
    assert read[0]["time"] == "2025-11-21T10:00:00Z"
    assert float(read[1]["a"]) == 0.1 + 0.2  # exact round trip
    assert read[0]["b"] == "" and read[0]["c"] == "true"
    assert read[1]["d"] == "red" and json.loads(read[1]["e"]) == [1, 2]
    assert read[0]["d"] == ""


def test_write_rows_json_and_nan() -> None:
    buffer = io.StringIO()
    write_rows([{"at": T0, "x": float("nan"), "level": Colour.RED}], buffer, "json")
    data = json.loads(buffer.getvalue())
    assert data == [{"time": "2025-11-21T10:00:00Z", "at": T0, "x": None, "level": "red"}]
    empty = io.StringIO()
    write_rows([], empty, "json")
    assert json.loads(empty.getvalue()) == []


def test_write_rows_to_a_file_is_atomic(tmp_path: Path) -> None:
    target = tmp_path / "out.csv"
    target.write_text("previous good export\n")

    class Boom:
        def items(self) -> None:
            raise RuntimeError("row broke mid-way")

        def __iter__(self):  # type: ignore[no-untyped-def]
            raise RuntimeError("row broke mid-way")

    with pytest.raises(RuntimeError):
        write_rows([{"a": 1}, Boom()], target, "csv")  # type: ignore[list-item]
    assert target.read_text() == "previous good export\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.csv"]
    write_rows([{"a": 1}], target, "csv")
    assert target.read_text() == "a\n1\n"


def test_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="csv or json"):
        write_rows([], io.StringIO(), "xlsx")


@pytest.fixture
def filled_history() -> None:
    with History(desk_paths().ensure().history_db, sample_seconds=10) as h:
        for i in range(6):
            h.record(report(mark=100.0 + i, ratio=0.3 + i / 100, extra_accounts=("spare",)), T0 + i * 60)
        for i in range(3):
            alert_id = h.record_alert(alert(i, T0 + i * 3600))
            h.record_delivery(alert_id, DeliveryAttempt(at=T0 + i * 3600, channel="dbus", delivered=True,
                                                        detail="id 7"))


def test_export_history_csv_to_stdout_filtered(filled_history: None,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["export", "history", "--account", "main", "--symbol", "BTC/USDT:USDT",
                 "--from", "2025-11-21T10:01:00Z", "--to", "2025-11-21T10:03:00"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [r["time"] for r in rows] == ["2025-11-21T10:01:00Z", "2025-11-21T10:02:00Z",
                                         "2025-11-21T10:03:00Z"]
    assert [float(r["mark_price"]) for r in rows] == [101.0, 102.0, 103.0]
    assert {r["account"] for r in rows} == {"main"} and {r["kind"] for r in rows} == {"position"}


def test_export_history_json_file_all_levels(filled_history: None, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "h.json"
    assert main(["export", "history", "-o", str(out)]) == 0  # format from the suffix
    data = json.loads(out.read_text())
    assert len(data) == 6 * 2 * 3  # 6 samples x 2 accounts x (account + pool + 1 position)
    assert {d["kind"] for d in data} == {"account", "pool", "position"}
    assert "wrote 36 history rows" in capsys.readouterr().err
    assert main(["export", "history", "--kind", "pool", "--format", "json"]) == 0
    pools = json.loads(capsys.readouterr().out)
    assert len(pools) == 12 and all(p["kind"] == "pool" for p in pools)


def test_export_alerts_with_deliveries(filled_history: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["export", "alerts", "--format", "json", "--from", "2025-11-21T11:00"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [d["title"] for d in data] == ["alert 1", "alert 2"]
    assert data[0]["delivered_via"] == "dbus"
    assert data[0]["deliveries"] == [{"at": T0 + 3600, "channel": "dbus", "delivered": True,
                                      "detail": "id 7"}]
    assert main(["export", "alerts"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert len(rows) == 3 and rows[0]["level"] == "warning"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["export", "history", "--from", "yesterday"], "--from 'yesterday' is not a date"),
        (["export", "history", "--from", "2025-11-22", "--to", "2025-11-21"], "is after --to"),
        (["export", "history", "--account", "ghost"],
         "no history for account 'ghost' — accounts with history: main, spare"),
        (["export", "alerts", "--symbol", "X"], "apply to `desk export history` only"),
    ],
)
def test_export_bad_input(filled_history: None, argv: list[str], message: str,
                          capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_export_without_history_is_empty_and_creates_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["export", "alerts", "--format", "json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out) == []
    assert "no history yet" in captured.err
    assert not desk_paths().history_db.exists()


def test_to_with_a_bare_date_includes_the_whole_day(filled_history: None,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["export", "alerts", "--format", "json", "--from", "2025-11-21", "--to", "2025-11-21"]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 3
    assert main(["export", "alerts", "--format", "json", "--to", "2025-11-20"]) == 0
    assert json.loads(capsys.readouterr().out) == []
