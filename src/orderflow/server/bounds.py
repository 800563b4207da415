"""The server's bounded resources in ``/metrics``: connections the watchdog closed or refused,
the engine scheduler's queue and turns, and the size of every per-client table and queue (so
an operator sees a table growing before it matters).

Read at scrape time from the live objects (no bookkeeping on the hot path).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from orderflow.server.limits import RestLimiters
from orderflow.server.scheduler import FairScheduler
from orderflow.server.watchdog import STATS

__all__ = ["BoundsCollector", "register_bounds"]


class BoundsCollector(Collector):
    """Prometheus collector over the scheduler, the connections and the hub's tables."""

    def __init__(self, sched: FairScheduler, conns: Mapping[str, Any], rest: RestLimiters,
                 tables: Callable[[], dict[str, int]]) -> None:  # fmt: skip
        self.sched = sched
        self.conns = conns
        self.rest = rest
        self.tables = tables

    def collect(self) -> Iterator[Any]:
        closed = CounterMetricFamily("orderflow_http_closed", "HTTP connections the watchdog "
                                     "closed or refused, by reason", labels=["reason"])  # fmt: skip
        closed.add_metric(["header_timeout"], STATS.header_timeouts)
        closed.add_metric(["idle_timeout"], STATS.idle_timeouts)
        closed.add_metric(["max_connections"], STATS.refused)
        yield closed
        yield GaugeMetricFamily("orderflow_open_connections", "Open HTTP and WebSocket "
                                "connections", value=STATS.open)  # fmt: skip
        s, st = self.sched, self.sched.stats
        yield GaugeMetricFamily("orderflow_engine_queued_events", "Decoded events waiting for "
                                "the engine, all clients", value=s.queued_events)  # fmt: skip
        yield GaugeMetricFamily("orderflow_engine_queue_budget", "The global budget of queued "
                                "events (server.engine_queue_events)", value=s.budget)  # fmt: skip
        yield GaugeMetricFamily("orderflow_engine_queued_clients", "Clients with events "
                                "waiting for the engine", value=s.queued_clients)  # fmt: skip
        yield GaugeMetricFamily("orderflow_engine_waiting", "Slices waiting for an engine turn",
                                value=s.waiting)  # fmt: skip
        turns = CounterMetricFamily("orderflow_engine_turns", "Engine slices granted, and how "
                                    "many had to wait for a turn", labels=["kind"])  # fmt: skip
        turns.add_metric(["all"], st.granted)
        turns.add_metric(["contended"], st.contended)
        yield turns
        yield CounterMetricFamily("orderflow_engine_overloaded", "Clients closed (or answered "
                                  "503) after waiting over server.engine_max_wait_s",
                                  value=st.overloaded)  # fmt: skip
        yield CounterMetricFamily("orderflow_engine_throttled", "Reads paused for a client over "
                                  "its share of the queue budget", value=st.throttled)  # fmt: skip
        sizes = GaugeMetricFamily("orderflow_table_size", "Entries in the server's per-client "
                                  "and per-instrument tables", labels=["table"])  # fmt: skip
        sizes.add_metric(["ws_clients"], len(self.conns))
        sizes.add_metric(["send_queue_messages"],
                         sum(c.queue.qsize() for c in list(self.conns.values())))  # fmt: skip
        sizes.add_metric(["rest_limiters"], len(self.rest))
        for name, n in self.tables().items():
            sizes.add_metric([name], n)
        yield sizes


def register_bounds(registry: CollectorRegistry, sched: FairScheduler, conns: Mapping[str, Any],
                    rest: RestLimiters, hub: Any) -> None:  # fmt: skip
    """Add the bounds of the server to ``registry`` (the app's ``/metrics``)."""

    def tables() -> dict[str, int]:
        return {"instruments": len(hub.instruments), "client_sequences": len(hub.last_seq),
                "client_names": len(hub.names)}  # fmt: skip

    registry.register(BoundsCollector(sched, conns, rest, tables))
