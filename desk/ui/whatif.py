"""The what-if panel: try a change before making it.

Edit marks, a uniform shock, the size, the leverage, or add/remove margin for the selected position
(or the account's cross wallet) and compare before and after — liquidation, bankruptcy, distance,
margin ratio, pool ratio — with the engine's suggestions for the target margin ratio. The scenario
is built with :mod:`desk.domain.whatif` and :func:`desk.domain.scenario.apply_what_if`, and every
figure comes from :func:`desk.domain.engine.compute_risk`: the same engine as everywhere else.

Offline analysis: ``python -m desk.ui.whatif FILE`` opens a portfolio file (``desk.portfolio/1``)
with the what-if panel, the price ladder and the stress curve.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMessageBox,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desk.domain.engine import PlanCache, compute_risk
from desk.domain.model import Portfolio, PositionKey, held_in_both_modes
from desk.domain.report import AccountRisk, PoolRisk, PositionRisk, RiskReport, Suggestion
from desk.domain.scenario import apply_what_if
from desk.domain.suggest import convention_text, goal_text
from desk.domain.suggest import suggestion_text as _suggestion_words
from desk.domain.whatif import add_account_margin, edit_position, move_collateral_price
from desk.ui import formatting as fmt

DEFAULT_TARGET = 0.5
ACCOUNT_ONLY = "(whole account)"


_SEP = "\x1f"


# a position in the what-if: (symbol, leg, margin mode) — OKX may hold one instrument and leg both
# cross and isolated (twins), the mode tells them apart (desk.domain.model.PositionKey)
WhatIfKey = tuple[str, str, str]


def _item_key(symbol: str, leg: str, margin_mode: str) -> str:
    return f"{symbol}{_SEP}{leg}{_SEP}{margin_mode}"


@dataclass(frozen=True)
class Edits:
    """What the user changed; None / 0 means unchanged."""

    mark: float | None = None  # the selected symbol's mark
    shock: float = 0.0  # fraction: −0.05 = every mark 5 % lower
    contracts: float | None = None
    leverage: float | None = None
    margin: float = 0.0  # added (negative removes)
    # a pooled account's collateral coin (issue 16): its index moved by a fraction, an amount added
    collateral: str | None = None
    collateral_move: float = 0.0
    collateral_add: float = 0.0


def build_scenario(portfolio: Portfolio, account: str, key: WhatIfKey | None,
                   edits: Edits) -> Portfolio:
    """The edited portfolio: position/account edits at today's marks, then marks and the shock."""
    out = portfolio
    if key is not None:
        symbol, leg, mode = key
        out = edit_position(out, account, symbol, leg, contracts=edits.contracts, leverage=edits.leverage,
                            add_margin=edits.margin or None, margin_mode=mode)
    elif edits.margin:
        settles = portfolio.account(account).settle_currencies() or tuple(portfolio.account(account).wallets)
        if not settles:
            raise ValueError("margin: the account has no currency to add margin to")
        out = add_account_margin(out, account, settles[0], edits.margin)
    if edits.collateral and edits.collateral_add:
        out = add_account_margin(out, account, edits.collateral, edits.collateral_add)
    if edits.collateral and edits.collateral_move:
        out = move_collateral_price(out, account, edits.collateral, edits.collateral_move)
    marks = {key[0]: edits.mark} if key is not None and edits.mark is not None else None
    held = {p.symbol for a in out.accounts for p in a.positions}
    if marks and key is not None and key[0] not in held:
        marks = None  # the position was closed: no mark to move
    if marks or edits.shock:
        out = apply_what_if(out, marks=marks, shock=edits.shock or None)
    return out


def suggestion_text(s: Suggestion, settle: str) -> str:
    """One suggestion for a person: "add 420 USDT of margin", "cut 3 contracts (25.0 % of the
    position)", "set leverage to 6x" (the goal is said once, above the list)."""
    return _suggestion_words(s, settle, with_goal=False)


def _account(report: RiskReport, name: str) -> AccountRisk | None:
    return next((a for a in report.accounts if a.name == name), None)


def _position(report: RiskReport, account: str, key: WhatIfKey) -> PositionRisk | None:
    acc = _account(report, account)
    if acc is None:
        return None
    return next((p for p in acc.positions if (p.symbol, p.leg, p.margin_mode) == key), None)


def _pool(acc: AccountRisk | None, settle: str) -> PoolRisk | None:
    if acc is None:
        return None
    return next((p for p in acc.pools if p.settle == settle), None)


def _account_pool(acc: AccountRisk | None) -> PoolRisk | None:
    return next((p for p in acc.pools if p.pool == "account"), None) if acc is not None else None


def _spin(low: float, high: float, decimals: int, suffix: str = "",
          special: str | None = None) -> QDoubleSpinBox:
    box = QDoubleSpinBox()
    box.setRange(low, high)
    box.setDecimals(decimals)
    box.setSuffix(suffix)
    box.setKeyboardTracking(False)
    box.setGroupSeparatorShown(True)
    if special:
        box.setSpecialValueText(special)
    return box


class WhatIfPanel(QWidget):
    """Before/after table and suggestions for an edited copy of the portfolio."""

    scenario_changed = Signal(object)  # the scenario Portfolio (after the edits)

    def __init__(self, *, target: float = DEFAULT_TARGET, target_distance: float | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.portfolio: Portfolio | None = None
        self.scenario: Portfolio | None = None
        self.before: RiskReport | None = None
        self.after: RiskReport | None = None
        # the scenario's compiled plans, apart from the live ones: an edited account compiled into
        # the shared cache would replace its live plan there (desk.domain.engine.PlanCache)
        self.plans = PlanCache()
        self.suggestion_lines: list[str] = []
        self.error: str | None = None
        self._loading = False

        self.account_box = QComboBox()
        self.position_box = QComboBox()
        self.mark_spin = _spin(0.0, 1e12, 8, special="unchanged")
        self.shock_spin = _spin(-99.0, 1000.0, 2, " %")
        self.size_spin = _spin(-1.0, 1e15, 8, " contracts", special="unchanged")
        self.leverage_spin = _spin(0.0, 1000.0, 2, "×", special="unchanged")
        self.margin_spin = _spin(-1e15, 1e15, 2)
        # a ratio is shown as percent everywhere, so it is entered as percent too
        self.target_spin = _spin(1.0, 99.0, 1, " %")
        self.target_spin.setValue(target * 100.0)
        self.target_spin.setSingleStep(5.0)
        self.target_spin.setToolTip("risk.target_margin_ratio: suggestions aim to bring the margin ratio "
                                    "(maintenance ÷ margin balance, 100 % = liquidation) down to this")
        self.distance_spin = _spin(0.0, 99.0, 1, " %", special="none")
        self.distance_spin.setValue((target_distance or 0.0) * 100.0)
        self.distance_spin.setToolTip("alerts.distance_warning: suggestions also aim to bring the position "
                                      "at least this far from its liquidation price (none: ratio only)")
        self.size_spin.setMinimum(-1.0)
        self.size_spin.setValue(-1.0)
        self.size_spin.setSpecialValueText("unchanged")

        # two columns of fields: what to look at and change, then the goals (one tall column
        # needed a scrollbar of its own in the tab on a 1280×800 screen)
        form = QFormLayout()
        form.addRow("Account", self.account_box)
        form.addRow("Position", self.position_box)
        form.addRow("Mark price", self.mark_spin)
        form.addRow("Shock all marks", self.shock_spin)
        form.addRow("Size", self.size_spin)
        goals = QFormLayout()
        goals.addRow("Leverage", self.leverage_spin)
        self.margin_label = QLabel("Add margin (− removes)")
        goals.addRow(self.margin_label, self.margin_spin)
        # a pooled account only: move one collateral coin's index, add some of it
        self.collateral_box = QComboBox()
        self.collateral_move_spin = _spin(-99.0, 1000.0, 2, " %")
        self.collateral_move_spin.setToolTip("Move this collateral coin's index price (marks stay): the "
                                             "pool's margin balance follows, and every liquidation price")
        self.collateral_add_spin = _spin(-1e15, 1e15, 6)
        self.collateral_add_spin.setToolTip("Add this much of the coin to the pool (− removes)")
        goals.addRow("Collateral", self.collateral_box)
        goals.addRow("Collateral price", self.collateral_move_spin)
        goals.addRow("Add collateral", self.collateral_add_spin)
        self._goals = goals
        goals.addRow("Target margin ratio", self.target_spin)
        goals.addRow("Target distance", self.distance_spin)
        fields = QHBoxLayout()
        fields.addLayout(form, 1)
        fields.addSpacing(12)
        fields.addLayout(goals, 1)

        self.reset_button = QPushButton("Reset edits")
        self.open_button = QPushButton("Open portfolio…")
        self.save_button = QPushButton("Save what-if…")
        self.copy_button = QPushButton("Copy suggestions")
        buttons = QHBoxLayout()
        for b in (self.reset_button, self.open_button, self.save_button):
            buttons.addWidget(b)

        self.table = QTableWidget(0, 3)
        self.table.setHorizontalHeaderLabels(["", "before", "after"])
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        # the suggestions above it are read first: at the tabs' least height (1280×800, a long table of
        # positions above) the before/after table gives way and scrolls, down to about three rows
        self.table.setMinimumHeight(84)
        self.message = QLabel("")
        self.message.setWordWrap(True)
        self.suggestions = QLabel("")
        self.suggestions.setWordWrap(True)
        self.suggestions.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        # the inputs scroll on their own in the dashboard's tab (main_window._scroll_side_panel) on a
        # screen too small for them; at 1280×800 they fit, buttons included
        self.side_panel = QWidget()
        left = QVBoxLayout(self.side_panel)
        left.setContentsMargins(0, 0, 0, 0)
        left.addLayout(fields)
        left.addLayout(buttons)
        left.addStretch(1)
        right = QVBoxLayout()
        sugg_row = QHBoxLayout()
        sugg_row.addWidget(self.suggestions, 1)
        sugg_row.addWidget(self.copy_button, 0, Qt.AlignmentFlag.AlignTop)
        right.addLayout(sugg_row)
        right.addWidget(self.message)
        right.addWidget(self.table, 1)
        layout = QHBoxLayout(self)
        layout.addWidget(self.side_panel, 3)
        layout.addLayout(right, 2)

        self.account_box.currentTextChanged.connect(self._account_chosen)
        self.position_box.currentIndexChanged.connect(self._position_chosen)
        self.collateral_box.currentIndexChanged.connect(self.recompute)
        for spin in (self.mark_spin, self.shock_spin, self.size_spin, self.leverage_spin, self.margin_spin,
                     self.target_spin, self.distance_spin, self.collateral_move_spin,
                     self.collateral_add_spin):
            spin.valueChanged.connect(self.recompute)
        self.reset_button.clicked.connect(self.reset_edits)
        self.copy_button.clicked.connect(self.copy_suggestions)
        self.save_button.clicked.connect(self.save_dialog)
        self.open_button.clicked.connect(self.open_dialog)

    # -- inputs ----------------------------------------------------------------------------

    def set_portfolio(self, portfolio: Portfolio | None, *, keep_edits: bool = True) -> None:
        """New base data (a snapshot or a file); the selection and, by default, the edits are kept."""
        self.portfolio = portfolio
        current = self.account_box.currentText()
        self._loading = True
        try:
            self.account_box.clear()
            if portfolio is not None:
                self.account_box.addItems([a.name for a in portfolio.accounts])
                if current:
                    self.account_box.setCurrentText(current)
        finally:
            self._loading = False
        self._account_chosen(self.account_box.currentText(), keep=keep_edits)

    def select(self, account: str, symbol: str | None = None, leg: str = "both",
               margin_mode: str | None = None) -> None:
        """Follow the dashboard's selection (a position, or an account with ``symbol=None``); without
        ``margin_mode``, the first position of ``symbol`` and ``leg``."""
        if self.portfolio is None:
            return
        if self.account_box.currentText() != account:
            self.account_box.setCurrentText(account)
        if symbol is None:
            index = 0
        elif margin_mode is not None:
            index = self.position_box.findData(_item_key(symbol, leg, margin_mode))
        else:
            index = next((i for i in range(self.position_box.count())
                          if str(self.position_box.itemData(i)).startswith(f"{symbol}{_SEP}{leg}{_SEP}")), -1)
        if index >= 0 and index != self.position_box.currentIndex():
            self.position_box.setCurrentIndex(index)

    def selected(self) -> tuple[str, WhatIfKey | None]:
        data = self.position_box.currentData()
        if not data:
            return self.account_box.currentText(), None
        symbol, leg, mode = str(data).split(_SEP)
        return self.account_box.currentText(), (symbol, leg, mode)

    def edits(self) -> Edits:
        mark = self.mark_spin.value()
        size = self.size_spin.value()
        leverage = self.leverage_spin.value()
        return Edits(
            mark=mark if mark > self.mark_spin.minimum() else None,
            shock=self.shock_spin.value() / 100.0,
            contracts=size if size >= 0 else None,
            leverage=leverage if leverage > 0 else None,
            margin=self.margin_spin.value(),
            collateral=self.collateral_box.currentText() or None,  # empty unless the account pools
            collateral_move=self.collateral_move_spin.value() / 100.0,
            collateral_add=self.collateral_add_spin.value(),
        )

    def set_edits(self, edits: Edits) -> None:
        self._loading = True
        try:
            self.mark_spin.setValue(edits.mark if edits.mark is not None else self.mark_spin.minimum())
            self.shock_spin.setValue(edits.shock * 100.0)
            self.size_spin.setValue(edits.contracts if edits.contracts is not None else -1.0)
            self.leverage_spin.setValue(edits.leverage or 0.0)
            self.margin_spin.setValue(edits.margin)
            if edits.collateral:
                self.collateral_box.setCurrentText(edits.collateral)
            self.collateral_move_spin.setValue(edits.collateral_move * 100.0)
            self.collateral_add_spin.setValue(edits.collateral_add)
        finally:
            self._loading = False
        self.recompute()

    def reset_edits(self) -> None:
        self.set_edits(Edits())

    def _account_chosen(self, name: str, keep: bool = False) -> None:
        if self._loading:
            return
        current = self.position_box.currentData()
        self._loading = True
        try:
            self.position_box.clear()
            self.position_box.addItem(ACCOUNT_ONLY, "")
            if self.portfolio is not None and name:
                for p in self.portfolio.account(name).positions:
                    leg = f" ({p.leg.value} leg)" if p.leg.value != "both" else ""
                    self.position_box.addItem(f"{p.symbol}{leg} · {p.side.value} · {p.margin_mode.value}",
                                              _item_key(p.symbol, p.leg.value, p.margin_mode.value))
            index = self.position_box.findData(current) if current else 0
            self.position_box.setCurrentIndex(max(index, 0))
            self._show_collateral(name)
        finally:
            self._loading = False
        self._position_chosen(keep=keep)

    def _show_collateral(self, name: str) -> None:
        """The collateral rows, with the pool's coins, only for an account that pools collateral."""
        acc = self.portfolio.account(name) if self.portfolio is not None and name else None
        margin = acc.margin if acc is not None and acc.pooled else None
        coins = [c.asset for c in margin.collateral] if margin is not None else []
        chosen = self.collateral_box.currentText()
        self.collateral_box.clear()
        self.collateral_box.addItems(coins)
        if chosen in coins:
            self.collateral_box.setCurrentText(chosen)
        for field in (self.collateral_box, self.collateral_move_spin, self.collateral_add_spin):
            self._goals.setRowVisible(field, bool(coins))

    def _position_chosen(self, *_: object, keep: bool = False) -> None:
        if self._loading:
            return
        key = self.selected()[1]
        for spin in (self.mark_spin, self.size_spin, self.leverage_spin):
            spin.setEnabled(key is not None)
        self.margin_label.setText("Add margin (− removes)" if key is not None else
                                  "Add to cross wallet (− removes)")
        if not keep:
            self.reset_edits()
        else:
            self.recompute()

    # -- the scenario ----------------------------------------------------------------------

    def recompute(self) -> None:
        if self._loading:
            return
        account, key = self.selected()
        self.table.setRowCount(0)
        if self.portfolio is None or not account:
            self.message.setText("Open a portfolio file or select a position in the dashboard.")
            return
        target, distance = self.target(), self.target_distance()
        self.before = compute_risk(self.portfolio, target=target, target_distance=distance)
        try:
            self.scenario = build_scenario(self.portfolio, account, key, self.edits())
        except (ValueError, KeyError) as exc:
            self.error = str(exc).strip("'\"")
            self.message.setText(f"⚠ {self.error}")
            self.after = None
            self._fill_table(account, key)
            return
        self.error = None
        self.message.setText("")
        self.after = compute_risk(self.scenario, target=target, target_distance=distance, plans=self.plans)
        self._fill_table(account, key)
        self.scenario_changed.emit(self.scenario)

    def target_distance(self) -> float | None:
        """The distance goal as a fraction (0.10 = 10 %), None when set to "none"."""
        value = self.distance_spin.value()
        return value / 100.0 if value > 0 else None

    def rows(self) -> list[tuple[str, str, str]]:
        """The before/after table as shown: (figure, before, after)."""
        out: list[tuple[str, str, str]] = []
        for r in range(self.table.rowCount()):
            cells = [self.table.item(r, c) for c in range(3)]
            texts = [cell.text() if cell is not None else "" for cell in cells]
            out.append((texts[0], texts[1], texts[2]))
        return out

    def _fill_table(self, account: str, key: WhatIfKey | None) -> None:
        rows: list[tuple[str, str, str]] = []
        before_acc = _account(self.before, account) if self.before else None
        after_acc = _account(self.after, account) if self.after else None
        subject: PoolRisk | PositionRisk | None = None
        if key is not None and self.before is not None:
            b = _position(self.before, account, key)
            a = _position(self.after, account, key) if self.after else None
            if b is not None:
                tick = b.tick_size

                def liq(p: PositionRisk | None) -> str:
                    if p is None:
                        return "closed" if self.after is not None else fmt.DASH
                    return fmt.price(p.liquidation_price, tick) if p.liquidation_price is not None else \
                        "none reachable"

                def opt(p: PositionRisk | None, text: str) -> str:
                    return text if p is not None else ("closed" if self.after is not None else fmt.DASH)

                rows += [
                    ("mark", fmt.price(b.mark_price, tick),
                     opt(a, fmt.price(a.mark_price if a else None, tick))),
                    ("size (contracts)", fmt.quantity(b.contracts),
                     opt(a, fmt.quantity(a.contracts) if a else "")),
                    ("liquidation", liq(b), liq(a)),
                    ("bankruptcy", fmt.price(b.bankruptcy_price, tick),
                     opt(a, fmt.price(a.bankruptcy_price if a else None, tick))),
                    ("distance to liquidation",
                     fmt.distance_with_state(b.signed_distance_to_liquidation, b.liquidatable),
                     opt(a, fmt.distance_with_state(a.signed_distance_to_liquidation, a.liquidatable)
                         if a else "")),
                    ("margin ratio", fmt.margin_ratio(b.margin_ratio),
                     opt(a, fmt.margin_ratio(a.margin_ratio if a else None))),
                ]
                settle = b.settle
                pb, pa = _pool(before_acc, settle), _pool(after_acc, settle)
                if pb is None:  # a pooled account: one pool for every settle coin
                    pb, pa = _account_pool(before_acc), _account_pool(after_acc)
                if pb is not None and b.margin_mode == "cross":
                    rows.append(("pool margin ratio", fmt.margin_ratio(pb.margin_ratio),
                                 fmt.margin_ratio(pa.margin_ratio if pa else None)))
                subject = a if a is not None else None
        else:
            for pb in before_acc.pools if before_acc else ():
                pa = _pool(after_acc, pb.settle)
                rows.append((f"{pb.settle} pool margin balance", fmt.money(pb.margin_balance, pb.settle),
                             fmt.money(pa.margin_balance if pa else None, pb.settle)))
                rows.append((f"{pb.settle} pool margin ratio", fmt.margin_ratio(pb.margin_ratio),
                             fmt.margin_ratio(pa.margin_ratio if pa else None)))
                if subject is None and pa is not None:
                    subject = pa
            if before_acc is not None:
                rows.append(("shock to liquidation", fmt.shock(before_acc.shock_to_liquidation),
                             fmt.shock(after_acc.shock_to_liquidation) if after_acc else fmt.DASH))
        self.table.setRowCount(len(rows))
        for r, row in enumerate(rows):
            for c, text in enumerate(row):
                item = QTableWidgetItem(text)
                if c:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.table.setItem(r, c, item)
        self._show_suggestions(subject, account, key)

    def _show_suggestions(self, subject: PoolRisk | PositionRisk | None, account: str,
                          key: WhatIfKey | None) -> None:
        target, distance = self.target(), self.target_distance()
        self.suggestion_lines = []
        if subject is None:
            self.suggestions.setText("")
            return
        settle = subject.settle
        what = f"{key[0]}" if key else f"{account} {settle} pool"
        now = f"margin ratio {fmt.margin_ratio(subject.margin_ratio)}"
        away = getattr(subject, "distance_to_liquidation", None)
        if away is not None:
            now += f", {fmt.percent(away, 1)} from liquidation"
        if not subject.suggestions:
            self.suggestions.setText(f"{what}: {now} — within the targets ({goal_text(target, distance)}); "
                                     "nothing to do.")
            return
        self.suggestion_lines = [suggestion_text(s, settle) for s in subject.suggestions]
        moving = convention_text(subject.suggestions[0])  # a pooled goal, same-coin collateral moving
        goal = goal_text(target, distance) + (f" ({moving})" if moving else "")
        head = f"{what} ({now}): to get {goal}, any one of:"
        self.suggestions.setText(head + "<ul>" + "".join(f"<li>{line}</li>" for line in self.suggestion_lines)
                                 + "</ul>")

    def target(self) -> float:
        """The target margin ratio as a fraction (the spin box shows percent)."""
        return self.target_spin.value() / 100.0

    def clipboard_text(self) -> str:
        account, key = self.selected()
        what = account
        if key:
            held = self.portfolio.account(account).positions if self.portfolio is not None else ()
            twinned = held_in_both_modes(PositionKey.of(account, p) for p in held)
            mode = f", {key[2]}" if (account, key[0], key[1]) in twinned else ""
            what = f"{account} {key[0]} ({key[1]}{mode})"
        edits = [f"{k}={v:g}" for k, v in vars(self.edits()).items() if v not in (None, 0.0)]
        lines = [f"desk what-if — {what}" + (f" with {', '.join(edits)}" if edits else ""),
                 *(f"{name}: {before} → {after}" for name, before, after in self.rows()),
                 f"to get {goal_text(self.target(), self.target_distance())}:",
                 *(f"- {line}" for line in self.suggestion_lines)]
        return "\n".join(lines)

    def copy_suggestions(self) -> None:
        QGuiApplication.clipboard().setText(self.clipboard_text())

    # -- files -----------------------------------------------------------------------------

    def save_to(self, path: Path) -> None:
        from desk.formats import dump_portfolio

        if self.scenario is None:
            raise ValueError("there is no what-if to save yet")
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_bytes(dump_portfolio(self.scenario))
        tmp.replace(path)

    def open_file(self, path: Path) -> bool:
        """Load a portfolio file; a bad one is explained in a message box (the field named), never raised."""
        from desk.formats import PortfolioError, load_portfolio

        try:
            portfolio = load_portfolio(path)
        except PortfolioError as exc:
            self._problem("This portfolio file cannot be used", str(exc))
            return False
        self.set_portfolio(portfolio, keep_edits=False)
        return True

    def _problem(self, title: str, text: str) -> None:
        self.error = text
        box = QMessageBox(QMessageBox.Icon.Warning, f"desk — {title.lower()}", f"{title}.\n\n{text}",
                          QMessageBox.StandardButton.Ok, self)
        box.setObjectName("whatifProblem")
        box.open()

    def save_dialog(self) -> None:
        name, _ = QFileDialog.getSaveFileName(self, "Save the what-if as a portfolio file", "whatif.json",
                                              "Portfolio files (*.json)")
        if name:
            try:
                self.save_to(Path(name))
            except (OSError, ValueError) as exc:
                self._problem("The what-if was not saved", str(exc))

    def open_dialog(self) -> None:
        name, _ = QFileDialog.getOpenFileName(self, "Open a portfolio file", "",
                                              "Portfolio files (*.json)")
        if name:
            self.open_file(Path(name))


class WhatIfWindow(QWidget):
    """Offline analysis of a portfolio file: what-if panel, price ladder and stress curve in tabs."""

    def __init__(self, portfolio: Portfolio | None = None, *, target: float = DEFAULT_TARGET,
                 target_distance: float | None = None) -> None:
        super().__init__()
        from PySide6.QtWidgets import QTabWidget

        from desk.ui.charts.ladder import LadderWidget
        from desk.ui.charts.stress import StressWidget

        self.setWindowTitle("desk — what-if")
        self.panel = WhatIfPanel(target=target, target_distance=target_distance)
        self.ladder = LadderWidget()
        self.stress = StressWidget()
        tabs = QTabWidget()
        tabs.addTab(self.panel, "What-if")
        tabs.addTab(self.ladder, "Ladder")
        tabs.addTab(self.stress, "Stress")
        layout = QVBoxLayout(self)
        layout.addWidget(tabs)
        self.panel.scenario_changed.connect(self._follow)
        self.resize(1100, 620)
        if portfolio is not None:
            self.panel.set_portfolio(portfolio)

    def _follow(self, scenario: Portfolio) -> None:
        account, key = self.panel.selected()
        self.stress.show_account(scenario, account)
        if key is None or self.panel.after is None:
            self.ladder.show_position(None, None)
            return
        self.ladder.show_position(scenario, _position(self.panel.after, account, key))


def _distance_setting() -> float | None:
    """alerts.distance_warning: the what-if's distance goal, as the live suggestions use it."""
    try:
        from desk.store.settings import Settings

        value = Settings.load().get("alerts.distance_warning")
        return float(value) if value is not None and 0 < float(value) < 1 else None
    except Exception:  # settings problems are reported by the dashboard; here no distance goal
        return None


def _target_setting() -> float:
    try:
        from desk.store.settings import Settings

        value = Settings.load().get("risk.target_margin_ratio")
        return float(value) if value is not None and math.isfinite(float(value)) else DEFAULT_TARGET
    except Exception:  # settings problems are reported by the dashboard; here the default will do
        return DEFAULT_TARGET


def main(argv: list[str] | None = None) -> int:
    """``python -m desk.ui.whatif [FILE]``: the what-if window on a portfolio file."""

    args = sys.argv[1:] if argv is None else argv
    if args and args[0] in ("-h", "--help"):
        print("usage: python -m desk.ui.whatif [PORTFOLIO.json]\n\nOpen a desk.portfolio/1 file in the "
              "what-if window (what-if panel, price ladder, stress curve).")
        return 0
    from PySide6.QtWidgets import QApplication

    from desk.ui.theme import apply_theme, choose_theme

    app: Any = QApplication.instance() or QApplication(sys.argv[:1])
    apply_theme(app, choose_theme(None))
    window = WhatIfWindow(target=_target_setting(), target_distance=_distance_setting())
    window.show()
    if args:
        window.panel.open_file(Path(args[0]))
    return int(app.exec())


__all__ = ["Edits", "WhatIfPanel", "WhatIfWindow", "build_scenario", "main", "suggestion_text"]

if __name__ == "__main__":
    raise SystemExit(main())
