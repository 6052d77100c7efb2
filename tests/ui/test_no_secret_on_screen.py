"""The dashboard never paints an API key a venue echoes back in an error body.

A real DeskController with its real Runtime reading a fake Binance whose signed reads answer
401 with every request header (X-MBX-APIKEY included) in the body.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QAbstractButton, QLabel, QWidget

from desk.store.settings import Settings
from tests.fake_exchange.server import Fault
from tests.ui.test_accounts_live import add_account, controller, server  # noqa: F401  (fixtures)

ROLES = (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole, Qt.ItemDataRole.StatusTipRole)


def painted_texts(window: QWidget) -> list[str]:
    """Every text the window shows or offers as a tooltip: labels, buttons, status bar, table cells."""
    texts = [window.statusBar().currentMessage(), window.windowTitle()]  # type: ignore[attr-defined]
    for widget in window.findChildren(QWidget):
        texts.append(widget.toolTip())
        if isinstance(widget, QLabel | QAbstractButton):
            texts.append(widget.text())
    model = window.model  # type: ignore[attr-defined]
    for row in range(model.rowCount()):
        for col in range(model.columnCount()):
            for role in ROLES:
                value = model.index(row, col).data(role)
                if isinstance(value, str):
                    texts.append(value)
    return texts


def test_an_echoed_key_is_masked_in_the_status_bar_and_strip(qtbot, controller, server) -> None:  # noqa: F811  # type: ignore[no-untyped-def]
    settings = Settings.load()
    add_account(settings, server, "main")
    api_key = next(iter(server.keys))
    server.inject(Fault("echo_headers", path="/fapi/v3/*", status=401))
    c = controller(settings)
    shown: list[str] = []

    def error_shown() -> bool:
        message = c.window.statusBar().currentMessage()
        if "main: error" in message:
            shown.append(message)
        return bool(shown)

    qtbot.waitUntil(error_shown, timeout=20_000)
    assert any(r.headers.get("X-MBX-APIKEY") == api_key for r in server.requests)  # really sent
    assert '"X-MBX-APIKEY": "***"' in shown[0]  # the venue's echo is shown, masked
    for text in painted_texts(c.window) + shown:
        assert api_key not in text, text
