"""Charts and the what-if panel for the dashboard (issue 10): price ladder, history, stress curve.

:func:`attach_panels` puts them in the main window's "Ladder", "History", "Stress" and "What-if" tabs
and makes them follow the selected position and the live snapshots.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PySide6.QtWidgets import QWidget

from desk.domain.report import PositionRisk

STRESS_EVERY_SECONDS = 2.0  # a stress curve is ~200 engine evaluations: redrawn at most this often
HISTORY_EVERY_SECONDS = 5.0  # new samples arrive every history.sample_seconds (10 s by default)


@dataclass
class ChartPanels:
    ladder: Any
    history: Any
    stress: Any
    whatif: Any
    window: Any
    clock: Callable[[], float] = time.monotonic
    _stress_at: float = -1e18
    _history_at: float = -1e18

    def on_selected(self, risk: PositionRisk | None) -> None:
        snapshot = self.window.snapshot
        portfolio = snapshot.portfolio if snapshot is not None else None
        self.ladder.show_position(portfolio, risk)
        if risk is None:
            return
        now = self.clock()
        changed = self.history.subject != risk.key
        if changed or now - self._history_at >= HISTORY_EVERY_SECONDS:
            self._history_at = now
            self.history.show_subject(risk.account, risk.symbol, risk.leg, risk.margin_mode,
                                      name_mode=self.window.twinned(risk.key))
        account = self.stress.account
        if account is None or account.name != risk.account or now - self._stress_at >= STRESS_EVERY_SECONDS:
            self._stress_at = now
            self.stress.show_account(portfolio, risk.account)
        if self.whatif.portfolio is not portfolio:
            self.whatif.set_portfolio(portfolio)
        self.whatif.select(risk.account, risk.symbol, risk.leg, risk.margin_mode)

    def on_snapshot(self, snapshot: Any) -> None:
        if self.window.selected_position() is None and self.whatif.portfolio is None:
            self.whatif.set_portfolio(snapshot.portfolio)


def attach_panels(window: Any, *, target: float | None = None,
                  history_factory: Callable[[], Any] | None = None) -> ChartPanels:
    """Build the chart and what-if widgets into ``window`` (a :class:`desk.ui.main_window.MainWindow`).

    ``history_factory`` returns the history store the running monitor writes (None until it runs)."""
    from desk.ui.charts.history import HistoryWidget
    from desk.ui.charts.ladder import LadderWidget
    from desk.ui.charts.stress import StressWidget
    from desk.ui.whatif import WhatIfPanel, _distance_setting, _target_setting

    ladder = LadderWidget()

    def whatif_level(risk: PositionRisk, figures: Any) -> Any:
        from desk.ui.levels import figure_level

        return figure_level(figures.signed_distance_to_liquidation, figures.margin_ratio,
                            window.thresholds_for(risk.account, risk.symbol))

    ladder.level_for = whatif_level
    history = HistoryWidget(history_factory)
    stress = StressWidget()
    whatif = WhatIfPanel(target=target if target is not None else _target_setting(),
                         target_distance=_distance_setting())
    widgets: dict[str, QWidget] = {"Ladder": ladder, "History": history, "Stress": stress, "What-if": whatif}
    for name, widget in widgets.items():
        window.set_panel(name, widget)
    panels = ChartPanels(ladder, history, stress, whatif, window)
    window.position_selected.connect(panels.on_selected)
    window.snapshot_applied.connect(panels.on_snapshot)
    if window.snapshot is not None:
        panels.on_snapshot(window.snapshot)
        panels.on_selected(window.selected_position())
    return panels


__all__ = ["ChartPanels", "attach_panels"]
