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

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from orderflow.core.units import PRICE_SCALE
from orderflow.model.enums import Side
from orderflow.server.bands import Flow

if TYPE_CHECKING:
    from orderflow.analytics.clusters import ClusterIds
    from orderflow.analytics.profile import ValueArea, VolumeProfile
    from orderflow.engine.pipeline import Pipeline

__all__ = ["VolumeFlows", "liquidity_items", "profile_body", "strength01", "volume_items"]

_BOOK_SIDE = {int(Side.BID): "bid", int(Side.ASK): "ask"}
#: a volume read's dominant aggressor (``read_ids``: 0 buy, 1 sell, 2 even) on the wire
_AGGRESSOR = ("buy", "sell", "none")


def strength01(raw: float) -> float:
    """A cluster's strength on the wire, in [0, 1): ``1 - T / v`` of the tracker's ``v / T``
    (0 at the qualifying threshold, 0.5 at twice it, towards 1 beyond); the same cluster has
    the same strength whatever the others."""
    return round(max(0.0, 1.0 - 1.0 / raw), 4) if raw > 0 else 0.0


def liquidity_items(
    pipe: Pipeline, ids: ClusterIds, now: int
) -> tuple[list[dict[str, Any]], list[Flow]]:
    """The liquidity clusters as an answer lists them, and their flows (for bands)."""
    rows, strengths = pipe.liquidity_clusters.read_ids(ids)
    if not rows:
        return [], []
    tf, scale = pipe.instrument.tick_fixed, PRICE_SCALE  # Instrument.to_price, inline
    g1 = pipe.liquidity_clusters.params.granularity - 1
    orders = pipe.kind == "mbo"  # a ladder (NinjaTrader's L2) counts no orders
    out = []
    for (sd, low, size, count, first, n), raw in zip(rows, strengths, strict=True):
        side = _BOOK_SIDE[sd]
        out.append({"id": f"liq-{side}-{n}", "kind": "liquidity", "low": low * tf / scale,
                    "high": (low + g1) * tf / scale, "size": size, "side": side,
                    "strength": round(max(0.0, 1.0 - 1.0 / raw), 4) if raw > 0 else 0.0,
                    "orders": count if orders else None,
                    "first_seen_ns": first, "last_seen_ns": now})  # fmt: skip
    return out, [Flow(r[1], r[1] + g1, 0, 0) for r in rows]


def volume_items(
    pipe: Pipeline, ids: ClusterIds, now: int
) -> tuple[list[dict[str, Any]], Iterable[Flow]]:
    """The volume clusters as an answer lists them (side: the dominant aggressor), and their
    flows (for bands, made only when iterated). One compiled call gives every cluster's id,
    low, size, first time and side (``VolumeClusterTracker.read_ids``)."""
    rows, strengths = pipe.volume_clusters.read_ids(ids)
    if not rows:
        return [], ()
    tf, scale = pipe.instrument.tick_fixed, PRICE_SCALE  # Instrument.to_price, inline
    g1 = pipe.volume_clusters.params.granularity - 1
    out = []
    for (n, low, volume, first, sd, _, _), raw in zip(rows, strengths, strict=True):
        out.append({"id": f"vol-{n}", "kind": "volume", "low": low * tf / scale,
                    "high": (low + g1) * tf / scale, "size": volume, "side": _AGGRESSOR[sd],
                    "strength": round(max(0.0, 1.0 - 1.0 / raw), 4) if raw > 0 else 0.0,
                    "orders": None, "first_seen_ns": first,
                    "last_seen_ns": now})  # fmt: skip
    return out, VolumeFlows(rows, g1)


class VolumeFlows:
    """The flows of a volume read's rows (``read_ids``'), each made when iterated: only a
    client of coarser bands needs them."""

    __slots__ = ("g1", "rows")

    def __init__(self, rows: list[list[int]], g1: int) -> None:
        self.rows, self.g1 = rows, g1

    def __iter__(self) -> Iterator[Flow]:
        g1 = self.g1
        return (Flow(r[1], r[1] + g1, r[5], r[6]) for r in self.rows)


def profile_body(pipe: Pipeline, prof: VolumeProfile, va: ValueArea, top: int
                 ) -> dict[str, Any]:  # fmt: skip
    """An answer's profile: POC, VAH, VAL, the ``top`` most pronounced HVN and LVN listed by
    price (``VolumeProfile.top_nodes``: chosen as ``engine.runner.profile_summary`` chooses
    them, in one compiled call), the total volume (``va``: ``prof``'s value area now)."""
    tf, scale = pipe.instrument.tick_fixed, PRICE_SCALE  # Instrument.to_price, inline
    hvn, lvn = prof.top_nodes(top)
    return {"poc": va.poc * tf / scale, "vah": va.vah * tf / scale, "val": va.val * tf / scale,
            "hvn": [p * tf / scale for p in hvn], "lvn": [p * tf / scale for p in lvn],
            "volume": va.total}  # fmt: skip
