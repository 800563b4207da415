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


def test_floats_to_ticks_equals_the_scalar_path():
    import random

    import numpy as np

    from orderflow.core.units import floats_to_ticks, price_to_ticks, to_fixed

    rng = random.Random(7)
    for tick in ("0.25", "0.01", "0.005", "1", "0.0001"):
        prices = [float(str(round(rng.randint(-(10**6), 10**7) * float(tick), 6)))
                  for _ in range(5_000)]  # fmt: skip
        ticks, bad = floats_to_ticks(np.array(prices), to_fixed(tick))
        assert bad == -1
        assert ticks.tolist() == [price_to_ticks(p, tick) for p in prices]
    es = to_fixed("0.25")
    assert floats_to_ticks(np.array([4810.25, 4810.3]), es)[1] == 1  # off the grid
    assert floats_to_ticks(np.array([1.0, float("nan")]), es)[1] == 1
    assert floats_to_ticks(np.array([3e18]), es)[1] == 0  # beyond int64 ticks
    assert floats_to_ticks(np.array([1e7 + 0.25]), es)[0].tolist() == [40_000_001]  # slow path
