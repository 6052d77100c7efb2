"""Remote alert channels in the real dashboard: a failing channel in the status strip (with its
reason), acknowledging from the tray and the alert log, and "Send test alert" in the settings
dialog reporting per channel — channels from the settings and the keyring, loopback servers."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from desk.domain.alerts import AlertLevel
from desk.store import secrets
from desk.store.settings import ChannelConfig, Settings
from desk.ui.alert_log import LEVEL
from desk.ui.settings_dialog import SettingsDialog
from tests.alerts.factory import FakeClock, position, snapshot
from tests.support.push_services import PushServer, another_push_server, stop_push_server

TOKEN = "TopicToken5e1d"


def test_channels_in_the_dashboard(qtbot, monkeypatch, push_server: PushServer) -> None:  # type: ignore[no-untyped-def]
    from desk.ui import main_window as main_window_module
    from desk.ui.app import DeskController, GuiOptions

    monkeypatch.setattr(main_window_module.MainWindow, "_attach_charts", lambda self: None)
    broken = another_push_server()
    broken.fail_with(503)
    settings = Settings.load()
    settings.update({"alerts.desktop": False})
    for name, url in (("phone", push_server.ntfy_url(f"desk-{TOKEN}")), ("pager", broken.json_url(TOKEN))):
        settings.put_channel(ChannelConfig(name=name, level="critical"))
        secrets.put_channel_url(name, url)
    settings.save()
    controller = DeskController(QApplication.instance(), settings, GuiOptions(demo=True))  # type: ignore[arg-type]
    controller.window.allow_close = True
    qtbot.addWidget(controller.window)
    try:
        controller.start()
        qtbot.waitUntil(lambda: controller.alerts is not None and controller.alert_history() is not None,
                        timeout=30_000)
        service = controller.alerts
        for channel in service.channels:
            channel.notifier.pace(0)
        # the test drives the alert service alone: the demo monitor's snapshots are detached from it
        service._unsubscribe()
        clock = FakeClock()
        service.clock = service.engine.clock = clock
        service.evaluate(snapshot(clock(), [position(distance=0.30)]))
        clock.advance(10)
        service.evaluate(snapshot(clock(), [position(distance=0.03)]))

        strip = controller.window.status_strip.channels
        qtbot.waitUntil(strip.isVisible, timeout=20_000)
        assert strip.text() == "✖ alert channel failing: pager"
        assert "• pager: JSON: " in strip.toolTip() and "503" in strip.toolTip()
        assert strip.styleSheet()  # coloured as critical, with the glyph and the words
        # the demo monitor ran for a moment before the test detached it: what it sent about the demo
        # accounts is not this alert (ntfy takes the message as the body)
        def ours(rs: list) -> list:  # type: ignore[type-arg]
            return [r for r in rs if b"BTC/USDT:USDT" in r.body and b"demo-" not in r.body]

        push_server.wait_for(lambda rs: len(ours(rs)) == 1, what="the phone's critical alert")

        # the tray: acknowledge every critical alert
        assert [a.symbol for a in service.engine.repeating()] == ["BTC/USDT:USDT"]
        controller.tray.ack_action.trigger()
        assert service.engine.repeating() == []
        history = controller.alert_history()
        assert [(a.source, a.condition) for _, a in history.acks()] == [("tray", None)]
        clock.advance(300)  # reminders would be due: none go out
        service.evaluate(snapshot(clock(), [position(distance=0.03)]))
        assert service.wait_idle(20)
        assert not [r for r in history.alerts() if r.alert.repeat]

        # the alert log: recovered, critical again later, acknowledged on its row
        clock.advance(10)
        service.evaluate(snapshot(clock(), [position(distance=0.30)]))
        clock.advance(3600)
        service.evaluate(snapshot(clock(), [position(distance=0.03)]))
        assert service.wait_idle(20)
        assert [a.symbol for a in service.engine.repeating()] == ["BTC/USDT:USDT"]
        controller.open_alert_log()
        log = controller.alert_log
        qtbot.addWidget(log)
        log.reload()
        critical_rows = [r for r in range(log.proxy.rowCount())
                         if log.proxy.index(r, LEVEL).data() == "✖ CRITICAL"]
        assert not log.ack_button.isEnabled()
        log.table.selectRow(critical_rows[0])  # newest first: the second critical alert
        assert log.ack_button.isEnabled()
        qtbot.mouseClick(log.ack_button, Qt.MouseButton.LeftButton)
        assert service.engine.repeating() == []
        (_, ack) = history.acks()[-1]
        newest = max(r.id for r in history.alerts() if r.alert.level is AlertLevel.CRITICAL)
        assert (ack.source, ack.condition, ack.alert_id) == (
            "alert log", ("distance", "main", "BTC/USDT:USDT", "both"), newest)

        # the settings dialog: channels masked, "Send test alert" reports each one
        dialog = SettingsDialog(settings, controller.window)
        qtbot.addWidget(dialog)
        panel = dialog.channels_panel
        assert panel.listing.text().splitlines() == [
            "• phone: ntfy://127.0.0.1/*** — critical and worse",
            "• pager: json://127.0.0.1/*** — critical and worse",
        ]
        before = len(push_server.requests)
        qtbot.mouseClick(panel.test_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: panel.test_button.isEnabled() and "phone" in panel.results.text(),
                        timeout=30_000)
        lines = panel.results.text().splitlines()
        assert "phone: ok — sent via ntfy" in lines
        (pager,) = [line for line in lines if line.startswith("pager: FAILED — JSON: ")]
        assert "503" in pager
        assert push_server.requests[before].json["title"] == "Test alert from desk"
        # adding a channel: the URL is typed into a masked field and goes to the keyring only
        added_url = push_server.ntfy_url(f"added-{TOKEN}")
        panel.name.setText("desk2")
        panel.url.setText(added_url)
        assert panel.url.echoMode() == panel.url.EchoMode.Password
        qtbot.mouseClick(panel.add_button, Qt.MouseButton.LeftButton)
        assert panel.results.text().startswith("Channel desk2 (ntfy) added")
        assert panel.listing.text().splitlines()[-1] == "• desk2: ntfy://127.0.0.1/*** — warning and worse"
        assert secrets.channel_url("desk2") == added_url and panel.url.text() == ""
        controller._settings_changed()  # what Save does: the running service picks the channel up
        assert [c.channel for c in service.channels] == ["phone", "pager", "desk2"]
        shown = " ".join([panel.listing.text(), panel.results.text(), strip.text(), strip.toolTip(),
                          panel.url.text()])
        assert TOKEN not in shown
    finally:
        controller.shutdown()
        stop_push_server(broken)
