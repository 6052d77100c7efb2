"""The domain model: accounts, settle-currency pools, positions and maintenance tiers.

Pure data (frozen dataclasses), shared by every caller: the exchange adapters build it, the
engine reads it, the portfolio file (``desk.formats``) serialises it. Units follow
``design/portfolio-format.md``: prices in the quote currency; margin, balances and PnL in the
settle currency; rates as fractions; tier notionals in quote (linear) or coin (inverse).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from desk.domain.protection import Order


class Side(StrEnum):
    LONG = "long"
    SHORT = "short"

    @property
    def sign(self) -> int:
        return 1 if self is Side.LONG else -1


class Leg(StrEnum):
    """``both`` in one-way mode; ``long``/``short`` for the legs of hedge mode."""

    BOTH = "both"
    LONG = "long"
    SHORT = "short"


class Kind(StrEnum):
    LINEAR = "linear"  # PnL = qty × Δprice, settled in quote
    INVERSE = "inverse"  # PnL = contracts × size × (1/entry − 1/exit), settled in coin


class MarginMode(StrEnum):
    CROSS = "cross"
    ISOLATED = "isolated"


@dataclass(frozen=True, slots=True)
class Tier:
    """One maintenance tier (Binance "bracket", Bybit "risk limit").

    ``maintenance_amount`` is Binance's ``cum`` / Bybit's MM deduction; ``None`` means the
    venue omitted it and it is derived by the recurrence of risk-math.md §0.
    """

    notional_floor: float
    notional_cap: float
    mmr: float
    maintenance_amount: float | None = None
    max_leverage: float | None = None


@dataclass(frozen=True, slots=True)
class Reported:
    """What the exchange itself reported, kept for comparison ("ours beside theirs")."""

    liquidation_price: float | None = None
    bankruptcy_price: float | None = None
    margin_ratio: float | None = None


class PositionKey(NamedTuple):
    """A live position wherever desk names one (freshness, alerts, history, the table, selection).

    OKX lets one account hold an instrument and leg both cross and isolated at once ("twins"): two
    positions, so the margin mode belongs to the key. Every place derives its key from this one."""

    account: str
    symbol: str
    leg: str
    margin_mode: str

    @classmethod
    def of(cls, account: str, position: Position) -> PositionKey:
        return cls(account, position.symbol, position.leg.value, position.margin_mode.value)

    @property
    def instrument(self) -> tuple[str, str, str]:
        """(account, symbol, leg): what twins share."""
        return (self.account, self.symbol, self.leg)


def held_in_both_modes(keys: Iterable[PositionKey]) -> frozenset[tuple[str, str, str]]:
    """The instruments (account, symbol, leg) held both cross and isolated: only there must a label
    say the margin mode to tell the two positions apart."""
    modes: dict[tuple[str, str, str], set[str]] = {}
    for key in keys:
        modes.setdefault(key.instrument, set()).add(key.margin_mode)
    return frozenset(k for k, held in modes.items() if len(held) > 1)


@dataclass(frozen=True, slots=True)
class Position:
    symbol: str
    settle: str
    kind: Kind
    contracts: float
    side: Side
    entry_price: float
    mark_price: float
    margin_mode: MarginMode
    contract_size: float = 1.0
    leg: Leg = Leg.BOTH
    isolated_margin: float | None = None  # isolated only: margin EXCLUDING unrealized PnL
    leverage: float | None = None
    tiers: tuple[Tier, ...] = ()
    taker_fee: float | None = None
    reported: Reported = field(default_factory=Reported)
    tick_size: float | None = None  # price precision, for display and "ours vs theirs" tolerance
    mark_time: float | None = None  # epoch seconds the mark was observed; None for files
    lot_size: float | None = None  # order size step in contracts; suggestions round sizes to it
    # the venue's auto-deleveraging rank as it shows it (Binance adl 0–4, Bybit adlRankIndicator
    # 0–5, OKX adl 1–5; higher = deleveraged sooner); None where the venue gives none (Hyperliquid)
    adl_rank: int | None = None
    # funding (issue 17): the venue's current rate per funding interval, a fraction (> 0: longs pay
    # shorts), the epoch seconds of the next payment and the interval in hours; None where unknown
    funding_rate: float | None = None
    next_funding_time: float | None = None
    funding_interval_hours: float | None = None
    # the realised PnL the venue reports on the position itself (Bybit curRealisedPnl, OKX realizedPnl),
    # settle currency; None where the venue gives none on the position (Binance, Hyperliquid)
    realized_pnl: float | None = None

    @property
    def key(self) -> tuple[str, str]:
        """(symbol, leg): the engine's unit of a position inside its account. A live position is
        named by :class:`PositionKey` (with the margin mode: OKX twins)."""
        return (self.symbol, self.leg.value)

    @property
    def base_quantity(self) -> float:
        """Linear: base units (contracts × contract size). Inverse: quote value of the position."""
        return self.contracts * self.contract_size


def _frozen_mapping(values: Mapping[str, float] | None) -> Mapping[str, float]:
    return MappingProxyType(dict(values or {}))


@dataclass(frozen=True, slots=True)
class SpotBalance:
    """A coin held in a venue's spot wallet: not margin, never liquidated — the other leg of a basis
    trade (spot against a perpetual short). ``price`` is its value in USD per coin."""

    asset: str
    amount: float
    price: float


@dataclass(frozen=True, slots=True)
class CollateralTier:
    """One slice of a progressive collateral haircut (unified-margin.md §3 "Collateral tiers", §4).

    The slice ``[floor, cap)`` of the asset's equity counts at ``rate``; bounds are in coin units
    (``unit="coin"``) or in the pool's unit (``unit="value"``, equity × price).
    """

    floor: float
    cap: float
    rate: float


@dataclass(frozen=True, slots=True)
class Collateral:
    """One asset of a margin pool (unified-margin.md §6.1 ``PoolAsset``).

    ``amount`` is the wallet (signed: a Binance Multi-Assets wallet may be negative), without
    isolated margin and without unrealized PnL; ``price`` is its index in the pool's unit.
    Positive equity counts at ``rate`` (flat) or through ``tiers`` (progressive, §6.2), then at
    ``1 − bid_buffer`` (Binance bidRate); negative equity at ``1 + ask_buffer`` (Binance askRate)
    and in full elsewhere. Maintenance margin of positions settled in the asset converts at the
    ask side (§1 "AccountMM"). ``underlying`` names the coin whose price it follows ("BTC" for
    BTC or WBTC); ``None`` for stablecoins, which a shock does not move (§6.6).
    """

    asset: str
    amount: float
    price: float
    rate: float = 1.0
    tiers: tuple[CollateralTier, ...] = ()
    tier_unit: str = "coin"  # "coin" | "value"
    bid_buffer: float = 0.0
    ask_buffer: float = 0.0
    borrowed: float = 0.0
    underlying: str | None = None

    @property
    def bid_rate(self) -> float:
        return self.price * (1.0 - self.bid_buffer)

    @property
    def ask_rate(self) -> float:
        return self.price * (1.0 + self.ask_buffer)


class PoolKind(StrEnum):
    SETTLE = "settle"  # one cross pool per settle currency (single-asset modes)
    ACCOUNT = "account"  # one pool for the whole account (Multi-Assets, UTA, multi-currency)


@dataclass(frozen=True, slots=True)
class AccountMargin:
    """How the venue pools an account's margin (unified-margin.md §0, §6.1).

    ``mode`` is the venue's mode in desk's words ("binance multi-assets", "bybit uta cross",
    "okx multi-currency", ...). ``threshold`` is k of §6.3 (liquidation at k·MM ≥ MB).
    ``cannot_recompute`` holds the reason when desk cannot model the mode (portfolio margin
    with scenario-based MM): desk then shows only the venue's own figure, never a per-currency
    stand-in. ``venue_margin_ratio`` is the venue's own account figure, in its own sense
    (Binance totalMaintMargin/totalMarginBalance, Bybit accountMMRate, OKX mgnRatio, uniMMR).
    """

    pool: PoolKind = PoolKind.ACCOUNT
    mode: str = ""
    threshold: float = 1.0
    valuation: str = "USD"
    collateral: tuple[Collateral, ...] = ()
    venue_margin_ratio: float | None = None
    venue_ratio_inverted: bool = False  # the venue's figure grows with safety (OKX mgnRatio, uniMMR)
    cannot_recompute: str | None = None

    def asset(self, name: str) -> Collateral | None:
        for c in self.collateral:
            if c.asset == name:
                return c
        return None


@dataclass(frozen=True, slots=True)
class Account:
    name: str
    venue: str
    wallets: Mapping[str, float] = field(default_factory=lambda: _frozen_mapping(None))
    positions: tuple[Position, ...] = ()
    # The venue's own account-level figures per settle currency (e.g. Binance
    # totalMaintMargin/totalMarginBalance, OKX mgnRatio), for "venue_margin_ratio".
    reported: Mapping[str, Reported] = field(default_factory=lambda: MappingProxyType({}))
    data_time: float | None = None  # epoch seconds positions and balances were observed
    # how the venue pools margin; None: one cross pool per settle currency (the single-asset modes)
    margin: AccountMargin | None = None
    spot: tuple[SpotBalance, ...] = ()  # spot balances on this venue (hedge legs, not margin)

    @property
    def pooled(self) -> bool:
        """One margin pool for the whole account (unified-margin.md §0), not one per settle currency."""
        return self.margin is not None and self.margin.pool is PoolKind.ACCOUNT
    # open orders (read-only, issue 17); None = not read, so no protection verdict is given
    orders: tuple[Order, ...] | None = None
    # what the read that produced this account could not give (a spot wallet refused, a coin with no
    # price): carried into the snapshot file so a later `desk risk` says it too (never silent)
    notes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "wallets", _frozen_mapping(self.wallets))
        object.__setattr__(self, "reported", MappingProxyType(dict(self.reported)))
        if self.orders is not None:
            object.__setattr__(self, "orders", tuple(self.orders))
        object.__setattr__(self, "notes", tuple(self.notes))

    def wallet(self, currency: str) -> float:
        return float(self.wallets.get(currency, 0.0))

    def settle_currencies(self) -> tuple[str, ...]:
        seen = dict.fromkeys(p.settle for p in self.positions)
        return tuple(seen)


@dataclass(frozen=True, slots=True)
class Portfolio:
    accounts: tuple[Account, ...] = ()
    as_of: str | None = None  # ISO 8601 UTC

    def account(self, name: str) -> Account:
        for a in self.accounts:
            if a.name == name:
                return a
        raise KeyError(name)
