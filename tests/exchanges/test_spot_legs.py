"""Spot balances read live (issue 21 "including spot balances held on those venues"): the Bybit
unified wallet's coins, the Binance spot wallet beside a futures account, and a spot-against-perp
hedge from a live read through `desk snapshot` to `desk risk`'s whole book."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from desk.cli import main
from desk.domain.model import SpotBalance
from tests.exchanges.conftest import read_once

ROOT = Path(__file__).resolve().parents[2]


# ---------------------------------------------------------------------------- Bybit UTA


def test_bybit_uta_wallet_coins_are_spot_legs_valued_at_the_usd_index(fake, keys, make_config):
    fake.state["bybit"]["account"] = "uta_collateral"
    snap = read_once(make_config("bybit"), keys.as_secrets())
    account = snap.account
    # payload: BTC walletBalance 0.05, usdValue 3000 / equity 0.05; ETH 0.5, 1500 / 0.5; USDT and
    # USDC are dollars, not hedge legs
    assert account.spot == (SpotBalance("BTC", 0.05, 3000 / 0.05), SpotBalance("ETH", 0.5, 1500 / 0.5))
    # the same coins stay collateral of the pool (a different figure: the pool's equity)
    assert {c.asset for c in account.margin.collateral} >= {"BTC", "ETH"}
    # … but not settle pools: the book counts a coin once, as the spot leg
    assert dict(account.wallets) == {"USDT": 3000, "USDC": 1000}
    assert snap.warnings == ()
    # read from the wallet answer the adapter already asked for: one wallet request per read
    assert len(fake.paths("/v5/account/wallet-balance")) == 1


def test_bybit_classic_contract_wallet_is_margin_not_spot(fake, keys, make_config):
    fake.state["bybit"]["account"] = "classic"
    account = read_once(make_config("bybit"), keys.as_secrets()).account
    assert account.wallets  # the classic contract wallet holds margin …
    assert account.spot == ()  # … and no spot coin: Bybit keeps spot in another account


def test_bybit_coin_positions_settle_in_is_not_a_spot_leg(fake, keys, make_config):
    """A coin settling positions (inverse margin) is margin of a settle pool, not a hedge leg."""
    from desk.domain.model import Kind, MarginMode, Position, Side
    from desk.exchanges.adapters.bybit import uta_spot

    wallet = {"coin": [{"coin": "BTC", "walletBalance": "1", "equity": "1", "usdValue": "60000"},
                       {"coin": "SOL", "walletBalance": "3", "equity": "0", "usdValue": "0"}]}
    inverse = Position("BTC/USD:BTC", "BTC", Kind.INVERSE, 100, Side.SHORT, 60_000, 60_000, MarginMode.CROSS)
    spot, warnings = uta_spot(wallet, (inverse,))
    assert spot == ()
    assert warnings == ["Bybit gives no USD value for SOL in the unified wallet; left out of the spot "
                        "balances"]


def _add_and_snapshot(monkeypatch, capsys, keys, tmp_path: Path, venue: str, url: str) -> Path:
    monkeypatch.setattr("sys.stdin", io.StringIO(f"{keys.api_key}\n{keys.secret}\n"))
    assert main(["accounts", "add", "live", "--venue", venue, "--api-url", url, "--secrets-from-stdin"]) == 0
    out = tmp_path / "f.json"
    assert main(["snapshot", "--account", "live", "-o", str(out)]) == 0, capsys.readouterr().err
    return out


def _risk_json(path: Path, env: dict[str, str]) -> dict:
    result = subprocess.run([sys.executable, "-m", "desk", "risk", str(path), "--json"], capture_output=True,
                            text=True, cwd=ROOT, env=env, timeout=60)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_bybit_uta_basis_trade_end_to_end_is_a_spot_against_perp_hedge(
    monkeypatch, capsys, fake, keys, tmp_path, subprocess_env
):
    """0.5 BTC in the unified wallet against a 2 BTC BTCUSDT short (payload bybit_account_uta_basis)."""
    fake.state["bybit"]["account"] = "uta_basis"
    out = _add_and_snapshot(monkeypatch, capsys, keys, tmp_path, "bybit", fake.url)
    (account_doc,) = json.loads(out.read_text())["accounts"]
    assert account_doc["spot"] == [{"asset": "BTC", "amount": 0.5, "price": 60_000.0}]
    doc = _risk_json(out, subprocess_env)
    (acc,) = doc["accounts"]
    (short,) = acc["positions"]
    assert short["side"] == "short" and short["liquidation_price"] is not None
    book = doc["book"]
    (btc,) = book["exposures"]
    assert (btc["long_coin"], btc["short_coin"], btc["net_coin"]) == (0.5, 2.0, -1.5)
    (hedge,) = book["hedges"]
    assert hedge["long"]["kind"] == "spot" and hedge["long"]["account"] == "live"
    assert hedge["short"]["symbol"] == "BTC/USDT:USDT" and hedge["hedged_coin"] == 0.5
    # the hedge breaks where the engine liquidates the perp leg (the spot leg is never liquidated)
    assert hedge["breaks"] == "short" and hedge["break_price"] == short["liquidation_price"]
    # the BTC is counted once in the book's P&L: at +2 % the USDT pool loses 2 BTC × 60,000 × 2 %
    # (the short; the pool's unit holds only the coin positions settle in) and the spot gains
    # 0.5 BTC × 60,000 × 2 % — had the collateral BTC been counted again it would be −1,200
    uniform = next(s for s in book["stress"] if s["mode"] == "uniform")
    point = next(p for p in uniform["points"] if round(p["shock"], 6) == 0.02)
    assert point["first_liquidated"] is None
    assert point["pnl_usd"] == pytest.approx(-2 * 60_000 * 0.02 + 0.5 * 60_000 * 0.02)


# ---------------------------------------------------------------------------- Binance spot wallet


def _spot_reads(fake) -> list:
    return [r for r in fake.requests if r.path == "/api/v3/account"]


def test_binance_spot_wallet_coins_are_spot_legs_priced_by_the_position_mark(fake, keys, make_config):
    snap = read_once(make_config("binanceusdm"), keys.as_secrets())
    # payload binance_api_v3_account.json: BTC free 0.3 + locked 0.1; BNB empty; USDT is dollars.
    # BTC is priced at the BTCUSDT position's mark (binance_fapi_positionRisk_v3.json: 31,967.27)
    assert snap.account.spot == (SpotBalance("BTC", 0.3 + 0.1, 31_967.27),)
    assert snap.warnings == ()
    (read,) = _spot_reads(fake)
    assert read.query["omitZeroBalances"] == "true" and "signature" in read.query
    # the futures wallet is unchanged: spot coins are no margin
    assert "BTC" not in snap.account.wallets


def test_binance_spot_wallet_is_read_at_most_once_a_minute(fake, keys, make_config):
    from desk.exchanges import open_reader
    from desk.exchanges.adapters.binance import SPOT_REFRESH_SECONDS
    from tests.exchanges.conftest import run

    async def go() -> list:
        reader = open_reader(make_config("binanceusdm"), keys.as_secrets())
        try:
            first = await reader.snapshot()
            second = await reader.snapshot()  # within 60 s: the wallet read before serves
            reads_after_two = len(_spot_reads(fake))
            spot, when = reader.adapter._spot
            reader.adapter._spot = (spot, when - SPOT_REFRESH_SECONDS)  # as if a minute had passed
            third = await reader.snapshot()
            return [first, second, reads_after_two, third]
        finally:
            await reader.close()

    first, second, reads_after_two, third = run(go())
    assert reads_after_two == 1
    assert second.account.spot == first.account.spot == (SpotBalance("BTC", 0.4, 31_967.27),)
    assert len(_spot_reads(fake)) == 2 and third.account.spot == first.account.spot


def test_binance_spot_coin_without_a_position_is_priced_by_its_perpetual(fake, keys, make_config):
    balances = fake.state["binance"]["spot_account"]["balances"]
    balances.append({"asset": "LTC", "free": "2.5", "locked": "0"})
    balances.append({"asset": "XYZ", "free": "7", "locked": "0"})  # no perpetual: no price
    snap = read_once(make_config("binanceusdm"), keys.as_secrets())
    # LTC: the LTCUSDT mark of /fapi/v1/premiumIndex (binance_fapi_premiumIndex.json: 71.10)
    assert snap.account.spot == (SpotBalance("BTC", 0.4, 31_967.27), SpotBalance("LTC", 2.5, 71.10))
    assert [w for w in snap.warnings if "XYZ" in w] == [
        "main: no USD price for XYZ in the spot wallet (no perpetual on it); left out of the spot balances"]


def test_binance_spot_refusal_leaves_spot_unknown_and_is_said_once(fake, keys, make_config):
    from tests.exchanges.conftest import read_many

    fake.state["binance"]["spot_refused"] = True
    first, second = read_many(make_config("binanceusdm"), keys.as_secrets(), 2)
    # the account is read (positions, wallets), only its spot wallet is unknown
    assert len(first.account.positions) == 2 and first.account.spot == ()
    assert first.raw["spot_wallet"] == "unknown: Binance refused the key there"
    (warning,) = first.warnings
    assert warning.startswith("main: Binance refused this key on the spot wallet") and "-2015" in warning
    # carried by every read while it lasts (the account's card shows it; the reader logs it once);
    # the wallet is asked again only after a minute
    assert second.warnings == (warning,) and second.account.spot == ()
    assert len(_spot_reads(fake)) == 1


def test_guard_lets_the_spot_wallet_read_through_and_nothing_else_of_the_spot_api(fake, keys, make_config):
    from desk.exchanges.adapters import adapter_for
    from desk.exchanges.guard import ReadOnlyExchange, ReadOnlyViolation, check_request
    from desk.exchanges.reader import build_exchange

    guarded = ReadOnlyExchange(build_exchange(make_config("binanceusdm"), keys.as_secrets(),
                                              adapter_for("binanceusdm")))
    assert callable(guarded.private_get_account)
    for name in ("private_post_order", "private_delete_order", "private_delete_openorders",
                 "private_post_order_test", "private_put_order_amend_keeppriority",
                 "private_get_mytrades", "sapi_post_asset_transfer", "sapi_post_margin_loan"):
        with pytest.raises(ReadOnlyViolation):
            getattr(guarded, name)
    for method in ("POST", "DELETE", "PUT"):
        with pytest.raises(ReadOnlyViolation):
            check_request("binanceusdm", method, "https://api.binance.com/api/v3/order")
    check_request("binanceusdm", "GET", "https://api.binance.com/api/v3/account")  # the one read added


# ---------------------------------------------------------------------------- OKX trading account


def test_okx_coin_margined_balance_is_not_a_spot_leg(fake, keys, make_config):
    """acctLv 2 (okx_positions.json): the BTC cash settles the BTC-USD-SWAP short, so it is margin."""
    account = read_once(make_config("okx"), keys.okx()).account
    assert account.spot == () and account.wallets["BTC"] == 0.2


def test_okx_multi_currency_coin_is_a_spot_leg_and_stays_collateral(fake, keys, make_config):
    from tests.fake_exchange import load_payload

    fake.state["okx"]["acctLv"] = "3"
    fake.state["okx"]["balance"] = load_payload("okx_balance_multi_currency.json")
    # only the USDT-margined BTC-USDT-SWAP long: no position settles in BTC
    fake.state["okx"]["positions"] = [p for p in fake.state["okx"]["positions"] if p["ccy"] == "USDT"]
    snap = read_once(make_config("okx"), keys.okx())
    account = snap.account
    # okx_balance_multi_currency.json: BTC cashBal 0.5, eqUsd 31,000 / eq 0.5
    assert account.spot == (SpotBalance("BTC", 0.5, 31_000 / 0.5),)
    assert account.margin.asset("BTC").amount == 0.5  # still collateral of the pool …
    assert "BTC" not in account.wallets  # … and no settle pool of its own
    assert snap.warnings == ()


def test_binance_key_revoked_after_a_spot_read_is_rejected_not_rate_limited(fake, keys, make_config):
    """ccxt reads -2015 after any successful spot-API call as a temporary ban; desk must still stop."""
    from desk.exchanges.base import ErrorKind, VenueError
    from tests.exchanges.conftest import read_many

    def revoke(i: int) -> None:
        if i == 1:
            fake.revoke(keys.api_key)

    first, second = read_many(make_config("binanceusdm"), keys.as_secrets(), 2, between=revoke)
    assert first.account.spot and len(_spot_reads(fake)) == 1
    assert isinstance(second, VenueError) and second.kind is ErrorKind.AUTH, second


def test_a_lasting_warning_is_logged_once_per_reader(fake, keys, make_config, caplog, monkeypatch):
    from tests.exchanges.conftest import read_many

    fake.state["binance"]["spot_account"]["balances"].append({"asset": "XYZ", "free": "7", "locked": "0"})
    # a wallet read on every snapshot
    monkeypatch.setattr("desk.exchanges.adapters.binance.SPOT_REFRESH_SECONDS", 0.0)
    caplog.set_level("WARNING", logger="desk.exchanges.reader")
    snaps = read_many(make_config("binanceusdm"), keys.as_secrets(), 3)
    # every read meets the unpriced coin and says so in its snapshot; the log says it once
    assert len(_spot_reads(fake)) == 3 and all(s.warnings and "XYZ" in s.warnings[0] for s in snaps)
    assert [r.getMessage() for r in caplog.records if "XYZ" in r.getMessage()] == [snaps[0].warnings[0]]


def test_desk_snapshot_says_what_the_read_could_not_give(monkeypatch, capsys, fake, keys, tmp_path,
                                                       subprocess_env):
    """The spot wallet refused: the file is written with the account (exit 0) and the user is told,
    on stderr, that its spot balances are unknown — not only desk.log. The file keeps the note, and
    `desk risk` on it says it again, in its text and in its JSON."""
    fake.state["binance"]["spot_refused"] = True
    out = _add_and_snapshot(monkeypatch, capsys, keys, tmp_path, "binanceusdm", fake.url)
    (account_doc,) = json.loads(out.read_text())["accounts"]
    assert account_doc["positions"] and not account_doc.get("spot")
    err = capsys.readouterr().err
    assert err.count("desk: warning: live: Binance refused this key on the spot wallet") == 1, err
    assert "spot balances stay unknown" in err
    (note,) = account_doc["notes"]
    assert note.startswith("Binance refused this key on the spot wallet")
    assert "spot balances stay unknown" in note
    (acc,) = _risk_json(out, subprocess_env)["accounts"]
    assert f"when this account was read: {note}" in acc["warnings"]
    text = subprocess.run([sys.executable, "-m", "desk", "risk", str(out)], capture_output=True, text=True,
                          cwd=ROOT, env=subprocess_env, timeout=60)
    assert text.returncode == 0, text.stderr
    assert f"  warning: when this account was read: {note[:80]}" in text.stdout, text.stdout
