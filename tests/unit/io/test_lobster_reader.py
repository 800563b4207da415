"""LOBSTER message/orderbook readers and the MBO conversion, on small hand-written files."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from orderflow.core.errors import DecodeError
from orderflow.io.lobster import (
    ASK_EMPTY,
    BID_EMPTY,
    LOBSTER_MESSAGE_DTYPE,
    exact_tick,
    read_messages,
    read_orderbook,
    to_mbo,
)
from orderflow.model.dtypes import MBO_DTYPE, NO_PRICE
from orderflow.model.enums import Action, Flags, Side

MESSAGES = """\
34200.015105074,1,11,100,5794000,1
34200.5,2,11,40,5794000,1
34201,3,11,60,5794000,1
34202.000000001,4,12,10,5802300,-1
34203.1,5,0,7,5795100,1
34204.2,5,0,3,5795150,-1
34205.3,6,13,500,5800000,1
34206.4,7,0,0,-1,-1
"""

BOOK = f"""\
5802300,100,5794000,496,5802400,10,5793900,5
{ASK_EMPTY},0,{BID_EMPTY},0,{ASK_EMPTY},0,{BID_EMPTY},0
"""


@pytest.fixture
def msg_file(tmp_path):
    path = tmp_path / "X_2012-06-21_34200000_57600000_message_2.csv"
    path.write_text(MESSAGES)
    return path


def test_read_messages_fields_and_exact_times(msg_file):
    m = read_messages(msg_file)
    assert m.dtype == LOBSTER_MESSAGE_DTYPE and len(m) == 8
    assert m["time_ns"][:4].tolist() == [
        34_200_015_105_074,
        34_200_500_000_000,
        34_201_000_000_000,
        34_202_000_000_001,
    ]
    assert m["type"].tolist() == [1, 2, 3, 4, 5, 5, 6, 7]
    assert m["order_id"][0] == 11 and m["size"][1] == 40 and m["price"][3] == 5802300
    assert m["direction"].tolist() == [1, 1, 1, -1, 1, -1, 1, -1]


@pytest.mark.parametrize(
    ("line", "field"),
    [
        ("34200.1,1,11,abc,5794000,1", "size"),
        ("34200.1,1,11,100,5794000", "row"),
        ("xx,1,11,100,5794000,1", "time"),
        ("34200.1234567891,1,11,100,5794000,1", "time"),
        ("34200.1,9,11,100,5794000,1", "type"),
        ("34200.1,1,11,100,5794000,0", "direction"),
        ("34200.1,1,11,-5,5794000,1", "size"),
    ],
)
def test_bad_message_row_raises_decode_error_naming_row_and_field(tmp_path, line, field):
    path = tmp_path / "bad.csv"
    path.write_text(MESSAGES + line + "\n")
    with pytest.raises(DecodeError) as info:
        read_messages(path)
    assert info.value.details["field"] == field
    assert info.value.details["row"] == 9
    assert "row 9" in str(info.value)


def test_read_orderbook_levels_and_sentinels(tmp_path):
    path = tmp_path / "book.csv"
    path.write_text(BOOK)
    ob = read_orderbook(path)
    assert ob["ask_price"].shape == (2, 2)
    assert ob["ask_price"][0].tolist() == [5802300, 5802400]
    assert ob["bid_size"][0].tolist() == [496, 5]
    assert ob["ask_price"][1, 0] == ASK_EMPTY and ob["bid_price"][1, 1] == BID_EMPTY
    one = read_orderbook(path, levels=1)
    assert one["bid_price"].shape == (2, 1) and one["bid_price"][0, 0] == 5794000
    with pytest.raises(DecodeError):
        read_orderbook(path, levels=3)


def test_bad_orderbook_row_names_column(tmp_path):
    path = tmp_path / "book.csv"
    path.write_text(BOOK + "1,2,3,x,5,6,7,8\n")
    with pytest.raises(DecodeError) as info:
        read_orderbook(path)
    assert info.value.details == {"field": "bid_size_1", "row": 3}


def test_to_mbo_maps_every_event_type(msg_file):
    mbo = to_mbo(read_messages(msg_file), dt.date(2012, 6, 21), trades_off_grid="floor")
    assert mbo.dtype == MBO_DTYPE and len(mbo) == 9  # the execution makes two records
    assert mbo["action"].tolist() == [
        Action.ADD,
        Action.CANCEL,
        Action.CANCEL,
        Action.FILL,
        Action.CANCEL,
        Action.TRADE,
        Action.TRADE,
        Action.TRADE,
        Action.NONE,
    ]
    assert mbo["side"].tolist() == [
        Side.BID,
        Side.BID,
        Side.BID,
        Side.ASK,  # the resting sell order filled
        Side.ASK,
        Side.ASK,  # hidden buy order executed: the aggressor sold
        Side.BID,  # hidden sell order executed: the aggressor bought
        Side.NONE,  # cross
        Side.NONE,  # halt
    ]
    assert mbo["price"][:5].tolist() == [57940, 57940, 57940, 58023, 58023]
    assert mbo["price"][6] == 57951  # half-cent hidden print floored to the cent grid
    assert mbo["price"][8] == NO_PRICE
    assert mbo["sequence"].tolist() == [1, 2, 3, 4, 4, 5, 6, 7, 8]
    assert mbo["size"][:5].tolist() == [100, 40, 60, 10, 10]
    last = (mbo["flags"] & Flags.LAST) != 0
    assert last.tolist() == [True, True, True, False, True, True, True, True, True]


def test_to_mbo_times_are_utc_from_new_york_wall_clock(msg_file):
    mbo = to_mbo(read_messages(msg_file), "2012-06-21", tick=50)
    first = dt.datetime(2012, 6, 21, 13, 30, tzinfo=dt.UTC)  # 09:30 EDT
    assert mbo["ts_event"][0] == int(first.timestamp()) * 10**9 + 15_105_074
    winter = to_mbo(read_messages(msg_file)[:1], "2012-01-05", tick=50)
    assert winter["ts_event"][0] - mbo["ts_event"][0] < 0  # earlier date
    assert (winter["ts_event"][0] // 10**9) % 86400 == 14 * 3600 + 30 * 60  # 09:30 EST


def test_to_mbo_off_grid_book_price_raises(msg_file):
    m = read_messages(msg_file)
    m["price"][0] = 5794050
    with pytest.raises(DecodeError) as info:
        to_mbo(m, "2012-06-21")
    assert info.value.details["row"] == 1
    with pytest.raises(DecodeError):  # the default refuses the half-cent hidden print
        to_mbo(read_messages(msg_file), "2012-06-21")
    assert exact_tick(read_messages(msg_file)) == 50
    exact = to_mbo(read_messages(msg_file), "2012-06-21", tick=50)
    assert exact["price"][6] == 5795150 // 50


def test_empty_conversion():
    assert len(to_mbo(np.zeros(0, dtype=LOBSTER_MESSAGE_DTYPE), "2012-06-21")) == 0
