"""The ccxt-backed :class:`~desk.exchanges.base.VenueReader`.

One ccxt.pro instance per account (REST and streams share it, and with it the rate limiter).
The instance's class is a subclass made here whose transport refuses writes
(:func:`desk.exchanges.guard.check_request`), rejects non-JSON or empty 200 answers (ccxt would
hand them back as text, and its parsers turn text into ``[]`` — "no positions"), and counts the
request weight ccxt's limiter charges. Adapters only ever see it through
:class:`~desk.exchanges.guard.ReadOnlyExchange`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from desk.exchanges import markets as markets_cache
from desk.exchanges.adapters import adapter_for
from desk.exchanges.adapters.base import Adapter, MarkWatcher
from desk.exchanges.adapters.common import TierCache, num
from desk.exchanges.adapters.orders import with_orders
from desk.exchanges.base import AccountSnapshot, ErrorKind, MarkUpdate, VenueError
from desk.exchanges.config import ReaderConfig, check_venue, required_secrets
from desk.exchanges.errors import classify, retry_after_of
from desk.exchanges.guard import ReadOnlyExchange, ReadOnlyViolation, check_request

_classes: dict[str, type] = {}
# The order channels watch_account follows as prompts: ccxt's watch_orders follows one channel,
# and OKX keeps its conditional, OCO and trigger orders (the stops) on another, "orders-algo" on
# the business socket, which ccxt opens with trigger=True.
_ORDER_WATCHES: Mapping[str, tuple[tuple[str, Mapping[str, Any]], ...]] = {
    "okx": (("order", {}), ("algo order", {"trigger": True})),
}
# Longest wait between failed REST follow-ups of the account stream (seconds).
_FOLLOW_UP_MAX_BACKOFF = 60.0
log = logging.getLogger(__name__)


def _retrieve(future: Any) -> None:
    """Mark a future's exception as seen (asyncio warns about unseen ones)."""
    if not future.cancelled():
        future.exception()


def _guarded_class(venue: str) -> type:
    """ccxt.pro.<venue> (or the async REST class) with the read-only, JSON-only transport."""
    if venue in _classes:
        return _classes[venue]
    import ccxt
    import ccxt.async_support
    import ccxt.pro

    base = getattr(ccxt.pro, venue, None) or getattr(ccxt.async_support, venue)

    class Guarded(base):  # type: ignore[misc, valid-type]
        desk_request_weight = 0.0
        desk_last_answer: tuple[int, dict[str, str]] | None = None  # status, headers

        async def fetch2(self, path: Any, api: Any = "public", method: str = "GET",
                         params: Any = None, config: Any = None) -> Any:
            params = {} if params is None else params
            config = {} if config is None else config
            cost = num(self.calculate_rate_limiter_cost(api, method, path, params, config)) or 1.0
            self.desk_request_weight += cost
            return await super().fetch2(path, api, method, params, config)

        def on_rest_response(self, code: Any, reason: Any, url: Any, method: Any, response_headers: Any,
                             response_body: Any, request_headers: Any, request_body: Any) -> Any:
            # Runs for every answer, right before ccxt raises on it (no await in between), so the
            # handler below sees this request's status and headers, not a concurrent one's.
            self.desk_last_answer = (int(code), dict(response_headers or {}))
            return super().on_rest_response(code, reason, url, method, response_headers, response_body,
                                            request_headers, request_body)

        async def fetch(self, url: str, method: str = "GET", headers: Any = None,
                        body: Any = None) -> Any:
            check_request(self.id, method, url, body)
            self.desk_last_answer = None
            try:
                result = await super().fetch(url, method, headers, body)
            except ccxt.BaseError as exc:
                self._stamp_rate_limit(exc)
                raise
            if isinstance(result, str) and result and _is_json_string(result):
                # a JSON string answer (Hyperliquid's userAbstraction: "unifiedAccount"), which ccxt
                # leaves undecoded
                return json.loads(result)
            if not isinstance(result, dict | list):
                what = "an empty body" if not result else "a body that is not JSON"
                raise ccxt.BadResponse(f"{self.id} answered {method} {urlsplit(url).path} with {what}")
            return result

        def _stamp_rate_limit(self, exc: BaseException) -> None:
            """Attach the HTTP status and the wait the venue asked for (classify reads them)."""
            answer = self.desk_last_answer
            if answer is None:
                return
            status, answer_headers = answer
            exc.desk_http_status = status  # type: ignore[attr-defined]
            if isinstance(exc, ccxt.RateLimitExceeded | ccxt.DDoSProtection) or status in (418, 429):
                # the venue's timestamps are on its clock: ccxt keeps local − server in timeDifference
                server_now = time.time() * 1000 - (num(self.options.get("timeDifference")) or 0.0)
                exc.desk_retry_after = retry_after_of(  # type: ignore[attr-defined]
                    status, answer_headers, str(exc), server_now)

        def spawn(self, method: Any, *args: Any) -> Any:
            """ccxt's background tasks (e.g. the positions snapshot inside watch_positions).

            ccxt drops the future these return, so a failure (a REST timeout while loading the
            snapshot) was never retrieved — asyncio logs it — and the watch waiting for that
            snapshot (``client.futures[hash]``) waited for ever. Here every failure is retrieved,
            and a snapshot loader's failure rejects the future the watch awaits, removing it so
            the next watch call loads the snapshot again.
            """
            future = super().spawn(method, *args)

            def settle(done: Any) -> None:
                if done.cancelled():
                    return
                error = done.exception()  # retrieved: no "Future exception was never retrieved"
                if error is None:
                    return
                client, message_hash = (*args, None, None)[:2]
                waiting = getattr(client, "futures", {}).get(message_hash) \
                    if isinstance(message_hash, str) else None
                if waiting is not None and not waiting.done():
                    waiting.add_done_callback(_retrieve)  # if nobody awaits it any more
                    client.reject(error, message_hash)
                else:
                    log.debug("%s: background %s failed: %r", self.id,
                              getattr(method, "__name__", method), error)

            future.add_done_callback(settle)
            return future

    Guarded.__name__ = f"ReadOnly_{venue}"
    _classes[venue] = Guarded
    return Guarded


def point_at(exchange: Any, base_url: str) -> None:
    """Replace scheme and host of every REST base URL (and WS URL) of ``exchange``, keep the paths."""
    base_url = base_url.rstrip("/")
    ws_base = base_url.replace("https://", "wss://").replace("http://", "ws://")

    def rewrite(node: Any, base: str) -> Any:
        if isinstance(node, str):
            parts = urlsplit(node)
            if parts.scheme in ("http", "https") and base is base_url:
                return base + parts.path
            if parts.scheme in ("ws", "wss"):
                return ws_base + parts.path + (f"?{parts.query}" if parts.query else "")
            return node
        if isinstance(node, dict):
            return {k: rewrite(v, ws_base if k == "ws" else base) for k, v in node.items()}
        return node

    exchange.urls["api"] = rewrite(exchange.urls["api"], base_url)


class CcxtReader:
    """Reads one account through ccxt; every public method raises VenueError only."""

    def __init__(self, cfg: ReaderConfig, exchange: Any, adapter: Adapter):
        self.account_name = cfg.name
        self.venue = cfg.venue
        self.cfg = cfg
        self._raw = exchange
        self.exchange = ReadOnlyExchange(exchange)
        self.adapter = adapter
        self.tiers = TierCache(max_age=cfg.markets_max_age_hours * 3600, path=self._tier_file())
        self._markets_ready = False
        self._tiers_loaded = False
        self._time_synced = False
        self._last: AccountSnapshot | None = None
        self._inflight: asyncio.Future[AccountSnapshot] | None = None
        # REST follow-ups of the account stream: not before this (monotonic) time
        self._refresh_gate = 0.0
        self._rest_failures = 0
        self._warned: set[str] = set()

    def _tier_file(self) -> Path | None:
        if self.cfg.markets_cache_dir is None:
            return None
        # per account: some venues' tiers are the user's own (Binance brackets are a signed read)
        return markets_cache.cache_file(self.cfg.markets_cache_dir, f"tiers-{self.venue}",
                                        [self.account_name, self._raw.urls.get("api")], (), "")

    # -- capabilities -------------------------------------------------------------------
    @property
    def streams_marks(self) -> bool:
        has = self._raw.has
        return bool(has.get("watchMarkPrices") or has.get("watchTickers"))

    @property
    def streams_positions(self) -> bool:
        return bool(self._raw.has.get("watchPositions")) and self.venue != "hyperliquid"

    @property
    def streams_orders(self) -> bool:
        """The account stream also follows the venue's order pushes (ccxt's watch_orders).

        Only beside a position stream: order events alone miss liquidations, ADL, funding and
        transfers, so they never make an account count as streaming (the monitor would then read
        it at the slower reconcile interval). Hyperliquid therefore keeps polling.
        """
        return self.streams_positions and bool(self._raw.has.get("watchOrders"))

    # -- REST -----------------------------------------------------------------------------
    async def snapshot(self) -> AccountSnapshot:
        """One REST read. Calls made while one is in flight share it (one request set, not two);
        the joiner's copy carries no request weight, so the weight is counted once."""
        owner = self._inflight is None or self._inflight.done()
        if owner:
            self._inflight = asyncio.ensure_future(self._read_rest())
            self._inflight.add_done_callback(_retrieve)
        inflight = self._inflight
        assert inflight is not None
        # shielded: a caller's timeout must not cancel the read another caller waits for
        snap = await asyncio.shield(inflight)
        return snap if owner else replace(snap, request_weight=0.0)

    async def _read_rest(self) -> AccountSnapshot:
        try:
            snap = await self._snapshot_once()
        except VenueError as error:
            # every REST failure pushes back the stream's follow-up reads (see watch_account)
            self._rest_failures += 1
            delay = min(self.cfg.account_refresh_seconds * 2.0 ** self._rest_failures,
                        _FOLLOW_UP_MAX_BACKOFF)
            delay = max(delay, error.retry_after or 0.0)
            self._refresh_gate = max(self._refresh_gate, time.monotonic() + delay)
            raise
        self._rest_failures = 0
        return snap

    async def _snapshot_once(self) -> AccountSnapshot:
        weight_before = self._raw.desk_request_weight
        try:
            await self._prepare()
            now = time.time()
            try:
                result = await self.adapter.read(self.exchange, self.cfg, self.tiers, now)
            except Exception as exc:
                import ccxt

                if isinstance(exc, ccxt.InvalidNonce) and self._uses_time_adjustment():
                    await self.exchange.load_time_difference()  # clock skew: resync once, retry
                    now = time.time()
                    result = await self.adapter.read(self.exchange, self.cfg, self.tiers, now)
                else:
                    raise
            result = await with_orders(self.venue, self.exchange, self.cfg, result)
        except ReadOnlyViolation:
            raise  # a bug in desk, never a venue condition: let it crash loudly
        except Exception as exc:
            raise classify(exc, self.account_name, self.venue) from exc
        snap = AccountSnapshot(account=result.account, observed_at=now, raw=result.raw,
                               request_weight=self._raw.desk_request_weight - weight_before,
                               warnings=tuple(result.warnings))
        for warning in dict.fromkeys(result.warnings):
            if warning not in self._warned:  # a condition that lasts is said once, not every read
                self._warned.add(warning)
                log.warning("%s", warning)
        self._last = snap
        try:
            self.tiers.save()
        except OSError as exc:  # a cache that cannot be written only costs requests
            log.debug("%s: cannot write the tier cache: %s", self.account_name, exc)
        return snap

    async def _prepare(self) -> None:
        if not self._tiers_loaded:
            self._tiers_loaded = True
            self.tiers.load()
        if not self._markets_ready:
            await self._load_markets()
            self._markets_ready = True
        if not self._time_synced and self._uses_time_adjustment():
            await self.exchange.load_time_difference()
            self._time_synced = True

    def _uses_time_adjustment(self) -> bool:
        # Hyperliquid reads are unsigned; everywhere else ccxt subtracts options['timeDifference']
        # from its request timestamps once it is loaded.
        return self.venue != "hyperliquid" and bool(self._raw.has.get("fetchTime"))

    async def _load_markets(self) -> None:
        import ccxt

        path = None
        if self.cfg.markets_cache_dir is not None:
            path = markets_cache.cache_file(self.cfg.markets_cache_dir, self.venue,
                                            self._raw.urls.get("api"), self.adapter.market_types,
                                            ccxt.__version__)
            cached = markets_cache.read_cached(path, self.cfg.markets_max_age_hours)
            if cached:
                self.exchange.set_markets(cached)
                return
        markets = await self.exchange.load_markets()
        if not markets:
            raise ccxt.BadResponse(f"{self.venue} listed no markets")
        if path is not None:
            with contextlib.suppress(OSError):  # a cache that cannot be written only costs time
                markets_cache.write_cached(path, dict(markets))

    # -- streams --------------------------------------------------------------------------
    async def watch_marks(self, symbols: tuple[str, ...]) -> AsyncIterator[MarkUpdate]:
        """Mark updates from every stream the symbols need, merged as they arrive.

        A venue may need several subscriptions (Bybit: one socket per market type; Hyperliquid:
        one channel per coin); each runs as its own task, and updates waiting together go out as
        one MarkUpdate. Any stream failing (a dropped socket) ends the iteration with a
        classified VenueError (retryable: the monitor backs off and opens the stream again);
        the other streams are cancelled.
        """
        if not self.streams_marks:
            raise VenueError(ErrorKind.CONFIG, f"{self.account_name}: {self.venue} has no mark stream")
        try:
            await self._prepare()
        except Exception as exc:
            raise classify(exc, self.account_name, self.venue) from exc
        custom = getattr(self.adapter, "mark_watchers", None)
        watchers = custom(self.exchange, symbols) if custom else self._default_mark_watchers(symbols)
        # One pump task per stream re-subscribes the moment its update arrives (ccxt resolves a
        # watch once; an update landing before the next watch call is lost), and queues it.
        queue: asyncio.Queue[tuple[Mapping[str, float] | None, BaseException | None]] = asyncio.Queue()

        async def pump(watcher: MarkWatcher) -> None:
            try:
                while True:
                    queue.put_nowait((await watcher(), None))
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                queue.put_nowait((None, exc))

        pumps = [asyncio.ensure_future(pump(w)) for w in watchers]
        try:
            while pumps:
                items = [await queue.get()]
                while not queue.empty():  # updates that arrived together go out as one
                    items.append(queue.get_nowait())
                marks: dict[str, float] = {}
                for update, error in items:
                    if error is not None:
                        raise classify(error, self.account_name, self.venue) from error
                    marks.update(update or {})
                if marks:
                    yield MarkUpdate(marks=marks, observed_at=time.time())
        finally:
            for task in pumps:
                task.cancel()
            for task in pumps:
                with contextlib.suppress(BaseException):  # cancelled, or failed after another did
                    await task

    def _default_mark_watchers(self, symbols: tuple[str, ...]) -> list[MarkWatcher]:
        """ccxt's watch_mark_prices where the venue has it, else watch_tickers' ``markPrice``.

        watch_tickers picks its socket from the first symbol's market type, so symbols are
        grouped by type (linear/inverse) and each group gets its own stream.
        """
        ex = self.exchange

        def marks_of(tickers: Any) -> dict[str, float]:
            return {s: m for s, t in (tickers or {}).items()
                    if (m := num((t or {}).get("markPrice"))) is not None and m > 0}

        if self._raw.has.get("watchMarkPrices"):
            async def next_marks() -> dict[str, float]:
                return marks_of(await ex.watch_mark_prices(list(symbols)))
            return [next_marks]
        groups: dict[tuple[Any, ...], list[str]] = {}
        for symbol in symbols:
            market = (self._raw.markets or {}).get(symbol) or {}
            groups.setdefault((market.get("type"), bool(market.get("inverse"))), []).append(symbol)

        def group_watcher(group: list[str]) -> MarkWatcher:
            async def next_marks() -> dict[str, float]:
                return marks_of(await ex.watch_tickers(group))
            return next_marks
        return [group_watcher(g) for g in groups.values()]

    async def watch_account(self) -> AsyncIterator[AccountSnapshot]:
        """Streamed position and order changes, each answered by a REST read of the account.

        ccxt's streamed positions lose mark and liquidation price after the first update
        (ccxt-notes.md §10.1), so the streams are used as prompts and REST stays the truth: a
        position event, or an order event where the venue pushes them (:attr:`streams_orders` —
        a stop placed, moved or cancelled), prompts the same read, which carries the positions
        and the open orders together. The prompts are coalesced: one read at a time, at most one
        per ``account_refresh_seconds`` (changes arriving meanwhile are answered by the next
        read), and after a failed REST read (from here or from :meth:`snapshot`) the next
        follow-up waits longer — doubling up to a minute, or as long as the venue asked. A failed
        read ends the iteration with its VenueError, like a failed stream (either one), so the
        monitor backs off, polls meanwhile and reopens; the wait carries over to the reopened
        stream.
        """
        if not self.streams_positions:
            raise VenueError(ErrorKind.CONFIG,
                             f"{self.account_name}: {self.venue} has no position stream")
        try:
            await self._prepare()
        except Exception as exc:
            raise classify(exc, self.account_name, self.venue) from exc
        changed = asyncio.Event()
        stream_error: list[tuple[str, BaseException]] = []

        async def pump(which: str, watch: Any) -> None:
            # keeps a watch pending at all times, so no change is lost while a read is running
            try:
                while True:
                    await watch()
                    changed.set()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                stream_error.append((which, exc))
                changed.set()

        watches: list[tuple[str, Any]] = [("position", self.exchange.watch_positions)]
        if self.streams_orders:
            for which, params in _ORDER_WATCHES.get(self.venue, (("order", {}),)):
                watches.append((which, functools.partial(self.exchange.watch_orders, None, None, None,
                                                         dict(params))))
        pumpers = [asyncio.ensure_future(pump(which, watch)) for which, watch in watches]
        try:
            while True:
                await changed.wait()
                if not stream_error and (wait := self._refresh_gate - time.monotonic()) > 0:
                    await asyncio.sleep(wait)  # changes arriving meanwhile join this read
                if stream_error:
                    # A failed order stream ends the iteration too, rather than leaving the
                    # position stream running alone: the monitor then counts the account as not
                    # streaming and polls it (orders included) until the stream is back, instead
                    # of reading it at the reconcile interval while saying "streaming".
                    which, error = stream_error[0]
                    failure = classify(error, self.account_name, self.venue)
                    raise VenueError(failure.kind, f"{failure} (the {which} stream)",
                                     retry_after=failure.retry_after) from error
                changed.clear()
                started = time.monotonic()
                snap = await self.snapshot()
                self._refresh_gate = max(self._refresh_gate, started + self.cfg.account_refresh_seconds)
                yield snap
        finally:
            for task in pumpers:
                task.cancel()
            for task in pumpers:
                with contextlib.suppress(BaseException):  # cancelled, or failed after another did
                    await task

    async def close(self) -> None:
        if self._inflight is not None and not self._inflight.done():
            self._inflight.cancel()
        with contextlib.suppress(Exception):  # closing must not raise
            await self._raw.close()


def build_exchange(cfg: ReaderConfig, secrets: Mapping[str, str], adapter: Adapter) -> Any:
    """A configured, guarded ccxt.pro instance for ``cfg`` (no request is made)."""
    check_venue(cfg.venue)
    missing = [k for k in required_secrets(cfg.venue) if not secrets.get(k)]
    if missing:
        raise VenueError(ErrorKind.CONFIG,
                         f"{cfg.name} ({cfg.venue}): missing {', '.join(missing)} — add the keys with "
                         f"`desk accounts add {cfg.name} --venue {cfg.venue}`")
    params: dict[str, Any] = {
        "enableRateLimit": True,
        "timeout": int(cfg.options.get("timeout_ms", 10_000)),
        # desk synchronises the clock itself (first read, and after a timestamp rejection), also
        # when markets come from the disk cache and load_markets never runs.
        "options": {"adjustForTimeDifference": False},
    }
    if "rate_limit_ms" in cfg.options:
        # ccxt sizes its request throttle from rateLimit when the instance is built; setting it
        # afterwards changes nothing
        params["rateLimit"] = float(cfg.options["rate_limit_ms"])
    for key in required_secrets(cfg.venue):
        params[key] = secrets[key]
    if cfg.wallet_address:
        params["walletAddress"] = cfg.wallet_address
    exchange = _guarded_class(cfg.venue)(params)
    adapter.configure(exchange, cfg)
    for key, value in cfg.options.items():
        if key not in ("timeout_ms", "rate_limit_ms"):
            exchange.options[key] = value
    try:
        if cfg.sandbox:
            exchange.set_sandbox_mode(True)
        elif cfg.demo_trading:
            exchange.enable_demo_trading(True)
    except Exception as exc:
        raise VenueError(ErrorKind.CONFIG, f"{cfg.name}: {cfg.venue} has no "
                         f"{'testnet' if cfg.sandbox else 'demo trading'} in ccxt ({exc})") from None
    if cfg.api_url:
        parts = urlsplit(cfg.api_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise VenueError(ErrorKind.CONFIG, f"{cfg.name}: --api-url {cfg.api_url!r} is not an "
                             f"http(s) URL like https://host:port")
        point_at(exchange, f"{parts.scheme}://{parts.netloc}")
    return exchange


def open_reader(cfg: ReaderConfig, secrets: Mapping[str, str]) -> CcxtReader:
    """A reader for ``cfg``. Raises VenueError(CONFIG) for unknown venues or missing secrets."""
    adapter = adapter_for(cfg.venue)
    return CcxtReader(cfg, build_exchange(cfg, secrets, adapter), adapter)


def _is_json_string(body: object) -> bool:
    """The raw answer is a JSON string literal (``"default"``), not text that failed to parse."""
    if not isinstance(body, str):
        return False
    try:
        return isinstance(json.loads(body), str)
    except ValueError:
        return False
