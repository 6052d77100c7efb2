"""Typed, versioned settings, declared once (ARCHITECTURE.md rule 8).

Every option is one :class:`Option` in :data:`OPTIONS`: key, type, default, label, help, group and
its limits. The same declaration drives the TOML storage, the validation, ``desk config`` and the
settings dialog — nothing else lists options.

Storage is ``settings.toml`` in the config dir::

    schema_version = 2
    [alerts]
    distance_warning = 0.12            # only what the user changed; defaults are not written
    [accounts.main]                    # exchange accounts — never secrets (they live in the keyring)
    venue = "binance"
    [overrides."main/BTC/USDT:USDT"]   # alert-rule overrides per account or position
    distance_warning = 0.2

Guarantees: writes are atomic (temporary file in the same folder, fsync, rename, fsync of the
folder); an older file is backed up before it is migrated; a corrupt or unreadable file is moved
aside with a timestamp and reported in :attr:`Settings.problems`, never silently overwritten;
unknown keys (from a newer desk, or hand edits) are kept as they are; ``save`` re-reads the file
and applies only this instance's changes, so the dashboard and ``desk config set`` running at
the same time do not undo each other.
"""

from __future__ import annotations

import contextlib
import copy
import math
import os
import re
import shutil
import tempfile
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import tomli_w

from desk.store.paths import desk_paths
from desk.store.redact import register_secret

SCHEMA_VERSION = 2
VERSION_KEY = "schema_version"
ACCOUNTS_TABLE = "accounts"
OVERRIDES_TABLE = "overrides"
OVERRIDE_GROUP = "alerts"  # overrides may only adjust alert options


class SettingsError(ValueError):
    """An invalid key or value; the message names the key and what is allowed."""


class UnknownSettingError(SettingsError, KeyError):
    """No option has this key (also a KeyError, for callers that probe with ``get``)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


_QUIET_HOURS = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]):([0-5]\d)$")


def _check_quiet_hours(value: Any) -> str | None:
    if value == "" or _QUIET_HOURS.match(value):
        return None
    return 'expected "" (off) or HH:MM-HH:MM, e.g. "23:00-07:00"'


def _check_url(value: Any) -> str | None:
    if value == "" or re.match(r"^https?://[^\s/]+", value):
        return None
    return 'expected "" (off) or an http:// or https:// URL'


@dataclass(frozen=True)
class Option:
    """One setting. ``type`` is bool, int, float or str; ``choices`` restricts a str option."""

    key: str  # "group.name"
    type: type
    default: Any
    label: str
    help: str
    group: str
    choices: tuple[str, ...] | None = None
    min: float | None = None
    max: float | None = None
    unit: str = ""
    secret: bool = False  # masked by `desk config show` and registered with the log redactor
    check: Callable[[Any], str | None] | None = field(default=None, compare=False, repr=False)

    @property
    def name(self) -> str:
        """The key inside its group's TOML table."""
        return self.key.split(".", 1)[1]

    def allowed(self) -> str:
        """The allowed values, in words, for error messages and help."""
        if self.choices:
            return "one of " + ", ".join(self.choices)
        if self.type is bool:
            return "true or false"
        kind = {int: "a whole number", float: "a number", str: "text"}[self.type]
        if self.min is not None and self.max is not None:
            return f"{kind} from {_fmt(self.min)} to {_fmt(self.max)}"
        if self.min is not None:
            return f"{kind} of at least {_fmt(self.min)}"
        if self.max is not None:
            return f"{kind} of at most {_fmt(self.max)}"
        return kind

    def parse(self, text: str) -> Any:
        """Turn command-line text into a valid value (raises SettingsError)."""
        raw = text.strip()
        value: Any
        if self.type is bool:
            lowered = raw.lower()
            if lowered in ("true", "yes", "on", "1"):
                value = True
            elif lowered in ("false", "no", "off", "0"):
                value = False
            else:
                raise self._error(text)
        elif self.type is int:
            try:
                value = int(raw)
            except ValueError:
                raise self._error(text) from None
        elif self.type is float:
            try:
                value = float(raw)
            except ValueError:
                raise self._error(text) from None
        else:
            value = text
        return self.validate(value)

    def validate(self, value: Any) -> Any:
        """Return ``value`` as this option's type, or raise SettingsError naming the key."""
        if self.type is bool:
            if not isinstance(value, bool):
                raise self._error(value)
        elif self.type is int:
            if isinstance(value, bool) or not isinstance(value, int):
                if isinstance(value, float) and value.is_integer():
                    value = int(value)
                else:
                    raise self._error(value)
        elif self.type is float:
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise self._error(value)
            value = float(value)
            if not math.isfinite(value):
                raise self._error(value)
        elif not isinstance(value, str):
            raise self._error(value)
        if self.choices is not None and value not in self.choices:
            raise self._error(value)
        if self.min is not None and value < self.min:
            raise self._error(value)
        if self.max is not None and value > self.max:
            raise self._error(value)
        if self.check is not None:
            problem = self.check(value)
            if problem:
                raise SettingsError(f"{self.key}: {value!r} is not valid — {problem}")
        return value

    def format(self, value: Any) -> str:
        """The value as a user types it (``true``, ``0.1``, ``dark``)."""
        if self.type is bool:
            return "true" if value else "false"
        if self.type is float:
            return _fmt(value)
        return str(value)

    def _error(self, value: Any) -> SettingsError:
        shown = "***" if self.secret else repr(value)
        return SettingsError(f"{self.key}: {shown} is not allowed — expected {self.allowed()}")


def _fmt(x: float) -> str:
    return f"{x:g}" if isinstance(x, float) else str(x)


def _opt(key: str, type_: type, default: Any, label: str, help: str, **kw: Any) -> Option:
    return Option(key=key, type=type_, default=default, label=label, help=help, group=key.split(".")[0], **kw)


OPTIONS: tuple[Option, ...] = (
    # monitor
    _opt("monitor.reconcile_seconds", float, 10.0, "Reconcile every",
         "How often positions and balances are re-read over REST, even when streams are live.",
         min=1, max=3600, unit="s"),
    _opt("monitor.poll_seconds", float, 2.0, "Poll every",
         "Polling interval for venues without streams (or when a stream is down).",
         min=1, max=3600, unit="s"),
    _opt("monitor.live_seconds", float, 5.0, "Live if newer than",
         "An input older than this is shown as delayed.", min=0.5, max=3600, unit="s"),
    _opt("monitor.stale_seconds", float, 30.0, "Stale after",
         "An input older than this is shown as stale and cannot be trusted.", min=1, max=86400, unit="s"),
    _opt("monitor.markets_cache_hours", float, 24.0, "Keep market data for",
         "How long market definitions (tiers, contract sizes) are cached before they are reloaded.",
         min=0, max=24 * 30, unit="h"),
    # alerts
    _opt("alerts.enabled", bool, True, "Alerts on", "Raise alerts at all."),
    _opt("alerts.distance_warning", float, 0.10, "Warn at distance",
         "Warn when the mark is this close to the liquidation price (fraction of the mark: 0.10 = 10 %).",
         min=0.0001, max=1),
    _opt("alerts.distance_critical", float, 0.05, "Critical at distance",
         "Critical alert when the mark is this close to the liquidation price (fraction of the mark).",
         min=0.0001, max=1),
    _opt("alerts.margin_ratio_warning", float, 0.5, "Warn at margin ratio",
         "Warn when maintenance margin ÷ margin balance reaches this (1.0 = liquidation).",
         min=0.01, max=1),
    _opt("alerts.margin_ratio_critical", float, 0.8, "Critical at margin ratio",
         "Critical alert when maintenance margin ÷ margin balance reaches this (1.0 = liquidation).",
         min=0.01, max=1),
    _opt("alerts.stale_seconds", float, 30.0, "Alert when data older than",
         "Raise a 'cannot monitor' alert when an account's data is older than this.",
         min=1, max=86400, unit="s"),
    _opt("alerts.rearm_margin", float, 0.1, "Re-arm margin",
         "An alert re-arms only after the value recovers this much past its threshold "
         "(relative: 0.1 = 10 % of the threshold), so a value hovering at the line does not flap.",
         min=0, max=1),
    _opt("alerts.cooldown_minutes", float, 30.0, "Repeat after",
         "Minimum time before the same alert about the same position repeats at the same level.",
         min=0, max=24 * 60, unit="min"),
    _opt("alerts.disagree_ticks", int, 2, "Ours vs theirs tolerance",
         "Flag a gap between our and the venue's liquidation price larger than this many ticks.",
         min=0, max=1_000_000, unit="ticks"),
    _opt("alerts.digest_threshold", int, 3, "Digest above",
         "When more alerts than this fire at once, send one digest instead of many notifications.",
         min=1, max=1000),
    _opt("alerts.quiet_hours", str, "", "Quiet hours",
         'Local time span without sound or desktop popups for warnings, e.g. "23:00-07:00" '
         "(critical alerts still notify). Empty: off.", check=_check_quiet_hours),
    _opt("alerts.sound", bool, False, "Sound", "Play a sound with critical alerts."),
    _opt("alerts.webhook_url", str, "", "Webhook URL",
         "POST each alert as JSON to this URL (e.g. a chat webhook). Empty: off.",
         secret=True, check=_check_url),
    _opt("alerts.desktop", bool, True, "Desktop notifications", "Show alerts as desktop notifications."),
    # risk
    _opt("risk.target_margin_ratio", float, 0.5, "Target margin ratio",
         "Suggestions (add margin, reduce size) aim to bring the margin ratio down to this.",
         min=0.01, max=0.99),
    # history
    _opt("history.sample_seconds", float, 10.0, "Sample every",
         "How often risk figures are written to the history.", min=1, max=3600, unit="s"),
    _opt("history.fine_retention_hours", float, 24.0, "Keep fine samples for",
         "Samples at full cadence are kept this long, then thinned to the coarse cadence.",
         min=1, max=24 * 90, unit="h"),
    _opt("history.coarse_sample_minutes", float, 5.0, "Coarse sample every",
         "Older history keeps one sample (the riskiest) per this many minutes.", min=1, max=24 * 60,
         unit="min"),
    _opt("history.coarse_retention_days", float, 90.0, "Keep history for",
         "Coarse samples and the alert log are deleted after this many days.", min=1, max=3650,
         unit="days"),
    _opt("history.max_megabytes", float, 200.0, "History size limit",
         "The oldest history is deleted first when the database grows beyond this.", min=5,
         max=100_000, unit="MB"),
    # ui
    _opt("ui.theme", str, "auto", "Theme", "Colour theme; auto follows the desktop.",
         choices=("auto", "light", "dark")),
    _opt("ui.refresh_hz", float, 4.0, "Refresh rate",
         "How many times per second the dashboard redraws at most.", min=0.5, max=30, unit="Hz"),
    _opt("ui.start_minimized", bool, False, "Start minimized",
         "Start in the tray (or minimized when there is no tray)."),
    # logs
    _opt("logs.level", str, "info", "Log level", "How much goes to the log file.",
         choices=("debug", "info", "warning")),
    _opt("logs.max_megabytes", float, 5.0, "Log file size", "Rotate the log file at this size.",
         min=0.1, max=1000, unit="MB"),
    _opt("logs.backups", int, 5, "Old log files", "How many rotated log files to keep.", min=0, max=100),
)

OPTIONS_BY_KEY: Mapping[str, Option] = {o.key: o for o in OPTIONS}
GROUPS: tuple[str, ...] = tuple(dict.fromkeys(o.group for o in OPTIONS))
GROUP_LABELS: Mapping[str, str] = {
    "monitor": "Monitoring", "alerts": "Alerts", "risk": "Risk", "history": "History",
    "ui": "Dashboard", "logs": "Logs",
}


def option(key: str) -> Option:
    """The option for ``key``, or SettingsError naming close matches."""
    try:
        return OPTIONS_BY_KEY[key]
    except KeyError:
        import difflib

        close = difflib.get_close_matches(key, OPTIONS_BY_KEY, n=3, cutoff=0.5)
        hint = f" — did you mean {', '.join(close)}?" if close else " — see `desk config show` for all keys"
        raise UnknownSettingError(f"unknown setting {key!r}{hint}") from None


def _override_option(key: str) -> Option:
    full = key if "." in key else f"{OVERRIDE_GROUP}.{key}"
    opt = option(full)
    if opt.group != OVERRIDE_GROUP:
        raise SettingsError(f"{key!r} cannot be overridden per account or position — only alerts.* options")
    return opt


# --- accounts ------------------------------------------------------------------------------------

_ACCOUNT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._-]{0,63}$")
# Keys that would mean someone put a credential into the settings file by hand.
_SECRET_FIELDS = ("apikey", "api_key", "secret", "password", "passphrase", "private_key", "privatekey",
                  "token")


@dataclass(frozen=True)
class AccountConfig:
    """An exchange account as configured: never a secret (those are in the keyring)."""

    name: str
    venue: str
    label: str = ""
    api_url: str | None = None
    sandbox: bool = False
    demo_trading: bool = False
    enabled: bool = True
    wallet_address: str | None = None  # hyperliquid: the address is public, not a secret

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _ACCOUNT_NAME.match(self.name):
            raise SettingsError(
                f"account name {self.name!r} is not allowed — use 1 to 64 letters, digits, spaces, "
                "'.', '_' or '-', starting with a letter or digit (no '/')")
        if not isinstance(self.venue, str) or not self.venue.strip():
            raise SettingsError(f"account {self.name!r}: venue is missing — e.g. binance, bybit, okx")
        if self.api_url is not None and not re.match(r"^https?://", str(self.api_url)):
            raise SettingsError(f"account {self.name!r}: api_url {self.api_url!r} must start with http:// "
                                "or https://")
        for flag in ("sandbox", "demo_trading", "enabled"):
            if not isinstance(getattr(self, flag), bool):
                raise SettingsError(f"account {self.name!r}: {flag} must be true or false")

    def to_table(self) -> dict[str, Any]:
        table: dict[str, Any] = {"venue": self.venue}
        if self.label:
            table["label"] = self.label
        if self.api_url:
            table["api_url"] = self.api_url
        table["sandbox"] = self.sandbox
        table["demo_trading"] = self.demo_trading
        table["enabled"] = self.enabled
        if self.wallet_address:
            table["wallet_address"] = self.wallet_address
        return table

    @classmethod
    def from_table(cls, name: str, table: Mapping[str, Any]) -> AccountConfig:
        if not isinstance(table, Mapping):
            raise SettingsError(f"account {name!r}: expected a table of fields")
        known = {"venue", "label", "api_url", "sandbox", "demo_trading", "enabled", "wallet_address"}
        fields = {k: v for k, v in table.items() if k in known}
        return cls(name=name, **fields)


# --- migrations ----------------------------------------------------------------------------------


def _migrate_v1_to_v2(doc: dict[str, Any]) -> dict[str, Any]:
    """v1 kept display/log options in ``[general]``, distance thresholds in percent and accounts as
    an array of tables; v2 groups options by area, uses fractions and keys accounts by name."""
    general = doc.pop("general", {}) or {}
    moves = {"theme": ("ui", "theme"), "refresh_hz": ("ui", "refresh_hz"),
             "start_minimized": ("ui", "start_minimized"), "log_level": ("logs", "level")}
    for old, (group, name) in moves.items():
        if old in general:
            doc.setdefault(group, {})[name] = general.pop(old)
    if general:  # anything we do not know stays, under its old table, for a human to look at
        doc["general"] = general
    alerts = doc.get("alerts")
    if isinstance(alerts, dict):
        for level in ("warning", "critical"):
            old = f"distance_{level}_percent"
            if old in alerts:
                value = alerts.pop(old)
                alerts[f"distance_{level}"] = value / 100 if isinstance(value, int | float) else value
    accounts = doc.get(ACCOUNTS_TABLE)
    if isinstance(accounts, list):
        keyed: dict[str, Any] = {}
        for entry in accounts:
            entry = dict(entry)
            name = str(entry.pop("name", "") or f"account{len(keyed) + 1}")
            keyed[name] = entry
        doc[ACCOUNTS_TABLE] = keyed
    return doc


# Ordered: MIGRATIONS[n] turns version n into n + 1.
MIGRATIONS: Mapping[int, Callable[[dict[str, Any]], dict[str, Any]]] = {1: _migrate_v1_to_v2}


def _stamp() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")


_DELETE = object()


class Settings:
    """The user's settings: typed get/set over the declared options, accounts and overrides."""

    def __init__(self, path: Path, doc: dict[str, Any] | None = None) -> None:
        self.path = path
        self.problems: list[str] = []
        self.read_only_reason: str | None = None
        self._doc: dict[str, Any] = doc if doc is not None else {VERSION_KEY: SCHEMA_VERSION}
        self._changes: dict[tuple[str, ...], Any] = {}
        self._values: dict[str, Any] = {}
        self._refresh()

    # --- loading -----------------------------------------------------------------------------

    @classmethod
    def load(cls, path: Path | None = None) -> Settings:
        """Read the settings file (defaults when there is none), migrating an older one.

        Never raises for a bad file: problems are listed in ``.problems``.
        """
        path = Path(path) if path is not None else desk_paths().settings_file
        settings = cls(path)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return settings
        except OSError as exc:
            settings.problems.append(f"cannot read {path}: {exc.strerror or exc}; using defaults, and "
                                     "the file will not be written until this is fixed")
            settings.read_only_reason = f"{path} could not be read"
            return settings
        try:
            doc = tomllib.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            aside = settings._move_aside("corrupt")
            settings.problems.append(
                f"{path} is not valid TOML ({exc}); it was moved to {aside} and defaults are in use")
            return settings
        version = doc.get(VERSION_KEY, 1)
        if not isinstance(version, int) or version < 1:
            aside = settings._move_aside("corrupt")
            settings.problems.append(f"{path}: schema_version {version!r} is not valid; the file was moved "
                                     f"to {aside} and defaults are in use")
            return settings
        if version > SCHEMA_VERSION:
            settings.problems.append(
                f"{path} was written by a newer desk (settings schema {version}, this desk knows "
                f"{SCHEMA_VERSION}); reading what is understood, and not writing it so nothing is lost")
            settings.read_only_reason = "it was written by a newer desk"
        elif version < SCHEMA_VERSION:
            backup = path.with_name(f"{path.name}.v{version}-backup-{_stamp()}")
            shutil.copy2(path, backup)
            _fsync_file(backup)
            try:
                for step in range(version, SCHEMA_VERSION):
                    doc = MIGRATIONS[step](doc)
                    doc[VERSION_KEY] = step + 1
            except Exception as exc:
                settings.problems.append(
                    f"{path}: migrating settings from schema {version} failed ({exc}); the file is kept "
                    f"as it was (backup: {backup}) and defaults are in use")
                settings.read_only_reason = "its migration failed"
                return settings
            settings._doc = doc
            settings._refresh()
            _atomic_write(path, _dump(doc))
            settings.problems.append(f"{path}: settings migrated from schema {version} to {SCHEMA_VERSION} "
                                     f"(the old file is kept as {backup})")
            settings._register_secrets()
            return settings
        settings._doc = doc
        settings._refresh()
        settings._register_secrets()
        return settings

    def _move_aside(self, why: str) -> Path:
        aside = self.path.with_name(f"{self.path.name}.{why}-{_stamp()}")
        os.replace(self.path, aside)
        return aside

    def _register_secrets(self) -> None:
        for opt in OPTIONS:
            if opt.secret:
                register_secret(self._values.get(opt.key))

    def _refresh(self) -> None:
        """Re-derive the validated values from the document, noting invalid ones."""
        values: dict[str, Any] = {}
        for opt in OPTIONS:
            table = self._doc.get(opt.group)
            if not isinstance(table, dict) or opt.name not in table:
                continue
            try:
                values[opt.key] = opt.validate(table[opt.name])
            except SettingsError as exc:
                note = f"{self.path}: {exc}; using the default {opt.format(opt.default)}"
                if note not in self.problems:
                    self.problems.append(note)
        self._values = values
        for name, table in self._raw_accounts().items():
            try:
                AccountConfig.from_table(name, table)
            except (SettingsError, TypeError) as exc:
                note = f"{self.path}: account {name!r} is ignored: {exc}"
                if note not in self.problems:
                    self.problems.append(note)
            if isinstance(table, Mapping):
                leaked = sorted(k for k in table if k.lower().replace("-", "_") in _SECRET_FIELDS)
                if leaked:
                    note = (f"{self.path}: account {name!r} has {', '.join(leaked)} in the settings file; "
                            "secrets belong in the keyring — remove them from the file and use "
                            "`desk accounts add`")
                    if note not in self.problems:
                        self.problems.append(note)

    # --- options -------------------------------------------------------------------------------

    def get(self, key: str) -> Any:
        return self._values.get(key, option(key).default)

    def is_default(self, key: str) -> bool:
        return bool(self.get(key) == option(key).default)

    def set(self, key: str, value: Any) -> None:
        """Validate and set; a str is parsed per the option's type (command-line input)."""
        opt = option(key)
        value = opt.parse(value) if isinstance(value, str) and opt.type is not str else opt.validate(value)
        self._values[key] = value
        self._doc.setdefault(opt.group, {})[opt.name] = value
        self._changes[(opt.group, opt.name)] = value
        if opt.secret:
            register_secret(value)

    def reset(self, key: str) -> None:
        """Back to the default (the key is removed from the file)."""
        opt = option(key)
        self._values.pop(key, None)
        table = self._doc.get(opt.group)
        if isinstance(table, dict):
            table.pop(opt.name, None)
        self._changes[(opt.group, opt.name)] = _DELETE

    def as_dict(self) -> dict[str, Any]:
        """Every option's current value by key."""
        return {o.key: self.get(o.key) for o in OPTIONS}

    # --- accounts ------------------------------------------------------------------------------

    def _raw_accounts(self) -> dict[str, Any]:
        table = self._doc.get(ACCOUNTS_TABLE)
        return table if isinstance(table, dict) else {}

    def accounts(self) -> dict[str, AccountConfig]:
        """The valid configured accounts by name (invalid ones are listed in ``problems``)."""
        result: dict[str, AccountConfig] = {}
        for name, table in self._raw_accounts().items():
            with contextlib.suppress(SettingsError, TypeError):
                result[name] = AccountConfig.from_table(name, table)
        return result

    def put_account(self, cfg: AccountConfig) -> None:
        table = cfg.to_table()
        self._doc.setdefault(ACCOUNTS_TABLE, {})[cfg.name] = table
        self._changes[(ACCOUNTS_TABLE, cfg.name)] = table

    def remove_account(self, name: str) -> None:
        accounts = self._raw_accounts()
        if name not in accounts:
            raise SettingsError(f"no account named {name!r} — configured: {', '.join(accounts) or 'none'}")
        del accounts[name]
        self._changes[(ACCOUNTS_TABLE, name)] = _DELETE
        for scope in list(self._raw_overrides()):
            if scope == name or scope.startswith(name + "/"):
                self.clear_override(scope)

    # --- alert-rule overrides ------------------------------------------------------------------

    def _raw_overrides(self) -> dict[str, Any]:
        table = self._doc.get(OVERRIDES_TABLE)
        return table if isinstance(table, dict) else {}

    @staticmethod
    def _check_scope(scope: str) -> None:
        account, _, symbol = scope.partition("/")
        if not account or not _ACCOUNT_NAME.match(account) or ("/" in scope and not symbol):
            raise SettingsError(f"override scope {scope!r} is not valid — use ACCOUNT or ACCOUNT/SYMBOL, "
                                "e.g. main or main/BTC/USDT:USDT")

    def overrides(self, scope: str) -> dict[str, Any]:
        """Alert option overrides for ``scope`` ("ACCOUNT" or "ACCOUNT/SYMBOL"), by full option key.

        Only this scope's own entries: the caller layers position over account over global.
        """
        table = self._raw_overrides().get(scope)
        result: dict[str, Any] = {}
        if not isinstance(table, dict):
            return result
        for name, value in table.items():
            try:
                opt = _override_option(name)
                result[opt.key] = opt.validate(value)
            except SettingsError as exc:
                note = f"{self.path}: override {scope}: {exc}; ignored"
                if note not in self.problems:
                    self.problems.append(note)
        return result

    def override_scopes(self) -> list[str]:
        return list(self._raw_overrides())

    def set_override(self, scope: str, key: str, value: Any) -> None:
        self._check_scope(scope)
        opt = _override_option(key)
        value = opt.parse(value) if isinstance(value, str) and opt.type is not str else opt.validate(value)
        self._doc.setdefault(OVERRIDES_TABLE, {}).setdefault(scope, {})[opt.name] = value
        self._changes[(OVERRIDES_TABLE, scope, opt.name)] = value

    def clear_override(self, scope: str, key: str | None = None) -> None:
        """Drop one override of ``scope``, or all of them when ``key`` is None."""
        overrides = self._raw_overrides()
        if key is None:
            overrides.pop(scope, None)
            self._changes[(OVERRIDES_TABLE, scope)] = _DELETE
            return
        opt = _override_option(key)
        table = overrides.get(scope)
        if isinstance(table, dict):
            table.pop(opt.name, None)
            if not table:
                overrides.pop(scope, None)
        self._changes[(OVERRIDES_TABLE, scope, opt.name)] = _DELETE

    # --- saving --------------------------------------------------------------------------------

    def save(self) -> None:
        """Write atomically, merging this instance's changes into the file as it is now on disk."""
        if self.read_only_reason:
            raise SettingsError(f"not saving {self.path}: {self.read_only_reason} — see the problems "
                                "reported when it was loaded")
        base = self._current_file_doc()
        for path, value in self._changes.items():
            _apply(base, path, value)
        base[VERSION_KEY] = SCHEMA_VERSION
        _atomic_write(self.path, _dump(base))
        self._doc = base
        self._changes.clear()
        self._refresh()

    def _current_file_doc(self) -> dict[str, Any]:
        """The file's content now (another process may have written it since we loaded)."""
        try:
            doc = tomllib.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return copy.deepcopy(self._doc)
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
            # Broken since we loaded it: keep it for the user rather than overwrite it.
            aside = self._move_aside("corrupt")
            self.problems.append(f"{self.path} had become unreadable; it was moved to {aside}")
            return copy.deepcopy(self._doc)
        if doc.get(VERSION_KEY, 1) != SCHEMA_VERSION:
            raise SettingsError(f"not saving {self.path}: another desk changed it to schema "
                                f"{doc.get(VERSION_KEY, 1)!r} meanwhile; restart desk")
        return doc


def _apply(doc: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    *parents, last = path
    node: Any = doc
    chain = []
    for name in parents:
        if value is _DELETE and (not isinstance(node, dict) or name not in node):
            return
        nxt = node.get(name)
        if not isinstance(nxt, dict):
            nxt = node[name] = {}
        chain.append((node, name))
        node = nxt
    if value is _DELETE:
        node.pop(last, None)
        # Drop tables the deletion emptied (an empty [overrides."x"] says nothing).
        for parent, name in reversed(chain):
            if parent[name]:
                break
            del parent[name]
    else:
        node[last] = copy.deepcopy(value)


def _dump(doc: Mapping[str, Any]) -> bytes:
    ordered: dict[str, Any] = {VERSION_KEY: doc.get(VERSION_KEY, SCHEMA_VERSION)}
    ordered.update((k, v) for k, v in doc.items() if k != VERSION_KEY)
    header = b"# desk settings - edit with `desk config set KEY VALUE` or by hand while desk is closed.\n"
    return header + tomli_w.dumps(ordered).encode("utf-8")


def _fsync_file(path: Path) -> None:
    with open(path, "rb") as f:
        os.fsync(f.fileno())


def _fsync_dir(directory: Path) -> None:
    if os.name != "posix":
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _atomic_write(path: Path, data: bytes) -> None:
    """Temporary file in the same folder, fsync, rename over the target, fsync the folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


atomic_write = _atomic_write  # for the other store modules (exports)
