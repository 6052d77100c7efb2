"""Hyperliquid spot balances as legs of the whole book (issue 21) and the hourly funding of its
perpetuals (issue 17), read through the fake exchange's ``POST /info`` in the venue's own shapes.

Sources: hyperliquid.gitbook.io/hyperliquid-docs, for-developers/api/info-endpoint/spot
(``spotClearinghouseState``: balances with ``coin``, ``token``, ``total``, ``hold``, ``entryNtl``;
``spotMetaAndAssetCtxs``: tokens, pairs "PURR/USDC" or "@107" with their token indices, and each pair's
``markPx``/``midPx``), …/perpetuals (``metaAndAssetCtxs``: ``funding`` per asset; ``predictedFundings``:
``HlPerp`` funding on whole hours) and trading/funding ("The funding rate on Hyperliquid is paid every
hour").
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from desk.domain.model import MarginMode, Portfolio, SpotBalance
from desk.domain.scalar import compute_risk_scalar
from desk.formats import load_portfolio
from tests.exchanges.conftest import HL_ADDRESS, read_many, read_once
from tests.support.file_keyring import BACKEND as FILE_KEYRING

ROOT = Path(__file__).resolve().parents[2]
#: the fake's basis wallet: a cross HYPE short (100 @ 30, mark 32) against spot HYPE and UBTC
BASIS = "0xba515ba515ba515ba515ba515ba515ba515ba515"
BTC, ETH, HYPE = "BTC/USDC:USDC", "ETH/USDC:USDC", "HYPE/USDC:USDC"


def _info_types(fake) -> list[str]:
    return [json.loads(r.body).get("type") for r in fake.requests if r.path == "/info"]


def _set_funding(fake, **rates: str) -> None:
    meta, ctxs = fake.state["hyperliquid"]["metaAndAssetCtxs"]
    for asset, ctx in zip(meta["universe"], ctxs, strict=True):
        if asset["name"] in rates:
            ctx["funding"] = rates[asset["name"]]


def _next_top_of_hour(epoch: float) -> float:
    moment = datetime.fromtimestamp(epoch, UTC).replace(minute=0, second=0, microsecond=0)
    return (moment + timedelta(hours=1)).timestamp()


# ---------------------------------------------------------------------------- spot balances


def test_spot_coins_are_legs_priced_by_their_usdc_pair(fake, make_config):
    snap = read_once(make_config("hyperliquid", wallet_address=BASIS), {})
    # hyperliquid_spotClearinghouseState.json: HYPE total 120 (20 of it on hold in orders), UBTC 0.25;
    # USDC is cash and USDT0 a stablecoin (no legs), PURR's total is 0. Prices: the markPx of the pair
    # against USDC (token 0) — HYPE "@107" 31.8, not "@207" (HYPE/USDT0, 31.9); UBTC "@142" 61,950
    assert snap.account.spot == (SpotBalance("HYPE", 120.0, 31.8), SpotBalance("UBTC", 0.25, 61_950.0))
    # UBTC has no perpetual of its name and Hyperliquid does not say what it wraps: kept as UBTC, and said
    assert snap.warnings == (
        "main: Hyperliquid spot UBTC: no perpetual of that name, and the venue does not say which coin a "
        "token wraps; kept under its own name, so it hedges no perpetual in the book",)
    # the perpetuals are read as before: the HYPE short, its USDC pool
    (short,) = snap.account.positions
    assert (short.symbol, short.side.value, short.contracts) == (HYPE, "short", 100.0)
    assert "HYPE" not in snap.account.wallets
    assert snap.raw["spot"] == [{"asset": "HYPE", "amount": 120.0, "price": 31.8},
                                {"asset": "UBTC", "amount": 0.25, "price": 61_950.0}]
    assert _info_types(fake).count("spotClearinghouseState") == 1
    assert _info_types(fake).count("spotMetaAndAssetCtxs") == 1


def test_mid_price_serves_when_a_pair_has_no_mark_and_a_coin_without_a_pair_is_named(fake, make_config):
    pairs = fake.state["hyperliquid"]["spotMetaAndAssetCtxs"][1]
    next(c for c in pairs if c["coin"] == "@107")["markPx"] = "0.0"  # no mark: the mid, 31.85
    balances = fake.state["hyperliquid"]["spotClearinghouseState"][BASIS]["balances"]
    balances.append({"coin": "NOPAIR", "token": 999, "hold": "0.0", "total": "5.0", "entryNtl": "1.0"})
    snap = read_once(make_config("hyperliquid", wallet_address=BASIS), {})
    assert snap.account.spot == (SpotBalance("HYPE", 120.0, 31.85), SpotBalance("UBTC", 0.25, 61_950.0))
    assert ("main: no USDC spot price for NOPAIR on Hyperliquid; left out of the spot balances"
            in snap.warnings)


def test_spot_pairs_in_another_shape_price_nothing_and_say_so(fake, make_config):
    fake.state["hyperliquid"]["spotMetaAndAssetCtxs"] = [["not", "a", "meta"], {"nor": "contexts"}]
    snap = read_once(make_config("hyperliquid", wallet_address=BASIS), {})
    assert snap.account.spot == () and [p.symbol for p in snap.account.positions] == [HYPE]
    assert snap.warnings == ("main: no USDC spot price for HYPE, UBTC on Hyperliquid; left out of the spot "
                             "balances",)


def test_a_wallet_holding_only_usdc_has_no_spot_leg_and_no_spot_price_read(fake, make_config):
    snap = read_once(make_config("hyperliquid", wallet_address=HL_ADDRESS), {})
    assert snap.account.spot == () and snap.warnings == ()
    assert _info_types(fake).count("spotClearinghouseState") == 1
    assert "spotMetaAndAssetCtxs" not in _info_types(fake)  # nothing to price


def test_a_failed_spot_read_is_said_and_the_perpetuals_are_still_read(fake, make_config):
    fake.state["hyperliquid"]["spotClearinghouseState"][BASIS] = {"balance": "not the venue's shape"}
    first, second = read_many(make_config("hyperliquid", wallet_address=BASIS), {}, 2)
    # the account is read: its HYPE short and pool; only its spot legs are unknown
    assert [p.symbol for p in first.account.positions] == [HYPE] and first.account.spot == ()
    assert first.raw["spot"] == "unknown: the spot read failed"
    (warning,) = first.warnings
    assert warning.startswith("main: Hyperliquid's spot balances could not be read (ShapeError: ")
    assert warning.endswith("they stay unknown and count as no hedge leg")
    # said on every read while it lasts; asked again only after SPOT_REFRESH_SECONDS
    assert second.warnings == (warning,) and second.account.spot == ()
    assert _info_types(fake).count("spotClearinghouseState") == 1


def test_a_venue_error_on_the_spot_read_does_not_stop_the_read(fake, make_config):
    """An HTTP 500 on the spot request only (the fake's other /info answers are untouched)."""
    from aiohttp import web

    original = fake.state["hyperliquid"]["spotClearinghouseState"]

    class Failing(dict):
        def get(self, *args, **kwargs):  # the route looks the user up here
            raise web.HTTPInternalServerError(text="Internal Server Error")

    fake.state["hyperliquid"]["spotClearinghouseState"] = Failing(original)
    snap = read_once(make_config("hyperliquid", wallet_address=BASIS), {})
    assert [p.symbol for p in snap.account.positions] == [HYPE] and snap.account.spot == ()
    (warning,) = snap.warnings
    assert "Hyperliquid's spot balances could not be read" in warning and "500" in warning


def test_spot_balances_are_read_at_most_once_a_minute(fake, make_config):
    from desk.exchanges import open_reader
    from desk.exchanges.adapters.hyperliquid import SPOT_REFRESH_SECONDS
    from tests.exchanges.conftest import run

    async def go() -> list:
        reader = open_reader(make_config("hyperliquid", wallet_address=BASIS), {})
        try:
            first = await reader.snapshot()
            second = await reader.snapshot()
            reads = _info_types(fake).count("spotClearinghouseState")
            known, said, when = reader.adapter._spot
            reader.adapter._spot = (known, said, when - SPOT_REFRESH_SECONDS)  # as if a minute had passed
            await reader.snapshot()
            return [first, second, reads]
        finally:
            await reader.close()

    first, second, reads_after_two = run(go())
    assert reads_after_two == 1 and second.account.spot == first.account.spot
    assert _info_types(fake).count("spotClearinghouseState") == 2


# ---------------------------------------------------------------------------- funding


def test_positions_carry_the_hourly_funding_of_their_asset(fake, make_config):
    _set_funding(fake, BTC="0.0000125", ETH="-0.00002")
    snap = read_once(make_config("hyperliquid", wallet_address=HL_ADDRESS), {})
    by_symbol = {p.symbol: p for p in snap.account.positions}
    assert by_symbol[BTC].funding_rate == 0.0000125 and by_symbol[ETH].funding_rate == -0.00002
    for p in by_symbol.values():
        assert p.funding_interval_hours == 1.0
        # paid on the hour: the next whole hour after the read
        assert p.next_funding_time == _next_top_of_hour(snap.observed_at)
        assert p.next_funding_time - 3600 <= snap.observed_at < p.next_funding_time
    assert snap.raw["assetCtxs"]["ETH"]["funding"] == "-0.00002"
    assert snap.warnings == ()


def test_one_asset_context_read_per_read_and_none_while_flat(fake, make_config):
    counts: list[int] = []

    def count(i: int) -> None:
        counts.append(_info_types(fake).count("metaAndAssetCtxs"))

    read_many(make_config("hyperliquid", wallet_address=HL_ADDRESS), {}, 2, between=count)
    # the second read (markets already loaded) asks for the asset contexts once, for both positions
    assert _info_types(fake).count("metaAndAssetCtxs") - counts[1] == 1
    counts.clear()
    flat = "0x" + "0f1a7" * 8
    snaps = read_many(make_config("hyperliquid", name="flat", wallet_address=flat), {}, 2, between=count)
    assert snaps[1].account.positions == ()
    assert _info_types(fake).count("metaAndAssetCtxs") == counts[1]  # no position: no funding read


def test_an_asset_without_a_funding_rate_is_said(fake, make_config):
    meta, ctxs = fake.state["hyperliquid"]["metaAndAssetCtxs"]
    del ctxs[[a["name"] for a in meta["universe"]].index("ETH")]["funding"]
    snap = read_once(make_config("hyperliquid", wallet_address=HL_ADDRESS), {})
    by_symbol = {p.symbol: p for p in snap.account.positions}
    assert by_symbol[ETH].funding_rate is None and by_symbol[BTC].funding_rate is not None
    assert snap.warnings == ("main: Hyperliquid's asset contexts give no funding rate for ETH; "
                             "their funding is unknown",)


# ---------------------------------------------------------------------------- end to end


def desk(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "desk", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120, check=False)


def _env(subprocess_env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    return dict(subprocess_env, PYTHON_KEYRING_BACKEND=FILE_KEYRING,
                DESK_TEST_KEYRING=str(tmp_path / "k.json"))


def _add_and_snapshot(env: dict[str, str], url: str, wallet: str,
                      out: Path) -> subprocess.CompletedProcess[str]:
    added = desk(env, "accounts", "add", "hl", "--venue", "hyperliquid", "--api-url", url,
                 "--wallet-address", wallet)
    assert added.returncode == 0, added.stderr
    snap = desk(env, "snapshot", "--account", "hl", "-o", str(out))
    assert snap.returncode == 0, snap.stderr
    return snap


def test_funding_from_the_venue_to_desk_risk(fake, subprocess_env, tmp_path):
    """`desk accounts add` → `desk snapshot` → `desk risk --json`: each position's funding drift, derived
    here by hand and with the scalar oracle (desk.domain.scalar)."""
    _set_funding(fake, BTC="0.0000125", ETH="-0.00002")
    env = _env(subprocess_env, tmp_path)
    out = tmp_path / "hl.json"
    _add_and_snapshot(env, fake.url, HL_ADDRESS, out)
    portfolio = load_portfolio(out)
    (account,) = portfolio.accounts
    risk = desk(env, "risk", str(out), "--json")
    assert risk.returncode == 0, risk.stderr
    docs = {p["symbol"]: p for p in json.loads(risk.stdout)["accounts"][0]["positions"]}

    # BTC: long 2 at the mark 124,000 / 2 = 62,000, +0.00125 % an hour: pays 2 × 62,000 × 0.0000125
    # = 1.55 USDC an hour from the USDC pool. ETH: short 10 at 31,000 / 10 = 3,100, −0.002 %: a short
    # pays a negative rate, 10 × 3,100 × 0.00002 = 0.62 USDC an hour from its isolated margin
    expected_payment = {BTC: 1.55, ETH: 0.62}
    for p in account.positions:
        doc = docs[p.symbol]
        assert doc["funding_interval_hours"] == 1.0
        assert doc["next_funding_time"] == p.next_funding_time
        assert datetime.fromtimestamp(p.next_funding_time, UTC).minute == 0
        drift = doc["funding_drift"]
        assert drift["payment"] == pytest.approx(expected_payment[p.symbol], rel=1e-12)
        after = []
        for n in (1, 3, 24):
            paid = n * expected_payment[p.symbol]
            if p.margin_mode is MarginMode.ISOLATED:  # its own margin pays, alone
                moved = dataclasses.replace(p, isolated_margin=float(p.isolated_margin or 0.0) - paid)
                book = dataclasses.replace(account, positions=(moved,))
                index = 0
            else:  # the USDC pool pays
                book = dataclasses.replace(account, wallets={**account.wallets,
                                                             "USDC": account.wallets["USDC"] - paid})
                index = account.positions.index(p)
            after.append(compute_risk_scalar(Portfolio((book,))).accounts[0].positions[index].liquidation_price)
        assert [s["liquidation_price"] for s in drift["liquidation_after"]] == pytest.approx(after, rel=1e-9)
    # the ETH short's isolated margin: marginUsed 2,000 − uPnL (−1,000) = 3,000; its slack over the
    # maintenance margin (31,000 / (2 × 25) = 620) at the mark: 3,000 − 1,000 − 620 = 1,380 USDC,
    # 1,380 / 0.62 payments of funding alone
    assert docs[ETH]["funding_drift"]["payments_to_liquidation"] == pytest.approx(1_380 / 0.62, rel=1e-9)


def test_spot_hype_hedges_the_hype_short_in_the_whole_book(fake, subprocess_env, tmp_path):
    """The basis wallet end to end: 120 spot HYPE against a 100 HYPE perpetual short."""
    env = _env(subprocess_env, tmp_path)
    out = tmp_path / "basis.json"
    snap = _add_and_snapshot(env, fake.url, BASIS, out)
    assert "desk: warning: hl: Hyperliquid spot UBTC: no perpetual of that name" in snap.stderr
    (account_doc,) = json.loads(out.read_text())["accounts"]
    assert account_doc["spot"] == [{"asset": "HYPE", "amount": 120.0, "price": 31.8},
                                   {"asset": "UBTC", "amount": 0.25, "price": 61_950.0}]
    risk = desk(env, "risk", str(out), "--json")
    assert risk.returncode == 0, risk.stderr
    doc = json.loads(risk.stdout)
    (short,) = doc["accounts"][0]["positions"]
    # the short alone in its USDC pool: account value 5,000 + 100 × (32 − P) = maintenance 100 × P / (2 × 10)
    # → P = 8,200 / 105
    assert short["liquidation_price"] == pytest.approx(8_200 / 105, rel=1e-6)
    book = doc["book"]
    exposure = {e["underlying"]: e for e in book["exposures"]}
    assert (exposure["HYPE"]["long_coin"], exposure["HYPE"]["short_coin"], exposure["HYPE"]["net_coin"]) == (
        120.0, 100.0, 20.0)
    assert exposure["UBTC"]["long_coin"] == 0.25 and exposure["UBTC"]["short_coin"] == 0
    (hedge,) = book["hedges"]
    assert hedge["long"]["kind"] == "spot" and hedge["long"]["symbol"] == "HYPE"
    assert hedge["short"]["symbol"] == HYPE and hedge["hedged_coin"] == 100.0
    assert hedge["breaks"] == "short" and hedge["break_price"] == short["liquidation_price"]
