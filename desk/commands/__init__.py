"""desk's subcommands: one module each, declared here so that `desk --help` imports none of them.

``desk.commands.NAME`` exposes ``register(subparsers)``, which adds the parser ``NAME`` (its
arguments, description and handler). :data:`COMMANDS` holds each command's one-line summary, in
--help order; :mod:`desk.cli` lists them from it and imports a command's module only when that
command runs (issue 18: `desk risk` must not pay for ccxt, asyncio or the keyring). Modules whose
name starts with ``_`` are helpers, not commands.
"""

from __future__ import annotations

COMMANDS: tuple[tuple[str, str], ...] = (
    ("risk", "risk of a portfolio file: margin ratio, liquidation and bankruptcy prices, what-ifs"),
    ("watch", "monitor accounts live without a window: risk table, status changes, --json-lines"),
    ("snapshot", "read accounts now and write a desk.portfolio file"),
    ("accounts", "add, list, test and remove exchange accounts (keys go to the OS keyring)"),
    ("alerts", "the alert log, acknowledge critical alerts, test and manage alert channels"),
    ("config", "show and change settings; show where desk keeps its files"),
    ("export", "export the risk history or the alert log as CSV or JSON"),
)
