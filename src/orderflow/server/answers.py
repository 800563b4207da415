"""What an answer carries beyond the book (protocol version 2): the instrument's liquidity and
volume clusters with stable ids, its session profile, the bid/ask size ratios, and signals
with every price in exchange units.

Clusters and profile go to a client in full when they changed since the previous answer to
that client for that instrument (and always in the first answer after its hello or a state
request), else as ``unchanged``. The check is incremental: each instrument keeps a version of
its clusters and of its profile, raised when the trackers moved *and* what they now say differs
from what the previous version said (read at most once per batch, whoever asks); each client's
last version sent is an integer compared with it. An answer that is ``unchanged`` costs two
integer comparisons. See docs/protocol.md ("Version 2").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from orderflow.analytics.clusters import ClusterIds
from orderflow.engine.runner import profile_summary
from orderflow.model.enums import Side

if TYPE_CHECKING:
    from orderflow.engine.pipeline import Pipeline
    from orderflow.model.instruments import Instrument
    from orderflow.signals.model import Signal

__all__ = ["Answers", "InstrumentAnswers", "evidence_prices", "signal_dict", "strength01"]

#: how HVN/LVN are listed: the most pronounced few, as /api/analytics lists them
PROFILE_NODES = 5
_BOOK_SIDE = {int(Side.BID): "bid", int(Side.ASK): "ask"}
#: a volume cluster's side is its dominant aggressor (TRADE_DTYPE: BID = buyers lifted)
_AGGRESSOR = {int(Side.BID): "buy", int(Side.ASK): "sell", int(Side.NONE): "none"}
_UNCHANGED_PROFILE = {"poc": None, "vah": None, "val": None, "hvn": None, "lvn": None,
                      "volume": None}  # fmt: skip


def strength01(raw: float) -> float:
    """A cluster's strength on the wire, in [0, 1): ``1 - T / v`` of the tracker's ``v / T``
    (0 at the qualifying threshold, 0.5 at twice it, towards 1 beyond); the same cluster has
    the same strength whatever the others."""
    return round(max(0.0, 1.0 - 1.0 / raw), 4) if raw > 0 else 0.0


def _is_price(key: str) -> bool:
    return key in ("price", "prices") or key.endswith(("_price", "_prices"))


def evidence_prices(evidence: dict[str, Any], inst: Instrument) -> dict[str, Any]:
    """A signal's evidence with its prices (keys ``price``, ``prices``, ``*_price``,
    ``*_prices``: ticks in the engine) in exchange units; distances keep their ticks, and
    their names say so (``run_ticks``, ``ticks_from_touch``)."""
    px = inst.to_price
    out = dict(evidence)
    for key, v in evidence.items():
        if not _is_price(key) or v is None:
            continue
        out[key] = [px(int(x)) for x in v] if isinstance(v, list) else px(int(v))
    return out


def signal_dict(signal: Signal, inst: Instrument) -> dict[str, Any]:
    """A signal as the wire carries it: its price and its evidence's prices in exchange
    units."""
    out = signal.to_dict()
    out["price"] = inst.to_price(signal.price)
    out["evidence"] = evidence_prices(signal.evidence, inst)
    return out


@dataclass(slots=True)
class InstrumentAnswers:
    """One instrument's clusters and profile as last read, with their versions."""

    liq_seen: int = -1  # the liquidity tracker's change counter when last read
    vol_seen: int = -1  # the volume tracker's
    liq_items: list[dict[str, Any]] = field(default_factory=list)
    vol_items: list[dict[str, Any]] = field(default_factory=list)
    cluster_version: int = 0
    clusters: list[dict[str, Any]] = field(default_factory=list)
    profile_seen: tuple[int, int] = (-1, -1)  # (the period's profile, its volume) when read
    profile_version: int = 0
    profile: dict[str, Any] | None = None
    liq_ids: ClusterIds = field(default_factory=ClusterIds)
    vol_ids: ClusterIds = field(default_factory=ClusterIds)
    #: client -> (last cluster version sent, last profile version sent); absent: send in full
    sent: dict[str | None, tuple[int, int]] = field(default_factory=dict)

    def refresh(self, pipe: Pipeline) -> None:
        """Read a tracker again if it moved since the last read, and raise a version only
        when what it says changed. O(1) when none moved; else O(buckets + levels) for the
        clusters, O(price levels) for the profile (when prints came)."""
        liq, vol = pipe.liquidity_clusters, pipe.volume_clusters
        moved = False
        if liq.changes != self.liq_seen and pipe.book is not None:
            self.liq_seen, self.liq_items, moved = liq.changes, self._liquidity(pipe), True
        if vol.changes != self.vol_seen:
            self.vol_seen, self.vol_items, moved = vol.changes, self._volume(pipe), True
        if moved:
            items = self.liq_items + self.vol_items
            if items != self.clusters:
                self.clusters, self.cluster_version = items, self.cluster_version + 1
        prof = pipe.profiles.current
        pseen = (-1, -1) if prof is None else (id(prof), prof.total)
        if pseen != self.profile_seen:
            self.profile_seen = pseen
            body = _profile(pipe)
            if body != self.profile:
                self.profile, self.profile_version = body, self.profile_version + 1

    def _liquidity(self, pipe: Pipeline) -> list[dict[str, Any]]:
        tracker, px = pipe.liquidity_clusters, pipe.instrument.to_price
        found = tracker.clusters()
        ids = self.liq_ids.assign([(int(c.side), c.low, c.first_ns) for c in found])
        orders = pipe.kind == "mbo"  # a ladder (NinjaTrader's L2) counts no orders
        now, out = tracker.now_ns, []
        for n, c in zip(ids, found, strict=True):
            side = _BOOK_SIDE[int(c.side)]
            out.append({"id": f"liq-{side}-{n}", "kind": "liquidity", "low": px(c.low),
                        "high": px(c.high), "size": c.size, "side": side,
                        "strength": strength01(c.strength),
                        "orders": c.orders if orders else None,
                        "first_seen_ns": c.first_ns, "last_seen_ns": now})  # fmt: skip
        return out

    def _volume(self, pipe: Pipeline) -> list[dict[str, Any]]:
        tracker, px = pipe.volume_clusters, pipe.instrument.to_price
        found = tracker.clusters()
        ids = self.vol_ids.assign([(v.low, v.first_ns) for v in found])
        now, out = tracker.now_ns, []
        for n, v in zip(ids, found, strict=True):
            out.append({"id": f"vol-{n}", "kind": "volume", "low": px(v.low), "high": px(v.high),
                        "size": v.volume, "side": _AGGRESSOR[int(v.side)],
                        "strength": strength01(v.strength), "orders": None,
                        "first_seen_ns": v.first_ns, "last_seen_ns": now})  # fmt: skip
        return out


def _profile(pipe: Pipeline) -> dict[str, Any] | None:
    p = profile_summary(pipe, PROFILE_NODES)
    if p is None:
        return None
    return {"poc": p["poc"], "vah": p["vah"], "val": p["val"], "hvn": p["hvn"],
            "lvn": p["lvn"], "volume": p["total"]}  # fmt: skip


class Answers:
    """Every instrument's :class:`InstrumentAnswers`, and what each client was last sent."""

    def __init__(self) -> None:
        self.of: dict[str, InstrumentAnswers] = {}

    def _get(self, pipe: Pipeline) -> InstrumentAnswers:
        ia = self.of.get(pipe.name)
        if ia is None:
            ia = self.of[pipe.name] = InstrumentAnswers()
        return ia

    def for_ack(
        self, pipe: Pipeline, to: str | None
    ) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """The ``clusters`` and ``profile`` of an answer to client ``to`` (None: a caller
        without a name, e.g. an in-process one), full or unchanged; recorded as sent."""
        ia = self._get(pipe)
        ia.refresh(pipe)
        cv, pv = ia.cluster_version, ia.profile_version
        last = ia.sent.get(to)
        ia.sent[to] = (cv, pv)
        if last is not None and last[0] == cv:
            clusters: dict[str, Any] = {"state": "unchanged", "version": cv, "items": None}
        else:
            clusters = {"state": "full", "version": cv, "items": ia.clusters}
        if ia.profile is None:
            return clusters, None
        if last is not None and last[1] == pv:
            return clusters, {"state": "unchanged", "version": pv, **_UNCHANGED_PROFILE}
        return clusters, {"state": "full", "version": pv, **ia.profile}

    def full(self, pipe: Pipeline) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """Clusters and profile in full (a ``state`` answer), whoever asks."""
        ia = self._get(pipe)
        ia.refresh(pipe)
        clusters = {"state": "full", "version": ia.cluster_version, "items": ia.clusters}
        if ia.profile is None:
            return clusters, None
        return clusters, {"state": "full", "version": ia.profile_version, **ia.profile}

    def forget(self, client: str | None, instrument: str | None = None) -> None:
        """The next answer to ``client`` (of ``instrument``, or of every instrument) carries
        clusters and profile in full: after its hello, after its state request."""
        for key, ia in self.of.items():
            if instrument is None or key == instrument:
                ia.sent.pop(client, None)
