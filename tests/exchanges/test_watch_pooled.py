"""`desk watch` on pooled margin accounts, end to end against the fake exchange (issue 16).

For Binance USDⓈ-M Multi-Assets, Bybit UTA cross and OKX multi-currency (acctLv 3): the account is
added with `desk accounts add`, watched with `desk watch --json-lines` as a subprocess, and its
first full tick is checked against `desk risk` on a `desk snapshot` of the same fake state. Then the
fake's market moves and the next tick is checked against a derivation by hand from the payload
(unified-margin.md §1, §3, §4, §6). Every wait is on a condition, with a generous hang guard.
"""

from __future__ import annotations

import json
import secrets
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fake_exchange import FakeExchange, load_payload
from tests.fake_exchange import binance as fake_binance
from tests.fake_exchange import bybit as fake_bybit
from tests.fake_exchange import okx as fake_okx
from tests.services.test_watch import Watch
from tests.support.file_keyring import BACKEND as FILE_KEYRING

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
HANG_GUARD = 120.0  # seconds: only a hang reaches it
BTC_LINEAR = "BTC/USDT:USDT"


class Desk:
    """A fake exchange and `desk` subprocesses with a keyring they can read (test keys only)."""

    def __init__(self, fake: FakeExchange, env: dict[str, str], api_key: str, secret: str, passphrase: str):
        self.fake, self.env = fake, env
        self.api_key, self.secret, self.passphrase = api_key, secret, passphrase

    def run(self, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "desk", *args], cwd=ROOT, env=self.env, input=stdin,
                              capture_output=True, text=True, timeout=HANG_GUARD, check=False)

    def add(self, name: str, venue: str) -> None:
        keys = f"{self.api_key}\n{self.secret}\n" + (f"{self.passphrase}\n" if venue == "okx" else "")
        done = self.run("accounts", "add", name, "--venue", venue, "--api-url", self.fake.url,
                        "--secrets-from-stdin", stdin=keys)
        assert done.returncode == 0, done.stderr
        # poll every second (the shortest the settings allow): a tick soon after the market moves
        done = self.run("config", "set", "monitor.poll_seconds", "1")
        assert done.returncode == 0, done.stderr

    def risk_of_snapshot(self, name: str, tmp_path: Path) -> dict[str, Any]:
        out = tmp_path / f"{name}.json"
        done = self.run("snapshot", "--account", name, "-o", str(out))
        assert done.returncode == 0, done.stderr
        done = self.run("risk", str(out), "--json")
        assert done.returncode == 0, done.stderr
        (account,) = json.loads(done.stdout)["accounts"]
        return account  # type: ignore[no-any-return]


@pytest.fixture
def desk(subprocess_env: dict[str, str], tmp_path: Path) -> Iterator[Desk]:
    api_key = "test-key-" + secrets.token_hex(8)
    secret = "test-secret-" + secrets.token_hex(16)
    passphrase = "test-pass-" + secrets.token_hex(4)
    env = dict(subprocess_env, PYTHON_KEYRING_BACKEND=FILE_KEYRING,
               DESK_TEST_KEYRING=str(tmp_path / "keyring.json"))
    server = FakeExchange(("binance", "bybit", "okx"))
    server.add_key(api_key, secret)
    server.state["okx"]["passphrases"][api_key] = passphrase
    with server.running() as running:
        yield Desk(running, env, api_key, secret, passphrase)


class Ticks:
    """The JSON lines of a running `desk watch`, read as they come."""

    def __init__(self, watch: Watch):
        self.watch = watch
        self.read = 0

    def docs(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.watch.lines if line.strip()]

    def alerts(self) -> list[dict[str, Any]]:
        return [d for d in self.docs() if d["type"] == "alert"]

    def next_tick(self, done: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        """The first snapshot after the ones already taken with the account live, its report
        computed and ``done`` true of it."""
        def ready(line: str) -> bool:
            doc = json.loads(line)
            return (doc["type"] == "snapshot" and doc["seq"] > self.read and bool(doc["report"]["accounts"])
                    and all(a["status"] == "live" for a in doc["accounts"]) and done(doc))
        tick = json.loads(self.watch.read_until(ready, timeout=HANG_GUARD))
        self.read = tick["seq"]
        return tick  # type: ignore[no-any-return]


def watching(desk: Desk) -> Watch:
    return Watch(desk.env, "--json-lines")


def stop(watch: Watch) -> None:
    code, _rest, err = watch.stop(signal.SIGINT, timeout=30)
    assert code == 0, err
    assert "Traceback" not in err


def account_of(tick: dict[str, Any]) -> dict[str, Any]:
    (account,) = tick["report"]["accounts"]
    return account  # type: ignore[no-any-return]


def position(account: dict[str, Any], symbol: str, mode: str = "cross") -> dict[str, Any]:
    (row,) = [p for p in account["positions"] if p["symbol"] == symbol and p["margin_mode"] == mode]
    return row  # type: ignore[no-any-return]


def marked_at(price: float, symbol: str = BTC_LINEAR) -> Callable[[dict[str, Any]], bool]:
    return lambda tick: position(account_of(tick), symbol)["mark_price"] == price


def same_figures(watched: dict[str, Any], risk: dict[str, Any]) -> None:
    """desk watch's account equals desk risk's on the snapshot of the same state: the pool, each
    position's liquidation prices (both conventions) and the venue's figures beside them."""
    pool_fields = ("mode", "margin_balance", "maintenance_margin", "margin_ratio", "venue_margin_ratio",
                   "total_equity", "wallet_balance")
    assert [p["mode"] for p in watched["pools"]] == [p["mode"] for p in risk["pools"]]
    for ours, theirs in zip(watched["pools"], risk["pools"], strict=True):
        assert {f: ours[f] for f in pool_fields[1:]} == pytest.approx({f: theirs[f] for f in pool_fields[1:]},
                                                                     rel=1e-12)
    position_fields = ("liquidation_price", "liquidation_price_symbol_only", "reported_liquidation_price",
                       "distance_to_liquidation", "margin_ratio", "maintenance_margin", "mark_price")
    def rows(account: dict[str, Any]) -> list[tuple[Any, ...]]:
        return sorted((p["symbol"], p["margin_mode"], tuple(p.get(f) for f in position_fields))
                      for p in account["positions"])
    ours, theirs = rows(watched), rows(risk)
    assert [r[:2] for r in ours] == [r[:2] for r in theirs]
    for a, b in zip(ours, theirs, strict=True):
        assert [x is None for x in a[2]] == [x is None for x in b[2]], (a, b)
        assert [x for x in a[2] if x is not None] == pytest.approx([x for x in b[2] if x is not None],
                                                                   rel=1e-12), (a, b)
    assert watched["shock_to_liquidation"] == pytest.approx(risk["shock_to_liquidation"], rel=1e-12)
    assert watched["warnings"] == risk["warnings"]


def live(tick: dict[str, Any]) -> None:
    assert [a["status"] for a in tick["accounts"]] == ["live"]
    assert tick["positions"] and all(p["status"] == "live" for p in tick["positions"])


def no_convention_disagreement(account: dict[str, Any], alerts: list[dict[str, Any]]) -> None:
    """No ⚠ for the pooled positions: their venue figure is compared in the venue's convention."""
    cross = {p["symbol"] for p in account["positions"] if p["margin_mode"] == "cross"}
    assert not [a for a in alerts if a["rule"] == "disagree" and a["symbol"] in cross], alerts
    assert not [w for w in account["warnings"] if "differs" in w and w.split(":")[0] in cross]
    assert not [w for w in account["warnings"] if w.startswith("pool ratio")]


# ---------------------------------------------------------------------------- Binance Multi-Assets


def binance_index(fake: FakeExchange) -> dict[str, tuple[float, float]]:
    """Bid and ask rate per asset: index × (1 ∓ buffer), as unified-margin.md §1 defines them."""
    return {r["symbol"][:-3]: (float(r["index"]) * (1 - float(r["bidBuffer"])),
                               float(r["index"]) * (1 + float(r["askBuffer"])))
            for r in fake.state["binance"]["assetIndex"]}


def test_binance_multi_assets_watch_matches_risk_and_follows_the_market(desk: Desk, tmp_path: Path) -> None:
    state = desk.fake.state["binance"]
    state["multiAssetsMargin"] = True
    state["account"] = load_payload("binance_fapi_account_v3_multi_assets.json")
    state["positionRisk"] = load_payload("binance_fapi_positionRisk_v3_multi_assets.json")
    desk.add("bn", "binanceusdm")
    risk = desk.risk_of_snapshot("bn", tmp_path)
    watch = watching(desk)
    try:
        ticks = Ticks(watch)
        first = ticks.next_tick(lambda tick: True)
        fake_binance.move_price(desk.fake, "BTC", 95_000.0)
        moved = ticks.next_tick(marked_at(95_000.0))
        alerts = ticks.alerts()
    finally:
        stop(watch)

    live(first)
    watched = account_of(first)
    (pool,) = watched["pools"]
    assert pool["mode"] == "binance multi-assets" and pool["pool"] == "account"
    same_figures(watched, risk)
    btc = position(watched, BTC_LINEAR)
    venue_liq = float(state["positionRisk"][0]["liquidationPrice"])
    assert abs(btc["liquidation_price_symbol_only"] - venue_liq) <= 0.1  # one tick of BTCUSDT
    assert btc["liquidation_price"] == btc["liquidation_price_symbol_only"]  # no BTC collateral

    # by hand (unified-margin.md §1): E_a = wallet + UPL; equity = Σ min(E·bid, E·ask); MM at ask
    live(moved)
    rates = binance_index(desk.fake)
    (row,) = state["positionRisk"]
    q, entry = float(row["positionAmt"]), float(row["entryPrice"])
    wallets = {a["asset"]: float(a["crossWalletBalance"]) for a in state["account"]["assets"]}
    bracket = state["leverageBracket"][0]["brackets"][0]  # BTCUSDT, notional under 50,000
    assert state["leverageBracket"][0]["symbol"] == "BTCUSDT" and q * 95_000 < bracket["notionalCap"]
    equity_usdt = wallets["USDT"] + q * (95_000 - entry)
    assert equity_usdt < 0  # the USDT wallet is spent: its deficit counts at the ask rate
    margin_balance = equity_usdt * rates["USDT"][1] + wallets["USDC"] * rates["USDC"][0]
    maintenance = (q * 95_000 * bracket["maintMarginRatio"] - bracket["cum"]) * rates["USDT"][1]
    after = account_of(moved)
    (pool,) = after["pools"]
    assert pool["margin_balance"] == pytest.approx(margin_balance, rel=1e-9)
    assert pool["margin_ratio"] == pytest.approx(maintenance / margin_balance, rel=1e-9)
    assert pool["venue_margin_ratio"] == pytest.approx(pool["margin_ratio"], rel=0.005)
    # the liquidation price (collateral held at its index, USDT in deficit there too) does not
    # move with the mark: LP = [R + ask·(W − Q·EP)] / [ask·Q·(MMR − 1)], R = USDC at its bid
    ask = rates["USDT"][1]
    lp = ((wallets["USDC"] * rates["USDC"][0] + ask * (wallets["USDT"] - q * entry))
          / (ask * q * (bracket["maintMarginRatio"] - 1)))
    btc = position(after, BTC_LINEAR)
    assert btc["liquidation_price"] == pytest.approx(lp, rel=1e-9)
    assert btc["distance_to_liquidation"] == pytest.approx((95_000 - lp) / 95_000, rel=1e-9)
    assert abs(btc["liquidation_price_symbol_only"] - btc["reported_liquidation_price"]) <= 0.1
    no_convention_disagreement(after, alerts)

    # the pooled position is already within 5 % of liquidation at the first tick: critical, with
    # the distance desk computes and the threshold it crossed
    first_btc = position(watched, BTC_LINEAR)
    distance = [a for a in alerts
                if a["rule"] == "distance" and a["symbol"] == BTC_LINEAR and not a["repeat"]]
    assert distance and distance[0]["level"] == "critical" and distance[0]["account"] == "bn"
    assert distance[0]["value"] == pytest.approx(first_btc["distance_to_liquidation"], rel=1e-12)
    assert distance[0]["threshold"] == 0.05


# ---------------------------------------------------------------------------- Bybit UTA cross


def test_bybit_uta_cross_watch_matches_risk_follows_the_market_and_alerts(desk: Desk, tmp_path: Path) -> None:
    desk.fake.state["bybit"]["account"] = "uta_collateral"
    desk.add("bb", "bybit")
    risk = desk.risk_of_snapshot("bb", tmp_path)
    watch = watching(desk)
    try:
        ticks = Ticks(watch)
        first = ticks.next_tick(lambda tick: True)
        before_move = ticks.alerts()
        fake_bybit.move_price(desk.fake, "BTC", 47_000.0)
        moved = ticks.next_tick(marked_at(47_000.0))
        # the alert goes out right after the snapshot that crossed the threshold
        ticks.watch.read_until(lambda line: '"type":"alert"' in line and '"rule":"distance"' in line,
                               timeout=HANG_GUARD)
        alerts = ticks.alerts()
    finally:
        stop(watch)

    live(first)
    watched = account_of(first)
    (pool,) = watched["pools"]
    assert pool["mode"] == "bybit uta cross"
    same_figures(watched, risk)
    btc = position(watched, BTC_LINEAR)
    assert btc["reported_liquidation_price"] is None  # Bybit sends "" for UTA cross
    assert btc["liquidation_price"] > btc["liquidation_price_symbol_only"]  # BTC collateral falls with it
    assert not [a for a in before_move if a["rule"] == "distance"]  # 27 % away: no alert yet

    # by hand (unified-margin.md §3): MB = Σ tiered haircut × equity × index; MM at entry (constant)
    live(moved)
    uta = load_payload("bybit_account_uta_collateral.json")
    (row,) = uta["positions"]
    q, entry, mm = float(row["size"]), float(row["avgPrice"]), float(row["positionMM"])
    coins = {c["coin"]: c for c in uta["wallet"]["coin"]}
    usdt = float(coins["USDT"]["walletBalance"]) + q * (47_000 - entry)  # a deficit counts at 100 %
    btc_value = float(coins["BTC"]["walletBalance"]) * 47_000 * 0.95  # first tier of BTC: 0–10 BTC
    others = float(coins["USDC"]["usdValue"]) + float(coins["ETH"]["usdValue"]) * 0.9
    margin_balance = usdt + btc_value + others
    after = account_of(moved)
    (pool,) = after["pools"]
    assert pool["margin_balance"] == pytest.approx(margin_balance, rel=1e-9)
    assert pool["margin_ratio"] == pytest.approx(mm / margin_balance, rel=1e-9)
    assert pool["venue_margin_ratio"] == pytest.approx(pool["margin_ratio"], rel=0.005)
    btc = position(after, BTC_LINEAR)
    # collateral held at its index: MB + Q·(x − 47,000) = MM
    assert btc["liquidation_price_symbol_only"] == pytest.approx(47_000 + (mm - margin_balance) / q, rel=1e-9)
    # BTC collateral moving with the mark: the same root as at 60,000 (every BTC price scales)
    wrong_way = (mm - (margin_balance - btc_value) + q * 47_000) / (q + btc_value / 47_000)
    assert btc["liquidation_price"] == pytest.approx(wrong_way, rel=1e-9)
    assert btc["liquidation_price"] == pytest.approx(position(watched, BTC_LINEAR)["liquidation_price"],
                                                     rel=1e-9)
    distance = (47_000 - wrong_way) / 47_000
    assert btc["distance_to_liquidation"] == pytest.approx(distance, rel=1e-9)
    assert 0.05 < distance < 0.10
    no_convention_disagreement(after, alerts)
    (alert,) = [a for a in alerts if a["rule"] == "distance" and not a["repeat"]]
    assert (alert["level"], alert["account"], alert["symbol"]) == ("warning", "bb", BTC_LINEAR)
    assert alert["value"] == pytest.approx(distance, rel=1e-9) and alert["threshold"] == 0.10


# ---------------------------------------------------------------------------- OKX multi-currency


OKX_TAKER = 0.0005  # OKX's base taker rate for swaps (ccxt's market fee): the close fee in MM
OKX_TIER_MMR = 0.004  # okx_position_tiers.json, BTC-USDT tier 1 (100 contracts)


def okx_multi_currency(fake: FakeExchange) -> None:
    fake.state["okx"]["acctLv"] = "3"
    fake.state["okx"]["balance"] = load_payload("okx_balance_multi_currency.json")


def test_okx_multi_currency_watch_matches_risk_follows_the_market_and_alerts(desk: Desk,
                                                                             tmp_path: Path) -> None:
    okx_multi_currency(desk.fake)
    desk.add("ok", "okx")
    risk = desk.risk_of_snapshot("ok", tmp_path)
    watch = watching(desk)
    try:
        ticks = Ticks(watch)
        first = ticks.next_tick(lambda tick: True)
        before_move = ticks.alerts()
        fake_okx.move_price(desk.fake, "BTC", 36_000.0)
        moved = ticks.next_tick(marked_at(36_000.0))
        ticks.watch.read_until(lambda line: '"type":"alert"' in line and '"rule":"distance"' in line
                               and BTC_LINEAR in line, timeout=HANG_GUARD)
        alerts = ticks.alerts()
    finally:
        stop(watch)

    live(first)
    watched = account_of(first)
    assert [p["mode"] for p in watched["pools"]] == ["okx multi-currency"]
    same_figures(watched, risk)
    assert not [a for a in before_move if a["rule"] == "distance" and a["symbol"] == BTC_LINEAR]

    # by hand (unified-margin.md §4): adjEq = Σ eq × index × discount; MM = notional × (mmr + fee)
    live(moved)
    balance = load_payload("okx_balance_multi_currency.json")[0]
    details = {d["ccy"]: d for d in balance["details"]}
    cross_row = next(p for p in load_payload("okx_positions.json")
                     if p["instId"] == "BTC-USDT-SWAP" and p["mgnMode"] == "cross")
    btc_units = float(cross_row["pos"]) * 0.01  # ctVal 0.01 BTC
    usdt = float(details["USDT"]["cashBal"]) + btc_units * (36_000 - float(cross_row["avgPx"]))
    discount = float(details["BTC"]["disEq"]) / float(details["BTC"]["eqUsd"])
    btc_value = float(details["BTC"]["cashBal"]) * 36_000 * discount
    adjusted = usdt + btc_value
    mm_rate = OKX_TIER_MMR + OKX_TAKER
    after = account_of(moved)
    (pool,) = after["pools"]
    assert pool["margin_balance"] == pytest.approx(adjusted, rel=1e-9)
    assert pool["margin_ratio"] == pytest.approx(mm_rate * btc_units * 36_000 / adjusted, rel=1e-9)
    assert 1 / pool["margin_ratio"] == pytest.approx(pool["venue_margin_ratio"], rel=0.005)
    btc = position(after, BTC_LINEAR)
    # collateral held: adjEq + Q·(x − 36,000) = rate·Q·x
    held = (btc_units * 36_000 - adjusted) / (btc_units * (1 - mm_rate))
    assert btc["liquidation_price_symbol_only"] == pytest.approx(held, rel=1e-9)
    # BTC cash moving with the mark: (usdt − Q·36,000) + Q·x + cash·discount·x = rate·Q·x
    wrong_way = (btc_units * 36_000 - usdt) / (btc_units + btc_value / 36_000 - mm_rate * btc_units)
    assert btc["liquidation_price"] == pytest.approx(wrong_way, rel=1e-9)
    distance = (36_000 - wrong_way) / 36_000
    assert btc["distance_to_liquidation"] == pytest.approx(distance, rel=1e-9)
    assert 0.05 < distance < 0.10
    no_convention_disagreement(after, alerts)
    (alert,) = [a for a in alerts
                if a["rule"] == "distance" and a["symbol"] == BTC_LINEAR and not a["repeat"]]
    assert (alert["level"], alert["account"]) == ("warning", "ok")
    assert alert["value"] == pytest.approx(distance, rel=1e-9) and alert["threshold"] == 0.10


# ---------------------------------------------------------------------------- OKX: cross and isolated at once


def test_okx_same_instrument_cross_and_isolated_are_two_positions_live(desk: Desk, tmp_path: Path) -> None:
    """OKX keeps a cross and an isolated BTC-USDT-SWAP side by side (net mode, two posIds): desk
    risk on the snapshot and desk watch both show two rows, each with its own figures — the
    isolated one liquidates on its own 610 USDT, the cross one on the pool — and an alert on the
    isolated one is not hidden by the safe cross one."""
    fake_okx.cross_and_isolated(desk.fake)
    desk.add("ok", "okx")
    risk = desk.risk_of_snapshot("ok", tmp_path)
    watch = watching(desk)
    try:
        ticks = Ticks(watch)
        first = ticks.next_tick(lambda tick: True)
        ticks.watch.read_until(lambda line: '"type":"alert"' in line and '"rule":"distance"' in line,
                               timeout=HANG_GUARD)
        second = ticks.next_tick(lambda tick: True)  # alerts of the first tick are out by now
        alerts = ticks.alerts()
    finally:
        stop(watch)

    rows = load_payload("okx_positions_cross_and_isolated.json")
    cross_row, isolated_row = sorted(rows, key=lambda r: r["mgnMode"])
    assert (cross_row["instId"], cross_row["mgnMode"]) == ("BTC-USDT-SWAP", "cross")
    assert (isolated_row["instId"], isolated_row["mgnMode"]) == ("BTC-USDT-SWAP", "isolated")
    mm_rate = OKX_TIER_MMR + OKX_TAKER
    # isolated, by hand: its own margin + Q·(x − EP) = rate·Q·x, nothing from the pool
    q_iso, entry_iso, margin = float(isolated_row["pos"]) * 0.01, float(isolated_row["avgPx"]), 610.0
    isolated_liq = (q_iso * entry_iso - margin) / (q_iso * (1 - mm_rate))
    # cross, by hand from the pool (the isolated equity is not in it): 12,000 USDT + 0.5 BTC at 2 % off
    balance = {d["ccy"]: d for d in load_payload("okx_balance_cross_and_isolated.json")[0]["details"]}
    q = float(cross_row["pos"]) * 0.01
    usdt = float(balance["USDT"]["cashBal"]) + q * (62_000 - float(cross_row["avgPx"]))
    btc_value = float(balance["BTC"]["disEq"])
    cross_held = (q * 62_000 - (usdt + btc_value)) / (q * (1 - mm_rate))
    cross_wrong_way = (q * 62_000 - usdt) / (q + btc_value / 62_000 - mm_rate * q)

    for account in (risk, account_of(first), account_of(second)):
        assert [p["mode"] for p in account["pools"]] == ["okx multi-currency"]
        (pool,) = account["pools"]
        assert pool["margin_balance"] == pytest.approx(usdt + btc_value, rel=1e-9)
        held = sorted((p["symbol"], p["margin_mode"], p["contracts"]) for p in account["positions"]
                      if p["symbol"] == BTC_LINEAR)
        assert held == [(BTC_LINEAR, "cross", 100), (BTC_LINEAR, "isolated", 20)]
        isolated = position(account, BTC_LINEAR, "isolated")
        assert isolated["liquidation_price"] == pytest.approx(isolated_liq, rel=1e-9)
        assert abs(isolated["liquidation_price"] - isolated["reported_liquidation_price"]) <= 0.1  # a tick
        cross = position(account, BTC_LINEAR, "cross")
        assert cross["liquidation_price_symbol_only"] == pytest.approx(cross_held, rel=1e-9)
        assert cross["liquidation_price"] == pytest.approx(cross_wrong_way, rel=1e-9)
        assert cross["reported_liquidation_price"] is None
    same_figures(account_of(first), risk)
    live(first)
    no_convention_disagreement(account_of(second), alerts)
    assert not [a for a in alerts if a["rule"] == "disagree"], alerts  # the isolated one agrees to a tick

    # the isolated position is 6 % from liquidation: warned, with its own distance; the cross one
    # (46 % away) raises nothing and does not clear it
    isolated = position(account_of(first), BTC_LINEAR, "isolated")
    distance = [a for a in alerts if a["rule"] == "distance" and not a["repeat"]]
    assert [(a["level"], a["symbol"]) for a in distance] == [("warning", BTC_LINEAR)], alerts
    assert distance[0]["value"] == pytest.approx(isolated["distance_to_liquidation"], rel=1e-12)
    assert distance[0]["value"] == pytest.approx((62_000 - isolated_liq) / 62_000, rel=1e-9)
    assert "isolated" in distance[0]["title"] + distance[0]["body"]
    assert not [a for a in alerts if a["rule"] == "recovered"], alerts


def test_okx_cross_alert_is_not_hidden_by_a_safe_isolated_position_of_the_same_instrument(
    desk: Desk, tmp_path: Path
) -> None:
    """The other way round: the isolated BTC-USDT-SWAP is well margined (6,000 USDT), the cross one
    carries the pool. BTC falls to 37,000: the cross position comes within 10 % of liquidation and
    is warned with its own distance; the isolated one, 16 % away, neither alerts nor clears it."""
    fake_okx.cross_and_isolated(desk.fake, isolated_margin=6_000.0)
    desk.add("ok", "okx")
    watch = watching(desk)
    try:
        ticks = Ticks(watch)
        first = ticks.next_tick(lambda tick: True)
        fake_okx.move_price(desk.fake, "BTC", 37_000.0)
        moved = ticks.next_tick(lambda tick: all(p["mark_price"] == 37_000.0
                                                 for p in account_of(tick)["positions"]))
        after = ticks.next_tick(lambda tick: True)  # the alerts of the moved tick are out by now
        alerts = ticks.alerts()
    finally:
        stop(watch)

    live(first)
    live(moved)
    mm_rate = OKX_TIER_MMR + OKX_TAKER
    rows = load_payload("okx_positions_cross_and_isolated.json")
    cross_row = next(r for r in rows if r["mgnMode"] == "cross")
    isolated_row = next(r for r in rows if r["mgnMode"] == "isolated")
    q_iso = float(isolated_row["pos"]) * 0.01
    isolated_liq = (q_iso * float(isolated_row["avgPx"]) - 6_000) / (q_iso * (1 - mm_rate))
    balance = {d["ccy"]: d for d in load_payload("okx_balance_cross_and_isolated.json")[0]["details"]}
    q = float(cross_row["pos"]) * 0.01
    usdt = float(balance["USDT"]["cashBal"]) + q * (37_000 - float(cross_row["avgPx"]))
    btc_value = float(balance["BTC"]["cashBal"]) * 37_000 * 0.98  # OKX's 2 % discount on this BTC
    cross_liq = (q * 37_000 - usdt) / (q + btc_value / 37_000 - mm_rate * q)
    for account in (account_of(moved), account_of(after)):
        cross, isolated = position(account, BTC_LINEAR, "cross"), position(account, BTC_LINEAR, "isolated")
        assert cross["liquidation_price"] == pytest.approx(cross_liq, rel=1e-9)
        assert isolated["liquidation_price"] == pytest.approx(isolated_liq, rel=1e-9)
        assert abs(isolated["liquidation_price"] - isolated["reported_liquidation_price"]) <= 0.1
    cross_distance = (37_000 - cross_liq) / 37_000
    assert 0.05 < cross_distance < 0.10 < (37_000 - isolated_liq) / 37_000
    distance = [a for a in alerts if a["rule"] == "distance" and not a["repeat"]]
    assert [(a["level"], a["symbol"]) for a in distance] == [("warning", BTC_LINEAR)], alerts
    assert not [a for a in alerts if a["rule"] == "recovered"], alerts  # still 9 % away: not recovered
    assert distance[0]["value"] == pytest.approx(cross_distance, rel=1e-9)
    assert distance[0]["threshold"] == 0.10
    no_convention_disagreement(account_of(after), alerts)


def test_okx_cross_and_isolated_twins_are_two_named_rows_in_the_watch_table(desk: Desk) -> None:
    fake_okx.cross_and_isolated(desk.fake)
    desk.add("ok", "okx")
    watch = Watch(desk.env, "--no-alerts")
    try:
        watch.read_until(lambda line: line.startswith("ok ") and "long isolated" in line, timeout=HANG_GUARD)
        watch.read_until(lambda line: line.startswith("ok ") and "long cross" in line, timeout=HANG_GUARD)
    finally:
        stop(watch)
    table = [line.split() for line in watch.lines if line.startswith("ok ") and BTC_LINEAR in line]
    by_mode = {cells[3]: cells for cells in table}  # account, symbol, side, margin mode, size, …
    assert by_mode["isolated"][4] == "20" and by_mode["cross"][4] == "100"
    assert by_mode["isolated"][6] == "58,212.0"  # its own liquidation price, to OKX's tick
