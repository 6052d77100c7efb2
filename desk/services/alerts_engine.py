"""The alert rule engine: successive monitor snapshots in, alerts out. Pure logic, injected clock.

Rules: distance to liquidation, margin ratio (isolated positions), pool margin ratio (cross
pools), "cannot monitor" (stale data while positions are open), "numbers disagree" (our
liquidation price vs the exchange's) and "position gone while critical". A position that is the
first leg of a hedge to break (issue 21) says so in its own distance alert: one condition, one alert.

Hygiene, so an alert always arrives and never spams:

* hysteresis — a level re-arms only after the value recovers past its threshold by
  ``rearm_margin`` × threshold;
* cooldown — at most one alert per subject and level per ``cooldown_seconds``; a level entered
  during its cooldown is held back and delivered when the cooldown ends, if still true;
* escalation — warning → critical fires at once (critical has its own cooldown);
* digest — more than ``digest_threshold`` alerts from one evaluation become one digest;
* snooze and quiet hours mute warnings (logged, not delivered); critical overrides them, and
  when the mute ends one summary says what is still wrong;
* restart — the first evaluation gives a single summary of the current state, not a burst.

The engine is not thread-safe by itself; :class:`desk.services.alerts.AlertService` serialises
calls to it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING

from desk.domain import display
from desk.domain.alerts import Alert, AlertLevel
from desk.domain.model import PositionKey, held_in_both_modes
from desk.domain.protection import Verdict, loss_text, verdict_text
from desk.domain.report import AccountRisk, PositionRisk, Suggestion
from desk.domain.suggest import advice_text
from desk.services.alerts_config import AlertConfig, Thresholds
from desk.services.snapshot import DataStatus, MonitorSnapshot

if TYPE_CHECKING:
    from desk.domain.book import Hedge

_RANK = {None: 0, AlertLevel.INFO: 1, AlertLevel.WARNING: 2, AlertLevel.CRITICAL: 3}

RISK_RULES = ("distance", "margin_ratio", "pool_margin_ratio")
_POSITION_RULES = ("distance", "margin_ratio", "disagree", "unprotected")
# A position that was critical this recently and then vanishes was probably liquidated (it may
# have bounced into the warning band between two reads just before the venue closed it).
GONE_WINDOW = 15 * 60.0

# (rule, account, symbol or pool, leg)
TrackKey = tuple[str, str, str | None, str | None]


def rank(level: AlertLevel | None) -> int:
    return _RANK[level]


@dataclass(frozen=True, slots=True)
class Emission:
    """An alert the engine raised; ``muted`` says why it is logged but not delivered."""

    alert: Alert
    muted: str | None = None

    @property
    def deliver(self) -> bool:
        return self.muted is None


@dataclass(slots=True)
class _Track:
    """The hysteresis state of one rule on one subject."""

    level: AlertLevel | None = None
    pending: AlertLevel | None = None  # entered during its cooldown; delivered when it ends
    latest: Alert | None = None  # the alert describing the current state
    announced: bool = False  # an alert about this state went out (so its recovery is news)


@dataclass(slots=True)
class _Escalation:
    """Reminders of a critical condition until it is acknowledged or stops being critical."""

    first_at: float
    last_at: float
    sent: int = 0  # reminders sent so far
    acked: bool = False


@dataclass(frozen=True, slots=True)
class _Reading:
    """One rule's reading on one subject in one evaluation."""

    key: TrackKey
    level: AlertLevel | None
    alert: Alert | None  # describes the reading at ``level`` (None when level is None)
    # the position it was read on: a condition is shared by twins, each twin's own level is not
    position: PositionKey | None = None


def _worst_per_key(readings: list[_Reading]) -> list[_Reading]:
    """One reading per condition, the worst. An account may hold one instrument and leg both cross
    and isolated (OKX): both positions read into the same condition, and the safe one must neither
    hide the other's alert nor announce it recovered; the alert names the margin mode it is about."""
    worst: dict[TrackKey, _Reading] = {}
    for r in readings:
        held = worst.get(r.key)
        if held is None or rank(r.level) > rank(held.level):
            worst[r.key] = r
    return list(worst.values())


def _own_levels(readings: Iterable[_Reading]) -> dict[PositionKey, AlertLevel | None]:
    """Each position's worst level of its own risk readings (before twins share a condition)."""
    own: dict[PositionKey, AlertLevel | None] = {}
    for r in readings:
        if r.position is not None and (r.position not in own or rank(r.level) > rank(own[r.position])):
            own[r.position] = r.level
    return own


def level_for(
    value: float,
    current: AlertLevel | None,
    warning: float | None,
    critical: float | None,
    *,
    higher_is_worse: bool,
    rearm: float,
) -> AlertLevel | None:
    """The level a value is at, given the current one (hysteresis).

    A level holds until the value recovers past its threshold by ``rearm`` × threshold.
    """

    def beyond(threshold: float) -> bool:
        return value >= threshold if higher_is_worse else value <= threshold

    def recovered(threshold: float) -> bool:
        return value < threshold * (1 - rearm) if higher_is_worse else value > threshold * (1 + rearm)

    if critical is not None:
        if beyond(critical):
            return AlertLevel.CRITICAL
        if current is AlertLevel.CRITICAL and not recovered(critical):
            return AlertLevel.CRITICAL
    if warning is not None:
        if beyond(warning):
            return AlertLevel.WARNING
        if rank(current) >= rank(AlertLevel.WARNING) and not recovered(warning):
            return AlertLevel.WARNING
    return None


def _ratio(x: float | None) -> str:
    return display.margin_ratio(x)


def _pct(x: float | None) -> str:
    return display.percent(x)


def _price(x: float | None, tick: float | None = None) -> str:
    return display.price(x, tick)


def _advice(suggestions: Sequence[Suggestion]) -> str:
    """The engine's fixes for the subject (back to the distance and ratio goals), as a sentence."""
    text = advice_text(suggestions)
    return f" {text}" if text else ""


_CLEARED = {
    "distance": "back beyond the distance-to-liquidation threshold",
    "margin_ratio": "margin ratio back below its threshold",
    "pool_margin_ratio": "pool margin ratio back below its threshold",
    "stale": "fresh data again: monitoring resumed",
    "disagree": "desk's liquidation price agrees with the exchange's again",
}


def _recovered(was: Alert, now: float) -> Alert:
    """The "recovered" event for a condition that cleared (``was``: the alert that described it)."""
    what = _CLEARED.get(was.rule, f"{was.rule} condition cleared")
    return Alert(
        at=now, rule="recovered", level=AlertLevel.INFO,
        title=f"Recovered: {was.subject or was.account or was.rule} — {what}",
        body=f"No longer true (was {was.level.value}): {was.title}.",
        account=was.account, symbol=was.symbol, leg=was.leg, clears=was.rule,
    )


def _position_line(p: PositionRisk) -> str:
    return (
        f"{p.account}: {p.side} {display.quantity(p.contracts)} {p.symbol} ({p.margin_mode}) · mark "
        f"{_price(p.mark_price, p.tick_size)} · liquidation {_price(p.liquidation_price, p.tick_size)}"
    )


@dataclass
class AlertEngine:
    config: AlertConfig
    clock: Callable[[], float]
    _tracks: dict[TrackKey, _Track] = field(default_factory=dict)
    _cooldowns: dict[tuple[object, ...], float] = field(default_factory=dict)
    _last: MonitorSnapshot | None = None
    # positions last seen critical, kept until a good read shows them again or shows them gone
    # (twins apart: one may be liquidated while the other stays open)
    _critical_seen: dict[PositionKey, tuple[PositionRisk, float]] = field(default_factory=dict)
    # instruments held both cross and isolated in the last snapshot: their alerts name the mode
    _twins: frozenset[tuple[str, str, str]] = frozenset()
    _started: bool = False
    _snooze_all: float | None = None
    _snooze_subjects: dict[str, float] = field(default_factory=dict)
    _muted_since: float | None = None  # a mute is in force and has held something back
    _escalations: dict[TrackKey, _Escalation] = field(default_factory=dict)

    # ----------------------------------------------------------------- user controls

    def snooze(self, until: float | None, subject: str | None = None) -> None:
        """Mute warnings until ``until`` (epoch seconds; None lifts it), for all or one subject."""
        if subject is None:
            self._snooze_all = until
        elif until is None:
            self._snooze_subjects.pop(subject, None)
        else:
            self._snooze_subjects[subject] = until

    def update_config(self, config: AlertConfig) -> None:
        self.config = config

    def acknowledge(
            self, condition: tuple[str, str | None, str | None, str | None] | None = None) -> list[Alert]:
        """Stop the reminders of one critical condition (``Alert.condition``), or of all (None).

        Returns the alerts describing what was acknowledged (nothing when it was not repeating).
        The condition repeats again only after it recovers and turns critical anew.
        """
        acked = []
        for key, escalation in self._escalations.items():
            if (condition is None or key == tuple(condition)) and not escalation.acked:
                escalation.acked = True
                track = self._tracks.get(key)
                if track is not None and track.latest is not None:
                    acked.append(track.latest)
        return acked

    def repeating(self) -> list[Alert]:
        """The critical conditions whose reminders are running (not acknowledged)."""
        return [t.latest for k, e in self._escalations.items()
                if not e.acked and (t := self._tracks.get(k)) is not None and t.latest is not None]

    # ----------------------------------------------------------------- entry points

    def evaluate(self, snapshot: MonitorSnapshot, now: float | None = None) -> list[Emission]:
        """Run every rule on a new snapshot."""
        now = self.clock() if now is None else now
        self._last = snapshot
        if not self.config.enabled:
            return []
        twins_before = self._twins
        self._twins = held_in_both_modes(p.key for p in snapshot.report.positions())
        risk = list(self._risk_readings(snapshot))
        readings = _worst_per_key(risk + self._disagree_readings(snapshot))
        readings += self._stale_readings(snapshot, now)
        # a twin gone since the last snapshot is named by its mode, though its sibling is now alone
        gone = self._gone(snapshot, now, twins_before | self._twins)
        out = self._process(readings, gone, now, present=self._present_keys(snapshot))
        self._remember_critical(snapshot, now, _own_levels(risk))
        return out

    def tick(self, now: float | None = None) -> list[Emission]:
        """Re-check time-driven rules without a new snapshot: stale data, cooldowns, mute ends.

        Call it every second or so; "cannot monitor" must fire even when the monitor is silent.
        """
        now = self.clock() if now is None else now
        if not self.config.enabled or self._last is None:
            return []
        readings = self._stale_readings(self._last, now)
        return self._process(readings, [], now, present=None)

    # ----------------------------------------------------------------- rules

    def _risk_readings(self, snap: MonitorSnapshot) -> Iterable[_Reading]:
        rearm = self.config.rearm_margin
        breaking = _hedges_breaking_first(snap)
        for account in snap.report.accounts:
            for p in account.positions:
                th = self.config.thresholds_for(p.account, p.symbol)
                key: TrackKey = ("distance", p.account, p.symbol, p.leg)
                hedges = breaking.get((p.account, p.symbol, p.leg), ())
                if p.liquidatable:
                    # The distance is |mark − liquidation| ÷ mark: once the mark is beyond the
                    # liquidation price it grows again, so it must not decide the level here.
                    yield _Reading(key, AlertLevel.CRITICAL, self._past_alert(p, snap.at, hedges), p.key)
                elif p.distance_to_liquidation is not None and math.isfinite(p.distance_to_liquidation):
                    level = level_for(
                        p.distance_to_liquidation, self._level(key), th.distance_warning,
                        th.distance_critical, higher_is_worse=False, rearm=rearm,
                    )
                    alert = self._distance_alert(p, level, th, snap.at, hedges) if level else None
                    yield _Reading(key, level, alert, p.key)
                ratio = p.margin_ratio
                if p.margin_mode == "isolated" and ratio is not None and not math.isnan(ratio):
                    key = ("margin_ratio", p.account, p.symbol, p.leg)
                    level = level_for(
                        ratio, self._level(key), th.margin_ratio_warning,
                        th.margin_ratio_critical, higher_is_worse=True, rearm=rearm,
                    )
                    yield _Reading(key, level, self._ratio_alert(p, level, th, snap.at) if level else None,
                                   p.key)
                if self.config.unprotected_notional > 0:
                    yield self._unprotected_reading(p, snap.at)
            yield from self._pool_readings(account, snap.at)

    def _unprotected_reading(self, p: PositionRisk, at: float) -> _Reading:
        """A position above ``unprotected_notional`` whose stops cover nothing before liquidation.

        Only where the account's orders were read: without them desk does not know (no alert)."""
        key: TrackKey = ("unprotected", p.account, p.symbol, p.leg)
        pr = p.protection
        limit = self.config.unprotected_notional
        if pr is None or pr.coverage > 0 or abs(p.notional) < limit:
            return _Reading(key, None, None)
        alert = Alert(
            at=at, rule="unprotected", level=AlertLevel.WARNING,
            title=f"{self._named(p)}: {verdict_text(pr, p.tick_size)}",
            body=(f"{_position_line(p)} · notional {display.money(abs(p.notional), p.settle)} "
                  f"(warning above {display.money(limit, p.settle)}) — no stop fires before liquidation; "
                  f"{loss_text(pr, p.settle)}."),
            account=p.account, symbol=p.symbol, leg=p.leg, value=abs(p.notional), threshold=limit,
        )
        return _Reading(key, AlertLevel.WARNING, alert)

    def _pool_readings(self, account: AccountRisk, at: float) -> Iterable[_Reading]:
        th = self.config.thresholds_for(account.name)
        for pool in account.pools:
            cross = [p for p in account.positions if p.margin_mode == "cross" and p.settle == pool.settle]
            if not cross or pool.margin_ratio is None or math.isnan(pool.margin_ratio):
                continue  # an exhausted pool (ratio inf) is the most critical state: keep it
            key: TrackKey = ("pool_margin_ratio", account.name, f"{pool.settle} pool", None)
            level = level_for(
                pool.margin_ratio, self._level(key), th.margin_ratio_warning, th.margin_ratio_critical,
                higher_is_worse=True, rearm=self.config.rearm_margin,
            )
            alert = None
            if level:
                limit = th.margin_ratio_critical if level is AlertLevel.CRITICAL else th.margin_ratio_warning
                alert = Alert(
                    at=at, rule="pool_margin_ratio", level=level,
                    title=(f"{account.name}: {pool.settle} cross pool margin ratio "
                           f"{_ratio(pool.margin_ratio)}"),
                    body=(
                        f"The {pool.settle} cross-margin pool of {account.name} is at margin ratio "
                        f"{_ratio(pool.margin_ratio)} (100 % = liquidation of every position in it; "
                        f"{level.value} at {_pct(limit)}). {len(cross)} position(s): "
                        + ", ".join(p.symbol for p in cross) + "." + _advice(pool.suggestions)
                    ),
                    account=account.name, symbol=f"{pool.settle} pool",
                    value=pool.margin_ratio, threshold=limit,
                )
            yield _Reading(key, level, alert)

    def _distance_alert(self, p: PositionRisk, level: AlertLevel, th: Thresholds, at: float,
                        hedges: Sequence[Hedge] = ()) -> Alert:
        assert p.distance_to_liquidation is not None
        limit = th.distance_critical if level is AlertLevel.CRITICAL else th.distance_warning
        return Alert(
            at=at, rule="distance", level=level,
            title=(f"{self._named(p)}: {display.distance(p.signed_distance_to_liquidation)} "
                   "from liquidation"),
            body=(f"{_position_line(p)} ({level.value} at {_pct(limit)})." + _hedge_note(hedges)
                  + _advice(p.suggestions)),
            account=p.account, symbol=p.symbol, leg=p.leg,
            value=p.distance_to_liquidation, threshold=limit,
        )

    def _past_alert(self, p: PositionRisk, at: float, hedges: Sequence[Hedge] = ()) -> Alert:
        return Alert(
            at=at, rule="distance", level=AlertLevel.CRITICAL,
            title=f"{self._named(p)}: {display.PAST_LIQUIDATION} — at or past its liquidation price",
            body=(
                f"{_position_line(p)} · distance {display.distance(p.signed_distance_to_liquidation)} · "
                f"margin ratio {_ratio(p.margin_ratio)} (100 % = liquidation): "
                "the exchange may liquidate this position at any moment." + _hedge_note(hedges)
                + _advice(p.suggestions)
            ),
            # the distance rule's own figure: the signed distance (negative past liquidation; finite,
            # unlike an exhausted margin ratio, so JSON outputs can carry it), at or below 0
            account=p.account, symbol=p.symbol, leg=p.leg, value=p.signed_distance_to_liquidation,
            threshold=0.0,
        )

    def _ratio_alert(self, p: PositionRisk, level: AlertLevel, th: Thresholds, at: float) -> Alert:
        assert p.margin_ratio is not None
        limit = th.margin_ratio_critical if level is AlertLevel.CRITICAL else th.margin_ratio_warning
        return Alert(
            at=at, rule="margin_ratio", level=level,
            title=f"{self._named(p)}: margin ratio {_ratio(p.margin_ratio)}",
            body=(
                f"{_position_line(p)} · margin ratio {_ratio(p.margin_ratio)} (100 % = liquidation; "
                f"{level.value} at {_pct(limit)})." + _advice(p.suggestions)
            ),
            account=p.account, symbol=p.symbol, leg=p.leg, value=p.margin_ratio, threshold=limit,
        )

    def _disagree_readings(self, snap: MonitorSnapshot) -> list[_Reading]:
        """Ours vs the exchange's liquidation price (ARCHITECTURE rule 4; risk-math.md §7.7).

        The monitor compares them once per account read, both at that read's inputs
        (:class:`~desk.services.snapshot.ExchangeCheck`); this rule only reads the verdict. A
        position with no verdict but an exchange figure (a stream just changed it) keeps its state
        until the next read.
        """
        out = []
        for p in snap.report.positions():
            state = snap.positions.get(p.key)
            check = state.exchange_check if state is not None else None
            key: TrackKey = ("disagree", p.account, p.symbol, p.leg)
            if check is None:
                if p.reported_liquidation_price is None:
                    out.append(_Reading(key, None, None))  # nothing to compare
                continue
            level = AlertLevel.WARNING if check.disagrees else None
            alert = None
            if level:
                if check.gap_ticks is not None:
                    gap_text = f"{check.gap_ticks:,.1f} ticks (tolerance {check.tolerance})"
                elif check.gap_relative is not None:
                    gap_text = f"{_pct(check.gap_relative)} (tolerance {check.tolerance})"
                else:
                    gap_text = "desk finds no liquidation price at all"
                read_at = datetime.fromtimestamp(check.observed_at).strftime("%H:%M:%S")
                alert = Alert(
                    at=snap.at, rule="disagree", level=level,
                    title=f"{self._named(p)}: liquidation price differs from the exchange's",
                    body=(
                        f"{p.account}: at the account read of {read_at} the exchange reports "
                        f"{_price(check.theirs, p.tick_size)}; desk computes "
                        f"{_price(check.ours_at_read, p.tick_size)} from the same marks and balances — "
                        f"a gap of {gap_text}. Check the margin mode, tiers and "
                        "wallet balance; trust the more conservative figure until they agree."
                    ),
                    account=p.account, symbol=p.symbol, leg=p.leg, value=check.ours_at_read,
                    threshold=check.theirs,
                )
            out.append(_Reading(key, level, alert))
        return out

    def _stale_readings(self, snap: MonitorSnapshot, now: float) -> list[_Reading]:
        out = []
        open_positions: dict[str, int] = {}
        for p in snap.report.positions():
            open_positions[p.account] = open_positions.get(p.account, 0) + 1
        for state in snap.accounts:
            key: TrackKey = ("stale", state.name, None, None)
            count = open_positions.get(state.name, 0)
            times = [t for t in (state.data_time, state.oldest_mark_time) if t is not None]
            if not count or not times:
                out.append(_Reading(key, None, None))
                continue
            age = now - min(times)
            th = self.config.thresholds_for(state.name)
            level = AlertLevel.CRITICAL if age >= th.stale_seconds else None
            alert = None
            if level:
                why = f" Reason: {state.reason}" if state.reason else ""
                alert = Alert(
                    at=now, rule="stale", level=level,
                    title=f"Cannot monitor {state.name}: data is {age:.0f} s old",
                    body=(
                        f"{count} open position(s) on {state.name} ({state.venue}) are not being watched: "
                        f"the newest complete data is {age:.0f} s old (limit {th.stale_seconds:g} s, "
                        f"status {state.status.value}).{why} Check the exchange yourself until desk "
                        "reconnects."
                    ),
                    account=state.name, value=age, threshold=th.stale_seconds,
                )
            out.append(_Reading(key, level, alert))
        return out

    def _named(self, p: PositionRisk, twins: frozenset[tuple[str, str, str]] | None = None) -> str:
        """"BTC/USDT:USDT long", with "isolated"/"cross" where the twin beside it needs telling apart."""
        twinned = p.key.instrument in (self._twins if twins is None else twins)
        return f"{p.symbol} {p.side} {p.margin_mode}" if twinned else f"{p.symbol} {p.side}"

    def _remember_critical(self, snap: MonitorSnapshot, now: float,
                           own: Mapping[PositionKey, AlertLevel | None]) -> None:
        """Track positions critical within GONE_WINDOW that have not recovered out of the warning band.

        Each position by its own readings (``own``): of twins sharing a condition, the safe one is
        never taken for critical (its closing is no liquidation)."""
        critical_pools = {
            (k[1], k[2]) for k, t in self._tracks.items()
            if k[0] == "pool_margin_ratio" and t.level is AlertLevel.CRITICAL
        }
        for p in snap.report.positions():
            level = own.get(p.key)
            critical = level is AlertLevel.CRITICAL or (
                p.margin_mode == "cross" and (p.account, f"{p.settle} pool") in critical_pools)
            seen = self._critical_seen.get(p.key)
            if critical:
                self._critical_seen[p.key] = (p, now)
            elif seen is not None and level is not None and now - seen[1] <= GONE_WINDOW:
                self._critical_seen[p.key] = (p, seen[1])  # fell back to warning: still at risk
            else:
                self._critical_seen.pop(p.key, None)

    def _gone(self, snap: MonitorSnapshot, now: float,
              twins: frozenset[tuple[str, str, str]]) -> list[tuple[PositionKey, Alert]]:
        """Positions critical within GONE_WINDOW (and still at warning or worse when last seen)
        that a good read of their account no longer shows.

        A read that failed (stale, error) proves nothing: the position stays on the list until
        a good read shows it again or shows it gone.
        """
        if not self._critical_seen:
            return []
        now_keys = {p.key for p in snap.report.positions()}
        reported = {a.name for a in snap.report.accounts}
        states = {s.name: s for s in snap.accounts}
        out = []
        for key, (p, critical_at) in list(self._critical_seen.items()):
            if key in now_keys:
                continue
            if now - critical_at > GONE_WINDOW:
                del self._critical_seen[key]
                continue
            state = states.get(p.account)
            if state is None or state.status in (DataStatus.STALE, DataStatus.ERROR) \
                    or p.account not in reported:
                continue
            del self._critical_seen[key]
            # a stop that closed the whole position before liquidation was its likelier end
            stop = p.protection.effective_stop_price if (
                p.protection is not None and p.protection.verdict is Verdict.PROTECTED) else None
            ending = "probably liquidated" if stop is None else "closed by its stop or liquidated"
            stopped = "" if stop is None else (
                f" Its stop at {_price(stop, p.tick_size)} covered the whole position and fires before "
                "liquidation: most likely it filled.")
            out.append((key, Alert(
                at=now, rule="gone", level=AlertLevel.CRITICAL,
                title=f"{self._named(p, twins)} is gone — {ending}",
                body=(
                    f"{p.account}: the {p.side} {display.quantity(p.contracts)} {p.symbol} position was "
                    "critical "
                    f"(mark {_price(p.mark_price, p.tick_size)}, liquidation "
                    f"{_price(p.liquidation_price, p.tick_size)}) and is no "
                    f"longer open.{stopped} Check the exchange's order and liquidation history."
                ),
                account=p.account, symbol=p.symbol, leg=p.leg,
                value=p.mark_price, threshold=p.liquidation_price,
            )))
        return out

    # ----------------------------------------------------------------- hygiene

    def _level(self, key: TrackKey) -> AlertLevel | None:
        track = self._tracks.get(key)
        return track.level if track else None

    @staticmethod
    def _cooldown_key(key: TrackKey) -> tuple[object, ...]:
        rule, account, symbol, leg = key
        # The risk rules share one cooldown per position: one alert per position per half hour.
        family = "risk" if rule in RISK_RULES else rule
        return (family, account, symbol, leg)

    def _cooling(self, key: TrackKey, level: AlertLevel, now: float) -> bool:
        last = self._cooldowns.get((*self._cooldown_key(key), level))
        return last is not None and now - last < self.config.cooldown_seconds

    def _stamp(self, key: TrackKey, level: AlertLevel, now: float) -> None:
        # Firing a level also covers the levels below it (a critical implies the warning).
        for lv in (AlertLevel.WARNING, AlertLevel.CRITICAL):
            if rank(lv) <= rank(level):
                self._cooldowns[(*self._cooldown_key(key), lv)] = now

    def _present_keys(self, snap: MonitorSnapshot) -> set[TrackKey]:
        keys: set[TrackKey] = set()
        for p in snap.report.positions():
            keys.update((rule, p.account, p.symbol, p.leg) for rule in _POSITION_RULES)
        for a in snap.report.accounts:
            keys.update(("pool_margin_ratio", a.name, f"{pool.settle} pool", None) for pool in a.pools)
        keys.update(("stale", s.name, None, None) for s in snap.accounts)
        return keys

    def _mute_reason(self, alert: Alert, now: float) -> str | None:
        if alert.level is AlertLevel.CRITICAL and self.config.critical_overrides_quiet:
            return None
        if self._snooze_all is not None and now < self._snooze_all:
            return "snoozed"
        until = self._snooze_subjects.get(alert.subject)
        if until is not None and now < until:
            return f"{alert.subject} snoozed"
        quiet = self.config.quiet_hours
        if quiet is not None and quiet.contains(now, self.config.tz):
            return f"quiet hours {quiet}"
        return None

    def _any_mute(self, now: float) -> bool:
        if self._snooze_all is not None and now < self._snooze_all:
            return True
        if any(now < until for until in self._snooze_subjects.values()):
            return True
        quiet = self.config.quiet_hours
        return quiet is not None and quiet.contains(now, self.config.tz)

    def _process(
        self, readings: list[_Reading], gone: list[tuple[PositionKey, Alert]], now: float,
        present: set[TrackKey] | None
    ) -> list[Emission]:
        fired: list[Alert] = []
        recovered: list[Alert] = []
        for r in readings:
            track = self._tracks.setdefault(r.key, _Track())
            old, was = track.level, track.latest
            track.level, track.latest = r.level, r.alert
            if r.level is None and track.announced and was is not None:
                track.announced = False
                recovered.append(_recovered(was, now))
            if rank(r.level) < rank(track.pending):
                track.pending = None
            if r.level is None or rank(r.level) <= rank(old):
                continue
            if self._started and self._cooling(r.key, r.level, now):
                track.pending = r.level
                continue
            assert r.alert is not None
            track.pending = None
            track.announced = True
            self._stamp(r.key, r.level, now)
            self._start_escalation(r.key, r.level, now)
            fired.append(r.alert)
        if present is not None:
            for key in [k for k in self._tracks if k not in present]:
                del self._tracks[key]
        fired += self._release_pending(now, skip={id(a) for a in fired})
        for position, alert in gone:
            cooldown = ("gone", *position, AlertLevel.CRITICAL)  # twins apart
            last = self._cooldowns.get(cooldown)
            if last is None or now - last >= self.config.cooldown_seconds:
                self._cooldowns[cooldown] = now
                fired.append(alert)

        if not self._started:
            self._started = True
            summary = self._summary(now, "desk started", "summary")
            return [self._gate(summary, now)] if summary else []
        reminders = self._remind(now)

        out: list[Emission] = []
        if len(fired) > self.config.digest_threshold:
            out.append(self._gate(self._digest(fired, now), now))
        else:
            out.extend(self._gate(a, now) for a in fired)

        # never muted: a recovery only takes back what is already on screen
        out.extend(Emission(a) for a in recovered)
        out.extend(reminders)  # never digested: each reminder replaces its own notification
        muting = self._any_mute(now)
        if any(e.muted for e in out) and self._muted_since is None:
            self._muted_since = now
        if not muting and self._muted_since is not None:
            self._muted_since = None
            summary = self._summary(now, "mute ended", "summary")
            if summary:
                out.append(Emission(summary))
        return out

    def _release_pending(self, now: float, skip: set[int]) -> list[Alert]:
        out = []
        for key, track in self._tracks.items():
            if track.pending is None or track.latest is None or id(track.latest) in skip:
                continue
            if rank(track.level) < rank(track.pending):
                track.pending = None
                continue
            if self._cooling(key, track.pending, now):
                continue
            level, track.pending = track.pending, None
            track.announced = True
            self._stamp(key, level, now)
            self._start_escalation(key, level, now)
            out.append(replace(track.latest, at=now))
        return out

    def _start_escalation(self, key: TrackKey, level: AlertLevel, now: float) -> None:
        if level is AlertLevel.CRITICAL and key not in self._escalations:
            self._escalations[key] = _Escalation(first_at=now, last_at=now)

    def _remind(self, now: float) -> list[Emission]:
        """Reminders due now; a condition no longer critical (recovered, back to warning, gone)
        ends its reminders."""
        for key in [k for k in self._escalations if self._level(k) is not AlertLevel.CRITICAL]:
            del self._escalations[key]
        out = []
        for key, escalation in self._escalations.items():
            track = self._tracks[key]
            due = self.config.next_repeat(escalation.first_at, escalation.sent, escalation.last_at)
            if escalation.acked or track.latest is None or due is None or now < due:
                continue
            escalation.sent += 1
            escalation.last_at = now
            minutes = (now - escalation.first_at) / 60
            reminder = replace(
                track.latest, at=now, repeat=escalation.sent,
                title=f"Still critical after {minutes:.0f} min: {track.latest.title}",
                body=(track.latest.body + f"\nReminder {escalation.sent}: not acknowledged yet — "
                      "acknowledge it from the notification, the tray, the alert log or `desk alerts ack` "
                      "to stop the reminders."),
            )
            out.append(self._gate(reminder, now))
        return out

    def _gate(self, alert: Alert, now: float) -> Emission:
        return Emission(alert, self._mute_reason(alert, now))

    def _digest(self, alerts: list[Alert], now: float) -> Alert:
        top = max((a.level for a in alerts), key=rank)
        critical = sum(a.level is AlertLevel.CRITICAL for a in alerts)
        return Alert(
            at=now, rule="digest", level=top,
            title=f"{len(alerts)} alerts ({critical} critical)",
            body="\n".join(f"[{a.level.value}] {a.subject or a.account or ''}: {a.title}" for a in alerts),
        )

    def _summary(self, now: float, why: str, rule: str) -> Alert | None:
        """One alert describing everything at warning or worse right now."""
        current = [
            t.latest for t in self._tracks.values()
            if t.latest is not None and rank(t.level) >= rank(AlertLevel.WARNING)
        ]
        if not current:
            return None
        current.sort(key=lambda a: (-rank(a.level), a.subject, a.rule))
        for key, track in self._tracks.items():
            if track.level is not None and track.latest is not None:
                self._stamp(key, track.level, now)
                self._start_escalation(key, track.level, now)
                track.pending = None
                track.announced = True
        top = current[0].level
        return Alert(
            at=now, rule=rule, level=top,
            title=f"{len(current)} risk condition(s) need attention ({why})",
            body="\n".join(f"[{a.level.value}] {a.title}" for a in current),
        )


# ---------------------------------------------------------------------------- hedges (issue 21)


def _hedges_breaking_first(snap: MonitorSnapshot) -> dict[tuple[str, str, str], list[Hedge]]:
    """The hedges (a long and a short of one underlying across accounts, or perp against spot) by
    the position that breaks first in each — :func:`desk.domain.book.find_hedges` on the
    snapshot's report. That position's own distance alert tells the hedge: the same leg at the
    same distance and thresholds is one condition, not a second alert per pairing (which pushed
    the alerts that matter into a digest)."""
    # The book brings numpy: loaded with the first snapshot, not with the window, which imports
    # this module for its alert levels (issue 18).
    from desk.domain.book import book_legs, find_hedges

    out: dict[tuple[str, str, str], list[Hedge]] = {}
    for h in find_hedges(book_legs(snap.portfolio, snap.report.positions())):
        leg = h.breaking
        if leg is not None and h.survivor is not None:
            out.setdefault((leg.account, leg.symbol, leg.leg), []).append(h)
    return out


def _hedge_note(hedges: Sequence[Hedge]) -> str:
    """" It hedges …: at BTC 64,760 the … is liquidated; the … of 2 BTC is then unhedged." — what
    goes naked when this position goes."""
    if not hedges:
        return ""
    said = " ".join(f"Hedge of {display.quantity(h.hedged_coin, h.underlying)}: long {h.long.label} "
                    f"against short {h.short.label}. {h.text()[0].upper()}{h.text()[1:]}." for h in hedges)
    return f" {said} See the Book tab for the margin to move."
