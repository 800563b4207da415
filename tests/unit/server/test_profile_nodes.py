"""An answer's profile lists the same HVN and LVN as the pipeline's profile summary when a
profile has more nodes than an answer lists (the strongest chosen, listed by price, ties in
price order) and when it has no more (every one, as they come): a comb of prints with a dozen
peaks and troughs of unequal and equal heights, for several list lengths."""

from __future__ import annotations

import numpy as np

from orderflow.engine.pipeline import Pipeline
from orderflow.engine.runner import profile_summary
from orderflow.model.dtypes import TRADE_DTYPE
from orderflow.model.instruments import get_instrument
from orderflow.server.answer_reads import profile_body


def comb() -> Pipeline:
    pipe = Pipeline(get_instrument("ESH4"), "nt_depth")
    heights = [30, 4, 30, 31, 6, 29, 35, 4, 30, 7, 33, 29, 5, 36, 30, 28]  # some equal
    prices, sizes = [], []
    for k, h in enumerate(heights):
        for d in range(12):  # a peak of height h, troughs between of unequal depth
            prices.append(19_000 + 12 * k + d)
            sizes.append(max(1, h * 10 - abs(d - 6) * (h + k % 3)))
    trades = np.zeros(len(prices), dtype=TRADE_DTYPE)
    trades["ts_event"] = 1_704_200_000_000_000_000 + np.arange(len(prices))
    trades["price"], trades["size"] = prices, sizes
    trades["side"] = np.arange(len(prices)) % 2
    pipe.process_prints(trades)
    return pipe


def test_the_nodes_listed_are_the_summary_s() -> None:
    pipe = comb()
    prof = pipe.profiles.current
    assert prof is not None
    va = prof.value_area()
    assert va is not None
    nodes = prof.nodes()
    assert len(nodes.hvn) > 5 and len(nodes.lvn) > 5  # more than an answer lists (5)
    for top in range(max(len(nodes.hvn), len(nodes.lvn)) + 2):  # fewer, as many, more
        body, summary = profile_body(pipe, prof, va, top), profile_summary(pipe, top)
        assert summary is not None
        assert body["hvn"] == summary["hvn"] and body["lvn"] == summary["lvn"]
        assert len(body["hvn"]) == min(top, len(nodes.hvn))
        assert (body["poc"], body["vah"], body["val"]) == (summary["poc"], summary["vah"],
                                                           summary["val"])  # fmt: skip
