"""An independent picture of the positions table, and a record of what the real view paints.

:class:`Book` is the test's own account of every position (figures, data status, the exchange's
check, liquidated or not), built without the table model; :func:`expected_cells` says what each
cell must show for one position. :class:`PaintRecorder` stands in for the table's item delegate
and keeps, per cell rectangle of the viewport, what was last painted there — like the screen,
which keeps old pixels until a region is repainted — so a frame that mixes two positions in one
row is seen even when the model answers every question correctly.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QColor, QFont, QRegion
from PySide6.QtWidgets import QStyle, QStyledItemDelegate, QTableView

from desk.domain.model import Account, Portfolio
from desk.domain.report import AccountRisk, PoolRisk, PositionRisk, RiskReport
from desk.services.alerts_config import Thresholds
from desk.services.snapshot import AccountState, DataStatus, ExchangeCheck, MonitorSnapshot, PositionState
from desk.ui import formatting as fmt
from desk.ui.levels import Level, figure_level
from desk.ui.positions_model import KEY_ROLE, NUMERIC, RISK_ROLE, Column
from desk.ui.theme import LEVEL_HEX, level_text_hex

Key = tuple[str, str, str]
ROLES = (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole, Qt.ItemDataRole.ForegroundRole,
         Qt.ItemDataRole.BackgroundRole, Qt.ItemDataRole.FontRole, Qt.ItemDataRole.TextAlignmentRole)
GONE_WINDOW = 15 * 60.0  # the alert engine's window for "gone — probably liquidated" (tested there)
READ_INTERVAL = 10.0
LIVE_MARGIN = 5.0  # freshness.Thresholds().live_seconds


@dataclass
class Held:
    risk: PositionRisk
    check: ExchangeCheck | None = None
    critical_at: float | None = None
    liquidated_at: float | None = None
    mark_time: float = 0.0


@dataclass
class Book:
    """Positions as the test knows them, and the snapshots they make."""

    accounts: tuple[str, ...]
    thresholds: Thresholds
    held: dict[Key, Held]
    status: dict[str, DataStatus]
    now: float = 0.0
    stale_after: float = 60.0  # positions_model.DEFAULT_STALE_AFTER: no update for a minute is stale

    def open_positions(self) -> list[Held]:
        return [h for h in self.held.values() if h.liquidated_at is None]

    def figure(self, risk: PositionRisk) -> Level:
        return figure_level(risk.distance_to_liquidation, risk.margin_ratio, self.thresholds)

    def stale(self, key: Key) -> bool:
        too_old = self.now - self.held[key].mark_time > self.stale_after
        return too_old or self.status[key[0]] in (DataStatus.STALE, DataStatus.ERROR)

    def level(self, key: Key) -> Level:
        held = self.held[key]
        if held.liquidated_at is not None:
            return Level.CRITICAL
        return Level.STALE if self.stale(key) else self.figure(held.risk)

    def note_critical(self, now: float) -> None:
        for h in self.open_positions():
            if self.figure(h.risk) is Level.CRITICAL:
                h.critical_at = now

    def close(self, key: Key, now: float) -> None:
        """The position leaves its account: kept as liquidated when the "gone" rule says so."""
        held = self.held[key]
        read_well = self.status[key[0]] in (DataStatus.LIVE, DataStatus.DELAYED)
        if (read_well and held.critical_at is not None and now - held.critical_at <= GONE_WINDOW
                and self.figure(held.risk) >= Level.WARNING):
            held.liquidated_at = now
        else:
            del self.held[key]

    def snapshot(self, seq: int, now: float) -> MonitorSnapshot:
        risks: list[AccountRisk] = []
        states = []
        positions: dict[Key, PositionState] = {}
        for name in self.accounts:
            own = tuple(h.risk for h in self.open_positions() if h.risk.account == name)
            pool = PoolRisk(settle="USDT", wallet_balance=10_000.0, unrealized_pnl=0.0,
                            margin_balance=10_000.0, maintenance_margin=100.0, margin_ratio=0.01,
                            venue_margin_ratio=None)
            risks.append(AccountRisk(name=name, venue="demo", rules="binance", generic_rules=False,
                                     pools=(pool,), positions=own, shock_to_liquidation=None))
            states.append(AccountState(name=name, venue="demo", status=self.status[name], data_time=now,
                                       reason=None, read_interval=READ_INTERVAL))
            for risk in own:
                held = self.held[risk.key]
                positions[risk.key] = PositionState(self.status[name], mark_time=held.mark_time,
                                                    exchange_check=held.check)
        portfolio = Portfolio(accounts=tuple(Account(name=n, venue="demo") for n in self.accounts))
        return MonitorSnapshot(seq=seq, at=now, portfolio=portfolio, report=RiskReport(accounts=tuple(risks)),
                               accounts=tuple(states), positions=positions)


def make_position(account: str, symbol: str, *, leg: str, side: str, mark: float, liq: float | None,
                  ratio: float | None, tick: float, reported: float | None, mode: str) -> PositionRisk:
    distance = None if liq is None else abs(mark - liq) / mark
    return PositionRisk(
        account=account, symbol=symbol, leg=leg, side=side, margin_mode=mode, settle="USDT", kind="linear",
        contracts=round(0.1 + (hash(symbol) % 97) / 10, 3), entry_price=mark * 1.01, mark_price=mark,
        leverage=float(1 + hash(symbol) % 20), notional=mark * 2, unrealized_pnl=mark * 0.01,
        maintenance_margin=mark * 0.004, margin_ratio=ratio, liquidation_price=liq,
        bankruptcy_price=None if liq is None else liq * 0.995, distance_to_liquidation=distance,
        reported_liquidation_price=reported, tick_size=tick, position_margin=mark * 0.2, roi=0.05)


def remark(risk: PositionRisk, mark: float, ratio: float | None) -> PositionRisk:
    liq = risk.liquidation_price
    distance = None if liq is None else abs(mark - liq) / mark
    pnl = (mark - risk.entry_price) * risk.contracts
    return replace(risk, mark_price=mark, distance_to_liquidation=distance, margin_ratio=ratio,
                   notional=mark * 2, unrealized_pnl=pnl, roi=pnl / (risk.position_margin or 1.0))


# -- what each cell must show ------------------------------------------------------------------

def _color(level: Level) -> str:
    return level_text_hex(level).upper()


def expected_cells(book: Book, key: Key, now: float) -> dict[int, dict[int, Any]]:
    """Per column, per role: the value the table must give for ``key`` at ``now``.

    Colours are compared by name (``#RRGGBB``, with alpha for backgrounds), fonts as
    (italic, bold), tooltips by a predicate (they are long prose, checked for what they must name).
    """
    held = book.held[key]
    r = held.risk
    liquidated = held.liquidated_at is not None
    stale = book.stale(key) and not liquidated
    status = book.status[key[0]]
    level = book.level(key)
    distance_level = figure_level(r.distance_to_liquidation, None, book.thresholds)
    ratio_level = figure_level(None, r.margin_ratio, book.thresholds)
    check = held.check
    late = (check is not None and not liquidated
            and now - check.observed_at - READ_INTERVAL > LIVE_MARGIN)
    tick = r.tick_size

    exchange = fmt.price(r.reported_liquidation_price, tick)
    if check is not None and check.disagrees and r.reported_liquidation_price is not None:
        exchange = f"⚠ {exchange}"
    if check is not None and r.reported_liquidation_price is not None:
        exchange = f"{exchange} · {fmt.age(now - check.observed_at)}"
    if liquidated:
        status_text = "✖ LIQUIDATED"
        assert held.liquidated_at is not None
        age_text = f"gone {fmt.age(now - held.liquidated_at)}"
    else:
        status_text = "◌ STALE" if stale else level.label
        if status is DataStatus.DELAYED and not stale:
            status_text += " ◐"
        age_text = fmt.age(now - held.mark_time)
        if stale:
            age_text = f"STALE {age_text}"
    mode = "isol." if r.margin_mode == "isolated" else "cross"
    display = {
        Column.STATUS: status_text, Column.ACCOUNT: r.account, Column.SYMBOL: r.symbol,
        Column.SIDE: r.side.upper() + ("" if r.leg == "both" else " (H)"),
        Column.MODE: f"{mode} {r.leverage:g}×", Column.SIZE: fmt.quantity(r.contracts),
        Column.MARK: fmt.price(r.mark_price, tick), Column.LIQ: fmt.price(r.liquidation_price, tick),
        Column.LIQ_EXCHANGE: exchange,
        Column.DISTANCE: fmt.distance_with_state(r.signed_distance_to_liquidation, r.liquidatable),
        Column.MARGIN_RATIO: fmt.margin_ratio(r.margin_ratio),
        Column.BANKRUPTCY: fmt.price(r.bankruptcy_price, tick),
        Column.ENTRY: fmt.price(r.entry_price, tick), Column.NOTIONAL: fmt.money(r.notional, "USDT"),
        Column.UPNL: fmt.money(r.unrealized_pnl, "USDT", signed=True), Column.AGE: age_text,
        Column.ROI: fmt.percent(r.roi, signed=True),
        Column.POSITION_MARGIN: fmt.money(r.position_margin, "USDT"),
        Column.STOP: _stop_text(r),
        # the book's accounts are on the demo venue, which has no ADL scale of its own: a bare number
        Column.ADL: str(r.adl_rank) if r.adl_rank is not None else "—",
        Column.REALIZED: fmt.money(r.realized_pnl, "USDT", signed=True),
    }

    def foreground(column: Column) -> str | None:
        if liquidated:
            return _color(Level.CRITICAL if column is Column.STATUS else Level.STALE)
        if stale:
            return _color(Level.STALE)
        if column is Column.STATUS:
            return _color(level)
        if column is Column.DISTANCE and distance_level is not Level.OK:
            return _color(distance_level)
        if column is Column.MARGIN_RATIO and ratio_level is not Level.OK:
            return _color(ratio_level)
        if column is Column.LIQ_EXCHANGE and late:
            return _color(Level.STALE)
        if column is Column.LIQ_EXCHANGE and check is not None and check.disagrees:
            return _color(Level.WARNING)
        if column is Column.AGE and status is DataStatus.DELAYED:
            return _color(Level.WARNING)
        if column is Column.STOP and r.protection is not None and r.protection.verdict.value in (
                "unprotected", "beyond_liquidation", "fires_at_once"):
            return _color(Level.WARNING)
        return None

    def font(column: Column) -> tuple[bool, bool] | None:
        if liquidated or stale or (column is Column.LIQ_EXCHANGE and late):
            return (True, False)
        if column is Column.STATUS or (column is Column.DISTANCE and distance_level is Level.CRITICAL):
            return (False, True)
        return None

    def background(column: Column) -> str | None:
        if column is Column.STATUS and level is not Level.OK:
            c = QColor(LEVEL_HEX[level])
            return f"{c.name().upper()}/60"
        return None

    prefix = (f"LIQUIDATED: this {r.side} {fmt.quantity(r.contracts)} {r.symbol} position left {r.account}"
              if liquidated else None)

    def tooltip(column: Column):  # type: ignore[no-untyped-def]
        def ok(tip: str | None) -> bool:
            if prefix is not None and (tip is None or not tip.startswith(prefix)):
                return False
            if column is Column.STATUS:
                return tip is not None and f"{level.word}: " in tip and (
                    r.distance_to_liquidation is None or fmt.percent(r.distance_to_liquidation) in tip)
            if column is Column.SIDE and r.leg != "both":
                return tip is not None and f"the {r.leg} leg of {r.symbol}" in tip
            if column is Column.LIQ_EXCHANGE:
                if check is None:
                    return tip is not None and (
                        "reports no liquidation price" in tip or
                        f"Exchange {fmt.price(r.reported_liquidation_price, tick)}." in tip)
                read = f"exchange {fmt.price(check.theirs, check.tick_size)} at the last account read"
                return tip is not None and read in tip and (
                    liquidated or ("read cycle was missed" in tip) is late)
            if column is Column.MARGIN_RATIO:
                whose = "its pool's" if r.margin_mode == "cross" else "the position's own"
                return tip is not None and whose in tip
            if column in (Column.LIQ, Column.DISTANCE) and r.liquidation_price is None:
                return tip is not None and "No liquidation price: no mark price can bring" in tip
            if column is Column.BANKRUPTCY and r.bankruptcy_price is None:
                return tip is not None and "No bankruptcy price" in tip
            if column is Column.AGE and not liquidated:
                return tip is not None and tip.startswith("Data status:")
            if column is Column.ADL and r.adl_rank is not None:
                return (tip is not None and tip.startswith(f"ADL rank {r.adl_rank} ")
                        and "scale unverified" in tip)
            if column is Column.REALIZED and r.realized_pnl is not None:
                return tip is not None and tip.startswith("Realised PnL ")
            if column is Column.STOP:
                if r.protection is None:
                    return tip is not None and "open orders are not read" in tip
                return tip is not None and _stop_text(r).split()[0].lower() in tip.lower()
            return prefix is not None or tip is None
        return ok

    align = {c: int((Qt.AlignmentFlag.AlignRight if c in NUMERIC else Qt.AlignmentFlag.AlignLeft)
                    | Qt.AlignmentFlag.AlignVCenter) for c in Column}
    return {c: {Qt.ItemDataRole.DisplayRole: display[c], Qt.ItemDataRole.ForegroundRole: foreground(c),
                Qt.ItemDataRole.FontRole: font(c), Qt.ItemDataRole.BackgroundRole: background(c),
                Qt.ItemDataRole.ToolTipRole: tooltip(c), Qt.ItemDataRole.TextAlignmentRole: align[c]}
            for c in Column}


def comparable(role: int, value: Any) -> Any:
    """A role's value as the expectation writes it."""
    if role in (Qt.ItemDataRole.ForegroundRole, Qt.ItemDataRole.BackgroundRole):
        if value is None:
            return None
        color = QColor(value)
        if role == Qt.ItemDataRole.BackgroundRole:
            return f"{color.name().upper()}/{color.alpha()}"
        return color.name().upper()
    if role == Qt.ItemDataRole.FontRole:
        if value is None:
            return None
        font = QFont(value)
        return (font.italic(), font.bold())
    if role == Qt.ItemDataRole.TextAlignmentRole:
        return int(value) if value is not None else None
    return value


def cell_mismatches(view: QTableView, book: Book, now: float) -> list[str]:
    """Every visible cell, every painted role, read through the view's model (the proxy),
    against the expectation for the position its row names."""
    model = view.model()
    out = []
    for row in range(model.rowCount()):
        key = model.index(row, 0).data(KEY_ROLE)
        if key not in book.held:
            out.append(f"row {row} names {key}, which the book does not hold")
            continue
        expected = expected_cells(book, key, now)
        if model.index(row, 0).data(RISK_ROLE).key != key:
            out.append(f"row {row}: the position served is not the row's {key}")
        for column in Column:
            index = model.index(row, column)
            if index.data(KEY_ROLE) != key:
                out.append(f"row {row} col {column.name}: identity differs from the row's {key}")
            for role in ROLES:
                want = expected[column][role]
                got = index.data(role)
                if role == Qt.ItemDataRole.ToolTipRole:
                    if not want(got):
                        out.append(f"row {row} {key} {column.name} tooltip: {got!r}")
                    continue
                got = comparable(role, got)
                if got != want:
                    out.append(f"row {row} {key} {column.name} {Qt.ItemDataRole(role).name}: "
                               f"{got!r} != {want!r}")
    return out


# -- what the view paints ----------------------------------------------------------------------

_SELECTED = QStyle.StateFlag.State_Selected.value


class PaintRecorder(QStyledItemDelegate):
    """Records each painted cell (identity, text, selected) by its place in the viewport.

    Installed as the table's delegate and as an event filter on its viewport: a paint event first
    wipes the cells its region covers (the view fills them with the background), then the view
    paints the cells inside the region through :meth:`paint`.
    """

    def __init__(self, view: QTableView) -> None:
        super().__init__(view)
        self.view = view
        self.screen: dict[tuple[int, int], tuple[Any, ...]] = {}
        self.frames = 0
        self.on_frame: Any = None  # called before each paint event (the previous frame is on screen)
        view.setItemDelegate(self)
        view.viewport().installEventFilter(self)

    def paint(self, painter: Any, option: Any, index: Any) -> None:
        selected = bool(option.state.value & _SELECTED)
        self.screen[(option.rect.y(), index.column())] = (
            index.data(KEY_ROLE), index.data(Qt.ItemDataRole.DisplayRole), selected)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Paint:
            if self.on_frame is not None:
                self.on_frame()
            self.frames += 1
            region: QRegion = event.region()  # type: ignore[attr-defined]
            height = self.view.verticalHeader().defaultSectionSize()
            spans = [(self.view.columnViewportPosition(c), self.view.columnWidth(c)) for c in Column]
            for rect in region:  # the region's rectangles: wipe every recorded cell they touch
                top, bottom, left, right = rect.top(), rect.bottom(), rect.left(), rect.right()
                for y, column in list(self.screen):
                    x, width = spans[column]
                    if y <= bottom and y + height - 1 >= top and x <= right and x + width - 1 >= left:
                        del self.screen[(y, column)]
        return False

    def mismatches(self) -> list[str]:
        """The screen against the view's model now: each visible row shows, in every cell, the
        position the model has there, with its current text, colour and selection; nothing
        remains where no row is."""
        view = self.view
        model = view.model()
        selection = view.selectionModel()
        viewport = view.viewport().rect()
        out = []
        tops = {}
        for row in range(model.rowCount()):
            y = view.rowViewportPosition(row)
            if y < 0 or y >= viewport.height():
                continue
            tops[y] = row
        for (y, column), painted in self.screen.items():
            x = view.columnViewportPosition(column)
            if x < 0 or x >= viewport.width() or y >= viewport.height():
                continue
            if y not in tops:
                out.append(f"a ghost of {painted[0]} at y={y}, col {Column(column).name}: no row is there")
        for y, row in tops.items():
            index0 = model.index(row, 0)
            key = index0.data(KEY_ROLE)
            selected = selection.isSelected(index0)
            for column in Column:
                x = view.columnViewportPosition(column)
                if x < 0 or x >= viewport.width():
                    continue
                index = model.index(row, column)
                want = (key, index.data(Qt.ItemDataRole.DisplayRole), selected)
                got = self.screen.get((y, column))
                if got != want:
                    out.append(f"screen row {row} (y={y}) col {column.name}: painted {got}, row is {want}")
        return out


def _stop_text(r: PositionRisk) -> str:
    """The Stop column (issue 17), from the verdict and coverage alone."""
    if r.protection is None:
        return "—"
    verdict = r.protection.verdict.value
    if verdict == "partly":
        return f"partly {r.protection.coverage * 100:.0f} %"
    return {"protected": "protected", "unprotected": "UNPROTECTED", "beyond_liquidation": "stop beyond liq",
            "fires_at_once": "stop fires at once"}[verdict]


def shown_window(qtbot, monkeypatch, clock):  # type: ignore[no-untyped-def]
    """The real main window at 1900 × 1000 with every column shown, its clock ``clock`` and its own
    clock timer stopped (the tests tick it), charts left out, exposed on the display."""
    from desk.ui import main_window as main_window_module
    from desk.ui.main_window import MainWindow

    monkeypatch.setattr(main_window_module.MainWindow, "_attach_charts", lambda self: None)
    w = MainWindow(demo=True, clock=clock)
    w.allow_close = True
    w._clock_timer.stop()
    qtbot.addWidget(w)
    w.resize(1900, 1000)
    for column in range(w.model.columnCount()):
        w.table.setColumnHidden(column, False)
    with qtbot.waitExposed(w):  # a context manager: called bare it waits for nothing
        w.show()
    return w
