"""The address of a position's trading page on its venue's website (issue 17, panel parity).

The venues publish no reference for their website addresses; these are the trading pages' own
addresses, in the form the venues' sites and many public tools link to:

* Binance USDⓈ-M perpetual: ``https://www.binance.com/en/futures/BTCUSDT``
* Binance COIN-M perpetual: ``https://www.binance.com/en/delivery/btcusd_perpetual``
* Bybit USDT perpetual: ``https://www.bybit.com/trade/usdt/BTCUSDT``; inverse perpetual:
  ``https://www.bybit.com/trade/inverse/BTCUSD``
* OKX perpetual swap: ``https://www.okx.com/trade-swap/btc-usdt-swap``
* Hyperliquid perpetual: ``https://app.hyperliquid.xyz/trade/BTC``

Dated futures, options and other contracts get no address (their pages' names are not known to
desk), and neither does the demo venue, which has no website.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class VenuePage:
    url: str | None  # None: no page to open, ``reason`` says why
    venue: str  # the venue's name for a person ("Binance")
    reason: str = ""


_NAMES = {"binanceusdm": "Binance", "binancecoinm": "Binance", "bybit": "Bybit", "okx": "OKX",
          "hyperliquid": "Hyperliquid"}


def venue_name(venue: str) -> str:
    return _NAMES.get(venue, venue)


def position_page(venue: str, symbol: str, *, demo: bool = False) -> VenuePage:
    """The trading page of ``symbol`` (a ccxt unified symbol, ``BASE/QUOTE:SETTLE``) on ``venue``."""
    name = venue_name(venue)
    if demo:
        return VenuePage(None, name, "a demo account has no page on a venue's website")
    pair, _, settle = symbol.partition(":")
    base, _, quote = pair.partition("/")
    if not base or not quote or not settle or "-" in settle:  # dated future, option, or not a swap
        return VenuePage(None, name, f"no page known for {symbol}")
    linear = settle == quote
    url = None
    if venue == "binanceusdm" and linear:
        url = f"https://www.binance.com/en/futures/{base}{quote}"
    elif venue == "binancecoinm" and not linear:
        url = f"https://www.binance.com/en/delivery/{base.lower()}{quote.lower()}_perpetual"
    elif venue == "bybit" and linear and quote == "USDT":
        url = f"https://www.bybit.com/trade/usdt/{base}{quote}"
    elif venue == "bybit" and not linear:
        url = f"https://www.bybit.com/trade/inverse/{base}{quote}"
    elif venue == "okx":
        url = f"https://www.okx.com/trade-swap/{base.lower()}-{quote.lower()}-swap"
    elif venue == "hyperliquid" and linear:
        url = f"https://app.hyperliquid.xyz/trade/{base}"
    if url is None:
        return VenuePage(None, name, f"no page known for {symbol}")
    return VenuePage(url, name)
