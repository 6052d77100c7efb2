"""Start-up time of the `desk` command and of the dashboard (issue 18). Prints figures; not a test.

    python -m benchmarks.bench_startup                 # 15 runs of each command, 5 dashboards
    python -m benchmarks.bench_startup --runs 30 --gui-runs 0
    git archive main | tar -x -C /tmp/desk-main         # a before/after in one run:
    python -m benchmarks.bench_startup --against /tmp/desk-main

1. Commands, each a fresh process, the runs interleaved so that every command meets the same
   machine: `desk risk --json` on a 10-position file (the first ten positions of
   docs/examples/multi-venue.json; target ≤ 0.35 s), `desk --version` and `desk --help`, beside two
   baselines run in the same loop — `python -c pass` (the interpreter alone) and
   `python -c "import numpy"` (the least `desk risk` must load, since the engine is numpy).
2. The dashboard, `desk --demo` on its own Xvfb, over ``--gui-runs`` fresh processes: launch → first
   window shown (target ≤ 0.8 s) and → first demo numbers in the table (target ≤ 1.5 s median),
   read from the report desk writes when DESK_TEST_REPORT names a file (desk.ui.app; nothing is
   recorded without it), with the steps in between (Qt ready, window built, services composed,
   charts attached). Its baseline, in the same run: a bare Qt window in a fresh process.

``--against DIR`` measures the desk of another source tree (e.g. main before a change) in the same
loop, each of its runs beside one of this tree's, so the two meet the same machine.

Every process gets its own temporary DESK_HOME, so nothing here touches the user's settings or logs.
Bytecode caches are allowed (PYTHONDONTWRITEBYTECODE is dropped for the children), as in an install.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "docs" / "examples" / "multi-venue.json"
POSITIONS = 10

# A bare Qt window: what any PySide6 dashboard pays before its own code runs.
BARE_QT_WINDOW = """
import sys, time
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QMainWindow
app = QApplication(sys.argv[:1])
window = QMainWindow()
window.resize(800, 600)
window.show()
def shown():
    print(time.time(), flush=True)
    app.quit()
QTimer.singleShot(0, shown)
app.exec()
"""


def ten_position_file(folder: Path) -> Path:
    """The first ten positions of the multi-venue example, with their accounts' wallets."""
    data = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    left = POSITIONS
    accounts = []
    for account in data["accounts"]:
        if left == 0:
            break
        kept = account["positions"][:left]
        left -= len(kept)
        accounts.append({**account, "positions": kept})
    if left:
        raise SystemExit(f"{EXAMPLE} holds fewer than {POSITIONS} positions")
    path = folder / "ten-positions.json"
    path.write_text(json.dumps({**data, "accounts": accounts}, indent=1), encoding="utf-8")
    return path


def child_env(home: Path, root: Path = ROOT) -> dict[str, str]:
    # Bytecode is written (the first, untimed run of each command writes it), as an installed desk
    # has it: with PYTHONDONTWRITEBYTECODE set, every run would compile desk's sources anew.
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("DESK_") and k != "PYTHONDONTWRITEBYTECODE"}
    env.update(PYTHONPATH=str(root), DESK_HOME=str(home),
               PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring")
    return env


def summary(times: list[float]) -> str:
    return (f"min {min(times) * 1000:6.0f} ms  median {statistics.median(times) * 1000:6.0f} ms  "
            f"max {max(times) * 1000:6.0f} ms")


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (1 min), {five:.2f} (5 min) on {os.cpu_count()} cores"


def commands(runs: int, home: Path, against: Path | None) -> None:
    risk_file = ten_position_file(home)
    py = sys.executable
    risk = f"desk risk --json ({POSITIONS} positions)"
    desk_cases = {
        "desk --version": [py, "-m", "desk", "--version"],
        "desk --help": [py, "-m", "desk", "--help"],
        risk: [py, "-m", "desk", "risk", "--json", str(risk_file)],
    }
    env = child_env(home)
    cases = {name: (argv, env) for name, argv in
             {"python -c pass": [py, "-c", "pass"], "python -c 'import numpy'": [py, "-c", "import numpy"],
              **desk_cases}.items()}
    if against is not None:
        cases.update({f"{name} [{against.name}]": (argv, child_env(home, against))
                      for name, argv in desk_cases.items()})
    for argv, case_env in cases.values():  # once each first: .pyc files written, the disk cache warm
        subprocess.run(argv, env=case_env, check=True, stdout=subprocess.DEVNULL, cwd=home)
    print(f"commands: {runs} fresh processes each, interleaved; {load()}")
    times: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(runs):
        for name, (argv, case_env) in cases.items():
            began = time.perf_counter()
            subprocess.run(argv, env=case_env, check=True, stdout=subprocess.DEVNULL, cwd=home)
            times[name].append(time.perf_counter() - began)
    width = max(map(len, cases))
    for name, measured in times.items():
        print(f"  {name:<{width}}  {summary(measured)}")
    bare = statistics.median(times["python -c pass"])
    numpy = statistics.median(times["python -c 'import numpy'"])
    for suffix in ("", *([f" [{against.name}]"] if against is not None else [])):
        median = statistics.median(times[risk + suffix])
        print(f"  desk risk{suffix} median: {median / bare:.1f}× the bare interpreter, {median / numpy:.2f}× "
              f"importing numpy alone; {(median - numpy) * 1000:.0f} ms of its own beyond numpy "
              "(target <= 350 ms wall)")
        for name in ("desk --version", "desk --help"):
            print(f"  {name}{suffix} median: {statistics.median(times[name + suffix]) / bare:.1f}× the bare "
                  "interpreter")
    print(f"  after: {load()}")


def start_xvfb() -> tuple[subprocess.Popen[bytes], str]:
    if shutil.which("Xvfb") is None:
        raise SystemExit("Xvfb is not installed (apt-get install xvfb)")
    for n in range(140, 200):
        if not Path(f"/tmp/.X11-unix/X{n}").exists() and not Path(f"/tmp/.X{n}-lock").exists():
            proc = subprocess.Popen(["Xvfb", f":{n}", "-screen", "0", "1920x1080x24", "-nolisten", "tcp"],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            deadline = time.monotonic() + 10
            while not Path(f"/tmp/.X11-unix/X{n}").exists():
                if time.monotonic() > deadline:
                    proc.kill()
                    raise SystemExit("Xvfb did not start")
                time.sleep(0.05)
            return proc, f":{n}"
    raise SystemExit("no free X display number")


def one_dashboard(display: str, root: Path = ROOT) -> dict[str, float]:
    """Launch `desk --demo`, wait for its first numbers, stop it: each step's seconds after launch."""
    with tempfile.TemporaryDirectory(prefix="desk-bench-") as folder:
        home = Path(folder)
        report = home / "report.json"
        (home / "config").mkdir()
        (home / "config" / "settings.toml").write_text("schema_version = 2\n[alerts]\ndesktop = false\n")
        env = child_env(home, root)
        env.pop("QT_QPA_PLATFORM", None)
        env.update(DISPLAY=display, DESK_TEST_REPORT=str(report))
        launched = time.time()
        proc = subprocess.Popen([sys.executable, "-m", "desk", "--demo"], env=env, cwd=home,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 30
            while not report.exists():
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("desk did not fill its table: "
                                     + (proc.stderr.read().decode()[-2000:] if proc.poll() is not None else
                                        "no report within 30 s"))
                time.sleep(0.005)
            timings = json.loads(report.read_text())["timings"]
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        return {step: at - launched for step, at in timings.items() if step != "process_start"}


def bare_window(display: str, home: Path) -> float:
    env = child_env(home)
    env.pop("QT_QPA_PLATFORM", None)
    env["DISPLAY"] = display
    launched = time.time()
    out = subprocess.run([sys.executable, "-c", BARE_QT_WINDOW], env=env, check=True, cwd=home,
                         capture_output=True, text=True).stdout
    return float(out.split()[-1]) - launched


STEPS = ("qt_ready", "window_built", "window_shown", "services_composed", "first_numbers",
         "charts_attached")
TARGETS = {"window_shown": "  (target <= 800 ms)", "first_numbers": "  (target <= 1500 ms median)"}


def dashboard(runs: int, home: Path, against: Path | None) -> None:
    xvfb, display = start_xvfb()
    try:
        bare_window(display, home)  # warm the disk cache and Qt's font cache
        trees = {"desk": ROOT, **({f"desk [{against.name}]": against} if against is not None else {})}
        for root in trees.values():
            one_dashboard(display, root)
        print(f"dashboard: `desk --demo` on Xvfb {display}, {runs} fresh processes, each beside a bare "
              f"Qt window; {load()}")
        bare: list[float] = []
        steps: dict[str, dict[str, list[float]]] = {name: {} for name in trees}
        for _ in range(runs):
            bare.append(bare_window(display, home))
            for name, root in trees.items():
                for step, seconds in one_dashboard(display, root).items():
                    steps[name].setdefault(step, []).append(seconds)
        print(f"  bare Qt window shown       {summary(bare)}")
        for name, measured in steps.items():
            print(f"  {name}, seconds after launch (steps this tree does not record are left out):")
            for step in (s for s in STEPS if s in measured):
                print(f"    {step:<22} {summary(measured[step])}{TARGETS.get(step, '')}")
            window, numbers = (statistics.median(measured[k]) for k in ("window_shown", "first_numbers"))
            print(f"    window median {window / statistics.median(bare):.1f}× the bare Qt window; first "
                  f"numbers {numbers / statistics.median(bare):.1f}×")
        print(f"  after: {load()}")
    finally:
        xvfb.terminate()
        xvfb.wait(10)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=15, help="fresh processes per command (0: skip)")
    parser.add_argument("--gui-runs", type=int, default=5, help="dashboard cold starts (0: skip)")
    parser.add_argument("--against", type=Path, metavar="DIR",
                        help="another desk source tree measured in the same loop (e.g. main's)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="desk-bench-") as folder:
        home = Path(folder)
        if args.runs > 0:
            commands(args.runs, home, args.against)
        if args.gui_runs > 0:
            dashboard(args.gui_runs, home, args.against)
    return 0


if __name__ == "__main__":
    sys.exit(main())
