from datetime import date

import numpy as np

from orderflow.core.time import parse_time
from orderflow.model.instruments import get_instrument
from orderflow.model.session_times import session_index, session_open_ns, trading_day_of

ES = get_instrument("ES")


def test_es_session_opens_18_00_new_york_the_evening_before():
    # 2023-12-26 trading day opens Monday 2023-12-25 18:00 EST = 23:00 UTC
    assert session_open_ns(date(2023, 12, 26), ES.trading_hours) == parse_time(
        "2023-12-25T23:00:00Z"
    )
    # in summer (EDT) the same local open is 22:00 UTC
    assert session_open_ns(date(2024, 7, 9), ES.trading_hours) == parse_time("2024-07-08T22:00:00Z")


def test_trading_day_rolls_at_the_open():
    assert trading_day_of(parse_time("2023-12-25T22:59:59Z"), ES.trading_hours) == date(
        2023, 12, 25
    )
    assert trading_day_of(parse_time("2023-12-25T23:00:00Z"), ES.trading_hours) == date(
        2023, 12, 26
    )


def test_session_index_groups_timestamps_by_session():
    ts = np.array(
        [
            parse_time(t)
            for t in ("2024-01-02T15:00:00Z", "2024-01-02T23:30:00Z", "2024-01-03T14:00:00Z")
        ]
    )
    idx, starts = session_index(ts, ES)
    assert idx.tolist() == [0, 1, 1]
    assert starts[1] == parse_time("2024-01-02T23:00:00Z")
