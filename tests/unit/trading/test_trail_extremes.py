"""Breakeven and the trail follow the extremes of the prints since the last decision (the
pipeline's), so deciding after every event group and deciding once per chunk of prints put
the stop at the same levels; only the moments of the moves differ."""

from __future__ import annotations

import numpy as np
import pytest

from orderflow.engine.pipeline import Pipeline
from orderflow.model.dtypes import TRADE_DTYPE
from orderflow.trading.host import StrategyHost
from tests.unit.trading.test_strategy import (
    ASK,
    ES,
    T0,
    Reports,
    S,
    entered,
    host,
    market,
    signal,
)

#: a scripted path after a long fill at ASK (ticks over it): a spike to +5 inside the first
#: chunk that ends at +3, a spike to +14 inside the second that ends at +10, +16 in the third
PATH = [[1, 5, 2, 3], [6, 14, 9, 10], [11, 16, 12, 13]]
RULES = {"breakeven_after_ticks": 4, "breakeven_offset_ticks": 1, "trail": "ticks",
         "trail_ticks": 6, "trail_after_ticks": 8}  # fmt: skip


def prints(offsets: list[int], first: int) -> np.ndarray:
    out = np.zeros(len(offsets), dtype=TRADE_DTYPE)
    out["ts_event"] = [T0 + (first + i) * S for i in range(len(offsets))]
    out["price"] = [ASK + x for x in offsets]
    out["size"] = 1
    out["side"] = 1
    return out


def run(per_group: bool) -> tuple[StrategyHost, list[list[int]]]:
    """The entry filled at ASK, then PATH through a trades pipeline; the host decides after
    every print (``per_group``) or after every chunk of four. The stop levels it sent, per
    chunk."""
    h = host(**RULES)
    r = Reports(h)
    bid = entered(h, r, price=ASK)
    pipe = Pipeline(ES, "trades")
    levels: list[list[int]] = []
    n = 1
    for chunk in PATH:
        arr = prints(chunk, n)
        n += len(chunk)
        moved: list[int] = []
        for part in [arr[i : i + 1] for i in range(len(arr))] if per_group else [arr]:
            pipe.process_trades(part)
            cmds = h.on_market(pipe)
            moved += [c.stop_ticks for c in cmds if c.op == "change" and c.stop_ticks]
            r.work(cmds, pipe.last_ts + 1)
        levels.append(moved)
    assert h.desk.orders.orders[f"{bid}.stop"].stop_ticks == (levels[-1] or [None])[-1]
    return h, levels


def test_deciding_per_group_or_per_chunk_puts_the_stop_at_the_same_levels() -> None:
    _, group = run(per_group=True)
    _, chunk = run(per_group=False)
    # per group: breakeven at +5 (entry + 1), the trail at +14 (14 - 6 = +8), at +16 (+10)
    assert group == [[ASK + 1], [ASK + 8], [ASK + 10]]
    # per chunk: one move a chunk, to the same level (the chunk's high, not its last print)
    assert chunk == [[ASK + 1], [ASK + 8], [ASK + 10]]


def test_the_last_price_alone_would_trail_lower() -> None:
    # the same decisions on hand-built contexts that carry only each chunk's last price
    # (what a decision saw before): no breakeven (+3 < 4), then 6 behind +10 and +13
    h = host(**RULES)
    r = Reports(h)
    entered(h, r, price=ASK)
    levels = []
    for k, chunk in enumerate(PATH):
        cmds = h.step(market(T0 + (4 * k + 4) * S, last=ASK + chunk[-1]))
        levels.append([c.stop_ticks for c in cmds if c.op == "change"])
        r.work(cmds, T0 + (4 * k + 4) * S + 1)
    assert levels == [[], [ASK + 4], [ASK + 7]]


def test_prints_before_the_fill_do_not_count() -> None:
    # a spike to +20 printed after the entry was sent but before it filled (at T0 + 2 s)
    # reaches the host in the same chunk as the prints after the fill: only those count
    h = host(**RULES)
    r = Reports(h)
    (cmd,) = h.step(market(T0, signal(T0, 1)))
    r.work([cmd], T0)
    pipe = Pipeline(ES, "trades")
    pipe.process_trades(prints([20], 1))
    r.work(r.fill(cmd.cid, ASK, cmd.quantity, T0 + 2 * S), T0 + 2 * S)
    pipe.process_trades(prints([3, 5, 4], 3))
    moves = [c.stop_ticks for c in h.on_market(pipe) if c.op == "change"]
    assert moves == [ASK + 1]  # breakeven (+5), no trail (+20 would have put it at +14)


def test_the_pipeline_gives_the_prints_after_any_count() -> None:
    pipe = Pipeline(ES, "trades")
    for k, chunk in enumerate(PATH):
        pipe.process_trades(prints(chunk, 4 * k + 1))
    every = [ASK + x for chunk in PATH for x in chunk]
    for count in range(len(every) + 1):
        ts, px = pipe.prints_since(count)
        assert px.tolist() == every[count:]
        assert ts.tolist() == [T0 + (i + 1) * S for i in range(count, len(every))]


def test_the_prints_after_a_count_with_many_small_pieces_and_old_ones_dropped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from orderflow.engine import pipeline as pipeline_mod

    monkeypatch.setattr(pipeline_mod, "PRINTS_KEPT", 40)
    rng = np.random.default_rng(3)
    pipe = Pipeline(ES, "trades")
    every: list[int] = []
    for _ in range(60):  # pieces of 1 to 5 prints, far more pieces than the window
        chunk = rng.integers(-8, 8, int(rng.integers(1, 6))).tolist()
        pipe.process_trades(prints(chunk, len(every) + 1))
        every += [ASK + x for x in chunk]
    n = len(every)
    for count in range(n - 40, n + 1):  # within the window kept: exactly the prints after it
        ts, px = pipe.prints_since(count)
        assert px.tolist() == every[count:]
        assert ts.tolist() == [T0 + (i + 1) * S for i in range(count, n)]
    assert pipe.prints_since(n + 5)[1].tolist() == []
