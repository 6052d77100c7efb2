"""What-if edits booked the way the venue books them: adding to an inverse position, and the wallet
after a leverage edit. Every expected figure is worked by hand from the contract's value
(linear Q·P, inverse N·CS/P — risk-math.md §0, §7.5)."""

from __future__ import annotations

import pytest

from desk.domain.model import Portfolio
from desk.domain.whatif import edit_position, find_position
from tests.support.risk import account, pos

INVERSE = "BTC/USD:BTC"


def inverse_book(mode: str) -> Portfolio:
    # long 1,000 BTCUSD contracts (100 USD each) @ 50,000: entry value 100,000 / 50,000 = 2 BTC;
    # isolated at 10x: margin 0.2 BTC. Mark 40,000.
    p = pos(INVERSE, contracts=1_000, contract_size=100, entry=50_000, mark=40_000, mode=mode,
            margin=0.2 if mode == "isolated" else None, leverage=10)
    return Portfolio((account("binancecoinm", p, name="main", BTC=1.0),))


@pytest.mark.parametrize("mode", ["cross", "isolated"])
def test_adding_to_an_inverse_position_averages_the_entry_in_value(mode: str) -> None:
    # 1,000 more contracts at 40,000 add 100,000 / 40,000 = 2.5 BTC of value: the entry is the
    # quote size over the total value, 200,000 / (2 + 2.5) = 44,444.44 (the harmonic mean).
    after = edit_position(inverse_book(mode), "main", INVERSE, contracts=2_000)
    p = find_position(after, "main", INVERSE)
    assert p.contracts == 2_000
    assert p.entry_price == pytest.approx(200_000 / 4.5, rel=1e-12)
    if mode == "isolated":
        # the added value at 10x: 2.5 / 10 = 0.25 BTC moves from the wallet to the position
        assert p.isolated_margin == pytest.approx(0.45, rel=1e-12)
        assert after.account("main").wallet("BTC") == pytest.approx(0.75, rel=1e-12)
    else:
        assert after.account("main").wallet("BTC") == 1.0


def test_a_leverage_edit_of_an_isolated_linear_position_returns_the_freed_margin_to_the_wallet() -> None:
    # long 1 BTC @ 50,000 with 5,000 margin (10x), mark 45,000, wallet 10,000. 20x: margin = entry
    # value ÷ leverage = 2,500, and the 2,500 freed goes back to the wallet: 12,500.
    p = pos(contracts=1.0, entry=50_000, mark=45_000, mode="isolated", margin=5_000, leverage=10)
    book = Portfolio((account("binanceusdm", p, name="main", USDT=10_000.0),))
    after = edit_position(book, "main", p.symbol, leverage=20)
    edited = find_position(after, "main", p.symbol)
    assert edited.isolated_margin == pytest.approx(2_500.0, rel=1e-12)
    assert edited.leverage == 20
    assert after.account("main").wallet("USDT") == pytest.approx(12_500.0, rel=1e-12)


def test_a_leverage_edit_of_an_isolated_inverse_position_takes_the_margin_from_the_wallet() -> None:
    # entry value 2 BTC; 5x needs 0.4 BTC of margin: 0.2 more, taken from the 1 BTC wallet → 0.8
    after = edit_position(inverse_book("isolated"), "main", INVERSE, leverage=5)
    edited = find_position(after, "main", INVERSE)
    assert edited.isolated_margin == pytest.approx(0.4, rel=1e-12)
    assert after.account("main").wallet("BTC") == pytest.approx(0.8, rel=1e-12)


def test_a_leverage_edit_that_needs_more_than_the_wallet_is_refused_naming_the_wallet() -> None:
    # 1x needs the whole entry value, 2 BTC: 1.8 more than the 0.2 held, with 1 BTC in the wallet
    with pytest.raises(ValueError, match="BTC wallet of main would go negative"):
        edit_position(inverse_book("isolated"), "main", INVERSE, leverage=1)
