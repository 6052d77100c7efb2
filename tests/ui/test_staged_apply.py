"""A live snapshot of a large book is made ready over several passes of the event loop, then taken by
the table at once (MainWindow.show_snapshot, issue 18): through the real main window, pass by pass,
what the model holds and what the view paints is always one snapshot whole — never a row, nor a
table, made of two — a snapshot replaced while being made ready is never shown, and the sort and
the selection stay on their positions.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from PySide6.QtCore import QCoreApplication, Qt

from desk.domain.report import PositionRisk
from desk.services.alerts_config import Thresholds
from desk.services.snapshot import MonitorSnapshot
from desk.ui.levels import Level, global_thresholds
from desk.ui.main_window import MainWindow
from desk.ui.positions_model import KEY_ROLE, LEVEL_ROLE, SORT_ROLE, Column, PositionsModel, Row
from tests.support.ui import position, snapshot
from tests.ui.table_oracle import PaintRecorder, shown_window

START = 1_800_000_000.0
POSITIONS = 24
STEP = 4  # rows made ready per pass: 24 positions take six passes, then the table takes them

Texts = dict[object, list[str]]  # position key -> the display text of each column


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now


def book(version: int, *, worst: float = 0.03) -> list[PositionRisk]:
    """The same positions at each version, every mark moved and the distances shuffled (so the
    risk sort reorders the rows, and some become critical or safe)."""
    out = []
    for i in range(POSITIONS):
        mark = 100.0 + i + version * 0.37
        distance = worst + ((i * 7 + version * 5) % POSITIONS) / 100
        out.append(position(f"P{i:02d}/USDT:USDT", account=f"acct-{i % 3}", mark=mark,
                            liquidation=mark * (1 - distance), tick_size=0.01))
    return out


@pytest.fixture
def window(qtbot, monkeypatch):  # type: ignore[no-untyped-def]
    w = shown_window(qtbot, monkeypatch, Clock())
    w.rows_per_step = STEP
    return w


def made(version: int, seq: int, **kwargs: float) -> MonitorSnapshot:
    return snapshot(book(version, **kwargs), seq=seq, at=START)


def texts_of(snap: MonitorSnapshot, clock: Callable[[], float],
             thresholds: Thresholds | None = None) -> Texts:
    """Every position's cells as a table given ``snap`` alone shows them."""
    model = PositionsModel(global_thresholds(thresholds), clock=clock)
    model.apply_snapshot(snap)
    return {model.index(r, 0).data(KEY_ROLE): [model.index(r, c).data() for c in Column]
            for r in range(model.rowCount())}


class Watch:
    """After every pass of the event loop (and in a frame painted then): which of the known
    snapshots the model's table and the painted screen are, each as a whole."""

    def __init__(self, window: MainWindow, versions: dict[str, Texts]) -> None:
        self.w = window
        self.versions = versions
        self.recorder = PaintRecorder(window.table)
        self.seen: list[tuple[str, frozenset[str], frozenset[str]]] = []  # (when, model is, screen is)
        self.problems: list[str] = []
        self.passes_while_staged = 0
        self.offscreen_frames = 0  # frames painted offscreen, the window being unexposed then

    def _whole(self, rows: list[tuple[object, dict[int, str]]], what: str) -> frozenset[str]:
        """The snapshots every row matches in every cell given; a row no snapshot explains whole,
        or a table whose rows come from different snapshots, is a problem."""
        table = set(self.versions)
        for key, cells in rows:
            fits = {name for name, texts in self.versions.items()
                    if key in texts and all(texts[key][c] == text for c, text in cells.items())}
            if not fits:
                self.problems.append(f"{what}: row {key} is no snapshot's: {cells}")
            table &= fits
        if rows and not table:
            self.problems.append(f"{what}: rows from different snapshots")
        return frozenset(table)

    def model_is(self) -> frozenset[str]:
        proxy = self.w.proxy
        return self._whole([(proxy.index(r, 0).data(KEY_ROLE),
                             {c: proxy.index(r, c).data() for c in Column})
                            for r in range(proxy.rowCount())], "model")

    def screen_is(self) -> frozenset[str]:
        rows: dict[int, tuple[object, dict[int, str]]] = {}
        height = self.w.table.viewport().height()
        for (y, column), (key, text, _selected) in self.recorder.screen.items():
            if not 0 <= y < height:
                continue  # painted before the viewport shrank (the split is fitted to the first rows)
            held = rows.setdefault(y, (key, {}))
            if held[0] != key:
                self.problems.append(f"screen: y={y} holds cells of {held[0]} and {key}")
            held[1][column] = text
        return self._whole(list(rows.values()), "screen")

    def look(self, when: str) -> None:
        if not self.versions:
            return  # only driving the passes
        viewport = self.w.table.viewport()
        frames = self.recorder.frames
        viewport.repaint()  # a frame now, as an expose or a scroll would paint it
        if self.recorder.frames == frames:
            # Not painted: the window system had the window unexposed at this instant (seen under
            # load on Xvfb, even after it was exposed). The same paint, offscreen, without letting
            # the event loop run (which would take a step of the apply between two looks).
            viewport.grab()
            self.offscreen_frames += 1
        assert self.recorder.frames > frames, f"{when}: the table painted no frame"
        self.seen.append((when, self.model_is(), self.screen_is()))

    def run(self, passes: int = 60, between: Callable[[int], None] | None = None) -> None:
        """Pass after pass until nothing is being made ready; ``between(n)`` after pass n."""
        for n in range(passes):
            staged = self.w.staging() is not None
            QCoreApplication.processEvents()  # one pass: one step of the apply
            self.look(f"pass {n}")
            if staged and self.w.staging() is not None:
                self.passes_while_staged += 1
            if between is not None:
                between(n)
            if self.w.staging() is None and not self.w._step_posted:
                return
        raise AssertionError("the snapshot was never taken by the table")


def test_a_large_book_is_made_ready_over_several_passes_and_taken_whole(window) -> None:  # type: ignore[no-untyped-def]
    clock = window.clock
    a, b = made(1, 1), made(2, 2)
    applied: list[int] = []
    window.snapshot_applied.connect(lambda s: applied.append(s.seq))
    watch = Watch(window, {"A": texts_of(a, clock), "B": texts_of(b, clock)})
    window.show_snapshot(a)  # the first snapshot: at once
    assert window.snapshot is a and window.staging() is None and window.model.rowCount() == POSITIONS
    watch.look("A shown")
    window.show_snapshot(b)
    assert window.staging() is b and window.snapshot is a  # made ready beside the table
    watch.run()
    assert not watch.problems, "\n".join(watch.problems[:10])
    # several passes went by with B being made ready while the table showed A, whole
    assert watch.passes_while_staged >= POSITIONS // STEP - 1
    states = [(model, screen) for _, model, screen in watch.seen]
    first_b = next(i for i, (model, _) in enumerate(states) if model == {"B"})
    # (the message names each look: a whole-suite run once saw this fail with no mixed row reported)
    assert all(model == {"A"} and screen == {"A"} for model, screen in states[:first_b]), \
        [(when, sorted(model), sorted(screen)) for when, model, screen in watch.seen[:first_b + 1]]
    assert all(model == {"B"} and screen == {"B"} for model, screen in states[first_b:])
    assert first_b >= POSITIONS // STEP
    assert applied == [1, 2] and window.snapshot is b


def test_a_snapshot_replaced_while_made_ready_is_never_shown(window) -> None:  # type: ignore[no-untyped-def]
    clock = window.clock
    a, b, c = made(1, 1), made(2, 2), made(3, 3)
    applied: list[int] = []
    window.snapshot_applied.connect(lambda s: applied.append(s.seq))
    watch = Watch(window, {"A": texts_of(a, clock), "B": texts_of(b, clock), "C": texts_of(c, clock)})
    window.show_snapshot(a)
    window.show_snapshot(b)
    for _ in range(3):  # half of B made ready
        QCoreApplication.processEvents()
        watch.look("B half made")
    assert window.staging() is b
    window.show_snapshot(c)
    assert window.staging() is c and window.snapshot is a
    watch.run()
    assert not watch.problems, "\n".join(watch.problems[:10])
    assert all("B" not in model and "B" not in screen for _, model, screen in watch.seen)
    assert watch.seen[-1][1:] == (frozenset({"C"}), frozenset({"C"}))
    assert applied == [1, 3]  # B was never applied: no panel, card or strip ever saw it


def test_snapshots_arriving_faster_than_they_are_made_ready_are_still_shown(window) -> None:  # type: ignore[no-untyped-def]
    snaps = [made(v, v) for v in range(1, 7)]
    applied: list[int] = []
    window.snapshot_applied.connect(lambda s: applied.append(s.seq))
    window.show_snapshot(snaps[0])
    for snap in snaps[1:4]:  # each replaces the one before it after a single pass
        window.show_snapshot(snap)
        QCoreApplication.processEvents()
        assert window.snapshot is snaps[0] and window.staging() is snap
    window.show_snapshot(snaps[4])  # a third replacement in a row: applied at once
    assert window.snapshot is snaps[4] and window.staging() is None
    assert applied == [1, 5]
    window.show_snapshot(snaps[5])  # and the next one is made ready in steps again
    assert window.staging() is snaps[5]
    Watch(window, {}).run()
    assert applied == [1, 5, 6] and window.snapshot is snaps[5]


def test_sort_and_selection_stay_on_their_positions_while_a_snapshot_is_made_ready(window) -> None:  # type: ignore[no-untyped-def]
    a, b = made(1, 1, worst=0.12), made(2, 2, worst=0.12)  # no pinned rows: one order to check
    window.show_snapshot(a)
    key = window.proxy.index(5, 0).data(KEY_ROLE)
    window.table.selectRow(5)
    assert window.selected_key() == key
    window.show_snapshot(b)
    selected: list[object] = []

    def between(n: int) -> None:
        selected.append(window.selected_key())
        if n == 2:  # the trader sorts by mark, highest first, while B is made ready
            window.table.sortByColumn(Column.MARK, Qt.SortOrder.DescendingOrder)

    Watch(window, {}).run(between=between)
    assert set(selected) == {key}
    assert window.snapshot is b
    proxy = window.proxy
    marks = [proxy.index(r, Column.MARK).data(SORT_ROLE) for r in range(proxy.rowCount())]
    assert marks == sorted(marks, reverse=True) and len(marks) == POSITIONS
    assert marks[0] == max(p.mark_price for p in book(2))
    row = window.table.selectionModel().selectedRows()[0].row()
    assert proxy.index(row, 0).data(KEY_ROLE) == key
    assert proxy.index(row, Column.MARK).data() == texts_of(b, window.clock)[key][Column.MARK]


def test_new_thresholds_while_a_snapshot_is_made_ready_apply_to_all_of_it(window) -> None:  # type: ignore[no-untyped-def]
    a, b = made(1, 1, worst=0.12), made(2, 2, worst=0.12)  # every distance 12 % or more: all OK
    window.show_snapshot(a)
    window.show_snapshot(b)
    strict = Thresholds(distance_warning=0.5, distance_critical=0.4)  # every row critical

    def between(n: int) -> None:
        if n == 2:  # half of B made ready with the old thresholds
            window.set_thresholds(global_thresholds(strict))

    Watch(window, {}).run(between=between)
    assert window.snapshot is b
    proxy = window.proxy
    assert {proxy.index(r, 0).data(LEVEL_ROLE) for r in range(proxy.rowCount())} == {int(Level.CRITICAL)}
    expected = texts_of(b, window.clock, strict)
    assert {proxy.index(r, 0).data(KEY_ROLE): [proxy.index(r, c).data() for c in Column]
            for r in range(proxy.rowCount())} == expected


@pytest.mark.parametrize("at_pass", [2, POSITIONS // STEP])  # half made; all made, cells in view too
def test_a_clock_tick_while_a_snapshot_is_made_ready_counts_for_all_of_it(window, at_pass) -> None:  # type: ignore[no-untyped-def]
    a, b = made(1, 1), made(2, 2)  # both read at START
    window.show_snapshot(a)
    window.show_snapshot(b)

    def between(n: int) -> None:
        if n == at_pass:  # two minutes without a read: B's figures are stale by the time it is shown
            assert window.staging() is b
            window.clock.now = START + 120.0
            window.tick()

    Watch(window, {}).run(between=between)
    assert window.snapshot is b
    proxy = window.proxy
    assert {proxy.index(r, 0).data(LEVEL_ROLE) for r in range(proxy.rowCount())} == {int(Level.STALE)}
    assert {proxy.index(r, 0).data(KEY_ROLE): [proxy.index(r, c).data() for c in Column]
            for r in range(proxy.rowCount())} == texts_of(b, window.clock)


def test_a_row_copy_holds_every_field_of_the_row() -> None:
    original = Row(risk=position(), status=None, observed_at=START, reason="why", critical_at=START,
                   liquidated_at=START + 1, venue="okx", demo=True, read_interval=5.0)
    original.text, original.cells, original.shown = ["x"], {0: ["y"]}, ("z",)
    copy = original.copy()
    assert copy is not original
    for name in Row.__slots__:
        assert getattr(copy, name) is getattr(original, name), name
