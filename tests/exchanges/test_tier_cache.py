"""Tier tables live on disk beside the markets cache: a restarted reader within the refresh age
asks the venue for none, and asks again once they are older."""

from __future__ import annotations

import json

import pytest

from tests.exchanges.conftest import HL_ADDRESS, read_once


def _okx_tier_requests(fake) -> int:
    return fake.paths().count("GET /api/v5/public/position-tiers")


def _hl_meta_requests(fake) -> int:
    return sum(1 for r in fake.requests if r.path == "/info" and json.loads(r.body).get("type") == "meta")


def _age_tier_files(tmp_path, hours: float) -> None:
    files = list((tmp_path / "markets").glob("tiers-*.json"))
    assert len(files) == 1, files
    document = json.loads(files[0].read_text())
    for entry in document["tiers"].values():
        entry[0] -= hours * 3600
    files[0].write_text(json.dumps(document))


@pytest.mark.parametrize(("venue", "count", "secrets_"), [
    ("okx", _okx_tier_requests, "okx"), ("hyperliquid", _hl_meta_requests, None)])
def test_a_new_reader_uses_fresh_tiers_from_disk_and_refetches_stale_ones(fake, keys, make_config,
                                                                          tmp_path, venue, count, secrets_):
    cfg = make_config(venue, markets_max_age_hours=6.0,
                      **({"wallet_address": HL_ADDRESS} if venue == "hyperliquid" else {}))
    creds = keys.okx() if secrets_ else {}
    first = read_once(cfg, creds)  # a reader per call: nothing shared in memory
    fetched = count(fake)
    assert fetched >= 1

    second = read_once(cfg, creds)
    assert count(fake) == fetched  # fresh on disk: the venue is not asked
    assert [p.tiers for p in second.account.positions] == [p.tiers for p in first.account.positions]

    _age_tier_files(tmp_path, 6.5)  # older than the 6 h refresh age
    third = read_once(cfg, creds)
    assert count(fake) == 2 * fetched
    assert [p.tiers for p in third.account.positions] == [p.tiers for p in first.account.positions]


def test_an_unreadable_tier_file_only_costs_a_fetch(fake, make_config, tmp_path):
    cfg = make_config("hyperliquid", wallet_address=HL_ADDRESS)
    read_once(cfg, {})
    next((tmp_path / "markets").glob("tiers-*.json")).write_text("{not json")
    snap = read_once(cfg, {})
    assert snap.account.positions and _hl_meta_requests(fake) == 2


def test_cache_files_nested_too_deeply_only_cost_a_fetch(fake, make_config, tmp_path):
    # json.loads raises RecursionError (not a ValueError) on such a file: it must not crash the reader
    cfg = make_config("hyperliquid", wallet_address=HL_ADDRESS)
    read_once(cfg, {})
    files = list((tmp_path / "markets").glob("*.json"))
    assert len(files) >= 2, files  # the markets cache and the tier file
    for path in files:
        path.write_text('{"format": "desk.tiers/1", "tiers": ' + "[" * 5000 + "]" * 5000 + "}")
    snap = read_once(cfg, {})
    assert snap.account.positions and _hl_meta_requests(fake) == 2
