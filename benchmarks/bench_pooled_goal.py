"""Cost of the distance goal on an account-wide pool (issue 16). Prints figures; not a test.

    PYTHONPATH=. .venv/bin/python -m benchmarks.bench_pooled_goal

The demo's Bybit UTA account at the flash crash's bottom (its BTC long 7.8 % from liquidation, inside
the default 10 % warning): the engine's report without a distance goal (the baseline, same run),
then with ``target_distance=0.10`` — the monitor's recompute when the position is inside the warning,
which adds the least USDT, the least BTC and the least cut, each checked by the pool's solver.
The whole 8-account demo portfolio is timed the same way.
"""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.figures import Reference, load_line, spread, timed
from desk.domain.engine import compute_risk
from desk.domain.model import Portfolio
from desk.exchanges.demo import demo_portfolio

RUNS = 15


def main() -> int:
    demo = demo_portfolio("flash-crash", seed=7, at_seconds=2400.0)
    uta = Portfolio((demo.account("demo-bybit-uta"),))
    reference = Reference()
    reference.sample()
    compute_risk(demo, target=0.5, target_distance=0.10)  # imports and caches warm
    for label, portfolio in (("demo-bybit-uta alone", uta), ("whole demo (8 accounts)", demo)):
        (inside,) = [p for p in compute_risk(portfolio, target_distance=0.10).positions()
                     if p.account == "demo-bybit-uta"]
        assert inside.suggestions, "the UTA long should be inside the 10 % goal at 2400 s"
        base = timed(lambda p=portfolio: compute_risk(p, target=0.5), reference, RUNS)
        goal = timed(lambda p=portfolio: compute_risk(p, target=0.5, target_distance=0.10), reference, RUNS)
        print(f"{label}: {RUNS} runs each")
        for name, times in (("no distance goal (baseline)", base), ("target_distance 10 %", goal)):
            print(f"  {name:<28} {spread(times)} ms  ({reference.ratio(statistics.median(times))})")
        print(f"  goal ÷ baseline (medians)    {statistics.median(goal) / statistics.median(base):.2f}x")
    print(reference.describe())
    print(load_line())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
