"""Packed depth columns through the real server (uvicorn on 127.0.0.1, a real WebSocket
client): after the same history, the ack of a batch sent as packed columns is the ack of the
same batch sent as rows, byte for byte (the processing time aside), in JSON and MessagePack."""

from __future__ import annotations

import json
import re

import msgspec
import pytest
from websockets.sync.client import connect

from orderflow.protocol import Batch, packed
from tests.integration.test_server import Server, esh4_batches

pytestmark = pytest.mark.slow

#: the one field that differs from run to run: the ack's processing time (a JSON number, a
#: MessagePack float64 after its key)
_JSON_US = re.compile(rb'"processing_us":[-+0-9.eE]+')
_MSGPACK_US = re.compile(re.escape(msgspec.msgpack.encode("processing_us")) + rb"\xcb.{8}", re.S)


def _timeless(frame: bytes | str) -> bytes:
    raw = frame.encode() if isinstance(frame, str) else frame
    if isinstance(frame, str):
        out, n = _JSON_US.subn(b'"processing_us":0', raw)
    else:
        out, n = _MSGPACK_US.subn(b"", raw)
    assert n == 1, raw[:200]
    return out


def _acks(url: str, client: str, encoding: str, batches: list[Batch]) -> list[bytes]:
    """Every batch sent one at a time, each ack waited for: the ack frames as received."""
    out = []
    with connect(url, max_size=None) as ws:
        hello = {"type": "hello", "protocol": 2, "client": client, "encoding": encoding}
        ws.send(json.dumps(hello) if encoding == "json" else msgspec.msgpack.encode(hello))
        welcome = ws.recv()
        assert b"welcome" in (welcome.encode() if isinstance(welcome, str) else welcome)
        for b in batches:
            ws.send(msgspec.json.encode(b).decode() if encoding == "json"
                    else msgspec.msgpack.encode(b))  # fmt: skip
            frame = ws.recv()
            assert (b'"type":"ack"' if encoding == "json" else b"\xa3ack") in (
                frame.encode() if isinstance(frame, str) else frame
            ), frame[:300]
            out.append(_timeless(frame))
    return out


def test_a_packed_batch_gets_the_rows_ack_byte_for_byte():
    """Two servers get ESH4's batches: one as rows throughout, the other as rows for the
    first 40 and packed columns after (the same session switching forms). Every ack, JSON
    and MessagePack (each on an instrument of its own), is the same bytes."""
    batches = esh4_batches()[0]
    forms = {"rows": batches, "packed": batches[:40] + [packed(b) for b in batches[40:]]}
    acks: dict[str, dict[str, list[bytes]]] = {}
    for form, sent in forms.items():
        server = Server()
        try:
            acks[form] = {
                "json": _acks(server.ws, "nt8-json", "json", sent),
                "msgpack": _acks(
                    server.ws, "nt8-msgpack", "msgpack",
                    [msgspec.structs.replace(b, instrument="MES 03-24") for b in sent],
                ),
            }  # fmt: skip
        finally:
            server.stop()
    for encoding in ("json", "msgpack"):
        rows, pk = acks["rows"][encoding], acks["packed"][encoding]
        assert len(rows) == len(pk) == len(batches)
        for i, (a, b) in enumerate(zip(rows, pk, strict=True)):
            assert a == b, (encoding, i + 1)
    # the acks carried the engine's answers (not only the sequence)
    last = json.loads(acks["packed"]["json"][-1])
    assert last["seq"] == len(batches) and last["book"]["bids"] and not last["stale"]
    assert last["applied"]["depth"] == len(batches[-1].depth)
