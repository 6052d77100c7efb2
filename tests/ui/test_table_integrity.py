"""The screen never lies: a randomized run of the real main window's positions table.

Thousands of steps — snapshot updates (marks, data status, exchange reads), positions opened,
closed and liquidated, sorts on every column in both orders, filters, selections, clock ticks,
acknowledgements — and after each one, and after every frame the view paints, every visible cell
of every row shows the position that row names (each painted role, against an expectation
built from the test's own book), the selection stays on the position chosen, critical, stale and
liquidated rows sit on top, and nothing is left painted where no row is.
"""

from __future__ import annotations

import random

import pytest
from PySide6.QtCore import QCoreApplication, Qt

from desk.services.alerts_config import Thresholds
from desk.services.snapshot import DataStatus, ExchangeCheck
from desk.ui import main_window as main_window_module
from desk.ui.levels import Level
from desk.ui.main_window import MainWindow
from desk.ui.positions_model import KEY_ROLE, SORT_ROLE, Column
from tests.ui.table_oracle import Book, Held, PaintRecorder, cell_mismatches, make_position, remark

START = 1_800_000_000.0
STEPS = 2000
SEED = 20261204
FILTERS = ("", "", "", "alpha", "beta", "crit", "liquidated", "short", "S1", "stale")
STATUSES = (DataStatus.LIVE,) * 6 + (DataStatus.DELAYED, DataStatus.STALE, DataStatus.ERROR)


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def window(qtbot, monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setattr(main_window_module.MainWindow, "_attach_charts", lambda self: None)
    clock = Clock()
    w = MainWindow(demo=True, clock=clock)
    w.allow_close = True
    w._clock_timer.stop()  # the test ticks the clock itself, as the one-second timer would
    qtbot.addWidget(w)
    w.resize(1900, 1000)  # a dozen rows in view: no scrolling moves pixels under the recorder
    for column in range(w.model.columnCount()):  # every column painted, not only the default set
        w.table.setColumnHidden(column, False)
    with qtbot.waitExposed(w):  # a context manager: called bare it waits for nothing
        w.show()
    return w


class Run:
    """One randomized run: the book, the window, the recorder and the checks."""

    def __init__(self, window: MainWindow, seed: int) -> None:
        self.w = window
        self.clock: Clock = window.clock  # type: ignore[assignment]
        self.rng = random.Random(seed)
        self.book = Book(accounts=("alpha", "beta", "gamma"), thresholds=Thresholds(), held={},
                         status={"alpha": DataStatus.LIVE, "beta": DataStatus.LIVE, "gamma": DataStatus.LIVE},
                         now=self.clock.now)
        self.seq = 0
        self.serial = 0
        self.selected: tuple[str, str, str] | None = None
        self.recorder = PaintRecorder(window.table)
        self.recorder.on_frame = self._frame
        self.painted_since_step = 0
        self.failures: list[str] = []
        self.mismatched_steps = 0
        self.step_name = "start"
        # no more rows than the viewport shows whole: a scroll would move pixels past the recorder
        rows_in_view = window.table.viewport().height() // window.table.verticalHeader().defaultSectionSize()
        self.capacity = min(8, rows_in_view - 3)
        assert self.capacity >= 8, f"the table shows only {rows_in_view} rows"

    # -- the book ---------------------------------------------------------------------------

    def new_position(self) -> None:
        self.serial += 1
        rng = self.rng
        account = rng.choice(self.book.accounts)
        symbol = f"S{self.serial}/USDT:USDT"
        mark = rng.choice((0.15, 2.5, 100.0, 3_000.0, 60_000.0)) * rng.uniform(0.9, 1.1)
        side = rng.choice(("long", "short"))
        leg = rng.choice(("both", "both", side))
        liq = None if rng.random() < 0.1 else (mark * (1 - rng.uniform(0.02, 0.4)) if side == "long"
                                               else mark * (1 + rng.uniform(0.02, 0.4)))
        tick = 10 ** -(rng.randint(0, 5)) if mark > 1 else 0.00001
        reported = None if liq is None or rng.random() < 0.2 else liq * rng.uniform(0.97, 1.03)
        risk = make_position(account, symbol, leg=leg, side=side, mark=mark, liq=liq,
                             ratio=rng.uniform(0.01, 0.95), tick=tick, reported=reported,
                             mode=rng.choice(("cross", "isolated")))
        self.book.held[risk.key] = Held(risk, mark_time=self.clock.now)

    def move(self, held: Held) -> None:
        rng = self.rng
        r = held.risk
        if r.liquidation_price is not None and rng.random() < 0.25:  # towards (or away from) the edge
            gap = rng.choice((0.01, 0.03, 0.04, 0.07, 0.09, 0.2))
            mark = r.liquidation_price / (1 - gap) if r.side == "long" else r.liquidation_price / (1 + gap)
        else:
            mark = r.mark_price * (1 + rng.gauss(0, 0.01))
        ratio = None if r.margin_ratio is None else min(0.99, max(0.0, r.margin_ratio + rng.gauss(0, 0.05)))
        held.risk = remark(r, mark, ratio)
        held.mark_time = self.clock.now
        if rng.random() < 0.3 and r.reported_liquidation_price is not None:  # an account read
            theirs = r.reported_liquidation_price
            ours = r.liquidation_price
            disagrees = rng.random() < 0.2
            held.check = ExchangeCheck(observed_at=self.clock.now, ours_at_read=ours, theirs=theirs,
                                       gap_ticks=1.0, gap_relative=None, disagrees=disagrees,
                                       tolerance="2 ticks", tick_size=r.tick_size)

    # -- steps ------------------------------------------------------------------------------

    def update(self) -> None:
        rng = self.rng
        if rng.random() < 0.06 and self.book.open_positions():  # closed as last seen (before any move)
            gone = rng.choice(self.book.open_positions())
            self.book.close(gone.risk.key, self.clock.now)
            self.forget_if_gone(gone.risk.key)
        for held in self.book.open_positions():
            if rng.random() < 0.5:
                self.move(held)
        if rng.random() < 0.08:
            self.book.status[rng.choice(self.book.accounts)] = rng.choice(STATUSES)
        if rng.random() < 0.08 and len(self.book.held) < self.capacity:
            self.new_position()
        self.publish()

    def publish(self) -> None:
        self.seq += 1
        self.book.note_critical(self.clock.now)
        self.w.apply_snapshot(self.book.snapshot(self.seq, self.clock.now))

    def forget_if_gone(self, key: tuple[str, str, str]) -> None:
        if key not in self.book.held and self.selected == key:
            self.selected = None

    def tick(self) -> None:
        self.clock.now += self.rng.choice((0.5, 1.0, 1.0, 2.0, 7.0, 30.0))
        self.book.now = self.clock.now
        self.book.note_critical(self.clock.now)
        self.w.tick()

    def sort(self) -> None:
        order = self.rng.choice((Qt.SortOrder.AscendingOrder, Qt.SortOrder.DescendingOrder))
        self.w.table.sortByColumn(self.rng.choice(list(Column)), order)

    def filter(self) -> None:
        self.w.filter_edit.setText(self.rng.choice(FILTERS))

    def select(self) -> None:
        proxy = self.w.proxy
        if proxy.rowCount():
            row = self.rng.randrange(proxy.rowCount())
            self.w.table.selectRow(row)
            self.selected = proxy.index(row, 0).data(KEY_ROLE)

    def acknowledge(self) -> None:
        gone = [k for k, h in self.book.held.items() if h.liquidated_at is not None]
        if gone:
            key = self.rng.choice(gone)
            assert self.w.acknowledge(key)
            del self.book.held[key]
            self.forget_if_gone(key)

    def select_worst(self) -> None:
        if not self.book.held:
            return
        assert self.w.select_worst()
        self.selected = self.w.selected_key()
        assert self.selected is not None
        worst = max(self.book.level(k) for k in self.book.held)
        if any(h.liquidated_at is not None for h in self.book.held.values()):
            assert self.book.held[self.selected].liquidated_at is not None
        else:
            assert self.book.level(self.selected) is worst

    # -- checks -----------------------------------------------------------------------------

    def _frame(self) -> None:
        """Before a paint: the previous frame, if it was painted after the last change, is checked."""
        if self.painted_since_step:
            self.screen_check("a frame")
        self.painted_since_step += 1

    def screen_check(self, when: str) -> None:
        bad = self.recorder.mismatches()
        if bad:
            self.mismatched_steps += 1
            self.failures.append(f"{self.step_name} ({when}): {len(bad)} cells, e.g. {bad[:3]}")

    def settle(self) -> None:
        self.painted_since_step = 0
        for _ in range(12):  # until a round of events paints nothing more
            before = self.recorder.frames
            QCoreApplication.processEvents()
            if self.recorder.frames == before:
                break
        self.screen_check("settled")

    def model_check(self, every_role: bool = True) -> None:
        w, book = self.w, self.book
        now = self.clock.now
        bad = cell_mismatches(w.table, book, now) if every_role else []
        proxy = w.proxy
        keys = [proxy.index(r, 0).data(KEY_ROLE) for r in range(proxy.rowCount())]
        pinned = [book.held[k].liquidated_at is not None or book.level(k) in (Level.CRITICAL, Level.STALE)
                  for k in keys]
        if pinned != sorted(pinned, reverse=True):
            bad.append(f"pinned rows not on top: {list(zip(keys, pinned, strict=True))}")
        column, order = w.model.sort_state()
        if column != Column.AGE:
            for group in (True, False):
                values = [proxy.index(r, column).data(SORT_ROLE)
                          for r in range(len(keys)) if pinned[r] is group]
                wanted = sorted(values, reverse=order == Qt.SortOrder.DescendingOrder)
                if values != wanted:
                    bad.append(f"{'pinned' if group else 'other'} rows not sorted by {Column(column).name}")
        selected = [i.data(KEY_ROLE) for i in w.table.selectionModel().selectedRows()]
        visible = self.selected in keys
        if selected != ([self.selected] if visible else []):
            bad.append(f"selection {selected}, expected {self.selected} (visible: {visible})")
        if self.selected is None and w.selected_position() is not None:
            bad.append("a position is selected that the trader did not choose")
        if bad:
            self.mismatched_steps += 1
            self.failures.append(f"{self.step_name}: {len(bad)} problems, e.g. {bad[:3]}")

    def run(self, steps: int) -> None:
        for _ in range(8):
            self.new_position()
        self.publish()
        self.settle()
        ops = ((self.update, 50), (self.tick, 12), (self.sort, 14), (self.filter, 7), (self.select, 9),
               (self.acknowledge, 4), (self.select_worst, 2))
        choices = [op for op, weight in ops for _ in range(weight)]
        for step in range(steps):
            op = self.rng.choice(choices)
            self.step_name = f"step {step} {op.__name__}"
            op()
            self.settle()  # what the view painted, after every frame: every step
            # every role of every cell against the book: every fifth step and the last (the cost
            # of ~1,100 reads through the proxy keeps the run within budget)
            self.model_check(every_role=step % 5 == 0 or step == steps - 1)
            if len(self.failures) > 20:
                break


@pytest.mark.slow
def test_every_visible_cell_belongs_to_the_position_its_row_names(window) -> None:  # type: ignore[no-untyped-def]
    run = Run(window, SEED)
    run.run(STEPS)
    assert not run.failures, "\n".join(run.failures[:20])
    assert run.recorder.frames > STEPS // 2  # the view really painted throughout
    assert run.book.held, "the run ended with an empty table"


def test_the_issue_frame_a_hedge_leg_and_the_coin_m_position_swap_rows(window) -> None:  # type: ignore[no-untyped-def]
    """Sorted by Mark, BTC's 0.8 hedge leg and the COIN-M BTC position swap rows while their
    figures change: the first frame painted after that update must show each row whole (before
    the fix it showed the leg's Side/Size/Entry beside the COIN-M position's Liq. exchange)."""
    run = Run(window, 1)
    hedge = make_position("usdm", "BTC/USDT:USDT", leg="long", side="long", mark=54_738.2, liq=42_271.6,
                          ratio=0.102, tick=0.1, reported=42_680.4, mode="cross")
    coinm = make_position("coinm", "BTC/USD:BTC", leg="both", side="long", mark=54_727.2, liq=50_546.3,
                          ratio=0.046, tick=0.1, reported=50_546.3, mode="cross")
    run.book = Book(accounts=("usdm", "coinm"), thresholds=Thresholds(), now=run.clock.now,
                    held={p.key: Held(p, mark_time=run.clock.now) for p in (hedge, coinm)},
                    status={"usdm": DataStatus.LIVE, "coinm": DataStatus.LIVE})
    run.publish()
    window.table.sortByColumn(Column.MARK, Qt.SortOrder.AscendingOrder)
    run.settle()
    assert [window.proxy.index(r, Column.SYMBOL).data() for r in range(2)] == ["BTC/USD:BTC", "BTC/USDT:USDT"]
    for step in range(6):  # the marks cross back and forth: the rows swap at every update
        run.step_name = f"swap {step}"
        for held, mark in ((run.book.held[hedge.key], 54_700.0 + 40 * (step % 2)),
                           (run.book.held[coinm.key], 54_720.0)):
            held.risk = remark(held.risk, mark, held.risk.margin_ratio)
        run.publish()
        run.settle()
        run.model_check()
    assert not run.failures, "\n".join(run.failures)
