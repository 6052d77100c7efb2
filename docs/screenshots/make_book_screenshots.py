"""Screenshots of the dashboard's Book tab (issue 21) on the demo venue, on a real X server (Xvfb).

    .venv/bin/python docs/screenshots/make_book_screenshots.py     # 1280x800 and 1920x1080

Each size starts its own Xvfb and a private D-Bus, then runs the real dashboard (the
``DeskController`` of ``desk --demo``) in a temporary DESK_HOME, switches to the Book tab once the
book is computed, fits the window to the screen and captures the whole screen with Qt's grab of the
X root window. The window is driven in-process because the tab has to be chosen; everything else is
as ``desk --demo`` runs.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OUT = Path(__file__).resolve().parent


def free_display() -> int:
    for n in range(120, 200):
        if not Path(f"/tmp/.X11-unix/X{n}").exists() and not Path(f"/tmp/.X{n}-lock").exists():
            return n
    raise SystemExit("no free X display number between :120 and :199")


def inside(out: str, width: int, height: int, wait: float) -> int:
    """Run in the Xvfb session: the dashboard on the demo venue, the Book tab, one capture."""
    from PySide6.QtCore import QEventLoop, QTimer
    from PySide6.QtWidgets import QApplication

    from desk.store.settings import Settings
    from desk.ui.app import DeskController, GuiOptions

    app = QApplication(sys.argv[:1])
    controller = DeskController(app, Settings.load(), GuiOptions(demo=True, speed=10))
    window = controller.window
    window.allow_close = True
    controller.start()
    window.move(0, 0)
    window.resize(width, height)
    window.show()

    def pump(seconds: float) -> None:
        loop = QEventLoop()
        QTimer.singleShot(int(seconds * 1000), loop.quit)
        loop.exec()

    deadline = time.monotonic() + 30
    while getattr(window, "book_panel", None) is None or window.book_panel.book is None:
        if time.monotonic() > deadline:
            raise SystemExit("timed out waiting for the book")
        pump(0.2)
    names = [window.tabs.tabText(i) for i in range(window.tabs.count())]
    window.tabs.setCurrentIndex(names.index("Book"))
    pump(0.5)
    # as a user would: drag the splitter so the Book tab gets about 60 % of the window's height
    sizes = window.splitter.sizes()
    total = sum(sizes)
    window.splitter.setSizes([int(total * 0.4), total - int(total * 0.4)])
    pump(wait)
    ok = app.primaryScreen().grabWindow(0).save(out)
    controller.shutdown()
    return 0 if ok else 1


def shoot(width: int, height: int, wait: float, out: Path) -> None:
    display = free_display()
    xvfb = subprocess.Popen(["Xvfb", f":{display}", "-screen", "0", f"{width}x{height}x24", "-nolisten",
                             "tcp"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while not Path(f"/tmp/.X11-unix/X{display}").exists():
            if time.monotonic() > deadline:
                raise SystemExit("Xvfb did not start")
            time.sleep(0.1)
        with tempfile.TemporaryDirectory(prefix="desk-shot-") as home:
            (Path(home) / "config").mkdir(parents=True)
            (Path(home) / "config" / "settings.toml").write_text(
                'schema_version = 2\n[ui]\ntheme = "dark"\n[alerts]\ndesktop = false\n', encoding="utf-8")
            env = {k: v for k, v in os.environ.items()
                   if k not in ("QT_QPA_PLATFORM", "DBUS_SESSION_BUS_ADDRESS")}
            env.update(DISPLAY=f":{display}", DESK_HOME=home, PYTHONPATH=str(ROOT), QT_QPA_PLATFORM="xcb",
                       PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring")
            subprocess.run(["dbus-run-session", "--", sys.executable, __file__, "--inside", str(out),
                            f"{width}x{height}", f"{wait:g}"], env=env, cwd=ROOT, check=True)
        print(f"wrote {out} ({width}x{height})")
    finally:
        xvfb.terminate()
        xvfb.wait(10)


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--inside":
        width, height = (int(x) for x in sys.argv[3].split("x"))
        return inside(sys.argv[2], width, height, float(sys.argv[4]))
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1280x800,1920x1080")
    parser.add_argument("--wait", type=float, default=4.0, help="seconds on the Book tab before the capture")
    args = parser.parse_args()
    for size in args.sizes.split(","):
        width, height = (int(x) for x in size.lower().split("x"))
        shoot(width, height, args.wait, OUT / f"book-{width}x{height}.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
