"""Fixtures for the exchange layer: a running fake exchange and readers pointed at it."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from desk.exchanges import AccountSnapshot, ReaderConfig, open_reader
from tests.fake_exchange import FakeExchange

HL_ADDRESS = "0x5e11e5e11e5e11e5e11e5e11e5e11e5e11e5e11e"


class Keys:
    """Obviously fake credentials, fresh for each test."""

    def __init__(self) -> None:
        self.api_key = "test-key-" + secrets.token_hex(8)
        self.secret = "test-secret-" + secrets.token_hex(16)
        self.passphrase = "test-pass-" + secrets.token_hex(4)

    def as_secrets(self) -> dict[str, str]:
        return {"apiKey": self.api_key, "secret": self.secret}

    def okx(self) -> dict[str, str]:
        return dict(self.as_secrets(), password=self.passphrase)


@pytest.fixture
def keys() -> Keys:
    return Keys()


@pytest.fixture
def fake(keys: Keys) -> Iterator[FakeExchange]:
    server = FakeExchange(("binance", "bybit", "hyperliquid", "okx"))
    server.add_key(keys.api_key, keys.secret)
    server.state["okx"]["passphrases"][keys.api_key] = keys.passphrase
    with server.running() as running:
        yield running


@pytest.fixture
def make_config(fake: FakeExchange, tmp_path: Path) -> Any:
    def make(venue: str, **kwargs: Any) -> ReaderConfig:
        kwargs.setdefault("api_url", fake.url)
        kwargs.setdefault("markets_cache_dir", tmp_path / "markets")
        # ccxt's request spacing is real-venue politeness; against the local fake it only costs time
        kwargs.setdefault("options", {"timeout_ms": 3000, "rate_limit_ms": 1})
        return ReaderConfig(name=kwargs.pop("name", "main"), venue=venue, **kwargs)
    return make


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, timeout=30))


def read_once(cfg: ReaderConfig, secrets_: dict[str, str]) -> AccountSnapshot:
    """Open a reader, take one snapshot, close it."""
    async def go() -> AccountSnapshot:
        reader = open_reader(cfg, secrets_)
        try:
            return await reader.snapshot()
        finally:
            await reader.close()
    result: AccountSnapshot = run(go())
    return result


def read_many(cfg: ReaderConfig, secrets_: dict[str, str], n: int, between: Any = None) -> list[Any]:
    """Take n snapshots with one reader; each result is a snapshot or the VenueError raised.

    ``between(i)`` runs before snapshot i (e.g. to change the server's behaviour).
    """
    async def go() -> list[Any]:
        reader = open_reader(cfg, secrets_)
        out: list[Any] = []
        try:
            for i in range(n):
                if between is not None:
                    between(i)
                try:
                    out.append(await reader.snapshot())
                except Exception as exc:
                    out.append(exc)
        finally:
            await reader.close()
        return out
    result: list[Any] = run(go())
    return result
