"""A WebSocket frame to a client message, with a MessagePack batch's depth events and prints
read from the frame's bytes by one compiled call instead of msgspec's objects.

A MessagePack batch whose depth comes as a list of events costs msgspec one :class:`Depth`
object per event and one :class:`Tick` per print, whose fields the conversion then reads
back one by one. Here, when a frame starts as msgspec writes a batch, its depth is a list of
events and its prints (after no columns) a list of prints in the form msgspec writes, every
value within the protocol's bounds (:func:`._wire_kernels.frame_rows`, which reads them into
two blocks of numbers), the rest of the frame (the same map without the two keys and lists)
is decoded by msgspec with every check as before (:class:`RawBatch`: any ``depth`` or
``ticks`` left there is kept as bytes, so a second key is seen), and the batch carries its
events and prints as :class:`protocol.RawRows` and :class:`protocol.RawTicks` (one kind of
list each of :class:`~orderflow.core.raw_lists.RawList`: the list's bytes and its block),
which the conversion takes in one compiled call (:func:`.wire.fast_conversion`). Anything
else (JSON, another message or form, a value out of bounds, a fault anywhere) is decoded the
one way, :func:`protocol.decode_client`, whose message or refusal is the answer: so a batch
is taken this way only when that decoding gives the same batch, and every refusal is its
own.
"""

from __future__ import annotations

import msgspec

from orderflow.protocol import (
    Bar,
    Batch,
    ClientMessage,
    DepthColumns,
    Execution,
    InstrumentName,
    OrderUpdate,
    PositionUpdate,
    RawRows,
    RawTicks,
    Seq,
    decode_client,
)
from orderflow.server._wire_kernels import OK, frame_rows

__all__ = ["RawBatch", "decode_frame"]


class RawBatch(msgspec.Struct, frozen=True, tag="batch", forbid_unknown_fields=True):
    """A :class:`protocol.Batch` as this decoding sees the rest of a frame: every field as the
    batch has it (the same types, order and defaults) but ``depth`` and ``ticks``, kept as
    bytes."""

    instrument: InstrumentName
    seq: Seq = 0
    snapshot: bool = False
    depth: msgspec.Raw = msgspec.Raw()
    columns: DepthColumns | None = None
    ticks: msgspec.Raw = msgspec.Raw()
    bars: list[Bar] = []
    orders: list[OrderUpdate] = []
    executions: list[Execution] = []
    positions: list[PositionUpdate] = []


_REST = msgspec.msgpack.Decoder(RawBatch)
#: the one decoding's MessagePack decoder (the same types): a frame it refuses goes through
#: ``decode_client``, which names the fault
_MSGPACK = msgspec.msgpack.Decoder(ClientMessage)
#: the depth's key as msgspec writes it, and how far into a frame it is looked for first
_DEPTH_KEY = b"\xa5depth"
#: what msgspec writes between a batch's depth and its prints: no columns, the prints' key
_NO_COLUMNS, _TICKS_KEY = len(b"\xa7columns\xc0"), b"\xa5ticks"
_HEAD = 128
_EMPTY = 0x90  # an empty array


def decode_frame(data: bytes | str) -> ClientMessage:
    """A client message from a WebSocket frame, as :func:`protocol.decode_client` gives it
    (the same message, the same refusal), a MessagePack batch's depth events read from the
    frame's bytes when they are a list msgspec wrote (:class:`protocol.RawRows`)."""
    if type(data) is not bytes:
        return decode_client(data)
    # a list of events after the depth's key near the start (an empty list, columns or
    # another message: the one decoding, which costs less than a look at the frame)
    at = data.find(_DEPTH_KEY, 0, _HEAD) + len(_DEPTH_KEY)
    if at >= len(_DEPTH_KEY) and at < len(data) and data[at] != _EMPTY:
        batch = _rows_first(data)
        if batch is not None:
            return batch
    try:
        return _MSGPACK.decode(data)
    except Exception:  # the one decoding's refusal, named as it names it
        return decode_client(data)


def _rows_first(data: bytes) -> Batch | None:
    """The batch of a frame whose depth and prints :func:`frame_rows` read; None: the one
    decoding."""
    status, block, last_t, reset, key, end, prints, tend, last_price, latest = frame_rows(data)
    if status != OK:
        return None
    # the same map without the depth and the prints: two keys fewer (a fixmap's header), the
    # keys and lists out (the columns' nil between them stays)
    rest = bytes((data[0] - 2,)) + data[1:key] + data[end : end + _NO_COLUMNS] + data[tend:]
    try:
        msg = _REST.decode(rest)
    except Exception:  # the one decoding names the fault
        return None
    if len(msg.depth) or len(msg.ticks) or msg.columns is not None:
        return None  # a second depth or prints key, or columns: the one decoding's
    rows = RawRows(msgspec.Raw(data[key + len(_DEPTH_KEY) : end]), block, int(last_t),
                   bool(reset))  # fmt: skip
    ticks = RawTicks(msgspec.Raw(data[end + _NO_COLUMNS + len(_TICKS_KEY) : tend]), prints,
                     last_price, latest)  # fmt: skip
    return Batch(
        msg.instrument, msg.seq, msg.snapshot, rows, msg.columns, ticks, msg.bars,
        msg.orders, msg.executions, msg.positions,
    )  # fmt: skip
