"""Python clients of the orderflow server: what the NinjaTrader bridge does, in Python.

:class:`OrderflowClient` (asyncio WebSocket: batching, sequencing, resend after reconnect,
heartbeats, acks and signals back), :class:`RestClient` (synchronous ``POST /l2_update``) and
:func:`feed_file` (play a recorded file into a running server like NinjaTrader's replay).
"""

from orderflow.client.feed import FeedBatch, FeedSummary, build_batches, feed_batches, feed_file
from orderflow.client.ws import ClientError, ClientStats, OrderflowClient, RestClient

__all__ = [
    "ClientError",
    "ClientStats",
    "FeedBatch",
    "FeedSummary",
    "OrderflowClient",
    "RestClient",
    "build_batches",
    "feed_batches",
    "feed_file",
]
