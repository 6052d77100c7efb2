"""Run in a subprocess by test_tray.py (Qt caches whether a tray exists, per process).

Builds the dashboard's controller on the current display, closes the window the way the close
button does, and prints what happened as JSON.
"""

from __future__ import annotations

import json
import sys

from PySide6.QtWidgets import QApplication, QMessageBox

from desk.store.settings import Settings
from desk.ui.app import DeskController, GuiOptions

answer = sys.argv[1] if len(sys.argv) > 1 else "no"
app = QApplication(sys.argv[:1])
app.setQuitOnLastWindowClosed(False)
controller = DeskController(app, Settings.load(), GuiOptions(demo=True))
asked: list[str] = []
quits: list[bool] = []


def fake_question(parent, title, text, *args, **kwargs):  # type: ignore[no-untyped-def]
    asked.append(f"{title}: {text}")
    return QMessageBox.StandardButton.Yes if answer == "yes" else QMessageBox.StandardButton.No


QMessageBox.question = staticmethod(fake_question)  # type: ignore[method-assign,assignment]
controller.quit = lambda: quits.append(True)  # type: ignore[method-assign]
controller.window.show()
for _ in range(20):
    app.processEvents()
closed = controller.window.close()  # as the window's close button
for _ in range(20):
    app.processEvents()
print(json.dumps({
    "tray_available": controller.tray.available,
    "tray_icon_visible": controller.tray.icon.isVisible(),
    "close_accepted": closed,
    "window_visible_after_close": controller.window.isVisible(),
    "asked": asked,
    "quit": bool(quits),
}))
controller.shutdown()
