"""Screenshots of the charts and the what-if panel with demo data mid flash-crash (under Xvfb).

    xvfb-run -a -s "-screen 0 1920x1080x24" .venv/bin/python -m tests.ui_charts.screenshots [OUT_DIR]
"""

from __future__ import annotations

import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    out = Path(argv[0]) if argv else Path(__file__).resolve().parents[2] / "docs" / "screenshots"
    out.mkdir(parents=True, exist_ok=True)
    from PySide6.QtWidgets import QApplication

    from desk.ui.theme import LIGHT, apply_theme
    from tests.support.ui_charts import flash_crash_portfolio, risk_of, widgets_for_screenshots

    app = QApplication.instance() or QApplication([])
    assert isinstance(app, QApplication)
    apply_theme(app, LIGHT)
    portfolio = flash_crash_portfolio()
    kept = []
    for name, widget in widgets_for_screenshots(portfolio, risk_of(portfolio)):
        widget.show()
        for _ in range(10):
            app.processEvents()
        path = out / f"{name}.png"
        widget.grab().save(str(path))
        print(path)
        widget.hide()
        kept.append(widget)
    for widget in kept:
        widget.deleteLater()
    app.processEvents()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
