"""Shared mapping helpers: ccxt structures and raw venue fields → domain values.

The rule everywhere: a number the venue did not give is ``None``, never 0; a required number
that is missing or not positive makes the whole read a BAD_RESPONSE (``ShapeError``) rather
than a silently wrong position.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from desk.domain.book import DOLLARS
from desk.domain.model import Kind, Leg, MarginMode, Position, Side, SpotBalance, Tier


class ShapeError(ValueError):
    """The venue's answer lacks a field desk needs, or has an impossible value."""


def num(value: Any) -> float | None:
    """A finite float, or None for None, '', non-numbers and NaN/inf."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, str):
        value = value.strip()
        if not value:
            return None
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def price_or_none(value: Any) -> float | None:
    """A venue-reported price where 0, '' or null mean "none" (risk-math.md §7.4)."""
    x = num(value)
    return x if x is not None and x > 0 else None


def required_positive(value: Any, what: str, where: str) -> float:
    x = num(value)
    if x is None or x <= 0:
        raise ShapeError(f"{where}: {what} is missing or not positive ({value!r})")
    return x


@dataclass(frozen=True)
class MarketFacts:
    symbol: str
    kind: Kind
    settle: str
    contract_size: float
    tick_size: float | None
    taker_fee: float | None
    lot_size: float | None = None  # order size step in contracts (ccxt precision.amount)


def market_facts(markets: Mapping[str, Any], symbol: str, where: str) -> MarketFacts:
    market = markets.get(symbol)
    if market is None:
        raise ShapeError(f"{where}: position in {symbol!r}, a market the venue did not list — "
                         f"the market list may be out of date (desk refreshes it on the next read)")
    if not market.get("contract"):
        raise ShapeError(f"{where}: {symbol} is not a derivatives market")
    kind = Kind.INVERSE if market.get("inverse") else Kind.LINEAR
    settle = market.get("settle") or symbol.partition(":")[2].split("-")[0]
    contract_size = num(market.get("contractSize")) or 1.0
    precision = market.get("precision") or {}
    tick = num(precision.get("price"))
    lot = num(precision.get("amount"))
    return MarketFacts(symbol, kind, settle, contract_size, tick if tick and tick > 0 else None,
                       num(market.get("taker")), lot if lot and lot > 0 else None)


def side_of(value: Any, where: str) -> Side:
    if value in ("long", "short"):
        return Side(value)
    raise ShapeError(f"{where}: position side is {value!r}, expected long or short")


def margin_mode_of(value: Any, where: str) -> MarginMode:
    if value in ("cross", "isolated"):
        return MarginMode(value)
    raise ShapeError(f"{where}: margin mode is {value!r}, expected cross or isolated")


def leg_of_hedged(hedged: bool, side: Side) -> Leg:
    if not hedged:
        return Leg.BOTH
    return Leg.LONG if side is Side.LONG else Leg.SHORT


def tiers_from_ccxt(rows: Sequence[Mapping[str, Any]], amount_field: str | None,
                    where: str) -> tuple[Tier, ...]:
    """ccxt leverage tiers → domain tiers, with the venue's maintenance amount from ``info``."""
    tiers = []
    for row in rows:
        floor = num(row.get("minNotional"))
        cap = num(row.get("maxNotional"))
        mmr = num(row.get("maintenanceMarginRate"))
        if floor is None or cap is None or mmr is None or mmr < 0 or cap <= floor:
            raise ShapeError(f"{where}: malformed maintenance tier {dict(row, info=None)!r}")
        amount = num((row.get("info") or {}).get(amount_field)) if amount_field else None
        tiers.append(Tier(notional_floor=floor, notional_cap=cap, mmr=mmr, maintenance_amount=amount,
                          max_leverage=num(row.get("maxLeverage"))))
    tiers.sort(key=lambda t: t.notional_floor)
    return tuple(tiers)


@dataclass
class TierCache:
    """Maintenance tiers change rarely and cost requests: keep them for ``max_age`` seconds.

    With a ``path`` the tables also live on disk (:meth:`load` at start, :meth:`save` after a
    read that fetched some), so a restart within the refresh age asks the venue for none.
    Each entry keeps the time it was fetched; a loaded entry expires when it would have in memory.
    """

    max_age: float = 3600.0
    entries: dict[str, tuple[float, tuple[Tier, ...]]] = field(default_factory=dict)
    path: Path | None = None
    _dirty: bool = False

    def get(self, symbol: str, now: float | None = None) -> tuple[Tier, ...] | None:
        entry = self.entries.get(symbol)
        now = time.time() if now is None else now
        if entry is None or now - entry[0] > self.max_age:
            return None
        return entry[1]

    def missing(self, symbols: Iterable[str], now: float | None = None) -> list[str]:
        return sorted({s for s in symbols if self.get(s, now) is None})

    def put(self, symbol: str, tiers: tuple[Tier, ...], now: float | None = None) -> None:
        self.entries[symbol] = (time.time() if now is None else now, tiers)
        self._dirty = True

    def load(self, now: float | None = None) -> None:
        """Take the fresh entries of the disk copy; an absent or unreadable file is no cache."""
        if self.path is None:
            return
        try:
            document = json.loads(self.path.read_text(encoding="utf-8"))
            stored = document["tiers"] if document.get("format") == _TIER_FILE_FORMAT else {}
            now = time.time() if now is None else now
            for key, (saved, rows) in stored.items():
                if key in self.entries or not isinstance(saved, int | float) or saved > now + 60:
                    continue
                if now - saved <= self.max_age:
                    self.entries[key] = (float(saved), tuple(Tier(**row) for row in rows))
        except (OSError, ValueError, TypeError, KeyError, AttributeError, RecursionError):
            return

    def save(self) -> None:
        """Write the tables atomically if any were fetched since the last save."""
        if self.path is None or not self._dirty:
            return
        document = {"format": _TIER_FILE_FORMAT,
                    "tiers": {k: [saved, [asdict(t) for t in tiers]]
                              for k, (saved, tiers) in self.entries.items()}}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=self.path.name, suffix=".tmp", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(document, f)
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        self._dirty = False


# Bump when the mapping venue tables → Tier changes, so older files are ignored.
_TIER_FILE_FORMAT = "desk.tiers/1"


def strip_info(item: Mapping[str, Any]) -> dict[str, Any]:
    """The raw venue row of a ccxt structure (what goes into AccountSnapshot.raw)."""
    info = item.get("info")
    return dict(info) if isinstance(info, Mapping) else {}


def spot_from_wallet(rows: Iterable[Mapping[str, Any]], positions: Sequence[Position], *, coin: str,
                     amount: str, equity: str, usd: str) -> tuple[tuple[SpotBalance, ...], list[str]]:
    """A venue's wallet rows (one per coin) as spot holdings, and the coins it gives no USD value for.

    The rule both unified wallets share (Bybit UTA, OKX trading account): a coin held (``amount`` > 0)
    is a spot leg unless it is a dollar (no hedge leg) or a coin positions settle in (that pool's
    balance); it is valued at the venue's own USD index for it, ``usd / equity``.
    """
    settles = {p.settle for p in positions}
    out: list[SpotBalance] = []
    unvalued: list[str] = []
    for row in rows:
        code = str(row.get(coin) or "")
        held = num(row.get(amount))
        if not code or held is None or held <= 0 or code.upper() in DOLLARS or code in settles:
            continue
        eq, value = num(row.get(equity)), num(row.get(usd))
        price = value / eq if eq and value is not None else None
        if price is None or price <= 0:
            unvalued.append(code)
            continue
        out.append(SpotBalance(code, held, price))
    return tuple(out), unvalued
