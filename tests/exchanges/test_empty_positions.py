"""An empty position list is believed only when the account agrees: a venue answering "no
positions" while its balance still holds maintenance margin sent an incomplete answer, and that
must never read as "flat" (ccxt-notes.md §7). Binance's check is in test_errors.py."""

from __future__ import annotations

import pytest

from desk.exchanges import ErrorKind, VenueError
from tests.exchanges.conftest import read_once


def _incomplete(cfg, secrets_) -> VenueError:
    with pytest.raises(VenueError) as info:
        read_once(cfg, secrets_)
    assert info.value.kind is ErrorKind.BAD_RESPONSE and "incomplete" in str(info.value), str(info.value)
    return info.value


def _bybit_uta_without_positions(fake) -> dict:
    uta = fake.state["bybit"]["uta"]
    uta["positions"] = []
    for coin in uta["wallet"]["coin"]:
        coin["totalPositionMM"] = "0"  # the per-coin figure lags or is missing; the account's does not
    return uta["wallet"]


def test_bybit_no_positions_with_account_maintenance_margin_is_incomplete(fake, keys, make_config):
    wallet = _bybit_uta_without_positions(fake)
    wallet["totalMaintenanceMargin"] = "300"
    error = _incomplete(make_config("bybit"), keys.as_secrets())
    assert "maintenance margin is 300 USD" in str(error)


def test_bybit_spot_borrowing_explains_account_maintenance_margin(fake, keys, make_config):
    wallet = _bybit_uta_without_positions(fake)
    wallet["totalMaintenanceMargin"] = "12.5"
    wallet["coin"][0]["borrowAmount"] = "250"  # spot margin: maintenance margin without a derivative
    assert read_once(make_config("bybit"), keys.as_secrets()).account.positions == ()


def test_bybit_truly_flat_unified_account_reads_as_flat(fake, keys, make_config):
    wallet = _bybit_uta_without_positions(fake)
    wallet["totalMaintenanceMargin"] = "0"
    snap = read_once(make_config("bybit"), keys.as_secrets())
    assert snap.account.positions == () and snap.account.wallets


def _okx_without_positions(fake) -> dict:
    fake.state["okx"]["positions"] = []
    detail = fake.state["okx"]["balance"][0]
    detail["mmr"] = ""  # single-currency margin: OKX leaves the account-level figure empty
    for item in detail["details"]:
        item["mmr"] = ""
    return detail


def test_okx_no_positions_with_currency_maintenance_margin_is_incomplete(fake, keys, make_config):
    detail = _okx_without_positions(fake)
    detail["details"][0]["mmr"] = "248"
    error = _incomplete(make_config("okx"), keys.okx())
    assert "USDT holds maintenance margin 248" in str(error)


def test_okx_no_positions_with_account_maintenance_margin_is_incomplete(fake, keys, make_config):
    _okx_without_positions(fake)["mmr"] = "248"
    assert "the account holds maintenance margin 248" in str(_incomplete(make_config("okx"), keys.okx()))


def test_okx_truly_flat_account_reads_as_flat(fake, keys, make_config):
    detail = _okx_without_positions(fake)
    detail["details"][0]["mmr"] = "0"
    snap = read_once(make_config("okx"), keys.okx())
    assert snap.account.positions == () and snap.account.wallets["USDT"] == 10000
