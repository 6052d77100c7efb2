"""The remote alert channels in the settings dialog: each one masked, "Send test alert", and
adding a channel (its URL typed into a masked field, straight to the keyring).

The test runs on a thread of its own (a dead service must not freeze the dialog) and reports
per channel what happened, as `desk alerts test` does.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from desk.sanitize import for_user, masked_url


class ChannelsPanel(QGroupBox):
    tested = Signal(object)  # list[str]: one line per channel, from the test thread

    def __init__(self, settings: Any, parent: QWidget | None = None) -> None:
        super().__init__("Phone and chat channels (Apprise)", parent)
        self.settings = settings
        self.listing = QLabel("")
        self.listing.setWordWrap(True)
        self.test_button = QPushButton("Send test alert")
        self.test_button.clicked.connect(self.send_test)
        self.results = QLabel("")
        self.results.setWordWrap(True)
        self.name = QLineEdit()
        self.name.setPlaceholderText("phone")
        self.url = QLineEdit()
        self.url.setEchoMode(QLineEdit.EchoMode.Password)  # a channel URL holds a token
        self.url.setPlaceholderText("ntfys://ntfy.sh/TOPIC, tgram://BOT_TOKEN/CHAT_ID, …")
        self.level = QComboBox()
        self.level.addItems(["warning", "critical", "info"])
        self.add_button = QPushButton("Add channel")
        self.add_button.clicked.connect(self.add_channel)
        form = QFormLayout()
        form.addRow("Name", self.name)
        form.addRow("Apprise URL", self.url)
        form.addRow("Minimum level", self.level)
        buttons = QHBoxLayout()
        buttons.addWidget(self.test_button)
        buttons.addWidget(self.add_button)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addWidget(self.listing)
        layout.addLayout(form)
        layout.addLayout(buttons)
        layout.addWidget(self.results)
        self.tested.connect(self._show_results)
        self.refresh()

    def refresh(self) -> None:
        from desk.store import secrets

        lines = []
        for name, cfg in self.settings.channels().items():
            try:
                where = masked_url(secrets.channel_url(name))
            except secrets.SecretStoreError as exc:
                where = f"keyring unavailable: {for_user(exc, limit=120)}"
            quiet = f", quiet {cfg.quiet_hours}" if cfg.quiet_hours else ""
            lines.append(f"• {for_user(name, limit=40)}: {where} — {cfg.level} and worse{quiet}")
        self.listing.setText("\n".join(lines) or "No channel yet: add one below, or with "
                                                 "`desk alerts channel add NAME`.")
        self.test_button.setEnabled(bool(lines))

    def add_channel(self) -> None:
        from desk.notify.remote import check_url
        from desk.store import secrets
        from desk.store.settings import ChannelConfig, SettingsError

        name, url = self.name.text().strip(), self.url.text().strip()
        secrets.register_channel_url(url)
        try:
            cfg = ChannelConfig.from_table(name, {"level": self.level.currentText()})
            service = check_url(url)
            secrets.put_channel_url(name, url)
            self.settings.put_channel(cfg)
            self.settings.save()
        except (SettingsError, ValueError, secrets.SecretStoreError) as exc:
            self.results.setText(f"Not added: {for_user(exc, limit=300)}")
            return
        self.url.clear()
        self.results.setText(f"Channel {for_user(name, limit=40)} ({service}) added; its URL is in the "
                             "keyring. Alerts go to it once you press Save.")
        self.refresh()

    def send_test(self) -> None:
        self.test_button.setEnabled(False)
        self.results.setText("Sending a test alert to each channel…")
        threading.Thread(target=self._test_on_thread, name="desk-channel-test", daemon=True).start()

    def _test_on_thread(self) -> None:
        from desk.domain.alerts import Alert, AlertLevel
        from desk.services.alert_channels import send_test, test_targets

        lines: list[str] = []
        try:
            workers, problems = test_targets(self.settings)
            alert = Alert(at=time.time(), rule="test", level=AlertLevel.CRITICAL,
                          title="Test alert from desk",
                          body="If you can read this, desk's critical alerts reach you here. "
                               "Nothing is wrong.")
            lines += [f"{p.channel}: FAILED — {p.reason}" for p in problems]
            for attempt in send_test(workers, alert):
                state = "ok" if attempt.delivered else "FAILED"
                lines.append(f"{attempt.channel}: {state} — {attempt.detail}")
        except Exception as exc:  # shown, never a traceback
            lines.append(f"the test could not run: {type(exc).__name__}: {exc}")
        self.tested.emit(lines)

    def _show_results(self, lines: list[str]) -> None:
        self.results.setText("\n".join(for_user(line, limit=300) for line in lines))
        self.test_button.setEnabled(True)
