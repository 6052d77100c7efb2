"""The simulated market behind the demo venue: marks, funding, liquidations, scripted trouble.

One :class:`DemoMarket` is shared by the readers of all demo accounts. It advances in fixed
steps of one simulated second (Binance's mark price stream updates every second), so a seed
gives the same path whatever the speed and however the steps are batched: the wall clock only
decides how far the market has advanced, never what happens.

Prices: each asset's log price follows BTC's random walk scaled by its beta plus its own
idiosyncratic walk (together giving the asset's daily volatility), plus the scenario's scripted
drift. Each venue's mark is the asset price times a small constant premium, on a tenth of the
venue's tick.

Exchange behaviour, with every figure from the risk engine (``desk.domain``; risk-math.md §7.1,
§3.2 and seed 003): the *mark* triggers liquidation when it reaches the engine's liquidation
price, i.e. the margin ratio reaches 1.0; the position is taken over at the engine's *bankruptcy
price*. The remaining margin goes to the venue's insurance fund: for an isolated position the
whole position margin is lost (what the engine makes between the bankruptcy price and the trigger
mark, plus any margin the bankruptcy price leaves, such as Bybit's reserved fee to close); for a
cross pool the trader's PnL at the bankruptcy prices is booked to the wallet, which leaves the
pool's equity at zero, and the engine's PnL from the bankruptcy prices to the marks goes to the
fund. Either way the fund gains the liquidated margin balance at the trigger, or loses when the
mark gapped through the bankruptcy price. An isolated position is liquidated on its own; a cross
pool is liquidated whole (the demo does not simulate partial liquidation), the symbol with the
worst unrealised PnL first and both legs of a hedge pair together, each at its bankruptcy price
with the others held at their marks.

An account whose venue pools collateral (Bybit UTA cross, Binance Multi-Assets; issue 16) is one
pool valued in USD: its collateral coins are valued at the shared index with the venue's haircut
(``catalog.DemoPool``) and the engine decides when the pool's ratio reaches 1.0. It is liquidated
whole, like a cross pool: each symbol is taken over at the price where the pool's total equity
(collateral at its index, no haircut) reaches zero — the venue's bankruptcy price, found by
:mod:`desk.domain.unified` with only that symbol's mark moving. The collateral is not seized: the
coins stay the trader's, but the loss lands on the settle coin's wallet, which goes negative, and
the venue then sells collateral at its index to repay it (Binance's auto-exchange, Bybit's
collateral liquidation), which leaves the pool at about zero. What collateral cannot repay (the
mark gapped through the bankruptcy price) is written off against the insurance fund.

Funding: at the venue's interval (8 h Binance and Bybit, 1 h Hyperliquid), every position pays
or receives ``notional × rate`` (longs pay a positive rate); the rate follows the asset's
deviation from its one-hour average. Cross positions settle against the wallet, isolated ones
against their position margin (risk-math.md §7.2: the liquidation price then drifts).
"""

from __future__ import annotations

import dataclasses
import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from types import MappingProxyType
from typing import TYPE_CHECKING

import numpy as np

from desk.domain.model import (
    Account,
    AccountMargin,
    Collateral,
    Leg,
    MarginMode,
    Portfolio,
    Position,
    Reported,
    Side,
    SpotBalance,
)
from desk.domain.protection import Order, OrderKind, OrderSide
from desk.domain.unified import collateral_underlying
from desk.exchanges.base import AccountSnapshot, ErrorKind, VenueError
from desk.exchanges.demo.catalog import (
    ACCOUNTS,
    ASSETS,
    FUNDING_INTERVAL_HOURS,
    INSTRUMENTS,
    REQUEST_WEIGHT,
    DemoPool,
    HeldOrder,
)
from desk.exchanges.demo.scenarios import Path, Scenario, get_scenario, path_value

if TYPE_CHECKING:
    from desk.domain.report import AccountRisk, PositionRisk, RiskReport

STEP = 1.0  # simulated seconds per market step
SECONDS_PER_DAY = 86_400.0
# The simulated day starts at 07:55 UTC, so the first funding (08:00 on every venue) comes
# five simulated minutes in: seconds at speed 60, minutes at speed 1.
FIRST_FUNDING = 300.0
BASE_FUNDING_8H = 0.0001  # 0.01 % per 8 h, the venues' usual resting rate
FUNDING_SENSITIVITY = 0.03  # rate per unit of log deviation from the one-hour average
FUNDING_CAP_8H = 0.0075
# When the engine runs for the liquidation check. An isolated position's liquidation price does
# not depend on the mark (only on entry, margin and tiers), so the cached price is exact until
# the account changes; a cross position's moves with the other marks, so it is re-checked every
# step once the mark is within CROSS_NEAR_DISTANCE of it, and every RISK_REFRESH_STEPS otherwise.
CROSS_NEAR_DISTANCE = 0.03
RISK_REFRESH_STEPS = 30
_NOISE_BLOCK = 1024  # random draws are made in blocks of steps (same numbers however we advance)


def compute_risk(portfolio: Portfolio) -> RiskReport:
    """The engine (imported when first needed, so importing the demo venue stays cheap)."""
    from desk.domain.engine import compute_risk as engine_compute_risk

    return engine_compute_risk(portfolio)


@dataclass(frozen=True, slots=True)
class DemoEvent:
    """Something the demo exchange did: a ``liquidation``, a ``funding`` payment, a feed change.

    ``amount`` is in ``currency``: for a liquidation the trader's realised PnL, for funding the
    payment (negative = paid). ``insurance`` is what the liquidation booked to the venue's
    insurance fund. ``price`` is the mark that triggered the liquidation / the funding mark.
    """

    # "liquidation" | "funding" | "stop_filled" | "take_profit_filled" | "feed_lost" | "feed_restored"
    kind: str
    sim_time: float
    at: float  # epoch seconds (wall time) the event happened
    account: str
    venue: str
    message: str
    symbol: str | None = None
    leg: str | None = None
    side: str | None = None
    contracts: float | None = None
    price: float | None = None
    liquidation_price: float | None = None
    bankruptcy_price: float | None = None
    amount: float | None = None
    currency: str | None = None
    insurance: float | None = None
    rate: float | None = None


@dataclass(slots=True)
class _Holding:
    symbol: str
    side: Side
    contracts: float
    entry_price: float
    leverage: float
    leg: Leg
    isolated_margin: float | None
    adl_rank: int | None = None


@dataclass(slots=True)
class _AccountState:
    name: str
    venue: str
    margin_mode: MarginMode
    wallets: dict[str, float]
    holdings: list[_Holding]
    orders: list[HeldOrder] = dataclasses.field(default_factory=list)
    revision: int = 0
    pool: DemoPool | None = None  # the venue pools every collateral coin (one USD pool)


@dataclass(slots=True)
class _RiskCache:
    revision: int
    step: int
    # (symbol, liquidation price, mark above it?) per position, as of the last engine run
    levels: list[tuple[str, float, bool]]


@dataclass(frozen=True, slots=True)
class MarkView:
    """The marks one account sees, and when they were observed (epoch and simulated seconds)."""

    marks: Mapping[str, float]
    observed_at: float
    sim_time: float


def _increment(path: Path, t0: float, t1: float) -> float:
    return path_value(path, t1) - path_value(path, t0) if path else 0.0


def _decimals(quantum: float) -> int:
    exponent = Decimal(repr(quantum)).normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def _round_to(price: float, quantum: float, mode: str = "nearest") -> float:
    units = price / quantum
    if mode == "up":
        n = math.ceil(units - 1e-9)
    elif mode == "down":
        n = math.floor(units + 1e-9)
    else:
        n = round(units)
    return round(n * quantum, _decimals(quantum))


def reported_price(venue: str, side: Side, price: float | None, tick: float) -> float | None:
    """A liquidation or bankruptcy price as the venue displays it (risk-math.md §7.3, §7.4).

    Bybit rounds towards the mark (a long's price up, a short's down: conservative); Binance and
    Hyperliquid round to the nearest tick. No price (or one ≤ 0) is reported as none.
    """
    if price is None or not math.isfinite(price) or price <= 0:
        return None
    if venue == "bybit":
        return _round_to(price, tick, "up" if side is Side.LONG else "down")
    return _round_to(price, tick)


class DemoMarket:
    """One simulated market with the demo accounts (see the module docstring).

    Time: ``sync()`` advances to ``(clock() − clock at start) × speed`` simulated seconds;
    ``advance_to`` and ``step`` advance explicitly (tests pass a clock that stands still).
    Thread-safe: the monitor's loop advances it while the UI may read events.
    """

    def __init__(
        self,
        scenario: str | Scenario = "calm",
        *,
        seed: int | None = None,
        speed: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        epoch: float | None = None,
        stream_interval: float = 0.5,
    ) -> None:
        if not (math.isfinite(speed) and speed > 0):
            raise ValueError(f"demo speed must be a positive number, got {speed!r}")
        if not (math.isfinite(stream_interval) and stream_interval > 0):
            raise ValueError(f"demo stream interval must be a positive number, got {stream_interval!r}")
        self._scenario: Scenario = scenario if isinstance(scenario, Scenario) else get_scenario(scenario)
        if seed is None:
            seed = int(np.random.SeedSequence().entropy % (2**31))  # type: ignore[operator]
        self.seed: int = int(seed)
        self.speed = float(speed)
        self.stream_interval = float(stream_interval)
        self._clock = clock
        self._clock_start = clock()
        self._epoch = time.time() if epoch is None else float(epoch)
        self._lock = threading.RLock()
        self._rng = np.random.default_rng(self.seed)
        self._noise: list[list[float]] = []
        self._noise_row = _NOISE_BLOCK

        self._asset_names = [a.name for a in ASSETS]
        self._asset_index = {name: i for i, name in enumerate(self._asset_names)}
        self._beta = [a.beta for a in ASSETS]
        per_step = math.sqrt(STEP / SECONDS_PER_DAY)
        btc_vol = ASSETS[0].daily_vol * per_step
        self._factor_vol = btc_vol
        # The idiosyncratic part makes up the rest of each asset's variance.
        self._idio_vol = [
            math.sqrt(max(0.0, (a.daily_vol * per_step) ** 2 - (a.beta * btc_vol) ** 2)) for a in ASSETS
        ]
        self._log_price = [math.log(a.start_price) for a in ASSETS]
        self._hour_average = list(self._log_price)
        self._drift_applied = [0.0 for _ in ASSETS]

        self._instruments = {(i.venue, i.symbol): i for i in INSTRUMENTS}
        self._marks: dict[tuple[str, str], float] = {}
        self._steps = 0
        self._t = 0.0
        self._refresh_marks()

        self._accounts: dict[str, _AccountState] = {}
        for acc in ACCOUNTS:
            holdings = [
                _Holding(h.symbol, h.side, h.contracts, h.entry_price, h.leverage, h.leg, h.isolated_margin,
                         h.adl_rank)
                for h in acc.positions
            ]
            self._accounts[acc.name] = _AccountState(acc.name, acc.venue, acc.margin_mode, dict(acc.wallets),
                                                     holdings, list(acc.orders), pool=acc.pool)
        self._descriptions = {acc.name: acc.description for acc in ACCOUNTS}
        self._spot = {acc.name: dict(acc.spot) for acc in ACCOUNTS if acc.spot}
        self._insurance: dict[str, float] = {}
        for inst in INSTRUMENTS:
            self._insurance.setdefault(f"{inst.venue}:{inst.settle}", 0.0)
        self._events: list[DemoEvent] = []
        self._risk_cache: dict[str, _RiskCache] = {}
        self._frozen: dict[str, MarkView] = {}
        self._next_funding = {venue: FIRST_FUNDING for venue in FUNDING_INTERVAL_HOURS}

    # -- public read API -------------------------------------------------------------------

    @property
    def scenario(self) -> str:
        return self._scenario.name

    @property
    def sim_time(self) -> float:
        """Simulated seconds since the market opened (without advancing)."""
        return self._t

    @property
    def account_names(self) -> tuple[str, ...]:
        return tuple(self._accounts)

    def venue_of(self, account: str) -> str:
        return self._account(account).venue

    def description(self, account: str) -> str:
        return self._descriptions[account]

    @property
    def events(self) -> list[DemoEvent]:
        with self._lock:
            return list(self._events)

    @property
    def insurance_fund(self) -> Mapping[str, float]:
        """What liquidations booked to each demo venue's insurance fund, by ``venue:currency``."""
        with self._lock:
            return MappingProxyType(dict(self._insurance))

    def epoch_at(self, sim_time: float) -> float:
        """Wall-clock epoch seconds at which the market reached ``sim_time``."""
        return self._epoch + sim_time / self.speed

    def asset_price(self, asset: str) -> float:
        """The shared index price of ``asset`` (BTC, ETH, SOL) now."""
        return math.exp(self._log_price[self._asset_index[asset]])

    def mark(self, venue: str, symbol: str) -> float:
        """The venue's true current mark of ``symbol`` (what its liquidation engine sees)."""
        return self._marks[(venue, symbol)]

    def symbols(self, account: str) -> tuple[str, ...]:
        """Every symbol the account's venue lists in the demo."""
        venue = self._account(account).venue
        return tuple(sym for (v, sym) in self._instruments if v == venue)

    def feed_live(self, account: str) -> bool:
        return account not in self._frozen

    def mark_view(self, account: str) -> MarkView:
        """The marks the account's reader sees: frozen while its feed is lost."""
        with self._lock:
            frozen = self._frozen.get(account)
            if frozen is not None:
                return frozen
            return self._live_view(self._account(account).venue)

    def revision(self, account: str) -> int:
        """Changes whenever the account's positions or balances change (funding, liquidation)."""
        return self._account(account).revision

    # -- time ------------------------------------------------------------------------------

    def sync(self) -> float:
        """Advance to the time the clock says; returns the simulated time."""
        target = (self._clock() - self._clock_start) * self.speed
        self.advance_to(target)
        return self._t

    def advance_to(self, sim_seconds: float) -> None:
        """Run every whole step up to ``sim_seconds`` (never backwards)."""
        with self._lock:
            while self._t + STEP <= sim_seconds + 1e-9:
                self._step_once()

    def step(self, dt: float = STEP) -> None:
        """Advance by ``dt`` simulated seconds (rounded down to whole steps)."""
        self.advance_to(self._t + dt)

    # -- snapshots -------------------------------------------------------------------------

    def account(self, name: str) -> Account:
        """The account as its venue reports it now, with the venue's own liquidation prices."""
        with self._lock:
            state = self._account(name)
            view = self.mark_view(name)
            base = self._domain_account(state, view.marks, view.observed_at, self.epoch_at(self._t))
            if not base.positions:
                return base
            risk = compute_risk(Portfolio((base,))).accounts[0]
            return self._with_reported(state, base, risk)

    def account_snapshot(self, name: str) -> AccountSnapshot:
        with self._lock:
            account = self.account(name)
            raw = {"demo": True, "scenario": self.scenario, "seed": self.seed, "sim_time": self._t}
            return AccountSnapshot(account, observed_at=account.data_time or self.epoch_at(self._t), raw=raw,
                                   request_weight=REQUEST_WEIGHT.get(account.venue, 1.0))

    def portfolio(self) -> Portfolio:
        """All demo accounts as one portfolio (``desk snapshot --demo``)."""
        with self._lock:
            accounts = tuple(self.account(name) for name in self._accounts)
            as_of = datetime.fromtimestamp(self.epoch_at(self._t), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            return Portfolio(accounts, as_of=as_of)

    def failure(self, account: str, call: str) -> VenueError | None:
        """The scripted venue error for ``call`` ("snapshot", "marks", "account") now, if any."""
        phase = self._t % self._scenario.error_period
        for window in self._scenario.errors:
            if window.account == account and call in window.calls and window.start <= phase < window.end:
                retry = (window.end - phase) / self.speed if window.kind is ErrorKind.RATE_LIMIT else None
                return VenueError(
                    window.kind,
                    f"{account}: {window.message} — demo scenario {self.scenario!r}; desk retries by itself",
                    retry_after=retry,
                )
        return None

    # -- the simulation --------------------------------------------------------------------

    def _account(self, name: str) -> _AccountState:
        try:
            return self._accounts[name]
        except KeyError:
            known = ", ".join(self._accounts)
            raise KeyError(f"no demo account {name!r}; the demo accounts are {known}") from None

    def _next_noise(self) -> list[float]:
        if self._noise_row >= len(self._noise):
            self._noise = self._rng.standard_normal((_NOISE_BLOCK, len(self._asset_names))).tolist()
            self._noise_row = 0
        row = self._noise[self._noise_row]
        self._noise_row += 1
        return row

    def _step_once(self) -> None:
        t_new = self._t + STEP
        self._update_feeds(t_new)
        z = self._next_noise()
        scen = self._scenario
        factor = self._factor_vol * z[0] + _increment(scen.btc_path, self._t, t_new)
        decay = STEP / 3600.0
        for i, name in enumerate(self._asset_names):
            own = _increment(scen.asset_paths.get(name, ()), self._t, t_new)
            idio = self._idio_vol[i] * z[i] if i > 0 else 0.0
            self._log_price[i] += self._beta[i] * factor + idio + own
            self._hour_average[i] += (self._log_price[i] - self._hour_average[i]) * decay
        self._t = t_new
        self._steps += 1
        self._refresh_marks()
        for venue, due in self._next_funding.items():
            if self._t >= due - 1e-9:
                self._pay_funding(venue)
                self._next_funding[venue] = due + FUNDING_INTERVAL_HOURS[venue] * 3600.0
        for state in self._accounts.values():
            if state.orders:
                self._fill_triggered_orders(state)
            if state.holdings:
                self._check_liquidation(state)

    def _refresh_marks(self) -> None:
        for key, inst in self._instruments.items():
            price = math.exp(self._log_price[self._asset_index[inst.asset]] + inst.basis)
            self._marks[key] = _round_to(price, inst.tick_size / 10.0)

    def _live_view(self, venue: str) -> MarkView:
        marks = {sym: price for (v, sym), price in self._marks.items() if v == venue}
        return MarkView(MappingProxyType(marks), self.epoch_at(self._t), self._t)

    def _update_feeds(self, t_new: float) -> None:
        for account, start, end in self._scenario.feed_loss:
            lost = start <= t_new < end
            if lost and account not in self._frozen:
                # The last marks that arrived before the feed stopped, with their own time.
                self._frozen[account] = self._live_view(self._account(account).venue)
                self._record("feed_lost", account, f"{account}: mark feed lost (demo scenario feed-loss)",
                             at_time=t_new)
            elif not lost and account in self._frozen:
                del self._frozen[account]
                self._record("feed_restored", account, f"{account}: mark feed restored", at_time=t_new)

    def _record(self, kind: str, account: str, message: str, *, at_time: float | None = None,
                **fields: object) -> None:
        t = self._t if at_time is None else at_time
        venue = self._accounts[account].venue
        self._events.append(DemoEvent(kind, t, self.epoch_at(t), account, venue, message, **fields))  # type: ignore[arg-type]

    # -- domain views ----------------------------------------------------------------------

    def _position(self, state: _AccountState, h: _Holding, mark: float, mark_time: float | None) -> Position:
        inst = self._instruments[(state.venue, h.symbol)]
        return Position(
            symbol=h.symbol,
            settle=inst.settle,
            kind=inst.kind,
            contracts=h.contracts,
            side=h.side,
            entry_price=h.entry_price,
            mark_price=mark,
            margin_mode=state.margin_mode,
            contract_size=inst.contract_size,
            leg=h.leg,
            isolated_margin=h.isolated_margin if state.margin_mode is MarginMode.ISOLATED else None,
            leverage=h.leverage,
            tiers=inst.tiers,
            taker_fee=inst.taker_fee,
            tick_size=inst.tick_size,
            lot_size=inst.lot_size,
            mark_time=mark_time,
            # the venue's current rate and next payment, as the venues report them on every read
            funding_rate=self._funding_rate(state.venue, inst.asset),
            next_funding_time=self.epoch_at(self._next_funding[state.venue]),
            funding_interval_hours=FUNDING_INTERVAL_HOURS[state.venue],
            adl_rank=h.adl_rank,
        )

    def _domain_account(self, state: _AccountState, marks: Mapping[str, float], mark_time: float | None,
                        data_time: float | None, holdings: list[_Holding] | None = None) -> Account:
        held = state.holdings if holdings is None else holdings
        positions = tuple(self._position(state, h, marks[h.symbol], mark_time) for h in held)
        # spot balances are valued at the asset's index (the demo has no spot order book)
        spot = tuple(SpotBalance(asset, amount, self.asset_price(asset))
                     for asset, amount in self._spot.get(state.name, {}).items())
        orders = tuple(self._domain_order(state, o) for o in state.orders)
        margin = self._pool_margin(state) if state.pool is not None else None
        return Account(state.name, state.venue, dict(state.wallets), positions, data_time=data_time,
                       spot=spot, orders=orders, margin=margin)

    def _collateral_index(self, state: _AccountState, asset: str) -> float:
        """The USD index of a collateral coin: pegged for a stablecoin, else the shared index."""
        assert state.pool is not None
        pegged = state.pool.assets[asset].index
        return self.asset_price(asset) if pegged is None else pegged

    def _pool_margin(self, state: _AccountState) -> AccountMargin:
        """The pool as the real readers build it (``bybit.uta_margin``, ``binance.multi_assets_margin``):
        each wallet coin at its USD index with the venue's haircut, in one USD pool."""
        assert state.pool is not None
        collateral = []
        for asset, amount in state.wallets.items():
            how = state.pool.assets[asset]
            collateral.append(Collateral(
                asset, amount, self._collateral_index(state, asset), tiers=how.tiers, tier_unit="coin",
                bid_buffer=how.bid_buffer, ask_buffer=how.ask_buffer,
                underlying=collateral_underlying(asset)))
        return AccountMargin(mode=state.pool.mode, valuation="USD", collateral=tuple(collateral))

    def _domain_order(self, state: _AccountState, order: HeldOrder) -> Order:
        """A resting order as a venue reports it: reduce-only, on the side that closes its position."""
        h = self._held(state, order)
        closing = OrderSide.SELL if h is None or h.side is Side.LONG else OrderSide.BUY
        return Order(symbol=order.symbol, kind=order.kind, side=closing, contracts=order.contracts,
                     trigger_price=order.trigger_price, reduce_only=True, leg=order.leg,
                     order_id=f"demo-{state.name}-{state.orders.index(order) + 1}", source="conditional")

    @staticmethod
    def _held(state: _AccountState, order: HeldOrder) -> _Holding | None:
        return next((h for h in state.holdings if h.symbol == order.symbol and h.leg is order.leg), None)

    def _with_reported(self, state: _AccountState, base: Account, risk: AccountRisk) -> Account:
        by_key = {(p.symbol, p.leg): p for p in risk.positions}
        positions = []
        for pos in base.positions:
            pr = by_key.get((pos.symbol, pos.leg.value))
            if pr is None:
                positions.append(pos)
                continue
            tick = pos.tick_size or 0.01
            if base.margin is not None:
                # a pooled account's venue moves only the symbol's mark (unified-margin.md §6.4 variant
                # A), collateral held at its index; the demo reports no bankruptcy price for it
                reported = Reported(liquidation_price=reported_price(
                    state.venue, pos.side, pr.liquidation_price_symbol_only, tick))
                positions.append(dataclasses.replace(pos, reported=reported))
                continue
            reported = Reported(
                liquidation_price=reported_price(state.venue, pos.side, pr.liquidation_price, tick),
                # Bybit reports a bankruptcy price (bustPrice); Binance and Hyperliquid do not.
                bankruptcy_price=(reported_price(state.venue, pos.side, pr.bankruptcy_price, tick)
                                  if state.venue == "bybit" else None),
            )
            positions.append(dataclasses.replace(pos, reported=reported))
        if base.margin is not None:
            # the venue's own account figure: Bybit's accountMMRate, Binance's totalMaintMargin ÷
            # totalMarginBalance — maintenance over margin balance, i.e. desk's ratio ÷ k
            pool = next((p for p in risk.pools if p.pool == "account"), None)
            ratio = None if pool is None or pool.margin_ratio is None else pool.margin_ratio / pool.threshold
            margin = dataclasses.replace(base.margin, venue_margin_ratio=ratio)
            return dataclasses.replace(base, positions=tuple(positions), margin=margin)
        pools = {p.settle: Reported(margin_ratio=p.venue_margin_ratio) for p in risk.pools
                 if p.venue_margin_ratio is not None}
        return dataclasses.replace(base, positions=tuple(positions), reported=pools)

    def _true_account(self, state: _AccountState, holdings: list[_Holding] | None = None) -> Account:
        marks = {sym: price for (v, sym), price in self._marks.items() if v == state.venue}
        now = self.epoch_at(self._t)
        return self._domain_account(state, marks, now, now, holdings)

    def _position_risk(self, state: _AccountState, h: _Holding, mark: float) -> PositionRisk:
        """The engine's figures for one position alone at ``mark`` (its PnL and notional there)."""
        alone = Account(state.name, state.venue, dict(state.wallets),
                        (self._position(state, h, mark, None),))
        return compute_risk(Portfolio((alone,))).accounts[0].positions[0]

    # -- funding ---------------------------------------------------------------------------

    def _funding_rate(self, venue: str, asset: str) -> float:
        i = self._asset_index[asset]
        rate_8h = BASE_FUNDING_8H + FUNDING_SENSITIVITY * (self._log_price[i] - self._hour_average[i])
        rate_8h = max(-FUNDING_CAP_8H, min(FUNDING_CAP_8H, rate_8h))
        return rate_8h * FUNDING_INTERVAL_HOURS[venue] / 8.0

    def _pay_funding(self, venue: str) -> None:
        for state in self._accounts.values():
            if state.venue != venue or not state.holdings:
                continue
            risk = compute_risk(Portfolio((self._true_account(state),))).accounts[0]
            notional = {(p.symbol, p.leg): p.notional for p in risk.positions}
            for h in state.holdings:
                inst = self._instruments[(venue, h.symbol)]
                rate = self._funding_rate(venue, inst.asset)
                payment = -h.side.sign * abs(notional[(h.symbol, h.leg.value)]) * rate
                if h.isolated_margin is not None and state.margin_mode is MarginMode.ISOLATED:
                    h.isolated_margin += payment
                else:
                    state.wallets[inst.settle] = state.wallets.get(inst.settle, 0.0) + payment
                self._record(
                    "funding", state.name,
                    f"{state.name}: funding {h.symbol} {h.leg.value} {payment:+.8g} {inst.settle} "
                    f"at rate {rate:+.6%}",
                    symbol=h.symbol, leg=h.leg.value, side=h.side.value, contracts=h.contracts,
                    price=self._marks[(venue, h.symbol)], amount=payment, currency=inst.settle, rate=rate,
                )
            state.revision += 1

    # -- stops and take-profits -------------------------------------------------------------

    def _fill_triggered_orders(self, state: _AccountState) -> None:
        """Fill every resting order whose trigger the mark has reached, as a market order at the
        mark (the venues' stop-market and take-profit-market), before the liquidation check of the
        same step: a stop above a long's liquidation price fires first when the mark falls."""
        filled = False
        for order in list(state.orders):
            if order not in state.orders:  # cancelled by an earlier fill that closed its position
                continue
            h = self._held(state, order)
            if h is None:
                state.orders.remove(order)
                continue
            mark = self._marks[(state.venue, h.symbol)]
            falling = (order.kind is OrderKind.STOP) == (h.side is Side.LONG)  # fires on a fall?
            if (mark > order.trigger_price) if falling else (mark < order.trigger_price):
                continue
            self._close_by_order(state, h, order, mark)
            filled = True
        if filled:
            state.revision += 1

    def _close_by_order(self, state: _AccountState, h: _Holding, order: HeldOrder, mark: float) -> None:
        inst = self._instruments[(state.venue, h.symbol)]
        qty = h.contracts if order.contracts is None else min(order.contracts, h.contracts)
        part = dataclasses.replace(h, contracts=qty)
        at_fill = self._position_risk(state, part, mark)
        realised = at_fill.unrealized_pnl
        fee = inst.taker_fee * abs(at_fill.notional)
        released = 0.0
        if h.isolated_margin is not None and state.margin_mode is MarginMode.ISOLATED:
            # the closed share of the position margin returns to the wallet (the rest stays posted)
            released = h.isolated_margin * qty / h.contracts
            h.isolated_margin -= released
        state.wallets[inst.settle] = state.wallets.get(inst.settle, 0.0) + released + realised - fee
        state.orders.remove(order)
        h.contracts -= qty
        if h.contracts <= 1e-12:
            state.holdings.remove(h)
            # the venue cancels the reduce-only orders left on a closed position
            state.orders[:] = [o for o in state.orders if self._held(state, o) is not None]
        kind = "stop_filled" if order.kind is OrderKind.STOP else "take_profit_filled"
        what = "stop" if order.kind is OrderKind.STOP else "take-profit"
        self._record(
            kind, state.name,
            f"{state.name}: {h.symbol} {h.side.value} {qty:g} closed by its {what} (trigger "
            f"{order.trigger_price:.8g}) at mark {mark:.8g}; realised {realised:+.8g} {inst.settle}, "
            f"fee {fee:.8g} {inst.settle}",
            symbol=h.symbol, leg=h.leg.value, side=h.side.value, contracts=qty, price=mark,
            amount=realised - fee, currency=inst.settle,
        )

    # -- liquidation -----------------------------------------------------------------------

    def _needs_check(self, state: _AccountState) -> bool:
        cache = self._risk_cache.get(state.name)
        if cache is None or cache.revision != state.revision:
            return True
        cross = state.margin_mode is MarginMode.CROSS
        if cross and self._steps - cache.step >= RISK_REFRESH_STEPS:
            return True
        for symbol, lp, above in cache.levels:
            mark = self._marks[(state.venue, symbol)]
            if (mark > lp) != above or (cross and abs(mark - lp) / mark < CROSS_NEAR_DISTANCE):
                return True
        return False

    def _check_liquidation(self, state: _AccountState) -> None:
        if state.pool is not None:
            self._check_pool(state)
            return
        if not self._needs_check(state):
            return
        risk = compute_risk(Portfolio((self._true_account(state),))).accounts[0]
        self._risk_cache[state.name] = _RiskCache(
            state.revision, self._steps,
            [(p.symbol, p.liquidation_price, p.mark_price > p.liquidation_price) for p in risk.positions
             if p.liquidation_price is not None],
        )
        triggered = [p for p in risk.positions if self._is_triggered(p)]
        if not triggered:
            return
        if state.margin_mode is MarginMode.ISOLATED:
            for pr in triggered:
                self._liquidate_isolated(state, pr)
        elif state.pool is not None:
            self._liquidate_pooled(state, risk)
        else:
            for settle in dict.fromkeys(p.settle for p in triggered):
                self._liquidate_pool(state, settle, risk)
        state.revision += 1

    def _check_pool(self, state: _AccountState) -> None:
        """A pooled account's venue watches the pool's ratio, k·MM ÷ margin balance (unified-margin.md
        §6.3): one evaluation of the pool at the current prices every step, and the whole engine only
        once it reaches 1.0 (the liquidation prices' root search costs far more than the ratio)."""
        from desk.domain.unified import cross_positions, pool_state_scalar

        account = self._true_account(state)
        margin = account.margin
        assert margin is not None
        legs = cross_positions(account)
        if not legs:
            return
        prices = {c.asset: c.price for c in margin.collateral}
        if pool_state_scalar(account, [p.mark_price for p in legs], prices).ratio(margin.threshold) < 1.0:
            return
        self._liquidate_pooled(state, compute_risk(Portfolio((account,))).accounts[0])
        state.revision += 1

    @staticmethod
    def _is_triggered(pr: PositionRisk) -> bool:
        """The mark has reached the liquidation price: the margin ratio (the position's own when
        isolated, its pool's when cross) is at 1.0 or worse (risk-math.md §1.3, §3.4).

        The ratio, not the side, decides: both legs of a hedge pair share one liquidation price,
        which lies on the side of the pair's net exposure."""
        return pr.liquidation_price is not None and pr.margin_ratio is not None and pr.margin_ratio >= 1.0

    def _holding(self, state: _AccountState, symbol: str, leg: str) -> _Holding:
        return next(h for h in state.holdings if h.symbol == symbol and h.leg.value == leg)

    def _liquidate_isolated(self, state: _AccountState, pr: PositionRisk) -> None:
        h = self._holding(state, pr.symbol, pr.leg)
        mark = pr.mark_price
        bankruptcy = pr.bankruptcy_price if pr.bankruptcy_price is not None else mark
        realised = self._position_risk(state, h, bankruptcy).unrealized_pnl
        # The trader loses the position margin: the engine's result between the trigger mark and
        # the bankruptcy price, plus whatever margin the bankruptcy price leaves (Bybit's reserved
        # fee to close), goes to the insurance fund — in all, the position's equity at the trigger.
        insurance = (h.isolated_margin or 0.0) + pr.unrealized_pnl
        state.holdings.remove(h)
        self._book(state, h, pr.settle, mark, pr.liquidation_price, bankruptcy, realised, insurance)

    def _liquidate_pool(self, state: _AccountState, settle: str, risk: AccountRisk) -> None:
        # Worst symbol first; once it is closed at its bankruptcy price the pool's equity is zero,
        # so the rest follow, each at its own bankruptcy price (by then about its mark).
        upnl: dict[str, float] = {}
        for p in risk.positions:
            if p.settle == settle and p.margin_mode == MarginMode.CROSS.value:
                upnl[p.symbol] = upnl.get(p.symbol, 0.0) + p.unrealized_pnl
        for symbol in sorted(upnl, key=lambda s: upnl[s]):
            now = compute_risk(Portfolio((self._true_account(state),))).accounts[0]
            legs = [p for p in now.positions if p.symbol == symbol and p.settle == settle]
            if not legs:
                continue
            # Both legs of a hedge pair share one liquidation and bankruptcy price (§7.6).
            mark = legs[0].mark_price
            bankruptcy = legs[0].bankruptcy_price if legs[0].bankruptcy_price is not None else mark
            for p in legs:
                h = self._holding(state, p.symbol, p.leg)
                realised = self._position_risk(state, h, bankruptcy).unrealized_pnl
                insurance = self._position_risk(state, h, mark).unrealized_pnl - realised
                state.wallets[settle] = state.wallets.get(settle, 0.0) + realised
                state.holdings.remove(h)
                self._book(state, h, settle, mark, p.liquidation_price, bankruptcy, realised, insurance)

    def _liquidate_pooled(self, state: _AccountState, risk: AccountRisk) -> None:
        """The whole pool, worst symbol first, each at the price where the pool's total equity
        reaches zero with only its mark moving; then collateral repays the negative wallets."""
        from desk.domain.unified import liquidation_move, slack_scalar, solve_factor_scalar

        upnl: dict[str, float] = {}
        for p in risk.positions:
            upnl[p.symbol] = upnl.get(p.symbol, 0.0) + p.unrealized_pnl
        for symbol in sorted(upnl, key=lambda s: upnl[s]):
            account = self._true_account(state)
            legs = [p for p in account.positions if p.symbol == symbol]
            if not legs:
                continue
            move = liquidation_move(account, symbol, wrong_way=False)

            def total_equity(phi: float, account: Account = account, move: object = move) -> float:
                return slack_scalar(account, move, phi, bankruptcy=True)  # type: ignore[arg-type]

            phi = solve_factor_scalar(total_equity) if total_equity(1.0) > 0 else None
            mark = legs[0].mark_price
            bankruptcy = mark * phi if phi is not None else mark
            liquidation = next((p.liquidation_price for p in risk.positions if p.symbol == symbol), None)
            for pos in legs:
                h = self._holding(state, pos.symbol, pos.leg.value)
                realised = self._position_risk(state, h, bankruptcy).unrealized_pnl
                insurance = self._position_risk(state, h, mark).unrealized_pnl - realised
                state.wallets[pos.settle] = state.wallets.get(pos.settle, 0.0) + realised
                state.holdings.remove(h)
                self._book(state, h, pos.settle, mark, liquidation, bankruptcy, realised, insurance)
        self._repay_with_collateral(state)

    def _repay_with_collateral(self, state: _AccountState) -> None:
        """Sell collateral at its index to bring negative wallets back to zero; the fund takes the rest."""
        for debt_asset in [a for a, amount in state.wallets.items() if amount < 0]:
            debt_price = self._collateral_index(state, debt_asset)
            owed = -state.wallets[debt_asset] * debt_price  # USD
            for asset in [a for a, amount in state.wallets.items() if amount > 0]:
                if owed <= 0:
                    break
                price = self._collateral_index(state, asset)
                sold = min(state.wallets[asset], owed / price)
                state.wallets[asset] -= sold
                owed -= sold * price
            state.wallets[debt_asset] = 0.0
            if owed > 0:
                key = f"{state.venue}:{debt_asset}"
                self._insurance[key] = self._insurance.get(key, 0.0) - owed / debt_price

    def _book(self, state: _AccountState, h: _Holding, settle: str, mark: float, liquidation: float | None,
              bankruptcy: float, realised: float, insurance: float) -> None:
        key = f"{state.venue}:{settle}"
        self._insurance[key] = self._insurance.get(key, 0.0) + insurance
        # the venue cancels the reduce-only orders of a liquidated position
        state.orders[:] = [o for o in state.orders if self._held(state, o) is not None]
        liq = "none" if liquidation is None else f"{liquidation:.8g}"
        self._record(
            "liquidation", state.name,
            f"{state.name}: {h.symbol} {h.side.value} {h.contracts:g} liquidated at mark {mark:.8g} "
            f"(liquidation price {liq}), closed at bankruptcy price {bankruptcy:.8g}; "
            f"realised {realised:+.8g} {settle}, insurance fund {insurance:+.8g} {settle}",
            symbol=h.symbol, leg=h.leg.value, side=h.side.value, contracts=h.contracts, price=mark,
            liquidation_price=liquidation, bankruptcy_price=bankruptcy, amount=realised,
            currency=settle, insurance=insurance,
        )
