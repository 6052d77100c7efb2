"""Speed of reading the portfolio file (`desk.formats.load_portfolio`), issue 18. Prints figures; not a test.

    python -m benchmarks.bench_load [--runs N] [--rounds N] [--baseline CHECKOUT]

The 10,000-position file of benchmarks/bench_cold.py (20 accounts × 500 positions, a distinct
8-tier table per symbol, indented) is read in this process, CPU time (time.process_time) per read:
min/median/max, and the load average before and after. With ``--baseline`` (another checkout of
desk, e.g. the main branch), the same file is read by that checkout's code too, in rounds that
alternate the two (each round a fresh process per checkout, ``--runs`` timed reads after one
untimed), so a burst of load hits both: the ratio of the medians is the same-run comparison.
"""

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
load_portfolio(data)  # imports and first-use costs are not the read's
times = []
for _ in range(runs):
    start = time.process_time()
    load_portfolio(data)
    times.append(time.process_time() - start)
print(json.dumps([desk.__file__, times]))
"""


def _times(checkout: Path, path: Path, runs: int) -> list[float]:
    """``runs`` CPU times of reading ``path`` with the desk of ``checkout``, in a fresh process."""
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    out = subprocess.run([sys.executable, "-c", _TIMER, str(path), str(runs)], env=env, cwd=checkout,
                         capture_output=True, text=True, check=True)
    origin, times = json.loads(out.stdout)
    if not Path(origin).resolve().is_relative_to(checkout.resolve()):
        raise SystemExit(f"desk came from {origin}, not from {checkout}")
    return [float(t) for t in times]


def _line(label: str, times: list[float]) -> str:
    return (f"{label:<12} min {min(times) * 1e3:7.1f} ms   "
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
        if args.baseline is None:
            print(_line("this", _times(ROOT, path, args.runs)))
        else:
            mine: list[float] = []
            theirs: list[float] = []
            for _ in range(args.rounds):
                theirs += _times(args.baseline, path, args.runs)
                mine += _times(ROOT, path, args.runs)
            print(_line("baseline", theirs))
            print(_line("this", mine))
            ratio = statistics.median(mine) / statistics.median(theirs)
            print(f"ratio of medians (this / baseline): {ratio:.3f}")
        print(f"load average after:  {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
