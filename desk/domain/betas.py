"""Each coin's beta to BTC: how far its log return moves with BTC's.

The demo market moves its coins by them (:mod:`desk.exchanges.demo.catalog`), and a BTC-move
stress curve (``desk risk``'s whole book, the dashboard's stress chart) uses them where the user
gives none; a coin not named moves one to one with BTC. Declared here, apart from the demo venue,
so that ``desk risk`` reads three numbers without loading the demo venue (issue 18).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

DEFAULT_BETAS: Mapping[str, float] = MappingProxyType({"BTC": 1.0, "ETH": 1.2, "SOL": 1.5})
