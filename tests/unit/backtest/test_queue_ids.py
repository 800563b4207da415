"""The sorted ids of the orders ahead of ours are sorted again whenever they changed: an order
ahead leaving (a cancel, a modify that loses priority) or a new queue (a new dict)."""

from __future__ import annotations

import numpy as np

from orderflow.backtest.queues import QueueState, l3_order_update, sorted_ahead
from orderflow.model.enums import Action

CANCEL, MODIFY = int(Action.CANCEL), int(Action.MODIFY)


def test_the_sorted_ids_follow_every_order_ahead_that_leaves() -> None:
    q = QueueState(ahead=60.0, ahead_ids={30: 10, 10: 20, 20: 30})
    first = sorted_ahead(q)
    assert first.tolist() == [10, 20, 30] and first.dtype == np.uint64
    assert sorted_ahead(q) is first  # nothing changed: not sorted again
    l3_order_update(q, 100, CANCEL, 5, 20, 100)  # a part cancelled: still ahead
    assert sorted_ahead(q).tolist() == [10, 20, 30]
    l3_order_update(q, 100, CANCEL, 30, 10, 100)  # order 10 cancels all it holds: it leaves
    assert sorted_ahead(q).tolist() == [20, 30]
    l3_order_update(q, 101, MODIFY, 10, 30, 100)  # moved away: loses its place
    assert sorted_ahead(q).tolist() == [20] and q.ahead == 25.0
    q.ahead_ids = {7: 1, 5: 2}  # a new queue (a clear, a new order): a new dict
    assert sorted_ahead(q).tolist() == [5, 7]
    q.ahead_ids = {}
    assert sorted_ahead(q).tolist() == []
