"""Markets on disk: load_markets is the most expensive read (Binance exchangeInfo weight 1–40,
Bybit pages), and markets change rarely. A cached copy younger than the refresh age is used as is;
an older or unreadable one is replaced. The cache is keyed by venue, endpoint and ccxt version,
because ccxt's parsed market shape changes between versions.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any


def cache_file(cache_dir: Path, venue: str, urls: Any, market_types: tuple[str, ...],
               ccxt_version: str) -> Path:
    key = json.dumps([venue, urls, list(market_types), ccxt_version], sort_keys=True, default=str)
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return cache_dir / f"{venue}-{digest}.json"


def read_cached(path: Path, max_age_hours: float, now: float | None = None) -> dict[str, Any] | None:
    """The cached markets, or None when absent, too old or unreadable."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):  # RecursionError: a corrupt file nested too deeply
        return None
    if not isinstance(document, dict) or not isinstance(document.get("markets"), dict):
        return None
    saved = document.get("saved_at")
    now = time.time() if now is None else now
    if not isinstance(saved, int | float) or now - saved > max_age_hours * 3600 or saved > now + 60:
        return None
    markets: dict[str, Any] = document["markets"]
    return markets


def write_cached(path: Path, markets: dict[str, Any], now: float | None = None) -> None:
    """Write atomically so a crash never leaves half a file behind."""
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {"saved_at": time.time() if now is None else now, "markets": markets}
    fd, tmp = tempfile.mkstemp(prefix=path.name, suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(document, f, default=str)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
