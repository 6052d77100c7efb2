"""Cost of a cross pool's funding drift (issue 17), what the ladder reruns at most every 2 s while a
cross position is selected and ``desk risk`` runs once per pool. Prints figures; not a test.

    PYTHONPATH=. .venv/bin/python -m benchmarks.bench_pool_funding

Two pools: the demo's Binance USD-M hedge-mode pool (4 positions) and a 500-position cross pool with
tiered brackets (benchmarks.bench_whatif), each position paying every 1 h, 4 h or 8 h from a different
next time. Baseline, same run: the position drift the ladder already computed on the same throttle
(``position_funding_drift``: four engine runs of the account), and the engine's report of the pool.
"""

from __future__ import annotations

import dataclasses
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.bench_whatif import big_portfolio
from benchmarks.figures import Reference, load_line, spread, timed
from desk.domain.engine import compute_risk
from desk.domain.funding import pool_funding_drift, position_funding_drift
from desk.domain.model import Account, Portfolio
from desk.exchanges.demo import demo_portfolio

RUNS = 15
ORIGIN = 1_800_000_000.0


def with_schedules(account: Account) -> Account:
    """Every position paying 0.03 % every 1, 4 or 8 h (every third receiving 0.01 %), next times
    spread over 8 h: the pool pays on balance, so the time to liquidation is solved."""
    positions = tuple(
        dataclasses.replace(p, funding_rate=p.side.sign * (0.0003 if i % 3 else -0.0001),
                            funding_interval_hours=(1.0, 4.0, 8.0)[i % 3],
                            next_funding_time=ORIGIN + 600.0 * (1 + i % 48))
        for i, p in enumerate(account.positions))
    return dataclasses.replace(account, positions=positions, data_time=ORIGIN)


def main() -> int:
    demo = demo_portfolio("flash-crash", seed=7, at_seconds=2100.0).account("demo-binance-usdm")
    reference = Reference()
    reference.sample()
    for label, account in (("demo-binance-usdm (4 positions)", with_schedules(demo)),
                           ("one cross pool of 500 positions", with_schedules(big_portfolio().accounts[0]))):
        portfolio = Portfolio((account,))
        settle = account.positions[0].settle
        risk = compute_risk(portfolio).accounts[0].positions[0]
        drift = pool_funding_drift(account, settle, ORIGIN)
        assert drift is not None and len(drift.payers) == len(account.positions)
        engine = timed(lambda p=portfolio: compute_risk(p), reference, RUNS)
        position = timed(lambda a=account, r=risk: position_funding_drift(a, r), reference, RUNS)
        pool = timed(lambda a=account, s=settle: pool_funding_drift(a, s, ORIGIN), reference, RUNS)
        hours = drift.hours_to_liquidation
        print(f"{label}: {RUNS} runs each; funding alone liquidates the pool after "
              f"{'never' if hours is None else f'{hours:,.1f} h'}")
        for name, times in (("engine report (baseline)", engine), ("position drift (baseline)", position),
                            ("pool drift", pool)):
            print(f"  {name:<26} {spread(times)} ms  ({reference.ratio(statistics.median(times))})")
        ratio = statistics.median(pool) / statistics.median(position)
        print(f"  pool ÷ position drift (medians)  {ratio:.2f}x")
    print(reference.describe())
    print(load_line())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
