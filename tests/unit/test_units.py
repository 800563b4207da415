from decimal import Decimal

import pytest

from orderflow.core.errors import DecodeError, OffTickError
from orderflow.core.units import format_price, price_to_ticks, ticks_to_decimal, to_fixed
from orderflow.model.instruments import get_instrument


def test_es_price_maps_to_exact_tick_from_float_text_and_decimal():
    assert price_to_ticks(4810.25, "0.25") == 19241
    assert price_to_ticks("4810.25", "0.25") == 19241
    assert price_to_ticks(Decimal("4810.25"), Decimal("0.25")) == 19241


def test_float_drift_cannot_move_a_tick():
    # 0.1 + 0.2 style drift: every ES price from 0 to 10000 round-trips exactly
    for ticks in range(0, 40_000, 7):
        price = ticks * 0.25
        assert price_to_ticks(price, "0.25") == ticks
    for ticks in range(0, 20_000, 13):  # CL on a 0.01 grid, the classic float trap
        assert price_to_ticks(ticks / 100, "0.01") == ticks


def test_off_grid_price_is_rejected_with_typed_error():
    with pytest.raises(OffTickError) as info:
        price_to_ticks(4810.30, "0.25")
    assert info.value.details["field"] == "price"


def test_garbage_price_names_the_field():
    with pytest.raises(DecodeError) as info:
        to_fixed("abc")
    assert info.value.details == {"field": "price"}


def test_ticks_format_back_with_grid_decimals():
    assert format_price(19240, "0.25") == "4810.00"
    assert ticks_to_decimal(19241, "0.25") == Decimal("4810.25")
    assert get_instrument("CL").format(7123) == "71.23"
