"""Varied whole-book inputs for comparing the book against its oracle: random multi-account books
(linear and inverse, cross and isolated, hedge-mode legs, OKX twins, spot balances of either sign,
coin-settled pools with and without a price in the book) and the demo's accounts, pooled ones too."""

from __future__ import annotations

import random

from desk.domain.model import Account, Portfolio, Position, SpotBalance, Tier
from desk.exchanges.demo.catalog import ACCOUNTS
from tests.support.demo import manual_market
from tests.support.risk import pos

_PRICES = {"BTC": 60_000.0, "ETH": 3_000.0, "SOL": 150.0, "DOGE": 0.15, "XRP": 0.6}
_VENUES = ("binanceusdm", "bybit", "okx", "gate", "hyperliquid", "binancecoinm")


def _tiers(rng: random.Random) -> tuple[Tier, ...]:
    """A two- or three-bracket table with the maintenance amounts of the floors' recurrence."""
    rates = sorted(rng.uniform(0.003, 0.05) for _ in range(rng.choice((1, 2, 3))))
    floors = [0.0, *sorted(rng.uniform(1e4, 5e6) for _ in rates[1:])]
    tiers, cum = [], 0.0
    for i, (floor, rate) in enumerate(zip(floors, rates, strict=True)):
        if i:
            cum += floor * (rate - rates[i - 1])
        cap = floors[i + 1] if i + 1 < len(floors) else float("inf")
        tiers.append(Tier(floor, cap, rate, cum))
    return tuple(tiers)


def _position(rng: random.Random, asset: str, *, mode: str, leg: str = "both", side: str | None = None
              ) -> Position:
    mark = _PRICES[asset] * rng.uniform(0.9, 1.1)
    entry = mark * rng.uniform(0.85, 1.15)
    side = side or rng.choice(("long", "short"))
    if rng.random() < 0.25:  # coin-margined: USD contracts settled in the coin
        contracts = float(rng.randint(1, 3_000))
        margin = contracts * 100 / entry / rng.uniform(2, 25) if mode == "isolated" else None
        return pos(f"{asset}/USD:{asset}", contracts=contracts, entry=entry, mark=mark, side=side, mode=mode,
                   leg=leg, contract_size=100.0, tiers=_tiers(rng), margin=margin, leverage=10,
                   taker=0.0005, tick_size=0.1)
    contracts = rng.uniform(100, 300_000) / entry
    margin = contracts * entry / rng.uniform(2, 25) if mode == "isolated" else None
    return pos(f"{asset}/USDT:USDT", contracts=contracts, entry=entry, mark=mark, side=side, mode=mode,
               leg=leg, tiers=_tiers(rng), margin=margin, leverage=10, taker=0.0005, tick_size=0.01)


def random_book(seed: int) -> Portfolio:
    rng = random.Random(seed)
    assets = list(_PRICES)
    accounts = []
    for a in range(rng.randint(2, 6)):
        venue = rng.choice(_VENUES)
        positions: list[Position] = []
        for asset in rng.sample(assets, rng.randint(0, len(assets))):
            roll = rng.random()
            if roll < 0.15:  # hedge mode: both legs of one instrument
                positions += [_position(rng, asset, mode="cross", leg="long", side="long"),
                              _position(rng, asset, mode="cross", leg="short", side="short")]
            elif roll < 0.25 and venue == "okx":  # one instrument cross and isolated at once
                first = _position(rng, asset, mode="cross")
                twin = pos(first.symbol, contracts=first.contracts * 0.5, entry=first.entry_price,
                           mark=first.mark_price, side=first.side.value, mode="isolated",
                           kind=first.kind.value, contract_size=first.contract_size, tiers=first.tiers,
                           margin=first.contracts * first.entry_price / 40, leverage=10, taker=0.0005)
                positions += [first, twin]
            else:
                positions.append(_position(rng, asset, mode=rng.choice(("cross", "isolated"))))
        spot = tuple(SpotBalance(asset, rng.choice((0.0, rng.uniform(-3, 40), rng.uniform(0.1, 5))),
                                 _PRICES[asset] * rng.uniform(0.95, 1.05))
                     for asset in rng.sample(assets, rng.randint(0, 2)))
        wallets = {"USDT": rng.uniform(0, 2e6)}
        for p in positions:
            if p.settle != "USDT":
                wallets[p.settle] = rng.uniform(0, 30) / max(_PRICES[p.settle] / 60_000, 1e-3)
        if rng.random() < 0.15:  # a coin-settled pool whose coin the book has no price for
            positions.append(pos("ZZZ/USD:ZZZ", contracts=10.0, entry=2.0, mark=2.1, contract_size=10.0,
                                 mmr=0.01, side=rng.choice(("long", "short"))))
            wallets["ZZZ"] = 100.0
        accounts.append(Account(f"acc-{a % 4 if rng.random() < 0.1 else a}", venue, wallets, tuple(positions),
                                spot=spot))
    return Portfolio(tuple(accounts))


def demo_book(seed: int, scenario: str = "calm") -> Portfolio:
    """Every demo account (Binance, Bybit, OKX, the pooled UTA and Multi-Assets ones) after a seed's
    market: spot, pooled collateral and assets with betas other than 1."""
    market = manual_market(scenario, seed=seed)
    return Portfolio(tuple(market.account(a.name) for a in ACCOUNTS))
