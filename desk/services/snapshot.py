"""What the monitor publishes: immutable snapshots with the age and status of every input."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType

from desk.domain.model import Portfolio, PositionKey
from desk.domain.report import RiskReport


class DataStatus(StrEnum):
    LIVE = "live"  # inputs within the live threshold
    DELAYED = "delayed"  # older than live, not yet stale
    STALE = "stale"  # too old to trust: never shown or reported as fresh
    ERROR = "error"  # the last read failed (reason says why)

    @property
    def rank(self) -> int:
        return {"live": 0, "delayed": 1, "stale": 2, "error": 3}[self.value]


@dataclass(frozen=True, slots=True)
class AccountState:
    name: str
    venue: str
    status: DataStatus
    reason: str | None = None  # for a person: why delayed / stale / error, and what to do
    data_time: float | None = None  # positions and balances observed (epoch seconds)
    oldest_mark_time: float | None = None
    demo: bool = False
    request_weight_per_min: float = 0.0
    streaming: bool = False
    stream_messages_per_min: float = 0.0  # WebSocket messages received over the last minute
    stopped: bool = False  # monitoring stopped (authentication/permission): restart after fixing
    read_interval: float | None = None  # seconds between REST reads of the account, as now planned
    # what the last read could not give, for a person ("spot wallet unknown: the key cannot read
    # it"): the read itself succeeded, so these never make the data stale
    notes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ExchangeCheck:
    """Ours vs the exchange's liquidation price at the last account (REST) read.

    Both figures are for the same inputs: the exchange's came with the read, ours is computed from
    that read's marks and balances (risk-math.md §1.1, §7.7), so marks streamed since then never
    make them look apart. Kept until the next read (dropped when a stream changes the position).
    """

    observed_at: float  # when the read was taken
    ours_at_read: float | None  # desk's liquidation price at the read's inputs (None: none possible)
    theirs: float  # the exchange's liquidation price
    gap_ticks: float | None  # |ours − theirs| ÷ tick size (None without a tick size)
    gap_relative: float | None  # |ours − theirs| ÷ |theirs|
    disagrees: bool  # beyond the tolerance (alerts.disagree_ticks)
    tolerance: str  # the tolerance applied, in words
    tick_size: float | None = None


@dataclass(frozen=True, slots=True)
class PositionState:
    status: DataStatus
    mark_time: float | None = None
    reason: str | None = None
    exchange_check: ExchangeCheck | None = None


@dataclass(frozen=True, slots=True)
class MonitorSnapshot:
    seq: int
    at: float  # when this snapshot was computed (epoch seconds)
    portfolio: Portfolio
    report: RiskReport
    accounts: tuple[AccountState, ...]
    positions: Mapping[PositionKey, PositionState] = field(default_factory=lambda: MappingProxyType({}))

    def account_state(self, name: str) -> AccountState | None:
        return next((a for a in self.accounts if a.name == name), None)


@dataclass(frozen=True, slots=True)
class StatusChange:
    """One line per state change (desk watch prints these; the UI shows them)."""

    at: float
    account: str
    old: DataStatus | None
    new: DataStatus
    reason: str | None


@dataclass(frozen=True, slots=True)
class HistoryStatus:
    """The risk history changed state — stopped being recorded (and why), started dropping queued
    samples, recorded again — or has a one-off notice (a corrupt file moved aside). Published on
    the bus once per change, for `desk watch` and the dashboard's status strip."""

    at: float
    recording: bool
    message: str
    health: object = None  # desk.store.history.HistoryHealth, None for a notice
