"""``desk alerts``: the alert log, acknowledgements, test messages and the remote channels.

  desk alerts list [--hours H] [--demo]          recent alerts, what each channel did, acknowledgements
  desk alerts ack [ID] [--demo]                  stop the reminders of a critical alert (all without ID)
  desk alerts test [--channel NAME]              send a test message to every channel, report each
  desk alerts channel add NAME [--level L] …     a phone or chat channel; its URL goes to the keyring
  desk alerts channel list | remove NAME

A running ``desk watch`` or dashboard picks an acknowledgement up from the alert log within a
second. A channel URL (it holds a token) is read from a prompt or from standard input — never from
the command line, where other users and the shell history would see it.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
import time
from datetime import datetime
from typing import Any

from desk.commands._support import UserError
from desk.sanitize import for_user, masked_url

EXIT_CHANNEL_FAILED = 3

EPILOG = """\
Channel URLs are Apprise URLs (https://github.com/caronc/apprise/wiki), for example:
  ntfys://ntfy.sh/MY_TOPIC            ntfy://127.0.0.1:8080/desk (self-hosted ntfy)
  tgram://BOT_TOKEN/CHAT_ID           discord://WEBHOOK_ID/WEBHOOK_TOKEN
  slack://TOKEN_A/TOKEN_B/TOKEN_C     pover://USER_KEY@APP_TOKEN
  matrixs://USER:PASSWORD@HOST/#ROOM  gotifys://HOST/APP_TOKEN
  mailtos://USER:PASSWORD@HOST?to=ME@EXAMPLE.ORG   jsons://HOST/PATH (a JSON POST)
Examples:
  desk alerts channel add phone --level critical --quiet-hours 23:00-07:00   (asks for the URL)
  printf '%s\\n' "$URL" | desk alerts channel add team --url-from-stdin
  desk alerts test
  desk alerts ack
"""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "alerts",
        description="The alert log and acknowledgements, test messages, and the remote alert channels "
                    "(a phone, a chat) desk sends alerts to through Apprise.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="alerts_command", metavar="ACTION", required=True)

    lst = sub.add_parser("list", help="recent alerts: level, title, what each channel did, acknowledgements")
    lst.add_argument("--hours", type=float, default=24.0, metavar="H", help="how far back (default 24)")
    lst.add_argument("--json", action="store_true", help="one JSON document")
    lst.add_argument("--demo", dest="alerts_demo", action="store_true", help="the demo venue's alert log")
    lst.set_defaults(handler=run_list)

    ack = sub.add_parser("ack", help="acknowledge a critical alert: its reminders stop (all without ID)")
    ack.add_argument("id", nargs="?", type=int, metavar="ID", help="the alert's id in `desk alerts list`")
    ack.add_argument("--demo", dest="alerts_demo", action="store_true", help="the demo venue's alert log")
    ack.set_defaults(handler=run_ack)

    test = sub.add_parser("test", help="send a test message to each channel and say what happened")
    test.add_argument("--channel", metavar="NAME", help="only this channel")
    test.set_defaults(handler=run_test)

    channel = sub.add_parser("channel", help="add, list or remove a remote alert channel",
                             epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    csub = channel.add_subparsers(dest="channel_command", metavar="ACTION", required=True)
    add = csub.add_parser("add", help="add or update a channel; asks for its Apprise URL",
                          epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    add.add_argument("name", metavar="NAME", help="a name for the channel, e.g. phone")
    add.add_argument("--level", choices=("info", "warning", "critical"),
                     help="the lowest level it gets (default warning)")
    add.add_argument("--quiet-hours", metavar="HH:MM-HH:MM", help="local time span in which it gets nothing")
    add.add_argument("--critical-in-quiet-hours", choices=("yes", "no"),
                     help="critical alerts still go out in its quiet hours (default yes)")
    add.add_argument("--digest-after", type=int, metavar="N",
                     help="more alerts than this within the digest window become one digest (0: never)")
    add.add_argument("--digest-minutes", type=float, metavar="M", help="the digest window (default 10)")
    add.add_argument("--url-from-stdin", action="store_true", help="read the URL from standard input")
    add.set_defaults(handler=run_channel_add)
    csub.add_parser("list", help="the channels (service and host only: a URL holds a token)").set_defaults(
        handler=run_channel_list)
    remove = csub.add_parser("remove", help="remove a channel and its URL from the keyring")
    remove.add_argument("name", metavar="NAME")
    remove.set_defaults(handler=run_channel_remove)


# --- the alert log ---------------------------------------------------------------------------------

def _history(args: argparse.Namespace) -> Any:
    from desk.store.history import History, HistoryError
    from desk.store.paths import desk_paths

    demo = bool(getattr(args, "alerts_demo", False) or getattr(args, "demo", False))
    path = desk_paths().ensure().history_for(demo=demo)
    try:
        return History(path)
    except (HistoryError, OSError) as exc:
        raise UserError(f"the alert log {path} cannot be opened: {exc}") from None


def _clock(at: float) -> str:
    return datetime.fromtimestamp(at).strftime("%Y-%m-%d %H:%M:%S")


def _acked_at(row: Any, acks: list[Any]) -> Any:
    """The acknowledgement that covers this alert (its condition, or "all", at or after it)."""
    alert = row.alert
    for ack in acks:
        if ack.at >= alert.at and (ack.condition is None or ack.condition == alert.condition) \
                and alert.level.value == "critical" and alert.account is not None:
            return ack
    return None


def run_list(args: argparse.Namespace) -> int:
    if not args.hours > 0:
        raise UserError("--hours must be a positive number, e.g. 24")
    since = time.time() - args.hours * 3600
    history = _history(args)
    try:
        rows = history.alerts(since=since)
        acks = [a for _, a in history.acks(since=since)]
    finally:
        history.close()
    if args.json:
        docs = []
        for row in rows:
            ack = _acked_at(row, acks)
            docs.append({**row.as_dict(), "acknowledged_at": ack.at if ack else None,
                         "acknowledged_from": ack.source if ack else None})
        from desk.domain.finite import json_ready

        print(json.dumps(json_ready({"alerts": docs, "acknowledgements": [
            {"at": a.at, "source": a.source, "rule": a.rule, "account": a.account, "symbol": a.symbol,
             "leg": a.leg, "alert_id": a.alert_id} for a in acks]}), indent=2, allow_nan=False))
        return 0
    if not rows:
        print(f"no alerts in the last {args.hours:g} h")
    for row in rows:
        a = row.alert
        ack = _acked_at(row, acks)
        tag = f" (reminder {a.repeat})" if a.repeat else ""
        acked = f" — acknowledged {_clock(ack.at)} from {for_user(ack.source)}" if ack else ""
        title = for_user(a.title, limit=160)
        print(f"{row.id:>6}  {_clock(a.at)}  {a.level.value.upper():<8} {title}{tag}{acked}")
        for d in row.deliveries:
            state = "sent" if d.delivered else "not sent"
            print(f"          {for_user(d.channel, limit=40)}: {state} — {for_user(d.detail, limit=200)}")
    return 0


def run_ack(args: argparse.Namespace) -> int:
    from desk.domain.alerts import Acknowledgement, AlertLevel

    history = _history(args)
    try:
        if args.id is None:
            ack = Acknowledgement(at=time.time(), source="cli")
            what = "every critical alert that is repeating"
        else:
            row = history.alert(args.id)
            if row is None:
                raise UserError(f"there is no alert {args.id} in the alert log — see `desk alerts list`")
            a = row.alert
            if a.level is not AlertLevel.CRITICAL or a.account is None:
                raise UserError(f"alert {args.id} is {a.level.value} ({a.rule}), not a critical alert about "
                                "a position or account: only those repeat until acknowledged")
            ack = Acknowledgement(at=time.time(), source="cli", rule=a.condition[0], account=a.account,
                                  symbol=a.symbol, leg=a.leg, alert_id=row.id)
            what = f"alert {row.id}: {for_user(a.title, limit=160)}"
        history.record_ack(ack)
    finally:
        history.close()
    print(f"acknowledged {what} — a running desk stops its reminders within a second; it repeats again "
          "only if it recovers and turns critical anew")
    return 0


# --- test ------------------------------------------------------------------------------------------

def run_test(args: argparse.Namespace) -> int:
    from desk.domain.alerts import Alert, AlertLevel
    from desk.services.alert_channels import send_test, test_targets
    from desk.store.settings import Settings

    settings = Settings.load()
    if args.channel not in (None, "desktop") and args.channel not in settings.channels():
        names = ", ".join(["desktop", *settings.channels()])
        raise UserError(f"no alert channel named {args.channel!r} — configured: {names}")
    workers, problems = test_targets(settings, only=args.channel)
    if not workers and not problems:
        raise UserError("no alert channel is configured — add one with `desk alerts channel add NAME` "
                        "(see `desk alerts channel add --help` for URL examples)")
    alert = Alert(at=time.time(), rule="test", level=AlertLevel.CRITICAL, title="Test alert from desk",
                  body="If you can read this, desk's critical alerts reach you here. Nothing is wrong.")
    failed = 0
    for problem in problems:
        failed += 1
        print(f"{for_user(problem.channel, limit=40)}: FAILED — {for_user(problem.reason, limit=300)}")
    for attempt in send_test(workers, alert):
        if attempt.delivered:
            print(f"{for_user(attempt.channel, limit=40)}: ok — {for_user(attempt.detail, limit=200)}")
        else:
            failed += 1
            print(f"{for_user(attempt.channel, limit=40)}: FAILED — {for_user(attempt.detail, limit=300)}")
    total = len(workers) + len(problems)
    if failed:
        print(f"{failed} of {total} channel(s) failed", file=sys.stderr)
        return EXIT_CHANNEL_FAILED
    return 0


# --- channels --------------------------------------------------------------------------------------

def _read_url(name: str, from_stdin: bool) -> str:
    if from_stdin:
        url = sys.stdin.readline().strip()
    elif not sys.stdin.isatty():
        raise UserError("there is no terminal to ask for the URL on; pipe it in with --url-from-stdin")
    else:
        url = getpass.getpass(f"Apprise URL for {name} (not shown): ").strip()
    if not url:
        raise UserError("the URL cannot be empty; nothing was saved")
    return url


def run_channel_add(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from desk.notify.remote import check_url
    from desk.store import secrets
    from desk.store.settings import CHANNEL_OPTIONS_BY_NAME, ChannelConfig, Settings, SettingsError

    settings = Settings.load()
    try:
        cfg = settings.channels().get(args.name) or ChannelConfig.from_table(args.name, {})
        changes: dict[str, Any] = {}
        for field, value in (("level", args.level), ("quiet_hours", args.quiet_hours),
                             ("digest_after", args.digest_after), ("digest_minutes", args.digest_minutes)):
            if value is not None:
                changes[field] = CHANNEL_OPTIONS_BY_NAME[field].validate(value)
        if args.critical_in_quiet_hours is not None:
            changes["critical_overrides_quiet"] = args.critical_in_quiet_hours == "yes"
        cfg = replace(cfg, **changes)
    except SettingsError as exc:
        raise UserError(str(exc).replace("channel.", "--").replace("_", "-")) from None
    url = _read_url(args.name, args.url_from_stdin)
    secrets.register_channel_url(url)  # masked from here on, whatever happens next
    try:
        service = check_url(url)
    except ValueError as exc:
        raise UserError(f"channel {args.name}: {exc}; nothing was saved") from None
    try:
        secrets.put_channel_url(args.name, url)
    except secrets.SecretStoreError as exc:
        raise UserError(f"{exc} (nothing was saved)") from None
    settings.put_channel(cfg)
    try:
        settings.save()
    except (SettingsError, OSError) as exc:
        secrets.delete_channel_url(args.name)
        raise UserError(f"the settings could not be saved ({exc}); nothing was saved") from None
    quiet = f", quiet {cfg.quiet_hours}" if cfg.quiet_hours else ""
    print(f"channel {args.name} ({service}): level {cfg.level} and worse{quiet}; its URL is in the keyring. "
          f"Try it: desk alerts test --channel {args.name}")
    return 0


def run_channel_list(args: argparse.Namespace) -> int:
    from desk.store import secrets
    from desk.store.settings import Settings

    channels = Settings.load().channels()
    if not channels:
        print("no alert channel is configured — add one with `desk alerts channel add NAME`")
        return 0
    for name, cfg in channels.items():
        try:
            where = masked_url(secrets.channel_url(name))
        except secrets.SecretStoreError as exc:
            where = f"keyring unavailable: {exc}"
        quiet = cfg.quiet_hours or "none"
        critical = "critical breaks them" if cfg.critical_overrides_quiet else "critical waits too"
        digest = (f"digest after {cfg.digest_after} in {cfg.digest_minutes:g} min" if cfg.digest_after
                  else "no digest")
        print(f"{for_user(name, limit=40)}: {for_user(where, limit=200)} · level {cfg.level}+ · quiet hours "
              f"{quiet} ({critical}) · {digest}")
    return 0


def run_channel_remove(args: argparse.Namespace) -> int:
    from desk.store import secrets
    from desk.store.settings import Settings, SettingsError

    settings = Settings.load()
    try:
        settings.remove_channel(args.name)
        settings.save()
    except SettingsError as exc:
        raise UserError(str(exc)) from None
    removed = secrets.delete_channel_url(args.name)
    print(f"channel {args.name} removed" + (" (and its URL from the keyring)" if removed else ""))
    return 0
