"""A WebSocket frame to a client message, with a MessagePack batch's depth events left in the
frame's bytes.

A MessagePack batch whose depth comes as a list of events costs msgspec one :class:`Depth`
object per event, whose fields the conversion then reads back one by one. Here the frame is
first decoded with the depth kept as its bytes (:class:`RawBatch`), and the compiled
reader (:func:`._wire_kernels.scan_rows`) checks them whole: only the form msgspec writes
for a list of :class:`Depth`, every value within the protocol's bounds. A batch that passes
carries them as :class:`protocol.RawRows`, which the conversion reads in one compiled call
(:func:`.wire.fast_conversion`). Anything else (JSON, another message, another form of the
events, a value out of bounds, a frame either decoding refuses) is decoded the one way,
:func:`protocol.decode_client`, whose message or refusal is the answer: so a batch is taken
this way only when that decoding would give the same events, and every refusal is its own.
"""

from __future__ import annotations

from typing import Any

import msgspec

from orderflow.protocol import (
    Bar,
    Batch,
    Bye,
    ClientMessage,
    CommandAck,
    DepthColumns,
    Execution,
    Heartbeat,
    Hello,
    InstrumentName,
    OrderUpdate,
    PositionUpdate,
    RawRows,
    Report,
    Seq,
    StateRequest,
    Tick,
    decode_client,
)
from orderflow.server._wire_kernels import OK, scan_rows

__all__ = ["RawBatch", "decode_frame"]


class RawBatch(msgspec.Struct, frozen=True, tag="batch", forbid_unknown_fields=True):
    """A :class:`protocol.Batch` as this decoding first sees it: every field as the batch has
    it (the same types, order and defaults) but ``depth``, kept as the frame's bytes."""

    instrument: InstrumentName
    seq: Seq = 0
    snapshot: bool = False
    depth: msgspec.Raw = msgspec.Raw()
    columns: DepthColumns | None = None
    ticks: list[Tick] = []
    bars: list[Bar] = []
    orders: list[OrderUpdate] = []
    executions: list[Execution] = []
    positions: list[PositionUpdate] = []


_MSGPACK_RAW = msgspec.msgpack.Decoder(
    Hello | RawBatch | CommandAck | Heartbeat | Bye | Report | StateRequest
)

#: the depth's key as msgspec writes it, and how far into a frame it is looked for
_DEPTH_KEY = b"\xa5depth"
_HEAD = 128


def decode_frame(data: bytes | str) -> ClientMessage:
    """A client message from a WebSocket frame, as :func:`protocol.decode_client` gives it
    (the same message, the same refusal), a MessagePack batch's depth events kept as the
    frame's bytes when they are a list msgspec wrote (:class:`protocol.RawRows`)."""
    if type(data) is not bytes:
        return decode_client(data)
    # a list of events follows the depth's key (msgspec writes it near the start: after the
    # tag, the instrument, seq and snapshot); without one (an empty list, columns, another
    # message) the one decoding costs less than this one and a Batch made again
    at = data.find(_DEPTH_KEY, 0, _HEAD)
    if at < 0 or data[at + len(_DEPTH_KEY) : at + len(_DEPTH_KEY) + 1] == b"\x90":
        return decode_client(data)
    try:
        msg: Any = _MSGPACK_RAW.decode(data)
    except Exception:  # the one decoding names the fault
        return decode_client(data)
    if type(msg) is not RawBatch:
        return msg  # type: ignore[no-any-return]
    raw = msg.depth
    rows: Any = []
    if len(raw):  # the field sent
        status, n, last_t, reset = scan_rows(raw)
        if status != OK or (n and msg.columns is not None):  # columns too: refused there
            return decode_client(data)
        if n:
            rows = RawRows(raw, n, last_t, reset)
    return Batch(
        msg.instrument, msg.seq, msg.snapshot, rows, msg.columns, msg.ticks, msg.bars,
        msg.orders, msg.executions, msg.positions,
    )  # fmt: skip
