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
folder) and serialized between processes by a lock file (``settings.toml.lock``): ``save``
re-reads the file under the lock and applies only this instance's changes, so the dashboard and
any number of ``desk config set`` running at the same time never lose each other's changes. An
older file is backed up before it is migrated; unknown keys (from a newer desk, or hand edits)
are kept as they are.

A damaged file never costs the settings that were fine (see :mod:`desk.store.settings_reader`):
every readable key and account is used, every bad one is reported in :attr:`Settings.issues`
(key, value, why, line) and the file is left as the user wrote it, with a copy kept as
``settings.toml.damaged-<time>``. The first save rewrites it, keeping the unreadable lines as
comments at its end. A value of the wrong type or out of range is reported and the default
used in its place; it stays in the file until it is changed.

Rules that span options (a critical threshold worse than its warning, data live before it is
stale) are declared once, in :data:`RULES`, and enforced by the loader, ``set``/``update``
(``desk config set`` and the settings dialog) and ``save``.
"""

from __future__ import annotations

import contextlib
import copy
import math
import os
import re
import tempfile
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from glob import escape as glob_escape
from pathlib import Path
from typing import Any

import tomli_w

from desk.store.filelock import locked
from desk.store.paths import desk_paths
from desk.store.redact import register_secret
from desk.store.settings_reader import MAX_BYTES, ReadResult, SettingsIssue, read_document, shown
from desk.userfile import read_regular

SCHEMA_VERSION = 2
VERSION_KEY = "schema_version"
ACCOUNTS_TABLE = "accounts"
OVERRIDES_TABLE = "overrides"
OVERRIDE_GROUP = "alerts"  # overrides may only adjust alert options
CHANNELS_TABLE = "channels"


class SettingsError(ValueError):
    """An invalid key or value; the message names the key and what is allowed."""


class UnknownSettingError(SettingsError, KeyError):
    """No option has this key (also a KeyError, for callers that probe with ``get``)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


_QUIET_HOURS = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])-([01][0-9]|2[0-3]):([0-5][0-9])")


def _check_quiet_hours(value: Any) -> str | None:
    if value == "":
        return None
    match = _QUIET_HOURS.fullmatch(value)
    if not match:
        return 'expected "" (off) or HH:MM-HH:MM with digits 0-9, e.g. "23:00-07:00"'
    if match.group(1, 2) == match.group(3, 4):
        return 'the span starts and ends at the same time; use "" to turn quiet hours off'
    return None


def check_url(value: Any) -> str | None:
    """Why ``value`` is not a usable http(s) URL, or None ("" means off)."""
    if value == "":
        return None
    expected = 'expected "" (off) or an http:// or https:// URL'
    if not isinstance(value, str) or not value.isascii() or any(c.isspace() or not c.isprintable()
                                                                 for c in value):
        return f"{expected} without spaces or special characters (write them %-encoded)"
    try:
        parts = urllib.parse.urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        return f"{expected} with a valid host and port"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return expected
    return None


def _check_repeat_schedule(value: Any) -> str | None:
    try:
        parse_repeat_schedule(value)
    except ValueError as exc:
        return str(exc)
    return None


def parse_repeat_schedule(text: str) -> tuple[float, ...]:
    """``"2,5,10,15"`` → a critical alert repeats 2, 5 and 10 minutes after it first fired, then
    every 15 minutes while it stays critical (the last number is the interval). "" → off."""
    if not text.strip():
        return ()
    expected = ('expected "" (off) or minutes separated by commas, rising except the last (the interval '
                'after them), e.g. "2,5,10,15"')
    try:
        minutes = tuple(float(part) for part in text.split(","))
    except ValueError:
        raise ValueError(expected) from None
    steps = list(minutes[:-1])
    if any(not math.isfinite(m) or m <= 0 for m in minutes) or steps != sorted(set(steps)):
        raise ValueError(expected)
    return minutes


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
    # a fraction that every surface shows as percent: the settings dialog shows and takes it as
    # percent too (10 ↔ 0.10); the file and `desk config` keep the fraction
    percent: bool = False
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
        if self.type is not str and not raw.isascii():
            raise self._error(text, f"expected {self.allowed()}, written with the digits 0-9")
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
        value, why = self.checked(value)
        if why is not None:
            raise self._error(value, why)
        return value

    def checked(self, value: Any) -> tuple[Any, str | None]:
        """(``value`` as this option's type, None), or (``value``, why it is not allowed)."""
        expected = f"expected {self.allowed()}"
        if self.type is bool:
            if not isinstance(value, bool):
                return value, expected
        elif self.type is int:
            if isinstance(value, bool) or not isinstance(value, int):
                if isinstance(value, float) and value.is_integer():
                    value = int(value)
                else:
                    return value, expected
        elif self.type is float:
            if isinstance(value, bool) or not isinstance(value, int | float):
                return value, expected
            try:
                value = float(value)
            except OverflowError:  # an integer too large for a float
                return value, expected
            if not math.isfinite(value):
                return value, expected
        elif not isinstance(value, str):
            return value, expected
        if self.choices is not None and value not in self.choices:
            return value, expected
        if self.min is not None and value < self.min:
            return value, expected
        if self.max is not None and value > self.max:
            return value, expected
        if self.check is not None:
            problem = self.check(value)
            if problem:
                return value, problem
        return value, None

    def shown(self, value: Any) -> str:
        """``value`` for a message: masked for secrets, shortened."""
        return "***" if self.secret else shown(repr(value))

    def format_percent(self, value: Any) -> str:
        """A ``percent`` option's value as a person types it in the dialog: 0.1 → "10"."""
        return f"{float(value) * 100:.10g}"

    def parse_percent(self, text: str) -> Any:
        """A ``percent`` option typed as percent ("10" or "10 %") → its fraction, validated."""
        raw = text.strip().removesuffix("%").strip()
        try:
            number = float(raw)
        except ValueError:
            number = math.nan
        if not math.isfinite(number):
            raise self._percent_error(text)
        try:
            return self.validate(number / 100.0)
        except SettingsError:
            raise self._percent_error(text) from None

    def _percent_error(self, text: str) -> SettingsError:
        lo = "" if self.min is None else f" from {self.min * 100:g}"
        hi = "" if self.max is None else f" to {self.max * 100:g}"
        return SettingsError(f"{self.key}: {text!r} is not allowed — expected a percent{lo}{hi} "
                             f"(e.g. {self.format_percent(self.default)} for {self.format(self.default)})")

    def format(self, value: Any) -> str:
        """The value as a user types it (``true``, ``0.1``, ``dark``)."""
        if self.type is bool:
            return "true" if value else "false"
        if self.type is float:
            return _fmt(value)
        return str(value)

    def _error(self, value: Any, why: str | None = None) -> SettingsError:
        why = why or f"expected {self.allowed()}"
        return SettingsError(f"{self.key}: {self.shown(value)} is not allowed — {why}")


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
         "Warn when the mark is this close to the liquidation price (percent of the mark; the settings "
         "file holds the fraction: 0.10 = 10 %).",
         min=0.0001, max=1, percent=True),
    _opt("alerts.distance_critical", float, 0.05, "Critical at distance",
         "Critical alert when the mark is this close to the liquidation price (fraction of the mark).",
         min=0.0001, max=1, percent=True),
    _opt("alerts.margin_ratio_warning", float, 0.5, "Warn at margin ratio",
         "Warn when maintenance margin ÷ margin balance reaches this (100 % = liquidation).",
         min=0.01, max=1, percent=True),
    _opt("alerts.margin_ratio_critical", float, 0.8, "Critical at margin ratio",
         "Critical alert when maintenance margin ÷ margin balance reaches this (100 % = liquidation).",
         min=0.01, max=1, percent=True),
    _opt("alerts.stale_seconds", float, 30.0, "Alert when data older than",
         "Raise a 'cannot monitor' alert when an account's data is older than this.",
         min=1, max=86400, unit="s"),
    _opt("alerts.rearm_margin", float, 0.1, "Re-arm margin",
         "An alert re-arms only after the value recovers this much past its threshold "
         "(relative: 0.1 = 10 % of the threshold), so a value hovering at the line does not flap.",
         min=0, max=0.99),
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
    _opt("alerts.repeat_critical_minutes", str, "2,5,10,15", "Repeat critical after",
         "A critical alert nobody acknowledged is sent again this many minutes after it first fired, "
         'then every LAST minutes while it stays critical ("2,5,10,15": at 2, 5 and 10 min, then every '
         "15 min). Acknowledging it or its recovery stops the repeats. Empty: send it once.",
         check=_check_repeat_schedule),
    _opt("alerts.desktop", bool, True, "Desktop notifications", "Show alerts as desktop notifications."),
    _opt("alerts.unprotected_notional", float, 0.0, "Unprotected above notional",
         "Warn when a position's notional (in its settle currency) is above this and no stop of it fires "
         "before liquidation (no stop, or every stop beyond the liquidation price). 0: off.",
         min=0, max=1e15),
    # risk
    _opt("risk.target_margin_ratio", float, 0.5, "Target margin ratio",
         "Suggestions (add margin, reduce size) aim to bring the margin ratio down to this.",
         min=0.01, max=0.99, percent=True),
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


# --- rules that span options --------------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    """``low`` must stay strictly below ``high`` (both option keys); ``why`` says why in words."""

    low: str
    high: str
    why: str

    @property
    def keys(self) -> tuple[str, str]:
        return (self.low, self.high)

    def holds(self, get: Callable[[str], Any]) -> bool:
        return bool(get(self.low) < get(self.high))

    def explain(self, get: Callable[[str], Any], changing: str | None = None) -> str:
        """The broken rule in words, from the side of the key being changed (if any)."""
        low, high = OPTIONS_BY_KEY[self.low], OPTIONS_BY_KEY[self.high]
        low_v, high_v = low.format(get(self.low)), high.format(get(self.high))
        if changing == self.high:
            return (f"{self.high}: {high_v} is not allowed — it must be above {self.low} (now {low_v}): "
                    f"{self.why}. Lower {self.low} first, or change both in the settings dialog")
        if changing == self.low:
            return (f"{self.low}: {low_v} is not allowed — it must be below {self.high} (now {high_v}): "
                    f"{self.why}. Raise {self.high} first, or change both in the settings dialog")
        return f"{self.low} ({low_v}) must be below {self.high} ({high_v}): {self.why}"


RULES: tuple[Rule, ...] = (
    Rule("alerts.distance_critical", "alerts.distance_warning",
         "a smaller distance to liquidation is worse, so the critical line comes after the warning"),
    Rule("alerts.margin_ratio_warning", "alerts.margin_ratio_critical",
         "a higher margin ratio is worse, so the critical line comes after the warning"),
    Rule("monitor.live_seconds", "monitor.stale_seconds", "data cannot still be live once it is stale"),
    Rule("monitor.live_seconds", "alerts.stale_seconds",
         "a 'cannot monitor' alert about data that is still shown as live would contradict the table"),
)


def broken_rules(get: Callable[[str], Any]) -> list[Rule]:
    """The rules ``get`` (key -> value) breaks; the settings dialog checks its pending values here."""
    return [rule for rule in RULES if not rule.holds(get)]


# --- alert channels ------------------------------------------------------------------------------

LEVELS = ("info", "warning", "critical")

# The routing of one alert channel (``[channels.NAME]``). Its URL holds tokens: it is in the OS
# keyring (desk.store.secrets.put_channel_url), never here.
CHANNEL_OPTIONS: tuple[Option, ...] = (
    _opt("channel.level", str, "warning", "Minimum level",
         "Send alerts of this level and worse (e.g. critical only for a phone).", choices=LEVELS),
    _opt("channel.quiet_hours", str, "", "Quiet hours",
         'Local time span in which this channel gets nothing, e.g. "23:00-07:00". Empty: off.',
         check=_check_quiet_hours),
    _opt("channel.critical_overrides_quiet", bool, True, "Critical breaks quiet hours",
         "Critical alerts (and their repeats) still go out during this channel's quiet hours."),
    _opt("channel.digest_after", int, 5, "Digest after",
         "More alerts than this within the digest window are held and sent as one digest at its end "
         "(critical alerts always go at once). 0: never digest.", min=0, max=1000),
    _opt("channel.digest_minutes", float, 10.0, "Digest window",
         "The window over which alerts to this channel are counted for the digest.",
         min=0.1, max=24 * 60, unit="min"),
)
CHANNEL_OPTIONS_BY_NAME: Mapping[str, Option] = {o.name: o for o in CHANNEL_OPTIONS}
_CHANNEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$")


def check_channel_name(name: str) -> str:
    if not isinstance(name, str) or not _CHANNEL_NAME.match(name):
        raise SettingsError(f"channel name {name!r} is not allowed — use 1 to 32 letters, digits, '.', '_' "
                            "or '-', starting with a letter or digit (e.g. phone, team-slack)")
    return name


@dataclass(frozen=True)
class ChannelConfig:
    """An alert channel's routing; its URL is in the keyring."""

    name: str
    level: str = "warning"
    quiet_hours: str = ""
    critical_overrides_quiet: bool = True
    digest_after: int = 5
    digest_minutes: float = 10.0

    @classmethod
    def from_table(cls, name: str, table: Any) -> ChannelConfig:
        check_channel_name(name)
        if not isinstance(table, Mapping):
            raise SettingsError(f"channel {name!r}: expected a table of fields")
        values: dict[str, Any] = {}
        for key, value in table.items():
            opt = CHANNEL_OPTIONS_BY_NAME.get(key)
            if opt is None:
                known = ", ".join(CHANNEL_OPTIONS_BY_NAME)
                if key.lower() in ("url", "token", "password", "secret"):
                    raise SettingsError(f"channel {name!r}: {key} does not belong in the settings file (it "
                                        "holds a token): remove it and use `desk alerts channel add`")
                raise SettingsError(f"channel {name!r}: unknown field {key!r} — known: {known}")
            try:
                values[key] = opt.validate(value)
            except SettingsError as exc:
                raise SettingsError(f"channel {name!r}: {exc}") from None
        return cls(name=name, **values)

    def to_table(self) -> dict[str, Any]:
        return {o.name: getattr(self, o.name) for o in CHANNEL_OPTIONS}


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
        if self.api_url is not None:
            problem = check_url(self.api_url) if self.api_url != "" else "expected an http:// or https:// URL"
            if problem:
                raise SettingsError(f"account {self.name!r}: api_url {shown(repr(self.api_url))} is not "
                                    f"allowed — {problem}")
        for text_field in ("label", "wallet_address"):
            value = getattr(self, text_field)
            if value is not None and not isinstance(value, str):
                raise SettingsError(f"account {self.name!r}: {text_field} must be text, "
                                    f"got {shown(repr(value))}")
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


def _looks_v1(doc: Mapping[str, Any]) -> bool:
    alerts = doc.get("alerts")
    return ("general" in doc or isinstance(doc.get(ACCOUNTS_TABLE), list)
            or (isinstance(alerts, dict) and any(str(k).endswith("_percent") for k in alerts)))


@dataclass
class _FileState:
    """The settings file as it is now: its document (migrated in memory) and what is wrong with it."""

    data: bytes
    doc: dict[str, Any]
    issues: list[SettingsIssue]
    dropped: list[tuple[int | None, str]]  # what a rewrite cannot carry over (kept as comments)
    version: int = SCHEMA_VERSION
    too_large: bool = False
    migration_error: str = ""


def _interpret(data: bytes) -> _FileState:
    read: ReadResult = read_document(data)
    state = _FileState(data, read.doc, list(read.issues), list(read.dropped), too_large=read.too_large)
    if read.too_large:
        return state
    doc = state.doc
    raw_version = doc.get(VERSION_KEY)
    if raw_version is None:
        # A file without a version is v1 (v1 did not write one) — unless the version line is one of
        # the lines a damaged file lost; then it is read as today's schema unless it looks like v1.
        state.version = 1 if not read.damaged or _looks_v1(doc) else SCHEMA_VERSION
    elif isinstance(raw_version, bool) or not isinstance(raw_version, int) or raw_version < 1:
        state.issues.append(SettingsIssue(VERSION_KEY, f"not a schema number; read as schema "
                                          f"{SCHEMA_VERSION}", value=shown(repr(raw_version))))
        state.dropped.append((None, f"{VERSION_KEY} = {shown(repr(raw_version), 400)}"))
        state.version = SCHEMA_VERSION
    else:
        state.version = raw_version
    if state.version < SCHEMA_VERSION:
        try:
            for step in range(state.version, SCHEMA_VERSION):
                doc = MIGRATIONS[step](doc)
                doc[VERSION_KEY] = step + 1
        except Exception as exc:  # a hand-edited old file may hold anything
            state.migration_error = shown(f"{type(exc).__name__}: {exc}", 200)
            return state
    state.doc = doc
    for name in (*GROUPS, ACCOUNTS_TABLE, OVERRIDES_TABLE):
        if name in doc and not isinstance(doc[name], dict):
            value = doc.pop(name)
            state.issues.append(SettingsIssue(
                name, f"expected a table [{name}] of settings; ignored", value=shown(repr(value))))
            state.dropped.append((None, f"{name} = {shown(repr(value), 400)}"))
    state.issues = [_masked(issue) for issue in state.issues]
    return state


_SECRET_OPTION_NAMES = {o.name for o in OPTIONS if o.secret}


def _masked(issue: SettingsIssue) -> SettingsIssue:
    """No secret value reaches a message: a damaged secret line is named, not quoted."""
    last = issue.key.rsplit(".", 1)[-1].lower().replace("-", "_")
    if issue.value and (last in _SECRET_OPTION_NAMES or last in _SECRET_FIELDS):
        return replace(issue, value="***")
    return issue


def _read_capped(path: Path) -> bytes:
    """At most MAX_BYTES + 1 bytes of a regular file (a FIFO or a device is an OSError, never a hang)."""
    return read_regular(path, MAX_BYTES)


def _checked_values(doc: Mapping[str, Any]) -> tuple[dict[str, Any], list[SettingsIssue]]:
    """The valid option values in ``doc`` and the issues with the others (defaults are used for them)."""
    values: dict[str, Any] = {}
    issues: list[SettingsIssue] = []
    for opt in OPTIONS:
        table = doc.get(opt.group)
        if not isinstance(table, dict) or opt.name not in table:
            continue
        value, why = opt.checked(table[opt.name])
        if why is None:
            values[opt.key] = value
        else:
            issues.append(SettingsIssue(opt.key, f"not allowed — {why}; using the default "
                                        f"{opt.format(opt.default)}", value=opt.shown(table[opt.name])))
    return values, issues


def _values_from(doc: Mapping[str, Any]) -> tuple[dict[str, Any], list[SettingsIssue]]:
    """:func:`_checked_values` with :data:`RULES` applied: a broken rule puts the user's values it
    involves back to their defaults (and is reported)."""
    values, issues = _checked_values(doc)

    def get(key: str) -> Any:
        return values.get(key, OPTIONS_BY_KEY[key].default)

    for _ in range(len(RULES)):
        broken = broken_rules(get)
        if not broken:
            break
        rule = broken[0]
        mine = [k for k in rule.keys if k in values]
        if not mine:  # the defaults themselves satisfy every rule; guard against a bad declaration
            break
        defaults = ", ".join(f"{k} = {OPTIONS_BY_KEY[k].format(OPTIONS_BY_KEY[k].default)}" for k in mine)
        issues.append(SettingsIssue(", ".join(rule.keys),
                                    f"{rule.explain(get)}; using the default {defaults}"))
        for key in mine:
            del values[key]
    return values, issues


class Settings:
    """The user's settings: typed get/set over the declared options, accounts and overrides."""

    def __init__(self, path: Path, doc: dict[str, Any] | None = None) -> None:
        self.path = path
        self.notes: list[str] = []  # what happened to the file (migrated, rewritten, backed up)
        self.issues: list[SettingsIssue] = []  # every bad entry: key, value, why
        self.read_only_reason: str | None = None
        self._file_issues: list[SettingsIssue] = []
        self._doc: dict[str, Any] = doc if doc is not None else {VERSION_KEY: SCHEMA_VERSION}
        self._changes: dict[tuple[str, ...], Any] = {}
        self._values: dict[str, Any] = {}
        self._ignored_overrides: dict[str, set[str]] = {}  # scope -> keys that break RULES there
        self._refresh()

    @property
    def problems(self) -> list[str]:
        """Everything the user should be told, one line each (what happened, then each bad entry)."""
        return [*self.notes, *(f"{self.path}: {issue}" for issue in self.issues)]

    def bad_keys(self) -> list[str]:
        """The keys (or lines) of the bad entries, for a short warning."""
        return list(dict.fromkeys(issue.key for issue in self.issues))

    # --- loading -----------------------------------------------------------------------------

    @classmethod
    def load(cls, path: Path | None = None) -> Settings:
        """Read the settings file (defaults when there is none), migrating an older one.

        Never raises for a bad file: what is wrong is in ``.issues`` and ``.problems``.
        """
        path = Path(path) if path is not None else desk_paths().settings_file
        settings = cls(path)
        try:
            data = _read_capped(path)
        except FileNotFoundError:
            return settings
        except OSError as exc:
            settings.notes.append(f"cannot read {path}: {exc.strerror or exc}; using defaults, and "
                                  "the file will not be written until this is fixed")
            settings.read_only_reason = f"{path} could not be read"
            return settings
        settings._take(_interpret(data))
        return settings

    def _take(self, state: _FileState) -> None:
        path = self.path
        self._file_issues = state.issues
        if state.too_large:
            self.read_only_reason = f"{path} is too large to be a settings file"
            self._refresh()
            return
        if state.migration_error:
            backup = self._backup(state.data, f"v{state.version}-backup")
            self.notes.append(
                f"{path}: migrating settings from schema {state.version} failed ({state.migration_error}); "
                f"the file is kept as it was (backup: {backup}) and defaults are in use")
            self.read_only_reason = "its migration failed"
            self._refresh()
            return
        if state.version > SCHEMA_VERSION:
            self.notes.append(
                f"{path} was written by a newer desk (settings schema {state.version}, this desk knows "
                f"{SCHEMA_VERSION}); reading what is understood, and not writing it so nothing is lost")
            self.read_only_reason = "it was written by a newer desk"
        if state.dropped:
            damaged_copy = self._backup_damaged(state.data)
            kept = f"a copy is kept as {damaged_copy}" if damaged_copy else "no copy could be made"
            self.notes.append(
                f"{path} is damaged: {len(state.issues)} entr{'y' if len(state.issues) == 1 else 'ies'} "
                f"could not be used (below); every other setting and account is in use. The file is left "
                f"as it is ({kept}); fix it by hand, or the next change made by desk rewrites it, keeping "
                "the unreadable lines as comments at its end")
        self._doc = state.doc
        if state.version < SCHEMA_VERSION and state.dropped:
            # A damaged file is rewritten only by a save (with its unreadable lines kept); until
            # then it is migrated in memory on every read, and the damaged-file copy is its backup.
            self.notes.append(f"{path}: read as settings schema {state.version} and migrated in memory; "
                              "the file is written in the current schema at the next save")
        elif state.version < SCHEMA_VERSION:
            backup = self._backup(state.data, f"v{state.version}-backup")
            with locked(path):
                if _read_capped(path) == state.data:  # nobody changed it meanwhile
                    _atomic_write(path, _dump(self._doc))
            self.notes.append(f"{path}: settings migrated from schema {state.version} to {SCHEMA_VERSION} "
                              f"(the old file is kept as {backup})")
        self._refresh()
        self._register_secrets()

    def _backup(self, data: bytes, why: str) -> Path:
        backup = self.path.with_name(f"{self.path.name}.{why}-{_stamp()}")
        _atomic_write(backup, data)
        return backup

    def _backup_damaged(self, data: bytes) -> Path | None:
        """A copy of the damaged file as it is (one per distinct content, not one per start)."""
        with contextlib.suppress(OSError):
            for sibling in sorted(self.path.parent.glob(f"{glob_escape(self.path.name)}.damaged-*")):
                with contextlib.suppress(OSError):
                    if sibling.stat().st_size == len(data) and sibling.read_bytes() == data:
                        return sibling
        try:
            return self._backup(data, "damaged")
        except OSError:
            return None

    def _register_secrets(self) -> None:
        for opt in OPTIONS:
            if opt.secret:
                register_secret(self._values.get(opt.key))

    def _refresh(self) -> None:
        """Re-derive the validated values from the document, noting every bad entry."""
        values, issues = _values_from(self._doc)
        issues = [*self._file_issues, *issues]
        for name, table in self._raw_accounts().items():
            key = f"{ACCOUNTS_TABLE}.{name}"
            try:
                AccountConfig.from_table(name, table)
            except (SettingsError, TypeError) as exc:
                issues.append(SettingsIssue(key, f"{exc}; this account is not used"))
            if isinstance(table, Mapping):
                leaked = sorted(k for k in table if k.lower().replace("-", "_") in _SECRET_FIELDS)
                if leaked:
                    issues.append(SettingsIssue(
                        key, f"has {', '.join(leaked)} in the settings file; secrets belong in the keyring — "
                        "remove them from the file and use `desk accounts add`"))
        for name, table in self._raw_channels().items():
            try:
                ChannelConfig.from_table(name, table)
            except SettingsError as exc:
                issues.append(SettingsIssue(f"{CHANNELS_TABLE}.{name}", f"{exc}; this channel is not used"))
        old_alerts = self._doc.get("alerts")
        if isinstance(old_alerts, dict) and old_alerts.get("webhook_url"):
            issues.append(SettingsIssue(
                "alerts.webhook_url", "is no longer used: a channel URL holds a token, so it lives in the "
                "keyring — add it with `desk alerts channel add NAME` (it reads the URL from a prompt or "
                "stdin), then remove this line", value="***"))
            register_secret(str(old_alerts["webhook_url"]))
        self._values = values
        self._ignored_overrides = {}
        for scope, table in self._raw_overrides().items():
            if not isinstance(table, dict):
                issues.append(SettingsIssue(f"{OVERRIDES_TABLE}.{scope}", "expected a table of alert "
                                            "settings; ignored", value=shown(repr(table))))
                continue
            for name, value in table.items():
                try:
                    _override_option(name).validate(value)
                except SettingsError as exc:
                    issues.append(SettingsIssue(f"{OVERRIDES_TABLE}.{scope}", f"{exc}; ignored"))
            issues.extend(self._check_override_rules(scope))
        self.issues = issues

    def _check_override_rules(self, scope: str) -> list[SettingsIssue]:
        """An override must keep RULES with the values it is layered on (global, then account);
        one that does not is reported and ignored, so the alert rules never see it."""
        own = self.overrides(scope)
        account = scope.partition("/")[0]
        layers = [self.overrides(account)] if scope != account else []

        def get(key: str) -> Any:
            for layer in (own, *layers):
                if key in layer:
                    return layer[key]
            return self.get(key)

        issues = []
        for rule in broken_rules(get):
            mine = [k for k in rule.keys if k in own]
            if mine:
                issues.append(SettingsIssue(
                    f"{OVERRIDES_TABLE}.{scope}", f"{rule.explain(get)}; the override of {', '.join(mine)} "
                    "is ignored"))
                self._ignored_overrides.setdefault(scope, set()).update(mine)
        return issues

    # --- options -------------------------------------------------------------------------------

    def get(self, key: str) -> Any:
        return self._values.get(key, option(key).default)

    def is_default(self, key: str) -> bool:
        return bool(self.get(key) == option(key).default)

    def set(self, key: str, value: Any) -> None:
        """Validate and set; a str is parsed per the option's type (command-line input)."""
        self.update({key: value})

    def update(self, changes: Mapping[str, Any]) -> None:
        """Validate and set several options at once: each on its own, then together against
        :data:`RULES` (so a warning and its critical can be moved past each other in one go).
        Nothing is set unless everything is valid."""
        parsed: dict[str, Any] = {}
        for key, value in changes.items():
            opt = option(key)
            parsed[opt.key] = (opt.parse(value) if isinstance(value, str) and opt.type is not str
                               else opt.validate(value))
        self._check_rules(parsed, ())
        for key, value in parsed.items():
            opt = OPTIONS_BY_KEY[key]
            self._values[key] = value
            table = self._doc.get(opt.group)
            if not isinstance(table, dict):
                table = self._doc[opt.group] = {}
            table[opt.name] = value
            self._changes[(opt.group, opt.name)] = value
            if opt.secret:
                register_secret(value)

    def reset(self, key: str) -> None:
        """Back to the default (the key is removed from the file)."""
        opt = option(key)
        self._check_rules({}, (opt.key,))
        self._values.pop(opt.key, None)
        table = self._doc.get(opt.group)
        if isinstance(table, dict):
            table.pop(opt.name, None)
        self._changes[(opt.group, opt.name)] = _DELETE

    def _check_rules(self, new: Mapping[str, Any], resets: tuple[str, ...]) -> None:
        def get(key: str) -> Any:
            if key in new:
                return new[key]
            return OPTIONS_BY_KEY[key].default if key in resets else self.get(key)

        broken = broken_rules(get)
        if broken:
            rule = broken[0]
            changing = next((k for k in rule.keys if k in new or k in resets), None)
            raise SettingsError(rule.explain(get, changing))

    def as_dict(self) -> dict[str, Any]:
        """Every option's current value by key."""
        return {o.key: self.get(o.key) for o in OPTIONS}

    # --- accounts ------------------------------------------------------------------------------

    def _raw_accounts(self) -> dict[str, Any]:
        table = self._doc.get(ACCOUNTS_TABLE)
        return table if isinstance(table, dict) else {}

    def accounts(self) -> dict[str, AccountConfig]:
        """The valid configured accounts by name (invalid ones are listed in ``issues``)."""
        result: dict[str, AccountConfig] = {}
        for name, table in self._raw_accounts().items():
            with contextlib.suppress(SettingsError, TypeError):
                result[name] = AccountConfig.from_table(name, table)
        return result

    def put_account(self, cfg: AccountConfig) -> None:
        table = cfg.to_table()
        accounts = self._doc.get(ACCOUNTS_TABLE)
        if not isinstance(accounts, dict):
            accounts = self._doc[ACCOUNTS_TABLE] = {}
        accounts[cfg.name] = table
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

    # --- alert channels ------------------------------------------------------------------------

    def _raw_channels(self) -> dict[str, Any]:
        table = self._doc.get(CHANNELS_TABLE)
        return table if isinstance(table, dict) else {}

    def channels(self) -> dict[str, ChannelConfig]:
        """The valid alert channels by name (invalid ones are listed in ``issues``)."""
        result: dict[str, ChannelConfig] = {}
        for name, table in self._raw_channels().items():
            with contextlib.suppress(SettingsError):
                result[name] = ChannelConfig.from_table(name, table)
        return result

    def put_channel(self, cfg: ChannelConfig) -> None:
        ChannelConfig.from_table(cfg.name, cfg.to_table())  # validates every field
        table = cfg.to_table()
        channels = self._doc.get(CHANNELS_TABLE)
        if not isinstance(channels, dict):
            channels = self._doc[CHANNELS_TABLE] = {}
        channels[cfg.name] = table
        self._changes[(CHANNELS_TABLE, cfg.name)] = table

    def remove_channel(self, name: str) -> None:
        channels = self._raw_channels()
        if name not in channels:
            configured = ", ".join(channels) or "none"
            raise SettingsError(f"no alert channel named {name!r} — configured: {configured}")
        del channels[name]
        self._changes[(CHANNELS_TABLE, name)] = _DELETE

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

        Only this scope's own entries (invalid ones, listed in ``issues``, are left out): the
        caller layers position over account over global.
        """
        table = self._raw_overrides().get(scope)
        result: dict[str, Any] = {}
        if not isinstance(table, dict):
            return result
        ignored = self._ignored_overrides.get(scope, set())
        for name, value in table.items():
            with contextlib.suppress(SettingsError):
                opt = _override_option(name)
                if opt.key not in ignored:
                    result[opt.key] = opt.validate(value)
        return result

    def override_scopes(self) -> list[str]:
        return list(self._raw_overrides())

    def set_override(self, scope: str, key: str, value: Any) -> None:
        self._check_scope(scope)
        opt = _override_option(key)
        value = opt.parse(value) if isinstance(value, str) and opt.type is not str else opt.validate(value)
        layers = [self.overrides(scope.partition("/")[0])] + ([self.overrides(scope)] if "/" in scope else [])

        def get(k: str) -> Any:
            if k == opt.key:
                return value
            for layer in reversed(layers):
                if k in layer:
                    return layer[k]
            return self.get(k)

        for rule in broken_rules(get):
            if opt.key in rule.keys:
                raise SettingsError(f"override {scope}: {rule.explain(get, opt.key)}")
        overrides = self._doc.get(OVERRIDES_TABLE)
        if not isinstance(overrides, dict):
            overrides = self._doc[OVERRIDES_TABLE] = {}
        table = overrides.get(scope)
        if not isinstance(table, dict):
            table = overrides[scope] = {}
        table[opt.name] = value
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
        """Write atomically, merging this instance's changes into the file as it is now on disk.

        The read-merge-write runs under the settings lock, so concurrent savers (other desk
        processes) are serialized and none loses another's change."""
        if self.read_only_reason:
            raise SettingsError(f"not saving {self.path}: {self.read_only_reason} — see the problems "
                                "reported when it was loaded")
        backup: Path | None = None
        with locked(self.path):
            state = self._file_now()
            base = state.doc
            for path, value in self._changes.items():
                _apply(base, path, value)
            base[VERSION_KEY] = SCHEMA_VERSION
            self._check_merged_rules(base)
            payload = _dump(base)
            if state.dropped:
                backup = self._backup_damaged(state.data)
                if backup is None:
                    raise SettingsError(f"not saving {self.path}: it has unreadable lines and no backup "
                                        "of it could be written next to it")
                payload += _trailer(state.dropped, backup)
            _atomic_write(self.path, payload)
        self._doc = base
        self._changes.clear()
        self._file_issues = []
        if backup is not None:
            self.notes = [n for n in self.notes if not n.startswith(f"{self.path} is damaged")]
            self.notes.append(f"{self.path} was rewritten: its {len(state.dropped)} unreadable line(s) are "
                              f"kept as comments at its end, and the file as it was is {backup}")
        self._refresh()

    def _file_now(self) -> _FileState:
        """The file as it is now (another process may have written it since we loaded)."""
        try:
            data = _read_capped(self.path)
        except FileNotFoundError:
            return _FileState(b"", copy.deepcopy(self._doc), [], [])
        except OSError as exc:
            raise SettingsError(f"not saving {self.path}: it cannot be read "
                                f"({exc.strerror or exc})") from None
        state = _interpret(data)
        if state.too_large or state.migration_error or state.version > SCHEMA_VERSION:
            raise SettingsError(f"not saving {self.path}: another desk changed it meanwhile and it can no "
                                "longer be written safely; restart desk and see the problems it reports")
        return state

    def _check_merged_rules(self, doc: Mapping[str, Any]) -> None:
        """A change of ours must not break a rule together with the file's other values as they
        are now (another process may have changed one of them since we loaded)."""
        values, _ = _checked_values(doc)
        changed = {f"{path[0]}.{path[1]}" for path in self._changes if len(path) == 2}

        def get(key: str) -> Any:
            return values.get(key, OPTIONS_BY_KEY[key].default)

        for rule in broken_rules(get):
            if changed.intersection(rule.keys):
                raise SettingsError(f"not saving: {rule.explain(get)} (another desk changed the settings "
                                    "file meanwhile)")


def _trailer(dropped: list[tuple[int | None, str]], backup: Path) -> bytes:
    lines = ["", f"# desk could not read the lines below (the whole file as it was is {backup.name});",
             "# fix them and remove the '#' to use them again:"]
    for number, text in dropped:
        lines.append(f"#   line {number}: {text}" if number is not None else f"#   {text}")
    return ("\n".join(lines) + "\n").encode("utf-8")


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
