"""``desk watch``: the live monitor without a window — a risk table on changes, a line per status change.

Runs until interrupted (Ctrl+C or SIGTERM), then stops cleanly: streams and exchange sessions
closed, "stopped" printed, exit 0. ``--json-lines`` prints one JSON object per snapshot and per
status change for scripts.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import queue
import signal
import sys
import threading
import time
from datetime import datetime
from typing import Any, TextIO, cast

from desk.commands._support import UserError
from desk.domain.finite import json_ready

TABLE_INTERVAL = 1.0  # at most one table per second


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "watch",
        description=(
            "Watch exchange accounts (or the demo venue) live: a compact risk table, worst first, "
            "whenever numbers change (at most once a second) and one line whenever an account's data "
            "turns live, delayed, stale or error, with the reason. Runs until Ctrl+C or SIGTERM."
        ),
        epilog="Exit codes: 0 stopped normally, 2 invalid input or nothing to watch, 1 internal error.",
    )
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--account", action="append", metavar="NAME",
                       help="watch this configured account (repeatable; default: all enabled accounts)")
    which.add_argument("--all", action="store_true", help="watch every enabled account (the default)")
    which.add_argument("--demo", dest="watch_demo", action="store_true",
                       help="watch the built-in demo venue (no keys, no network)")
    parser.add_argument("--scenario", metavar="S",
                        help="demo scenario: calm, flash-crash, squeeze, feed-loss, exchange-errors")
    parser.add_argument("--speed", type=float, metavar="X", help="demo time acceleration (e.g. 10)")
    parser.add_argument("--seed", type=int, metavar="N", help="demo random seed (same seed, same path)")
    parser.add_argument("--json-lines", action="store_true",
                        help="one JSON object per snapshot and per status change, for scripts")
    parser.add_argument("--verbose", "-v", action="store_true",
                        help="also show per account: data age, streams, request weight per minute")
    parser.add_argument("--target", type=float, metavar="R",
                        help="suggest what brings positions worse than margin ratio R back to R")
    parser.add_argument("--no-alerts", action="store_true",
                        help="do not raise alerts (by default they are printed, logged and sent to the "
                             "channels set in `desk config` alerts.* and `desk alerts channel`)")
    parser.set_defaults(handler=run)


def _build_runtime(args: argparse.Namespace) -> Any:
    from desk.services.runtime import NoAccountsError, Runtime

    demo = bool(getattr(args, "demo", False) or args.watch_demo)
    if not demo and (args.scenario or args.speed is not None or args.seed is not None):
        raise UserError("--scenario, --speed and --seed apply to the demo venue: add --demo")
    if args.speed is not None and not (math.isfinite(args.speed) and args.speed > 0):
        raise UserError(f"--speed must be a positive number, got {args.speed:g}")
    if args.target is not None and not (0 < args.target < 1):
        raise UserError(f"--target must be a margin ratio between 0 and 1 (e.g. 0.5), got {args.target:g}")
    if demo:
        from desk.exchanges.demo import SCENARIOS
        from desk.sanitize import quoted

        scenario = args.scenario or "calm"
        if scenario not in SCENARIOS:
            raise UserError(f"unknown demo scenario {quoted(scenario)}; "
                            f"choose one of: {', '.join(SCENARIOS)}")
        return Runtime.for_demo(scenario, seed=args.seed, speed=args.speed or 1.0, target=args.target)
    try:
        return Runtime.from_settings(accounts=args.account, target=args.target)
    except NoAccountsError as exc:
        if args.account:
            raise UserError(f"{exc}; see `desk accounts list`") from None
        raise UserError(
            "no exchange account is configured — add one with `desk accounts add NAME --venue ID`, "
            "or watch the built-in demo venue with `desk watch --demo`"
        ) from None


def run(args: argparse.Namespace) -> int:
    runtime = _build_runtime(args)
    out = cast(TextIO, ScreenSafe(sys.stdout, json_lines=args.json_lines))
    printer: Printer = JsonPrinter(out) if args.json_lines else TablePrinter(out, verbose=args.verbose)
    events: queue.Queue[object] = queue.Queue()
    stop = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    runtime.attach(events.put)
    if not args.no_alerts:
        _attach_alerts(runtime)
    clean = True
    try:
        printer.started(runtime)
        runtime.start()
        while not stop.is_set():
            try:
                event = events.get(timeout=0.2)
            except queue.Empty:
                printer.idle()
                continue
            printer.event(event)
    except BrokenPipeError:  # e.g. piped into `head`: stop quietly
        pass
    finally:
        clean = runtime.stop(timeout=10)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    with contextlib.suppress(BrokenPipeError):
        printer.stopped(clean)
    return 0


def _attach_alerts(runtime: Any) -> None:
    """Alerts ride on the runtime's bus; AlertRaised events reach the printer like any other."""
    from desk.services.alerts import attach_alerts

    try:
        attach_alerts(runtime)
    except ValueError as exc:  # inconsistent alerts.* settings
        with contextlib.suppress(Exception):
            runtime.stop(timeout=5)
        raise UserError(f"alert settings: {exc} — fix with `desk config set`, or use --no-alerts") from None


class ScreenSafe:
    """Everything `desk watch` writes passes here: it quotes exchange errors and names from
    venues and settings. The table gets :func:`desk.sanitize.for_user` (secrets masked, control
    characters escaped, layout kept); a JSON line is only redacted — JSON escapes control
    characters itself, and its strings stay whole."""

    def __init__(self, stream: TextIO, *, json_lines: bool) -> None:
        self.stream = stream
        self.json_lines = json_lines

    def write(self, text: str) -> int:
        from desk.sanitize import for_user, redact

        safe = redact(text) if self.json_lines else for_user(text, limit=None, multiline=True)
        return self.stream.write(safe)

    def flush(self) -> None:
        self.stream.flush()


# --- output ----------------------------------------------------------------------------------------

def _clock(t: float) -> str:
    return datetime.fromtimestamp(t).strftime("%H:%M:%S")


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = max(0.0, seconds)
    if seconds < 10:
        return f"{seconds:.1f}s"
    if seconds < 120:
        return f"{seconds:.0f}s"
    return f"{seconds / 60:.0f}m"


class Printer:
    def started(self, runtime: Any) -> None: ...

    def event(self, event: object) -> None: ...

    def idle(self) -> None: ...

    def stopped(self, clean: bool) -> None: ...


class TablePrinter(Printer):
    def __init__(self, out: TextIO, *, verbose: bool = False, interval: float = TABLE_INTERVAL):
        self.out = out
        self.verbose = verbose
        self.interval = interval
        self._pending: Any = None
        self._last_table = -math.inf
        self._shown_seq = -1

    def _write(self, text: str) -> None:
        self.out.write(text)
        self.out.flush()

    def started(self, runtime: Any) -> None:
        names = ", ".join(runtime.account_names)
        where = "the demo venue" if runtime.demo else "exchange accounts"
        self._write(f"watching {where}: {names} — Ctrl+C to stop\n")

    def event(self, event: object) -> None:
        from desk.services.alerts import AlertRaised
        from desk.services.snapshot import HistoryStatus, MonitorSnapshot, StatusChange

        if isinstance(event, StatusChange):
            old = event.old.value if event.old is not None else "start"
            reason = f" — {event.reason}" if event.reason else ""
            self._write(f"{_clock(event.at)}  {event.account}: {old} → {event.new.value}{reason}\n")
        elif isinstance(event, MonitorSnapshot):
            self._pending = event
            self.idle()
        elif isinstance(event, AlertRaised):
            from desk.notify.console import format_alert

            self._write(format_alert(event.alert, muted=event.muted) + "\n")
        elif isinstance(event, HistoryStatus):
            self._write(f"{_clock(event.at)}  {event.message}\n")
        else:
            self._alert_path(event)

    def _alert_path(self, event: object) -> None:
        """A remote alert channel failing or working again; an acknowledgement."""
        from desk.domain.alerts import Acknowledgement
        from desk.services.alerts import ChannelHealth

        if isinstance(event, ChannelHealth):
            state = "works again" if event.ok else f"FAILING — {event.reason}"
            if self.verbose or not event.ok:
                self._write(f"{_clock(event.at)}  alert channel {event.channel}: {state}\n")
        elif isinstance(event, Acknowledgement):
            what = "every repeating critical alert" if event.condition is None else "/".join(
                x for x in (event.account, event.symbol, event.leg) if x)
            self._write(f"{_clock(event.at)}  acknowledged from {event.source}: {what}\n")

    def idle(self) -> None:
        snap = self._pending
        now = time.monotonic()
        if snap is None or snap.seq == self._shown_seq or now - self._last_table < self.interval:
            return
        self._pending = None
        self._shown_seq = snap.seq
        self._last_table = now
        self._write(render_table(snap, verbose=self.verbose))

    def stopped(self, clean: bool) -> None:
        self._write("stopped\n" if clean else "stopped (some exchange sessions did not close in time)\n")


def render_table(snap: Any, *, verbose: bool = False) -> str:
    """The compact risk table of one snapshot, worst first (as `desk risk` orders it)."""
    from desk.domain import display
    from desk.domain.model import held_in_both_modes

    lines = [f"— {_clock(snap.at)} —"]
    headers = ["account", "symbol", "side", "size", "mark", "liq", "distance", "margin ratio", "data"]
    rows: list[list[str]] = []
    orders_read = any(p.protection is not None for p in snap.report.positions())
    if orders_read:  # issue 17: the stop verdict, where the accounts' orders were read
        headers.append("stop")

    def badness(p: Any) -> tuple[float, float]:
        ratio = -1.0 if p.margin_ratio is None else p.margin_ratio
        dist = p.signed_distance_to_liquidation
        return (-ratio, math.inf if dist is None else dist)

    # an instrument and leg held both cross and isolated (OKX) is two rows: say which is which
    held_twice = held_in_both_modes(p.key for p in snap.report.positions())

    def side_of(p: Any, *, hedge: bool = True) -> str:
        side = f"{p.side} (hedge)" if hedge and p.leg != "both" else p.side
        return f"{side} {p.margin_mode}" if p.key.instrument in held_twice else side

    for p in sorted(snap.report.positions(), key=badness):
        state = snap.positions.get(p.key)
        data = "?"
        if state is not None:
            data = state.status.value
            if state.status.value != "live" and state.mark_time is not None:
                data += f" {_age(snap.at - state.mark_time)}"
        side = side_of(p)
        dist = display.distance_with_state(p.signed_distance_to_liquidation, p.liquidatable)
        rows.append([p.account, p.symbol, side, display.quantity(p.contracts),
                     display.price(p.mark_price, p.tick_size),
                     display.price(p.liquidation_price, p.tick_size), dist,
                     display.margin_ratio(p.margin_ratio), data]
                    + ([p.protection.label if p.protection else "-"] if orders_read else []))
    if rows:
        widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(headers)]
        right = {3, 4, 5, 6, 7}

        def line(cells: list[str]) -> str:
            return "  ".join(c.rjust(w) if i in right else c.ljust(w)
                             for i, (c, w) in enumerate(zip(cells, widths, strict=True))).rstrip()

        lines.append(line(headers))
        lines.extend(line(r) for r in rows)
    else:
        lines.append("no open positions")
    for p in snap.report.positions():  # what to do, for every position worse than the goals
        from desk.domain.suggest import advice_text

        advice = advice_text(p.suggestions)
        if advice:
            lines.append(f"  {p.account} {p.symbol} {side_of(p, hedge=False)}: {advice}")
    for acc in snap.accounts:
        if verbose or acc.status.value != "live":
            text = f"  {acc.name} ({acc.venue}): {acc.status.value}"
            if acc.reason:
                text += f" — {acc.reason}"
            if verbose:
                age = None if acc.data_time is None else snap.at - acc.data_time
                mark_age = None if acc.oldest_mark_time is None else snap.at - acc.oldest_mark_time
                streams = "streaming" if acc.streaming else "polling"
                text += (f" | data {_age(age)} old, oldest mark {_age(mark_age)} | {streams}, "
                         f"{acc.stream_messages_per_min:.0f} msg/min | "
                         f"request weight {acc.request_weight_per_min:.0f}/min")
            lines.append(text)
    return "\n".join(lines) + "\n"


class JsonPrinter(Printer):
    def __init__(self, out: TextIO):
        self.out = out

    def _emit(self, doc: dict[str, Any]) -> None:
        self.out.write(json.dumps(json_ready(doc), separators=(",", ":"), allow_nan=False) + "\n")
        self.out.flush()

    def started(self, runtime: Any) -> None:
        self._emit({"type": "started", "at": time.time(), "demo": runtime.demo,
                    "accounts": list(runtime.account_names)})

    def event(self, event: object) -> None:
        from desk.services.alerts import AlertRaised
        from desk.services.snapshot import HistoryStatus, MonitorSnapshot, StatusChange

        if isinstance(event, StatusChange):
            self._emit({"type": "status", "at": event.at, "account": event.account,
                        "old": event.old.value if event.old else None, "new": event.new.value,
                        "reason": event.reason})
        elif isinstance(event, MonitorSnapshot):
            self._emit(snapshot_to_dict(event))
        elif isinstance(event, AlertRaised):
            from desk.notify.remote import alert_document

            doc = alert_document(event.alert)
            self._emit({**doc, "type": "alert", "at": event.alert.at, "muted": event.muted})
        elif type(event).__name__ == "ChannelHealth":
            state: Any = event
            self._emit({"type": "channel", "at": state.at, "channel": state.channel, "ok": state.ok,
                        "reason": state.reason})
        elif isinstance(event, HistoryStatus):
            health = event.health
            self._emit({"type": "history", "at": event.at, "recording": event.recording,
                        "message": event.message, "trouble": getattr(health, "trouble", None),
                        "queued": getattr(health, "queued", 0), "dropped": getattr(health, "dropped", 0),
                        "written_after": getattr(health, "written_after", 0)})

    def stopped(self, clean: bool) -> None:
        self._emit({"type": "stopped", "at": time.time(), "clean": clean})


def snapshot_to_dict(snap: Any) -> dict[str, Any]:
    from desk.formats.report import report_to_dict

    return {
        "type": "snapshot",
        "seq": snap.seq,
        "at": snap.at,
        "accounts": [
            {"name": a.name, "venue": a.venue, "status": a.status.value, "reason": a.reason,
             "data_time": a.data_time, "oldest_mark_time": a.oldest_mark_time, "demo": a.demo,
             "streaming": a.streaming, "stopped": a.stopped,
             "request_weight_per_min": a.request_weight_per_min,
             "stream_messages_per_min": a.stream_messages_per_min}
            for a in snap.accounts
        ],
        "positions": [
            {"account": k.account, "symbol": k.symbol, "leg": k.leg, "margin_mode": k.margin_mode,
             "status": s.status.value, "mark_time": s.mark_time, "reason": s.reason}
            for k, s in snap.positions.items()
        ],
        "report": report_to_dict(snap.report),
    }
