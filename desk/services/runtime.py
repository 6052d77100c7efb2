"""The running services the CLI (`desk watch`) and the dashboard share.

A :class:`Runtime` holds the event bus, the monitor over the configured accounts (or the demo
venue), and the history recorder subscribed to the bus. Other services attach themselves:

* ``runtime.attach(callback, event_type)`` subscribes a callback to the bus (it runs on the
  monitor thread: keep it quick);
* ``runtime.extensions.append(obj)`` (or ``add_extension``) for a service with a life of its
  own — the alert engine, for example. ``start(runtime)`` is called when the runtime starts (or
  at once if it already runs), ``stop()`` when it stops, before the monitor is stopped, in
  reverse order. Both are optional.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from desk.domain.report import RiskReport
from desk.exchanges.base import AccountSnapshot, ErrorKind, MarkUpdate, VenueError, VenueReader
from desk.sanitize import for_user
from desk.services.bus import EventBus
from desk.services.monitor import (
    Compute,
    Monitor,
    MonitorConfig,
    ToleranceFor,
    monitor_config_from_settings,
    tolerance_from_settings,
)
from desk.services.snapshot import HistoryStatus, MonitorSnapshot

log = logging.getLogger(__name__)

__all__ = ["HistoryRecorder", "HistoryStatus", "NoAccountsError", "Runtime", "UnavailableReader"]


class NoAccountsError(Exception):
    """Nothing to monitor: no account configured (or none of those asked for exists)."""


class HistoryRecorder:
    """Writes each published report to the history from a small thread of its own.

    SQLite writes never run on the monitor's loop. When the writer falls behind, only the newest
    pending report is kept (the history samples at its own cadence anyway); nothing blocks.
    The history keeps what it could not write and retries by itself; the recorder tells the bus
    (``publish``) whenever the history's state changes, once per change.
    """

    def __init__(self, history: Any, *, owns_history: bool = False,
                 publish: Callable[[object], None] | None = None):
        self.history = history
        self.owns_history = owns_history
        self.publish = publish
        self.written = 0
        self.failures = 0
        self._told_problems = 0
        self._told_state: tuple[bool, str | None, bool] = (True, None, False)
        self._logged_failures: set[str] = set()
        self._pending: tuple[RiskReport, float] | None = None
        self._cond = threading.Condition()
        self._closing = False
        self._thread = threading.Thread(target=self._run, name="desk-history", daemon=True)
        self._thread.start()

    def __call__(self, event: object) -> None:
        if not isinstance(event, MonitorSnapshot) or not event.report.accounts:
            return
        with self._cond:
            self._pending = (event.report, event.at)
            self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                while self._pending is None and not self._closing:
                    self._cond.wait()
                item, self._pending = self._pending, None
                closing = self._closing
            if item is not None:
                try:
                    if self.history.record(*item):
                        self.written += 1
                except Exception as exc:  # a bug, not the disk (the history handles that): log it once
                    self.failures += 1
                    if type(exc).__name__ not in self._logged_failures:
                        self._logged_failures.add(type(exc).__name__)
                        log.exception("writing risk history failed")
                self._tell(item[1])
            if closing and item is None:
                return

    def _tell(self, at: float) -> None:
        """Publish what changed: new problems (said once each), then the recording state."""
        problems = list(getattr(self.history, "problems", ()))
        for problem in problems[self._told_problems:]:
            log.warning("risk history: %s", problem)
            self._emit(HistoryStatus(at, True, f"history: {problem}"))
        self._told_problems = len(problems)
        health = getattr(self.history, "health", None)
        if health is None:
            return
        state = (health.recording, health.trouble, bool(health.dropped) and not health.recording)
        if state == self._told_state:
            return
        self._told_state = state
        message = health.describe()
        log.warning("risk %s", message)
        self._emit(HistoryStatus(at, health.recording, message, health))

    def _emit(self, event: HistoryStatus) -> None:
        if self.publish is not None:
            self.publish(event)

    def close(self, timeout: float = 5.0) -> None:
        with self._cond:
            self._closing = True
            self._cond.notify()
        self._thread.join(timeout)
        if self.owns_history:
            with contextlib.suppress(Exception):
                self.history.close()


class UnavailableReader:
    """Stands in for an account whose reader could not be built (missing keys, unknown venue).

    The monitor shows the account in error with the reason instead of leaving it out.
    """

    streams_marks = False
    streams_positions = False

    def __init__(self, account_name: str, venue: str, error: VenueError):
        self.account_name = account_name
        self.venue = venue
        self.error = error

    async def snapshot(self) -> AccountSnapshot:
        raise self.error

    async def watch_marks(self, symbols: tuple[str, ...]) -> Any:  # pragma: no cover - never streams
        raise self.error
        yield MarkUpdate({}, 0.0)

    async def watch_account(self) -> Any:  # pragma: no cover - never streams
        raise self.error
        yield None

    async def close(self) -> None:
        return None


class Runtime:
    def __init__(self, readers: Sequence[VenueReader], *, bus: EventBus | None = None,
                 config: MonitorConfig | None = None, target: float | None = None,
                 history: Any = None, owns_history: bool = False, compute: Compute | None = None,
                 clock: Callable[[], float] = time.time, demo: bool = False,
                 tolerance_for: ToleranceFor | None = None, target_distance: float | None = None):
        self.bus = bus or EventBus()
        self.demo = demo
        self.readers = list(readers)
        self.monitor = Monitor(self.readers, self.bus, config=config, target=target, compute=compute,
                               clock=clock, tolerance_for=tolerance_for, target_distance=target_distance)
        self.extensions: list[Any] = []
        self._unsubscribe: list[Callable[[], None]] = []
        self.history_recorder: HistoryRecorder | None = None
        if history is not None:
            self.history_recorder = HistoryRecorder(history, owns_history=owns_history,
                                                    publish=self.bus.publish)
            self._unsubscribe.append(self.bus.subscribe(self.history_recorder, MonitorSnapshot))
        self.history_problem: str | None = None  # why there is no history at all (told at start)
        self._started = False
        self._stopped = False
        # builds a fresh reader for an account from the settings file as it is now (set by
        # from_settings): used by restart_account and apply_account_changes
        self.reopen: Callable[[str], VenueReader] | None = None
        # the account names the settings file enables now (set by from_settings)
        self.configured_accounts: Callable[[], Mapping[str, Any]] | None = None

    # --- composition

    @classmethod
    def from_settings(cls, settings: Any = None, *, accounts: Sequence[str] | None = None,
                      target: float | None = None, history: bool = True,
                      secrets_for: Callable[[Any], Mapping[str, str]] | None = None,
                      config: MonitorConfig | None = None, **kwargs: Any) -> Runtime:
        """Readers for the configured accounts (all enabled ones, or those named)."""
        settings = settings if settings is not None else _load_settings()
        configured = settings.accounts()
        if accounts:
            unknown = [n for n in accounts if n not in configured]
            if unknown:
                known = ", ".join(sorted(configured)) or "none"
                names = ", ".join(map(repr, unknown))
                raise NoAccountsError(f"no account named {names} (configured: {known})")
            chosen = [configured[n] for n in accounts]
        else:
            chosen = [c for c in configured.values() if getattr(c, "enabled", True)]
        if not chosen:
            raise NoAccountsError("no exchange account is configured")
        readers = [_open_account(c, settings, secrets_for or _keyring_secrets) for c in chosen]
        store = _open_history(settings, demo=False) if history else None
        problem = store if isinstance(store, str) else None
        store = None if problem else store
        _log_settings_problems(settings, store)
        runtime = cls(readers, config=config or monitor_config_from_settings(settings),
                      target=target if target is not None else _setting(settings, "risk.target_margin_ratio"),
                      history=store, owns_history=store is not None,
                      tolerance_for=tolerance_from_settings(settings),
                      target_distance=_setting(settings, "alerts.distance_warning"), **kwargs)
        runtime.history_problem = problem

        def current_accounts() -> Mapping[str, Any]:
            try:  # the file as it is now, if it can be read
                return dict(_load_settings().accounts())
            except Exception:
                log.warning("the settings file cannot be read; using the accounts read at start")
                return dict(configured)

        def reopen(name: str) -> VenueReader:
            account = current_accounts().get(name) or configured.get(name)
            if account is None:
                raise NoAccountsError(f"no account named {name!r} in the settings")
            return _open_account(account, settings, secrets_for or _keyring_secrets)

        runtime.reopen = reopen
        runtime.configured_accounts = current_accounts
        return runtime

    @classmethod
    def for_demo(cls, scenario: str = "calm", *, seed: int | None = None, speed: float = 1.0,
                 settings: Any = None, target: float | None = None, history: bool = True,
                 config: MonitorConfig | None = None, **kwargs: Any) -> Runtime:
        """The demo venue's accounts (history goes to a separate demo database)."""
        from desk.exchanges.demo import open_demo_readers

        readers = open_demo_readers(scenario, seed=seed, speed=speed)
        if settings is None:
            with contextlib.suppress(Exception):
                settings = _load_settings()
        store = _open_history(settings, demo=True) if history else None
        problem = store if isinstance(store, str) else None
        store = None if problem else store
        _log_settings_problems(settings, store)
        runtime = cls(readers, config=config or monitor_config_from_settings(settings), demo=True,
                      target=target if target is not None else _setting(settings, "risk.target_margin_ratio"),
                      history=store, owns_history=store is not None,
                      tolerance_for=tolerance_from_settings(settings),
                      target_distance=_setting(settings, "alerts.distance_warning"), **kwargs)
        runtime.history_problem = problem
        return runtime

    # --- extension points

    def attach(self, callback: Callable[[object], None],
               event_type: type | None = None) -> Callable[[], None]:
        """Subscribe ``callback`` to the bus; unsubscribed when the runtime stops."""
        unsubscribe = self.bus.subscribe(callback, event_type)
        self._unsubscribe.append(unsubscribe)
        return unsubscribe

    def add_extension(self, extension: Any) -> None:
        self.extensions.append(extension)
        if self._started and not self._stopped and hasattr(extension, "start"):
            extension.start(self)

    def restart_account(self, name: str) -> Any:
        """Resume an account after its keys or settings were fixed (e.g. stopped on a revoked key).

        Re-reads the account's settings and keyring entries and gives the monitor a new reader;
        returns a concurrent.futures.Future that completes when it is restarted.
        """
        reader = self.reopen(name) if self.reopen is not None else None
        return self.monitor.restart_account(name, reader)

    def apply_account_changes(self, names: Iterable[str]) -> concurrent.futures.Future[dict[str, str]]:
        """Bring the named accounts in line with the settings file, without a restart of desk.

        An account now configured and enabled is added, or restarted with a fresh reader (new
        keys, URL or venue); one removed or disabled stops being watched. Runs on a thread of its
        own (opening a reader reads the keyring and may import ccxt), so the caller — the GUI —
        never waits; the future maps each name to "added", "restarted", "removed" or "unchanged".
        """
        wanted = list(dict.fromkeys(names))
        future: concurrent.futures.Future[dict[str, str]] = concurrent.futures.Future()

        def work() -> None:
            try:
                future.set_result(self._apply_account_changes(wanted))
            except BaseException as exc:
                log.exception("applying account changes failed")
                future.set_exception(exc)

        threading.Thread(target=work, name="desk-accounts", daemon=True).start()
        return future

    def _apply_account_changes(self, names: list[str], timeout: float = 30.0) -> dict[str, str]:
        if self.reopen is None or self.configured_accounts is None:
            return dict.fromkeys(names, "unchanged")  # the demo venue has no configured accounts
        configured = self.configured_accounts()
        watched = set(self.monitor.account_names)
        outcome: dict[str, str] = {}
        for name in names:
            account = configured.get(name)
            enabled = account is not None and getattr(account, "enabled", True)
            if enabled and name in watched:
                self.monitor.restart_account(name, self.reopen(name), forget_data=True).result(timeout)
                outcome[name] = "restarted"
            elif enabled:
                self.monitor.add_account(self.reopen(name)).result(timeout)
                outcome[name] = "added"
            elif name in watched:
                self.monitor.remove_account(name).result(timeout)
                outcome[name] = "removed"
            else:
                outcome[name] = "unchanged"
        return outcome

    # --- life cycle

    @property
    def account_names(self) -> tuple[str, ...]:
        return self.monitor.account_names

    def latest(self) -> MonitorSnapshot | None:
        return self.monitor.latest()

    def start(self) -> Runtime:
        if self._started:
            raise RuntimeError("the runtime was already started")
        self._started = True
        if self.history_problem:
            self.bus.publish(HistoryStatus(self.monitor.clock(), False, self.history_problem))
        for ext in list(self.extensions):
            if hasattr(ext, "start"):
                ext.start(self)
        self.monitor.start()
        return self

    def stop(self, timeout: float = 10.0) -> bool:
        """Stop extensions, the monitor (closing every exchange session) and the history writer."""
        if self._stopped:
            return True
        self._stopped = True
        deadline = time.monotonic() + timeout
        for ext in reversed(self.extensions):
            if hasattr(ext, "stop"):
                try:
                    ext.stop()
                except Exception:
                    log.exception("stopping %r failed", ext)
        clean = self.monitor.stop(max(0.1, deadline - time.monotonic()))
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        if self.history_recorder is not None:
            self.history_recorder.close(max(0.1, deadline - time.monotonic()))
        return clean

    def __enter__(self) -> Runtime:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# --- helpers ---------------------------------------------------------------------------------------

def _load_settings() -> Any:
    from desk.store.settings import Settings

    return Settings.load()


def _setting(settings: Any, key: str) -> Any:
    if settings is None:
        return None
    try:
        return settings.get(key)
    except Exception:
        return None


def _open_history(settings: Any, *, demo: bool) -> Any:
    """The history store the runtime writes, or why there is none (a string, told at start)."""
    from desk.store.history import History
    from desk.store.paths import desk_paths

    path = desk_paths().history_for(demo=demo)
    try:
        return History.from_settings(settings, path) if settings is not None else History(path)
    except Exception as exc:  # history is a convenience: monitoring must start without it
        log.warning("the risk history %s cannot be used; continuing without it: %s", path, exc)
        return f"history not being recorded: {exc}"


def _log_settings_problems(settings: Any, history: Any) -> None:
    """A damaged settings file goes into the alert log too (stderr and the window say it as well),
    so it is on record beside the alerts whose thresholds it may have changed."""
    issues = list(getattr(settings, "issues", None) or ())
    if not issues or history is None:
        return
    from desk.domain.alerts import Alert, AlertLevel

    keys = settings.bad_keys()
    shown = ", ".join(keys[:5]) + (f" and {len(keys) - 5} more" if len(keys) > 5 else "")
    alert = Alert(at=time.time(), rule="settings", level=AlertLevel.WARNING,
                  title=f"Settings: {len(issues)} bad entr{'y' if len(issues) == 1 else 'ies'} ({shown})",
                  body=f"{settings.path}: " + "; ".join(map(str, issues))
                  + " — every other setting and account is in use")
    try:
        history.record_alert(alert)
    except Exception:  # the history is a convenience; stderr and the window still say it
        log.warning("could not add the settings problems to the alert log", exc_info=True)


def _keyring_secrets(account: Any) -> Mapping[str, str]:
    from desk.exchanges import required_secrets
    from desk.store import secrets as secret_store

    fields = required_secrets(account.venue)
    if not fields:
        return {}
    loaded = secret_store.load_secrets(account.name, fields)
    return dict(loaded)


def _open_account(account: Any, settings: Any,
                  secrets_for: Callable[[Any], Mapping[str, str]]) -> VenueReader:
    from desk.exchanges import ReaderConfig, open_reader
    from desk.store.paths import desk_paths

    try:
        cfg = ReaderConfig(
            name=account.name, venue=account.venue, api_url=account.api_url, sandbox=account.sandbox,
            demo_trading=account.demo_trading, wallet_address=account.wallet_address,
            markets_cache_dir=desk_paths().markets_cache_dir,
            markets_max_age_hours=float(_setting(settings, "monitor.markets_cache_hours") or 24.0),
        )
        return open_reader(cfg, secrets_for(account))
    except VenueError as exc:
        return UnavailableReader(account.name, account.venue, exc)
    except Exception as exc:  # e.g. the keyring is locked: show the account in error, say why
        log.warning("cannot open account %s", account.name, exc_info=True)
        return UnavailableReader(account.name, account.venue,
                                 VenueError(ErrorKind.CONFIG, f"cannot open the account: {for_user(exc)}"))
