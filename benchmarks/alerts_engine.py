"""Alert engine figures: cost of one evaluation and of one clock tick, by desk size.

Run: ``.venv/bin/python -m benchmarks.alerts_engine`` (prints figures).
Target: evaluating a 10-account × 20-position snapshot stays well under 5 ms, so the engine
can run on every monitor snapshot (several a second) on the monitor's thread.
"""

from __future__ import annotations

import time

from desk.services.alerts import AlertConfig, AlertEngine
from tests.alerts.factory import T0, position, snapshot


def measure(accounts: int, per_account: int, rounds: int = 200) -> tuple[float, float]:
    names = tuple(f"acct{i}" for i in range(accounts))
    # distances sweep through the warning and critical bands so hysteresis and cooldowns work
    def positions(step: int) -> list:
        return [
            position(f"C{j}/USDT:USDT", account=a, distance=0.02 + ((i * per_account + j + step) % 30) / 100,
                     margin_ratio=((j + step) % 10) / 10, liq=40_000.0, reported_liq=40_000.0 + (step % 3),
                     tick=0.5)
            for i, a in enumerate(names) for j in range(per_account)
        ]

    clock = [T0]
    engine = AlertEngine(AlertConfig(), lambda: clock[0])
    snaps = [snapshot(T0 + k, positions(k), accounts=names) for k in range(rounds)]
    started = time.perf_counter()
    for k, snap in enumerate(snaps):
        clock[0] = T0 + k
        engine.evaluate(snap)
    evaluate_ms = (time.perf_counter() - started) / rounds * 1000
    started = time.perf_counter()
    for k in range(rounds):
        clock[0] = T0 + rounds + k * 0.01
        engine.tick()
    tick_ms = (time.perf_counter() - started) / rounds * 1000
    return evaluate_ms, tick_ms


def main() -> None:
    print(f"{'desk':>18}  {'evaluate':>10}  {'tick':>8}")
    for accounts, per_account in ((1, 5), (4, 10), (10, 20), (20, 50)):
        evaluate_ms, tick_ms = measure(accounts, per_account)
        desk = f"{accounts} × {per_account}"
        print(f"{desk:>18}  {evaluate_ms:8.3f} ms  {tick_ms:6.3f} ms")


if __name__ == "__main__":
    main()
