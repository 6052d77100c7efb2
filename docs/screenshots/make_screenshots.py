"""Screenshots of the dashboard on the demo venue, mid flash-crash, on a real X server (Xvfb).

    .venv/bin/python docs/screenshots/make_screenshots.py            # 1280x800, 1366x768, 1920x1080,
    .venv/bin/python docs/screenshots/make_screenshots.py --theme light   # after the SOL long's liquidation
    .venv/bin/python docs/screenshots/make_screenshots.py --sizes 1280x800 --theme light \
        --scenario feed-loss --speed 4 --wait 45                  # a feed lost long enough to be stale
    .venv/bin/python docs/screenshots/make_screenshots.py --wait 24 --suffix=-past-liquidation
                                                              # the SOL long marked past liquidation
    .venv/bin/python docs/screenshots/make_screenshots.py --sizes 1280x800 --row 1 --suffix=-protection \
        --filter "account:demo-bybit-isolated symbol:BTC"
                                                              # the ladder of a position with its stop

Each run starts its own Xvfb (and a trayer tray host, so the tray icon shows), a private D-Bus,
and ``desk --demo --scenario flash-crash`` in a temporary DESK_HOME, waits for the table to
fill and the crash to develop, then captures the screen with ImageMagick's ``import`` (or, without
ImageMagick, with Qt's own grab of the X root window).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
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


def wait_for(predicate, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise SystemExit(f"timed out after {timeout:.0f} s waiting for {what}")


def shoot(width: int, height: int, *, theme: str, speed: float, wait: float, seed: int, out: Path,
          scenario: str = "flash-crash", row: int = 2, filter_text: str = "") -> None:
    for tool in ("Xvfb", "xdotool", "trayer", "dbus-run-session"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is not installed (apt-get install xvfb xdotool trayer dbus)")
    display = free_display()
    xvfb = subprocess.Popen(
        ["Xvfb", f":{display}", "-screen", "0", f"{width}x{height}x24", "-nolisten", "tcp"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    procs: list[subprocess.Popen[bytes]] = [xvfb]
    with tempfile.TemporaryDirectory(prefix="desk-shot-") as home:
        env = {k: v for k, v in os.environ.items()
               if k not in ("QT_QPA_PLATFORM", "DBUS_SESSION_BUS_ADDRESS")}
        env.update(DISPLAY=f":{display}", DESK_HOME=home, DESK_TEST_REPORT=f"{home}/report.json",
                   PYTHONPATH=str(ROOT),
                   PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring")
        try:
            wait_for(lambda: Path(f"/tmp/.X11-unix/X{display}").exists(), 10, "Xvfb")
            procs.append(subprocess.Popen(["trayer", "--edge", "bottom", "--align", "right", "--height", "24",
                                           "--widthtype", "pixel", "--width", "60"], env=env,
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            time.sleep(0.5)
            (Path(home) / "config").mkdir(parents=True, exist_ok=True)
            (Path(home) / "config" / "settings.toml").write_text(
                # Desktop popups off for the picture: they would cover the window (alerts still count).
                f'schema_version = 2\n[ui]\ntheme = "{theme}"\n[alerts]\ndesktop = false\n', encoding="utf-8")
            env["PYTHONPATH"] = str(ROOT)  # this checkout's desk, whichever virtualenv runs the script
            desk = subprocess.Popen(
                ["dbus-run-session", "--", sys.executable, "-m", "desk", "--demo", "--scenario",
                 scenario, "--speed", f"{speed:g}", "--seed", str(seed)], env=env, cwd=ROOT,
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            procs.append(desk)
            wait_for(lambda: Path(f"{home}/report.json").exists(), 30, "the table to fill")
            report = json.loads(Path(f"{home}/report.json").read_text())
            if "[DEMO]" not in report["title"]:
                raise SystemExit(f"unexpected window title {report['title']!r}")
            # No window manager under Xvfb: place and size the window ourselves (the height leaves
            # room for the tray host's strip at the bottom).
            subprocess.run(["xdotool", "search", "--onlyvisible", "--name", "risk dashboard",
                            "windowmove", "0", "0", "windowsize", str(width), str(height - 26)],
                           env=env, check=True, stdout=subprocess.DEVNULL)
            time.sleep(1.0)
            # Select the second row (the top one is the LIQUIDATED SOL long, which has no ladder any
            # more) so the ladder shows a live position: the rows start below the strip, the account
            # cards, the filter and the header, at the same height on every size.
            if filter_text:  # narrow the table first, so the row to select stays where it is
                subprocess.run(["xdotool", "mousemove", "500", "211", "click", "1", "type", "--delay", "20",
                                filter_text], env=env, check=True)
                time.sleep(0.5)
            row_y = 284 + 24 * (row - 1)
            subprocess.run(["xdotool", "mousemove", "300", str(row_y), "click", "1"], env=env, check=True)
            time.sleep(max(0.0, wait - 1.0))
            capture(out, env)
            print(f"wrote {out} ({width}x{height}, {theme}, {wait:g} s after the first numbers at "
                  f"speed {speed:g})")
        finally:
            for proc in reversed(procs):
                proc.terminate()
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()


def capture(out: Path, env: dict[str, str]) -> None:
    """The whole X screen as PNG: ImageMagick's ``import`` when installed, else Qt's grab of the root."""
    if shutil.which("import") is not None:
        subprocess.run(["import", "-window", "root", str(out)], env=env, check=True)
        return
    grab = ("import sys\nfrom PySide6.QtGui import QGuiApplication\napp = QGuiApplication(sys.argv[:1])\n"
            "sys.exit(0 if app.primaryScreen().grabWindow(0).save(sys.argv[1]) else 1)")
    subprocess.run([sys.executable, "-c", grab, str(out)], env={**env, "QT_QPA_PLATFORM": "xcb"}, check=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1280x800,1366x768,1920x1080")
    parser.add_argument("--theme", default="dark", choices=("dark", "light"))
    parser.add_argument("--speed", type=float, default=120.0, help="demo time acceleration")
    parser.add_argument("--wait", type=float, default=28.0,
                        help="seconds after the first numbers (BTC slides from demo minute 10 and "
                        "falls hardest in minutes 30-40; at speed 120 the SOL long is liquidated by "
                        "then and shows as a LIQUIDATED row)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--scenario", default="flash-crash", help="demo scenario (e.g. feed-loss)")
    parser.add_argument("--suffix", default="", help="appended to the file names (e.g. -past-liquidation)")
    parser.add_argument("--row", type=int, default=2, help="the table row to select for the ladder (1 = top)")
    parser.add_argument("--filter", default="", help="typed into the table's filter before selecting")
    args = parser.parse_args()
    for size in args.sizes.split(","):
        width, height = (int(x) for x in size.lower().split("x"))
        suffix = ("" if args.theme == "dark" else f"-{args.theme}") + args.suffix
        shoot(width, height, theme=args.theme, speed=args.speed, wait=args.wait, seed=args.seed,
              scenario=args.scenario, row=args.row, filter_text=args.filter,
              out=OUT / f"dashboard-{args.scenario}-{width}x{height}{suffix}.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
