"""How old each input is, and what that means: live, delayed, stale or error — with a reason.

Pure functions of the clock and of what the monitor knows about one account's feeds, so the
rules can be tested under a fake clock. ARCHITECTURE.md rule 5: data has an age; a stale
number is never shown or reported as fresh.

Two kinds of input age differently:

* marks drive the risk numbers and should tick every second or so: their raw age is compared
  with ``live_seconds`` / ``stale_seconds``;
* positions and balances change only on trades and funding. They are confirmed by a REST read
  every ``expected_interval`` seconds (the reconcile interval while a user-data stream is up,
  the polling interval otherwise), so their *lateness* — age beyond that interval — is compared.
"""

from __future__ import annotations

from dataclasses import dataclass

from desk.domain.model import Account, PositionKey
from desk.exchanges.base import ErrorKind, VenueError
from desk.services.snapshot import DataStatus, PositionState


@dataclass(frozen=True, slots=True)
class Thresholds:
    live_seconds: float = 5.0
    stale_seconds: float = 30.0

    def __post_init__(self) -> None:
        if not 0 < self.live_seconds < self.stale_seconds:
            raise ValueError(
                f"monitor thresholds need 0 < live_seconds < stale_seconds "
                f"(got live {self.live_seconds}, stale {self.stale_seconds})"
            )


@dataclass(frozen=True, slots=True)
class FeedState:
    """One stream (marks or user data) as the monitor last saw it."""

    supported: bool
    open: bool = False  # subscribed (a user-data stream may rightly stay quiet for hours)
    last_message: float | None = None
    error: str | None = None  # set while the stream is down, until it delivers again

    def healthy(self, now: float, within: float | None) -> bool:
        """Open without error, and (for ``within``) delivered a message that recently."""
        if not self.supported or not self.open or self.error is not None:
            return False
        if within is None:
            return True
        return self.last_message is not None and now - self.last_message <= within


@dataclass(frozen=True, slots=True)
class Verdict:
    status: DataStatus
    reason: str | None
    positions: dict[PositionKey, PositionState]
    oldest_mark_time: float | None


FATAL_TEXT = {
    ErrorKind.AUTH: "the exchange rejected the API key",
    ErrorKind.PERMISSION: "the API key is not allowed to read this account",
    ErrorKind.CONFIG: "the account is not configured correctly",
}


def worst(*statuses: DataStatus) -> DataStatus:
    return max(statuses, key=lambda s: s.rank)


def age_status(age: float, thresholds: Thresholds) -> DataStatus:
    if age <= thresholds.live_seconds:
        return DataStatus.LIVE
    if age <= thresholds.stale_seconds:
        return DataStatus.DELAYED
    return DataStatus.STALE


def read_cycle_missed(read_at: float, interval: float | None, now: float,
                      thresholds: Thresholds = Thresholds()) -> bool:
    """A figure from the account read at ``read_at`` (the exchange's liquidation price) has missed
    a read cycle: the next read was due ``interval`` later and is late by more than the live
    margin — the rule :func:`evaluate` applies to positions and balances. Unknown interval: False.
    """
    if interval is None:
        return False
    return age_status(now - read_at - interval, thresholds) is not DataStatus.LIVE


def shown_status(reported: DataStatus, age: float | None, thresholds: Thresholds) -> DataStatus:
    """What to show for data whose oldest input is ``age`` seconds old now: the monitor's verdict,
    made worse (never better) by that age. The account card and the status strip both ask this,
    with the same age, so "LIVE · 5.4 s" beside "delayed" cannot happen."""
    if age is None:
        return reported
    return worst(reported, age_status(age, thresholds))


def seconds(x: float) -> str:
    x = max(0.0, x)
    return f"{x:.1f} s" if x < 10 else f"{x:.0f} s"


def fatal_reason(error: VenueError) -> str:
    what = FATAL_TEXT.get(error.kind, "reading the account failed")
    return (f"{what}: {error} — monitoring of this account is stopped; fix the key or settings "
            f"(`desk accounts test NAME`, `desk accounts add`) and restart it")


def _causes(now: float, *, marks_feed: FeedState, account_feed: FeedState, thresholds: Thresholds,
            rest_error: VenueError | None, rest_retry_at: float | None,
            rest_pending_since: float | None) -> list[str]:
    causes: list[str] = []
    if marks_feed.supported:
        if marks_feed.error is not None:
            causes.append(f"mark stream down ({marks_feed.error})")
        elif marks_feed.last_message is None:
            causes.append("mark stream not delivering yet")
        elif now - marks_feed.last_message > thresholds.live_seconds:
            causes.append(f"mark stream silent for {seconds(now - marks_feed.last_message)}")
    if (account_feed.supported and account_feed.error is not None
            and (rest_error is None or account_feed.error != str(rest_error))):  # said once is enough
        causes.append(f"account stream down ({account_feed.error})")
    if rest_pending_since is not None and now - rest_pending_since > thresholds.live_seconds:
        causes.append(f"REST read unanswered for {seconds(now - rest_pending_since)}")
    if rest_error is not None:
        text = f"REST failing: {rest_error}"
        if rest_retry_at is not None:
            text += f" (retry in {seconds(rest_retry_at - now)})"
        causes.append(text)
    return causes


def evaluate(now: float, *, account: Account | None, thresholds: Thresholds, expected_interval: float,
             waiting_since: float, marks_feed: FeedState, account_feed: FeedState,
             rest_error: VenueError | None = None, rest_retry_at: float | None = None,
             rest_pending_since: float | None = None, fatal: VenueError | None = None,
             risk_error: str | None = None) -> Verdict:
    """The status of one account and each of its positions at ``now``."""
    causes = _causes(now, marks_feed=marks_feed, account_feed=account_feed, thresholds=thresholds,
                     rest_error=rest_error, rest_retry_at=rest_retry_at,
                     rest_pending_since=rest_pending_since)
    if account is None:
        if fatal is not None:
            return Verdict(DataStatus.ERROR, fatal_reason(fatal), {}, None)
        if rest_error is not None:
            return Verdict(DataStatus.ERROR, "cannot read the account — " + "; ".join(causes), {}, None)
        waited = now - waiting_since
        if waited <= thresholds.stale_seconds:
            return Verdict(DataStatus.DELAYED, "connecting — no data yet", {}, None)
        return Verdict(DataStatus.STALE, f"no data after {seconds(waited)}", {}, None)

    data_time = account.data_time if account.data_time is not None else waiting_since
    data_age = now - data_time
    data_status = age_status(data_age - expected_interval, thresholds)
    data_text = f"positions and balances last confirmed {seconds(data_age)} ago"

    account_floor = data_status
    floor_reason: str | None = None
    if fatal is not None:
        account_floor, floor_reason = DataStatus.ERROR, fatal_reason(fatal)
    elif risk_error is not None:
        account_floor, floor_reason = DataStatus.ERROR, f"risk could not be computed: {risk_error}"

    positions: dict[PositionKey, PositionState] = {}
    oldest: tuple[float, str] | None = None
    for pos in account.positions:
        mark_time = pos.mark_time if pos.mark_time is not None else data_time
        if oldest is None or mark_time < oldest[0]:
            oldest = (mark_time, pos.symbol)
        mark_age = now - mark_time
        mark_status = age_status(mark_age, thresholds)
        status = worst(mark_status, account_floor)
        reason = None
        if status is not DataStatus.LIVE:
            if floor_reason is not None and status is account_floor:
                reason = floor_reason
            elif mark_status.rank >= account_floor.rank and mark_status is not DataStatus.LIVE:
                reason = _join(f"no mark price for {seconds(mark_age)}", causes)
            else:
                reason = _join(data_text, causes)
        positions[PositionKey.of(account.name, pos)] = PositionState(status=status, mark_time=pos.mark_time,
                                                                     reason=reason)

    mark_status = age_status(now - oldest[0], thresholds) if oldest else DataStatus.LIVE
    status = worst(data_status, mark_status, account_floor)
    if status is DataStatus.LIVE:
        reason = None
    elif floor_reason is not None and status is account_floor:
        reason = floor_reason
    else:
        parts = []
        if oldest is not None and mark_status is not DataStatus.LIVE:
            parts.append(f"no mark price for {oldest[1]} for {seconds(now - oldest[0])}")
        if data_status is not DataStatus.LIVE:
            parts.append(data_text)
        reason = _join("; ".join(parts), causes)
    return Verdict(status, reason, positions, oldest[0] if oldest else None)


def _join(what: str, causes: list[str]) -> str:
    return f"{what} — {', '.join(causes)}" if causes else what
