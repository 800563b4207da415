"""The walls of the recorded ESH4 book against a plain model that judges every level of every
group from scratch: a level is a wall when its size, as a double, is at least ``multiple`` times
the reference (the median or mean size of the side's top levels before the first empty one) and
at least ``min_size``; a wall keeps the start it had when the group before had a wall at its
price, else starts at the group's time. The kernel moves only the changed sizes in its sorted
copy when the prices stand, and finds a wall's start in its list of the group before's walls;
this model does neither. (A shortcut that judged only the changed levels of an aligned side
failed here when taken whatever the reference, and when it did not rewrite the list.)"""

from __future__ import annotations

import itertools
from functools import cache

import numpy as np
import pytest

from orderflow.analytics.book_metrics import NO_TS, BookMetrics, BookMetricsParams, WallParams
from orderflow.book.common import DepthRecord
from orderflow.book.l3 import OrderBook
from orderflow.io.dbn import read_mbo
from orderflow.model.dtypes import NO_PRICE
from tests.conftest import ES_MBO, need

RECORDS = 27_000


@cache
def _depth() -> DepthRecord:
    ev, inst = read_mbo(need(ES_MBO))
    depth = OrderBook(inst).apply_mbo(ev[:RECORDS], record_depth=10).depth
    assert depth is not None and len(depth) > 10_000
    return depth


def _model(depth: DepthRecord, p: WallParams, sd: int) -> np.ndarray:
    px = (depth.bid_price, depth.ask_price)[sd][:, : p.levels]
    sz = (depth.bid_size, depth.ask_size)[sd][:, : p.levels]
    ts = depth.ts_event
    out = np.full(px.shape, NO_TS, dtype=np.int64)
    held: dict[int, int] = {}
    for r in range(len(px)):
        k = 0
        while k < px.shape[1] and px[r, k] != NO_PRICE:
            k += 1
        now: dict[int, int] = {}
        if k:
            s = sorted(int(x) for x in sz[r, :k])
            ref = (s[(k - 1) // 2] + s[k // 2]) / 2.0 if p.reference == "median" else sum(s) / k
            for i in range(k):
                x = int(sz[r, i])
                if float(x) >= p.multiple * ref and x >= p.min_size:
                    now[int(px[r, i])] = out[r, i] = held.get(int(px[r, i]), int(ts[r]))
        held = now
    return out


@pytest.mark.parametrize(
    "walls",
    [
        WallParams(),
        WallParams(multiple=1.3, min_size=2),
        WallParams(reference="mean", multiple=1.6),
    ],
)
def test_esh4_walls_equal_a_model_judging_every_level(walls: WallParams) -> None:
    depth = _depth()
    p = BookMetricsParams(walls=walls)
    bm = BookMetrics(p, width=10)
    cuts = [0, 1, 2, 3, 1_000, len(depth)]  # (calls of one group: the one-group path)
    since = []
    for a, b in itertools.pairwise(cuts):
        part = DepthRecord(*(getattr(depth, f)[a:b] for f in DepthRecord.__dataclass_fields__))
        if b - a == 1:
            bm.update(
                int(part.ts_event[0]), part.bid_price[0], part.bid_size[0], part.ask_price[0],
                part.ask_size[0],
            )  # fmt: skip
            since.append(bm._r.wall_since[0].copy()[None])
        else:
            since.append(bm.update_many(part).wall_since)
    got = np.concatenate(since)
    flips = 0
    for sd in (0, 1):
        ref = _model(depth, walls, sd)
        assert np.array_equal(got[:, sd, : walls.levels], ref), sd
        flips += int(np.count_nonzero((ref[1:] != NO_TS) != (ref[:-1] != NO_TS)))
    assert flips > 100  # levels became and stopped being walls
