"""A built-in simulated market, for machines without recorded data. Always labelled SIMULATED.

The model is the queue-reactive model of Huang, Lehalle and Rosenbaum (2015), with its
intensities fitted once to the ES market-by-order recording (:mod:`orderflow.io.queue_reactive`,
docs/simulated.md). It produces an order-by-order stream (:data:`MBO_DTYPE`) that the real
books, readers and converters process exactly like exchange data. It is a demo feed whose
statistics resemble a quiet ES session; it is not a forecast of any market.
"""

from __future__ import annotations

import logging

import numpy as np

from orderflow.io.queue_reactive import QRParams, simulate_qr

__all__ = ["SIMULATED_LABEL", "SimParams", "simulate_mbo"]

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
