"""The engine's output: per-position, per-pool and per-account risk figures.

Field names match the ``desk.risk/1`` report of ``design/portfolio-format.md``; add fields
freely, never rename. ``margin_ratio`` is desk's one health scale on every venue:
maintenance margin ÷ margin balance (1.0 = liquidation, higher is worse).
``None`` means "not applicable / no liquidation possible" — never 0.
"""

from __future__ import annotations

from dataclasses import dataclass

from desk.domain.model import Account, Position, PositionKey
from desk.domain.protection import Protection


def at_or_past_liquidation(margin_ratio: float | None) -> bool:
    """Margin ratio at or beyond 1.0 (``inf`` once the margin balance is gone): liquidation."""
    return margin_ratio is not None and margin_ratio >= 1.0  # NaN compares False


def signed_distance(distance: float | None, liquidatable: bool) -> float | None:
    """|mark − liquidation| ÷ mark, negative once at or past liquidation (the fact above decides,
    not the side: a hedge leg's liquidation price may lie on either side of its mark)."""
    if distance is None:
        return None
    return -distance if liquidatable else distance


@dataclass(frozen=True, slots=True)
class Suggestion:
    action: str  # "add_margin" | "reduce_size" | "set_leverage"
    reaches_target: bool
    amount: float | None = None  # add_margin, in `currency`
    currency: str | None = None
    contracts: float | None = None  # reduce_size: contracts to close
    fraction: float | None = None  # reduce_size: share of the position to close
    leverage: float | None = None  # set_leverage
    reason: str | None = None  # why it cannot reach the target
    step: float | None = None  # the rounding step of amount (currency) or contracts (lot size)
    target_margin_ratio: float | None = None  # the goal it reaches: ratio at most this...
    target_distance: float | None = None  # ...and distance to liquidation at least this (fraction)
    # collateral added to an account-wide pool: the share of it the pool does not count (its haircut)
    haircut: float | None = None
    # the liquidation price it aims at moves everything in this coin in the pool with the price
    # (collateral included: desk's wrong-way figure, unified-margin.md §6.4 variant B); None: only
    # the position's own symbol moves
    moves_with: str | None = None


@dataclass(frozen=True, slots=True)
class FundingDrift:
    """Where funding at ``rate`` moves a position's liquidation price (desk.domain.funding)."""

    rate: float  # per funding interval, a fraction; > 0: longs pay shorts
    payment: float  # one payment by this position, settle currency; negative = it receives
    liquidation_after: tuple[tuple[int, float | None], ...]  # (payments, liquidation price)
    # at the current mark, funding alone reaches margin ratio 1.0 after this many payments
    # (fractional); None when the position receives funding or pays nothing
    payments_to_liquidation: float | None


@dataclass(frozen=True, slots=True)
class FundingPayer:
    """One cross position's funding in its pool's schedule (desk.domain.funding.pool_funding_drift)."""

    symbol: str
    leg: str
    rate: float  # per its funding interval, a fraction; > 0: longs pay shorts
    interval_hours: float
    first_payment: float  # epoch seconds of its first payment at or after the drift's origin
    payment: float  # one payment, settle currency; negative = it receives


@dataclass(frozen=True, slots=True)
class PoolFundingStep:
    """A single-asset cross pool after the funding payments due within ``hours`` of the origin."""

    hours: float
    paid: float  # net funding the pool paid in that time, settle currency; negative = received
    wallet_balance: float  # the pool's wallet after it
    margin_ratio: float | None  # the pool's ratio after it (inf once the margin balance is gone)
    # each cross position's liquidation price after it: (symbol, leg, price), in the account's order
    liquidation_prices: tuple[tuple[str, str, float | None], ...]


@dataclass(frozen=True, slots=True)
class PoolFundingDrift:
    """Funding's effect on a single-asset cross pool: every cross position pays at its own
    ``next_funding_time + k × interval`` at its current rate, every mark held (desk.domain.funding)."""

    settle: str
    origin: float  # epoch seconds the schedule counts from: when the account was read
    payers: tuple[FundingPayer, ...]
    unknown: tuple[tuple[str, str], ...]  # (symbol, leg) of cross positions whose funding is unknown
    after: tuple[PoolFundingStep, ...]
    # epoch seconds of the payment at which funding alone brings the pool's ratio to 1.0 (the origin
    # when it is already there); None when that never happens (the pool receives, or pays nothing)
    liquidation_time: float | None
    note: str | None = None  # why liquidation_time is not given though the pool pays

    @property
    def hours_to_liquidation(self) -> float | None:
        return None if self.liquidation_time is None else (self.liquidation_time - self.origin) / 3600.0


@dataclass(frozen=True, slots=True)
class PositionRisk:
    account: str
    symbol: str
    leg: str
    side: str
    margin_mode: str
    settle: str
    kind: str
    contracts: float
    entry_price: float
    mark_price: float
    leverage: float | None
    notional: float  # settle currency: quote for linear, coin for inverse
    unrealized_pnl: float
    maintenance_margin: float
    margin_ratio: float | None  # isolated: the position's own; cross: its pool's
    liquidation_price: float | None
    bankruptcy_price: float | None
    distance_to_liquidation: float | None  # |mark − liq| ÷ mark
    reported_liquidation_price: float | None = None
    reported_bankruptcy_price: float | None = None
    tick_size: float | None = None
    suggestions: tuple[Suggestion, ...] = ()
    venue_margin_ratio: float | None = None  # the venue's own sense (OKX: equity ÷ (MM + fee))
    isolated_margin: float | None = None  # isolated only: its margin excluding unrealized PnL
    # the position's margin as the exchanges' position panels show it: isolated, its own margin;
    # cross, the initial margin at entry (entry notional ÷ leverage); None when unknown
    position_margin: float | None = None
    # return on the initial margin at entry (uPnL ÷ (entry notional ÷ leverage)), as a fraction;
    # without a leverage, on the isolated margin; None when neither is known
    roi: float | None = None
    # account-pooled margin (unified-margin.md §6.4): ``liquidation_price`` is variant B (every price
    # of the same underlying, collateral included, moves with the mark); this is variant A (only the
    # symbol moves, collateral at its index: the venue's convention, compared with its figure)
    liquidation_price_symbol_only: float | None = None
    liquidation_direction: str | None = None  # "down" | "up" (pooled accounts)
    protection: Protection | None = None  # stops vs liquidation; None when orders were not read
    adl_rank: int | None = None  # the venue's auto-deleveraging rank (model.Position.adl_rank)
    funding_rate: float | None = None  # the venue's current rate per interval (model.Position)
    next_funding_time: float | None = None  # epoch seconds
    funding_interval_hours: float | None = None
    # the drift at funding_rate: computed on demand only (desk risk, the ladder's selected position),
    # never on every live tick — it runs the engine once per payment count
    funding_drift: FundingDrift | None = None
    realized_pnl: float | None = None  # as the venue reports it on the position (model.Position)

    @property
    def key(self) -> PositionKey:
        return PositionKey(self.account, self.symbol, self.leg, self.margin_mode)

    @property
    def liquidatable(self) -> bool:
        """At or past the liquidation price: every surface shows this one fact."""
        return at_or_past_liquidation(self.margin_ratio)

    @property
    def signed_distance_to_liquidation(self) -> float | None:
        """The distance to liquidation, negative once at or past it."""
        return signed_distance(self.distance_to_liquidation, self.liquidatable)


@dataclass(frozen=True, slots=True)
class CollateralRisk:
    """One collateral asset of an account-wide pool (unified-margin.md §6.2), in the pool's unit."""

    asset: str
    amount: float  # wallet, signed
    equity: float  # wallet − borrowed + unrealized PnL of positions settled in it
    price: float  # index in the pool's unit
    value: float  # counted value after haircut / bid-ask buffer (§6.2 v_a)
    haircut: float  # 1 − value ÷ (equity × price); 0 for a negative or empty asset valued in full


@dataclass(frozen=True, slots=True)
class PoolRisk:
    """The cross-margin pool of one settle currency in one account — or, where the venue pools
    margin across assets (``pool == "account"``), the account's one pool valued in ``settle``
    (the pool's unit, e.g. "USD")."""

    settle: str
    wallet_balance: float
    unrealized_pnl: float
    margin_balance: float
    maintenance_margin: float
    margin_ratio: float | None
    venue_margin_ratio: float | None
    suggestions: tuple[Suggestion, ...] = ()
    pool: str = "settle"  # "settle": one pool per settle currency; "account": one pool (unified-margin.md §0)
    mode: str | None = None  # the venue's account mode, e.g. "binance multi-assets"
    threshold: float = 1.0  # k of unified-margin.md §6.3: margin_ratio = k·MM ÷ MB
    total_equity: float | None = None  # Σ equity × index, no haircut (§6.2 TE)
    collateral: tuple[CollateralRisk, ...] = ()
    cannot_recompute: str | None = None  # why desk shows only the venue's figure for this mode
    # funding's effect on a single-asset cross pool: on demand only (desk risk, the ladder), never on
    # the live tick; None on an account-wide pool (paid from collateral coins: not modelled)
    funding_drift: PoolFundingDrift | None = None

    @property
    def liquidatable(self) -> bool:
        return at_or_past_liquidation(self.margin_ratio)


@dataclass(frozen=True, slots=True)
class AccountRisk:
    name: str
    venue: str
    rules: str  # the rule set used: "binance", "bybit", ..., or "generic"
    generic_rules: bool
    pools: tuple[PoolRisk, ...]
    positions: tuple[PositionRisk, ...]
    # smallest uniform adverse move of all marks at which a pool (or an isolated position)
    # reaches margin ratio 1.0, as a SIGNED fraction: -0.12 = every mark 12 % lower, +0.08 = 8 %
    # higher; abs() is the size of the move. None when no move within ±99 % reaches it.
    shock_to_liquidation: float | None
    warnings: tuple[str, ...] = ()

    def equity(self) -> tuple[Equity, ...]:
        """The account's equity per settle currency: the cross wallet and its positions' unrealized
        PnL, plus every isolated position's margin and unrealized PnL (the cross wallet alone leaves
        out what sits in isolated positions and what they have lost)."""
        parts: dict[str, list[float]] = {}
        for pool in self.pools:
            parts[pool.settle] = [pool.wallet_balance, pool.unrealized_pnl, 0.0, 0.0]
        for p in self.positions:
            if p.margin_mode == "isolated":
                row = parts.setdefault(p.settle, [0.0, 0.0, 0.0, 0.0])
                row[2] += p.isolated_margin or 0.0
                row[3] += p.unrealized_pnl
        return tuple(Equity(settle, *row) for settle, row in parts.items())


@dataclass(frozen=True, slots=True)
class Equity:
    """One settle currency's equity of an account, and what it is made of."""

    settle: str
    cross_wallet: float
    cross_unrealized_pnl: float
    isolated_margin: float
    isolated_unrealized_pnl: float

    @property
    def total(self) -> float:
        return (self.cross_wallet + self.cross_unrealized_pnl
                + self.isolated_margin + self.isolated_unrealized_pnl)


@dataclass(frozen=True, slots=True)
class RiskReport:
    accounts: tuple[AccountRisk, ...]
    as_of: str | None = None
    what_if: tuple[tuple[str, str], ...] = ()  # the what-if inputs applied, for display

    def positions(self) -> tuple[PositionRisk, ...]:
        return tuple(p for a in self.accounts for p in a.positions)


# ---------------------------------------------------------------------------- figures before the report


@dataclass(frozen=True, slots=True)
class PositionFigures:
    """One position's numbers as the scalar oracle computes them, before they are dressed as a
    :class:`PositionRisk` (:func:`desk.domain.assemble.assemble_account`)."""

    position: Position
    notional: float
    unrealized_pnl: float
    maintenance_margin: float
    margin_ratio: float
    liquidation_price: float | None
    bankruptcy_price: float | None


@dataclass(frozen=True, slots=True)
class PoolFigures:
    """One cross pool's numbers (engine or oracle), before they are dressed as a :class:`PoolRisk`."""

    settle: str
    wallet_balance: float
    unrealized_pnl: float
    margin_balance: float
    maintenance_margin: float
    margin_ratio: float


def read_notes(account: Account) -> list[str]:
    """What the read that produced ``account`` could not give (kept in the snapshot file), as warnings:
    a file read later says it again, so a book missing a refused spot wallet is never silent."""
    return [f"when this account was read: {note}" for note in account.notes]
