"""The long way of the Hub's bookkeeping around a batch's pipeline pass, as it was before its
shortcuts: every time of a batch gathered into lists and compared, an instrument's owner
re-claimed from scratch by its own next batch, every trading client's desk marked by every
print (with or without a position), the heal bookkeeping called for every batch, and a fresh
count of refusals for each batch. :func:`long_way` makes a Hub go this way, so that tests can
compare its state and answers with the shortcuts'."""

from __future__ import annotations

import types
from collections import Counter
from collections.abc import Iterator
from typing import Any

import numpy as np

from orderflow.core.errors import InstrumentOwnedError, RequestError
from orderflow.model.instruments import Instrument
from orderflow.protocol import EARLIEST_NS, FUTURE_NS, Batch, SnapshotRequest, column_array
from orderflow.server.feeds import RETRY_FIRST_S, Feeds
from orderflow.server.hub import Hub, InstrumentState
from orderflow.server.trading import ServerTrading


def _times(batch: Batch) -> Iterator[tuple[str, list[int] | np.ndarray]]:
    c = batch.columns
    if c is not None and c.n:
        yield "columns.t", column_array(c, "t") if isinstance(c.t, bytes) else c.t
    for name in ("depth", "ticks", "bars", "orders", "executions", "positions"):
        items = getattr(batch, name)
        if items:
            yield name, [x.t for x in items]


def check_batch(batch: Batch, recv_ns: int) -> None:
    """:func:`orderflow.protocol.check_batch` the long way."""
    latest = recv_ns + FUTURE_NS
    for name, ts in _times(batch):
        if isinstance(ts, np.ndarray):
            if ts.min() >= EARLIEST_NS and ts.max() <= latest:
                continue
            ts = ts.tolist()
        elif min(ts) >= EARLIEST_NS and max(ts) <= latest:
            continue
        i = next(k for k, t in enumerate(ts) if not EARLIEST_NS <= t <= latest)
        field = f"{name}[{i}]" if name == "columns.t" else f"{name}[{i}].t"
        when = "before 1980-01-01" if ts[i] < EARLIEST_NS else "more than a day after receipt"
        raise RequestError(
            f"{field}: {ts[i]} is not a plausible time (ns since 1970-01-01 UTC): {when}",
            field=field,
        )


def claim(self: Feeds, key: str, client: str) -> None:
    """:meth:`Feeds.claim` the long way."""
    now = self.clock()
    owner = self.owners.get(key)
    if owner != client:
        if owner is not None and not self._gone(owner, now):
            self.refused += 1
            raise InstrumentOwnedError(
                f"instrument: {key} is fed by client {owner!r}; a batch for it from "
                f"{client!r} is refused",
                field="instrument",
                owner=owner,
            )
        self.passed_on += owner is not None
        ask = self.asks.get(key)
        if ask is not None:
            ask.next_at, ask.retry = now, RETRY_FIRST_S
    self.owners[key] = client
    self.seen[client] = now


def prints(self: ServerTrading, client: str | None, inst: Instrument, last_price: float) -> None:
    """:meth:`ServerTrading.prints` the long way: every client's desk marked."""
    key = inst.contract or inst.symbol
    last_ticks = inst.to_ticks(last_price)
    for node in self.clients.values():
        self._out(node, node.mark(key, last_ticks, self._now(node)))
    self._flush()


def ask_or_heal(self: Hub, st: InstrumentState, sent: SnapshotRequest | None, seq: int) -> None:
    """:meth:`Hub._ask_or_heal` the long way."""
    key = st.instrument.contract or st.instrument.symbol
    if not st.stale:
        self.feeds.healed(key)
    elif sent is not None:
        self.feeds.stale(key, sent.reason, sent.expected_seq, sent.got_seq, sent=True)
    else:
        reason = st.stale_reason or st.pipeline.book.stale_reason or "reset"
        self.feeds.stale(key, reason, seq, seq, sent=False)


def long_way(hub: Hub) -> Hub:
    """``hub`` going the long way (its own instance's steps; the time window's check is the
    Hub module's, compared with :func:`check_batch` by the tests that patch it)."""
    hub.feeds.claim = types.MethodType(claim, hub.feeds)  # type: ignore[method-assign]
    hub.trading.prints = types.MethodType(prints, hub.trading)  # type: ignore[method-assign]
    hub._ask_or_heal = types.MethodType(ask_or_heal, hub)  # type: ignore[method-assign]
    fast_rejected = hub._rejected

    def rejected(*a: Any) -> Counter[str]:
        return Counter(fast_rejected(*a))  # a fresh count each time

    hub._rejected = rejected  # type: ignore[method-assign,assignment]
    return hub
