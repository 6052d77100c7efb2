"""How long one account read takes through ccxt, and what the markets cache saves.

Runs against the fake exchange on 127.0.0.1 (no network), so the figures are desk's and
ccxt's own cost, not the venue's latency. Prints, per venue: a cold first read (markets
downloaded), a first read with markets from the disk cache, and the steady-state poll
(median and p95 of N reads on one reader), with the request weight ccxt's limiter charged.

    .venv/bin/python -m benchmarks.exchanges_snapshot [N]
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path


def main(n: int = 30) -> None:
    t0 = time.perf_counter()
    import desk.exchanges  # noqa: F401

    print(f"import desk.exchanges (ccxt stays unloaded): {1000 * (time.perf_counter() - t0):.1f} ms, "
          f"ccxt loaded: {'ccxt' in sys.modules}")
    from desk.exchanges import ReaderConfig, open_reader
    from tests.fake_exchange import FakeExchange

    server = FakeExchange(("binance", "bybit", "hyperliquid", "okx"))
    server.add_key("bench-key", "bench-secret")
    server.state["okx"]["passphrases"]["bench-key"] = "bench-pass"
    creds = {"apiKey": "bench-key", "secret": "bench-secret", "password": "bench-pass"}
    wallet = "0x5e11e5e11e5e11e5e11e5e11e5e11e5e11e5e11e"
    with server.running(), tempfile.TemporaryDirectory() as cache:
        print(f"{'venue':<13} {'cold 1st read':>14} {'cached 1st':>11} {'poll median':>12} {'poll p95':>9} "
              f"{'weight/poll':>12} {'requests/poll':>14}")
        for venue in ("binanceusdm", "binancecoinm", "bybit", "okx", "hyperliquid"):
            needed = ("apiKey", "secret", "password") if venue == "okx" else ("apiKey", "secret")
            secrets_ = {} if venue == "hyperliquid" else {k: creds[k] for k in needed}
            cfg = ReaderConfig("bench", venue, api_url=server.url, markets_cache_dir=Path(cache),
                               wallet_address=wallet if venue == "hyperliquid" else None)

            async def first(cfg: ReaderConfig = cfg, secrets_: dict[str, str] = secrets_) -> float:
                reader = open_reader(cfg, secrets_)
                try:
                    start = time.perf_counter()
                    await reader.snapshot()
                    return time.perf_counter() - start
                finally:
                    await reader.close()

            cold = asyncio.run(first())
            cached = asyncio.run(first())

            async def polls(cfg: ReaderConfig = cfg, secrets_: dict[str, str] = secrets_,
                            ) -> tuple[list[float], float, int]:
                reader = open_reader(cfg, secrets_)
                try:
                    await reader.snapshot()
                    times, weight = [], 0.0
                    before = len(server.requests)
                    for _ in range(n):
                        start = time.perf_counter()
                        snap = await reader.snapshot()
                        times.append(time.perf_counter() - start)
                        weight = snap.request_weight
                    return times, weight, (len(server.requests) - before) // n
                finally:
                    await reader.close()

            times, weight, requests = asyncio.run(polls())
            p95 = sorted(times)[max(0, int(0.95 * len(times)) - 1)]
            print(f"{venue:<13} {1000 * cold:>11.0f} ms {1000 * cached:>8.0f} ms "
                  f"{1000 * statistics.median(times):>9.1f} ms {1000 * p95:>6.1f} ms {weight:>12g} "
                  f"{requests:>14d}")
    print("(a poll includes ccxt's own rate-limit spacing between its requests)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 30)
