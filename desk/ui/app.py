"""The dashboard application: window first, services after, one bridge between them.

Start-up order keeps the first window fast: Qt and the window are built and shown; once its first
frame is on screen, the services (the monitor with its exchange readers — ccxt and numpy are
imported there — history and alerts) are composed on a short-lived thread and started; the chart
tabs (pyqtgraph) are filled after the first numbers are in the table (issue 18). Nothing on the GUI
thread waits on the network: the GUI only ever receives events through
:class:`desk.ui.bridge.EventBridge`.

With DESK_TEST_REPORT=FILE, desk writes FILE (JSON) once the table has its first numbers: what it
shows and ``timings``, the wall-clock time (epoch seconds) of each start-up step — process_start,
qt_ready, window_built, window_shown (its first frame painted), services_composed, first_numbers
(benchmarks/bench_startup.py reads them). Without it nothing is written.
"""

from __future__ import annotations

import contextlib
import gc
import json
import logging
import os
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal
from PySide6.QtGui import QWindow
from PySide6.QtWidgets import QApplication, QFileDialog, QMessageBox

from desk.domain.alerts import Alert
from desk.sanitize import for_user
from desk.services.snapshot import DataStatus, MonitorSnapshot
from desk.ui import formatting as fmt
from desk.ui.bridge import DEFAULT_REFRESH_HZ, EventBridge
from desk.ui.levels import Level, thresholds_from_settings
from desk.ui.main_window import MainWindow
from desk.ui.positions_model import DEFAULT_STALE_AFTER
from desk.ui.single_instance import InstanceServer, ask_running_instance_to_raise
from desk.ui.theme import apply_theme, choose_theme
from desk.ui.tray import Tray, TrayNotifier

log = logging.getLogger(__name__)

REPORT_ENV = "DESK_TEST_REPORT"  # write a small JSON status file once the table is populated
# The services start when the window's first frame is on screen; a window manager that never says
# so (no expose event) must not hold them back longer than this.
FIRST_FRAME_WAIT_MS = 1000
# The chart tabs wait for the first numbers, but no longer than this after the window is shown
# (a live account's first read can take seconds).
CHARTS_AT_THE_LATEST_MS = 2000


@dataclass(frozen=True)
class GuiOptions:
    demo: bool = False
    scenario: str = "calm"
    seed: int | None = None
    speed: float = 1.0
    started_at: float = 0.0  # process start (epoch seconds), for the start-up figures


def _setting(settings: Any, key: str, default: Any) -> Any:
    if settings is None:
        return default
    try:
        value = settings.get(key)
    except Exception:
        return default
    return default if value is None else value


class DeskController(QObject):
    """Owns the window, the tray, the bridge and the services; decides what closing means."""

    services_ready = Signal(object, str)  # (runtime, note for the user or "")
    services_failed = Signal(str)
    open_alert = Signal(object)  # Alert: a click on a notification's "open"
    accounts_applied = Signal(str)  # what the live account change did, for the status bar

    def __init__(self, app: QApplication, settings: Any, options: GuiOptions) -> None:
        super().__init__()
        self.app = app
        self.settings = settings
        self.options = options
        self.runtime: Any = None
        self.alerts: Any = None
        self._startup_thread: threading.Thread | None = None
        self._told_about_tray = False
        self._quitting = False
        self.report_path = os.environ.get(REPORT_ENV) or None
        self.timings: dict[str, float] = {"process_start": options.started_at or time.time()}
        self._report_written = False
        self._first_numbers_shown = False
        self._services_started = False
        self._exposing: QWindow | None = None  # the window's QWindow until its first frame is on screen
        self._gc_frozen = False
        self._unsubscribe_bridge: Any = None

        self.theme_setting = str(_setting(settings, "ui.theme", "auto"))
        apply_theme(app, choose_theme(self.theme_setting))
        QApplication.styleHints().colorSchemeChanged.connect(self._follow_os_theme)

        self.window = MainWindow(
            demo=options.demo,
            thresholds_for=thresholds_from_settings(settings),
            stale_after=float(_setting(settings, "monitor.stale_seconds", DEFAULT_STALE_AFTER)),
            live_after=float(_setting(settings, "monitor.live_seconds", 5.0)),
            state_file=str(_window_state_file()),
        )
        self.window.history_source = self.alert_history  # the History tab reads what the runtime writes
        self.tray = Tray(self)
        self.notifier = TrayNotifier(self.tray, self)
        self.bridge = EventBridge(float(_setting(settings, "ui.refresh_hz", DEFAULT_REFRESH_HZ)), self)
        self.instance = InstanceServer(self)

        self.bridge.snapshot_ready.connect(self.on_snapshot)
        self.window.snapshot_applied.connect(self._on_snapshot_applied)
        self.bridge.status_changed.connect(self.window.on_status_change)
        self.bridge.alert_raised.connect(self.window.on_alert)
        self.bridge.history_changed.connect(self._on_history_status)
        self.bridge.alert_path_changed.connect(self._on_alert_path)
        self.window.close_requested.connect(self.on_close_requested)
        self.window.summary_refreshed.connect(self._update_tray)
        self.window.menu_actions["quit"].triggered.connect(self.quit)
        self.window.menu_actions["settings"].triggered.connect(self.open_settings)
        self.window.menu_actions["accounts"].triggered.connect(self.open_accounts)
        self.window.menu_actions["export"].triggered.connect(self.export_table)
        self.window.menu_actions["about"].triggered.connect(self.about)
        self.window.menu_actions["docs"].triggered.connect(self.open_documentation)
        self.window.menu_actions["log_folder"].triggered.connect(lambda: open_local(log_folder()))
        self.window.alert_log_requested.connect(self.open_alert_log)
        self.alert_log: Any = None
        self.tray.show_hide_requested.connect(self.toggle_window)
        self.tray.snooze_requested.connect(self.snooze)
        self.tray.acknowledge_requested.connect(lambda: self.acknowledge(None, source="tray"))
        self.tray.quit_requested.connect(self.quit)
        self.instance.raise_requested.connect(self.show_window)
        self.services_ready.connect(self._on_services_ready)
        self.services_failed.connect(self._on_services_failed)
        self.open_alert.connect(self._on_open_alert, Qt.ConnectionType.QueuedConnection)
        self.accounts_applied.connect(self._on_accounts_applied, Qt.ConnectionType.QueuedConnection)
        app.aboutToQuit.connect(self.shutdown)
        self._show_settings_problems()

    # -- start-up --------------------------------------------------------------------------

    def start(self) -> None:
        """Show the window; its first frame on screen starts the services, and the first numbers
        bring the charts — each slow step waits for the one the user sees before it."""
        self.instance.listen()
        self.window.charts_deferred = True
        minimized = bool(_setting(self.settings, "ui.start_minimized", False))
        if minimized and self.tray.available:
            pass  # straight to the tray
        elif minimized:
            self.window.showMinimized()
        else:
            self.window.show()
            if self._await_first_frame():
                return
        QTimer.singleShot(0, self._window_shown)

    def _await_first_frame(self) -> bool:
        """Watch the window's native window for its first expose (Qt paints it right then)."""
        handle = self.window.windowHandle()
        if handle is None or handle.isExposed():
            return False
        self._exposing = handle
        handle.installEventFilter(self)
        QTimer.singleShot(FIRST_FRAME_WAIT_MS, self._window_shown)
        return True

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        handle = self._exposing
        if handle is not None and watched is handle and event.type() == QEvent.Type.Expose \
                and handle.isExposed():
            self._stop_watching_expose()
            QTimer.singleShot(0, self._window_shown)  # runs once this expose has been painted
        return super().eventFilter(watched, event)

    def _stop_watching_expose(self) -> None:
        if self._exposing is not None:
            self._exposing.removeEventFilter(self)
            self._exposing = None

    def _window_shown(self) -> None:
        if self._services_started or self._quitting:
            return
        self._services_started = True
        self._stop_watching_expose()
        self.timings["window_shown"] = time.time()
        QTimer.singleShot(CHARTS_AT_THE_LATEST_MS, self.window, self._attach_charts)
        self._startup_thread = threading.Thread(target=self._compose_services, name="desk-startup",
                                                daemon=True)
        self._startup_thread.start()

    def _attach_charts(self) -> None:
        self.window.attach_charts()
        self.timings.setdefault("charts_attached", time.time())

    def _compose_services(self) -> None:
        """Runs on the start-up thread: build and start the runtime (imports ccxt when needed)."""
        try:
            from desk.services.alerts import attach_alerts
            from desk.services.runtime import NoAccountsError, Runtime

            note = ""
            opts = self.options
            if opts.demo:
                runtime = Runtime.for_demo(opts.scenario, seed=opts.seed, speed=opts.speed,
                                           settings=self.settings)
            else:
                try:
                    runtime = Runtime.from_settings(self.settings)
                except NoAccountsError:
                    runtime = Runtime.for_demo(opts.scenario, seed=opts.seed, speed=opts.speed,
                                               settings=self.settings)
                    note = ("No exchange account is configured, so desk shows the demo venue. "
                            "Add an account under File → Accounts.")
            self.alerts = attach_alerts(runtime, self.settings, tray=self.notifier,
                                        on_open=self.open_alert.emit)
            self._unsubscribe_bridge = self.bridge.attach(runtime.bus)
            if self._quitting:
                return
            runtime.start()
            self.timings["services_composed"] = time.time()
            self.runtime = runtime
            self.services_ready.emit(runtime, note)
        except Exception as exc:  # shown to the user; the traceback goes to the log
            log.exception("starting the monitor failed")
            self.services_failed.emit(f"{type(exc).__name__}: {for_user(exc)}")

    def _on_services_ready(self, runtime: Any, note: str) -> None:
        if runtime.demo != self.window.demo:
            self.window.set_demo(runtime.demo)
        message = note or f"Monitoring {len(runtime.account_names)} account(s)"
        self.window.statusBar().showMessage(message, 30000)
        if note:
            self.window.status_strip.summary.setText(note)
        latest = runtime.latest()
        if latest is not None:
            self.bridge.on_event(latest)

    def _on_history_status(self, status: Any) -> None:
        if status.health is None and status.recording:  # a one-off notice (a corrupt file moved aside)
            self.window.statusBar().showMessage(status.message, 60000)
        else:
            self.window.status_strip.set_history(status.recording, status.message)

    def _on_services_failed(self, message: str) -> None:
        self._attach_charts()
        self.window.status_strip.set_health(Level.STALE, f"Monitoring did not start: {message}")
        from desk.store.logs import log_file

        QMessageBox.critical(self.window, "desk — monitoring did not start",
                             f"The monitor could not start:\n\n{message}\n\nThe details are in {log_file()}.")

    # -- live data -------------------------------------------------------------------------

    def on_snapshot(self, snapshot: MonitorSnapshot) -> None:
        if self._quitting:
            return  # the bridge may still hold a last snapshot; the window may be gone already
        # The badge follows the data itself: a snapshot can arrive before services_ready does.
        demo = bool(snapshot.accounts) and all(a.demo for a in snapshot.accounts)
        if snapshot.accounts and demo != self.window.demo:
            self.window.set_demo(demo)
        self.window.show_snapshot(snapshot)  # a large book: in the table a few passes later

    def _on_snapshot_applied(self, snapshot: MonitorSnapshot) -> None:
        if self._quitting:
            return
        if not self._gc_frozen and self.window.model.rowCount() > 0:
            # Everything built at start-up (Qt widgets, ccxt's market tables, the charts) lives
            # as long as the app: keep it out of the garbage collector's full passes, which
            # otherwise stall the GUI thread for tens of milliseconds now and then.
            self._gc_frozen = True
            QTimer.singleShot(2000, gc.freeze)
        if not self._first_numbers_shown and self.window.model.rowCount() > 0:
            self._first_numbers_shown = True
            self.timings["first_numbers"] = time.time()
            QTimer.singleShot(0, self.window, self._attach_charts)  # after the numbers' repaint
            if self.report_path and not self._report_written:
                self._write_report()

    def _update_tray(self) -> None:
        snapshot = self.window.snapshot
        if snapshot is None:
            return
        level = self.window.worst_level
        rows = [r for r in self.window.model.rows() if r.liquidated_at is None]  # open positions
        liquidated = len(self.window.model.liquidated())
        words = {Level.OK: "all OK", Level.WARNING: "WARNING", Level.CRITICAL: "CRITICAL",
                 Level.STALE: "STALE DATA"}
        lines = [f"desk — {words[level] if level is not None else 'starting'}"]
        counts = [(lv, sum(1 for r in rows if r.level is lv)) for lv in (Level.CRITICAL, Level.WARNING,
                                                                         Level.STALE)]
        detail = ", ".join([*(f"{n} {lv.word.lower()}" for lv, n in counts if n),
                            *([f"{liquidated} liquidated (not acknowledged)"] if liquidated else [])])
        lines.append(f"{len(rows)} positions" + (f": {detail}" if detail else ""))
        def closeness(row: Any) -> tuple[int, float]:
            distance = row.risk.signed_distance_to_liquidation
            return (-int(row.level), 9.0 if distance is None else distance)

        worst_row = min(rows, key=closeness, default=None)
        if worst_row is not None and worst_row.risk.liquidatable:
            r = worst_row.risk
            lines.append(f"closest: {r.symbol} ({r.account}) "
                         f"{fmt.distance_with_state(r.signed_distance_to_liquidation, True)} · "
                         f"margin ratio {fmt.margin_ratio(r.margin_ratio)}")
        elif worst_row is not None and worst_row.risk.distance_to_liquidation is not None:
            r = worst_row.risk
            lines.append(f"closest: {r.symbol} ({r.account}) "
                         f"{fmt.distance(r.signed_distance_to_liquidation)} from liquidation")
        bad = [a for a in snapshot.accounts if a.status is not DataStatus.LIVE]
        if bad:
            lines.append("data: " + ", ".join(f"{a.name} {a.status.value}" for a in bad))
        if self.window.demo:
            lines.append("DEMO venue")
        self.tray.set_status(level, "\n".join(lines))

    def _write_report(self) -> None:
        assert self.report_path is not None
        model = self.window.model
        data = {
            "title": self.window.windowTitle(),
            "demo": self.window.demo,
            "rows": model.rowCount(),
            "accounts": sorted({r.risk.account for r in model.rows()}),
            "symbols": sorted({r.risk.symbol for r in model.rows()}),
            "tray_available": self.tray.available,
            "timings": self.timings,
        }
        path = Path(self.report_path)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=1), encoding="utf-8")
        tmp.replace(path)
        self._report_written = True

    def _on_open_alert(self, alert: Alert) -> None:
        self.show_window()
        if alert.account and alert.symbol:
            self.window.select_instrument(alert.account, alert.symbol, alert.leg or "both")

    # -- window and tray -------------------------------------------------------------------

    def show_window(self) -> None:
        if self.window.isMinimized():
            self.window.showNormal()
        self.window.show()
        self.window.raise_()
        self.window.activateWindow()

    def toggle_window(self) -> None:
        if self.window.isVisible() and not self.window.isMinimized():
            self.window.hide()
        else:
            self.show_window()

    def on_close_requested(self) -> None:
        """The window's close button: to the tray when one exists, else ask before quitting."""
        if self.tray.available:
            self.window.hide()
            if not self._told_about_tray:
                self._told_about_tray = True
                self.tray.icon.showMessage("desk keeps monitoring",
                                           "desk is still watching your positions from the tray. "
                                           "Use the tray menu to quit.",
                                           self.tray.icon.MessageIcon.Information, 5000)
            return
        answer = QMessageBox.question(
            self.window, "Quit desk?",
            "There is no system tray to keep desk running in.\n\n"
            "Quit desk? Monitoring and alerts stop until you start it again.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.No)
        if answer == QMessageBox.StandardButton.Yes:
            self.quit()

    def acknowledge(self, alert: Alert | None, *, source: str, alert_id: int | None = None) -> None:
        """Stop the reminders of one critical alert's condition (or of all of them)."""
        if self.alerts is not None:
            condition = None if alert is None else alert.condition
            self.alerts.acknowledge(condition, source=source, alert_id=alert_id)

    def _on_alert_path(self, event: Any) -> None:
        from desk.services.alerts import ChannelHealth

        if isinstance(event, ChannelHealth):
            self.window.status_strip.set_channel(event.channel, None if event.ok else event.reason)
        else:
            self.window.statusBar().showMessage(f"Acknowledged from {event.source}: reminders stopped", 10000)

    def snooze(self, seconds: float) -> None:
        until = time.time() + seconds if seconds > 0 else None
        if self.alerts is not None:
            self.alerts.snooze(until)
        self.window.status_strip.set_snoozed(until)
        text = (f"Alerts snoozed until {time.strftime('%H:%M', time.localtime(until))} "
                "(critical alerts still notify)" if until else "Alerts resumed")
        self.window.statusBar().showMessage(text, 15000)

    def quit(self) -> None:
        self.window.allow_close = True
        self.app.quit()

    def shutdown(self) -> None:
        """On quit: stop the services (closing exchange sessions), the tray and the socket."""
        self._quitting = True
        # a stopped controller no longer follows the desktop's theme (another may be running)
        with contextlib.suppress(RuntimeError, TypeError):
            QApplication.styleHints().colorSchemeChanged.disconnect(self._follow_os_theme)
        if self._startup_thread is not None:
            self._startup_thread.join(5.0)
        if self.runtime is not None:
            try:
                self.runtime.stop(timeout=5.0)
            except Exception:
                log.exception("stopping the monitor failed")
        if self._unsubscribe_bridge is not None:
            self._unsubscribe_bridge()
            self._unsubscribe_bridge = None
        # a snapshot queued before the stop must not reach a window that is being deleted
        self.bridge.close()
        self.tray.icon.hide()
        self.instance.close()

    # -- dialogs ---------------------------------------------------------------------------

    def open_documentation(self) -> None:
        try:
            path = documentation_path()
        except FileNotFoundError as exc:  # an installation without its copy of the README
            QMessageBox.information(self.window, "desk — documentation", f"{exc}.\nThe documentation is "
                                    "the README.md of desk's source repository.")
            return
        open_local(path)

    def open_settings(self) -> None:
        from desk.ui.settings_dialog import SettingsDialog

        dialog = SettingsDialog(self.settings, self.window)
        if dialog.exec():
            self._settings_changed()
            self._show_settings_problems()

    def _show_settings_problems(self) -> None:
        problems = list(getattr(self.settings, "problems", None) or [])
        bad_keys = self.settings.bad_keys() if hasattr(self.settings, "bad_keys") else []
        self.window.status_strip.set_settings_problems(bad_keys, problems)
        if problems:
            self.window.statusBar().showMessage(f"Settings: {problems[0]}", 30000)

    def alert_history(self) -> Any:
        """The history store (alert log and risk samples) the running services write to (None
        before they are up) — the demo's own file in demo mode."""
        recorder = getattr(self.runtime, "history_recorder", None)
        return getattr(recorder, "history", None)

    def open_alert_log(self) -> None:
        from desk.ui.alert_log import AlertLogDialog

        if self.alert_log is None:
            self.alert_log = AlertLogDialog(
                self.alert_history, self.window,
                acknowledge=lambda alert, alert_id: self.acknowledge(alert, source="alert log",
                                                                     alert_id=alert_id))
            self.bridge.alert_raised.connect(self.alert_log.on_raised)
            self.bridge.alert_delivered.connect(self.alert_log.on_delivered)
        self.alert_log.show()
        self.alert_log.raise_()
        self.alert_log.activateWindow()

    def open_accounts(self) -> None:
        from desk.ui.accounts_dialog import AccountsDialog

        dialog = AccountsDialog(self.settings, monitor=getattr(self.runtime, "monitor", None),
                                parent=self.window)
        dialog.exec()
        self._show_settings_problems()  # a save rewrites a damaged file: the warning follows
        if dialog.touched:
            self.apply_account_changes(dialog.touched)

    def apply_account_changes(self, names: set[str]) -> None:
        """Start, restart or stop watching the accounts the dialog changed — without a restart.

        The work (keyring, ccxt, closing sessions) runs off the GUI thread; the status bar says
        what happened. A dashboard showing the demo venue only because no account was configured
        switches to the configured accounts.
        """
        runtime = self.runtime
        if runtime is None:
            self.window.statusBar().showMessage(
                "Accounts changed; the monitor is still starting and will read the new settings.", 15000)
            return
        if runtime.demo:
            if self.options.demo:
                self.window.statusBar().showMessage(
                    "Accounts saved. This window shows the demo venue (--demo); start desk without "
                    "--demo to monitor them.", 30000)
                return
            self.window.statusBar().showMessage("Switching from the demo venue to your accounts…", 15000)
            self._restart_services()
            return
        self.window.statusBar().showMessage("Applying the account changes…", 15000)
        future = runtime.apply_account_changes(sorted(names))

        def done(f: Any) -> None:
            try:
                outcome = f.result()
            except Exception as exc:
                log.exception("applying the account changes failed")
                self.accounts_applied.emit(f"Applying the account changes failed: {for_user(exc)}")
                return
            words = [f"{name} {what}" for name, what in sorted(outcome.items()) if what != "unchanged"]
            self.accounts_applied.emit("Accounts: " + (", ".join(words) or "nothing to change"))

        future.add_done_callback(done)

    def _on_accounts_applied(self, message: str) -> None:
        self.window.statusBar().showMessage(message, 30000)

    def _restart_services(self) -> None:
        """Stop the running services and compose them again from the settings (off the GUI thread)."""
        old, self.runtime = self.runtime, None
        if self._unsubscribe_bridge is not None:
            self._unsubscribe_bridge()
            self._unsubscribe_bridge = None

        def work() -> None:
            if old is not None:
                try:
                    old.stop(timeout=5.0)
                except Exception:
                    log.exception("stopping the demo monitor failed")
            self._compose_services()

        self._startup_thread = threading.Thread(target=work, name="desk-restart", daemon=True)
        self._startup_thread.start()

    def _settings_changed(self) -> None:
        self.theme_setting = str(_setting(self.settings, "ui.theme", "auto"))
        apply_theme(self.app, choose_theme(self.theme_setting))
        self.bridge.set_refresh_hz(float(_setting(self.settings, "ui.refresh_hz", DEFAULT_REFRESH_HZ)))
        self.window.set_thresholds(thresholds_from_settings(self.settings))
        if self.runtime is not None:
            from desk.services.monitor import tolerance_from_settings

            # ours vs the exchange's: the new tolerance applies from the next account read
            self.runtime.monitor.tolerance_for = tolerance_from_settings(self.settings)
        if self.alerts is not None:
            try:
                from desk.services.alerts_config import AlertConfig

                self.alerts.update_config(AlertConfig.from_settings(self.settings))
                self.alerts.reload_channels(self.settings)
            except Exception:
                log.exception("applying the new alert settings failed")

    def _follow_os_theme(self, scheme: Qt.ColorScheme | None = None) -> None:
        """The desktop switched between light and dark: follow it live when ui.theme is auto."""
        if self.theme_setting not in ("light", "dark"):
            apply_theme(self.app, choose_theme(self.theme_setting, scheme))

    def export_table(self) -> None:
        from desk.store.export import format_for, write_rows

        path, _ = QFileDialog.getSaveFileName(self.window, "Export the visible table", "positions.csv",
                                              "CSV (*.csv);;JSON (*.json)")
        if not path:
            return
        try:
            write_rows(self.window.visible_rows(), path, format_for(path, None))
        except Exception as exc:
            QMessageBox.warning(self.window, "Export failed", f"Could not write {path}:\n{for_user(exc)}")
            return
        self.window.statusBar().showMessage(f"Exported {self.window.proxy.rowCount()} rows to {path}", 15000)

    def about(self) -> None:
        from desk import __version__

        QMessageBox.about(self.window, "About desk",
                          f"<b>desk {__version__}</b><br>A read-only risk dashboard for crypto "
                          "derivatives: liquidation, bankruptcy, margin ratio — computed by desk's own "
                          "engine beside the exchange's figures.")


def _window_state_file() -> Path:
    """Where the window's size and chosen columns are kept (Qt's own format, not the settings)."""
    from desk.store.paths import desk_paths

    return desk_paths().data_dir / "window-state.ini"


def documentation_path() -> Path:
    """The README: the source tree's, else the copy a bundle or a wheel carries in resources/doc."""
    checkout = Path(__file__).resolve().parents[2] / "README.md"
    if checkout.is_file():
        return checkout
    from desk.resources import resource_path

    return resource_path("doc/README.md")


def log_folder() -> Path:
    from desk.store.paths import desk_paths

    folder = desk_paths().log_dir
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def open_local(path: Path) -> bool:
    """Open a local file or folder with the desktop's handler (Help → Documentation / log folder)."""
    from PySide6.QtCore import QUrl
    from PySide6.QtGui import QDesktopServices

    return QDesktopServices.openUrl(QUrl.fromLocalFile(str(path)))


def run(options: GuiOptions) -> int:
    """Start the dashboard (or raise the running one) and run the event loop."""
    app = QApplication.instance() or QApplication(sys.argv[:1])
    assert isinstance(app, QApplication)
    app.setApplicationName("desk")
    app.setDesktopFileName("desk")
    app.setQuitOnLastWindowClosed(False)
    if ask_running_instance_to_raise():
        print("desk is already running; its window was brought to the front.", file=sys.stderr)
        return 0
    qt_ready = time.time()
    settings = _load_settings()
    controller = DeskController(app, settings, options)
    controller.timings.update(qt_ready=qt_ready, window_built=time.time())
    _quit_on_signals(controller)
    controller.start()
    code = app.exec()
    return int(code)


def _quit_on_signals(controller: DeskController) -> None:
    """SIGTERM / Ctrl+C quit cleanly (the monitor closes its exchange sessions). Python runs
    signal handlers only between bytecodes, so a light timer lets it look in now and then."""
    import signal

    def handler(signum: int, frame: object) -> None:
        QTimer.singleShot(0, controller.quit)

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, handler)
    timer = QTimer(controller)
    timer.timeout.connect(lambda: None)
    timer.start(250)


def _load_settings() -> Any:
    from desk.store.settings import Settings

    return Settings.load()
