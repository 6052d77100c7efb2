"""The ``desk`` command: global options, the subcommands, and the composition root.

Each subcommand lives in its own module under :mod:`desk.commands` and exposes
``register(subparsers)``; :data:`desk.commands.COMMANDS` declares the commands and their one-line
summaries. The parser is declared from that table alone, and only the chosen command's module is
imported and registered (:class:`LazyCommands`), so `desk --help` and `desk risk` pay for nothing
else (issue 18: no ccxt, asyncio, keyring or Qt on their path).

Exit codes everywhere: 0 ok, 2 invalid input (a clear message, never a traceback),
1 internal error (a short message; the traceback goes to the log file only).

:func:`main` starts the log (``desk.log`` in the log folder, redacted) before any subcommand or
the dashboard runs, and is the last line of defence for what reaches the terminal: every error
message passes through :func:`desk.sanitize.for_user`, an unexpected exception becomes one line
naming it and the log, and a reader that stops early (``desk export … | head``) ends the command
quietly.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Sequence
from typing import Any, cast

from desk import __version__
from desk.commands._support import UserError

EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_INVALID = 2
EXIT_INTERRUPTED = 130

# A UserError message may carry a how-to-fix paragraph; beyond this it is cut.
USER_ERROR_LIMIT = 1000

log = logging.getLogger("desk.cli")

def command_modules() -> tuple[str, ...]:
    """The subcommand modules in --help order (as declared; none is imported)."""
    from desk.commands import COMMANDS

    return tuple(name for name, _ in COMMANDS)


class LazyCommands(argparse._SubParsersAction):  # type: ignore[type-arg]
    """The subcommands' parsers, each filled in only when its command is chosen.

    ``declare`` adds a command's name and summary (enough for `desk --help` and for refusing an
    unknown command); when argparse reaches the command, its module is imported and its
    ``register`` replaces the empty parser with the real one, arguments and handler.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._modules: dict[str, str] = {}  # declared command -> module not yet registered
        self._registering: str | None = None

    def declare(self, name: str, summary: str, module: str) -> None:
        self.add_parser(name, help=summary)
        self._modules[name] = module

    def load(self, name: str) -> argparse.ArgumentParser:
        """The full parser of ``name``: its module imported and registered (once)."""
        module = self._modules.pop(name, None)
        if module is not None:
            del self._name_parser_map[name]
            self._registering = name
            try:
                importlib.import_module(module).register(self)
            finally:
                self._registering = None
        parser: argparse.ArgumentParser = self._name_parser_map[name]
        return parser

    def add_parser(self, name: str, **kwargs: Any) -> argparse.ArgumentParser:
        if name == self._registering:
            kwargs.pop("help", None)  # the summary is listed already, from the declaration
        parser: argparse.ArgumentParser = super().add_parser(name, **kwargs)
        return parser

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        if values and values[0] in self._modules:
            self.load(values[0])
        super().__call__(parser, namespace, values, option_string)




def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="desk",
        description=(
            "desk — a risk dashboard for crypto derivatives: margin ratio, liquidation and "
            "bankruptcy prices, distance to liquidation, alerts. With no subcommand it opens "
            "the dashboard (on the built-in demo venue when no account is configured)."
        ),
    )
    parser.add_argument("--version", action="version", version=f"desk {__version__}")
    parser.add_argument(
        "--home",
        metavar="DIR",
        help="keep config, data, cache and logs in DIR instead of the platform locations "
        "(same as DESK_HOME=DIR)",
    )
    parser.add_argument("--demo", action="store_true", help="use the built-in demo venue")
    # The dashboard's demo options (`desk --demo --scenario flash-crash --speed 20`).
    parser.add_argument("--scenario", dest="demo_scenario", metavar="S",
                        help="demo scenario for the dashboard (with --demo), e.g. calm, flash-crash")
    parser.add_argument("--speed", dest="demo_speed", type=float, metavar="X",
                        help="demo time acceleration for the dashboard (e.g. 10)")
    parser.add_argument("--seed", dest="demo_seed", type=int, metavar="N",
                        help="demo random seed for the dashboard (same seed, same path)")
    parser.set_defaults(handler=None)
    from desk.commands import COMMANDS  # the table only: no command's module is imported here

    subparsers = cast(LazyCommands, parser.add_subparsers(dest="command", metavar="COMMAND",
                                                          action=LazyCommands))
    for name, summary in COMMANDS:
        subparsers.declare(name, summary, f"desk.commands.{name}")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.home:
        os.environ["DESK_HOME"] = args.home
    _start_logging()
    from desk.commands._support import warn_about_settings

    warn_about_settings(new_command=True)  # every command names what is wrong with settings.toml
    what = _command_name(args)
    log.info("desk %s: %s started", __version__, what)
    code = _run(args)
    log.info("desk %s: %s ended with exit code %d", __version__, what, code)
    return code


def _run(args: argparse.Namespace) -> int:
    from desk.sanitize import for_user

    handler = args.handler
    try:
        code = _default_action(args) if handler is None else int(handler(args) or 0)
        sys.stdout.flush()  # a closed pipe shows up here when the output was short
        return code
    except UserError as exc:
        log.info("refused: %s", exc)
        print(f"desk: error: {for_user(exc, limit=USER_ERROR_LIMIT)}", file=sys.stderr)
        return EXIT_INVALID
    except BrokenPipeError:
        # The reader went away (`desk export history | head`): what it wanted it got. Point
        # stdout at /dev/null so the interpreter's final flush does not complain either.
        _silence_stdout()
        log.info("the output pipe was closed by the reader; stopped writing")
        return EXIT_OK
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except Exception as exc:  # the last line of defence: no traceback reaches the user
        from desk.commands._support import report_internal_error

        report_internal_error(exc)
        return EXIT_INTERNAL


def _command_name(args: argparse.Namespace) -> str:
    """`accounts test`, `watch`, `dashboard`… — never the arguments (they may hold URLs)."""
    if args.command is None:
        return "dashboard"
    action = next((getattr(args, a) for a in ("accounts_command", "alerts_command", "config_action", "what")
                   if isinstance(getattr(args, a, None), str)), None)
    return f"{args.command} {action}" if action else args.command


def _start_logging() -> None:
    """desk.log for every command; a log that cannot be opened is said once, and desk goes on."""
    try:
        from desk.store.logs import setup_logging

        setup_logging()
    except Exception as exc:
        from desk.sanitize import for_user

        print(f"desk: warning: the log file cannot be written ({for_user(exc, limit=200)}); "
              "continuing without it", file=sys.stderr)


def _silence_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass


def _default_action(args: argparse.Namespace) -> int:
    """`desk` with no subcommand: the dashboard when it exists, else the best main job."""
    try:
        gui = importlib.import_module("desk.commands.gui")
    except ModuleNotFoundError:
        print(
            "desk: the dashboard is not built yet; try `desk --help` for the commands that work.",
            file=sys.stderr,
        )
        return EXIT_INVALID
    return int(gui.run(args))
