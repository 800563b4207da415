"""Clusters grouped at a client's granularity: bounds aligned (widened, never cut, when the
width is no multiple of the trackers'), sizes summed, strongest strength, per kind and side,
ids that last while a band keeps a cluster."""

from __future__ import annotations

from orderflow.analytics.clusters import ClusterIds
from orderflow.model.instruments import get_instrument
from orderflow.server.bands import Flow, coarsen

ES = get_instrument("ESH4")


def _c(kind: str, side: str, low: int, size: int, strength: float, first: int,
       orders: int | None = None) -> tuple[dict, Flow]:  # fmt: skip
    item = {"id": "x", "kind": kind, "low": ES.to_price(low), "high": ES.to_price(low + 3),
            "size": size, "side": side, "strength": strength, "orders": orders,
            "first_seen_ns": first, "last_seen_ns": 100}  # fmt: skip
    buy, sell = (size, 0) if side == "buy" else (0, size) if side == "sell" else (0, 0)
    return item, Flow(low, low + 3, buy, sell)


def test_bands_group_per_kind_and_side_sum_sizes_and_keep_the_strongest():
    rows = [_c("liquidity", "bid", 19200, 50, 0.3, 5, 7),
            _c("liquidity", "bid", 19204, 70, 0.6, 3, 2),
            _c("liquidity", "ask", 19208, 40, 0.1, 9, 1), _c("volume", "buy", 19200, 30, 0.2, 4),
            _c("volume", "sell", 19204, 20, 0.5, 2)]  # fmt: skip
    items, flows = [r[0] for r in rows], [r[1] for r in rows]
    ids = ClusterIds()
    out = coarsen(items, flows, 8, ES.to_price, ids)
    got = [(c["id"], c["low"], c["high"], c["size"], c["side"], c["strength"], c["orders"],
            c["first_seen_ns"]) for c in out]  # fmt: skip
    assert got == [
        ("liq-bid-g8-1", 4800.0, 4801.75, 120, "bid", 0.6, 9, 3),
        ("liq-ask-g8-2", 4802.0, 4803.75, 40, "ask", 0.1, 1, 9),
        ("vol-g8-3", 4800.0, 4801.75, 50, "buy", 0.5, None, 2),  # buys 30 > sells 20
    ]
    # the next read: the bid band keeps one cluster (its id stays), the ask band is gone
    out = coarsen(items[1:2] + items[3:4], flows[1:2] + flows[3:4], 8, ES.to_price, ids)
    assert [(c["id"], c["size"]) for c in out] == [("liq-bid-g8-1", 70), ("vol-g8-3", 30)]
    out = coarsen(items[2:3], flows[2:3], 8, ES.to_price, ids)
    assert [c["id"] for c in out] == ["liq-ask-g8-4"]  # a band again: a new id


def test_a_width_that_is_no_multiple_widens_a_band_to_its_clusters():
    item, flow = _c("liquidity", "ask", 19204, 10, 0.2, 1)  # ticks 19204..19207
    (band,) = coarsen([item], [flow], 6, ES.to_price, ClusterIds())
    # 19204 // 6 = 3200: the band begins at 19200, is 6 ticks (to 19205), widened to 19207
    assert (band["low"], band["high"]) == (ES.to_price(19200), ES.to_price(19207))
