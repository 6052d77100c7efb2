"""Speed of reading the portfolio file (`desk.formats.load_portfolio`), issue 18. Prints figures; not a test.

    python -m benchmarks.bench_load [--runs N] [--rounds N] [--baseline CHECKOUT]

The 10,000-position file of benchmarks/bench_cold.py (20 accounts × 500 positions, a distinct
8-tier table per symbol, indented) is read in a fresh process per round, CPU time
(time.process_time) per read: the first read (as `desk risk` makes it, caches cold) and ``--runs``
reads after it, each min/median/max, and the load average before and after. With ``--baseline``
(another checkout of desk, e.g. the main branch) the same file is read by that checkout's code
too, the two in turn in every round so a burst of load hits both: the ratio of the medians is the
same-run comparison."""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


# run as its own process, in the checkout timed (its desk first on the path); prints where desk came
# from and the CPU times of the reads
_TIMER = """
import json, sys, time
import desk
from desk.formats import load_portfolio
data = open(sys.argv[1], "rb").read()
runs = int(sys.argv[2])
start = time.process_time()
load_portfolio(data)  # the first read, as `desk risk` makes it: its caches cold
first = time.process_time() - start
times = []
for _ in range(runs):
    start = time.process_time()
    load_portfolio(data)
    times.append(time.process_time() - start)
print(json.dumps([desk.__file__, first, times]))
"""


def _times(checkout: Path, path: Path, runs: int) -> tuple[float, list[float]]:
    """The CPU time of the first read of ``path`` with the desk of ``checkout``, in a fresh process, and
    of ``runs`` reads after it."""
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    out = subprocess.run([sys.executable, "-c", _TIMER, str(path), str(runs)], env=env, cwd=checkout,
                         capture_output=True, text=True, check=True)
    origin, first, times = json.loads(out.stdout)
    if not Path(origin).resolve().is_relative_to(checkout.resolve()):
        raise SystemExit(f"desk came from {origin}, not from {checkout}")
    return float(first), [float(t) for t in times]


def _line(label: str, times: list[float]) -> str:
    return (f"{label:<16} min {min(times) * 1e3:7.1f} ms   "
            f"median {statistics.median(times) * 1e3:7.1f} ms   "
            f"max {max(times) * 1e3:7.1f} ms   ({len(times)} reads)")


def main() -> None:
    from benchmarks.bench_cold import ACCOUNTS, PER_ACCOUNT, portfolio_doc

    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5, help="timed reads per process (default 5)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds with --baseline (default 3)")
    parser.add_argument("--baseline", type=Path, help="another checkout of desk to read the same file with")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "big.json"
        path.write_text(json.dumps(portfolio_doc(ACCOUNTS, PER_ACCOUNT), indent=2))
        print(f"load_portfolio on {ACCOUNTS * PER_ACCOUNT:,} positions ({path.stat().st_size / 1e6:.1f} MB), "
              "in-process CPU per read")
        print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        checkouts = {"this": ROOT} if args.baseline is None else {"baseline": args.baseline, "this": ROOT}
        firsts: dict[str, list[float]] = {label: [] for label in checkouts}
        later: dict[str, list[float]] = {label: [] for label in checkouts}
        for _ in range(args.rounds):  # the checkouts in turn, so a burst of load hits both
            for label, checkout in checkouts.items():
                first, times = _times(checkout, path, args.runs)
                firsts[label].append(first)
                later[label] += times
        for label in checkouts:
            print(_line(f"{label}, first", firsts[label]))
            print(_line(f"{label}, later", later[label]))
        if args.baseline is not None:
            for which, times in (("first", firsts), ("later", later)):
                ratio = statistics.median(times["this"]) / statistics.median(times["baseline"])
                print(f"ratio of medians, {which} reads (this / baseline): {ratio:.3f}")
        print(f"load average after:  {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
