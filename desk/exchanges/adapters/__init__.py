"""Venue adapters: one per venue family, plus the generic one for any ccxt venue."""

from __future__ import annotations

from desk.exchanges.adapters.base import Adapter


def adapter_for(venue: str) -> Adapter:
    if venue in ("binanceusdm", "binancecoinm"):
        from desk.exchanges.adapters.binance import BinanceAdapter

        return BinanceAdapter(venue)
    if venue == "bybit":
        from desk.exchanges.adapters.bybit import BybitAdapter

        return BybitAdapter()
    if venue == "okx":
        from desk.exchanges.adapters.okx import OkxAdapter

        return OkxAdapter()
    if venue == "hyperliquid":
        from desk.exchanges.adapters.hyperliquid import HyperliquidAdapter

        return HyperliquidAdapter()
    from desk.exchanges.adapters.generic import GenericAdapter

    return GenericAdapter(venue)
