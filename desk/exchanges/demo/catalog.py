"""What the demo venue trades and who holds it: assets, instruments and the demo accounts.

Tier tables are shaped like the venues publish them (risk-math.md §0–3, §6): Binance USDⓈ-M
brackets in quote notional with ``cum``, Binance COIN-M brackets in coin, Bybit risk limits with
their MM deduction, Hyperliquid with ``MMR = 1 / (2 × maxLeverage)``. Maintenance amounts are
written out as the venue would send them (they follow the §0 recurrence).

The accounts are sized so the scripted scenarios tell a clear story (see ``scenarios.py``):
the Bybit isolated SOL long is the flash-crash victim, the Bybit isolated ETH short the squeeze
victim; the cross accounts move towards their limits but survive.

Two accounts pool collateral across assets (issue 16, unified-margin.md §1, §3): a Bybit Unified
Trading Account in cross mode (USDT and BTC collateral, BTC counted through Bybit's tiered
collateral value ratio, and a BTC long — the long and the collateral fall together: wrong-way
risk) and a Binance USDⓈ-M account in Multi-Assets mode (USDT, USDC and BTC at the asset index
with Binance's bid/ask buffers). Their :class:`DemoPool` says how the venue counts each coin.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from desk.domain.betas import DEFAULT_BETAS
from desk.domain.model import CollateralTier, Kind, Leg, MarginMode, Side, Tier
from desk.domain.protection import OrderKind


@dataclass(frozen=True, slots=True)
class Asset:
    """One underlying coin of the simulated market."""

    name: str
    start_price: float
    daily_vol: float  # standard deviation of the daily log return
    beta: float  # sensitivity of the log return to BTC's (desk.domain.betas)


ASSETS: tuple[Asset, ...] = (
    Asset("BTC", 62_000.0, 0.030, DEFAULT_BETAS["BTC"]),
    Asset("ETH", 3_000.0, 0.040, DEFAULT_BETAS["ETH"]),
    Asset("SOL", 145.0, 0.055, DEFAULT_BETAS["SOL"]),
)


@dataclass(frozen=True, slots=True)
class Instrument:
    venue: str
    symbol: str  # ccxt unified symbol
    asset: str
    kind: Kind
    settle: str
    contract_size: float
    tick_size: float
    tiers: tuple[Tier, ...]
    taker_fee: float
    basis: float = 0.0  # the venue's mark premium over the shared index (log), so venues differ a little
    lot_size: float | None = None  # order size step in contracts


def _t(floor: float, cap: float, mmr: float, cum: float, max_leverage: float) -> Tier:
    return Tier(floor, cap, mmr, cum, max_leverage)


# Binance USDⓈ-M brackets (notional in USDT). BTCUSDT is the table quoted in portfolio-format.md.
_BINANCE_BTCUSDT = (
    _t(0, 50_000, 0.004, 0, 125),
    _t(50_000, 250_000, 0.005, 50, 100),
    _t(250_000, 1_000_000, 0.01, 1_300, 50),
    _t(1_000_000, 10_000_000, 0.025, 16_300, 20),
    _t(10_000_000, 20_000_000, 0.05, 266_300, 10),
)
_BINANCE_ETHUSDT = (
    _t(0, 50_000, 0.005, 0, 100),
    _t(50_000, 250_000, 0.0065, 75, 75),
    _t(250_000, 1_000_000, 0.01, 950, 50),
    _t(1_000_000, 5_000_000, 0.02, 10_950, 25),
    _t(5_000_000, 10_000_000, 0.05, 160_950, 10),
)
_BINANCE_SOLUSDT = (
    _t(0, 10_000, 0.01, 0, 50),
    _t(10_000, 50_000, 0.025, 150, 20),
    _t(50_000, 250_000, 0.05, 1_400, 10),
    _t(250_000, 1_000_000, 0.1, 13_900, 5),
)
# Binance COIN-M brackets (notional in coin). BTCUSD's 12.5 % tier with cum 11.605 BTC is the FAQ's.
_BINANCE_BTCUSD = (
    _t(0, 5, 0.004, 0, 125),
    _t(5, 10, 0.005, 0.005, 100),
    _t(10, 20, 0.01, 0.055, 50),
    _t(20, 50, 0.025, 0.355, 20),
    _t(50, 100, 0.05, 1.605, 10),
    _t(100, 200, 0.1, 6.605, 5),
    _t(200, 400, 0.125, 11.605, 4),
)
_BINANCE_ETHUSD = (
    _t(0, 250, 0.005, 0, 100),
    _t(250, 1_000, 0.01, 1.25, 50),
    _t(1_000, 3_000, 0.025, 16.25, 20),
    _t(3_000, 10_000, 0.05, 91.25, 10),
)
# Bybit risk limits (USDT value; MM deduction in USDT).
_BYBIT_BTCUSDT = (
    _t(0, 2_000_000, 0.005, 0, 100),
    _t(2_000_000, 5_000_000, 0.01, 10_000, 50),
    _t(5_000_000, 10_000_000, 0.02, 60_000, 25),
)
_BYBIT_ETHUSDT = (
    _t(0, 1_000_000, 0.005, 0, 100),
    _t(1_000_000, 3_000_000, 0.01, 5_000, 50),
    _t(3_000_000, 6_000_000, 0.02, 35_000, 25),
)
_BYBIT_SOLUSDT = (
    _t(0, 200_000, 0.01, 0, 50),
    _t(200_000, 600_000, 0.015, 1_000, 33.33),
    _t(600_000, 1_200_000, 0.02, 4_000, 25),
)


def _hl(max_leverage: float) -> tuple[Tier, ...]:
    # Hyperliquid publishes a max leverage; MMR = 1 / (2 × maxLeverage) (risk-math.md §6).
    return (_t(0, 150_000_000, 1.0 / (2.0 * max_leverage), 0, max_leverage),)


_USDM, _COINM, _LIN, _INV = "binanceusdm", "binancecoinm", Kind.LINEAR, Kind.INVERSE

INSTRUMENTS: tuple[Instrument, ...] = (
    Instrument(_USDM, "BTC/USDT:USDT", "BTC", _LIN, "USDT", 1.0, 0.1, _BINANCE_BTCUSDT, 0.0005,
               lot_size=0.001),
    Instrument(_USDM, "ETH/USDT:USDT", "ETH", _LIN, "USDT", 1.0, 0.01, _BINANCE_ETHUSDT, 0.0005,
               lot_size=0.001),
    Instrument(_USDM, "SOL/USDT:USDT", "SOL", _LIN, "USDT", 1.0, 0.01, _BINANCE_SOLUSDT, 0.0005,
               lot_size=1.0),
    Instrument(_COINM, "BTC/USD:BTC", "BTC", _INV, "BTC", 100.0, 0.1, _BINANCE_BTCUSD, 0.0005,
               basis=-0.0002, lot_size=1.0),
    Instrument(_COINM, "ETH/USD:ETH", "ETH", _INV, "ETH", 10.0, 0.01, _BINANCE_ETHUSD, 0.0005,
               basis=-0.0002, lot_size=1.0),
    Instrument("bybit", "BTC/USDT:USDT", "BTC", _LIN, "USDT", 1.0, 0.1, _BYBIT_BTCUSDT, 0.00055,
               basis=0.0001, lot_size=0.001),
    Instrument("bybit", "ETH/USDT:USDT", "ETH", _LIN, "USDT", 1.0, 0.01, _BYBIT_ETHUSDT, 0.00055,
               basis=0.0001, lot_size=0.01),
    Instrument("bybit", "SOL/USDT:USDT", "SOL", _LIN, "USDT", 1.0, 0.01, _BYBIT_SOLUSDT, 0.00055,
               basis=0.0001, lot_size=0.1),
    Instrument("hyperliquid", "BTC/USDC:USDC", "BTC", _LIN, "USDC", 1.0, 1.0, _hl(40), 0.00045,
               basis=-0.0001, lot_size=0.00001),
    Instrument("hyperliquid", "ETH/USDC:USDC", "ETH", _LIN, "USDC", 1.0, 0.1, _hl(25), 0.00045,
               basis=-0.0001, lot_size=0.0001),
    Instrument("hyperliquid", "SOL/USDC:USDC", "SOL", _LIN, "USDC", 1.0, 0.01, _hl(20), 0.00045,
               basis=-0.0001, lot_size=0.01),
)

# Hours between funding payments, per venue (Binance and Bybit every 8 h, Hyperliquid hourly).
FUNDING_INTERVAL_HOURS: dict[str, float] = {"binanceusdm": 8.0, "binancecoinm": 8.0, "bybit": 8.0,
                                            "hyperliquid": 1.0}

# Request weight one REST reconciliation would cost on the real venue (positions + balance).
REQUEST_WEIGHT: dict[str, float] = {"binanceusdm": 10.0, "binancecoinm": 10.0, "bybit": 2.0,
                                    "hyperliquid": 4.0}


@dataclass(frozen=True, slots=True)
class HeldPosition:
    symbol: str
    side: Side
    contracts: float
    entry_price: float
    leverage: float
    leg: Leg = Leg.BOTH
    isolated_margin: float | None = None  # isolated only, excluding unrealized PnL
    adl_rank: int | None = None  # the auto-deleveraging rank the venue reports, on its own scale


@dataclass(frozen=True, slots=True)
class HeldOrder:
    """A resting reduce-only trigger order on a held position (issue 17): it closes ``contracts``
    of the position (None: all of it, like Binance's closePosition) at the mark once the mark
    reaches ``trigger_price`` — a stop-market, or a take-profit-market."""

    symbol: str
    kind: OrderKind  # STOP or TAKE_PROFIT
    trigger_price: float
    contracts: float | None = None
    leg: Leg = Leg.BOTH


@dataclass(frozen=True, slots=True)
class PoolAsset:
    """How the venue counts one collateral coin: Bybit's tiered collateral value ratio (bounds in
    coin, as ``/v5/spot-margin-trade/collateral`` publishes it) or Binance's asset index buffers
    (``/fapi/v1/assetIndex`` bidBuffer / askBuffer). ``index`` pegs a stablecoin's USD index; None:
    the coin follows the market's shared index of that asset."""

    tiers: tuple[CollateralTier, ...] = ()
    bid_buffer: float = 0.0
    ask_buffer: float = 0.0
    index: float | None = None


@dataclass(frozen=True, slots=True)
class DemoPool:
    """An account whose venue pools every collateral coin into one USD pool (unified-margin.md §0)."""

    mode: str  # desk's name of the venue's mode, as the real readers set it
    assets: dict[str, PoolAsset]


# Bybit's tiered collateral value ratios, in the shape Bybit publishes them (coin bounds).
_BYBIT_COLLATERAL = {
    "USDT": PoolAsset((CollateralTier(0.0, float("inf"), 1.0),), index=1.0),
    "BTC": PoolAsset((CollateralTier(0.0, 10.0, 0.95), CollateralTier(10.0, 20.0, 0.9),
                      CollateralTier(20.0, float("inf"), 0.8))),
}
# Binance's asset index buffers: 0.01 % on the stablecoins, 5 % on BTC (bidRate = index × (1 − bid)).
_BINANCE_COLLATERAL = {
    "USDT": PoolAsset(bid_buffer=0.0001, ask_buffer=0.0001, index=1.0),
    "USDC": PoolAsset(bid_buffer=0.0001, ask_buffer=0.0001, index=1.0),
    "BTC": PoolAsset(bid_buffer=0.05, ask_buffer=0.05),
}


@dataclass(frozen=True, slots=True)
class DemoAccount:
    name: str
    venue: str
    margin_mode: MarginMode
    wallets: dict[str, float]
    positions: tuple[HeldPosition, ...]
    description: str
    spot: dict[str, float] = field(default_factory=dict)  # coins in the venue's spot wallet (not margin)
    orders: tuple[HeldOrder, ...] = ()
    pool: DemoPool | None = None  # the venue pools collateral across assets (one USD pool)


ACCOUNTS: tuple[DemoAccount, ...] = (
    DemoAccount(
        "demo-binance-usdm", "binanceusdm", MarginMode.CROSS, {"USDT": 12_000.0},
        (
            # Hedge mode (dual side): every position is a LONG or SHORT leg; BTC holds both.
            HeldPosition("BTC/USDT:USDT", Side.LONG, 0.8, 61_200.0, 20, Leg.LONG),
            HeldPosition("BTC/USDT:USDT", Side.SHORT, 0.3, 63_050.0, 20, Leg.SHORT),
            # ADL quantile on Binance's adlQuantile scale (0–4)
            HeldPosition("ETH/USDT:USDT", Side.LONG, 12.0, 3_050.0, 10, Leg.LONG, adl_rank=3),
            HeldPosition("SOL/USDT:USDT", Side.SHORT, 150.0, 142.0, 10, Leg.SHORT),
        ),
        "Binance USDⓈ-M, cross margin, hedge mode (a BTC long/short pair)",
        # partly protected: a stop for a third of the ETH long, and a take-profit above
        orders=(HeldOrder("ETH/USDT:USDT", OrderKind.STOP, 2_300.0, 4.0, Leg.LONG),
                HeldOrder("ETH/USDT:USDT", OrderKind.TAKE_PROFIT, 3_400.0, None, Leg.LONG)),
    ),
    DemoAccount(
        "demo-bybit-isolated", "bybit", MarginMode.ISOLATED, {"USDT": 5_000.0},
        (
            # Position margin = initial margin (value ÷ leverage), as Bybit holds it.
            HeldPosition("SOL/USDT:USDT", Side.LONG, 60.0, 146.0, 6, isolated_margin=60.0 * 146.0 / 6),
            # ADL ranks on Bybit's adlRankIndicator scale (1–5): the ETH short first in the queue
            HeldPosition("ETH/USDT:USDT", Side.SHORT, 4.0, 2_980.0, 6, isolated_margin=4.0 * 2_980.0 / 6,
                         adl_rank=5),
            HeldPosition("BTC/USDT:USDT", Side.LONG, 0.05, 61_000.0, 5, isolated_margin=0.05 * 61_000.0 / 5,
                         adl_rank=2),
        ),
        "Bybit USDT perpetuals, isolated margin",
        # The flash-crash victim carries a stop for 30 % of its size above its liquidation price
        # (~123): the crash fills the stop first and liquidates the other 70 %. The BTC long is
        # protected whole, by a stop above its liquidation price (~49,100).
        orders=(HeldOrder("SOL/USDT:USDT", OrderKind.STOP, 127.0, 18.0),
                HeldOrder("BTC/USDT:USDT", OrderKind.STOP, 51_000.0)),
    ),
    DemoAccount(
        "demo-binance-coinm", "binancecoinm", MarginMode.CROSS, {"BTC": 0.1, "ETH": 0.6},
        (
            HeldPosition("BTC/USD:BTC", Side.LONG, 300.0, 60_500.0, 10),
            HeldPosition("ETH/USD:ETH", Side.SHORT, 500.0, 3_100.0, 10),
        ),
        "Binance COIN-M inverse, cross margin (BTC and ETH pools)",
        # a stop below the BTC long's liquidation price (~50,500): it can never fire
        orders=(HeldOrder("BTC/USD:BTC", OrderKind.STOP, 47_000.0),),
    ),
    DemoAccount(
        "demo-hyperliquid", "hyperliquid", MarginMode.CROSS, {"USDC": 3_000.0},
        (
            HeldPosition("ETH/USDC:USDC", Side.LONG, 6.0, 2_950.0, 10),
            HeldPosition("BTC/USDC:USDC", Side.SHORT, 0.2, 61_500.0, 20),
        ),
        "Hyperliquid perpetuals, cross margin (USDC)",
    ),
)

# ---- the whole book (issue 21): a cross-venue hedge and a basis trade -------------------------
# A Bybit cross BTC short of 1.3 BTC: 0.8 of it hedges the Binance USDⓈ-M BTC long leg above (a
# long on one venue against a short on another), the other 0.5 hedges the 0.5 BTC held in this
# account's spot wallet (spot against a perpetual short). Its liquidation is about 15 % above the
# start, so it survives the scripted squeeze (+8 %) and the hedges show where they would break.
BOOK_ACCOUNTS: tuple[DemoAccount, ...] = (
    DemoAccount(
        "demo-bybit-hedge", "bybit", MarginMode.CROSS, {"USDT": 13_000.0},
        (HeldPosition("BTC/USDT:USDT", Side.SHORT, 1.3, 61_800.0, 20),),
        "Bybit USDT perpetuals, cross margin: a BTC short hedging a Binance long and a spot BTC balance",
        spot={"BTC": 0.5},
    ),
)
ACCOUNTS = ACCOUNTS + BOOK_ACCOUNTS
# ---- end of the whole book -------------------------------------------------------------------

# ---- pooled collateral (issue 16) ------------------------------------------------------------
# The UTA's BTC long and its BTC collateral lose together: desk's liquidation price (every BTC
# price moving) lies nearer than the venue's (only the mark moving). Both accounts stay clear of
# liquidation in every scripted scenario (the flash crash takes the UTA towards its limit). The
# UTA long (0.45 BTC) is smaller than the whole book's legs above, so the Bybit hedge short still
# pairs with the Binance long and the spot BTC first (issue 21's story is unchanged).
POOLED_ACCOUNTS: tuple[DemoAccount, ...] = (
    DemoAccount(
        "demo-bybit-uta", "bybit", MarginMode.CROSS, {"USDT": 500.0, "BTC": 0.12},
        (HeldPosition("BTC/USDT:USDT", Side.LONG, 0.45, 61_500.0, 10),),
        "Bybit Unified Trading Account, cross margin: USDT and BTC collateral behind a BTC long",
        pool=DemoPool("bybit uta cross", _BYBIT_COLLATERAL),
    ),
    DemoAccount(
        "demo-binance-multi", "binanceusdm", MarginMode.CROSS,
        {"USDT": 4_000.0, "USDC": 3_000.0, "BTC": 0.05},
        (HeldPosition("ETH/USDT:USDT", Side.LONG, 5.0, 2_980.0, 10),
         HeldPosition("SOL/USDT:USDT", Side.SHORT, 60.0, 146.0, 10)),
        "Binance USDⓈ-M Multi-Assets: USDT, USDC and BTC pooled into one USD margin balance",
        pool=DemoPool("binance multi-assets", _BINANCE_COLLATERAL),
    ),
)
ACCOUNTS = ACCOUNTS + POOLED_ACCOUNTS
# ---- end of pooled collateral ----------------------------------------------------------------


def instrument(venue: str, symbol: str) -> Instrument:
    for inst in INSTRUMENTS:
        if inst.venue == venue and inst.symbol == symbol:
            return inst
    raise KeyError(f"{venue} {symbol}")
