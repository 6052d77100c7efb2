"""Speed of the risk engine (issue 3). Prints figures; not a test.

    .venv/bin/python benchmarks/bench_engine.py

1. full recompute of a 10,000-position portfolio over 100 accounts with tiered brackets
   (target ≤ 20 ms), end to end: each tick is a new `Portfolio` of new `Position` objects whose marks
   moved (as the monitor builds them), through `compute_arrays(portfolio)` to every figure; beside it
   the first tick (nothing compiled yet), a tick on which one account's positions changed, the
   arrays-only path on an already compiled portfolio, and the full report (`compute_risk`);
2. a 201-step stress grid over 1,000 positions (target ≤ 50 ms);
each beside the scalar path (the tests' oracle) and the speed-up.
"""

from __future__ import annotations

import dataclasses
import os
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from desk.domain.engine import (
    clear_compiled_cache,
    compile_portfolio,
    compute_arrays,
    compute_risk,
    with_marks,
)
from desk.domain.model import Account, Kind, MarginMode, Portfolio, Position, Side, Tier
from desk.domain.scalar import compute_risk_scalar
from desk.domain.scenario import stress_grid, stress_grid_scalar

VENUES = ("binanceusdm", "bybit", "okx", "gate", "hyperliquid", "binanceusdm", "krakenfutures")


def brackets(scale: float) -> tuple[Tier, ...]:
    floors = [0, 50_000, 250_000, 1_000_000, 10_000_000, 20_000_000, 50_000_000, 100_000_000]
    rates = [0.004, 0.005, 0.01, 0.025, 0.05, 0.1, 0.125, 0.15]
    caps = [*floors[1:], 200_000_000]
    return tuple(Tier(f * scale, c * scale, r, None, 125 / (i + 1))
                 for i, (f, c, r) in enumerate(zip(floors, caps, rates, strict=True)))


def make_account(i: int, n: int, rng: random.Random) -> Account:
    venue = VENUES[i % len(VENUES)]
    symbols = [f"C{k}/USDT:USDT" for k in range(n)]
    tables = [brackets(s) for s in (0.1, 1.0, 5.0)]  # a few bracket tables shared by symbols
    positions = []
    for k, symbol in enumerate(symbols):
        entry = rng.uniform(0.5, 70_000)
        mark = entry * rng.uniform(0.9, 1.1)
        contracts = rng.uniform(1_000, 400_000) / entry
        isolated = k % 5 == 0
        positions.append(Position(
            symbol=symbol, settle="USDT", kind=Kind.LINEAR, contracts=contracts,
            side=Side.LONG if rng.random() < 0.6 else Side.SHORT, entry_price=entry, mark_price=mark,
            margin_mode=MarginMode.ISOLATED if isolated else MarginMode.CROSS,
            isolated_margin=contracts * entry / rng.uniform(3, 20) if isolated else None,
            tiers=tables[k % 3], taker_fee=0.0005, leverage=10,
        ))
    return Account(f"acc-{i}", venue, {"USDT": rng.uniform(2e5, 2e6)}, tuple(positions))


def best_of(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times) * 1e3


def ticks(portfolio: Portfolio, count: int, rng: random.Random) -> list[Portfolio]:
    """``count`` successive ticks: every mark moved, new Position/Account/Portfolio objects each time."""
    out = []
    for _ in range(count):
        out.append(Portfolio(tuple(
            dataclasses.replace(a, positions=tuple(
                dataclasses.replace(p, mark_price=p.mark_price * rng.uniform(0.999, 1.001))
                for p in a.positions))
            for a in portfolio.accounts)))
    return out


def with_fill(portfolio: Portfolio, account: int) -> Portfolio:
    """``portfolio`` after a fill in one account: its first position is larger."""
    accounts = list(portfolio.accounts)
    acc = accounts[account]
    first = acc.positions[0]
    accounts[account] = dataclasses.replace(
        acc, positions=(dataclasses.replace(first, contracts=first.contracts * 1.1), *acc.positions[1:]))
    return dataclasses.replace(portfolio, accounts=tuple(accounts))


def best_of_each(fn: Callable[[Portfolio], object], inputs: list[Portfolio]) -> float:
    times = []
    for item in inputs:
        t = time.perf_counter()
        fn(item)
        times.append(time.perf_counter() - t)
    return min(times) * 1e3


def row(label: str, ms: float, note: str = "") -> None:
    print(f"  {label:<80}{ms:8.2f} ms  {note}".rstrip())


def main() -> None:
    rng = random.Random(7)
    big = Portfolio(tuple(make_account(i, 100, rng) for i in range(100)))
    n = sum(len(a.positions) for a in big.accounts)
    stream = ticks(big, 16, random.Random(3))
    filled = [with_fill(t, k % len(big.accounts)) for k, t in enumerate(stream)]
    compiled = compile_portfolio(big)
    moved = with_marks(compiled, compiled.mark * 1.001)

    def cold(portfolio: Portfolio) -> object:
        clear_compiled_cache()
        return compute_arrays(portfolio)

    cold_ms = best_of_each(cold, stream[:5])
    compute_arrays(big)  # compiled once, as after the monitor's first tick
    tick_ms = best_of_each(compute_arrays, stream)
    fill_ms = best_of_each(compute_arrays, filled)
    compile_ms = best_of_each(compile_portfolio, stream)
    hot_ms = best_of(lambda: compute_arrays(moved), 15)
    report_ms = best_of_each(compute_risk, stream[:8])
    # the scalar path is slow: time it on a tenth of the portfolio and scale
    tenth = Portfolio(big.accounts[:10])
    scalar_ms = best_of(lambda: compute_risk_scalar(tenth), 1) * 10
    print(f"full recompute, {n} positions / {len(big.accounts)} accounts, 8-tier brackets, 7 venues:")
    row("END TO END: new Portfolio objects -> every figure (compute_arrays(portfolio))", tick_ms,
        f"(target ≤ 20 ms)  ×{scalar_ms / tick_ms:,.0f} vs scalar")
    row("  of which reading the Portfolio objects (compile_portfolio)", compile_ms)
    row("  a tick on which one account's positions changed (a fill)", fill_ms)
    row("  the first tick (no account compiled yet)", cold_ms)
    row("new marks -> every figure on a compiled portfolio (with_marks)", hot_ms)
    row("full RiskReport with dataclasses (compute_risk(portfolio))", report_ms,
        f"(no target)    ×{scalar_ms / report_ms:,.0f} vs scalar")
    row("scalar path (the tests' oracle), measured on 1,000 positions ×10", scalar_ms)

    account = make_account(0, 1000, random.Random(11))
    shocks = np.linspace(-0.5, 0.5, 201)
    betas = {f"C{k}": 0.5 + (k % 7) * 0.25 for k in range(1000)}
    grid_ms = best_of(lambda: stress_grid(account, shocks, betas=betas), 15)
    scalar_grid_ms = best_of(lambda: stress_grid_scalar(account, shocks[:21], betas=betas), 1) * (201 / 21)
    print(f"stress grid, 201 shocks × {len(account.positions)} positions (1 account, betas per asset):")
    row("stress_grid", grid_ms, f"(target ≤ 50 ms)  ×{scalar_grid_ms / grid_ms:,.0f} vs scalar")
    row("scalar path (oracle), measured on 21 shocks and scaled", scalar_grid_ms)
    print(f"(load average while measuring: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores)")


if __name__ == "__main__":
    main()
