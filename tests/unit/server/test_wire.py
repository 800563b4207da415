"""Wire to domain, market data: a batch becomes the engine's arrays with prices in exact
ticks, a bad price refuses it whole naming the event, and the columns of a run of batches
convert as each batch would alone."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import pytest

from orderflow.analytics.trades import AggressorClassifier
from orderflow.core.errors import RequestError
from orderflow.model.instruments import Instrument, get_instrument
from orderflow.protocol import Batch, Depth, DepthColumns, Tick
from orderflow.server.wire import (
    convert_batch,
    convert_columns_run,
    json_float,
    price_levels,
    undo_conversion,
    undo_of,
)

T0 = 1_700_000_000_000_000_000


@dataclass
class State:
    """The least a conversion needs (the server's InstrumentState has more)."""

    instrument: Instrument = field(default_factory=lambda: get_instrument("ESH4"))
    classifier: AggressorClassifier = field(default_factory=lambda: AggressorClassifier("bidask"))
    rejected: Counter[str] = field(default_factory=Counter)
    ref_ticks: int | None = None


def test_depth_and_prints_become_arrays_in_exact_ticks():
    st = State()
    batch = Batch("ESH4", seq=3, depth=[Depth(T0, "bid", "add", 0, 5000.25, 7),
                                        Depth(T0 + 1, "ask", "add", 0, 5000.5, 4)],
                  ticks=[Tick(T0 + 2, 5000.5, 2, bid=5000.25, ask=5000.5)])  # fmt: skip
    depth, trades = convert_batch(st, batch)
    assert depth["price"].tolist() == [20001, 20002]  # ES: a quarter point a tick
    assert depth["size"].tolist() == [7, 4] and depth["sequence"].tolist() == [3, 3]
    assert trades["price"].tolist() == [20002] and st.ref_ticks == 20002


def test_a_price_off_the_grid_refuses_the_batch_naming_the_event():
    st = State()
    batch = Batch("ESH4", depth=[Depth(T0, "bid", "add", 0, 5000.25, 1),
                                 Depth(T0, "bid", "add", 1, 5000.1, 1)])  # fmt: skip
    undo = undo_of(st)
    with pytest.raises(RequestError, match=r"^depth\[1\]\.price: 5000.1 is not on the 0.25 grid"):
        convert_batch(st, batch)
    assert st.rejected["off_tick"] == 1
    undo_conversion(st, undo)
    assert st.rejected["off_tick"] == 0


def test_an_implausible_price_is_refused_against_the_last_price():
    st = State(ref_ticks=20_000)
    batch = Batch("ESH4", ticks=[Tick(T0, 50.0, 1)])
    with pytest.raises(RequestError, match=r"^ticks\[0\]\.price: 50.0 is implausibly far"):
        convert_batch(st, batch)
    assert st.rejected["implausible_price"] == 1


def test_a_run_of_column_batches_converts_as_each_alone():
    def cols(p: float) -> DepthColumns:
        return DepthColumns(t=[T0, T0], side="ba", op="aa", pos=[0, 0], price=[p, p + 0.25],
                            size=[1, 2])  # fmt: skip

    run = [Batch("ESH4", seq=1, columns=cols(5000.0)), Batch("ESH4", seq=2, columns=cols(5001.0))]
    together = convert_columns_run(State(), run)
    assert together is not None
    alone = State()
    parts = [convert_batch(alone, b)[0] for b in run]
    assert np.array_equal(together[0]["price"], np.concatenate(parts)["price"])
    assert together[0]["sequence"].tolist() == [1, 1, 2, 2]


def test_ladder_rows_and_metrics_go_back_as_exchange_prices_and_json_numbers():
    inst = get_instrument("ESH4")
    rows = price_levels(np.array([20001, 20000]), np.array([3, 1]), inst.tick_fixed, inst.to_price)
    assert rows == [[5000.25, 3], [5000.0, 1]]
    assert json_float(float("nan")) is None and json_float(2.0, 0.25) == 0.5
