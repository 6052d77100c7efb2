"""Speed of `desk risk` from the first byte, and of the engine on isolated and cross books (issue 18).
Prints figures; not a test.

    python -m benchmarks.bench_cold [--runs N] [--engine-runs N] [--scalar-runs N] [--skip-cli]
                                    [--skip-engine]

1. `python -m desk risk --json FILE` as a subprocess, N times each, on a 10,000-position file
   (20 accounts × 500 positions, a distinct 8-tier table per symbol, every fifth position isolated)
   and on a 10-position file: min/median/max of each, the marginal cost of the 10,000 positions
   (big − small, median; target ≤ 0.25 s) and, as the same-run baseline, the small file's time;
   the output goes to /dev/null, so the report is compact (not a terminal); the big file is also
   run with ``--pretty`` (indented, as a terminal gets it). desk's bytecode is compiled first, as
   an install compiles it (with PYTHONDONTWRITEBYTECODE set, every run would compile changed
   modules again);
2. the engine on an all-isolated and an all-cross book of 10,000 positions (20 accounts × 500),
   and on an all-isolated coin-margined one (inverse, half short), nothing compiled before each run,
   against the scalar oracle on the same book, the books side by side: the figures
   (`compute_arrays` against `account_figures` + `shock_to_liquidation` per account; target ≥ 30×)
   and the full report (`compute_risk` against `compute_risk_scalar`, which share the report's
   dressing in desk/domain/assemble.py): min/median/max and the ratio, engine and scalar runs
   interleaved so a burst of load hits both, the load average before and after each book, and the
   reference job of benchmarks/figures.py timed in the same run.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.figures import Reference  # noqa: E402

ACCOUNTS = 20
PER_ACCOUNT = 500
VENUES = ("binanceusdm", "bybit", "okx", "gate", "hyperliquid")


def tier_table(k: int) -> list[dict[str, float]]:
    """Symbol ``k``'s own bracket table: floors and rates differ per symbol, maintenance amounts
    by the recurrence of risk-math.md §0 (as `desk snapshot` writes them)."""
    scale = 1.0 + k * 0.013
    floors = [0.0] + [f * scale for f in (50_000, 250_000, 1_000_000, 5_000_000, 20_000_000, 50_000_000,
                                           100_000_000)]
    rates = [0.004 + k * 1e-6, 0.005, 0.01, 0.025, 0.05, 0.1, 0.125, 0.15]
    caps = [*floors[1:], None]
    tiers, cum = [], 0.0
    for i, (floor, cap, rate) in enumerate(zip(floors, caps, rates, strict=True)):
        if i:
            cum += floor * (rate - rates[i - 1])
        tier: dict[str, float] = {"notional_floor": floor, "mmr": rate, "maintenance_amount": cum,
                                  "max_leverage": 1 / (2 * rate)}  # Hyperliquid: MMR = 1/(2·max lev.)
        if cap is not None:
            tier["notional_cap"] = cap
        tiers.append(tier)
    return tiers


def position_doc(k: int, rng: random.Random, isolated: bool, tables: list[list[dict[str, float]]]
                 ) -> dict[str, Any]:
    entry = rng.uniform(0.5, 70_000)
    contracts = rng.uniform(1_000, 400_000) / entry
    doc: dict[str, Any] = {
        "symbol": f"C{k}/USDT:USDT", "kind": "linear", "contracts": contracts,
        "side": "long" if rng.random() < 0.6 else "short", "entry_price": entry,
        "mark_price": entry * rng.uniform(0.9, 1.1),
        "margin_mode": "isolated" if isolated else "cross", "leverage": 10, "taker_fee": 0.0005,
        "tick_size": 0.0001, "tiers": tables[k],
    }
    if isolated:
        doc["isolated_margin"] = contracts * entry / rng.uniform(3, 20)
    return doc


def coin_margined_doc(accounts: int, per_account: int, seed: int = 7) -> dict[str, Any]:
    """All isolated inverse positions (each coin its own settle currency), half of them short: a
    short inverse leg's slack is not concave in the shock, so the engine walks its tier segments
    (the scalar oracle's way) rather than Newton's method."""
    rng = random.Random(seed)
    tables = [[{key: (value / 50_000 if key in ("notional_floor", "notional_cap", "maintenance_amount")
                      else value) for key, value in tier.items()} for tier in tier_table(k)]
              for k in range(per_account)]  # notionals in coin
    docs: list[dict[str, Any]] = []
    for a in range(accounts):
        positions: list[dict[str, Any]] = []
        for k in range(per_account):
            entry = rng.uniform(1_000, 70_000)
            contracts = float(rng.randint(10, 5_000))
            positions.append({
                "symbol": f"C{k}/USD:C{k}", "kind": "inverse", "contracts": contracts, "contract_size": 100.0,
                "side": "short" if rng.random() < 0.5 else "long", "entry_price": entry,
                "mark_price": entry * rng.uniform(0.9, 1.1), "margin_mode": "isolated", "leverage": 10,
                "isolated_margin": contracts * 100 / entry / rng.uniform(3, 20), "taker_fee": 0.0005,
                "tick_size": 0.1, "tiers": tables[k],
            })
        docs.append({"name": f"coin-{a}", "venue": ("binancecoinm", "bybit", "okx")[a % 3], "wallets": {},
                     "positions": positions})
    return {"format": "desk.portfolio/1", "as_of": "2026-11-21T10:00:00Z", "accounts": docs}


def portfolio_doc(accounts: int, per_account: int, seed: int = 7, isolated_every: int = 5) -> dict[str, Any]:
    """A desk.portfolio/1 document; ``isolated_every`` = 1: all isolated, 0: all cross."""
    rng = random.Random(seed)
    tables = [tier_table(k) for k in range(per_account)]
    docs = []
    for a in range(accounts):
        positions = [position_doc(k, rng, isolated_every > 0 and k % isolated_every == 0, tables)
                     for k in range(per_account)]
        docs.append({"name": f"acc-{a}", "venue": VENUES[a % len(VENUES)],
                     "wallets": {"USDT": rng.uniform(2e6, 2e7)}, "positions": positions})
    return {"format": "desk.portfolio/1", "as_of": "2026-11-21T10:00:00Z", "accounts": docs}


def spread(times: list[float]) -> str:
    return (f"min {min(times):7.3f} s   median {statistics.median(times):7.3f} s   "
            f"max {max(times):7.3f} s")


def run_cli(path: Path, runs: int, *extra: str) -> list[float]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "desk", "risk", "--json", *extra, str(path)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=ROOT, check=False)
        times.append(time.perf_counter() - t)
        if done.returncode != 0:
            raise SystemExit(f"desk risk failed on {path}: {done.stderr.decode()[-2000:]}")
    return times


def cli_section(runs: int) -> None:
    compileall.compile_dir(str(ROOT / "desk"), quiet=1)
    with tempfile.TemporaryDirectory() as tmp:
        big = Path(tmp) / "big.json"
        small = Path(tmp) / "small.json"
        big.write_text(json.dumps(portfolio_doc(ACCOUNTS, PER_ACCOUNT), indent=2))
        small.write_text(json.dumps(portfolio_doc(1, 10), indent=2))
        run_cli(small, 1)  # warm the file cache and the bytecode
        small_t, big_t, pretty_t = [], [], []
        for _ in range(runs):  # interleaved, so a burst of load hits both
            small_t += run_cli(small, 1)
            big_t += run_cli(big, 1)
            pretty_t += run_cli(big, 1, "--pretty")
    marginal = statistics.median(big_t) - statistics.median(small_t)
    print(f"`python -m desk risk --json FILE` (compact: its output is not a terminal), {runs} runs each "
          "(interleaved):")
    print(f"  {ACCOUNTS * PER_ACCOUNT:,} positions: {spread(big_t)}")
    print(f"  10 positions (baseline): {spread(small_t)}")
    print(f"  marginal cost of {ACCOUNTS * PER_ACCOUNT:,} positions (median big − median small): "
          f"{marginal:.3f} s   (target ≤ 0.25 s)")
    print(f"  the same indented (--pretty), {ACCOUNTS * PER_ACCOUNT:,} positions: {spread(pretty_t)}; "
          f"marginal {statistics.median(pretty_t) - statistics.median(small_t):.3f} s")
    ratio = statistics.median(big_t) / statistics.median(small_t)
    print(f"  same-run baseline ratio: big ÷ small ×{ratio:.2f}")
    print(f"  (load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} cores)")


def timed(fn: Callable[[], object], runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def scalar_figures(portfolio: Any) -> object:
    """The scalar oracle's figures for every account (what compute_arrays gives, without the report)."""
    from desk.domain.scalar import account_figures, shock_to_liquidation

    return [(account_figures(a), shock_to_liquidation(a)) for a in portfolio.accounts]


def ms(times: list[float]) -> str:
    return (f"{min(times) * 1e3:,.1f} / {statistics.median(times) * 1e3:,.1f} / "
            f"{max(times) * 1e3:,.1f} ms")


def loads() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def measure_book(doc: dict[str, Any], runs: int, scalar_runs: int, reference: Reference) -> dict[str, Any]:
    """One book's figures, engine and scalar interleaved (a burst of load hits both), the reference
    job sampled after each measurement, and the load average before and after."""
    from desk.domain.engine import clear_compiled_cache, compute_arrays, compute_risk
    from desk.domain.scalar import compute_risk_scalar
    from desk.formats.portfolio import load_portfolio

    portfolio = load_portfolio(json.dumps(doc).encode())

    def cold(fn: Callable[[Any], object]) -> Callable[[], object]:
        def run() -> object:
            clear_compiled_cache()  # nothing compiled: the first tick, as `desk risk` meets it
            return fn(portfolio)
        return run

    out: dict[str, Any] = {"load before": loads(), "engine figures": [], "scalar figures": [],
                           "engine report": [], "scalar report": []}
    chunks = [runs // scalar_runs + (k < runs % scalar_runs) for k in range(scalar_runs)]  # the engine runs
    for k, chunk in enumerate(chunks):
        out["engine figures"] += timed(cold(compute_arrays), chunk)
        reference.sample(1)
        out["scalar figures"] += timed(lambda: scalar_figures(portfolio), 1)
        reference.sample(1)
        out["engine report"] += timed(cold(compute_risk), chunk)
        reference.sample(1)
        if k == 0:  # the slowest: once
            out["scalar report"] += timed(lambda: compute_risk_scalar(portfolio), 1)
            reference.sample(1)
    out["load after"] = loads()
    return out


def engine_section(runs: int, scalar_runs: int) -> None:
    books = (("all isolated", portfolio_doc(ACCOUNTS, PER_ACCOUNT, isolated_every=1)),
             ("all cross", portfolio_doc(ACCOUNTS, PER_ACCOUNT, isolated_every=0)),
             ("all isolated, coin-margined", coin_margined_doc(ACCOUNTS, PER_ACCOUNT)))
    reference = Reference()
    reference.sample()
    figures = {label: measure_book(doc, runs, scalar_runs, reference) for label, doc in books}
    print(f"engine vs the scalar oracle (desk/domain/scalar.py) on {ACCOUNTS} accounts × {PER_ACCOUNT} "
          "positions, 8-tier tables, nothing compiled before each engine run; min / median / max wall time, "
          "engine and scalar runs interleaved:")
    width = 40
    print(f"  {'':<42}" + "".join(f"{label:<{width}}" for label, _ in books))

    def line(name: str, cell: Callable[[dict[str, Any]], str]) -> None:
        print(f"  {name:<42}" + "".join(f"{cell(figures[label]):<{width}}" for label, _ in books))

    line(f"figures: engine compute_arrays ({runs}×)", lambda f: ms(f["engine figures"]))
    line(f"         scalar oracle ({scalar_runs}×)", lambda f: ms(f["scalar figures"]))
    line("         engine × (median ÷ median)", lambda f: (
        f"×{statistics.median(f['scalar figures']) / statistics.median(f['engine figures']):,.1f}"
        " (target ≥ 30×)"))
    line(f"report:  engine compute_risk ({runs}×)", lambda f: ms(f["engine report"]))
    line("         compute_risk_scalar (1×)", lambda f: ms(f["scalar report"]))
    line("         engine × (median ÷ median)", lambda f: (
        f"×{statistics.median(f['scalar report']) / statistics.median(f['engine report']):,.1f}"))
    line("engine figures (median) ÷ reference job",
         lambda f: reference.ratio(statistics.median(f["engine figures"]) * 1e3))
    line("load average before → after", lambda f: f"{f['load before']} → {f['load after']}")
    print(f"  {reference.describe()}")
    print(f"  ({os.cpu_count()} cores)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--engine-runs", type=int, default=16, help="engine runs per book (cheap)")
    parser.add_argument("--scalar-runs", type=int, default=2, help="scalar figures runs per book (slow)")
    parser.add_argument("--skip-cli", action="store_true")
    parser.add_argument("--skip-engine", action="store_true")
    args = parser.parse_args()
    if not args.skip_cli:
        cli_section(args.runs)
    if not args.skip_engine:
        engine_section(args.engine_runs, args.scalar_runs)


if __name__ == "__main__":
    main()
