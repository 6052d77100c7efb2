"""A damaged settings file in the dashboard: the real main window names the bad keys in its status
strip and the alert log has a record of it; the settings dialog enforces the same RULES as
`desk config set` (issue 14)."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from desk.store.paths import desk_paths
from desk.store.settings import RULES, Settings
from desk.ui.settings_dialog import SettingsDialog

TYPO = """schema_version = 2
[alerts]
desktop = false
distance_warning = 0.2
margin_ratio_warning = 0.6.
[accounts.main
venue = "binance"
"""


def test_the_window_names_the_bad_keys_and_the_alert_log_records_them(qtbot, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from desk.ui import main_window as main_window_module
    from desk.ui.alert_log import LEVEL, TITLE
    from desk.ui.app import DeskController, GuiOptions

    monkeypatch.setattr(main_window_module.MainWindow, "_attach_charts", lambda self: None)
    desk_paths().ensure().settings_file.write_text(TYPO)
    settings = Settings.load()
    controller = DeskController(QApplication.instance(), settings, GuiOptions(demo=True))  # type: ignore[arg-type]
    controller.window.allow_close = True
    qtbot.addWidget(controller.window)
    try:
        controller.start()
        warning = controller.window.status_strip.settings_warning
        qtbot.waitUntil(warning.isVisible, timeout=10_000)
        assert warning.text() == "▲ Settings: alerts.margin_ratio_warning, accounts.main, accounts.main.venue"
        tip = warning.toolTip()
        assert "alerts.margin_ratio_warning = 0.6. (line 5)" in tip
        assert "accounts.main (line 6)" in tip and "line 7" in tip
        assert warning.styleSheet()  # coloured as a warning (with the ▲ glyph and the word)
        assert settings.get("alerts.distance_warning") == 0.2  # the rest of the file is in use
        dialog = SettingsDialog(settings, controller.window)  # File → Settings says the same
        qtbot.addWidget(dialog)
        assert "• alerts.margin_ratio_warning = 0.6. (line 5)" in dialog.errors.text()

        qtbot.waitUntil(lambda: controller.alert_history() is not None, timeout=30_000)
        controller.open_alert_log()
        log = controller.alert_log
        qtbot.addWidget(log)

        def settings_rows() -> list[int]:
            model = log.model
            return [r for r in range(model.rowCount())
                    if str(model.index(r, TITLE).data()).startswith("Settings:")]

        qtbot.waitUntil(lambda: bool(settings_rows()), timeout=10_000)
        (row,) = settings_rows()
        title = log.model.index(row, TITLE)
        assert title.data() == ("Settings: 3 bad entries (alerts.margin_ratio_warning, accounts.main, "
                                "accounts.main.venue)")
        assert "line 5" in title.data(Qt.ItemDataRole.ToolTipRole)
        assert log.model.index(row, LEVEL).data() == "▲ WARNING"
        assert log.model.index(row, LEVEL).data(Qt.ItemDataRole.ForegroundRole) is not None
    finally:
        controller.shutdown()


def test_the_dialog_enforces_the_declared_rules(qtbot) -> None:  # type: ignore[no-untyped-def]
    settings = Settings.load()
    dialog = SettingsDialog(settings)
    qtbot.addWidget(dialog)
    dialog.editors["monitor.live_seconds"].setText("60")  # older than stale: watch used to die on it
    dialog.save()
    assert dialog.result() != dialog.DialogCode.Accepted
    live_rule = next(r for r in RULES if r.keys == ("monitor.live_seconds", "monitor.stale_seconds"))
    # the rule's own words, each field by its label (issue 19)
    assert dialog._in_labels(live_rule.explain(lambda k: 60.0 if k == "monitor.live_seconds"
                                               else settings.get(k))) in dialog.errors.text()
    assert "“Live if newer than”" in dialog.errors.text()
    assert dialog.editors["monitor.stale_seconds"].styleSheet()  # both fields of the rule are marked
    assert not desk_paths().settings_file.exists()
    # Both thresholds moved past the old ones in one save: valid together, so accepted.
    dialog.editors["monitor.live_seconds"].setText("5")
    dialog.editors["alerts.margin_ratio_warning"].setText("85")  # percent, as the dialog shows ratios
    dialog.editors["alerts.margin_ratio_critical"].setText("95")
    dialog.save()
    assert dialog.result() == dialog.DialogCode.Accepted
    again = Settings.load()
    assert again.get("alerts.margin_ratio_warning") == 0.85
    assert again.get("alerts.margin_ratio_critical") == 0.95
