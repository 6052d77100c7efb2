"""Which Binance open-orders reads desk makes for an account (pure logic, a recording stand-in for ccxt).

Binance weighs GET /fapi/v1/openOrders and /openAlgoOrders 1 with a symbol and 40 without; ccxt
spaces the next request by that weight × its rate limit, so the all-symbols form held every account
read 2–4 s. Up to 20 symbols with a position desk reads per symbol; beyond, one read for all.
"""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest

from desk.exchanges.adapters.orders import binance_orders


class RecordingExchange:
    def __init__(self) -> None:
        self.options: dict[str, object] = {}
        self.calls: list[tuple[str | None, bool]] = []

    async def fetch_open_orders(self, symbol=None, since=None, limit=None, params=None):
        self.calls.append((symbol, bool((params or {}).get("trigger"))))
        return []


def _account(symbols: list[str]) -> SimpleNamespace:
    return SimpleNamespace(positions=tuple(SimpleNamespace(symbol=s) for s in symbols))


@pytest.mark.parametrize("count", [1, 2, 20])
def test_few_symbols_are_read_one_by_one_plain_and_conditional(count: int) -> None:
    symbols = [f"C{i}/USDT:USDT" for i in range(count)]
    ex = RecordingExchange()
    # a hedged symbol (long and short legs) is read once
    asyncio.run(binance_orders(ex, None, _account(symbols + symbols[:1])))
    assert sorted(ex.calls) == sorted([(s, False) for s in symbols] + [(s, True) for s in symbols])
    assert "warnOnFetchOpenOrdersWithoutSymbol" not in ex.options


def test_many_symbols_are_read_in_one_request_each_kind() -> None:
    ex = RecordingExchange()
    asyncio.run(binance_orders(ex, None, _account([f"C{i}/USDT:USDT" for i in range(21)])))
    assert ex.calls == [(None, False), (None, True)]
    assert ex.options["warnOnFetchOpenOrdersWithoutSymbol"] is False
