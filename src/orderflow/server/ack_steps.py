"""Small pieces of a batch's answer that most batches skip: the hub's shortcuts.

Nearly every batch NinjaTrader sends carries depth and prints only: no bars, no order
reports. For those, :meth:`~orderflow.server.hub.Hub.apply` builds no Counter of changed
series (it hands on :data:`NO_SERIES`, shared and never written to) and makes no call into
the trading engine's report path (which would answer ``{}``). Each shortcut gives what the
full step gives: the tests in ``tests/unit/server/test_ack_steps.py`` hold them to it.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from orderflow.protocol import Batch

__all__ = ["NO_SERIES", "has_reports"]

#: the NinjaTrader series a batch without bars changed (and the bars it refused): none.
#: Shared by every such batch: readers only (``+=`` on it would change it for all; the
#: coalesced path adds it into a Counter of its own)
NO_SERIES: Counter[str] = Counter()


def has_reports(batch: Batch) -> bool:
    """Whether the batch carries order reports (orders, executions or positions)."""
    return bool(batch.orders or batch.executions or batch.positions)
