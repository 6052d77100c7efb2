"""CPU time of the whole book (`desk risk`'s book section, issue 18) on the 10,000-position file of
bench_cold (20 accounts × 500 tiered positions, every fifth isolated). Prints figures; not a test.

    python -m benchmarks.bench_book [--runs N] [--rounds N] [--baseline CHECKOUT]

Times `desk.commands.risk._book(portfolio, 0.2, report)` — exposure, hedges with their transfers,
both stress curves — in process CPU time (the file loaded and the engine's report computed before),
``--runs`` times per round: min/median/max, the load average before and after, and the reference job
of benchmarks/figures.py sampled after each run. Target: median ≤ 80 ms on a quiet machine.

With ``--baseline CHECKOUT`` (another checkout of desk, e.g. main's), each round times that
checkout's book and this one's back to back, each in a fresh interpreter on the same file, so a burst
of load hits both: the same-run ratio baseline ÷ this is the figure to compare across machines.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _times(path: Path, runs: int) -> list[float]:
    """``_book``'s process CPU time in ms, ``runs`` times, on the portfolio file at ``path``."""
    from desk.commands.risk import _book
    from desk.domain.engine import compute_risk
    from desk.formats import load_portfolio

    portfolio = load_portfolio(str(path))
    report = compute_risk(portfolio)
    _book(portfolio, 0.2, report)  # first use: imports and the engine's compiled plans
    out = []
    for _ in range(runs):
        start = time.process_time()
        _book(portfolio, 0.2, report)
        out.append((time.process_time() - start) * 1000)
    return out


def _in_checkout(checkout: Path, path: Path, runs: int) -> list[float]:
    """:func:`_times` run by ``checkout``'s desk in a fresh interpreter."""
    env = dict(os.environ, PYTHONPATH=str(checkout))
    # this file's _times, with whichever desk the checkout's PYTHONPATH gives
    code = ("import importlib.util, json, sys; from pathlib import Path; "
            "spec = importlib.util.spec_from_file_location('bench_book', sys.argv[1]); "
            "module = importlib.util.module_from_spec(spec); spec.loader.exec_module(module); "
            "print(json.dumps(module._times(Path(sys.argv[2]), int(sys.argv[3]))))")
    done = subprocess.run([sys.executable, "-c", code, __file__, str(path), str(runs)], env=env, cwd=checkout,
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"the book failed in {checkout}: {done.stderr[-2000:]}")
    times: list[float] = json.loads(done.stdout)
    return times


def _spread(values: list[float]) -> str:
    return f"min {min(values):6.1f} / median {statistics.median(values):6.1f} / max {max(values):6.1f} ms"


def main() -> None:
    sys.path.insert(0, str(ROOT))
    from benchmarks.bench_cold import ACCOUNTS, PER_ACCOUNT, portfolio_doc
    from benchmarks.figures import Reference, load_line

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="timed runs per round and checkout")
    parser.add_argument("--rounds", type=int, default=3, help="rounds (each: baseline, then this)")
    parser.add_argument("--baseline", type=Path, help="another desk checkout to time back to back")
    args = parser.parse_args()
    reference = Reference()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "big.json"
        path.write_text(json.dumps(portfolio_doc(ACCOUNTS, PER_ACCOUNT)))
        before = load_line()
        mine: list[float] = []
        theirs: list[float] = []
        for _ in range(args.rounds):
            if args.baseline is not None:
                theirs += _in_checkout(args.baseline.resolve(), path, args.runs)
                reference.sample(1)
            mine += _in_checkout(ROOT, path, args.runs)
            reference.sample(1)
        after = load_line()
    print(f"the book (`_book`, move 20 %, demo betas) on {ACCOUNTS * PER_ACCOUNT:,} positions, "
          f"process CPU time, {args.rounds} rounds × {args.runs} runs:")
    print(f"  this checkout ({ROOT}): {_spread(mine)}   (target: median ≤ 80 ms, quiet machine)")
    print(f"  median ÷ reference job: {reference.ratio(statistics.median(mine))}")
    if theirs:
        print(f"  baseline ({args.baseline}): {_spread(theirs)}")
        ratio = statistics.median(theirs) / statistics.median(mine)
        print(f"  same-run ratio baseline ÷ this (medians): ×{ratio:.2f}")
    print(f"  {reference.describe()}")
    print(f"  {before} before, {after} after")


if __name__ == "__main__":
    main()
