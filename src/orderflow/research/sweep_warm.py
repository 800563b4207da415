"""Imported by a sweep's fork server (:data:`orderflow.research.sweep.PRELOAD`): load the
backtest's numba kernels once, there, so that every worker forked from it starts with them.

Loading the kernels from numba's cache costs a worker about a second on the first job (more
than half a job of the ESH4 hour); paid once in the fork server, it is not paid again by each
worker nor by each pool the process starts later. The warm-up is a short backtest of the
SIMULATED market (a few thousand records of :func:`orderflow.io.simulated.simulate_mbo`, the
reference strategy, asked every 25 records) through the same code as a job; nothing of it is
kept but the loaded kernels. A failure here only leaves the workers to load the kernels
themselves, as they would without it.
"""

from __future__ import annotations

import logging
import time

__all__ = ["WARM_RECORDS", "warm"]

log = logging.getLogger(__name__)

#: records of the simulated market the warm-up replays
WARM_RECORDS = 20_000


def warm() -> float:
    """Run the warm-up backtest; its seconds (0.0 when it failed)."""
    t0 = time.perf_counter()
    try:
        from orderflow.backtest.options import BacktestOptions
        from orderflow.backtest.run import run_sources
        from orderflow.io.simulated import SIM_CONTRACT, simulate_mbo
        from orderflow.io.stream import Chunk, Opened
        from orderflow.model.instruments import get_instrument

        records = simulate_mbo(WARM_RECORDS)
        inst = get_instrument(SIM_CONTRACT)
        for every in (25, 100):
            opened = Opened(inst, "mbo", iter([Chunk(records)]))
            run_sources([("warm-up", opened)], options=BacktestOptions(decide_every=every))
    except Exception as exc:  # the workers then load the kernels on their first job
        log.warning("sweep warm-up failed: %s", exc)
        return 0.0
    return time.perf_counter() - t0


SECONDS = warm()
