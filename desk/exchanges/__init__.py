"""desk.exchanges: read-only access to exchange accounts through ccxt.

Importing this package stays cheap: ccxt is imported only when a reader is opened.

    from desk.exchanges import ReaderConfig, open_reader, required_secrets
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from desk.exchanges.base import AccountSnapshot, ErrorKind, MarkUpdate, VenueError, VenueReader
from desk.exchanges.config import KNOWN_VENUES, SECRET_LABELS, ReaderConfig, check_venue, required_secrets

if TYPE_CHECKING:
    from desk.exchanges.reader import CcxtReader

__all__ = [
    "KNOWN_VENUES", "SECRET_LABELS", "AccountSnapshot", "ErrorKind", "MarkUpdate", "ReaderConfig",
    "VenueError", "VenueReader", "check_venue", "open_reader", "required_secrets",
]


def open_reader(cfg: ReaderConfig, secrets: Any) -> CcxtReader:
    """A read-only :class:`VenueReader` for one account (see desk.exchanges.reader)."""
    from desk.exchanges.reader import open_reader as _open

    return _open(cfg, secrets)
