"""`desk export history | alerts` — the risk history or the alert log as CSV or JSON."""

from __future__ import annotations

import argparse
import sqlite3
import sys
from datetime import UTC, datetime
from typing import Any

from desk.commands._support import warn
from desk.sanitize import quoted

EPILOG = """\
Times: ISO 8601 dates or date-times (2026-11-20, 2026-11-20T18:30, 2026-11-20T18:30+01:00);
without an offset they are UTC; --to with a bare date includes that whole day.
Exported rows carry `at` (epoch seconds) and `time` (ISO 8601, UTC).
Examples:
  desk export history --account main --from 2026-11-20 -o main.csv
  desk export alerts --format json
  desk export history --demo
"""


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "export",
        description="Export desk's stored risk history or alert log.", epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=("history", "alerts"),
                        help="history: risk samples (account, pool and position rows); alerts: the alert log "
                             "with delivery attempts")
    parser.add_argument("--account", metavar="NAME", help="only this account")
    parser.add_argument("--symbol", metavar="SYMBOL",
                        help="history: only this position's rows, e.g. BTC/USDT:USDT")
    parser.add_argument("--kind", choices=("account", "pool", "position"), action="append",
                        help="history: only rows of this level (repeatable; default all)")
    parser.add_argument("--from", dest="since", metavar="ISO", help="from this time (inclusive)")
    parser.add_argument("--to", dest="until", metavar="ISO", help="up to this time (inclusive)")
    parser.add_argument("--format", choices=("csv", "json"),
                        help="output format (default: from the -o suffix, else csv)")
    parser.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of standard output")
    parser.add_argument("--demo", dest="export_demo", action="store_true",
                        help="the demo venue's history and alerts (what `desk watch --demo` and the "
                             "dashboard in demo mode record), kept apart from your accounts'")
    parser.set_defaults(handler=run)


def parse_time(text: str, option: str, *, end_of_day: bool = False) -> float:
    """ISO 8601 date or date-time (UTC when no offset is given) → epoch seconds.

    A bare date means the start of that day, or with ``end_of_day`` its last moment (so
    ``--to 2026-11-20`` includes the whole 20th)."""
    from desk.commands._support import UserError

    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise UserError(f"{option} {quoted(text)} is not a date or time — use ISO 8601, e.g. 2026-11-20 or "
                        "2026-11-20T18:30 (UTC unless an offset like +01:00 is given)") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    if end_of_day and len(value) == len("2026-11-20"):
        return moment.timestamp() + 86400 - 1e-6
    return moment.timestamp()


def run(args: argparse.Namespace) -> int:
    from desk.commands._support import UserError
    from desk.store.export import format_for, write_rows
    from desk.store.history import History, HistoryError, classify
    from desk.store.paths import desk_paths

    since = parse_time(args.since, "--from") if args.since else None
    until = parse_time(args.until, "--to", end_of_day=True) if args.until else None
    if since is not None and until is not None and since > until:
        raise UserError(f"--from {args.since} is after --to {args.until}")
    if args.what == "alerts" and (args.symbol or args.kind):
        raise UserError("--symbol and --kind apply to `desk export history` only")
    fmt = format_for(args.output, args.format)

    rows: list[dict[str, Any]] = []
    path = desk_paths().history_for(demo=bool(args.export_demo))
    if not path.exists():
        print(f"desk: no history yet ({path} does not exist); nothing to export", file=sys.stderr)
    else:
        try:
            history = History(path)
        except HistoryError as exc:
            raise UserError(str(exc)) from None
        try:
            if not history.available:
                health = history.health
                raise UserError(f"{path} cannot be read: {health.trouble} ({health.detail})")
            for problem in history.problems:
                warn(problem)
            if args.what == "history":
                rows = _history_rows(history, args, since, until)
            else:
                rows = [r.as_dict() for r in history.alerts(since=since, until=until, account=args.account)]
                if args.account and not rows:
                    _check_account(history, args.account, alerts=True)
        except sqlite3.DatabaseError as exc:
            raise UserError(f"{path} cannot be read: {classify(exc)} ({exc}); desk moves a corrupt history "
                            "aside the next time it records") from None
        finally:
            history.close()

    if args.output:
        try:
            write_rows(rows, args.output, fmt)
        except OSError as exc:
            raise UserError(f"cannot write {args.output}: {exc.strerror or exc}") from None
        print(f"desk: wrote {len(rows)} {args.what} rows to {args.output}", file=sys.stderr)
    else:
        write_rows(rows, sys.stdout, fmt)
    return 0


def _history_rows(history: Any, args: argparse.Namespace, since: float | None,
                  until: float | None) -> list[dict[str, Any]]:
    if args.account and args.account not in history.accounts():
        _check_account(history, args.account, alerts=False)
    kinds = tuple(args.kind) if args.kind else ("account", "pool", "position")
    if args.symbol:
        accounts = [args.account] if args.account else history.accounts()
        samples = [s for a in accounts for s in history.samples(account=a, symbol=args.symbol, since=since,
                                                                until=until)]
        samples.sort(key=lambda s: s.at)
    else:
        samples = history.all_samples(account=args.account, since=since, until=until, kinds=kinds)
    return [s.as_dict() for s in samples]


def _check_account(history: Any, account: str, *, alerts: bool) -> None:
    from desk.commands._support import UserError

    if alerts:
        known = sorted({r.alert.account for r in history.alerts() if r.alert.account})
    else:
        known = history.accounts()
    if account not in known:
        what = "alerts" if alerts else "history"
        raise UserError(f"no {what} for account {quoted(account)} — accounts with {what}: "
                        f"{', '.join(known) or 'none yet'}")
