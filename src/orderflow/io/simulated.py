"""A built-in simulated market, for machines without recorded data. Always labelled SIMULATED.

The model is the queue-reactive model of Huang, Lehalle and Rosenbaum (2015), with its
intensities fitted once to the ES market-by-order recording (:mod:`orderflow.io.queue_reactive`,
docs/simulated.md). It produces an order-by-order stream (:data:`MBO_DTYPE`) that the real
books, readers and converters process exactly like exchange data. It is a demo feed whose
statistics resemble a quiet ES session; it is not a forecast of any market.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import numpy as np

from orderflow.core.errors import ParameterError
from orderflow.io.queue_reactive import QRGenerator, QRParams, simulate_qr
from orderflow.io.stream import Chunk, Opened

__all__ = [
    "DAY_ACTIVITY",
    "DAY_HOURS",
    "SIMULATED_LABEL",
    "SIM_CONTRACT",
    "SimParams",
    "simulate_mbo",
    "simulated_chunks",
    "simulated_source",
]

SIMULATED_LABEL = "SIMULATED market (queue-reactive model fitted to ES), not exchange data"

SimParams = QRParams

log = logging.getLogger(__name__)


def simulate_mbo(
    n_events: int = 100_000, params: QRParams | None = None, seconds: float | None = None
) -> np.ndarray:
    """At most ``n_events`` order-by-order records of the simulated market (whole exchange
    events), or ``seconds`` of its time if that comes first."""
    events = simulate_qr(n_events, params, seconds)
    log.info("%s: %d records generated", SIMULATED_LABEL, len(events))
    return events


#: an ES trading day on Globex: 23 hours (17:00 to 16:00 Chicago time)
DAY_HOURS = 23.0
#: the simulated day's intensities are the fit's times this: the fit is a quiet (holiday)
#: hour, about 47,000 records an hour; 25 times that is about 28 million records in 23 hours,
#: the order of an active ES day (the same event mix, the events closer in time)
DAY_ACTIVITY = 25.0
#: the contract the simulated market prices (its start, 4810.00, is ESH4's on 2023-12-25)
SIM_CONTRACT = "ESH4"


def simulated_chunks(
    hours: float,
    chunk_records: int = 65_536,
    activity: float = DAY_ACTIVITY,
    seed: int = 7,
) -> Iterator[Chunk]:
    """``hours`` of the simulated market (intensities times ``activity``) as chunks of at most
    ``chunk_records`` records plus one exchange event, generated as they are read: memory is
    one chunk whatever the span (a 23-hour day streams through a backtest this way). The chunks
    put together equal :func:`simulate_mbo` of the same span and parameters."""
    if not (0 < hours <= 24 * 7 and np.isfinite(hours)):
        raise ParameterError(f"simulated hours: more than 0 and at most a week, not {hours!r}")
    params = QRParams(seed=seed, activity=activity)
    gen = QRGenerator(params, seconds=hours * 3600.0, chunk_records=chunk_records)
    log.info("%s: %g hours (activity x%g) generated in chunks", SIMULATED_LABEL, hours, activity)
    return (Chunk(records) for records in gen)


def simulated_source(
    hours: float,
    chunk_records: int = 65_536,
    activity: float = DAY_ACTIVITY,
    seed: int = 7,
) -> tuple[str, Opened]:
    """``(label, opened)`` for :func:`orderflow.backtest.run.run_sources`: the simulated market
    as an MBO stream of ESH4, labelled SIMULATED."""
    from orderflow.model.instruments import get_instrument

    chunks = simulated_chunks(hours, chunk_records, activity, seed)
    label = f"SIMULATED market {hours:g} h (queue-reactive, activity x{activity:g}, seed {seed})"
    return label, Opened(get_instrument(SIM_CONTRACT), "mbo", chunks)
