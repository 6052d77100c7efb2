"""Speed of the what-if ladder while dragging (issue 10). Prints figures; not a test.

    QT_QPA_PLATFORM=offscreen .venv/bin/python benchmarks/bench_whatif.py
    xvfb-run -a .venv/bin/python benchmarks/bench_whatif.py

A 500-position portfolio (one cross account of 500 positions with tiered brackets —
the worst case, since a drag recomputes the position's whole account — plus a 4-account demo). The
drag is simulated by moving the what-if line step by step (``LadderWidget.set_whatif_price``, which
is what the mouse-drag handler runs); each step is timed through the recompute (engine) and a
forced synchronous repaint of the plot (``repaint()``). Target: median ≤ 16 ms per step (one frame).
"""

from __future__ import annotations

import os
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from desk.domain.engine import compute_risk
from desk.domain.model import Account, Kind, MarginMode, Portfolio, Position, Side, Tier

STEPS = 300


def big_portfolio(n: int = 500, seed: int = 3) -> Portfolio:
    """One Binance-style cross account with ``n`` positions (one per symbol), tiered brackets."""
    rng = random.Random(seed)
    floors = [0, 50_000, 250_000, 1_000_000, 10_000_000]
    rates = [0.004, 0.005, 0.01, 0.025, 0.05]
    caps = [*floors[1:], 50_000_000]
    tiers = tuple(Tier(f, c, r, None, 125 / (i + 1))
                  for i, (f, c, r) in enumerate(zip(floors, caps, rates, strict=True)))
    positions = []
    for i in range(n):
        base = 10.0 * (1 + i % 50)
        positions.append(Position(
            symbol=f"C{i}/USDT:USDT", settle="USDT", kind=Kind.LINEAR, contracts=rng.uniform(10, 200),
            side=Side.LONG if rng.random() < 0.6 else Side.SHORT, entry_price=base * rng.uniform(0.9, 1.1),
            mark_price=base, margin_mode=MarginMode.CROSS, tiers=tiers, taker_fee=0.0005, tick_size=0.01,
        ))
    return Portfolio((Account("bench", "binanceusdm", {"USDT": 400_000.0}, tuple(positions)),))


def drag(ladder, app, portfolio: Portfolio, label: str) -> None:  # type: ignore[no-untyped-def]
    report = compute_risk(portfolio)
    risk = max(report.positions(), key=lambda p: p.margin_ratio or 0.0)
    ladder.show_position(portfolio, risk)
    app.processEvents()
    low, high = risk.mark_price * 0.7, risk.mark_price * 1.3
    times = []
    compute = []
    for k in range(STEPS):
        price = low + (high - low) * (k % 100) / 99.0
        t0 = time.perf_counter()
        ladder.set_whatif_price(price)
        t1 = time.perf_counter()
        ladder.plot.viewport().repaint()
        ladder.side_panel.repaint()
        times.append((time.perf_counter() - t0) * 1000.0)
        compute.append((t1 - t0) * 1000.0)
    times.sort()
    compute.sort()
    n_pos = sum(len(a.positions) for a in portfolio.accounts)
    acc_pos = len(portfolio.account(risk.account).positions)
    print(f"{label}: {n_pos} positions (dragged account: {acc_pos}), {STEPS} drag steps")
    print(f"  recompute + labels   median {statistics.median(compute):6.2f} ms   "
          f"p95 {compute[int(0.95 * len(compute))]:6.2f} ms")
    print(f"  recompute + repaint  median {statistics.median(times):6.2f} ms   "
          f"p95 {times[int(0.95 * len(times))]:6.2f} ms   max {times[-1]:6.2f} ms   (target median ≤ 16 ms)")


def main() -> int:
    from PySide6.QtWidgets import QApplication

    from desk.exchanges.demo import demo_portfolio
    from desk.ui.charts.ladder import LadderWidget

    app = QApplication.instance() or QApplication(sys.argv[:1])
    platform = os.environ.get("QT_QPA_PLATFORM", "")
    print(f"Qt platform: {QApplication.platformName()}  (QT_QPA_PLATFORM={platform})")
    ladder = LadderWidget()
    ladder.resize(1100, 460)
    ladder.show()
    drag(ladder, app, big_portfolio(), "one cross account")
    demo = demo_portfolio("flash-crash", seed=7, at_seconds=2100)
    drag(ladder, app, demo, "demo venue mid flash-crash")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
