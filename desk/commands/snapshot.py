"""``desk snapshot``: pull live (or demo) positions into a ``desk.portfolio/1`` file.

Every selected account is read once by REST (positions, balances, tiers, marks) through the
read-only exchange layer; the file then feeds ``desk risk FILE`` or the dashboard's what-if.
An account that cannot be read is named with the reason; the file is written only when every
account was read, unless ``--partial`` says a file without it is still wanted.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from desk.commands._support import UserError, warn
from desk.sanitize import for_user, quoted

EXIT_UNREADABLE = 3

EPILOG = """\
examples:
  desk snapshot --account main -o main.json && desk risk main.json
  desk snapshot --all -o now.json
  desk snapshot --demo --scenario flash-crash --at 2000 -o demo.json

Exit codes: 0 ok, 2 invalid input, 1 internal error, 3 an account could not be read
(with --partial the file is still written with the accounts that were read).
"""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "snapshot",
        description="Read positions, balances, maintenance tiers and marks of configured accounts "
                    "(read-only) and write them as a desk.portfolio JSON file (version 1, or 2 "
                    "when an account's venue pools margin).",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--account", action="append", metavar="NAME",
                       help="the account to read (repeatable)")
    which.add_argument("--all", action="store_true", help="every enabled account")
    which.add_argument("--demo", dest="snapshot_demo", action="store_true",
                       help="the built-in demo venue instead of real accounts")
    parser.add_argument("--scenario", metavar="NAME", help="demo: the scenario to run (default calm)")
    parser.add_argument("--seed", type=int, metavar="N", help="demo: random seed, for a repeatable file")
    parser.add_argument("--at", type=float, default=0.0, metavar="SECONDS",
                        help="demo: simulated seconds after the start")
    parser.add_argument("-o", "--output", metavar="FILE", help="write to FILE (default: standard output)")
    parser.add_argument("--partial", action="store_true",
                        help="write the accounts that could be read even if others failed")
    parser.set_defaults(handler=run)


def _write(data: bytes, output: str | None) -> None:
    if output is None or output == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return
    path = Path(output).expanduser()
    if path.is_dir():
        raise UserError(f"-o {output}: is a directory; give a file name, e.g. {path / 'snapshot.json'}")
    if not path.parent.is_dir():
        raise UserError(f"-o {output}: the folder {path.parent} does not exist")
    fd, tmp = tempfile.mkstemp(prefix=path.name, suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _demo(args: argparse.Namespace) -> Any:
    try:
        from desk.exchanges.demo import SCENARIOS, demo_portfolio
    except ImportError:
        raise UserError("the demo venue is not available in this build") from None
    scenario = args.scenario or "calm"
    if scenario not in SCENARIOS:
        raise UserError(f"unknown demo scenario {quoted(scenario)} — choose one of: {', '.join(SCENARIOS)}")
    try:
        return demo_portfolio(scenario, seed=args.seed, at_seconds=args.at)
    except ValueError as exc:
        raise UserError(str(exc)) from None


def _selected(args: argparse.Namespace, settings: Any) -> list[Any]:
    accounts = settings.accounts()
    if args.all:
        chosen = [a for a in accounts.values() if a.enabled]
        if not chosen:
            raise UserError("no enabled account is configured — add one with `desk accounts add NAME "
                            "--venue ID`, or try `desk snapshot --demo`")
        return chosen
    if not args.account:
        raise UserError("say which accounts to read: --account NAME (repeatable), --all, or --demo")
    missing = [n for n in args.account if n not in accounts]
    if missing:
        raise UserError(f"no account named {', '.join(map(quoted, missing))} — configured: "
                        f"{', '.join(accounts) or 'none'}")
    return [accounts[n] for n in dict.fromkeys(args.account)]


async def _read_all(configs: list[tuple[Any, Any]]) -> list[Any]:
    import asyncio

    from desk.exchanges import open_reader

    async def one(cfg: Any, creds: Any) -> Any:
        reader = open_reader(cfg, creds)
        try:
            return await reader.snapshot()
        finally:
            await reader.close()

    return list(await asyncio.gather(*(one(c, s) for c, s in configs), return_exceptions=True))


def run(args: argparse.Namespace) -> int:
    from desk.domain.model import Portfolio
    from desk.formats import dump_portfolio

    if args.snapshot_demo or getattr(args, "demo", False):
        if args.account or args.all:
            raise UserError("--demo reads the demo venue; do not combine it with --account/--all")
        _write(dump_portfolio(_demo(args)), args.output)
        return 0
    if args.scenario or args.seed is not None or args.at:
        raise UserError("--scenario, --seed and --at only apply with --demo")

    from desk.commands.accounts import _settings, reader_config_for, secrets_for
    from desk.exchanges import VenueError

    settings = _settings()
    chosen = _selected(args, settings)
    configs = []
    for account in chosen:
        try:
            configs.append((reader_config_for(account, settings), secrets_for(account)))
        except VenueError as exc:
            raise UserError(str(exc)) from None
    import asyncio

    try:
        results = asyncio.run(_read_all(configs))
    except VenueError as exc:  # raised while opening a reader (unknown venue, missing keys)
        raise UserError(str(exc)) from None
    accounts, failures = [], []
    for account, result in zip(chosen, results, strict=True):
        if isinstance(result, VenueError):
            failures.append(f"{account.name}: [{result.kind.value}] {result}")
        elif isinstance(result, BaseException):
            raise result
        else:
            # read, but something is missing: say what (the file's account is named already)
            notes = tuple(dict.fromkeys(w.removeprefix(f"{account.name}: ") for w in result.warnings))
            for note in notes:
                warn(f"{account.name}: {note}")
            # and keep it in the file, so the file's reader (`desk risk`) says it as well
            accounts.append(dataclasses.replace(result.account, notes=notes) if notes else result.account)
    for line in failures:
        print(f"desk: cannot read {for_user(line, limit=600)}", file=sys.stderr)
    if failures and not (args.partial and accounts):
        print("desk: no file written" + ("" if args.partial else " (use --partial to write the accounts "
                                         "that could be read)"), file=sys.stderr)
        return EXIT_UNREADABLE
    as_of = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    _write(dump_portfolio(Portfolio(accounts=tuple(accounts), as_of=as_of)), args.output)
    if args.output and args.output != "-":
        count = sum(len(a.positions) for a in accounts)
        print(f"wrote {args.output}: {len(accounts)} account(s), {count} position(s) as of {as_of}",
              file=sys.stderr)
    return EXIT_UNREADABLE if failures else 0
