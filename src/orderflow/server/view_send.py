"""A viewer frame's WebSocket bytes, made once per frame and form and written to each viewer's
transport as they are: the very bytes uvicorn's WebSocket protocol (``websockets``' sans-I/O
``Protocol``) writes for a ``send_bytes`` or ``send_text`` of the same data on a connection
with no extension (``/ws/view`` refuses them: :data:`.watchdog.UNCOMPRESSED_WS`), without the
per-viewer trip through Starlette, uvicorn's ``send`` and the frame's serialisation (about a
quarter of a viewer's send on the event loop; the rest is the socket's write itself).

The bytes go straight to the transport only while the connection's protocol is open and
plain (:func:`takes_frames`): not closing or closed, no close frame sent, no extension, no
fragmented message in progress; otherwise the viewer's socket sends as before.
"""

from __future__ import annotations

from typing import Any

from websockets.protocol import State

__all__ = ["plain_protocol", "takes_frames", "ws_frame"]

#: FIN and the opcode of a whole text or binary message (RFC 6455 5.2)
_TEXT, _BINARY = 0x81, 0x82


def ws_frame(data: str | bytes) -> bytes:
    """One unfragmented, unmasked WebSocket message of ``data`` (binary for bytes, text for a
    str, as UTF-8): a server's frame, header and payload."""
    if isinstance(data, str):
        payload, first = data.encode(), _TEXT
    else:
        payload, first = data, _BINARY
    n = len(payload)
    if n < 126:
        head = bytes((first, n))
    elif n < 65536:
        head = bytes((first, 126)) + n.to_bytes(2, "big")
    else:
        head = bytes((first, 127)) + n.to_bytes(8, "big")
    return head + payload


def plain_protocol(transport: Any) -> Any | None:
    """The uvicorn WebSocket protocol behind ``transport`` when it is the sans-I/O one whose
    state :func:`takes_frames` reads (None: another, or none: the viewer's socket sends)."""
    get = getattr(transport, "get_protocol", None)
    proto = get() if get is not None else None
    conn = getattr(proto, "conn", None)
    if conn is None or not all(
        hasattr(x, a)
        for x, a in ((proto, "close_sent"), (proto, "disconnected"), (conn, "state"),
                     (conn, "extensions"), (conn, "expect_continuation_frame"))
    ):  # fmt: skip
        return None
    return proto


def takes_frames(proto: Any) -> bool:
    """Whether a message written now as :func:`ws_frame`'s bytes is what the protocol itself
    would write: the connection open, no close frame sent, not disconnected, no extension
    (nothing that transforms a frame), no fragmented message being sent."""
    conn = proto.conn
    return bool(conn.state is State.OPEN and not proto.close_sent and not proto.disconnected
                and not conn.extensions and not conn.expect_continuation_frame)  # fmt: skip
