"""The dashboard's pieces above the table: the status strip and the account cards."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont, QFontMetrics, QMouseEvent, QResizeEvent
from PySide6.QtWidgets import (
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QScrollArea,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from desk.domain import display
from desk.domain.report import AccountRisk, PoolRisk
from desk.services.freshness import Thresholds as Freshness
from desk.services.freshness import shown_status
from desk.services.snapshot import AccountState, DataStatus
from desk.ui import formatting as fmt
from desk.ui.levels import Level, ThresholdsFor, account_level, figure_level
from desk.ui.theme import LEVEL_HEX, OKABE_ITO, level_text_hex


def badge_style(hex_color: str, *, filled: bool = True) -> str:
    if filled:
        return f"background: {hex_color}; color: #000000;"
    return f"border: 1px solid {hex_color}; color: {hex_color};"


def set_style(widget: QWidget, css: str) -> None:
    """Set a style sheet only when it changes: re-polishing a widget is costly at 4 Hz."""
    if widget.styleSheet() != css:
        widget.setStyleSheet(css)


def set_text(label: QLabel, text: str) -> None:
    if label.text() != text:
        label.setText(text)


STATUS_LEVEL = {
    DataStatus.LIVE: Level.OK,
    DataStatus.DELAYED: Level.WARNING,
    DataStatus.STALE: Level.STALE,
    DataStatus.ERROR: Level.CRITICAL,
}
STATUS_GLYPH = {DataStatus.LIVE: "●", DataStatus.DELAYED: "◐", DataStatus.STALE: "◌", DataStatus.ERROR: "✖"}


class ClickableLabel(QLabel):
    """A label that acts as a link (the status strip's "Alerts today" opens the alert log)."""

    clicked = Signal()

    def __init__(self, text: str = "", parent: QWidget | None = None) -> None:
        super().__init__(text, parent)
        self.setCursor(Qt.CursorShape.PointingHandCursor)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton and self.rect().contains(event.position().toPoint()):
            self.clicked.emit()
        super().mouseReleaseEvent(event)


class StatusStrip(QFrame):
    """Worst health, the demo badge, each account's data status and age, alerts today."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("statusStrip")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(10, 6, 10, 6)
        layout.setSpacing(10)
        self.health = ClickableLabel("… STARTING")
        self.health.setObjectName("badge")
        self.health.setToolTip("Click to select the worst position.")
        font = self.health.font()
        font.setPointSizeF(font.pointSizeF() * 1.15)
        self.health.setFont(font)
        self.summary = QLabel("Waiting for the first data…")
        self.summary.setMinimumWidth(60)  # it gives way first on a narrow screen (whole in its tooltip)
        self.liquidated = ClickableLabel("")  # positions gone while critical, until acknowledged
        self.liquidated.setObjectName("badge")
        self.liquidated.setStyleSheet(badge_style(LEVEL_HEX[Level.CRITICAL]))
        self.liquidated.hide()
        self.demo = QLabel("DEMO")
        self.demo.setObjectName("badge")
        self.demo.setStyleSheet(badge_style(OKABE_ITO["reddish_purple"]))
        self.demo.setToolTip("Simulated demo venue: prices and positions are not real.")
        self.demo.hide()
        self.accounts = QLabel("")
        self.accounts.setTextFormat(Qt.TextFormat.RichText)
        # it takes the room the other parts leave, and names fit that room (see _fit_accounts)
        self.accounts.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.accounts.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self._account_parts: list[tuple[str, str, str]] = []  # (glyph html, name, age)
        self.alerts = ClickableLabel("Alerts today: 0")
        self.snooze = QLabel("")
        self.channels = QLabel("")  # shown only while a phone/chat alert channel is failing
        self.channels.hide()
        self._failing: dict[str, str] = {}
        self.history = QLabel("")  # shown only while the risk history is not being recorded
        self.history.hide()
        self.settings_warning = QLabel("")  # names the bad keys of a damaged settings file
        self.settings_warning.setObjectName("settingsWarning")
        self.settings_warning.hide()
        layout.addWidget(self.health)
        layout.addWidget(self.liquidated)
        layout.addWidget(self.summary)
        layout.addWidget(self.demo)
        layout.addWidget(self.settings_warning)
        layout.addWidget(self.accounts, 1)
        layout.addSpacing(12)
        layout.addWidget(self.history)
        layout.addWidget(self.channels)
        layout.addWidget(self.snooze)
        layout.addWidget(self.alerts)
        self.set_health(None, "Waiting for the first data…")

    def set_health(self, level: Level | None, summary: str) -> None:
        if level is None:
            self.health.setText("… STARTING")
            set_style(self.health, badge_style(LEVEL_HEX[Level.STALE]))
        else:
            words = {Level.OK: "ALL OK", Level.WARNING: "WARNING", Level.CRITICAL: "CRITICAL",
                     Level.STALE: "STALE DATA"}
            self.health.setText(f"{level.glyph} {words[level]}")
            set_style(self.health, badge_style(LEVEL_HEX[level]))
        self.summary.setText(summary)
        self.summary.setToolTip(summary)

    def set_liquidated(self, positions: list[str]) -> None:
        """A badge while liquidations wait for the trader's acknowledgement."""
        self.liquidated.setVisible(bool(positions))
        set_text(self.liquidated, f"✖ {len(positions)} LIQUIDATED")
        self.liquidated.setToolTip("Gone while critical, most likely liquidated: " + ", ".join(positions)
                                   + ".\nClick to select; right-click the row → Acknowledge to clear.")

    def set_accounts(self, states: tuple[AccountState, ...], now: float,
                     freshness: Freshness | None = None) -> None:
        shown = {s.name: account_status(s, now, freshness or Freshness()) for s in states}
        self._account_parts = []
        for state in states:
            status = shown[state.name]
            color = level_text_hex(STATUS_LEVEL[status])
            glyph = f"<span style='color:{color}'>{STATUS_GLYPH[status]}</span>"
            self._account_parts.append((glyph, state.name, fmt.age(data_age(state, now))))
        self._fit_accounts()
        tips = [f"{s.name} ({s.venue}): {shown[s.name].value}, marks {fmt.age(data_age(s, now))} old, "
                f"positions and balances {fmt.age(now - s.data_time if s.data_time else None)} old"
                + (f" — {s.reason}" if s.reason else "") for s in states]
        self.accounts.setToolTip("\n".join(tips))

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._fit_accounts()

    def _fit_accounts(self) -> None:
        """Each account's status and age, its name as whole as the room allows: whole names on
        a wide window, shortened in the middle as it narrows (the tooltip has them whole)."""
        room = self.accounts.width()
        metrics = QFontMetrics(self.accounts.font())
        text = ""
        prefix = shared_prefix([name for _, name, _ in self._account_parts])
        tries = [(0, None)] + [(len(prefix), limit) for limit in _NAME_LIMITS if prefix or limit]
        for cut, limit in tries:
            parts = [(glyph, name[cut:] if limit is None else short_name(name[cut:], limit), age)
                     for glyph, name, age in self._account_parts]
            plain = "  ".join(f"● {name} {age}" for _, name, age in parts)
            text = "&nbsp;&nbsp;".join(f"{glyph} {_escape(name)} {age}" for glyph, name, age in parts)
            if metrics.horizontalAdvance(plain) + 4 <= room:
                break
        if self.accounts.text() != text:
            self.accounts.setText(text)

    def set_alerts_today(self, count: int, last: str | None) -> None:
        self.alerts.setText(f"Alerts today: {count}")
        tip = f"Last alert: {last}" if last else "No alert today"
        self.alerts.setToolTip(f"{tip}\nClick for the alert log.")

    def set_history(self, recording: bool, message: str) -> None:
        """"history not recorded: disk full" while samples cannot be written (the tooltip says
        what waits in memory and what was dropped); hidden again once they are."""
        if recording:
            self.history.hide()
            self.history.setText("")
            return
        trouble = message.split(": ", 1)[1].split(" (", 1)[0] if ": " in message else message
        set_style(self.history, f"color: {level_text_hex(Level.WARNING)}; font-weight: 600;")
        self.history.setText(f"⚠ history not recorded: {trouble}")
        self.history.setToolTip(message)
        self.history.show()
    def set_settings_problems(self, bad_keys: list[str], details: list[str]) -> None:
        """A visible warning while the settings file has bad entries; the tooltip lists each one."""
        if not details:
            self.settings_warning.hide()
            return
        named = ", ".join(short_name(k, 28) for k in bad_keys[:3]) + ("…" if len(bad_keys) > 3 else "")
        set_style(self.settings_warning, f"color: {level_text_hex(Level.WARNING)}; font-weight: 600;")
        self.settings_warning.setText(f"{Level.WARNING.glyph} Settings: {named or 'see tooltip'}")
        self.settings_warning.setToolTip("The settings file has problems; the rest of it is in use:\n"
                                         + "\n".join(f"• {d}" for d in details)
                                         + "\nFix them in File → Settings, or in the file itself.")
        self.settings_warning.show()

    def set_channel(self, channel: str, failing: str | None) -> None:
        """"⚠ alert channel failing: phone" while its last attempt failed; the tooltip gives the reason."""
        if failing is None:
            self._failing.pop(channel, None)
        else:
            self._failing[channel] = failing
        if not self._failing:
            self.channels.hide()
            return
        set_style(self.channels, f"color: {level_text_hex(Level.CRITICAL)}; font-weight: 600;")
        self.channels.setText(f"{Level.CRITICAL.glyph} alert channel failing: {', '.join(self._failing)}")
        self.channels.setToolTip("Alerts may not reach you there:\n" + "\n".join(
            f"• {name}: {reason}" for name, reason in self._failing.items())
            + "\nTry File → Settings → Alerts → Send test alert, or `desk alerts test`.")
        self.channels.show()

    def set_snoozed(self, until: float | None) -> None:
        if until is None or until <= time.time():
            self.snooze.setText("")
            return
        set_style(self.snooze, f"color: {level_text_hex(Level.WARNING)}; font-weight: 600;")
        self.snooze.setText(f"🔕 alerts snoozed until {time.strftime('%H:%M', time.localtime(until))}")


_NAME_LIMITS: tuple[int | None, ...] = (None, 24, 16, 12, 8)  # whole, then ever shorter


def shared_prefix(names: list[str]) -> str:
    """The leading word every name shares ("demo-" of demo-binance-usdm, demo-bybit-hedge…), which
    the strip drops first when names must shorten: the part that tells them apart stays."""
    if len(names) < 2:
        return ""
    common = names[0]
    for name in names[1:]:
        while not name.startswith(common):
            common = common[:-1]
    cut = max(common.rfind("-"), common.rfind("_"), common.rfind(" "))
    prefix = common[: cut + 1] if cut >= 1 else ""
    return prefix if all(len(n) > len(prefix) for n in names) else ""


def short_name(name: str, limit: int = 12) -> str:
    """Long account names are shortened in the middle for the strip (the tooltip has them whole)."""
    if len(name) <= limit:
        return name
    keep = limit - 1
    return f"{name[: keep - keep // 2]}…{name[-(keep // 2):]}"


def data_age(state: AccountState, now: float) -> float | None:
    """The age a trader cares about: of the oldest mark price (liquidation follows the mark);
    the positions/balances read time when no mark time is known."""
    observed = state.oldest_mark_time or state.data_time
    return None if observed is None else now - observed


def account_status(state: AccountState, now: float, freshness: Freshness) -> DataStatus:
    """The data status shown for an account at ``now`` — the one source of the card and the strip."""
    return shown_status(state.status, data_age(state, now), freshness)


def shock_text(shock: float | None) -> str:
    """The engine's signed shock (negative: all marks down) in words (the one formatter's)."""
    return fmt.shock(shock)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class MarginBar(QProgressBar):
    """Margin ratio on desk's scale: 0 % (no maintenance margin used) … 100 % (liquidation)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setRange(0, 1000)
        self.setTextVisible(True)
        self.setFixedHeight(16)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)

    def show_ratio(self, ratio: float | None, level: Level, tooltip: str, suffix: str = "") -> None:
        if ratio is None:
            self.setValue(0)
            self.setFormat("no margin used")
        else:
            self.setValue(int(max(0.0, min(1.0, ratio)) * 1000))
            self.setFormat(f"{level.glyph} {fmt.margin_ratio(ratio)}{suffix}")
        set_style(self, f"QProgressBar::chunk {{ background: {LEVEL_HEX[level]}; border-radius: 2px; }}")
        self.setToolTip(tooltip)


class AccountCard(QFrame):
    def __init__(self, name: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.name = name
        self.setObjectName("accountCard")
        self.setMinimumWidth(CARD_MIN_WIDTH)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
        grid = self._grid = QGridLayout(self)
        grid.setContentsMargins(10, 8, 10, 8)
        grid.setHorizontalSpacing(10)
        grid.setVerticalSpacing(3)
        self.title = QLabel(f"<b>{_escape(name)}</b>")
        self.level = QLabel("")
        self.level.setObjectName("badge")
        self.equity = QLabel(fmt.DASH)
        self.wallet = QLabel(fmt.DASH)
        self.bar = MarginBar()
        self.shock = QLabel(fmt.DASH)
        self.status = QLabel("waiting")
        self.status.setObjectName("muted")
        # an account whose venue pools collateral (issue 16): its mode, and each collateral coin
        self.collateral = QLabel("")
        self.collateral.setTextFormat(Qt.TextFormat.PlainText)
        self._collateral_items: list[str] = []
        self._mode_tip = ""
        self._pool_words: tuple[str, str] | None = None  # (the mode in the venue's words, the pool's unit)
        # the figures of several settle currencies, one line each when a line would cut them
        self._figure_parts: dict[QLabel, list[str]] = {}
        self.collateral.hide()
        grid.addWidget(self.title, 0, 0, 1, 2)
        grid.addWidget(self.level, 0, 2, Qt.AlignmentFlag.AlignRight)
        self.equity_label = _muted("Equity (incl. uPnL)")
        self.wallet_label = _muted("Cross wallet")
        margin_label, shock_label = _muted("Margin ratio"), _muted("Shock to liq.")
        # (label, its words on a wide card, on a narrow one): five cards on a 1280 px screen
        # leave about 240 px each, where the long words would cut the figures beside them
        self._labels = [(self.equity_label, "Equity (incl. uPnL)", "Equity"),
                        (self.wallet_label, "Cross wallet", "Wallet"),
                        (margin_label, "Margin ratio", "Margin"), (shock_label, "Shock to liq.", "To liq.")]
        self.compact = False
        self._venue = ""
        self._rules = ""
        self._shock: float | None = None
        self._has_risk = False
        grid.addWidget(self.equity_label, 1, 0)
        grid.addWidget(self.equity, 1, 1, 1, 2)
        grid.addWidget(self.wallet_label, 2, 0)
        grid.addWidget(self.wallet, 2, 1, 1, 2)
        grid.addWidget(margin_label, 3, 0)
        grid.addWidget(self.bar, 3, 1, 1, 2)
        grid.addWidget(shock_label, 4, 0)
        grid.addWidget(self.shock, 4, 1, 1, 2)
        # a pooled card names its mode where the wallet's label is and lists its collateral coins where
        # the wallet figure is (they are its wallet): no taller than any other card
        grid.addWidget(self.collateral, 2, 1, 1, 2)
        grid.addWidget(self.status, 5, 0, 1, 3)
        grid.setColumnStretch(1, 1)

    def _show_pool(self, pool: PoolRisk | None) -> None:
        """The venue's mode in its own words and the collateral: "BTC 0.12 (×0.95)" per coin on the
        card, amount, haircut and value in the pool's unit in the tooltip."""
        self._pool_words = None if pool is None else (display.account_mode(pool.mode), pool.settle)
        self.wallet.setVisible(pool is None)
        self.collateral.setVisible(pool is not None and bool(pool.collateral))
        if pool is None:
            self._collateral_items = []
            return
        unit = pool.settle
        k = f"; liquidation at {pool.threshold:g}×MM" if pool.threshold != 1.0 else ""
        self._mode_tip = (f"The venue pools every collateral coin into one margin balance in {unit} "
                          f"({pool.mode}){k}; its wallets at their index: "
                          f"{display.money(pool.wallet_balance, unit)}.")
        self._collateral_items = []
        tips = [f"Collateral, counted in {unit} after the venue's haircut:"]
        for c in pool.collateral:
            share = display.collateral_share(c.haircut)
            self._collateral_items.append(f"{c.asset} {display.collateral_amount(c.amount, c.asset)}"
                                          + (f" ({share})" if share else ""))
            tips.append(f"{c.asset}: {display.quantity(c.amount, c.asset)} at {display.price(c.price)} "
                        f"{unit}, haircut {display.percent(c.haircut)}, "
                        f"counts {display.money(c.value, unit)}")
        tips.append(f"Margin balance {display.money(pool.margin_balance, unit)} after haircuts; total equity "
                    f"{display.money(pool.total_equity, unit)}.")
        self.collateral.setToolTip("\n".join(tips))

    def _fit_collateral(self) -> None:
        """Every figure on one line, the card as wide as that needs (at least its minimum): in a row
        too long for the window the cards scroll, so a wider card costs no figure and no height."""
        margins = self._grid.contentsMargins()
        set_text(self.collateral, " · ".join(self._collateral_items))
        needed = []
        words = max(QFontMetrics(label.font()).horizontalAdvance(label.text())
                    for label, _, _ in self._labels)
        words += self._grid.horizontalSpacing()
        for label, parts in self._figure_parts.items():
            set_text(label, "  ".join(parts) or fmt.DASH)
        for label in (self.equity, self.wallet, self.collateral, self.shock):
            if label.isVisibleTo(self):
                needed.append(words + QFontMetrics(label.font()).horizontalAdvance(label.text()))
        # the title row: the account's name whole (bold) and its level badge
        bold = QFont(self.title.font())
        bold.setBold(True)
        spacing = self._grid.horizontalSpacing()
        badge = self.level.sizeHint().width()
        needed.append(QFontMetrics(bold).horizontalAdvance(self.name) + spacing + badge)
        width = margins.left() + margins.right() + max(needed) + 8
        self.setMinimumWidth(max(CARD_MIN_WIDTH, width))

    def set_compact(self, compact: bool) -> None:
        """Short words when the row of cards leaves each less than _COMPACT_CARD_WIDTH."""
        if compact != self.compact:
            self.compact = compact
            self._show_words()

    def _show_words(self) -> None:
        """The labels, the title and the shock in the words that fit the card's width."""
        for label, wide, narrow in self._labels:
            label.setText(narrow if self.compact else wide)
            label.setToolTip(wide if self.compact else "")
        if self._pool_words is not None:
            mode, unit = self._pool_words
            self.wallet_label.setText(mode)
            self.wallet_label.setToolTip(f"Account mode: {mode}, one {unit} pool. {self._mode_tip}")
        venue = "" if self.compact else (f" <span style='color:{level_text_hex(Level.STALE)}'>"
                                         f"{_escape(self._venue)}</span>")
        self.title.setText(f"<b>{_escape(self.name)}</b>{venue}{self._rules}")
        if self._has_risk:
            self.shock.setText(display.shock_short(self._shock) if self.compact else shock_text(self._shock))
        self._fit_collateral()

    def update_from(self, risk: AccountRisk | None, state: AccountState | None,
                    thresholds_for: ThresholdsFor, now: float, stale_after: float,
                    positions_level: Level | None = None, live_after: float | None = None) -> Level:
        freshness = Freshness(live_after if live_after is not None else Freshness().live_seconds, stale_after)
        status = account_status(state, now, freshness) if state else None
        level = account_level(risk, status, thresholds_for,
                              positions_level if risk is not None and risk.positions else None)
        self._venue = risk.venue if risk else (state.venue if state else "")
        self._rules = ""
        if risk is not None and risk.generic_rules:
            self._rules = f" <span style='color:{level_text_hex(Level.WARNING)}'>· generic rules</span>"
        tip = f"{self.name} on {self._venue}" if self._venue else self.name
        if risk is not None and risk.generic_rules:
            tip += ("\nNo venue-specific rules for this venue: desk uses the generic rule "
                    "(maintenance margin at the mark, tiered). Figures may differ from the venue's.")
        self.title.setToolTip(tip)
        self.level.setText(level.label)
        set_style(self.level, badge_style(LEVEL_HEX[level]))
        pools = risk.pools if risk else ()
        equity = risk.equity() if risk else ()
        self._figure_parts[self.equity] = [fmt.money(e.total, e.settle) for e in equity]
        self.equity.setToolTip("Equity = cross wallet + cross unrealized PnL + isolated margins + isolated "
                               "unrealized PnL\n" + "\n".join(
            f"{e.settle}: cross wallet {fmt.money(e.cross_wallet, e.settle)}, cross uPnL "
            f"{fmt.money(e.cross_unrealized_pnl, e.settle, signed=True)}, isolated margin "
            f"{fmt.money(e.isolated_margin, e.settle)}, isolated uPnL "
            f"{fmt.money(e.isolated_unrealized_pnl, e.settle, signed=True)}" for e in equity))
        self._figure_parts[self.wallet] = [fmt.money(e.cross_wallet, e.settle) for e in equity]
        self.wallet.setToolTip("The cross-margin wallet balance, without unrealized PnL and without the "
                               "margin held by isolated positions.")
        worst_pool = _worst_pool(pools)
        positions = risk.positions if risk else ()
        if positions and all(p.margin_mode == "isolated" for p in positions):
            # Only isolated positions: the pool's ratio says nothing; show the worst position's own.
            rated = [p for p in positions if p.margin_ratio is not None]
            worst = max(rated, key=lambda p: p.margin_ratio or 0.0, default=None)
            if worst is None:
                self.bar.show_ratio(None, Level.OK, "No margin in use")
            else:
                bar_level = Level.STALE if level is Level.STALE else figure_level(
                    None, worst.margin_ratio, thresholds_for(self.name, worst.symbol))
                self.bar.show_ratio(worst.margin_ratio, bar_level,
                                    f"Isolated positions only: the highest margin ratio is {worst.symbol}'s "
                                    f"own ({fmt.margin_ratio(worst.margin_ratio)}; 100 % = liquidation).\n"
                                    + _pool_tip(pools), suffix=" isolated")
        elif worst_pool is None:
            self.bar.show_ratio(None, Level.OK, "No open cross-margin pool")
        else:
            pool_level = Level.STALE if level is Level.STALE else figure_level(
                None, worst_pool.margin_ratio, thresholds_for(self.name, None))
            self.bar.show_ratio(worst_pool.margin_ratio, pool_level, _pool_tip(pools))
        self._show_pool(next((p for p in pools if p.pool == "account"), None))
        self._shock = None if risk is None else risk.shock_to_liquidation
        self._has_risk = risk is not None
        if risk is None or risk.shock_to_liquidation is None:
            self.shock.setText(fmt.shock(None) if risk is not None else fmt.DASH)
            self.shock.setToolTip("No uniform adverse move of all marks in the searched range "
                                  "brings a pool to liquidation.")
        else:
            self.shock.setToolTip(f"{shock_text(risk.shock_to_liquidation)}: the smallest uniform adverse "
                                  "move of all marks at which a pool reaches margin ratio 100 %.")
        self._show_words()
        if state is None or status is None:
            self.status.setText("waiting for data")
        else:
            word = status.value.upper()
            glyph = STATUS_GLYPH[status]
            stream = "streaming" if state.streaming else "polling"
            account_age = fmt.age(now - state.data_time if state.data_time else None)
            # what the last read could not give ("spot wallet unknown…") is said on the card, not
            # only in desk.log: a ⚠ and the count on the status line, each note in the tooltip
            count = len(state.notes)
            notes = f" · {Level.WARNING.glyph} {count} note{'s' if count > 1 else ''}" if count else ""
            self.status.setText(f"{glyph} {word} · {fmt.age(data_age(state, now))} · {stream}{notes}")
            reason = f"\n{state.reason}" if state.reason else ""
            noted = "".join(f"\n{Level.WARNING.glyph} {n}" for n in state.notes)
            self.status.setToolTip(
                f"Data status: {status.value}. Oldest mark price {fmt.age(data_age(state, now))} old; "
                f"positions and balances read {account_age} ago.{reason}{noted}")
        italic = self.font()
        italic.setItalic(level is Level.STALE)
        self.equity.setFont(italic)
        self.wallet.setFont(italic)
        self.shock.setFont(italic)
        return level


_COMPACT_CARD_WIDTH = 300  # px: narrower cards use the short words
_CARD_BAR_HEIGHT = 8  # px: the thin scrollbar of a row of cards wider than the window
CARD_MIN_WIDTH = 200  # px; a card whose figures need more is wider (see AccountCard._fit_collateral)


def _worst_pool(pools: tuple[PoolRisk, ...]) -> PoolRisk | None:
    rated = [p for p in pools if p.margin_ratio is not None]
    return max(rated, key=lambda p: p.margin_ratio or 0.0) if rated else None


def _pool_tip(pools: tuple[PoolRisk, ...]) -> str:
    lines = ["Margin ratio on desk's scale (maintenance ÷ margin balance; 100 % = liquidation)"]
    for p in pools:
        venue = fmt.venue_ratio(p.venue_margin_ratio) if p.venue_margin_ratio is not None else "not reported"
        lines.append(f"{p.settle}: desk {fmt.margin_ratio(p.margin_ratio)} · venue's own figure {venue}")
    return "\n".join(lines)


def _muted(text: str) -> QLabel:
    label = QLabel(text)
    label.setObjectName("muted")
    return label


class AccountsPanel(QScrollArea):
    """One card per account, side by side; cards are kept and updated, not rebuilt."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        inner = QWidget()
        self._row = QHBoxLayout(inner)
        self._row.setContentsMargins(8, 6, 8, 6)
        self._row.setSpacing(8)
        self._row.addStretch(1)
        self.setWidget(inner)
        self.cards: dict[str, AccountCard] = {}
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.horizontalScrollBar().setFixedHeight(_CARD_BAR_HEIGHT)

    def update_accounts(self, risks: tuple[AccountRisk, ...], states: tuple[AccountState, ...],
                        thresholds_for: ThresholdsFor, now: float, stale_after: float,
                        positions_levels: Mapping[str, Level] | None = None,
                        live_after: float | None = None) -> list[Level]:
        """``positions_levels``: per account, its positions' worst figure level when already decided."""
        by_name_risk = {a.name: a for a in risks}
        by_name_state = {s.name: s for s in states}
        names = list(dict.fromkeys([*by_name_state, *by_name_risk]))
        for gone in [n for n in self.cards if n not in names]:
            self.cards.pop(gone).deleteLater()
        levels = []
        for name in names:
            card = self.cards.get(name)
            if card is None:
                card = self.cards[name] = AccountCard(name)
                # top-aligned: a pooled card's collateral lines make it taller than the others
                self._row.insertWidget(self._row.count() - 1, card, 0, Qt.AlignmentFlag.AlignTop)
            known = positions_levels.get(name) if positions_levels is not None else None
            levels.append(card.update_from(by_name_risk.get(name), by_name_state.get(name), thresholds_for,
                                           now, stale_after, known, live_after))
        self._fit_cards()
        if not self.cards:
            self.setFixedHeight(0)
        return levels

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._fit_cards()

    def _fit_cards(self) -> None:
        """The cards' words for the room each card gets in the row (the viewport shared out)."""
        if not self.cards:
            return
        margins = self._row.contentsMargins()
        room = (self.viewport().width() - margins.left() - margins.right()
                - self._row.spacing() * (len(self.cards) - 1))
        each = room / len(self.cards)
        compact = each < _COMPACT_CARD_WIDTH
        for card in self.cards.values():
            card.set_compact(compact)
        height = max((c.sizeHint().height() for c in self.cards.values()), default=0)
        if not height:
            return
        # a row wider than the window scrolls: the scrollbar gets room of its own below the cards
        # (laid over them it hid every card's status line)
        row = (sum(max(c.minimumWidth(), c.sizeHint().width()) for c in self.cards.values())
               + margins.left() + margins.right() + self._row.spacing() * (len(self.cards) - 1))
        overflow = row > self.viewport().width()
        # the room the bar takes comes out of the row's own padding, so the tabs below lose nothing
        pad = 2 if overflow else 6
        self._row.setContentsMargins(margins.left(), pad, margins.right(), pad)
        bar = _CARD_BAR_HEIGHT if overflow else 0
        if self.height() != height + 14 - (8 if overflow else 0) + bar:
            self.setFixedHeight(height + 14 - (8 if overflow else 0) + bar)


def placeholder(text: str) -> QWidget:
    widget = QWidget()
    layout = QVBoxLayout(widget)
    label = QLabel(text)
    label.setObjectName("muted")
    label.setAlignment(Qt.AlignmentFlag.AlignCenter)
    label.setWordWrap(True)
    layout.addWidget(label)
    return widget


Callback = Callable[[], None]
