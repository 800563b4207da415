"""Who feeds each instrument, and the snapshot requests a stale ladder keeps sending them.

**Ownership.** An instrument belongs to the client that feeds it: the first client whose batch
for it is taken owns it, and a batch for it from anyone else is refused whole
(:class:`~orderflow.core.errors.InstrumentOwnedError`, HTTP 409 / an ``error`` frame with code
``instrument_owned`` and status 409) before it is recorded or applied. A WebSocket client is
its ``hello.client`` name; a REST client is ``rest:<peer host>`` (every REST request from one
host is one client: HTTP has no connection identity to keep, and the rate limits already name
REST peers by address). Ownership passes on when the owner's WebSocket has disconnected, or when
a REST owner has sent nothing for longer than ``server.rest_owner_silence_s``.

**Staleness heals.** A ladder that cannot be trusted (a sequence gap, an IsReset, a price-order
break, a refused batch whose depth was lost) asks its owner for a snapshot at once and again
with back-off (:data:`RETRY_FIRST_S` doubling to :data:`RETRY_MAX_S`) until a snapshot batch
heals it. A request names its ``attempt`` and the ``retry_s`` until the next one.

Transport-free and clock-injected (monotonic seconds), like the Hub that owns it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from orderflow.core.errors import InstrumentOwnedError
from orderflow.protocol import SnapshotRequest

__all__ = ["REST_PREFIX", "RETRY_FIRST_S", "RETRY_MAX_S", "Feeds", "rest_client"]

#: the name of a REST client: this prefix and its peer's host
REST_PREFIX = "rest:"
#: the second request for a snapshot goes this long after the first ...
RETRY_FIRST_S = 1.0
#: ... each next one twice as long after, up to this
RETRY_MAX_S = 30.0


def rest_client(host: str | None) -> str:
    """The client name of a REST request from ``host``."""
    return f"{REST_PREFIX}{host or 'unknown'}"


@dataclass(slots=True)
class _Ask:
    """The snapshot an instrument's ladder is waiting for."""

    request: SnapshotRequest
    next_at: float  # monotonic s of the next request
    retry: float  # the next request's ``retry_s``: how long after it the one after comes
    attempt: int  # requests sent so far


class Feeds:
    """Instrument owners and pending snapshot requests. ``rest_silence_s``: a REST owner silent
    this long loses its instruments to the next client that feeds them."""

    def __init__(
        self, rest_silence_s: float = 30.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rest_silence_s = rest_silence_s
        self.clock = clock
        self.owners: dict[str, str] = {}  # instrument key -> client name
        self.seen: dict[str, float] = {}  # client -> when its last batch came (monotonic s)
        self.connected: set[str] = set()  # WebSocket clients connected now
        self.asks: dict[str, _Ask] = {}  # instrument key -> the snapshot it waits for
        self.refused = 0  # batches refused because another client owns the instrument
        self.passed_on = 0  # instruments whose ownership passed to another client
        self.requests = 0  # snapshot requests sent (first ones and repeats)

    # ---- ownership -----------------------------------------------------------------------
    def claim(self, key: str, client: str) -> None:
        """``client`` feeds instrument ``key``: it owns it from now on, or
        InstrumentOwnedError (nothing changes) when another client still owns it."""
        now = self.clock()
        owner = self.owners.get(key)
        if owner == client:  # the owner's next batch (nearly every one): only its time
            self.seen[client] = now
            return
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
        if ask is not None:  # a new feeder is asked at once
            ask.next_at, ask.retry = now, RETRY_FIRST_S
        self.owners[key] = client
        self.seen[client] = now

    def owner(self, key: str) -> str | None:
        return self.owners.get(key)

    def may_feed(self, key: str, client: str) -> bool:
        """Would :meth:`claim` take ``client``'s batch for ``key``? (changes nothing)"""
        owner = self.owners.get(key)
        return owner is None or owner == client or self._gone(owner, self.clock())

    def _gone(self, owner: str, now: float) -> bool:
        if owner.startswith(REST_PREFIX) and owner not in self.connected:
            return now - self.seen.get(owner, now) > self.rest_silence_s
        return owner not in self.connected

    def connect(self, client: str) -> None:
        self.connected.add(client)

    def disconnect(self, client: str) -> None:
        self.connected.discard(client)

    # ---- snapshot requests ---------------------------------------------------------------
    def stale(self, key: str, reason: str, expected: int, got: int, sent: bool) -> None:
        """Instrument ``key``'s ladder is stale: keep asking its owner for a snapshot until
        :meth:`healed`. ``sent``: the first request was just sent with the batch's answer (the
        next is due after :data:`RETRY_FIRST_S`); otherwise it is due now."""
        if key in self.asks:
            return
        now = self.clock()
        request = SnapshotRequest(key, reason, expected, got, attempt=1, retry_s=RETRY_FIRST_S)
        if sent:
            self.requests += 1
            self.asks[key] = _Ask(request, now + RETRY_FIRST_S, 2 * RETRY_FIRST_S, 1)
        else:
            self.asks[key] = _Ask(request, now, RETRY_FIRST_S, 0)

    def healed(self, key: str) -> None:
        """A snapshot made the ladder trustworthy again: no more requests."""
        self.asks.pop(key, None)

    def due(self) -> list[tuple[str | None, SnapshotRequest]]:
        """The requests due now, each with the client to send it to (the instrument's owner;
        None: no owner known); each is rescheduled with back-off."""
        now = self.clock()
        out: list[tuple[str | None, SnapshotRequest]] = []
        for key, ask in self.asks.items():
            if ask.next_at > now:
                continue
            retry = ask.retry
            ask.attempt += 1
            r = ask.request
            out.append((self.owners.get(key), SnapshotRequest(
                r.instrument, r.reason, r.expected_seq, r.got_seq, attempt=ask.attempt,
                retry_s=retry)))  # fmt: skip
            ask.next_at = now + retry
            ask.retry = min(retry * 2, RETRY_MAX_S)
            self.requests += 1
        return out

    def status(self) -> dict[str, object]:
        """For /health: owners, snapshot requests waiting, counts."""
        now = self.clock()
        return {
            "owners": dict(self.owners),
            "waiting_for_snapshot": {
                k: {
                    "reason": a.request.reason,
                    "attempts": a.attempt,
                    "next_in_s": round(max(0.0, a.next_at - now), 3),
                }
                for k, a in self.asks.items()
            },
            "refused_not_owner": self.refused,
            "ownership_passed_on": self.passed_on,
            "snapshot_requests": self.requests,
        }
