"""Operations: Prometheus metrics and anomaly alerts.

Metrics live in one registry per application (several servers in one process, as in the
tests, never collide): batches and updates by transport and kind, errors by kind, duplicates
and gaps, WebSocket connections, processing time per stage, book staleness per instrument.

Alerts (kept, newest last, in ``/health`` and logged as warnings):

- ``stale_book``: a gap, an IsReset or a price-order break made a ladder untrustworthy;
- ``crossed_book``: best bid at or above best ask after a batch, outside the pre-open (the 30
  minutes before the session opens, when CME books cross by design) and while the ladder is
  stale (that is its own alert);
- ``clock_skew``: receive time minus the batch's last event time grew more than ``skew_ns``
  beyond where it stood at the instrument's first batch: the feed is falling behind, or
  NinjaTrader's clock jumped back (a market replay's constant offset is not an anomaly, nor is
  a replay running faster than real time). The offset itself is in ``/health``;
- ``latency_spike``: one batch took longer than ``spike_us`` to process (batches applied
  together count their average) (not counted for an
  instrument's first 10 batches, while the process loads its compiled kernels).
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

__all__ = ["Alerts", "Monitor"]

log = logging.getLogger("orderflow.server")

_BUCKETS = (25e-6, 50e-6, 100e-6, 200e-6, 500e-6, 1e-3, 2e-3, 5e-3, 10e-3, 50e-3, 0.25, 1.0)


class Monitor:
    """The application's Prometheus metrics."""

    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.batches = Counter("orderflow_batches", "Batches received", ["transport"], registry=r)
        self.updates = Counter("orderflow_updates", "Events applied", ["kind"], registry=r)
        self.errors = Counter("orderflow_errors", "Refused messages", ["kind"], registry=r)
        self.duplicates = Counter("orderflow_duplicate_batches", "Duplicates", registry=r)
        self.gaps = Counter("orderflow_sequence_gaps", "Sequence gaps", registry=r)
        self.connections = Gauge("orderflow_ws_connections", "Open WebSockets", registry=r)
        self.stage = Histogram("orderflow_stage_seconds", "Processing time per stage", ["stage"],
                               buckets=_BUCKETS, registry=r)  # fmt: skip
        self.throttled = Counter("orderflow_ws_throttled", "Messages delayed by the rate limit",
                                 registry=r)  # fmt: skip
        self.queue = Gauge("orderflow_send_queue", "Messages waiting to go out to a client",
                           ["client"], registry=r)  # fmt: skip
        self.stale = Gauge("orderflow_book_stale", "1 when a ladder needs a snapshot",
                           ["instrument"], registry=r)  # fmt: skip

        #: (metric, label) -> its labelled child: ``labels()`` takes a lock and builds a key
        #: at every call, a dict lookup does not (for the metrics of every applied batch)
        self._children: dict[tuple[int, str], Any] = {}

    def child(self, metric: Any, label: str) -> Any:
        """``metric.labels(label)``, looked up once (never for a metric whose children are
        removed, as ``queue``'s are)."""
        key = (id(metric), label)
        got = self._children.get(key)
        if got is None:
            got = self._children[key] = metric.labels(label)
        return got

    def render(self) -> bytes:
        return generate_latest(self.registry)


@dataclass(slots=True)
class Alert:
    ts_ns: int
    kind: str
    instrument: str
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return {"ts_ns": self.ts_ns, "kind": self.kind, "instrument": self.instrument,
                "detail": self.detail}  # fmt: skip


class Alerts:
    """Anomalies seen, the last ``keep`` of them, each logged once as a warning."""

    def __init__(self, keep: int = 100, skew_ns: int = 5_000_000_000, spike_us: float = 5_000):
        self.items: deque[Alert] = deque(maxlen=keep)
        self.skew_ns = skew_ns
        self.spike_us = spike_us
        self.counts: dict[str, int] = {}
        self.offset0: dict[str, int] = {}  # receive - event time at the first batch
        self.offset: dict[str, int] = {}

    def raise_(self, kind: str, instrument: str, detail: str) -> None:
        self.items.append(Alert(time.time_ns(), kind, instrument, detail))
        self.counts[kind] = self.counts.get(kind, 0) + 1
        log.warning("alert %s on %s: %s", kind, instrument, detail)

    def check(
        self,
        instrument: str,
        ack: Any,
        last_event_ns: int,
        recv_ns: int,
        top: tuple[float, float] | None,
        preopen: Callable[[], bool] = lambda: False,
        warm: bool = True,
    ) -> None:
        """Look at one applied batch (its ack) for anomalies; ``preopen`` is asked only of a
        crossed book. ``top``: the book's best bid and ask prices as the ack lists them, None
        when a side is empty (the Hub gives them: its ack's book may be encoded bytes)."""
        if top is not None and top[0] >= top[1] and not ack.stale and not preopen():
            self.raise_("crossed_book", instrument, f"bid {top[0]} >= ask {top[1]}")
        if last_event_ns:
            off = recv_ns - last_event_ns
            base = self.offset0.setdefault(instrument, off)
            self.offset[instrument] = off
            if off - base > self.skew_ns:
                late = f"the feed is {(off - base) / 1e9:.3f} s later than it was"
                self.raise_("clock_skew", instrument, late)
                self.offset0[instrument] = off  # alert once per jump, not on every batch
            elif off < base:
                self.offset0[instrument] = off  # running ahead (a fast replay): new baseline
        per_batch = ack.processing_us / max(1, ack.seq - (ack.first_seq or ack.seq) + 1)
        if warm and per_batch > self.spike_us:
            self.raise_("latency_spike", instrument, f"batch took {per_batch:.0f} us")

    def to_list(self) -> list[dict[str, Any]]:
        return [a.to_dict() for a in self.items]
