"""Exchange prices enter every book through ``ticks``: exact, and off-grid refused and counted."""

import pytest

from orderflow.book.l3 import OrderBook
from orderflow.book.ladder import LadderBook
from orderflow.book.levels import LevelBook
from orderflow.core.errors import ConfigError, OffTickError
from orderflow.model.enums import NtOperation, Side
from orderflow.model.instruments import get_instrument

ES = get_instrument("ESH4")


@pytest.mark.parametrize("make", [OrderBook, LevelBook, LadderBook])
def test_exchange_price_becomes_exact_ticks(make):
    book = make(ES)
    assert book.ticks(4810.25) == 19241
    assert book.ticks("4810.00") == 19240
    assert book.rejected == {}


@pytest.mark.parametrize("make", [OrderBook, LevelBook, LadderBook])
def test_off_grid_price_is_refused_counted_and_changes_nothing(make):
    book = make(ES)
    with pytest.raises(OffTickError):
        book.ticks(4810.30)
    assert book.rejected == {"off_tick": 1}
    assert book.top().bid_price is None and book.top().ask_price is None


def test_ninjatrader_double_price_through_the_ladder():
    book = LadderBook(ES)
    book.apply(Side.BID, NtOperation.ADD, 0, book.ticks(4810.0), 22)
    book.apply(Side.ASK, NtOperation.ADD, 0, book.ticks(4810.25), 28)
    assert book.top()[:4] == (19240, 22, 19241, 28)


def test_book_without_instrument_takes_ticks_only():
    with pytest.raises(ConfigError, match="ticks"):
        LevelBook().ticks(4810.25)
