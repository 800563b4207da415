"""ESH4 MBO -> NinjaTrader depth events (top 10) -> the position-indexed ladder.

The ladder fed only NinjaTrader-style Add/Update/Remove-by-position events must equal the L3
book's top 10 levels (price and size) at every one of the file's event boundaries.
"""

from __future__ import annotations

import numpy as np
import pytest

from orderflow.book.l3 import OrderBook
from orderflow.book.ladder import LadderBook
from orderflow.io.dbn import read_mbo
from orderflow.io.nt_convert import mbo_to_nt_depth
from orderflow.model.enums import Flags, NtOperation

LEVELS = 10


@pytest.fixture(scope="module")
def es_stream(request):
    from tests.conftest import ES_MBO, need

    events, inst = read_mbo(need(ES_MBO))
    return events, inst


def _state(rec):
    return np.concatenate([rec.bid_price, rec.bid_size, rec.ask_price, rec.ask_size], axis=1)


def test_ladder_from_nt_events_equals_l3_top10_at_every_boundary(es_stream):
    events, inst = es_stream
    l3 = OrderBook(inst).apply_mbo(events, record_depth=LEVELS).depth
    assert len(l3) == 47_022  # every LAST boundary after the snapshot

    nt = mbo_to_nt_depth(events, levels=LEVELS)
    assert set(np.unique(nt["operation"])) <= {int(op) for op in NtOperation}
    ladder = LadderBook(inst)
    result = ladder.apply_events(nt, record_depth=LEVELS)
    assert result.rejected == {}
    assert not ladder.stale

    l3_state = _state(l3)
    changed = np.ones(len(l3_state), dtype=bool)
    changed[1:] = (l3_state[1:] != l3_state[:-1]).any(axis=1)
    nt_state = _state(result.depth)
    # one NinjaTrader boundary per L3 boundary whose top 10 changed, in the same order
    assert len(nt_state) == int(changed.sum())
    # forward-fill the ladder's states over boundaries that sent nothing
    which = np.cumsum(changed) - 1
    np.testing.assert_array_equal(nt_state[which], l3_state)
    # and the ladder never held more rows than a depth-10 feed has
    assert max(ladder.row_count(0), ladder.row_count(1)) <= LEVELS


def test_nt_stream_starts_with_the_snapshot_as_adds_and_flags_boundaries(es_stream):
    events, _ = es_stream
    nt = mbo_to_nt_depth(events, levels=LEVELS)
    first_boundary = int(np.flatnonzero(nt["flags"] & Flags.LAST)[0])
    head = nt[: first_boundary + 1]
    assert (head["operation"] == NtOperation.ADD).all()
    assert len(head) == 2 * LEVELS
    assert (np.diff(nt["sequence"]) == 1).all()
    assert (np.diff(nt["ts_event"]) >= 0).all()
