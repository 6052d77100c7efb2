"""``desk accounts add|list|test|remove``: exchange accounts, keys in the OS keyring only.

The settings file holds venue, label, URL override, testnet/demo flags and the enabled flag;
the API key, secret and passphrase go to the keyring (:mod:`desk.store.secrets`) and nowhere
else. ``reader_config_for`` and ``secrets_for`` are the composition root's way from a
configured account to a :class:`desk.exchanges.ReaderConfig` and its credentials.
"""

from __future__ import annotations

import argparse
import getpass
import json
import re
import sys
from collections.abc import Mapping
from typing import Any

from desk.commands._support import UserError
from desk.sanitize import for_user, quoted

EPILOG = """\
examples:
  desk accounts add main --venue binanceusdm            # asks for API key and secret (no echo)
  desk accounts add bb --venue bybit --demo-trading --label "Bybit demo"
  printf '%s\\n%s\\n' "$KEY" "$SECRET" | desk accounts add main --venue binanceusdm --secrets-from-stdin
  desk accounts add hl --venue hyperliquid --wallet-address 0xYourAddress   # no key needed
  desk accounts list
  desk accounts test main
  desk accounts remove main

Keys are stored only in the OS keyring (service "desk", item "ACCOUNT:FIELD"). desk needs
read-only keys: `desk accounts test` warns when a key can trade or withdraw.
Exit codes: 0 ok, 2 invalid input, 1 internal error, 3 (test) the account cannot be read.
"""

_HL_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "accounts",
        description="Manage the exchange accounts desk reads. desk only ever reads: use read-only keys.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="accounts_command", metavar="ACTION", required=True)

    add = sub.add_parser("add", help="add or update an account; asks for its keys",
                         epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    add.add_argument("name", metavar="NAME", help="a name for the account, e.g. main")
    add.add_argument("--venue", required=True, metavar="ID",
                     help="ccxt exchange id: binanceusdm, binancecoinm, bybit, okx, hyperliquid, "
                          "or any ccxt venue with positions (generic rules)")
    add.add_argument("--label", default="", help="a display label")
    add.add_argument("--api-url", metavar="URL",
                     help="send requests to this base URL instead of the venue's (a proxy or a test server)")
    env = add.add_mutually_exclusive_group()
    env.add_argument("--testnet", action="store_true", help="use the venue's testnet (testnet keys)")
    env.add_argument("--demo-trading", action="store_true",
                     help="use the venue's demo-trading environment (Binance, Bybit; demo keys)")
    add.add_argument("--wallet-address", metavar="ADDR", help="Hyperliquid: the wallet address to read")
    add.add_argument("--disabled", action="store_true", help="configure it but do not monitor it yet")
    add.add_argument("--secrets-from-stdin", action="store_true",
                     help="read the credentials from standard input, one per line, in the order asked "
                          "(API key, secret[, passphrase]) — for scripts")
    add.set_defaults(handler=run_add)

    lst = sub.add_parser("list", help="show the configured accounts (never a secret)")
    lst.add_argument("--json", action="store_true", help="machine-readable output")
    lst.set_defaults(handler=run_list)

    test = sub.add_parser("test", help="connect, read the account and check the key's permissions")
    test.add_argument("name", metavar="NAME")
    test.set_defaults(handler=run_test)

    remove = sub.add_parser("remove", help="remove an account and its keys from the keyring")
    remove.add_argument("name", metavar="NAME")
    remove.set_defaults(handler=run_remove)


# --- composition helpers (used by other commands too) ----------------------------------------

def reader_config_for(account: Any, settings: Any = None) -> Any:
    """The exchange layer's ReaderConfig for a configured ``AccountConfig``."""
    from desk.exchanges import ReaderConfig
    from desk.store.paths import desk_paths

    hours = 24.0
    if settings is not None:
        try:
            hours = float(settings.get("monitor.markets_cache_hours"))
        except Exception:  # an unknown or bad option keeps the default
            hours = 24.0
    return ReaderConfig(name=account.name, venue=account.venue, api_url=account.api_url,
                        sandbox=account.sandbox, demo_trading=account.demo_trading,
                        wallet_address=account.wallet_address,
                        markets_cache_dir=desk_paths().markets_cache_dir, markets_max_age_hours=hours)


def secrets_for(account: Any) -> Mapping[str, str]:
    """The account's credentials from the keyring (only the fields its venue needs)."""
    from desk.exchanges import required_secrets
    from desk.store import secrets

    fields = required_secrets(account.venue)
    if not fields:
        return {}
    try:
        return secrets.load_secrets(account.name, fields)
    except secrets.SecretStoreError as exc:
        raise UserError(str(exc)) from None


def _settings() -> Any:
    from desk.commands._support import warn_about_settings
    from desk.store.settings import Settings

    return warn_about_settings(Settings.load())


def _account(settings: Any, name: str) -> Any:
    accounts = settings.accounts()
    if name not in accounts:
        raise UserError(f"no account named {quoted(name)} — configured: {', '.join(accounts) or 'none'}; "
                        f"add one with `desk accounts add NAME --venue ID`")
    return accounts[name]


# --- add -----------------------------------------------------------------------------------

def _read_secrets(name: str, fields: tuple[str, ...], from_stdin: bool) -> dict[str, str]:
    from desk.exchanges import SECRET_LABELS

    values: dict[str, str] = {}
    if from_stdin:
        lines = sys.stdin.read().splitlines()
        lines = [line.strip() for line in lines if line.strip()]
        if len(lines) < len(fields):
            wanted = ", ".join(SECRET_LABELS.get(f, f) for f in fields)
            raise UserError(f"--secrets-from-stdin expects {len(fields)} non-empty line(s) ({wanted}), "
                            f"got {len(lines)}")
        return dict(zip(fields, lines, strict=False))
    if not sys.stdin.isatty():
        raise UserError("there is no terminal to ask for the keys on; pipe them in with "
                        "--secrets-from-stdin (one per line)")
    for field in fields:
        label = SECRET_LABELS.get(field, field)
        value = getpass.getpass(f"{label} for {name}: ").strip()
        if not value:
            raise UserError(f"the {label} cannot be empty; nothing was saved")
        values[field] = value
    return values


def run_add(args: argparse.Namespace) -> int:
    from desk.exchanges import VenueError, check_venue, required_secrets
    from desk.store import secrets
    from desk.store.settings import AccountConfig, SettingsError

    venue = args.venue.strip().lower()
    try:
        check_venue(venue)
        fields = required_secrets(venue)
    except VenueError as exc:
        raise UserError(str(exc)) from None
    wallet = args.wallet_address.strip() if args.wallet_address else None
    if venue == "hyperliquid":
        if not wallet or not _HL_ADDRESS.match(wallet):
            raise UserError("hyperliquid accounts are read by wallet address: add --wallet-address 0x… "
                            "(42 characters, 0x and 40 hex digits); no key is needed")
    elif wallet:
        raise UserError(f"--wallet-address is only used for hyperliquid, not {venue}")
    try:
        account = AccountConfig(name=args.name, venue=venue, label=args.label, api_url=args.api_url,
                                sandbox=args.testnet, demo_trading=args.demo_trading,
                                enabled=not args.disabled, wallet_address=wallet)
    except SettingsError as exc:
        raise UserError(str(exc)) from None
    settings = _settings()
    existed = args.name in settings.accounts()
    if fields:
        try:
            secrets.require_secure()
        except secrets.SecretStoreError as exc:
            raise UserError(str(exc)) from None
        values = _read_secrets(args.name, fields, args.secrets_from_stdin)
        try:
            secrets.put_account(args.name, values)
        except secrets.SecretStoreError as exc:
            raise UserError(str(exc)) from None
    settings.put_account(account)
    try:
        settings.save()
    except (SettingsError, OSError) as exc:
        if fields and not existed:
            secrets.delete_account(args.name, fields)
        raise UserError(f"could not save the settings: {exc}") from None
    keys = f"keys stored in the keyring ({secrets.backend_name()})" if fields else "no key needed"
    print(for_user(f"{'updated' if existed else 'added'} account {args.name!r} ({venue}{_where(account)}); "
                   f"{keys}.", limit=None))
    print(f"check it with: desk accounts test {for_user(args.name, limit=None)}")
    return 0


def _where(account: Any) -> str:
    if account.api_url:
        return f", via {account.api_url}"
    if account.sandbox:
        return ", testnet"
    if account.demo_trading:
        return ", demo trading"
    return ""


# --- list ----------------------------------------------------------------------------------

def _key_status(account: Any) -> str:
    from desk.exchanges import VenueError, required_secrets
    from desk.store import secrets

    try:
        fields = required_secrets(account.venue)
    except VenueError:
        return "unknown venue"
    if not fields:
        return "not needed"
    try:
        missing = [f for f in fields if not secrets.has(account.name, f)]
    except secrets.SecretStoreError:
        return "keyring unavailable"
    return "stored" if not missing else f"missing {', '.join(missing)}"


def run_list(args: argparse.Namespace) -> int:
    from desk.store import secrets

    settings = _settings()
    accounts = settings.accounts()
    backend = secrets.backend_name()
    problem = secrets.insecurity()
    rows = [{"name": a.name, "venue": a.venue, "label": a.label, "enabled": a.enabled,
             "endpoint": a.api_url or ("testnet" if a.sandbox else "demo" if a.demo_trading else "live"),
             "wallet_address": a.wallet_address, "keys": _key_status(a)} for a in accounts.values()]
    if args.json:
        print(json.dumps({"keyring": backend, "keyring_secure": problem is None, "accounts": rows}, indent=2))
        return 0
    unusable = f"  (NOT usable for keys: {for_user(problem, limit=1000)})" if problem else ""
    print(f"keyring: {backend}{unusable}")
    if not rows:
        print("no accounts configured — add one with `desk accounts add NAME --venue ID`")
        return 0
    headers = ("name", "venue", "label", "enabled", "endpoint", "keys")
    table = [[for_user(r[h], limit=60) if h != "enabled" else ("yes" if r[h] else "no") for h in headers]
             for r in rows]
    widths = [max(len(h), *(len(row[i]) for row in table)) for i, h in enumerate(headers)]
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)))
    for row in table:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))
    return 0


# --- test ----------------------------------------------------------------------------------

EXIT_UNREADABLE = 3


def run_test(args: argparse.Namespace) -> int:
    import asyncio

    from desk.exchanges import VenueError, open_reader

    settings = _settings()
    account = _account(settings, args.name)
    cfg = reader_config_for(account, settings)
    creds = secrets_for(account)

    async def probe() -> tuple[Any, Any, list[str]]:
        from desk.exchanges.probe import key_permissions

        reader = open_reader(cfg, creds)
        problems: list[str] = []
        try:
            snap = await reader.snapshot()
            try:
                perms = await key_permissions(reader)
            except VenueError as exc:
                perms = None
                problems.append(f"could not check the key's permissions: {exc}")
            return snap, perms, problems
        finally:
            await reader.close()

    # Everything below quotes the venue (symbols, currencies, error bodies): made safe to show.
    print(f"testing {for_user(account.name)} ({account.venue}{for_user(_where(account))}) …")
    try:
        snap, perms, problems = asyncio.run(probe())
    except VenueError as exc:
        print(f"FAILED [{exc.kind.value}]: {for_user(exc, limit=600)}", file=sys.stderr)
        return EXIT_UNREADABLE
    acct = snap.account
    wallets = ", ".join(f"{for_user(k, limit=20)} {v:,.8g}" for k, v in acct.wallets.items())
    print(f"ok: read access works — {len(acct.positions)} open position(s); "
          f"wallets: {wallets or 'none'}; request weight {snap.request_weight:g}")
    for p in acct.positions:
        liq = p.reported.liquidation_price
        print(f"  {for_user(p.symbol, limit=60):<20} {p.side.value:<5} {p.contracts:g} @ {p.entry_price:g}  "
              f"mark {p.mark_price:g}  {p.margin_mode.value}  "
              f"venue liq. {'none' if liq is None else f'{liq:g}'}")
    for line in problems:
        print(f"warning: {for_user(line, limit=600)}", file=sys.stderr)
    if perms is not None:
        if not perms.known:
            print(f"key permissions: unknown ({for_user('; '.join(perms.notes), limit=600)}) — make sure "
                  f"the key is read-only")
        else:
            warnings = perms.warnings()
            if warnings:
                for line in warnings:
                    print(f"WARNING: {for_user(line, limit=600)}", file=sys.stderr)
            else:
                print(f"key permissions: read-only ({perms.source})")
    return 0


# --- remove --------------------------------------------------------------------------------

def run_remove(args: argparse.Namespace) -> int:
    from desk.store import secrets
    from desk.store.settings import SettingsError

    settings = _settings()
    known = args.name in settings.accounts()
    try:
        removed = secrets.delete_account(args.name)
    except secrets.SecretStoreError as exc:
        raise UserError(f"{exc} — the account was not removed") from None
    if not known and not removed:
        raise UserError(f"no account named {quoted(args.name)} — configured: "
                        f"{', '.join(settings.accounts()) or 'none'}")
    if known:
        try:
            settings.remove_account(args.name)
            settings.save()
        except (SettingsError, OSError) as exc:
            raise UserError(f"keys removed, but the settings could not be saved: {exc}") from None
    print(f"removed account {quoted(args.name)}"
          + (f" and {len(removed)} keyring item(s)" if removed else " (no keys were stored)"))
    return 0
