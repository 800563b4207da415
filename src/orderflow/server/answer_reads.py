"""An answer's clusters and profile read from the trackers in one compiled pass each.

The same items as tests/reference/answers.py builds from the trackers' ``clusters()`` (the
reference the tests hold this one to):
the same ids, prices, sizes, sides and strengths, in the same order. The trackers' ``read()``
gives each cluster's columns from their arrays at once, so a read builds no named tuple and
makes no Python pass over the buckets; what is left here is one dict per cluster. The
profile's body comes from the value area its change check already computed and the nodes'
rows, as ``engine.runner.profile_summary`` lists them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from orderflow.core.units import PRICE_SCALE
from orderflow.model.enums import Side
from orderflow.server.bands import Flow

if TYPE_CHECKING:
    from orderflow.analytics.clusters import ClusterIds
    from orderflow.analytics.profile import ValueArea, VolumeProfile
    from orderflow.engine.pipeline import Pipeline

__all__ = ["liquidity_items", "profile_body", "strength01", "volume_items"]

_BOOK_SIDE = {int(Side.BID): "bid", int(Side.ASK): "ask"}


def strength01(raw: float) -> float:
    """A cluster's strength on the wire, in [0, 1): ``1 - T / v`` of the tracker's ``v / T``
    (0 at the qualifying threshold, 0.5 at twice it, towards 1 beyond); the same cluster has
    the same strength whatever the others."""
    return round(max(0.0, 1.0 - 1.0 / raw), 4) if raw > 0 else 0.0


def liquidity_items(
    pipe: Pipeline, ids: ClusterIds, now: int
) -> tuple[list[dict[str, Any]], list[Flow]]:
    """The liquidity clusters as an answer lists them, and their flows (for bands)."""
    rows, strengths = pipe.liquidity_clusters.read()
    if not rows:
        ids.assign([])  # every cluster of the last read ended
        return [], []
    tf, scale = pipe.instrument.tick_fixed, PRICE_SCALE  # Instrument.to_price, inline
    numbers = ids.assign([(r[0], r[1], r[4]) for r in rows])
    g1 = pipe.liquidity_clusters.params.granularity - 1
    orders = pipe.kind == "mbo"  # a ladder (NinjaTrader's L2) counts no orders
    out = []
    for n, (sd, low, size, count, first), raw in zip(numbers, rows, strengths, strict=True):
        side = _BOOK_SIDE[sd]
        out.append({"id": f"liq-{side}-{n}", "kind": "liquidity", "low": low * tf / scale,
                    "high": (low + g1) * tf / scale, "size": size, "side": side,
                    "strength": round(max(0.0, 1.0 - 1.0 / raw), 4) if raw > 0 else 0.0,
                    "orders": count if orders else None,
                    "first_seen_ns": first, "last_seen_ns": now})  # fmt: skip
    return out, [Flow(r[1], r[1] + g1, 0, 0) for r in rows]


def volume_items(
    pipe: Pipeline, ids: ClusterIds, now: int
) -> tuple[list[dict[str, Any]], list[Flow]]:
    """The volume clusters as an answer lists them (side: the dominant aggressor), and their
    flows (for bands)."""
    rows, strengths = pipe.volume_clusters.read()
    if not rows:
        ids.assign([])  # every cluster of the last read ended
        return [], []
    tf, scale = pipe.instrument.tick_fixed, PRICE_SCALE  # Instrument.to_price, inline
    numbers = ids.assign([(r[0], r[4]) for r in rows])
    g1 = pipe.volume_clusters.params.granularity - 1
    out = []
    for n, (low, volume, buy, sell, first), raw in zip(numbers, rows, strengths, strict=True):
        side = "buy" if buy > sell else "sell" if sell > buy else "none"
        out.append({"id": f"vol-{n}", "kind": "volume", "low": low * tf / scale,
                    "high": (low + g1) * tf / scale, "size": volume, "side": side,
                    "strength": round(max(0.0, 1.0 - 1.0 / raw), 4) if raw > 0 else 0.0,
                    "orders": None, "first_seen_ns": first,
                    "last_seen_ns": now})  # fmt: skip
    return out, [Flow(r[0], r[0] + g1, r[2], r[3]) for r in rows]


def profile_body(pipe: Pipeline, prof: VolumeProfile, va: ValueArea, top: int
                 ) -> dict[str, Any]:  # fmt: skip
    """An answer's profile: POC, VAH, VAL, the ``top`` most pronounced HVN and LVN listed by
    price, the total volume (``va``: ``prof``'s value area now)."""
    tf, scale = pipe.instrument.tick_fixed, PRICE_SCALE  # Instrument.to_price, inline
    hvn: list[tuple[int, int]] = []
    lvn: list[tuple[int, int]] = []
    for kind, price, w in prof.node_rows():
        (hvn if kind == 1 else lvn).append((w, price))
    return {"poc": va.poc * tf / scale, "vah": va.vah * tf / scale, "val": va.val * tf / scale,
            "hvn": _top_nodes(hvn, tf, top, strongest=True),
            "lvn": _top_nodes(lvn, tf, top, strongest=False), "volume": va.total}  # fmt: skip


def _top_nodes(nodes: list[tuple[int, int]], tf: int, top: int, strongest: bool) -> list[Any]:
    """``profile_summary``'s choice: the ``top`` highest (HVN) or lowest (LVN) box sums (the
    smoothed volume times a constant; a stable sort keeps price order among equals), listed
    by price (``tf``: the tick in fixed point). ``nodes`` come in ascending price, each at a
    price of its own (``node_rows``): when there are no more than ``top``, every one is
    chosen and they are listed as they come (nearly every read: a profile has a few)."""
    if len(nodes) > top:
        nodes = sorted(nodes, key=lambda n: -n[0] if strongest else n[0])[:top]
        nodes.sort(key=lambda n: n[1])
    scale = PRICE_SCALE
    return [p * tf / scale for _, p in nodes]
