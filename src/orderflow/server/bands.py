"""Clusters at a client's own granularity: the instrument's clusters grouped into bands.

A client may say in its hello how wide it draws a cluster (``cluster_granularity``, ticks:
NinjaTrader's cluster increment). The trackers keep one granularity for everyone
(``analytics.clusters.granularity``, ``g``); a client asking for ``G > g`` gets, instead of
the clusters, *bands*: the clusters grouped by ``floor(low / G)`` (``low`` the cluster's lowest
price in ticks), per kind and, for liquidity, per book side. A band is:

- ``low`` = ``b * G`` and ``high`` = ``b * G + G - 1`` ticks (in exchange units on the wire),
  widened to the highest price of its clusters when ``G`` is no multiple of ``g`` (a cluster
  is never cut);
- ``size``: the sum of its clusters' sizes (resting size, or traded volume);
- ``side``: liquidity the book side; volume the dominant aggressor of its clusters' buys and
  sells summed (``buy``, ``sell``, ``none`` when even);
- ``strength``: its strongest cluster's; ``orders``: the sum, or null when not counted;
- ``first_seen_ns``: its clusters' earliest birth; ``last_seen_ns``: their latest.

A band's id (``liq-bid-g8-N``, ``vol-g8-N``) lasts while the band keeps at least one cluster
from one read of the clusters to the next; ids count per granularity and are never given again.
A granularity of ``g`` or less changes nothing: the clusters go as they are. No tracker is made
per client: the bands are built from the instrument's clusters once per version and
granularity, whoever asks. O(clusters).
"""

from __future__ import annotations

from typing import Any, NamedTuple

from orderflow.analytics.clusters import ClusterIds

__all__ = ["Flow", "coarsen"]

#: a band's kind and side as the first column of its id key (the band the second)
_BAND_KIND = {("liquidity", "bid"): 0, ("liquidity", "ask"): 1, ("volume", None): 2}


class Flow(NamedTuple):
    """What a band needs of a cluster beyond its wire form: its bounds in ticks and, for a
    volume cluster, its buys and sells."""

    low: int
    high: int
    buy: int
    sell: int


def coarsen(
    items: list[dict[str, Any]],
    flows: list[Flow],
    granularity: int,
    to_price: Any,
    ids: ClusterIds,
) -> list[dict[str, Any]]:
    """The bands of ``granularity`` ticks over ``items`` (the clusters as the wire has them,
    liquidity bids, asks, then volume, each ascending in price) with their ``flows``; the same
    order. ``ids`` keeps the band ids of this granularity across reads."""
    g = granularity
    groups: dict[tuple[str, str | None, int], list[int]] = {}
    for k, (it, fl) in enumerate(zip(items, flows, strict=True)):
        side = it["side"] if it["kind"] == "liquidity" else None
        groups.setdefault((it["kind"], side, fl.low // g), []).append(k)
    keys = list(groups)
    numbers = ids.assign([(_BAND_KIND[kind, side], b) for kind, side, b in keys])
    out = []
    for (kind, side, b), n in zip(keys, numbers, strict=True):
        members = [items[k] for k in groups[(kind, side, b)]]
        mflows = [flows[k] for k in groups[(kind, side, b)]]
        if kind == "volume":
            buy, sell = sum(f.buy for f in mflows), sum(f.sell for f in mflows)
            side_out = "buy" if buy > sell else "sell" if sell > buy else "none"
            name = f"vol-g{g}-{n}"
        else:
            side_out = side or ""
            name = f"liq-{side}-g{g}-{n}"
        orders = [m["orders"] for m in members]
        out.append({
            "id": name, "kind": kind, "low": to_price(b * g),
            "high": to_price(max(b * g + g - 1, *(f.high for f in mflows))),
            "size": sum(m["size"] for m in members), "side": side_out,
            "strength": max(m["strength"] for m in members),
            "orders": None if None in orders else sum(orders),
            "first_seen_ns": min(m["first_seen_ns"] for m in members),
            "last_seen_ns": max(m["last_seen_ns"] for m in members),
        })  # fmt: skip
    return out
