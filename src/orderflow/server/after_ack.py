"""Work an applied batch leaves that its answer does not wait for: done after the answer is
written, before anything else is applied.

Applying a batch ends with work that shapes neither its ack nor the commands it caused: the
dashboard's view queues its prints and a sample of the book (:meth:`.Views.took`,
:meth:`.Views.applied`), the alert checks look at its ack (:meth:`.Alerts.check`; none of
what they find is in the ack), the Prometheus counters count it. A WebSocket session always
holds its counters (:meth:`AfterAck.hold`) and, with ``server.work_after_ack``
(:attr:`AfterAck.enabled`), turns :attr:`AfterAck.deferring` on around its call into the Hub
so that the view's and the alerts' calls are held too; it writes the answers, then calls
:meth:`AfterAck.settle`. Every other caller (REST, a recovery, a replay, the tests) leaves
it off and the work runs where it always did. Off by default: on a machine whose cores are
all busy, work after the write waits behind the client it woke, and the client's next batch
waits behind that work (measured in ``docs/performance.md``). Whatever is still held when
the Hub applies anything again is settled first (:meth:`.Hub.apply`,
:meth:`.Hub.apply_many`), so every piece runs in the same order, on the same state, as
inline: before the next batch, of any client, is applied. What must come before the ack
stays inline: the risk manager's book clock (it may flatten, and its commands go out before
the ack) and the strategy's decisions.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

__all__ = ["AfterAck"]

log = logging.getLogger("orderflow.server")


class AfterAck:
    """Calls held until the answer is out (while :attr:`deferring`), else made at once."""

    __slots__ = ("_work", "deferring", "enabled", "failures")

    def __init__(self) -> None:
        #: ``server.work_after_ack``: whether a session defers at all (else it only holds
        #: its counters, :meth:`hold`)
        self.enabled = False
        #: hold the calls (a session applying); off: each call is made at once
        self.deferring = False
        #: calls that raised while settled (logged; the rest still ran)
        self.failures = 0
        self._work: list[tuple[Callable[..., Any], tuple[Any, ...]]] = []

    def __call__(self, fn: Callable[..., Any], *args: Any) -> None:
        """``fn(*args)`` now, or held until :meth:`settle` while deferring."""
        if self.deferring:
            self._work.append((fn, args))
        else:
            fn(*args)

    def hold(self, fn: Callable[..., Any], *args: Any) -> None:
        """``fn(*args)`` held until :meth:`settle`, whether deferring or not (the caller
        settles)."""
        self._work.append((fn, args))

    @property
    def pending(self) -> int:
        """Calls held and not made yet."""
        return len(self._work)

    def settle(self) -> None:
        """Make the held calls, in the order they were held. One that raises is logged and
        counted, and the others still run: the batch it belonged to was applied and answered,
        and a dashboard or a counter must not take the next batch (maybe another client's)
        down with it."""
        while self._work:
            work, self._work = self._work, []
            for fn, args in work:
                try:
                    fn(*args)
                except Exception:
                    self.failures += 1
                    log.exception("work after an ack failed")
