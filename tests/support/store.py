"""Test helpers for the store: synthetic risk reports and a history writer to kill.

The figures in these reports are arbitrary labels for storage tests (the store never computes
risk); they are chosen so each row is recognisable after a round trip.
"""

from __future__ import annotations

import sys
from pathlib import Path

from desk.domain.alerts import Alert, AlertLevel
from desk.domain.report import AccountRisk, PoolRisk, PositionRisk, RiskReport


def position(account: str, symbol: str, *, mark: float, ratio: float | None, distance: float | None,
             leg: str = "both", settle: str = "USDT", margin_mode: str = "cross") -> PositionRisk:
    return PositionRisk(
        account=account, symbol=symbol, leg=leg, side="long", margin_mode=margin_mode, settle=settle,
        kind="linear", contracts=2.0, entry_price=100.0, mark_price=mark, leverage=10.0,
        notional=2.0 * mark, unrealized_pnl=2.0 * (mark - 100.0), maintenance_margin=1.0,
        margin_ratio=ratio, liquidation_price=80.0, bankruptcy_price=75.0, distance_to_liquidation=distance,
        reported_liquidation_price=80.5)


def report(*, mark: float = 100.0, ratio: float = 0.3, account: str = "main",
           symbols: tuple[str, ...] = ("BTC/USDT:USDT",), extra_accounts: tuple[str, ...] = ()) -> RiskReport:
    """One cross pool in USDT with the given positions; ``ratio`` is the pool's margin ratio."""
    accounts = []
    for name in (account, *extra_accounts):
        positions = tuple(position(name, s, mark=mark, ratio=ratio, distance=1 - 80.0 / mark)
                          for s in symbols)
        upnl = sum(p.unrealized_pnl for p in positions)
        pool = PoolRisk(settle="USDT", wallet_balance=1000.0, unrealized_pnl=upnl,
                        margin_balance=1000.0 + upnl,
                        maintenance_margin=float(len(positions)), margin_ratio=ratio,
                        venue_margin_ratio=ratio + 0.01)
        accounts.append(AccountRisk(name=name, venue="binance", rules="binance", generic_rules=False,
                                    pools=(pool,), positions=positions, shock_to_liquidation=0.2))
    return RiskReport(accounts=tuple(accounts))


def alert(n: int, at: float) -> Alert:
    return Alert(at=at, rule="distance", level=AlertLevel.WARNING, title=f"alert {n}", body=f"body {n}",
                 account="main", symbol="BTC/USDT:USDT", leg="both", value=float(n), threshold=0.1)


def write_forever(path: str, start: int) -> None:
    """Write samples, alerts and compactions in a loop, printing each committed alert number.

    Run as ``python -m tests.support.store PATH START`` by the kill -9 test.
    """
    from desk.store.history import History

    # Small sample interval and retention so compaction really rewrites and deletes rows.
    history = History(Path(path), sample_seconds=1, fine_retention_hours=1, coarse_sample_minutes=1,
                      coarse_retention_days=30, max_megabytes=50)
    n = start
    at = 1_000_000.0 + start * 30
    while True:
        at += 30  # 30 simulated seconds per loop: the fine horizon (1 h) is crossed every 120 loops
        history.record(report(mark=100.0 + n % 50, ratio=0.1 + (n % 7) / 10,
                              symbols=("BTC/USDT:USDT", "ETH/USDT:USDT", "SOL/USDT:USDT")), at)
        alert_id = history.record_alert(alert(n, at))
        from desk.domain.alerts import DeliveryAttempt

        history.record_delivery(alert_id, DeliveryAttempt(at=at, channel="console", delivered=True))
        print(n, flush=True)
        n += 1
        if n % 25 == 0:
            history.compact(at)


if __name__ == "__main__":
    write_forever(sys.argv[1], int(sys.argv[2]))
