"""What an answer carries beyond the book (protocol version 2): the instrument's liquidity and
volume clusters with stable ids, its session profile, the bid/ask size ratios, and signals
with every price in exchange units.

Clusters and profile go to a client in full when they changed since the previous answer to
that client for that instrument (and always in the first answer after its hello or a state
request), else as ``unchanged``. The check is incremental: each instrument keeps a version of
its clusters and of its profile, raised when a read of the trackers differs from what the
previous version said; each client's last version sent is an integer compared with it. An
answer that is ``unchanged`` costs two integer comparisons.

The clusters are read (and so can change version) only on a *material* change, which the
trackers count as they go (:attr:`~orderflow.analytics.clusters.LiquidityClusterTracker.material`):
a cluster began or ended (its id, bounds and side come and go with it), a volume cluster's
dominant aggressor changed, or a cluster's strength moved into another step of
``analytics.clusters.strength_steps``; else at most once per ``refresh_ms`` of data time
(sizes within a step, ``last_seen_ns``), and always for a state request. Between reads a
liquidity cluster's size moves with the book without costing a read. What a read sends is
exact as of that read: ``size``, ``strength`` and ``last_seen_ns`` are the trackers' at the
read's data time. A tracker whose last read found no cluster, and whose material count did
not move since, is not read again: it would find none (:func:`nothing_began`). See
docs/protocol.md ("Version 2").
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from orderflow.analytics.clusters import ClusterIds
from orderflow.engine.runner import profile_summary
from orderflow.server.answer_reads import (
    liquidity_items,
    profile_body,
    strength01,
    volume_items,
)
from orderflow.server.bands import Flow, coarsen

if TYPE_CHECKING:
    from orderflow.analytics.profile import ValueArea
    from orderflow.engine.pipeline import Pipeline
    from orderflow.model.instruments import Instrument
    from orderflow.signals.model import Signal

__all__ = ["Answers", "InstrumentAnswers", "evidence_prices", "signal_dict", "strength01"]

#: how HVN/LVN are listed: the most pronounced few, as /api/analytics lists them
PROFILE_NODES = 5
#: the default of ``server.cluster_refresh_ms``: clusters without a material change are read
#: again at most this often (data time)
REFRESH_MS = 30_000.0
_UNCHANGED_PROFILE = {"poc": None, "vah": None, "val": None, "hvn": None, "lvn": None,
                      "volume": None}  # fmt: skip


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
    liq_mat: int = -1  # the liquidity tracker's material-change counter when last read
    vol_mat: int = -1  # the volume tracker's
    read_ns: int = 0  # the trackers' data time (the later of the two) when last read
    #: the trackers' data time at the latest refresh: every cluster of the current version
    #: still stands then (no material change since its read)
    as_of_ns: int = 0
    #: a read without a material change comes at most this often (ns of data time)
    refresh_ns: int = round(REFRESH_MS * 1e6)
    liq_items: list[dict[str, Any]] = field(default_factory=list)
    vol_items: list[dict[str, Any]] = field(default_factory=list)
    liq_flows: Iterable[Flow] = ()
    #: (made when a client of coarser bands iterates them: ``answer_reads.VolumeFlows``)
    vol_flows: Iterable[Flow] = ()
    cluster_version: int = 0
    clusters: list[dict[str, Any]] = field(default_factory=list)
    #: granularity (ticks) -> (the cluster version they were built from, the bands)
    bands: dict[int, tuple[int, list[dict[str, Any]]]] = field(default_factory=dict)
    band_ids: dict[int, ClusterIds] = field(default_factory=dict)
    profile_seen: tuple[int, int] = (-1, -1)  # (the period's profile, its volume) when read
    #: (the period's profile, POC, VAL, VAH) when read: a change of it is a material change
    profile_va: tuple[int, int, int, int] | None = None
    profile_read_ns: int = 0  # the latest print's time when the profile was last read
    profile_version: int = 0
    profile: dict[str, Any] | None = None
    #: (the period's profile, its volume) at the latest check, and its value area then: a
    #: check of a profile that did not change since needs no value area again
    profile_checked: tuple[int, int] = (-1, -1)
    profile_checked_va: ValueArea | None = None
    liq_ids: ClusterIds = field(default_factory=ClusterIds)
    vol_ids: ClusterIds = field(default_factory=ClusterIds)
    #: client -> (last cluster version sent, last profile version sent); absent: send in full
    sent: dict[str | None, tuple[int, int]] = field(default_factory=dict)

    def refresh(self, pipe: Pipeline, force: bool = False) -> None:
        """Read a tracker again if it moved since the last read *and* a material change came
        or ``refresh_ns`` of data time passed since that read (``force``: whenever it moved),
        and raise a version only when what it says changed. O(1) when no read is due; else
        O(buckets + levels) for the clusters, O(price levels) for the profile (when prints
        came)."""
        liq, vol = pipe.liquidity_clusters, pipe.volume_clusters
        liq_moved = liq.changes != self.liq_seen and pipe.book is not None
        vol_moved = vol.changes != self.vol_seen
        now = self.as_of_ns = max(liq.now_ns, vol.now_ns)
        due = force or (
            (liq_moved and liq.material != self.liq_mat)
            or (vol_moved and vol.material != self.vol_mat)
            or ((liq_moved or vol_moved) and now - self.read_ns >= self.refresh_ns)
        )
        # a read due for one kind reads the other too: a new version is exact for both as of
        # this answer (the last seen of both is the later tracker's time: neither the book nor
        # the prints changed since their own last update)
        if due and (liq_moved or vol_moved):
            if pipe.book is not None:
                self.liq_seen = liq.changes
                self.liq_items, self.liq_flows = self.read_liquidity(pipe, now)
                self.liq_mat = liq.material
            self.vol_seen = vol.changes
            self.vol_items, self.vol_flows = self.read_volume(pipe, now)
            self.vol_mat = vol.material
            self.read_ns = now
            items = self.liq_items + self.vol_items
            if items != self.clusters:
                self.clusters, self.cluster_version = items, self.cluster_version + 1
        prof = pipe.profiles.current
        pseen = (-1, -1) if prof is None else (id(prof), prof.total)
        if pseen == self.profile_seen:
            return
        va = self.value_area(prof, pseen)
        va_key = None if va is None else (id(prof), va.poc, va.val, va.vah)
        if (
            force
            or va_key != self.profile_va
            or vol.now_ns - self.profile_read_ns >= self.refresh_ns
        ):
            self.profile_seen, self.profile_va, self.profile_read_ns = pseen, va_key, vol.now_ns
            body = self.read_profile(pipe, prof, va)
            if body != self.profile:
                self.profile, self.profile_version = body, self.profile_version + 1

    def clusters_at(self, granularity: int | None, tracker_granularity: int,
                    to_price: Any) -> list[dict[str, Any]]:  # fmt: skip
        """The clusters as a client of ``granularity`` ticks gets them: as they are (None, or
        no coarser than the trackers'), else in bands (:mod:`.bands`), built once per version
        and granularity."""
        if granularity is None or granularity <= tracker_granularity:
            return self.clusters
        built = self.bands.get(granularity)
        if built is None or built[0] != self.cluster_version:
            ids = self.band_ids.setdefault(granularity, ClusterIds())
            flows = [*self.liq_flows, *self.vol_flows]
            built = (self.cluster_version,
                     coarsen(self.clusters, flows, granularity, to_price, ids))  # fmt: skip
            self.bands[granularity] = built
        return built[1]

    # ---- the reads (tests/reference/answers.py overrides them with the trackers' own) -----
    def read_liquidity(
        self, pipe: Pipeline, now: int
    ) -> tuple[list[dict[str, Any]], Iterable[Flow]]:
        """The liquidity clusters' items and flows, read at data time ``now``; none without
        reading when the last read found none and no material change came since (no cluster
        began: the read would find none again, :func:`nothing_began`)."""
        if nothing_began(self.liq_items, self.liq_mat, pipe.liquidity_clusters.material):
            return [], []
        return liquidity_items(pipe, self.liq_ids, now)

    def read_volume(self, pipe: Pipeline, now: int) -> tuple[list[dict[str, Any]], Iterable[Flow]]:
        """The volume clusters' items and flows, read at data time ``now``; none without
        reading when the last read found none and no material change came since."""
        if nothing_began(self.vol_items, self.vol_mat, pipe.volume_clusters.material):
            return [], []
        return volume_items(pipe, self.vol_ids, now)

    def value_area(self, prof: Any, pseen: tuple[int, int]) -> ValueArea | None:
        """The value area of the current profile ``prof`` (``pseen``: its identity and
        volume), computed again only when those changed since the last check."""
        if pseen != self.profile_checked:
            self.profile_checked = pseen
            self.profile_checked_va = prof.value_area() if prof is not None else None
        return self.profile_checked_va

    def read_profile(
        self, pipe: Pipeline, prof: Any, va: ValueArea | None
    ) -> dict[str, Any] | None:
        """The answer's profile, from the value area just checked."""
        if prof is None or va is None:
            return profile_answer(pipe)
        return profile_body(pipe, prof, va, PROFILE_NODES)


def nothing_began(items: list[Any], seen: int, material: int) -> bool:
    """Whether a tracker's read would find no cluster: the last read (``items``, at material
    count ``seen``) found none, and the tracker's material count (``material``: a cluster
    began or ended, a strength step or side changed, a period began) did not move since, so
    no cluster began. Such a read is due only because the other tracker moved or the
    refresh interval passed, and would give the same empty items (its ids forget nothing:
    they hold none)."""
    return not items and seen == material


def profile_answer(pipe: Pipeline) -> dict[str, Any] | None:
    """The answer's profile from the pipeline's summary of it (None before any print)."""
    p = profile_summary(pipe, PROFILE_NODES)
    if p is None:
        return None
    return {"poc": p["poc"], "vah": p["vah"], "val": p["val"], "hvn": p["hvn"],
            "lvn": p["lvn"], "volume": p["total"]}  # fmt: skip


class Answers:
    """Every instrument's :class:`InstrumentAnswers`, and what each client was last sent."""

    #: what each instrument's answers are kept in
    kind: type[InstrumentAnswers] = InstrumentAnswers

    def __init__(self, refresh_ms: float = REFRESH_MS) -> None:
        self.of: dict[str, InstrumentAnswers] = {}
        self._refresh_ns = round(refresh_ms * 1e6)
        #: client -> the cluster granularity (ticks) its hello asked for
        self.granularity: dict[str | None, int] = {}

    def set_granularity(self, client: str | None, ticks: int | None) -> None:
        """Client ``client`` draws clusters ``ticks`` wide (its hello's
        ``cluster_granularity``); None: the server's granularity."""
        if ticks is None:
            self.granularity.pop(client, None)
        else:
            self.granularity[client] = ticks

    def _items(self, ia: InstrumentAnswers, pipe: Pipeline, to: str | None) -> list[Any]:
        g = self.granularity.get(to)
        if g is None:
            return ia.clusters
        tracker_g = pipe.liquidity_clusters.params.granularity
        return ia.clusters_at(g, tracker_g, pipe.instrument.to_price)

    @property
    def refresh_ms(self) -> float:
        """``server.cluster_refresh_ms``: clusters and profile without a material change are
        read again at most this often, in data time (0: at every change)."""
        return self._refresh_ns / 1e6

    @refresh_ms.setter
    def refresh_ms(self, ms: float) -> None:
        self._refresh_ns = round(ms * 1e6)
        for ia in self.of.values():
            ia.refresh_ns = self._refresh_ns

    def _get(self, pipe: Pipeline) -> InstrumentAnswers:
        ia = self.of.get(pipe.name)
        if ia is None:
            ia = self.of[pipe.name] = self.kind(refresh_ns=self._refresh_ns)
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
            clusters: dict[str, Any] = {"state": "unchanged", "version": cv, "items": None,
                                        "as_of_ns": ia.as_of_ns}  # fmt: skip
        else:
            clusters = {"state": "full", "version": cv, "items": self._items(ia, pipe, to),
                        "as_of_ns": ia.as_of_ns}  # fmt: skip
        if ia.profile is None:
            return clusters, None
        if last is not None and last[1] == pv:
            return clusters, {"state": "unchanged", "version": pv, **_UNCHANGED_PROFILE}
        return clusters, {"state": "full", "version": pv, **ia.profile}

    def full(
        self, pipe: Pipeline, to: str | None = None
    ) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """Clusters and profile in full (a ``state`` answer) for client ``to`` (at its
        granularity): read now if the trackers moved since the last read, material change or
        not."""
        ia = self._get(pipe)
        ia.refresh(pipe, force=True)
        items = self._items(ia, pipe, to)
        clusters = {"state": "full", "version": ia.cluster_version, "items": items,
                    "as_of_ns": ia.as_of_ns}  # fmt: skip
        if ia.profile is None:
            return clusters, None
        return clusters, {"state": "full", "version": ia.profile_version, **ia.profile}

    def forget(self, client: str | None, instrument: str | None = None) -> None:
        """The next answer to ``client`` (of ``instrument``, or of every instrument) carries
        clusters and profile in full: after its hello, after its state request."""
        for key, ia in self.of.items():
            if instrument is None or key == instrument:
                ia.sent.pop(client, None)
