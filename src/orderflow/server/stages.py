"""Where a WebSocket round trip's time goes: time marks at the stages of the live path, taken
only while a :class:`StageProbe` is installed (``benchmarks/bench_roundtrip.py`` installs one
in the server's process; nothing does by default, and then each mark costs one global read).

A probe follows one request/response client: every mark overwrites its stage in the current
row, and the row is kept when an ack has been written to the socket. The marks are
``time.perf_counter_ns()``, the system-wide monotonic clock on Linux, so a client in another
process can put its own send and receive times beside them.
"""

from __future__ import annotations

import time

import numpy as np

__all__ = ["PROBE", "STAGES", "StageProbe", "install", "mark"]

#: the marks of one round trip, in the order the path passes them
STAGES = (
    "data_in",  # the frame's bytes read from the socket (uvicorn's data_received; hooked)
    "frame",  # the session's reader has the frame
    "decoded",  # decoded and checked field by field (protocol structs)
    "queued",  # rate limited, admitted, in the session's inbox
    "taken",  # the session's loop took it from the inbox
    "validated",  # times, reports, prices on the grid: the batch as the engine's arrays
    "engine_in",  # recorded, sequenced: the pipeline starts
    "engine_out",  # the pipeline (book, analytics, signals) is done
    "acked",  # bars and reports applied, the ack built
    "applied",  # alerts, the dashboard's view and the strategy done: Hub.apply returned
    "pushed",  # commands drained, the ack in the connection's queue
    "written_in",  # the connection's writer took it
    "encoded",  # encoded (JSON or MessagePack)
    "sent",  # written to the transport
)
_INDEX = {name: i for i, name in enumerate(STAGES)}
DATA_IN, FRAME, DECODED, QUEUED, TAKEN, VALIDATED = range(6)
ENGINE_IN, ENGINE_OUT, ACKED, APPLIED, PUSHED, WRITTEN_IN, ENCODED, SENT = range(6, 14)


class StageProbe:
    """The marks of up to ``capacity`` round trips (rows of :data:`STAGES`, ns; 0: not
    passed)."""

    def __init__(self, capacity: int = 100_000) -> None:
        self.rows = np.zeros((capacity, len(STAGES)), dtype=np.int64)
        self.current = np.zeros(len(STAGES), dtype=np.int64)
        self.n = 0

    def mark(self, stage: int) -> None:
        self.current[stage] = time.perf_counter_ns()

    def keep(self) -> None:
        """The current row is a whole round trip (its ack was written): keep it, start anew."""
        if self.n < len(self.rows):
            self.rows[self.n] = self.current
            self.n += 1
        self.current[:] = 0

    def kept(self) -> np.ndarray:
        return self.rows[: self.n].copy()


#: the installed probe (None: no marks are taken)
PROBE: StageProbe | None = None


def install(probe: StageProbe | None) -> None:
    """Take marks into ``probe`` from now on (None: stop)."""
    global PROBE
    PROBE = probe


def mark(stage: int) -> None:
    """Mark ``stage`` (one of the indexes of :data:`STAGES`) now, if a probe is installed."""
    if PROBE is not None:
        PROBE.mark(stage)


def stage_index(name: str) -> int:
    return _INDEX[name]
